"""Building blocks of notiflow's Airflow DAGs.

DAG files stay thin: they declare schedules, tasks and dependencies and take
everything else from here. Only the orchestration environment imports this
module; TFX work runs in the TFX environment as a subprocess per component.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from notiflow.settings import REPO_ROOT, Settings

WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_DESCRIPTION = "DuckDB allows one process on its file: serializes warehouse tasks."
TFX_PIPELINES_DIR = REPO_ROOT / "tfx_pipelines"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "notiflow",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
}

# The simulator's fault drills, offered as a DAG parameter. Kept here so that DAG
# parsing does not import the simulator (numpy, pandas); a test keeps both equal.
SIMULATOR_FAULTS = (
    "nulls",
    "duplicates",
    "schema_drift",
    "late_data",
    "empty_day",
    "out_of_range",
    "volume_drop",
)

# Days after a send day until its 24 h labels are all logged.
LABEL_MATURITY_DAYS = 1

# Asset names of the data products the DAGs exchange: the feature marts (updated once
# their day passed the features gate) and the models.
ENGAGEMENT_EXAMPLES_ASSET_NAME = "ml_engagement_examples"
FEATURE_MART_ASSET_NAMES = (
    ENGAGEMENT_EXAMPLES_ASSET_NAME,
    "ml_ranking_examples",
    "ml_scoring_candidates",
    "user_features_daily",
    "pin_features_daily",
)
ENGAGEMENT_MODEL_ASSET_NAME = "engagement_model"


def asset_uri(settings: Settings, name: str) -> str:
    """A stable URI for a warehouse table or model, independent of where NOTIFLOW_HOME is."""
    if name == ENGAGEMENT_MODEL_ASSET_NAME:
        return "notiflow://models/engagement"
    if settings.warehouse_target == "bigquery":
        return f"bigquery://{settings.bigquery_project}/{settings.bigquery_dataset}/{name}"
    return f"notiflow://warehouse/marts/{name}"


def task_environment(settings: Settings) -> dict[str, str]:
    """Variables a task's subprocess (dbt, TFX) needs besides the inherited environment."""
    return {
        **settings.as_environment(),
        # TFX 1.16 needs tf-keras, not Keras 3.
        "TF_USE_LEGACY_KERAS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }


def load_pipeline_graph(pipeline: str) -> list[dict[str, Any]]:
    """The TFX pipeline's nodes in topological order, as checked in beside its definition.

    The DAG cannot compile the pipeline itself (TFX lives in another environment);
    a test in the TFX environment keeps this file equal to the compiled pipeline.
    """
    path = TFX_PIPELINES_DIR / pipeline / "pipeline_graph.json"
    if not path.exists():
        raise FileNotFoundError(f"no pipeline graph for TFX pipeline {pipeline!r} at {path}")
    nodes = json.loads(path.read_text())
    known: set[str] = set()
    for node in nodes:
        missing = [u for u in node["upstream"] if u not in known]
        if missing:
            raise ValueError(
                f"{path}: node {node['id']} lists upstream {missing} before they appear"
            )
        known.add(node["id"])
    return nodes


def reads_warehouse(node_id: str) -> bool:
    """TFX nodes that read the warehouse (the ExampleGens) must hold the warehouse pool."""
    return node_id.endswith("ExampleGen")


def tfx_component_command(
    settings: Settings,
    pipeline: str,
    node_id: str,
    run_id: str,
    end_ds: str,
    not_pushed_exit_code: int | None = None,
) -> str:
    """Shell command running one TFX node in the TFX environment."""
    argv: list[str] = [
        str(settings.tfx_python),
        "-m",
        "tfx_pipelines.run_component",
        "--pipeline",
        pipeline,
        "--node",
        node_id,
        "--run-id",
        run_id,
        "--end-ds",
        end_ds,
    ]
    if not_pushed_exit_code is not None:
        argv = [*argv, "--not-pushed-exit-code", str(not_pushed_exit_code)]
    return shlex.join(argv)


def training_end_ds(
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    requested_end_ds: str | None,
    latest_ds_in_mart: str | None,
) -> str:
    """The last day (evaluation day) of a training run's window.

    An explicit request wins. Otherwise it is the newest day whose labels are
    mature: an open within 24 h of a send on day D may be logged on day D+1, so
    day D's labels are complete only once D+1 has landed. The newest landed day
    is the newer of the asset events that triggered the run and the mart's newest day.
    """
    if requested_end_ds:
        return requested_end_ds
    days = [
        event.extra["ds"]
        for events in (triggering_asset_events or {}).values()
        for event in events
        if (event.extra or {}).get("ds")
    ]
    # A re-landed older day must not pull the window back behind models already trained.
    newest = max([*days, *([latest_ds_in_mart] if latest_ds_in_mart else [])], default=None)
    if newest:
        return (dt.date.fromisoformat(newest) - dt.timedelta(days=LABEL_MATURITY_DAYS)).isoformat()
    raise ValueError(
        "no training window: the run was not triggered by an ml_engagement_examples update, "
        "no end_ds was given, and the mart is empty"
    )


def simulate_day(
    settings: Settings, ds: str, fault: str | None, severity: float, run_id: str | None = None
) -> dict[str, int]:
    """Land day ``ds`` from the simulator inside a task. A load that breaks the raw or plan
    contract fails at once (retrying would load the same rows) and is recorded with the
    raw layer's quality results, so the reports show why the day stopped."""
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.results import ExpectationOutcome, write_results
    from notiflow import simulator
    from notiflow.simulator.plan import PlanContractError
    from notiflow.warehouse import SchemaContractError

    try:
        return simulator.simulate(
            settings, dt.date.fromisoformat(ds), 1, fault=fault, severity=severity
        )
    except SchemaContractError as exc:
        refused = ExpectationOutcome(
            suite="raw_load_contract",
            table=exc.table,
            ds=ds,
            expectation="load_contract",
            column=", ".join(exc.columns) or None,
            severity="critical",
            success=False,
            observed_value=str(exc),
            layer="raw",
        )
        write_results(settings, [refused], run_id=run_id)
        raise AirflowFailException(str(exc)) from exc
    except PlanContractError as exc:
        raise AirflowFailException(str(exc)) from exc


def run_quality_layer(
    settings: Settings, layer: str, ds: str, run_id: str | None = None
) -> list[dict[str, Any]]:
    """Run every GX suite of ``layer`` on day ``ds`` inside a task; the outcomes are kept in
    quality.data_quality_results and returned for XCom. Broken data fails the task at
    once: retrying cannot fix it."""
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.gates import DataQualityError, run_layer

    try:
        outcomes = run_layer(settings, layer, ds, run_id=run_id)
    except DataQualityError as exc:
        raise AirflowFailException(str(exc)) from exc
    return [outcome.as_record() for outcome in outcomes]


def dbt_paths(settings: Settings) -> dict[str, Path]:
    return {
        "project": settings.dbt_project_dir,
        "profiles": settings.dbt_project_dir / "profiles.yml",
        "manifest": settings.dbt_manifest_path,
        "executable": settings.dbt_executable,
    }
