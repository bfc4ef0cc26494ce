"""Make sure an overlay's git-ignored secrets.env exists and holds no placeholder (`make deploy` runs it).

When the file is missing it is written from its committed `secrets.env.example`: each distinct
placeholder token (`change-me`, or `change-me-<name>`) becomes one random URL-safe password, the
same wherever that token occurs (so STOCKPREDICTOR_DATABASE_URL carries POSTGRES_PASSWORD). The
passwords are never printed; the file is readable by its owner only. An existing file is never
changed: it is refused while it lacks a key of the example or still holds a placeholder.

Usage: python scripts/secrets_env.py manifests/overlays/kind/secrets.env
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"change-me(?:-[\w]+)*")


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def generate(example: Path) -> str:
    """The example's text with every placeholder token replaced by a fresh password."""
    text = example.read_text()
    passwords = {token: secrets.token_urlsafe(24) for token in set(PLACEHOLDER.findall(text))}
    return PLACEHOLDER.sub(lambda match: passwords[match.group(0)], text)


def problems(path: Path, example: Path) -> list[str]:
    """Why an existing secrets.env cannot be deployed (empty when it can)."""
    values = read_env(path)
    found = [f"{path}: missing {key} (see {example.name})" for key in read_env(example) if key not in values]
    found += [
        f"{path}: {key} still holds a placeholder" for key, v in values.items() if PLACEHOLDER.search(v)
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="the overlay's secrets.env")
    args = parser.parse_args(argv)
    path: Path = args.path
    example = path.with_name(path.name + ".example")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate(example))
        print(f"wrote {path} with new random passwords (git-ignored; keep it: the database uses them)")
        return 0
    found = problems(path, example)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
