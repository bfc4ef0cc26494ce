"""The compiled pipelines are accepted by the pinned Kubeflow Pipelines backend: parsed strictly
(unknown fields are errors, as the backend's Argo compiler does) with the protos of that exact
release, taken from PyPI and loaded in a separate interpreter. The SDK pins and the backend pin move
together: a bump of either side alone fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.assets import REPO, compiled_pipelines, make_variable
from tests.cluster.backend_protos import CACHE, ProtosUnavailable, protos_site, strict_parse

#: Backend release -> (kfp, kfp-kubernetes) SDK pins checked against it. Add a row only after this
#: file's tests pass with the new pair (and README's "Supported versions" names it).
SUPPORTED_PAIRS = {"2.17.0": ("2.17.3", "2.17.3")}
#: The last backend release before `secretAsEnv[].optional` (kubeflow/pipelines#12216, 2.15.0).
REJECTING_BACKEND = "2.14.3"


def sdk_pins() -> tuple[str, str]:
    """The kfp and kfp-kubernetes versions pinned by pyproject.toml."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {m[1]: m[2] for d in dependencies if (m := re.fullmatch(r"([\w-]+)==([\w.]+)", d))}
    return pins["kfp"], pins["kfp-kubernetes"]


def site_for(version: str) -> Path:
    """`protos_site(version)`; skips only when PyPI is unreachable and nothing is cached (CI has PyPI)."""
    try:
        return protos_site(version)
    except ProtosUnavailable as exc:
        pytest.skip(f"the KFP {version} protos are not in {CACHE} and PyPI is unreachable: {exc}")


def parsed_with(version: str) -> dict[str, Any]:
    """`strict_parse` of both compiled pipelines with backend `version`'s protos."""
    site = site_for(version)
    pipelines = compiled_pipelines()
    assert {p.stem for p in pipelines} == {"training", "daily"}
    result = strict_parse(site, pipelines)
    for module in result["modules"]:  # the release's protos, not the SDK's
        assert Path(module).is_relative_to(site), module
    return result


def executor_errors(result: dict[str, Any]) -> dict[str, str | None]:
    return {
        f"{name}/{executor}": error
        for name, parsed in result["pipelines"].items()
        for executor, error in parsed["executors"].items()
    }


def test_the_pinned_backend_is_a_supported_pair_with_the_sdk_pins() -> None:
    backend = make_variable("KFP_VERSION")
    assert backend in SUPPORTED_PAIRS, f"KFP backend {backend} (mk/cluster.mk) was never checked"
    assert sdk_pins() == SUPPORTED_PAIRS[backend], (
        f"pyproject pins kfp/kfp-kubernetes {sdk_pins()}, checked with backend {backend}: "
        f"{SUPPORTED_PAIRS[backend]}"
    )
    kfp, kfp_kubernetes = sdk_pins()
    readme = (REPO / "README.md").read_text()
    assert f"| {kfp} | {kfp_kubernetes} | {backend} |" in readme, "README's supported-versions row"


def test_the_pinned_backend_accepts_every_part_of_both_compiled_pipelines() -> None:
    result = parsed_with(make_variable("KFP_VERSION"))
    for name, parsed in result["pipelines"].items():
        assert parsed["pipeline_spec"] is None, f"{name}: PipelineSpec: {parsed['pipeline_spec']}"
        assert parsed["platform_spec"] is None, f"{name}: PlatformSpec: {parsed['platform_spec']}"
    errors = executor_errors(result)
    # every executor of each PipelineSpec (read here as plain YAML) has its Kubernetes config parsed
    assert set(errors) == {
        f"{path.stem}/{executor}"
        for path in compiled_pipelines()
        for executor in next(yaml.safe_load_all(path.read_text()))["deploymentSpec"]["executors"]
    }
    assert {k: e for k, e in errors.items() if e} == {}


def test_a_backend_before_2_15_rejects_every_executor_config() -> None:
    """The failure the pin avoids: 2.14.3 does not know `secretAsEnv[].optional`."""
    errors = executor_errors(parsed_with(REJECTING_BACKEND))
    assert errors
    for executor, error in errors.items():
        assert error and 'SecretAsEnv" has no field named "optional"' in error, (executor, error)


def test_the_parse_is_strict_and_isolated_from_the_sdk(tmp_path: Path) -> None:
    """A field the backend does not know fails; the same YAML without it passes."""
    site = site_for(make_variable("KFP_VERSION"))
    (pipeline,) = [p for p in compiled_pipelines() if p.stem == "training"]
    text = pipeline.read_text()
    assert "      executors:\n" in text
    mutated = tmp_path / "training.yaml"
    marker = "          secretAsEnv:\n"
    mutated.write_text(text.replace(marker, "          notAField: 1\n" + marker, 1))
    errors = {k: e for k, e in executor_errors(strict_parse(site, [mutated])).items() if e}
    assert len(errors) == 1 and 'no field named "notAField"' in next(iter(errors.values()))
