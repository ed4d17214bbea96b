"""Benchmark: what Airflow costs on top of the work, side by side in one run.

The targets (issue 13), at 20k users: ``daily_features`` wall time through the real
scheduler <= 1.5 x the same day's work run directly in one process, and
``engagement_training`` <= 1.5 x the same TFX pipeline on the same data in one
``LocalDagRunner`` process. Run from the repository root:

    .venvs/orchestration/bin/python bench/orchestration_overhead.py             # 20k users
    .venvs/orchestration/bin/python bench/orchestration_overhead.py --users 2000

Steps, into a temporary NOTIFLOW_HOME (removed afterwards unless --keep):
1. history up to the day before yesterday (``notiflow.cli.seed_history``, today is the
   real today: the scheduler's run of a day is the one measured);
2. direct day: yesterday D landed, gated, built (one ``dbt build --vars ds``), gated,
   evaluated and the dbt docs published, by the task functions themselves in this
   process, in the DAG's order;
3. direct training: the engagement pipeline for evaluation day D - 1 (the day the
   training DAG picks after D lands) in one process under TFX's ``LocalDagRunner``,
   with its own pipeline root, ML Metadata and serving folder (so that both runs train
   the first model, against no baseline); the post-node hooks (reports, registry) are
   not part of a ``LocalDagRunner`` run, they are of the Airflow one;
4. through Airflow (``notiflow_airflow.local``: api-server, scheduler, dag-processor,
   triggerer, LocalExecutor): ``daily_features`` unpaused, its scheduled run lands D
   again (a landing replaces the day; dbt rebuilds the same days), and its gated marts
   trigger ``engagement_training``. Each DAG's wall time is its run's queued -> end.

Prints one JSON object (seconds of each side, their ratios, per-task seconds of the
Airflow runs, machine) and exits 1 when a target is missed or a run failed. Only the
standard library is imported at the top: ``--local-dag-runner`` runs in the TFX
environment, the rest in the orchestration one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import (  # noqa: E402
    landed_days,
    run_logged,
    seed_history,
    stdout_to_stderr,
    tail,
    tfx_environment,
    world_environment,
)

TARGET_RATIO = 1.5
DAILY, TRAINING = "daily_features", "engagement_training"
PIPELINE = "engagement"
BENCH_RUN_ID = "bench_direct"
AIRFLOW_PORT = "18095"  # leave the demo's 8080 and the tests' ports alone


def direct_settings_overrides(home: Path) -> dict[str, str]:
    """The direct TFX run's own pipeline root, metadata and serving folder."""
    direct = home / "direct_tfx"
    return {
        "NOTIFLOW_PIPELINE_ROOT": str(direct / "pipelines"),
        "NOTIFLOW_METADATA_PATH": str(direct / "metadata.sqlite"),
        "NOTIFLOW_SERVING_DIR": str(direct / "serving"),
    }


def local_dag_runner(end_ds: dt.date) -> int:
    """(TFX interpreter) The whole pipeline for ``end_ds`` in this process."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from notiflow.settings import get_settings
    from tfx_pipelines import run_component
    from tfx_pipelines.common import runtime, tf_compat

    tf_compat.skip_autograph_for_tf_keras()
    settings = get_settings()
    config = runtime.metadata_connection_config(settings)
    pipeline = run_component.load_pipeline(PIPELINE).build(settings, end_ds, config, PIPELINE)
    LocalDagRunner().run(pipeline)
    pushed = [p for p in (settings.serving_dir / PIPELINE).glob("*") if p.is_dir()]
    return 0 if pushed else 1


def direct_day(settings, ds: str) -> dict[str, float]:
    """The day's work of ``daily_features``, task by task, in this process."""
    from notiflow.dbt import publish_docs, run_dbt
    from notiflow_airflow import tasks

    steps = {
        "land_day": lambda: tasks.land_day(settings, ds, None, 0.2, BENCH_RUN_ID),
        "gate_raw": lambda: tasks.run_quality_layer(settings, "raw", ds, BENCH_RUN_ID),
        "dbt_build": lambda: run_dbt(settings, ["build", "--vars", json.dumps({"ds": ds})]),
        "gate_features": lambda: tasks.run_quality_layer(settings, "features", ds, BENCH_RUN_ID),
        "evaluate_policy": lambda: tasks.evaluate_policy(settings, ds),
        "publish_dbt_docs": lambda: publish_docs(settings),
    }
    seconds: dict[str, float] = {}
    with stdout_to_stderr():
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            seconds[name] = round(time.perf_counter() - started, 1)
    return seconds


