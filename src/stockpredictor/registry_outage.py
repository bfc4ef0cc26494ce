"""MLflow outages as one-line errors: a registry that cannot be reached or used is exit 8, in bounded time.

`check_reachable` runs before MLflow opens a database store: MLflow's own engine retries a refused
connection 10 times (about 100 s) and an unopenable SQLite file (a folder) for as long, so a database
or SQLite store is first tried here once, with a connect timeout. `registry_failure` turns what MLflow
raises when its server or database fails later (refused, timed out, 401/403, 5xx, a lost database
connection) into a `RegistryUnavailableError` naming the URL with its password hidden; MLflow's own
messages, which carry the URL with its password, are never shown.
"""

from __future__ import annotations

import re
import sqlite3
import traceback
from pathlib import Path

import mlflow
import requests
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from stockpredictor.config import MLFLOW_URI_ENV, redacted
from stockpredictor.db.engine import sqlite_file_problem
from stockpredictor.errors import RegistryUnavailableError

#: Seconds a database store (PostgreSQL, MySQL) may take to accept a connection before it counts as down.
CONNECT_TIMEOUT_SECONDS = 5
_MLFLOW_CODE = str(Path(mlflow.__file__).parent)
_DATABASES = ("postgresql", "postgres", "mysql", "mssql")
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_SERVER_ERRORS = re.compile(r"too many (\d{3}) error responses|failed with error code (\d{3})")
_DENIED = {
    "UNAUTHENTICATED": "refused the credentials (HTTP 401): check the user and password",
    "PERMISSION_DENIED": "denied the request (HTTP 403): the account lacks the permission",
    "CUSTOMER_UNAUTHORIZED": "refused the credentials: check the token",
}


def unavailable(uri: str, problem: str) -> RegistryUnavailableError:
    """The one-line error for the registry at `uri` (its password hidden)."""
    return RegistryUnavailableError(f"MLflow registry {redacted(uri)} ({MLFLOW_URI_ENV}): {problem}")


def check_reachable(uri: str) -> None:
    """Raise `RegistryUnavailableError` unless a database or SQLite store at `uri` opens (HTTP: MLflow's
    own capped retries decide, see `registry.use_tracking`)."""
    base = uri.partition(":")[0].partition("+")[0].lower()
    if base == "sqlite":
        _check_sqlite(uri)
    elif base in _DATABASES:
        _check_database(uri)


def _check_sqlite(uri: str) -> None:
    database = make_url(uri).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    problem = sqlite_file_problem(path)
    if problem is not None:
        raise unavailable(uri, problem)
    try:
        with sqlite3.connect(path, timeout=CONNECT_TIMEOUT_SECONDS) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise unavailable(uri, f"cannot open {path} ({exc}); check the file and its permissions") from None


def _check_database(uri: str) -> None:
    try:
        engine = create_engine(uri, poolclass=NullPool, connect_args=_connect_timeout(uri))
    except ImportError as exc:
        hint = "; use postgresql+psycopg2://" if uri.startswith(("postgresql:", "postgres:")) else ""
        raise unavailable(uri, f"its database driver is not installed ({exc}){hint}") from None
    except ArgumentError as exc:
        raise unavailable(uri, f"not a database URL MLflow can use ({exc})") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise unavailable(uri, f"the database refused the connection ({_first_line(exc.orig)})") from None
    finally:
        engine.dispose()


def _connect_timeout(uri: str) -> dict[str, int]:
    backend = uri.partition(":")[0].partition("+")[0].lower()
    timed = backend in ("postgresql", "postgres", "mysql")
    return {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if timed else {}


def registry_failure(exc: BaseException) -> RegistryUnavailableError | None:
    """The one-line error for an outage of the registry MLflow is using, or None when `exc` is no outage."""
    uri = mlflow.get_tracking_uri()
    if isinstance(exc, MlflowException):
        problem = _http_problem(exc)
        return unavailable(uri, problem) if problem else None
    if isinstance(exc, DBAPIError) and _raised_in_mlflow(exc):
        why = _first_line(exc.orig)
        return unavailable(uri, f"its database failed ({why}); check that it runs, then rerun")
    if isinstance(exc, requests.RequestException) and _raised_in_mlflow(exc):
        status = exc.response.status_code if exc.response is not None else None
        problem = f"an artifact request failed (HTTP {status})" if status else _unreachable(exc)
        return unavailable(uri, problem)
    return None


def first_contact_failure(exc: BaseException) -> RegistryUnavailableError | None:
    """The error for a store that fails the first request (`registry.use_tracking`): any MLflow error there
    (a file store MLflow refuses, an unusable folder) means the registry cannot be used."""
    failure = registry_failure(exc)
    if failure is None and isinstance(exc, MlflowException | OSError):
        first_sentence = _first_line(exc).split(". ")[0].rstrip(".")
        return unavailable(mlflow.get_tracking_uri(), f"MLflow cannot use it ({redacted(first_sentence)})")
    return failure


def _http_problem(exc: MlflowException) -> str | None:
    if exc.error_code in _DENIED:
        return _DENIED[exc.error_code]
    message = exc.message
    server_error = _SERVER_ERRORS.search(message)
    if server_error and int(server_error.group(1) or server_error.group(2)) >= 500:
        code = server_error.group(1) or server_error.group(2)
        return f"the server answered HTTP {code} ({_tries()}); check the MLflow server, then rerun"
    if not message.startswith("API request to "):
        return None
    if "timeout" in message.lower():
        return (
            f"no answer within {MLFLOW_HTTP_REQUEST_TIMEOUT.get()} s ({_tries()}, "
            f"{MLFLOW_HTTP_REQUEST_TIMEOUT.name}); check the MLflow server, then rerun"
        )
    return _unreachable(exc)


def _unreachable(exc: BaseException) -> str:
    cause = _ERRNO_TEXT.search(str(exc))
    why = cause.group(1).strip() if cause else "connection failed"
    return f"unreachable ({why}; {_tries()}); check that the server runs and the URL is right, then rerun"


def _tries() -> str:
    return f"{MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() + 1} tries"


def _raised_in_mlflow(exc: BaseException) -> bool:
    return any(frame.filename.startswith(_MLFLOW_CODE) for frame in traceback.extract_tb(exc.__traceback__))


def _first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
