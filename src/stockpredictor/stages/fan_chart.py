"""The daily pipeline's view of the ranges: a self-contained HTML fan chart and a Markdown coverage table.

The HTML is one page of inline SVG and CSS (no script, no external file), which is what the Kubeflow
UI renders for an `Output[HTML]`: per ticker the actual closes, the forecasts, the bands of every
interval level and the actual closes that fell outside a band.
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import Engine

from stockpredictor.db.intervals import ServedRange, served_ranges
from stockpredictor.stages.ranges import coverage_table, level_key

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 230, 58, 12, 10, 40
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 12px; color: #1d2330; }
h1 { font-size: 1.1rem; } figure { margin: 0 0 14px; } figcaption { font-weight: 600; }
svg { width: 560px; height: 230px; } .grid { stroke: #e3e6ec; } .tick { fill: #667085; font-size: 11px; }
.actual { fill: none; stroke: #1f5fbf; stroke-width: 2; }
.predicted { fill: none; stroke: #e0702a; stroke-width: 2; stroke-dasharray: 5 3; }
.band { fill: #e0702a; stroke: none; } .miss { fill: #c0392b; stroke: white; stroke-width: 0.8; }
.legend { font-size: 12px; fill: #1d2330; } p { margin: 2px 0; font-size: 0.85rem; color: #667085; }
"""


def recent_fan_chart(engine: Engine, as_of: date, levels: tuple[float, ...], days: int = 90) -> str:
    """The fan chart of the forecasts made in the `days` calendar days up to `as_of`."""
    with engine.connect() as conn:
        rows = served_ranges(conn, as_of, as_of - timedelta(days=days))
    return fan_chart_html(rows, levels, f"Forecasts and prediction intervals up to {as_of}")


def fan_chart_html(rows: list[ServedRange], levels: tuple[float, ...], title: str) -> str:
    """A page with one SVG fan chart per ticker (none: a sentence saying so)."""
    by_ticker: dict[str, list[ServedRange]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.ticker, r.target_date)):
        by_ticker[row.ticker].append(row)
    body = [_figure(ticker, mine, levels) for ticker, mine in by_ticker.items()]
    if not body:
        body = ["<p>No forecast with prediction intervals yet.</p>"]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>"
    )


def _figure(ticker: str, rows: list[ServedRange], levels: tuple[float, ...]) -> str:
    values = [v for r in rows for v in (r.predicted_close, r.actual_close) if v is not None]
    values += [b for r in rows for key in r.intervals for b in r.intervals[key]]
    low, high = min(values), max(values)
    pad = (high - low) * 0.06 or abs(high) * 0.01 or 1.0
    low, high = low - pad, high + pad
    n = len(rows)

    def x(i: int) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (i / max(n - 1, 1))

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low)

    parts = []
    for k in range(5):
        value = low + (high - low) * k / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.2f}</text>'
        )
    for i, anchor in ((0, "start"), (n - 1, "end")):
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">'
            f"{rows[i].target_date}</text>"
        )
    for rank, level in enumerate(sorted(levels, reverse=True)):
        key = level_key(level)
        upper = [f"{x(i):.1f},{y(r.intervals[key][1]):.1f}" for i, r in enumerate(rows) if key in r.intervals]
        lower = [f"{x(i):.1f},{y(r.intervals[key][0]):.1f}" for i, r in enumerate(rows) if key in r.intervals]
        opacity = 0.14 if rank == 0 else 0.3
        parts.append(
            f'<path class="band" data-level="{key}" fill-opacity="{opacity}" '
            f'd="M{"L".join(upper)}L{"L".join(reversed(lower))}Z"/>'
        )
    known = [(i, r) for i, r in enumerate(rows) if r.actual_close is not None]
    parts.append(_polyline("actual", [(x(i), y(r.actual_close or 0.0)) for i, r in known]))
    parts.append(_polyline("predicted", [(x(i), y(r.predicted_close)) for i, r in enumerate(rows)]))
    widest = level_key(max(levels))
    inner = level_key(min(levels))
    for i, r in known:
        if r.actual_close is not None and inner in r.intervals and not _inside(r, inner):
            outside = "outside both" if widest in r.intervals and not _inside(r, widest) else "outside"
            parts.append(
                f'<circle class="miss" cx="{x(i):.1f}" cy="{y(r.actual_close):.1f}" r="3">'
                f"<title>{r.target_date}: {r.actual_close:.2f} {outside}</title></circle>"
            )
    legend_y = HEIGHT - 8
    names = " / ".join(f"{level:.0%}" for level in sorted(levels))
    parts += [
        f'<path class="actual" d="M{LEFT},{legend_y - 4}h22"/>',
        f'<text class="legend" x="{LEFT + 28}" y="{legend_y}">actual close</text>',
        f'<path class="predicted" d="M{LEFT + 120},{legend_y - 4}h22"/>',
        f'<text class="legend" x="{LEFT + 148}" y="{legend_y}">forecast</text>',
        f'<rect class="band" fill-opacity="0.3" x="{LEFT + 220}" y="{legend_y - 9}" width="22" height="10"/>',
        f'<text class="legend" x="{LEFT + 248}" y="{legend_y}">{names} interval</text>',
        f'<circle class="miss" cx="{LEFT + 380}" cy="{legend_y - 4}" r="3"/>',
        f'<text class="legend" x="{LEFT + 388}" y="{legend_y}">outside {min(levels):.0%}</text>',
    ]
    covered = ", ".join(
        f"{level:.0%}: {sum(_inside(r, level_key(level)) for _, r in known)}/{len(known)} inside"
        for level in sorted(levels)
    )
    return (
        f'<figure data-ticker="{html.escape(ticker)}"><figcaption>{html.escape(ticker)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{html.escape(ticker)}: forecasts with prediction intervals">{"".join(parts)}</svg>'
        f"<p>{covered} (matured forecasts shown)</p></figure>"
    )


def _inside(row: ServedRange, key: str) -> bool:
    lower, upper = row.intervals[key]
    return row.actual_close is not None and lower <= row.actual_close <= upper


def _polyline(kind: str, points: list[tuple[float, float]]) -> str:
    if not points:
        return ""
    return f'<path class="{kind}" d="M{"L".join(f"{px:.1f},{py:.1f}" for px, py in points)}"/>'


def coverage_markdown(statistics: dict[str, float], levels: tuple[float, ...]) -> str:
    """The monitor window's coverage, width and interval score against the baselines, as a Markdown table."""
    if "range_n" not in statistics:
        return (
            "# Prediction intervals\n\nNo matured forecast of the production model carries an interval yet.\n"
        )
    return (
        "\n".join(
            [
                "# Prediction intervals",
                "",
                f"Monitor window: {int(statistics['range_n'])} matured forecasts of the production model. "
                "Width and interval (Winkler) score in log-return percent (lower is better); the "
                "baselines are the EWMA and rolling-250-day volatilities with normal multipliers around "
                "the same forecast.",
                "",
                *coverage_table(statistics, levels),
            ]
        )
        + "\n"
    )
