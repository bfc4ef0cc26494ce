"""The layering, read from the source with `ast`: no import circle in `stockpredictor`, `components` and
`pipelines`; the domain never imports the KFP faces; nobody edits `sys.path`; MLflow only in the
registry (its model files and its outage classifier); a stage imports no other stage (only the compositions
`training_cycle`, `replay`, `replay_report` run stages); `errors` is the lowest layer.

Every import counts: module level, inside functions (the components' bodies) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

#: Top-level package -> the folder it lives in.
ROOTS = {
    "stockpredictor": REPO / "src" / "stockpredictor",
    "components": REPO / "components",
    "pipelines": REPO / "pipelines",
}
FACES = ("components", "pipelines")
STAGE_COMPOSITIONS = {"training_cycle", "replay", "replay_report", "replay_ranges"}
STAGE_HELPERS = {
    "common",
    "evaluation",
    "figures",
    "files",
    "model_forecasts",
    "optimize_study",
    "persistence",
    "ranges",
}


def module_files() -> dict[str, Path]:
    """Every module of the three packages by dotted name (a package by its `__init__`)."""
    modules = {}
    for package, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def resolve(name: str) -> str | None:
    """The module of ours `name` lies in (the longest known prefix), or None when it is not ours."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(module: str, path: Path) -> set[str]:
    """The modules of ours that `module` imports; `from pkg import name` points at `pkg.name` when that
    is a module, else at `pkg` (a parent package's `__init__` is not counted for `import pkg.mod`)."""
    targets: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {resolve(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else resolve(base))
    return {t for t in targets if t is not None and t != module}


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    return {module: imports_of(module, path) for module, path in MODULES.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


GRAPH = import_graph()


def test_the_graph_sees_module_level_and_function_level_imports() -> None:
    assert "stockpredictor.orchestration.runtime" in GRAPH["components.ingest"]  # inside the body
    assert "components.ingest" in GRAPH["pipelines.training"]
    assert "stockpredictor.cli.training" in GRAPH["stockpredictor.cli.app"]  # from package import module
    assert "stockpredictor.cli" not in GRAPH["stockpredictor.cli.app"]
    assert len(MODULES) > 80


def test_find_cycles_reports_a_circle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    assert find_cycles(GRAPH) == []


def test_the_domain_never_imports_components_or_pipelines() -> None:
    upward = {
        (module, target)
        for module, targets in GRAPH.items()
        if module.startswith("stockpredictor")
        for target in targets
        if target.split(".")[0] in FACES
    }
    assert upward == set()


def test_errors_is_the_lowest_layer() -> None:
    assert GRAPH["stockpredictor.errors"] == set()


def test_a_stage_imports_no_other_stage() -> None:
    stages = "stockpredictor.stages."
    sideways = {
        (module, target)
        for module, targets in GRAPH.items()
        if module.startswith(stages) and module.removeprefix(stages) not in STAGE_COMPOSITIONS
        for target in targets
        if target.startswith(stages) and target.removeprefix(stages) not in STAGE_HELPERS
    }
    assert sideways == set()


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in names}


def test_mlflow_only_through_the_registry() -> None:
    users = {module for module, path in MODULES.items() if "mlflow" in _third_party(path)}
    assert users == {
        "stockpredictor.registry",
        "stockpredictor.registry_models",
        "stockpredictor.registry_outage",
    }


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_edits_sys_path(module: str) -> None:
    """No `sys.path` (nor `site.addsitedir`, nor PYTHONPATH): the installed distribution is the way in."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("sys", "path"), ("site", "addsitedir")}, node.lineno
        if isinstance(node, ast.ImportFrom) and node.module in ("sys", "site"):
            assert not {a.name for a in node.names} & {"path", "addsitedir"}, node.lineno
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert "PYTHONPATH" not in node.value, node.lineno


def _loaded_in_fresh_interpreter(imports: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Which of the `heavy` top-level packages the `imports` lines load in a fresh interpreter."""
    body = "\n".join(["import sys", *imports, f"print(sorted(m for m in {heavy!r} if m in sys.modules))"])
    done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, cwd=REPO, check=True)
    return ast.literal_eval(done.stdout.strip())


def test_the_ingest_step_imports_neither_torch_nor_mlflow() -> None:
    """What the ingest component's body imports, in a fresh interpreter: no torch, no MLflow."""
    imports = [
        "from stockpredictor.errors import SourceError",
        "from stockpredictor.orchestration.cards import ingest_card",
        "from stockpredictor.orchestration.runtime import parse_as_of, task_context",
        "from stockpredictor.stages.ingest import ingest",
    ]
    assert _loaded_in_fresh_interpreter(imports, ("torch", "mlflow", "matplotlib")) == []


def test_the_serving_steps_do_not_import_scikit_learn() -> None:
    """Serving evaluates exported trees with numpy: the predict, production-model and monitor steps
    never load scikit-learn (about 1 s of every such step's start-up), only fitting does."""
    imports = [
        "from stockpredictor.orchestration.runtime import predictions_markdown, task_context",
        "from stockpredictor.stages.predict import predict",
        "from stockpredictor.stages.production_model import production_model",
        "from stockpredictor.stages.monitor import monitor",
    ]
    assert _loaded_in_fresh_interpreter(imports, ("sklearn", "matplotlib")) == []


#: The KFP steps that run no model: (module of `components`, component function).
MODEL_FREE_STEPS = (
    ("configure", "configure"),
    ("ingest", "ingest"),
    ("monitor", "monitor"),
    ("notify", "notify"),
    ("optimize", "optimize_study"),
    ("optimize", "optimize_collect"),
    ("prepare_input", "prepare_input"),
    ("process", "process"),
    ("production_model", "production_model"),
    ("scale", "scale"),
    ("session", "session"),
)


def _body_imports(module: str, function: str) -> list[str]:
    """The import lines inside component `function` of `components/<module>.py`: what its step runs."""
    tree = ast.parse(MODULES[f"components.{module}"].read_text())
    [body] = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function]
    return [ast.unparse(node) for node in ast.walk(body) if isinstance(node, ast.Import | ast.ImportFrom)]


def test_the_steps_that_run_no_model_do_not_import_torch() -> None:
    """Each KFP step is a fresh interpreter, and importing torch costs it 1-1.5 CPU s: the steps that run
    no model (the monitor too, unless it demotes: `persistence.install_baseline`; the search's study
    and collect steps around its workers) never load it."""
    imports = [line for module, function in MODEL_FREE_STEPS for line in _body_imports(module, function)]
    assert "from stockpredictor.stages.monitor import monitor as run" in imports
    assert "from stockpredictor.stages.optimize_study import collect, search_history" in imports
    assert _loaded_in_fresh_interpreter(imports, ("torch",)) == []


def test_the_configure_step_loads_neither_the_store_nor_the_calendar() -> None:
    """`configure` only validates the parameters: its step starts in well under a second."""
    imports = _body_imports("configure", "configure")
    assert (
        _loaded_in_fresh_interpreter(imports, ("pandas", "alembic", "exchange_calendars", "torch", "mlflow"))
        == []
    )
