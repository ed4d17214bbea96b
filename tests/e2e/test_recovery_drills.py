"""Recovery drills through a real Airflow 3 scheduler: processes killed mid-run, a run
cleared and re-run, Airflow's own backfill.

One Airflow (api-server, scheduler, dag-processor, triggerer) and one small world serve
the module; the drills run in order, each on what the one before left. Each says what
it kills or does, what Airflow does about it, and what is checked afterwards.
"""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import psutil
import pytest

from notiflow import registry, warehouse
from notiflow.cli import seed_history
from notiflow.pipelines import load_graph
from notiflow.settings import Settings
from notiflow_airflow import local as airflow_local

pytestmark = [pytest.mark.e2e, pytest.mark.process_faults]

DAILY, TRAINING = "daily_features", "engagement_training"
PRODUCER = "dbt.dbt_producer_watcher"  # Cosmos's one `dbt build` of the day
# ML Metadata's Execution.State: a node's execution that ran (COMPLETE) or was reused (CACHED)
MLMD_COMPLETE, MLMD_CACHED = 3, 5


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("drills_home")
    settings = Settings.load(
        {
            "NOTIFLOW_HOME": str(home),
            "NOTIFLOW_AIRFLOW_PORT": "18083",  # the other e2e module's Airflow uses 18081
            "NOTIFLOW_SIM_USERS": "1500",
            "NOTIFLOW_SIM_PINS": "200",
            "NOTIFLOW_TRAINING_DAYS": "7",
            "NOTIFLOW_TASK_RETRY_DELAY_S": "5",  # the killed tasks' retries start at once
        }
    )
    today = dt.datetime.now(dt.UTC).date()
    seed_history(settings, today)  # lands every day up to today - 2
    airflow_local.start(settings)
    try:
        api = airflow_local.ApiClient(settings)
        api.wait_for_dags([DAILY, TRAINING])
        yield settings, api, today
    finally:
        airflow_local.stop(settings)
        assert airflow_local.running_pids(settings) == {}
        # the workers of the killed scheduler included
        assert _process(settings) is None


def _wait(what: str, probe: Callable[[], Any], timeout_s: float = 600.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _process(settings: Settings, *argv_parts: str) -> psutil.Process | None:
    """The live process of this world (its NOTIFLOW_HOME) whose argv holds every part."""
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if not all(part in argv for part in argv_parts):
            continue
        try:
            if process.environ().get("NOTIFLOW_HOME") == str(settings.home):
                return process
        except psutil.Error:
            continue
    return None


def _task_log(
    settings: Settings, dag_id: str, task_id: str, attempt: int = 1, run_id: str = "*"
) -> str:
    logs = settings.airflow_home / "logs" / f"dag_id={dag_id}"
    return "".join(
        path.read_text(errors="replace")
        for path in logs.glob(f"run_id={run_id}/task_id={task_id}/attempt={attempt}.log")
    )


def _task(api, dag_id: str, run_id: str, task_id: str) -> dict:
    return next(t for t in api.task_instances(dag_id, run_id) if t["task_id"] == task_id)


def _marts(settings: Settings) -> dict[str, pd.DataFrame]:
    """Every intermediate and mart table, its rows in the order of its non-float columns."""
    with warehouse.connect(settings, read_only=True) as con:
        columns = con.execute(
            """select table_schema || '.' || table_name, column_name, data_type
               from information_schema.columns
               where table_schema in ('intermediate', 'marts')
               order by table_schema, table_name, ordinal_position"""
        ).fetchall()
        keys: dict[str, list[str]] = {}
        for table, column, data_type in columns:
            exact = data_type not in ("DOUBLE", "FLOAT", "REAL") and "DECIMAL" not in data_type
            keys.setdefault(table, []).extend([f'"{column}"'] if exact else [])
        return {
            table: con.execute(f"select * from {table} order by {', '.join(key)}").df()
            for table, key in keys.items()
        }


def _assert_marts_equal(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]):
    """Equal tables, floats to 1e-12 relative (DuckDB's parallel sums may differ in the
    last bits from one build to the next; the dbt tests compare builds the same way)."""
    assert sorted(actual) == sorted(expected)
    for table, frame in expected.items():
        assert len(frame), table
        pd.testing.assert_frame_equal(
            actual[table], frame, check_exact=False, rtol=1e-12, obj=table
        )


