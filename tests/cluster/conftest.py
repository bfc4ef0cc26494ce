"""Fixtures for the static checks of images/, manifests/, kind-config.yaml and mk/cluster.mk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.assets import build, copy_manifests, documents, overlays


@pytest.fixture(scope="session")
def manifests_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/ as a clean clone has it, plus secrets.env made from each overlay's example."""
    return copy_manifests(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="session")
def rendered(manifests_copy: Path) -> dict[str, str]:
    """`kustomize build` output of the base and of every overlay, by name ("base", "kind", ...)."""
    out = {"base": build(manifests_copy / "base")}
    for overlay in overlays():
        out[overlay.name] = build(manifests_copy / "overlays" / overlay.name)
    return out


@pytest.fixture(scope="session")
def kind_resources(rendered: dict[str, str]) -> list[dict[str, Any]]:
    return documents(rendered["kind"])
