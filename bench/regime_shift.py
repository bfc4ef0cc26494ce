"""Issue 24: a volatility regime shift on the real sample path, and how the intervals recover.

Replays START..END with every log price move from SHIFT on scaled by FACTOR (`ScaledMovesSource`
around the bundled sample), then prints the coverage of the served intervals in the sessions before
the shift, in the first 20 from it and in the 20 after those, and the coverage alerts of the monitor.
Extra arguments are `--set` overrides (e.g. tiny training settings).

Run: `python -m bench.regime_shift [--start D] [--end D] [--shift D] [--factor 3] [--set k=v ...]`.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

from bench.common import machine
from stockpredictor.config import load_params
from stockpredictor.db.engine import make_engine
from stockpredictor.db.events import all_events
from stockpredictor.db.intervals import matured_ranges
from stockpredictor.sources.sample import SampleSource
from stockpredictor.sources.shifted import ScaledMovesSource
from stockpredictor.stages.monitor import COVERAGE
from stockpredictor.stages.replay import replay, workspace_settings
from stockpredictor.stages.replay_ranges import recovery_lines


def main(argv: list[str] | None = None) -> None:
    """Run the shifted replay and print the recovery table and the alerts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2012, 6, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2012, 11, 30))
    parser.add_argument("--shift", type=date.fromisoformat, default=date(2012, 9, 4))
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=None, help="report folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    params = load_params(None, args.overrides)
    source = ScaledMovesSource(SampleSource(), args.shift, args.factor)
    print(f"regime shift x{args.factor} from {args.shift}, replay {args.start}..{args.end}; {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        output = args.output or Path(tmp)
        result = replay(params, args.start, args.end, output, source=source)
        engine = make_engine(workspace_settings(output).database_url)
        with engine.connect() as conn:
            rows = matured_ranges(conn, None, args.end)
            alerts = [e for e in all_events(conn) if e.kind == COVERAGE]
        engine.dispose()
        print("\n".join(recovery_lines(rows, args.shift, params.intervals.levels)))
        for event in alerts:
            print(f"alert: {event.text}")
        print(f"{len(result.days)} days in {result.seconds:.0f} s; report {result.report.summary}")


if __name__ == "__main__":
    main()
