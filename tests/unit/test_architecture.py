"""The layers and their import direction, checked on the source (no code is imported).

    dags ──► notiflow_airflow (glue) ──► expectations ──► notiflow (core)
                      └───────────────────────────────────►┘
             tfx_pipelines ───────────────────────────────►┘

The core imports nothing of ours and no Airflow, Great Expectations or TensorFlow, so
it installs and runs in every environment. Every import counts, also one inside a
function: a lazy import is still a dependency. No module may take part in an import
cycle, inside a layer or across layers.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

CORE, GLUE, GATES, TFX, DAGS = (
    "notiflow",
    "notiflow_airflow",
    "expectations",
    "tfx_pipelines",
    "dags",
)
# What each layer may import of ours (itself included).
ALLOWED: dict[str, set[str]] = {
    CORE: {CORE},
    GATES: {GATES, CORE},
    TFX: {TFX, CORE},
    GLUE: {GLUE, GATES, CORE},
    DAGS: {DAGS, GLUE, CORE},
}
AIRFLOW = {"airflow", "cosmos"}
GX = {"great_expectations"}
TENSORFLOW = {
    "tensorflow",
    "tf_keras",
    "keras",
    "tfx",
    "tfx_bsl",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "tensorflow_data_validation",
    "tensorflow_metadata",
    "ml_metadata",
    "apache_beam",
}
# Third-party packages each layer must not import.
BANNED: dict[str, set[str]] = {
    CORE: AIRFLOW | GX | TENSORFLOW,
    GATES: AIRFLOW | TENSORFLOW,
    TFX: AIRFLOW | GX,
    GLUE: TENSORFLOW,
    DAGS: TENSORFLOW | GX,
}


def _modules(root: Path) -> dict[str, Path]:
    """Module name → file, for every layer's Python files under ``root``."""
    modules = {}
    for layer in ALLOWED:
        for path in sorted((root / layer).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imports(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Every module name ``path`` imports, absolute. ``from x import y`` imports ``x.y`` when
    that is one of our modules, else ``x`` (the package ``x`` itself, a parent, is not
    counted: importing a submodule always runs its package's ``__init__``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in modules else base)
    return names


def _graph(root: Path) -> tuple[dict[str, Path], dict[str, set[str]]]:
    """Our modules and, for each, the modules of ours it imports."""
    modules = _modules(root)
    edges = {}
    for module, path in modules.items():
        imported = _imports(path, module, modules)
        edges[module] = {name for name in imported if name in modules} - {module}
    return modules, edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations(root: Path) -> list[str]:
    """Every import against the layering, and every import cycle, in the tree at ``root``."""
    modules, edges = _graph(root)
    problems = []
    for module, path in modules.items():
        layer = module.split(".")[0]
        where = path.relative_to(root)
        for name in sorted(_imports(path, module, modules)):
            top = name.split(".")[0]
            if top in ALLOWED and top not in ALLOWED[layer]:
                problems.append(f"{where}: {layer} must not import {name} ({top})")
            elif top in BANNED[layer]:
                problems.append(f"{where}: {layer} must not import {name} (third-party {top})")
    for cycle in _cycles(edges):
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def test_the_tree_keeps_its_layers_and_has_no_cycles():
    assert violations(REPO_ROOT) == []


def test_every_layer_is_checked():
    modules = _modules(REPO_ROOT)
    assert {module.split(".")[0] for module in modules} == set(ALLOWED)
    # the glue's and the DAGs' lazy imports are seen too
    _, edges = _graph(REPO_ROOT)
    assert "expectations.gates" in edges["notiflow_airflow.tasks"]


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the layers' Python files, to plant faults in."""
    for layer in ALLOWED:
        for path in (REPO_ROOT / layer).rglob("*.py"):
            target = tmp_path / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    assert violations(tmp_path) == []
    return tmp_path


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {line}\n")


def test_a_back_import_from_the_core_into_the_glue_fails(tree):
    _plant(
        tree / "notiflow" / "sql_dialect_check.py", "from notiflow_airflow import common  # noqa"
    )
    assert violations(tree) == [
        "notiflow/sql_dialect_check.py: notiflow must not import notiflow_airflow.common "
        "(notiflow_airflow)"
    ]


def test_the_core_importing_airflow_fails(tree):
    _plant(tree / "notiflow" / "warehouse.py", "import airflow.sdk  # noqa")
    assert violations(tree) == [
        "notiflow/warehouse.py: notiflow must not import airflow.sdk (third-party airflow)"
    ]


def test_tfx_pipelines_importing_the_gates_fails(tree):
    path = next((tree / "tfx_pipelines").rglob("*.py"))
    _plant(path, "from expectations import gates  # noqa")
    assert any("tfx_pipelines must not import expectations" in v for v in violations(tree))


def test_a_planted_cycle_fails(tree):
    # settings imports domain; domain importing settings closes a cycle inside the core
    _plant(tree / "notiflow" / "domain.py", "from notiflow import settings  # noqa")
    assert violations(tree) == ["import cycle: notiflow.domain -> notiflow.settings"]


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notiflow").rglob("*.py")), ids=str)
def test_only_settings_reads_the_environment(path):
    if path.name == "settings.py":
        return
    source = path.read_text()
    assert "os.environ.get(" not in source and "os.getenv(" not in source, path
