"""Headless Chromium in tests (Debian's /usr/bin/chromium): run it on a page and get its output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium on `url` until its scripts are done; returns stdout."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium package)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1500",
        "--virtual-time-budget=5000",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
