"""The failures a user can cause or fix, one family rooted at `StockPredictorError` (the lowest layer).

The CLI and the KFP components report an error of this family as one line naming what failed, and
exit with the code of its kind; any other exception is a bug and shows its traceback (exit code 1).

Kinds and their exit codes:

- 2 `UsageError` (`ConfigError`, `OverwriteRefusedError`): an option, params.yaml or an override is invalid;
- 3 `DataError` (`DatasetNotFoundError`, `MissingDataError` > `StaleDataError`, `InputWindowError`):
  the store lacks data a stage needs;
- 4 `SourceError` (`UnknownTickerError`): a price source could not deliver a ticker;
- 5 `RegistryError` (`ModelNotFoundError`, `UnsafeModelError`): the MLflow registry lacks the model,
  or it is not safe to load;
- 6 `PipelineError`: a KFP pipeline could not be found, compiled, submitted, or did not succeed;
- 7 `TrainingError` (`NoCompletedTrialError`): the hyperparameter search produced no model;
- 8 `ResourceError` (`StoreError`, `RegistryUnavailableError`): the store, the registry, a file or the
  disk cannot be used.
"""

from __future__ import annotations

from typing import ClassVar


class StockPredictorError(Exception):
    """Base of every user-facing error: its message names what failed (key and file, ticker, run id...)."""

    exit_code: ClassVar[int] = 1


# ------------------------------------------------------------------------------------------------ usage


class UsageError(StockPredictorError):
    """A command, option or parameter was used wrongly (e.g. two options that exclude each other)."""

    exit_code = 2


class ConfigError(UsageError):
    """params.yaml (or an override) is invalid; the message names the key and the file."""


class OverwriteRefusedError(UsageError):
    """A command would silently replace stored results (scalers, served predictions); nothing was written."""


# ------------------------------------------------------------------------------------------------- data


class DataError(StockPredictorError):
    """The store does not hold the data a stage needs (the message says which and how to get it)."""

    exit_code = 3


class DatasetNotFoundError(DataError):
    """No dataset (or no scaled version of it) is stored under the given dataset run id."""


class MissingDataError(DataError):
    """Raw data a stage needs is not in the store, or too little of it (the message names the ticker)."""


class StaleDataError(MissingDataError):
    """No ticker has a row for the last session <= as_of (with a complete window): nothing to predict."""


class InputWindowError(DataError):
    """An input window file or its sidecar is missing or does not match its model."""


# ----------------------------------------------------------------------------------------------- source


class SourceError(StockPredictorError):
    """A ticker could not be fetched (the message names the ticker and the cause)."""

    exit_code = 4


class UnknownTickerError(SourceError):
    """The source has no such ticker (the message names it)."""


# --------------------------------------------------------------------------------------------- registry


class RegistryError(StockPredictorError):
    """The MLflow registry cannot give the model asked for."""

    exit_code = 5


class ModelNotFoundError(RegistryError):
    """The registry has no such model version (or none for the given MLflow run)."""


class UnsafeModelError(RegistryError):
    """A registered model is not the plain `pt2` export its training wrote (see registry_manifest)."""


# --------------------------------------------------------------------------------------------- pipeline


class PipelineError(StockPredictorError):
    """A pipeline could not be found, compiled, submitted or did not succeed (the message says which)."""

    exit_code = 6


# --------------------------------------------------------------------------------------------- training


class TrainingError(StockPredictorError):
    """The search or the training ended without a model."""

    exit_code = 7


class NoCompletedTrialError(TrainingError):
    """The search ended without one completed trial (all failed, or the timeout is too short)."""


# --------------------------------------------------------------------------------------------- resource


class ResourceError(StockPredictorError):
    """A file, folder or disk cannot be used (the message names it, what the system said, what to do)."""

    exit_code = 8


class StoreError(ResourceError):
    """The store cannot be used: unreachable, connection lost, or a schema setup that never finished.

    The message names the store's URL with its password hidden.
    """


class RegistryUnavailableError(ResourceError):
    """The MLflow registry cannot be reached or used: refused, timed out, 401/403, 5xx, its database down, a
    folder or an unreadable path. The message names its URL with the password hidden."""
