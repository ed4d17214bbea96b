"""What every notiflow DAG shares: default arguments, the warehouse pool, Asset URIs,
and the environment of the tasks' subprocesses (dbt, TFX).

Nothing here imports Airflow: DAG files and the local supervisor both use it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from notiflow import domain
from notiflow.settings import Settings

WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_DESCRIPTION = "DuckDB allows one process on its file: serializes warehouse tasks."


def default_args(settings: Settings) -> dict[str, Any]:
    """Every task's defaults: retries (a killed process, a lock held too long) from
    settings, and a priority that grows with the task's upstream tasks, so that a run
    under way gets a free slot (the one-slot warehouse pool above all) before a run it
    just triggered: the day's last task is not queued behind the training it started."""
    return {
        "owner": "notiflow",
        "retries": settings.task_retries,
        "retry_delay": dt.timedelta(seconds=settings.task_retry_delay_s),
        "weight_rule": "upstream",
    }


def asset_uri(settings: Settings, name: str, schema: str = domain.MARTS_SCHEMA) -> str:
    """A stable URI for a warehouse table, independent of where NOTIFLOW_HOME is."""
    if settings.warehouse_target == "bigquery":
        return f"bigquery://{settings.bigquery_project}/{settings.bigquery_dataset}/{name}"
    return f"notiflow://warehouse/{schema}/{name}"


def model_asset_uri(name: str) -> str:
    """The URI of a model's Asset (``engagement_model`` → ``notiflow://models/engagement``),
    whatever the warehouse: its events say a new version was pushed."""
    return f"notiflow://models/{name.removesuffix('_model')}"


# TFX 1.16 needs tf-keras, not Keras 3: every process that may import TensorFlow (a
# task's subprocess, a pod) gets this (tfx_pipelines also sets it by default at import).
TFX_PROCESS_ENVIRONMENT = {"TF_USE_LEGACY_KERAS": "1"}


def task_environment(settings: Settings) -> dict[str, str]:
    """Variables a task's subprocess (dbt, TFX) needs besides the inherited environment."""
    return {**settings.as_environment(), **TFX_PROCESS_ENVIRONMENT}


def dbt_paths(settings: Settings) -> dict[str, Path]:
    return {
        "project": settings.dbt_project_dir,
        "profiles": settings.dbt_project_dir / "profiles.yml",
        "manifest": settings.dbt_manifest_path,
        "executable": settings.dbt_executable,
    }
