"""Fixtures for the CLI tests: a fake Kubeflow Pipelines API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_kfp import FakeKfpServer


@pytest.fixture
def kfp_server() -> Iterator[FakeKfpServer]:
    """The v2beta1 API on 127.0.0.1, recording what the real `kfp.Client` sends."""
    with FakeKfpServer() as server:
        yield server
