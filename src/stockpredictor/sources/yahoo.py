"""The `yahoo` source: daily split-adjusted prices through yfinance, with retries and backoff.

How yfinance 1.7 reports trouble, and what this module makes of it:

- `yf.download` swallows every exception into a log line and an empty frame, so a rate limit, a 5xx,
  a DNS failure and an unknown symbol look alike. This module calls `Ticker.history` with
  `yf.config.debug.hide_exceptions = False` (set only for the call) to get typed exceptions.
- Unknown symbol: the chart endpoint answers 404 "No data found, symbol may be delisted"; yfinance then
  raises `YFTzMissingError` or, for the first two such symbols in a process, the `HTTPError` 404 of its
  quoteSummary fallback. Both become UnknownTickerError.
- No bars in the window (a weekend, or before the listing: Yahoo's 400 "Data doesn't exist for
  startDate"): `YFPricesMissingError`. Empty result when `after` is given, SourceError otherwise.
- Rate limit: `YFRateLimitError` (after yfinance's own single retry). Network errors surface as the
  session's exceptions, a 5xx as a JSON error, `KeyError` or "YAHOO! FINANCE IS CURRENTLY DOWN".
  Everything that is not an answer about the ticker is retried with exponential backoff.
- yfinance keeps responses for past windows in a process-wide LRU cache, failed ones included, so the
  cache is cleared before each retry or the retry would replay the same failure.
"""

from __future__ import annotations

import logging
import threading
import time as time_module
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import requests
import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.data import YfData
from yfinance.exceptions import YFPricesMissingError, YFTickerMissingError

from stockpredictor.calendar import latest_completed_session
from stockpredictor.errors import SourceError, UnknownTickerError
from stockpredictor.sources.base import empty_prices, select_window

log = logging.getLogger(__name__)

EXCHANGE_TZ = ZoneInfo("America/New_York")
BAR_FINAL_AFTER = time(16, 30)
"""Exchange time after which today's daily bar is taken as final (before it, it is a partial bar)."""

_YAHOO_NOT_FOUND = "No data found"
_YFINANCE_LOCK = threading.Lock()  # yfinance keeps one session and one config per process


def _now_in_exchange_tz() -> datetime:
    return datetime.now(EXCHANGE_TZ)


@contextmanager
def _yfinance_raising() -> Iterator[None]:
    """Serialise yfinance calls, make them raise instead of log, and mute its pandas deprecations."""
    with _YFINANCE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        hide = yf.config.debug.hide_exceptions
        yf.config.debug.hide_exceptions = False
        try:
            yield
        finally:
            yf.config.debug.hide_exceptions = hide


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}"


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


class YahooSource:
    """Daily split-adjusted OHLCV from Yahoo Finance (yfinance `auto_adjust=True`)."""

    name = "yahoo"

    def __init__(
        self,
        session: requests.Session | curl_requests.Session | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
        *,
        retry_deadline_seconds: float = 10.0,
        clock: Callable[[], datetime] = _now_in_exchange_tz,
    ) -> None:
        """`session`: a requests or curl_cffi Session (default: curl_cffi impersonating Chrome, as yfinance).

        A failed attempt is retried after backoff_seconds * 2**(attempt - 1), as long as the source's
        retry deadline has not passed: retry_deadline_seconds after its first failure, for all tickers
        together (with no network, a whole ingest gives up within about that long). `clock` gives the
        current time as an aware datetime (tests inject it).
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.session: requests.Session | curl_requests.Session = (
            session if session is not None else curl_requests.Session(impersonate="chrome")
        )
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.retry_deadline_seconds = retry_deadline_seconds
        self.clock = clock
        self._retry_deadline: float | None = None  # monotonic time; set at the first failure

    def default_as_of(self) -> date:
        """The latest NYSE session whose close has passed (on a weekend or holiday: the one before)."""
        return latest_completed_session(self.clock())

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        """Rows with after < date <= as_of; today's bar only once it is final (after BAR_FINAL_AFTER)."""
        now = self.clock().astimezone(EXCHANGE_TZ)
        if now.time() < BAR_FINAL_AFTER:
            as_of = min(as_of, now.date() - timedelta(days=1))
        if after is not None and after >= as_of:
            return empty_prices()
        return select_window(self._download(ticker, after, as_of), ticker, after, as_of)

    def _download(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        """yfinance's adjusted daily bars as a date column + PRICE_COLUMNS, retrying transient failures."""
        window: dict[str, Any] = {"period": "max"} if after is None else {"start": after + timedelta(days=1)}
        window["end"] = as_of + timedelta(days=1)
        failure: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if failure is not None:
                left = self._retry_time_left()
                if left <= 0:
                    raise SourceError(
                        f"{ticker}: Yahoo download failed {attempt - 1} time(s), last: {_describe(failure)} "
                        f"(no retry: the source's {self.retry_deadline_seconds:g} s retry deadline passed)"
                    ) from failure
                delay = min(self.backoff_seconds * 2 ** (attempt - 2), left)
                log.warning("%s: %s; attempt %d in %.3gs", ticker, _describe(failure), attempt, delay)
                time_module.sleep(delay)
                YfData.cache_get.cache_clear()
            api = yf.Ticker(ticker, session=self.session)
            try:
                with _yfinance_raising():
                    history = api.history(**window, interval="1d", auto_adjust=True, actions=False)
            except YFPricesMissingError as exc:
                if exc.yahoo_reason is None and "symbol" not in api.history_metadata:
                    failure = exc  # not Yahoo's chart at all (e.g. a 5xx with a JSON body)
                    continue
                return _no_bars(ticker, after, as_of, exc)
            except YFTickerMissingError as exc:
                raise UnknownTickerError(f"{ticker}: unknown to Yahoo ({exc.rationale})") from exc
            except Exception as exc:
                if _http_status(exc) == 404:
                    raise UnknownTickerError(f"{ticker}: unknown to Yahoo (HTTP 404: {exc})") from exc
                failure = exc
                continue
            if history.empty:
                return empty_prices()
            frame = history.rename(columns=str.lower)
            frame.insert(0, "date", pd.DatetimeIndex(frame.index).tz_localize(None))
            return frame
        raise SourceError(
            f"{ticker}: Yahoo download failed {self.max_attempts} times, last: {_describe(failure)}"
        ) from failure

    def _retry_time_left(self) -> float:
        """Seconds left before the retry deadline (which starts at the source's first failure)."""
        now = time_module.monotonic()
        if self._retry_deadline is None:
            self._retry_deadline = now + self.retry_deadline_seconds
        return self._retry_deadline - now


def _no_bars(ticker: str, after: date | None, as_of: date, exc: YFPricesMissingError) -> pd.DataFrame:
    """Yahoo's chart has no bars: an unknown symbol, or an empty window (fine only when `after` is set)."""
    if exc.yahoo_reason and _YAHOO_NOT_FOUND in exc.yahoo_reason:
        raise UnknownTickerError(f"{ticker}: unknown to Yahoo ({exc.yahoo_reason})") from exc
    if after is None:
        raise SourceError(f"{ticker}: Yahoo has no price data up to {as_of} ({exc.rationale})") from exc
    return empty_prices()
