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

from expectations.results import latest_results
from notiflow import pipelines, registry, warehouse
from notiflow.cli import seed_history
from notiflow.planning.evaluation import EVALUATION_FILE
from notiflow.planning.plan import PLAN_SUMMARY_FILE, POLICY_NAME, planning_dir
from notiflow.settings import Settings
from notiflow.simulator.policy import POLICY_NAME as LOGGING_POLICY
from notiflow_airflow import local as airflow_local
from notiflow_airflow.common import task_environment
from tfx_pipelines.ranking import configs as ranking_configs  # plain constants, no TFX

pytestmark = pytest.mark.e2e

DAILY, TRAINING, RANKING = "daily_features", "engagement_training", "ranking_training"
PLANNING = "notification_planning"
TRAINING_DAYS = 7


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e_home")
    settings = Settings.load(
        {
            "NOTIFLOW_HOME": str(home),
            "NOTIFLOW_AIRFLOW_PORT": "18081",  # leave the demo's 8080 alone
            "NOTIFLOW_SIM_USERS": "1500",
            "NOTIFLOW_SIM_PINS": "200",
            "NOTIFLOW_TRAINING_DAYS": str(TRAINING_DAYS),
        }
    )
    today = dt.datetime.now(dt.UTC).date()
    # the demo's history: a feature warm-up, then the training window (a cold-start window
    # would skew against the evaluation day, and the gate would rightly refuse training)
    seed_history(settings, today)
    airflow_local.start(settings)
    try:
        api = airflow_local.ApiClient(settings)
        api.wait_for_dags([DAILY, TRAINING, RANKING, PLANNING])
        api.unpause(TRAINING)
        api.unpause(RANKING)
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


def _served_versions(settings: Settings, model: str = "engagement") -> list[str]:
    root = settings.serving_dir / model
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []


def test_scheduled_day_flows_through_every_layer_to_a_pushed_model(env):
    settings, api, today, daily, training = env
    assert daily["run_type"] == "scheduled"
    assert daily["logical_date"].startswith(str(today - dt.timedelta(days=1)))
    daily_states = _states(api, DAILY, daily["dag_run_id"])
    assert daily["state"] == "success", daily_states
    assert set(daily_states.values()) == {"success"}
    assert (settings.data_docs_dir / "index.html").exists()
    assert (settings.reports_dir / "dbt-docs" / "index.html").exists()
    landed = daily["logical_date"][:10]
    results = latest_results(settings, ds=landed)
    assert {r["layer"] for r in results} == {"raw", "features"}
    assert all(r["success"] for r in results if r["severity"] == "critical")

    assert training is not None
    training_states = _states(api, TRAINING, training["dag_run_id"])
    assert training["state"] == "success", training_states
    assert training["run_type"] == "asset_triggered"
    for task in pipelines.tasks(pipelines.load_graph("engagement")):
        assert training_states[task["id"]] == "success"

    # the pushed model loads and predicts in the serving (TFX) environment
    assert len(_served_versions(settings)) == 1
    result = _serving_check(settings, "engagement", limit=50)
    assert result["n"] == 50 and len(result["predictions"]) == 50
    assert all(0.0 <= p <= 1.0 for p in result["predictions"])
    assert len(set(result["predictions"])) > 1  # it scores, it does not return a constant
    assert result["metrics"]["auc"] >= settings.auc_floor


