"""Benchmark: the engagement TFX pipeline end to end at the scale of a real day.

The target (issue 14): on >= 1M training rows (100k users, 14 training days), the whole
pipeline, node by node as the Airflow tasks run it, finishes in <= 15 min on 2 cores
with every node's peak RSS <= 8 GiB. Run from the repository root:

    .venvs/orchestration/bin/python bench/tfx_scale.py               # 100k users
    .venvs/orchestration/bin/python bench/tfx_scale.py --home H      # a kept home

Steps, into a temporary NOTIFLOW_HOME (removed afterwards unless --keep):
1. history: ``notiflow.cli.seed_history`` (28-day feature warm-up + ``training_days``,
   one ``dbt build``); not part of the measured pipeline;
2. the engagement pipeline once for the last day whose labels are mature, each node a
   process of ``tfx_pipelines.run_component``; per node its wall time and peak RSS
   (``wait4``); the training rows, and the Trainer's schedule from its log.

Prints one JSON object and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import (  # noqa: E402
    DEFAULT_TODAY,
    PipelineFailed,
    run_pipeline,
    seed_history,
    world_environment,
)

PIPELINE = "engagement"
TARGET_MINUTES = 15
TARGET_PEAK_RSS_GIB = 8
TARGET_TRAIN_ROWS = 1_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--home", type=Path, help="reuse a simulated home (skips 1)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated home")
    args = parser.parse_args()

    from simulate_scale import machine

    from notiflow import domain, warehouse
    from notiflow.settings import Settings

    home = args.home or Path(tempfile.mkdtemp(prefix="notiflow-bench-tfx-scale-"))
    environ = world_environment(home, args.users)
    settings = Settings.load(environ)
    result: dict[str, object] = {
        "benchmark": "tfx_scale",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "users": args.users,
        "training_days": settings.training_days,
    }
    log = home / "tfx_scale.log"
    try:
        if args.home is None:
            result["history_seconds"] = seed_history(settings, args.today)
        table = domain.mart_table(domain.ENGAGEMENT_EXAMPLES)
        with warehouse.connect(settings, read_only=True) as con:
            (end_ds,) = con.execute(f"select max(ds) from {table} where is_label_mature").fetchone()
            (train_rows,) = con.execute(
                f"select count(*) from {table} where ds between ? and ?",
                [end_ds - dt.timedelta(days=settings.training_days), end_ds - dt.timedelta(days=1)],
            ).fetchone()
        result.update(eval_day=str(end_ds), train_rows=train_rows)
        started = time.perf_counter()
        try:
            nodes = run_pipeline(settings, environ, PIPELINE, end_ds, log)
        except PipelineFailed as error:
            result["error"] = str(error)
            print(json.dumps(result, indent=1, default=str))
            return 1
        result["pipeline_minutes"] = round((time.perf_counter() - started) / 60, 2)
        result["nodes"] = nodes
        result["peak_rss_gib"] = max(n["peak_rss_gib"] for n in nodes.values())
        schedule = re.findall(r"training schedule: (\{.*?\})", log.read_text(errors="replace"))
        result["trainer_schedule"] = schedule[-1] if schedule else None
    finally:
        if not args.keep and args.home is None:
            shutil.rmtree(home, ignore_errors=True)
        else:
            result["home"] = str(home)
    result["targets_met"] = {
        f"train rows >= {TARGET_TRAIN_ROWS:,}": train_rows >= TARGET_TRAIN_ROWS,
        f"pipeline <= {TARGET_MINUTES} min": result["pipeline_minutes"] <= TARGET_MINUTES,
        f"peak RSS <= {TARGET_PEAK_RSS_GIB} GiB": result["peak_rss_gib"] <= TARGET_PEAK_RSS_GIB,
    }
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
