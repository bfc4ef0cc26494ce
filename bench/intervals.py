"""Issue 24: the prediction intervals on the three replay ranges, with the interval loop alone.

For each range, `replay_persistence_ranges` ingests the sample day by day, serves the ranges around
exact persistence forecasts with predict's code and runs the monitor (calibration, coverage, alerts),
in a fresh SQLite store; then prints the replay report's interval section (coverage overall and per
ticker, width, Winkler score against the EWMA and rolling baselines, QLIKE and MAE of |r| of the
volatility forecasts). `--shift DAY` scales every log move from DAY on by `--factor` and prints the
recovery table. No model is trained: the figures are those of the volatility forecast and its
calibration; a replay with defaults puts a trained model's forecast at the center.

Run: `python -m bench.intervals [--range START END ...] [--shift DAY --factor 3] [--set k=v ...]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import machine
from stockpredictor.calendar import trading_days
from stockpredictor.config import load_params
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.events import all_events
from stockpredictor.sources import PriceSource
from stockpredictor.sources.sample import SampleSource
from stockpredictor.sources.shifted import ScaledMovesSource
from stockpredictor.stages.monitor import COVERAGE
from stockpredictor.stages.replay_ranges import ranges_section, recovery_lines, replay_persistence_ranges

RANGES = (("2012-03-01", "2013-03-01"), ("2008-06-02", "2009-06-01"), ("2005-03-01", "2006-03-01"))


def main(argv: list[str] | None = None) -> None:
    """Run the interval loop on each range and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--range", nargs=2, action="append", metavar=("START", "END"), dest="ranges")
    parser.add_argument("--shift", type=date.fromisoformat, default=None)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    params = load_params(None, args.overrides)
    print(f"prediction intervals, persistence center, defaults + {args.overrides}; {machine()}")
    for first, last in args.ranges or RANGES:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
        source: PriceSource = SampleSource()
        if args.shift is not None:
            source = ScaledMovesSource(source, args.shift, args.factor)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'store.db'}")
            migrate(engine)
            warm = load_params(None, [*args.overrides, f"data.start={start - timedelta(days=730)}"])
            rows = replay_persistence_ranges(engine, warm, trading_days(start, end), source)
            with engine.connect() as conn:
                alerts = [e.text for e in all_events(conn) if e.kind == COVERAGE]
            engine.dispose()
        print(f"\n## {start} .. {end} ({time.perf_counter() - started:.0f} s)\n")
        print("\n".join(ranges_section(rows, params.intervals.levels)))
        if args.shift is not None:
            print(f"\nshift x{args.factor} from {args.shift}:\n")
            print("\n".join(recovery_lines(rows, args.shift, params.intervals.levels)))
        print(f"\n{len(alerts)} coverage alert(s)" + "".join(f"\n- {text}" for text in alerts))


if __name__ == "__main__":
    main()