def _serving_check(settings: Settings, pipeline: str, limit: int) -> dict:
    check = subprocess.run(
        [str(settings.tfx_python), "-m", "tfx_pipelines.serving_check", "--pipeline", pipeline,
         "--limit", str(limit)],
        env={**task_environment(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-3000:]
    return json.loads(check.stdout.strip().splitlines()[-1])


def test_the_same_day_trains_and_pushes_a_ranking_model(env):
    settings, api, _, daily, _ = env
    assert daily["state"] == "success"
    ranking = api.wait_for_run(RANKING, timeout_s=1500)
    states = _states(api, RANKING, ranking["dag_run_id"])
    assert ranking["state"] == "success", states
    assert ranking["run_type"] == "asset_triggered"  # by the gated ml_ranking_examples
    for task in pipelines.tasks(pipelines.load_graph("ranking")):
        assert states[task["id"]] == "success"
    (version,) = _served_versions(settings, "ranking")
    (record,) = [r for r in registry.records(settings, "ranking") if r["version"] == version]
    assert record["metrics"]["ndcg_at_3"] >= ranking_configs.NDCG_FLOOR

    # it loads and scores whole digests of the newest day in the serving environment
    result = _serving_check(settings, "ranking", limit=5 * ranking_configs.MAX_LIST_SIZE)
    assert result["version"] == version and result["metrics"] == record["metrics"]
    assert result["n"] == 5 * ranking_configs.MAX_LIST_SIZE
    assert len(set(result["predictions"])) > 1  # the order is learned, not a constant


# fault -> (the task that stops it, table, column, rule). Every drill lands today (the
# scheduler never starts a run dated in the future), one after the other, as runs with
# distinct logical times of the same day; volume_drop first, so that its reference week
# is the clean history.
ROW_COUNT = "expect_table_row_count_to_be_between"
NOT_NULL, UNIQUE = "expect_column_values_to_not_be_null", "expect_column_values_to_be_unique"
BETWEEN = "expect_column_values_to_be_between"
FAULT_MATRIX = {
    "volume_drop": ("gate_raw", "raw.notification_events", None, ROW_COUNT),
    "nulls": ("gate_raw", "raw.notifications", "user_id", NOT_NULL),
    "duplicates": ("gate_raw", "raw.notifications", "notification_id", UNIQUE),
    "schema_drift": ("land_day", "raw.notifications", "propensity", "load_contract"),
    "late_data": ("gate_raw", "raw.engagement_events", "event_ts", BETWEEN),
    "empty_day": ("gate_raw", "raw.notifications", None, ROW_COUNT),
    "out_of_range": ("gate_raw", "raw.notifications", "propensity", BETWEEN),
}


def _downstream_state(settings: Settings) -> dict[str, object]:
    """Everything a bad day must not change: every mart's rows, plans, models."""
    state: dict[str, object] = {"models": _served_versions(settings)}
    with warehouse.connect(settings, read_only=True) as con:
        tables = con.execute(
            """select table_schema || '.' || table_name from information_schema.tables
               where table_schema in ('intermediate', 'marts', 'plans')"""
        ).fetchall()
        for (table,) in tables:
            state[table] = con.execute(
                f"select count(*), bit_xor(hash(cast(t as varchar))) from {table} as t"
            ).fetchone()
    return state


@pytest.mark.fault_matrix
@pytest.mark.parametrize("fault", list(FAULT_MATRIX))
def test_fault_is_stopped_by_its_gate_and_nothing_downstream_changes(env, fault):
    settings, api, today, _, _ = env
    stopper, table, column, rule = FAULT_MATRIX[fault]
    day = today
    logical_time = f"{day}T00:00:{list(FAULT_MATRIX).index(fault):02d}Z"
    training_runs_before = {r["dag_run_id"] for r in api.dag_runs(TRAINING)}
    downstream_before = _downstream_state(settings)
    assert any(key.startswith("marts.") for key in downstream_before)

    run_id = api.trigger(DAILY, logical_time, conf={"inject_fault": fault})
    daily = api.wait_for_run(DAILY, run_id=run_id, timeout_s=900)
    states = _states(api, DAILY, run_id)
    assert daily["state"] == "failed"
    assert states[stopper] == "failed", states
    stopped = next(t for t in api.task_instances(DAILY, run_id) if t["task_id"] == stopper)
    assert stopped["try_number"] == 1  # broken data is not retried
    assert all(
        state == "upstream_failed"
        for task, state in states.items()
        if task.startswith("dbt.")
        or task in ("gate_features", "evaluate_policy", "publish_dbt_docs")
    ), states

    # the message names the table, the column and the rule
    log = json.dumps(
        api.get(
            f"/api/v2/dags/{DAILY}/dagRuns/{run_id}/taskInstances/{stopper}/logs/1"
            "?full_content=true"
        )
    )
    assert (f"{table}.{column}" if column and rule != "load_contract" else table) in log
    assert (rule if rule != "load_contract" else "do not follow the table's contract") in log
    if column:
        assert column in log

    # the verdict is on record for the reports
    failed = [
        r
        for r in latest_results(settings, ds=str(day), failed_only=True)
        if r["run_id"] == run_id and r["severity"] == "critical"
    ]
    assert any(
        r["table_name"] == table
        and r["expectation"] == rule
        and (column is None or column in (r["column_name"] or ""))
        for r in failed
    ), failed

    time.sleep(15)  # give the scheduler the chance to (wrongly) trigger training
    assert {r["dag_run_id"] for r in api.dag_runs(TRAINING)} == training_runs_before
    assert _downstream_state(settings) == downstream_before


# --- tomorrow's plan ---------------------------------------------------------------
# After the fault drills: they land today on the logging policy's clean history. A day
# sent by a plan has other event volumes and rates by design (more opens), which the raw
# volume check of a drill would compare with the logging policy's week.


@pytest.fixture(scope="module")
def planned(env):
    """The plan for today (the candidates of the run landing yesterday), made once both
    models are pushed: planning follows the candidates Asset, but on this first day its
    models are trained from that same day, so the run is started here."""
    settings, api, today, daily, _ = env
    assert daily["state"] == "success"
    for dag in (TRAINING, RANKING):
        assert api.wait_for_run(dag, timeout_s=1500)["state"] == "success"
    api.unpause(PLANNING)
    run_id = api.trigger(PLANNING, f"{today}T00:00:10Z")
    run = api.wait_for_run(PLANNING, run_id=run_id, timeout_s=900)
    with warehouse.connect(settings, read_only=True) as con:
        published = warehouse.read_plan(con, str(today))
    return run, published


def test_tomorrows_plan_is_scored_chosen_gated_and_published(env, planned):
    settings, api, today, _, _ = env
    run, published = planned
    states = _states(api, PLANNING, run["dag_run_id"])
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}, states
    assert published is not None and len(published)
    assert set(published["policy"]) == {POLICY_NAME}
    assert published["propensity"].between(0, 1, inclusive="right").all()
    summary = json.loads((planning_dir(settings, today) / PLAN_SUMMARY_FILE).read_text())
    assert summary["published_at"] and summary["ds"] == str(today)
    assert summary["sends"] == published["notification_id"].nunique()
    # the budget is the landed day's volume, met within 1% (or not binding)
    assert summary["budget_status"] in ("met", "not_binding"), summary
    if summary["budget_status"] == "met":
        assert abs(summary["sends"] - summary["budget"]) <= 0.01 * summary["budget"]
    assert summary["exploration_users"] > 0
    # the off-policy estimate made before sending, stored with the plan
    estimates = {(e["estimator"], e["reward"]): e for e in summary["off_policy"]["estimates"]}
    assert {("ips", "opens"), ("snips", "opens"), ("dr", "opens"), ("ips", "clicks")} <= set(
        estimates
    )
    assert all(e["lower"] <= e["value"] <= e["upper"] for e in estimates.values())
    gate = [r for r in latest_results(settings, ds=str(today)) if r["layer"] == "plan"]
    assert gate and all(r["success"] for r in gate if r["severity"] == "critical")


def test_planted_cap_violation_is_stopped_by_gate_plan_and_nothing_published(env, planned):
    settings, api, today, _, _ = env
    before = _downstream_state(settings)["plans.notification_plan"]
    run_id = api.trigger(
        PLANNING, f"{today}T00:00:30Z", conf={"ds": str(today), "inject_fault": "over_cap"}
    )
    run = api.wait_for_run(PLANNING, run_id=run_id, timeout_s=900)
    states = _states(api, PLANNING, run_id)
    assert run["state"] == "failed"
    assert states["choose_sends"] == "success" and states["gate_plan"] == "failed", states
    assert states["publish_plan"] == "upstream_failed", states
    log = json.dumps(
        api.get(
            f"/api/v2/dags/{PLANNING}/dagRuns/{run_id}/taskInstances/gate_plan/logs/1"
            "?full_content=true"
        )
    )
    assert "is_within_daily_cap" in log and "plans.notification_plan_staged" in log
    assert _downstream_state(settings)["plans.notification_plan"] == before


def test_the_next_day_sends_the_plan_and_records_what_it_dropped(env, planned):
    settings, api, today, _, _ = env
    _, published = planned
    # Paused DAGs ignore Asset events: nothing else starts from this day.
    for dag in (TRAINING, RANKING, PLANNING):
        api.pause(dag)
    run_id = api.trigger(DAILY, f"{today}T00:00:20Z")
    daily = api.wait_for_run(DAILY, run_id=run_id, timeout_s=900)
    assert daily["state"] == "success", _states(api, DAILY, run_id)
    with warehouse.connect(settings, read_only=True) as con:
        sent = con.execute(
            "select notification_id, policy, propensity from raw.notifications where ds = ?::date",
            [str(today)],
        ).fetchdf()
        dropped = con.execute(
            "select notification_id, reason from raw.notification_plan_drops where ds = ?::date",
            [str(today)],
        ).fetchdf()
    planned_sends = published.drop_duplicates("notification_id").set_index("notification_id")
    assert set(sent["notification_id"]) | set(dropped["notification_id"]) == set(
        planned_sends.index
    )
    assert not set(sent["notification_id"]) & set(dropped["notification_id"])
    assert set(sent["policy"]) == {POLICY_NAME}
    assert sent.set_index("notification_id")["propensity"].to_dict() == pytest.approx(
        planned_sends.loc[sent["notification_id"], "propensity"].to_dict()
    )
    # the planner leaves out the holdout and the users who cannot get a channel
    assert dropped.empty, dropped

    # the landing made yesterday's labels mature: its policy is evaluated, by arm
    assert _states(api, DAILY, run_id)["evaluate_policy"] == "success"
    yesterday = today - dt.timedelta(days=1)
    evaluated = json.loads((planning_dir(settings, yesterday) / EVALUATION_FILE).read_text())
    assert evaluated["ds"] == str(yesterday) and evaluated["policy"] == LOGGING_POLICY
    assert evaluated["fallback"] is None and not evaluated["planned"]
    arms = evaluated["arms"]
    assert set(arms) == {"policy", "holdout", "eligible"}
    assert arms["holdout"]["users"] > 0 and arms["holdout"]["sends_per_user"] == 0
    assert arms["eligible"]["users"] == arms["policy"]["users"]
    assert arms["eligible"]["sends_per_user"] > 0