def _rerun(api, dag_id: str, run_id: str) -> dict:
    """Clear a finished run (as "Clear" in the UI) and wait for it to finish again."""
    api.clear_run(dag_id, run_id)
    _wait(
        "the cleared run to be queued again",
        lambda: api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"] != "success",
        timeout_s=60,
    )
    return api.wait_for_run(dag_id, run_id=run_id, timeout_s=900)


def test_dbt_killed_mid_build_is_retried_and_the_marts_equal_a_clean_run(env):
    """A clean run lands yesterday first (one `dbt build`). Killed: the `dbt build` of a
    second run of the same day (SIGKILL, as the OOM killer would) once it has built a
    model. Airflow: the producer task fails; its retry is skipped (Cosmos runs one build
    per run) and each model's and test's task, finding no result, runs its own node for
    the day, so the run succeeds. Checked: every mart equals the clean run's."""
    settings, api, today = env
    day = today - dt.timedelta(days=1)
    api.unpause(DAILY)  # catchup=False: the scheduler creates the run landing yesterday
    clean = api.wait_for_run(DAILY, timeout_s=900)
    assert clean["logical_date"].startswith(str(day)) and clean["state"] == "success"
    assert _task(api, DAILY, clean["dag_run_id"], PRODUCER)["state"] == "success"
    clean_marts = _marts(settings)

    run_id = api.trigger(DAILY, f"{day}T00:00:05Z")  # the same day, another run
    dbt = _wait(
        "the day's dbt build to build a model",
        lambda: (
            "OK created" in _task_log(settings, DAILY, PRODUCER, run_id=run_id)
            and _process(settings, str(settings.dbt_executable), "build")
        ),
    )
    dbt.send_signal(signal.SIGKILL)
    run = api.wait_for_run(DAILY, run_id=run_id, timeout_s=900)
    states = {t["task_id"]: t["state"] for t in api.task_instances(DAILY, run_id)}
    assert run["state"] == "success", states
    producer = _task(api, DAILY, run_id, PRODUCER)
    assert producer["try_number"] == 2 and producer["state"] == "skipped"
    assert "return code -9" in _task_log(settings, DAILY, PRODUCER, run_id=run_id)
    _assert_marts_equal(_marts(settings), clean_marts)


def test_a_cleared_finished_run_runs_again_and_changes_no_mart(env):
    """Done: the clean run of yesterday cleared (as "Clear" in the UI) once finished.
    Airflow: every task runs again; Cosmos does not run the producer's build a second
    time in one run (it skips a later try), so each model's and test's task runs its own
    node. Checked: the run succeeds and every mart is unchanged."""
    settings, api, today = env
    clean = next(r for r in api.dag_runs(DAILY) if r["run_type"] == "scheduled")
    before = _marts(settings)
    rerun = _rerun(api, DAILY, clean["dag_run_id"])
    states = {t["task_id"]: t["state"] for t in api.task_instances(DAILY, clean["dag_run_id"])}
    assert rerun["state"] == "success", states
    assert _task(api, DAILY, clean["dag_run_id"], "land_day")["try_number"] == 2
    assert _task(api, DAILY, clean["dag_run_id"], PRODUCER)["state"] == "skipped"
    _assert_marts_equal(_marts(settings), before)


