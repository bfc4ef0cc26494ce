"""Compile the pipelines to YAML: `python -m pipelines.compile [--check]` (`make compile`)."""

import argparse
import sys
import tempfile
from pathlib import Path

from kfp import compiler

from pipelines import PIPELINES, compiled_path


def compile_pipeline(name: str, path: Path) -> Path:
    """Write pipeline `name` as KFP IR YAML to `path`."""
    compiler.Compiler().compile(PIPELINES[name], package_path=str(path))
    return path


def stale_pipelines() -> list[str]:
    """Names of the pipelines whose committed YAML differs from a fresh compilation."""
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in PIPELINES:
            fresh = compile_pipeline(name, Path(tmp) / f"{name}.yaml").read_text()
            committed = compiled_path(name)
            if not committed.is_file() or committed.read_text() != fresh:
                stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.compile", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="Exit 1 when a committed YAML is stale; write nothing."
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pipelines()
        for name in stale:
            print(f"{compiled_path(name)} is stale: run `make compile` and commit it", file=sys.stderr)
        return 1 if stale else 0
    for name in PIPELINES:
        print(compile_pipeline(name, compiled_path(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
