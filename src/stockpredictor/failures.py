"""Failures of the environment (the store, the disk, permissions) as one-line errors for users.

The faces (CLI, KFP components) run a command inside `reported_as_user_errors`: a lost or refused
store connection, an outage of the MLflow registry (`registry_outage`) and an OS error a user can fix
become a `ResourceError` naming what failed (URLs with the password hidden) and what to do. Anything
else, SQL errors included, stays a bug with its traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, OperationalError

from stockpredictor.config import DATABASE_URL_ENV, Settings, redacted
from stockpredictor.errors import ResourceError, StoreError

#: OS errors the user can fix: permissions, a full or read-only disk, a quota, a failing device, a
#: configured folder below a file.
_USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO, errno.ENOTDIR}

#: SQLite messages that describe the file or the disk, not the SQL.
_SQLITE_ENVIRONMENT = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "file is not a database",
    "database disk image is malformed",
)


@contextmanager
def reported_as_user_errors() -> Iterator[None]:
    """Turn store connection failures and fixable OS errors inside the block into `ResourceError`s."""
    try:
        yield
    except DBAPIError as exc:
        failure = registry_failure(exc) or store_failure(exc, Settings.from_env().database_url)
        if failure is None:
            raise
        raise failure from None
    except OSError as exc:  # requests' errors are OSErrors too
        failure = os_failure(exc) if exc.errno in _USER_ERRNOS else registry_failure(exc)
        if failure is None:
            raise
        raise failure from None
    except Exception as exc:  # e.g. Optuna's StorageInternalError raised from the driver's error
        cause = exc.__cause__
        failure = registry_failure(exc) or (
            store_failure(cause, Settings.from_env().database_url) if isinstance(cause, DBAPIError) else None
        )
        if failure is None:
            raise
        raise failure from None


def registry_failure(exc: BaseException) -> ResourceError | None:
    """The one-line error when `exc` is an outage of the MLflow registry (see `registry_outage`)."""
    if "mlflow" not in sys.modules:  # MLflow was never imported: it raised nothing
        return None
    from stockpredictor.registry_outage import registry_failure as outage

    return outage(exc)


def store_failure(exc: DBAPIError, database_url: str) -> StoreError | None:
    """The one-line error for a store that is unreachable, lost its connection or whose file is unusable."""
    driver_message = (
        str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    )
    where = f"store {redacted(database_url)} ({DATABASE_URL_ENV})"
    if database_url.startswith("sqlite"):
        if not any(text in driver_message.lower() for text in _SQLITE_ENVIRONMENT):
            return None
        return StoreError(
            f"{where}: {driver_message}; check the file's folder, permissions and free disk space, then rerun"
        )
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return None
    return StoreError(
        f"{where}: connection refused or lost ({driver_message}); check that the server runs and the "
        "URL is right, then rerun (a stage writes in one transaction: nothing was half-written)"
    )


def os_failure(exc: OSError) -> ResourceError:
    """The one-line error for a permission, disk-full, read-only or I/O error on a file or folder."""
    target = f"{exc.filename}: " if exc.filename else ""
    advice = {
        errno.ENOSPC: "free disk space",
        errno.EDQUOT: "free disk space (quota)",
        errno.EROFS: "use a writable location",
        errno.EIO: "check the disk",
        errno.ENOTDIR: "a part of that path is a file: choose a folder",
    }.get(exc.errno or 0, "check the permissions of the file and its folder")
    return ResourceError(f"{target}{exc.strerror or exc}; {advice}, then rerun")
