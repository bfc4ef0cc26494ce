"""A Yahoo Finance stand-in: a requests transport adapter that answers in Yahoo's wire format, offline.

The real yfinance code runs unchanged on a `requests.Session` with this adapter mounted. It serves the
cookie and crumb endpoints, the quoteSummary fallback yfinance uses for symbols without a time zone,
and `/v8/finance/chart/{symbol}` both as the `range=1d` time-zone probe and as `period1/period2`
history, the way Yahoo does: a 404 chart error for unknown symbols, a 400 "Data doesn't exist" for a
window before the first bar, an empty result for a window without bars, daily bars stamped at the
09:30 New York open.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

NEW_YORK = ZoneInfo("America/New_York")
CRUMB = "fake-crumb"


@dataclass(frozen=True)
class Bar:
    """One daily bar as Yahoo stores it: split-adjusted OHLC and volume, plus the dividend-adjusted close."""

    day: date
    open: float
    high: float
    low: float
    close: float
    adjclose: float
    volume: int

    @property
    def timestamp(self) -> int:
        return int(datetime.combine(self.day, time(9, 30), tzinfo=NEW_YORK).timestamp())


def chart_meta(symbol: str, bars: list[Bar]) -> dict[str, Any]:
    """The `meta` block of a chart result (the fields yfinance reads, with Yahoo's names and types)."""
    last = bars[-1] if bars else None
    return {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "firstTradeDate": 345479400,
        "regularMarketTime": last.timestamp if last else 0,
        "hasPrePostMarketData": True,
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": last.close if last else None,
        "chartPreviousClose": last.close if last else None,
        "priceHint": 2,
        "dataGranularity": "1d",
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }


def chart_body(symbol: str, bars: list[Bar]) -> dict[str, Any]:
    """A successful chart answer; without bars Yahoo omits `timestamp` and sends empty indicator blocks."""
    result: dict[str, Any] = {"meta": chart_meta(symbol, bars)}
    if bars:
        result["timestamp"] = [bar.timestamp for bar in bars]
        quote = {
            field: [getattr(bar, field) for bar in bars]
            for field in ("open", "high", "low", "close", "volume")
        }
        result["indicators"] = {"quote": [quote], "adjclose": [{"adjclose": [bar.adjclose for bar in bars]}]}
    else:
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return {"chart": {"result": [result], "error": None}}


def chart_error_body(code: str, description: str) -> dict[str, Any]:
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


def unknown_symbol_body() -> dict[str, Any]:
    """Yahoo's 404 answer for a symbol it does not know (or no longer lists)."""
    return chart_error_body("Not Found", "No data found, symbol may be delisted")


@dataclass(frozen=True)
class Failure:
    """A canned failed answer to the next chart request."""

    status: int
    body: str


RATE_LIMITED = Failure(429, "Edge: Too Many Requests")
SERVER_ERROR = Failure(500, "<html><body>Will be right back...</body></html>")
BAD_GATEWAY = Failure(502, json.dumps({"finance": {"result": None, "error": {"code": "internal-error"}}}))


def _response(
    request: requests.PreparedRequest, status: int, body: dict[str, Any] | str
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    is_json = isinstance(body, dict)
    response._content = (json.dumps(body) if is_json else str(body)).encode()
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json" if is_json else "text/html"})
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    response.reason = HTTPStatus(status).phrase
    return response


class FakeYahoo(BaseAdapter):
    """Serves `bars` per symbol; `fail_next_charts` queues failures (or exceptions) for coming chart calls.

    `overshoot` bars past `period2` are appended to history answers, as Yahoo appends its latest bars.
    Every URL asked for is kept in `urls`.
    """

    def __init__(self, bars: dict[str, list[Bar]], overshoot: int = 0) -> None:
        super().__init__()
        self.bars = bars
        self.overshoot = overshoot
        self.urls: list[str] = []
        self.served_days: list[date] = []
        self._failures: deque[Failure | Exception] = deque()

    def fail_next_charts(self, *failures: Failure | Exception) -> None:
        self._failures.extend(failures)

    def chart_calls(self, symbol: str) -> list[dict[str, str]]:
        """The query parameters of every chart request for `symbol`."""
        calls = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.path == f"/v8/finance/chart/{symbol}":
                calls.append({key: values[0] for key, values in parse_qs(parts.query).items()})
        return calls

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.urls.append(url)
        parts = urlsplit(url)
        path = parts.path
        if parts.hostname == "fc.yahoo.com":
            return _response(request, 404, "<html>not found</html>")
        if path == "/v1/test/getcrumb":
            return _response(request, 200, CRUMB)
        if path.startswith("/v10/finance/quoteSummary/"):
            symbol = path.rsplit("/", 1)[1]
            error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
            return _response(request, 404, {"quoteSummary": {"result": None, "error": error}})
        if path.startswith("/v8/finance/chart/"):
            return self._chart(request, path.rsplit("/", 1)[1], parse_qs(parts.query))
        return _response(request, 404, "<html>not found</html>")  # e.g. the consent page

    def close(self) -> None:
        """Nothing to release."""

    def _chart(
        self, request: requests.PreparedRequest, symbol: str, query: dict[str, list[str]]
    ) -> requests.Response:
        if self._failures:
            failure = self._failures.popleft()
            if isinstance(failure, Exception):
                raise failure
            return _response(request, failure.status, failure.body)
        if symbol not in self.bars:
            return _response(request, 404, unknown_symbol_body())
        bars = self.bars[symbol]
        if "range" in query:  # yfinance's time-zone probe
            return _response(request, 200, chart_body(symbol, bars[-1:]))
        period1, period2 = int(query["period1"][0]), int(query["period2"][0])
        if bars and period2 <= bars[0].timestamp:
            description = f"Data doesn't exist for startDate = {period1}, endDate = {period2}"
            return _response(request, 400, chart_error_body("Bad Request", description))
        inside = [bar for bar in bars if period1 <= bar.timestamp < period2]
        served = inside + [bar for bar in bars if bar.timestamp >= period2][: self.overshoot]
        self.served_days.extend(bar.day for bar in served)
        return _response(request, 200, chart_body(symbol, served))


def yahoo_session(fake: FakeYahoo) -> requests.Session:
    """A requests Session whose every request is answered by `fake` (nothing reaches the network)."""
    session = requests.Session()
    session.mount("https://", fake)
    session.mount("http://", fake)
    return session
