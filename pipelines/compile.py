"""Compile the pipelines to YAML: `python -m pipelines.compile [--check | --output-dir DIR ...]`.

Without options it writes the committed pipelines/<name>.yaml (`make compile`), which name the release
image. CI sets STOCKPREDICTOR_IMAGE to the image it built for the commit and compiles into a folder of
its own; `--expect-image` then proves that every executor of the written YAML runs that image.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import yaml
from components.image import IMAGE_ENV, IMAGE_PULL_SECRET, PROJECT_IMAGE, PULL_SECRET_ENV, RELEASE_IMAGE
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


def executor_images(path: Path) -> set[str]:
    """The images of every executor of a compiled pipeline YAML."""
    spec = next(yaml.safe_load_all(path.read_text()))
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.compile", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="Exit 1 when a committed YAML is stale; write nothing."
    )
    parser.add_argument(
        "--output-dir", type=Path, help="Write <DIR>/<name>.yaml instead of the committed files."
    )
    parser.add_argument(
        "--expect-image",
        metavar="REF",
        help=f"Exit 1 unless every executor runs image REF (set {IMAGE_ENV}=REF to compile against it).",
    )
    args = parser.parse_args(argv)
    if (args.check or args.output_dir is None) and PROJECT_IMAGE != RELEASE_IMAGE:
        print(
            f"{IMAGE_ENV}={PROJECT_IMAGE} is set: the committed YAML names {RELEASE_IMAGE}; "
            "unset it, or write elsewhere with --output-dir",
            file=sys.stderr,
        )
        return 2
    if (args.check or args.output_dir is None) and IMAGE_PULL_SECRET:
        print(
            f"{PULL_SECRET_ENV}={IMAGE_PULL_SECRET} is set: the committed YAML names no pull Secret; "
            "unset it, or write elsewhere with --output-dir",
            file=sys.stderr,
        )
        return 2
    if args.check:
        stale = stale_pipelines()
        for name in stale:
            print(f"{compiled_path(name)} is stale: run `make compile` and commit it", file=sys.stderr)
        return 1 if stale else 0
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in PIPELINES:
        path = args.output_dir / f"{name}.yaml" if args.output_dir else compiled_path(name)
        print(compile_pipeline(name, path))
        if args.expect_image and executor_images(path) != {args.expect_image}:
            print(
                f"{path}: executors run {sorted(executor_images(path))}, not {args.expect_image}",
                file=sys.stderr,
            )
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
