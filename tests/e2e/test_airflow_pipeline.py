"""End to end through a real Airflow 3 scheduler: simulate → dbt → GX → TFX → pushed model.

One Airflow (api-server, scheduler, dag-processor, triggerer) serves the module;
the DAGs are driven exactly as in production, by the scheduler and Assets.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

import pytest

from notiflow import airflow_local, simulator
from notiflow.orchestration import load_pipeline_graph, task_environment
from notiflow.settings import Settings

pytestmark = pytest.mark.e2e

DAILY, TRAINING = "daily_features", "engagement_training"
HISTORY_DAYS = 7


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e_home")
    settings = Settings.load(
        {
            "NOTIFLOW_HOME": str(home),
            "NOTIFLOW_AIRFLOW_PORT": "18081",  # leave the demo's 8080 alone
            "NOTIFLOW_SIM_USERS": "1500",
            "NOTIFLOW_SIM_PINS": "200",
            "NOTIFLOW_TRAINING_DAYS": str(HISTORY_DAYS),
        }
    )
    today = dt.datetime.now(dt.UTC).date()
    # history up to the day before yesterday; the scheduler's first run lands yesterday
    simulator.simulate(settings, today - dt.timedelta(days=HISTORY_DAYS + 1), HISTORY_DAYS)
    airflow_local.start(settings)
    try:
        api = airflow_local.ApiClient(settings)
        api.wait_for_dags([DAILY, TRAINING])
        api.unpause(TRAINING)
        api.unpause(DAILY)  # catchup=False: the scheduler creates the run landing yesterday
        daily = api.wait_for_run(DAILY, timeout_s=900)
        training = (
            api.wait_for_run(TRAINING, timeout_s=1500) if daily["state"] == "success" else None
        )
        yield settings, api, today, daily, training
    finally:
        airflow_local.stop(settings)
        assert airflow_local.running_pids(settings) == {}


def _states(api, dag_id, run_id) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in api.task_instances(dag_id, run_id)}


def _served_versions(settings: Settings) -> list[str]:
    root = settings.serving_dir / "engagement"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []


def test_scheduled_day_flows_through_every_layer_to_a_pushed_model(env):
    settings, api, today, daily, training = env
    assert daily["run_type"] == "scheduled"
    assert daily["logical_date"].startswith(str(today - dt.timedelta(days=1)))
    daily_states = _states(api, DAILY, daily["dag_run_id"])
    assert daily["state"] == "success", daily_states
    assert set(daily_states.values()) == {"success"}
    assert (settings.data_docs_dir / "index.html").exists()

    assert training is not None
    training_states = _states(api, TRAINING, training["dag_run_id"])
    assert training["state"] == "success", training_states
    assert training["run_type"] == "asset_triggered"
    for node in load_pipeline_graph("engagement"):
        assert training_states[node["id"]] == "success"

    # the pushed model loads and predicts in the serving (TFX) environment
    assert len(_served_versions(settings)) == 1
    check = subprocess.run(
        [str(settings.tfx_python), "-m", "tfx_pipelines.serving_check", "--limit", "50"],
        env={**task_environment(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["n"] == 50 and len(result["predictions"]) == 50
    assert all(0.0 <= p <= 1.0 for p in result["predictions"])
    assert len(set(result["predictions"])) > 1  # it scores, it does not return a constant
    assert result["auc"] >= settings.auc_floor


def test_corrupted_mart_fails_the_gate_and_nothing_downstream_runs(env):
    settings, api, today, _, _ = env
    training_runs_before = {r["dag_run_id"] for r in api.dag_runs(TRAINING)}
    versions_before = _served_versions(settings)

    run_id = api.trigger(DAILY, f"{today}T00:00:00Z", conf={"inject_fault": "out_of_range"})
    daily = api.wait_for_run(DAILY, run_id=run_id, timeout_s=900)
    states = _states(api, DAILY, run_id)
    assert daily["state"] == "failed"
    assert states["gate_engagement_examples"] == "failed"
    gate = next(
        t for t in api.task_instances(DAILY, run_id) if t["task_id"] == "gate_engagement_examples"
    )
    assert gate["try_number"] == 1  # broken data is not retried
    assert all(
        s == "success" for t, s in states.items() if t.startswith("dbt.") or t == "simulate_day"
    )

    log = api.get(
        f"/api/v2/dags/{DAILY}/dagRuns/{run_id}/taskInstances/gate_engagement_examples/logs/1"
        "?full_content=true"
    )
    text = json.dumps(log)
    assert "marts.ml_engagement_examples.propensity" in text
    assert "expect_column_values_to_be_between" in text

    time.sleep(20)  # give the scheduler the chance to (wrongly) trigger training
    assert {r["dag_run_id"] for r in api.dag_runs(TRAINING)} == training_runs_before
    assert _served_versions(settings) == versions_before
