"""Fixtures for the pipeline tests: a CLI runner and a fake Kubeflow Pipelines API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.support.fake_kfp import FakeKfpServer


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def kfp_server() -> Iterator[FakeKfpServer]:
    """The v2beta1 API on 127.0.0.1, recording what the real `kfp.Client` sends."""
    with FakeKfpServer() as server:
        yield server
