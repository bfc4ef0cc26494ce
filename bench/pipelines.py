"""Issue 5 benchmark: kfp.local overhead per component, and `make demo` wall time (install excluded).

Run: `python -m bench pipelines` (or `make bench`); options through `python -m bench.pipelines`:
--repeat N, --skip-demo. Uses scratch data dirs (SQLite + embedded MLflow) and the repository's
params.yaml. Targets: overhead <= 1 s per component, demo <= 4 min on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import machine, timed

REPO = Path(__file__).resolve().parents[1]
# The same work with and without KFP around it: validate params.yaml with overrides.
DIRECT = "from stockpredictor.orchestration.runtime import merge_overrides; merge_overrides('[]', 'AAPL', 2)"


def _median_seconds(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def component_overhead(repeat: int, data_dir: Path) -> float:
    """Median wall time of `configure` under kfp.local minus the same call in a fresh process."""
    from components.configure import configure
    from kfp import local

    os.environ["STOCKPREDICTOR_PARAMS"] = str(REPO / "params.yaml")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(data_dir / "kfp"))
    direct = _median_seconds(repeat, lambda: subprocess.run([sys.executable, "-c", DIRECT], check=True))
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        wrapped = _median_seconds(
            repeat, lambda: configure(params_overrides="[]", tickers="AAPL", n_trials=2)
        )
    print(f"  configure: fresh process {direct:.2f} s, kfp.local task {wrapped:.2f} s ({machine()})")
    return wrapped - direct


def demo(data_dir: Path, results: dict[str, float]) -> None:
    """`make demo` without the install step: scripts/demo.sh on an empty data dir."""
    env = {**os.environ, "STOCKPREDICTOR_DATA_DIR": str(data_dir)}
    with timed("make demo (scripts/demo.sh)", results):
        subprocess.run(
            ["bash", str(REPO / "scripts" / "demo.sh")],
            env=env,
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench pipelines", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args(argv)
    print("pipelines (issue 5)")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        data_dir = Path(tmp) / "data"
        overhead = component_overhead(args.repeat, data_dir)
        print(f"  kfp.local overhead per component {overhead:8.2f} s   (target <= 1 s)")
        if not args.skip_demo:
            demo(Path(tmp) / "demo-data", results)
            print("  (target: make demo <= 240 s on 2 cores)")


if __name__ == "__main__":
    main(sys.argv[1:])
