"""The failures a user can cause or fix (bad input, missing data): reported in one line, no traceback."""

from __future__ import annotations

from stockpredictor.config import ConfigError
from stockpredictor.db.datasets import DatasetNotFoundError
from stockpredictor.sources import SourceError
from stockpredictor.stages.process import MissingDataError

EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DatasetNotFoundError,
    MissingDataError,
    SourceError,
    ValueError,
    LookupError,
)