def _mlmd_executions(settings: Settings) -> dict[str, list[tuple[str, int]]]:
    """Per TFX pipeline run (its ``pipeline_run`` context): (node, state) of each execution."""
    con = sqlite3.connect(f"file:{settings.metadata_path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            """select run.name, node.name, e.last_known_state
               from Execution e
               join Association ar on ar.execution_id = e.id
               join Context run on run.id = ar.context_id
               join Type run_type on run_type.id = run.type_id and run_type.name = 'pipeline_run'
               join Association an on an.execution_id = e.id
               join Context node on node.id = an.context_id
               join Type node_type on node_type.id = node.type_id and node_type.name = 'node'
               order by e.id"""
        ).fetchall()
    finally:
        con.close()
    runs: dict[str, list[tuple[str, int]]] = {}
    for run, node, state in rows:
        runs.setdefault(run, []).append((node.split(".", 1)[1], state))
    return runs


def test_scheduler_and_trainer_killed_mid_training_the_run_completes_once(env):
    """Killed: the scheduler (SIGKILL) while the training run's first task runs, started
    again; then the Trainer's process (SIGKILL) once it is training. Airflow: the new
    scheduler carries on with the run in flight; the Trainer task fails and its retry
    runs the node again in the same TFX pipeline run, reusing the execution the killed
    one registered. Checked: the run succeeds, exactly one model is pushed and
    registered, and ML Metadata holds one pipeline run with exactly one complete
    execution per node."""
    settings, api, today = env
    end_ds = today - dt.timedelta(days=2)  # the newest day with mature labels
    # triggered while paused, so that no Asset-triggered run of the landed days joins it
    run_id = api.trigger(TRAINING, f"{today}T00:00:00Z", conf={"end_ds": str(end_ds)})
    api.unpause(TRAINING)

    _wait("ExampleGen to run", lambda: _task(api, TRAINING, run_id, "ExampleGen")["state"]
          == "running")  # fmt: skip
    scheduler = airflow_local.running_pids(settings)["scheduler"]
    psutil.Process(scheduler).send_signal(signal.SIGKILL)
    _wait("the scheduler to die", lambda: "scheduler" not in airflow_local.running_pids(settings))
    assert airflow_local.restart(settings, "scheduler") != scheduler

    _wait(
        "the Trainer to train",
        lambda: "Trainer: running in engagement" in _task_log(settings, TRAINING, "Trainer"),
        timeout_s=900,
    )
    trainer = _wait(
        "the Trainer's process",
        lambda: _process(settings, "tfx_pipelines.run_component", "Trainer"),
    )
    time.sleep(3)  # into the executor: the launcher has registered the execution
    trainer.send_signal(signal.SIGKILL)

    run = api.wait_for_run(TRAINING, run_id=run_id, timeout_s=1500)
    states = {t["task_id"]: t["state"] for t in api.task_instances(TRAINING, run_id)}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}, states
    assert _task(api, TRAINING, run_id, "Trainer")["try_number"] == 2
    served = [p for p in (settings.serving_dir / "engagement").iterdir() if p.is_dir()]
    assert len(served) == 1
    assert [r["version"] for r in registry.records(settings, "engagement")] == [served[0].name]

    runs = _mlmd_executions(settings)
    assert len(runs) == 1, runs  # the retry ran in the same TFX pipeline run
    (executions,) = runs.values()
    nodes = [node["id"] for node in load_graph("engagement")]
    assert sorted(node for node, _ in executions) == sorted(nodes)
    assert all(state in (MLMD_COMPLETE, MLMD_CACHED) for _, state in executions), executions


def test_backfill_lands_the_days_in_order_and_changes_nothing(env):
    """Done: Airflow's own backfill of daily_features over three landed days of the
    history (runs created and executed by the scheduler, one at a time). Checked: three
    backfill runs, each landing its day, in date order, each starting after the one
    before ended; the days were landed before, so every mart is unchanged (idempotent)."""
    settings, api, today = env
    api.pause(TRAINING)  # the backfilled days must not start training runs
    days = [today - dt.timedelta(days=n) for n in (5, 4, 3)]
    before = _marts(settings)
    api.backfill(DAILY, f"{days[0]}T00:00:00Z", f"{days[-1]}T00:00:00Z")

    def backfill_runs() -> list[dict] | None:
        runs = [r for r in api.dag_runs(DAILY) if r["run_type"] == "backfill"]
        done = len(runs) == len(days) and all(
            r["state"] in airflow_local.TERMINAL_STATES for r in runs
        )
        return runs if done else None

    runs = sorted(
        _wait("the backfill", backfill_runs, timeout_s=1800), key=lambda r: r["logical_date"]
    )
    assert [r["state"] for r in runs] == ["success"] * len(days), runs
    assert [r["logical_date"][:10] for r in runs] == [str(day) for day in days]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier["end_date"] <= later["start_date"]
    _assert_marts_equal(_marts(settings), before)


def test_the_drills_left_no_process_behind(env):
    """A killed task's retry, the restarted scheduler and the backfill leave no dbt or
    TFX process of this world running once their runs have finished."""
    settings, _, _ = env
    assert _process(settings, str(settings.dbt_executable), "build") is None
    assert _process(settings, "tfx_pipelines.run_component") is None
