"""Load the DAG folder as the scheduler does, in a subprocess with its environment."""

from __future__ import annotations

import json
import subprocess
import sys

from notiflow.settings import Settings
from notiflow_airflow.local import airflow_environment


def load_dag_folder(settings: Settings, script: str) -> dict:
    """Runs the Python ``script`` (given the DAG folder as ``sys.argv[1]``) in the
    scheduler's environment of ``settings``, on a migrated metadata database, and returns
    the JSON object its last line prints. The dbt manifest must exist (Cosmos renders
    the dbt group from it)."""
    env = airflow_environment(settings)
    subprocess.run(
        [str(settings.orchestration_bin / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-c", script, env["AIRFLOW__CORE__DAGS_FOLDER"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
