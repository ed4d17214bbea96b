"""Environment boundaries: TFX code never imports Airflow, DAG files never import TFX/TensorFlow."""

import ast
from pathlib import Path

import pytest

from notiflow.settings import REPO_ROOT


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "tfx_pipelines").rglob("*.py")), ids=str)
def test_tfx_pipelines_do_not_import_airflow(path):
    assert not _imported_roots(path) & {"airflow", "cosmos"}


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "dags").rglob("*.py")), ids=str)
def test_dags_do_not_import_tfx_or_tensorflow(path):
    banned = {
        "tfx",
        "tensorflow",
        "tensorflow_transform",
        "tensorflow_model_analysis",
        "tensorflow_data_validation",
        "tfx_pipelines",
    }
    assert not _imported_roots(path) & banned


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notiflow").rglob("*.py")), ids=str)
def test_only_settings_reads_the_environment(path):
    if path.name == "settings.py":
        return
    source = path.read_text()
    assert "os.environ.get(" not in source and "os.getenv(" not in source, path
