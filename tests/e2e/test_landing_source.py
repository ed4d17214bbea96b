"""End to end through a real Airflow 3 scheduler with ``source = landing``: the day is a
team's own log files in the landing folder, loaded, gated and built; no simulator runs.

One Airflow serves the module (its own port: the other e2e module's Airflow may still be
stopping). The "team's loggers" are the simulator writing landing files beforehand.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from expectations.results import latest_results
from notiflow import landing, simulator, warehouse
from notiflow.cli import seed_history
from notiflow.domain import FEATURE_WINDOW_DAYS
from notiflow.settings import Settings
from notiflow_airflow import local as airflow_local

pytestmark = pytest.mark.e2e

DAILY = "daily_features"
TRAINING_DAYS = 3


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("landing_e2e_home")
    base = {
        "NOTIFLOW_HOME": str(home),
        "NOTIFLOW_AIRFLOW_PORT": "18082",
        "NOTIFLOW_SIM_USERS": "400",
        "NOTIFLOW_SIM_PINS": "80",
        "NOTIFLOW_TRAINING_DAYS": str(TRAINING_DAYS),
    }
    settings = Settings.load({**base, "NOTIFLOW_SOURCE": "landing"})
    today = dt.datetime.now(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    history_days = FEATURE_WINDOW_DAYS + TRAINING_DAYS
    # the team's loggers: every day up to yesterday, as files
    simulator.simulate(
        Settings.load(base),
        today - dt.timedelta(days=history_days + 1),
        history_days + 1,
        to_landing=settings.landing_dir,
    )
    seed_history(settings, today)  # loads the history from the files (not yesterday)
    with warehouse.connect(settings, read_only=True) as con:
        (newest,) = con.execute("select max(ds) from raw.notifications").fetchone()
    assert newest == yesterday - dt.timedelta(days=1)
    airflow_local.start(settings)
    try:
        api = airflow_local.ApiClient(settings)
        api.wait_for_dags([DAILY])
        api.unpause(DAILY)  # catchup=False: the scheduler creates the run landing yesterday
        daily = api.wait_for_run(DAILY, timeout_s=900)
        yield settings, api, yesterday, daily
    finally:
        airflow_local.stop(settings)
        assert airflow_local.running_pids(settings) == {}


def _states(api, run_id) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in api.task_instances(DAILY, run_id)}


def test_the_scheduled_day_is_loaded_from_the_landing_folder_and_built(env):
    settings, api, yesterday, daily = env
    states = _states(api, daily["dag_run_id"])
    assert daily["run_type"] == "scheduled" and daily["state"] == "success", states
    assert set(states.values()) == {"success"}, states
    files = landing.table_folder(settings.landing_dir, "notifications", yesterday.isoformat())
    with duckdb.connect() as con:
        landed = {
            row[0]
            for row in con.execute(
                f"select notification_id from read_parquet('{files}/*.parquet')"
            ).fetchall()
        }
    with warehouse.connect(settings, read_only=True) as con:
        loaded = {
            row[0]
            for row in con.execute(
                "select notification_id from raw.notifications where ds = ?", [yesterday]
            ).fetchall()
        }
        (examples,) = con.execute(
            "select count(*) from marts.ml_engagement_examples where ds = ?", [yesterday]
        ).fetchone()
    assert landed and loaded == landed
    assert examples == len(landed)  # built through dbt into the marts
    results = latest_results(settings, ds=str(yesterday))
    assert {r["layer"] for r in results} == {"raw", "features"}
    assert all(r["success"] for r in results if r["severity"] == "critical")


def test_a_day_without_files_is_refused_by_land_day_and_recorded(env):
    settings, api, yesterday, _ = env
    today = yesterday + dt.timedelta(days=1)  # nothing landed for it yet
    run_id = api.trigger(DAILY, f"{today}T00:00:10Z")
    run = api.wait_for_run(DAILY, run_id=run_id, timeout_s=600)
    states = _states(api, run_id)
    assert run["state"] == "failed" and states["land_day"] == "failed", states
    assert states["gate_raw"] == "upstream_failed", states
    log = json.dumps(
        api.get(
            f"/api/v2/dags/{DAILY}/dagRuns/{run_id}/taskInstances/land_day/logs/1?full_content=true"
        )
    )
    assert f"cannot load {today}" in log and "nothing was loaded" in log
    refused = [r for r in latest_results(settings, ds=str(today)) if r["layer"] == "raw"]
    assert refused and refused[0]["expectation"] == "load_contract"
    assert not refused[0]["success"]
    with warehouse.connect(settings, read_only=True) as con:
        (rows,) = con.execute(
            "select count(*) from raw.notifications where ds = ?", [today]
        ).fetchone()
    assert rows == 0
