"""Property-based fuzzing of the API from its own OpenAPI schema: every answer is documented, none is 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, GenerationMode

from stockpredictor.api import create_app
from tests.support.replay import Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models

PARAMETERLESS = ["/livez", "/readyz", "/tickers", "/predictions/latest", "/model"]
WITH_PARAMETERS = ["/predictions/{ticker}", "/performance", "/monitoring/decisions"]
CASES = [(path, GenerationMode.POSITIVE) for path in PARAMETERLESS + WITH_PARAMETERS] + [
    (path, GenerationMode.NEGATIVE) for path in WITH_PARAMETERS
]


def _inverted(query: dict[str, str]) -> bool:
    return "start" in query and "end" in query and str(query["end"]) < str(query["start"])


@pytest.fixture(scope="module")
def api_schema(replayed: Replayed) -> BaseSchema:
    """The schema of the app serving the replay's store and registry."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(replayed.settings, replayed.params))


def test_the_schema_lists_every_path(api_schema: BaseSchema) -> None:
    assert sorted(api_schema.raw_schema["paths"]) == sorted(PARAMETERLESS + WITH_PARAMETERS)


@pytest.mark.parametrize(("path", "mode"), CASES, ids=[f"{p}-{m.value}" for p, m in CASES])
def test_any_request_is_answered_as_documented(
    api_schema: BaseSchema, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path]["GET"]
    cases = operation.as_strategy(mode)
    if "{ticker}" in path:  # random symbols are all unknown: also fuzz the other parameters of a known one
        cases = st.one_of(cases, operation.as_strategy(mode, path_parameters={"ticker": "msft"}))
        if mode is GenerationMode.POSITIVE:  # the schema cannot say start <= end; an inverted range is a 422
            cases = cases.filter(lambda case: not _inverted(case.query or {}))

    @given(case=cases)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answered(case: Case) -> None:
        case.call_and_validate()

    answered()