def _seconds(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    parse = dt.datetime.fromisoformat
    return round((parse(end) - parse(start)).total_seconds(), 1)


def airflow_run(api, dag_id: str, timeout_s: float) -> dict:
    """The DAG's run once finished: its state, wall seconds (queued -> end), and per task
    its seconds queued, started and ended after the run was queued (where the wall time
    between the tasks goes)."""
    run = api.wait_for_run(dag_id, timeout_s=timeout_s)
    tasks_ = api.task_instances(dag_id, run["dag_run_id"])
    queued = run.get("queued_at") or run.get("start_date")
    return {
        "run_id": run["dag_run_id"],
        "state": run["state"],
        "wall_seconds": _seconds(queued, run["end_date"]),
        "running_seconds": _seconds(run.get("start_date"), run["end_date"]),
        "task_timeline": {
            t["task_id"]: [
                _seconds(queued, t.get(key)) for key in ("queued_when", "start_date", "end_date")
            ]
            for t in sorted(tasks_, key=lambda t: t.get("start_date") or "")
        },  # fmt: skip
        "failed_tasks": sorted(t["task_id"] for t in tasks_ if t["state"] == "failed"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the home (its path is printed)")
    parser.add_argument("--local-dag-runner", type=dt.date.fromisoformat, metavar="END_DS",
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.local_dag_runner:
        return local_dag_runner(args.local_dag_runner)

    from notiflow import domain
    from notiflow.settings import Settings
    from notiflow_airflow import local as airflow_local

    home = Path(tempfile.mkdtemp(prefix="notiflow-orchestration-bench-"))
    environ = world_environment(home, args.users) | {"NOTIFLOW_AIRFLOW_PORT": AIRFLOW_PORT}
    os.environ.update(environ)
    settings = Settings.load(environ)
    log = home / "bench.log"
    today = dt.datetime.now(dt.UTC).date()
    day = today - dt.timedelta(days=1)
    end_ds = day - dt.timedelta(days=domain.LABEL_MATURITY_DAYS)
    result: dict = {"users": args.users, "day": str(day), "end_ds": str(end_ds),
                    "home": str(home), "cpu_count": os.cpu_count(),
                    "load_average_at_start": os.getloadavg()}  # fmt: skip
    try:
        result["seed_seconds"] = seed_history(settings, today)
        assert landed_days(settings)[-1] == day - dt.timedelta(days=1)

        started = time.perf_counter()
        result["direct_day_steps"] = direct_day(settings, str(day))
        result["direct_day_seconds"] = round(time.perf_counter() - started, 1)

        direct_env = tfx_environment(settings, environ) | direct_settings_overrides(home)
        started = time.perf_counter()
        code, peak_rss = run_logged(
            [str(settings.tfx_python), __file__, "--local-dag-runner", str(end_ds)],
            direct_env,
            log,
        )
        result["direct_training_seconds"] = round(time.perf_counter() - started, 1)
        if code:
            raise RuntimeError(f"LocalDagRunner run failed (exit {code}):\n{tail(log)}")

        airflow_local.start(settings)
        try:
            api = airflow_local.ApiClient(settings)
            api.wait_for_dags([DAILY, TRAINING])
            api.unpause(TRAINING)
            api.unpause(DAILY)  # catchup=False: the scheduler creates the run landing D
            result["airflow_daily"] = airflow_run(api, DAILY, timeout_s=3600)
            result["airflow_training"] = airflow_run(api, TRAINING, timeout_s=3600)
        finally:
            airflow_local.stop(settings)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    daily, training = result["airflow_daily"], result["airflow_training"]
    result["ratios"] = {
        "daily_features": round(daily["wall_seconds"] / result["direct_day_seconds"], 2),
        "engagement_training": round(
            training["wall_seconds"] / result["direct_training_seconds"], 2
        ),
    }
    result["targets_met"] = {
        name: ratio <= TARGET_RATIO for name, ratio in result["ratios"].items()
    } | {"runs_succeeded": daily["state"] == training["state"] == "success"}
    print(json.dumps(result, indent=2))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
