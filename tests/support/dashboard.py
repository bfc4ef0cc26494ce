"""The dashboard's DOM as headless Chromium left it (`chromium ... --dump-dom`), read into plain values."""

from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser


class DashboardDom(HTMLParser):
    """The latest-predictions table by ticker, and per chart the segments and points of each line."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.rows: list[str] = []  # tickers of the latest-predictions table, in order
        self.cells: dict[str, list[str]] = {}  # ticker -> the texts of its row's cells
        self.segments: dict[str, dict[str, int]] = defaultdict(dict)  # chart -> line class -> segments
        self.points: dict[str, dict[str, int]] = defaultdict(dict)  # chart -> line class -> points drawn
        self._chart = ""
        self._row: str | None = None
        self._cell: list[str] | None = None
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-ticker"):
            self._row = str(a["data-ticker"])
            self.rows.append(self._row)
            self.cells[self._row] = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "svg":
            self._chart = str(a.get("data-ticker"))
        elif tag == "path" and str(a.get("d")).count("L") > 0:  # the legend's strokes have no L
            path, kind = str(a["d"]), str(a.get("class"))
            self.segments[self._chart][kind] = path.count("L")
            self.points[self._chart][kind] = path.count("M") + path.count("L")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self.cells[self._row].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
