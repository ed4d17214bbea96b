"""notiflow works installed from its wheel (as in a docker image), not only editable.

The wheel is built from a copy of the packages and installed, without dependencies,
into a fresh venv that sees the orchestration environment's locked packages (a path
entry, not a site dir: that environment's editable notiflow is not activated). Run
from outside the checkout, with only settings saying where the project's dbt
project and DAG folder are, the DAGs parse and the CLI answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from notiflow_airflow.local import airflow_environment
from tests.paths import REPO_ROOT

PACKAGES = ("notiflow", "notiflow_airflow", "expectations", "tfx_pipelines")

CHECK = """
import importlib.metadata, json, sys
import expectations, notiflow, notiflow_airflow, tfx_pipelines
from airflow.dag_processing.dagbag import DagBag
from notiflow import pipelines
from notiflow.settings import get_settings

settings = get_settings()
bag = DagBag(dag_folder=str(settings.dags_dir))
plugin = next(ep for ep in importlib.metadata.entry_points(group="airflow.plugins")
              if ep.name == "notiflow_reports").load()
print(json.dumps({
    "files": [m.__file__ for m in (expectations, notiflow, notiflow_airflow, tfx_pipelines)],
    "distribution": str(importlib.metadata.distribution("notiflow").locate_file("")),
    "plugin": sys.modules[plugin.__module__].__file__,
    "pipelines": pipelines.pipeline_names(),
    "graph": [n["id"] for n in pipelines.load_graph("engagement")],
    "dbt_project_dir": str(settings.dbt_project_dir),
    "import_errors": {k: v[-2000:] for k, v in bag.import_errors.items()},
    "dags": {d: sorted(t.task_id for t in dag.tasks) for d, dag in bag.dags.items()},
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv with the notiflow wheel, and the environment to run it outside the checkout."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("notiflow-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps",
         str(wheel)],
        check=True,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "locked_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    home = root / "home"
    settings = Settings.load({"NOTIFLOW_HOME": str(home), "NOTIFLOW_PROJECT_DIR": str(REPO_ROOT)})
    run_dbt(settings, ["parse", "--quiet"])  # Cosmos renders the dbt group from the manifest
    env = {**airflow_environment(settings), "PYTHONPATH": ""}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    subprocess.run([str(python), "-m", "airflow", "db", "migrate"], env=env, check=True,
                   capture_output=True, cwd=root)  # fmt: skip
    return {"venv": venv, "env": env, "cwd": root}


def _run(installed: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env=installed["env"], cwd=installed["cwd"], capture_output=True, text=True
    )


def test_the_code_comes_from_the_installed_wheel_and_the_dags_parse(installed):
    result = _run(installed, str(installed["venv"] / "bin" / "python"), "-c", CHECK)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    venv = str(installed["venv"])
    assert all(path.startswith(venv) for path in found["files"]), found["files"]
    assert found["distribution"].startswith(venv)
    assert found["plugin"].startswith(venv)
    assert "engagement" in found["pipelines"] and found["graph"][-1] == "Pusher"
    assert found["dbt_project_dir"] == str(REPO_ROOT / "dbt_project")
    assert found["import_errors"] == {}
    assert set(found["dags"]) == {
        "daily_features",
        "engagement_training",
        "ranking_training",
        "notification_planning",
    }
    assert "Pusher" in found["dags"]["engagement_training"]


def test_the_installed_cli_answers(installed):
    result = _run(installed, str(installed["venv"] / "bin" / "notiflow"), "--help")
    assert result.returncode == 0, result.stderr
    for command in ("simulate", "dbt", "airflow", "demo", "summary"):
        assert command in result.stdout
