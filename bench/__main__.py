"""`python -m bench [NAME ...]`: run the named benchmarks (all by default) and print their figures."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "foundation",
    "arrays",
    "log_model_ingest",
    "universe",
    "training",
    "daily",
    "pipelines",
    "api_latency",
    "parallel_optimize",
    "attention",
    "learners",
    "volatility",
)


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        importlib.import_module(f"bench.{name}").main([])


if __name__ == "__main__":
    main()
