"""Benchmark: the dbt feature platform on a large world, on DuckDB.

Targets (issue 4), on 2 cores: the daily run of one day for 100k users (about 1M
events, models and their tests) in at most 60 s, and a 30-day backfill in at most
10 minutes, each with its peak RSS. Run from the repository root:

    .venvs/orchestration/bin/python bench/dbt_scale.py            # simulates 30 days first
    .venvs/orchestration/bin/python bench/dbt_scale.py --home H   # reuse a simulated home

Measured, in order:
1. backfill, one build: `dbt run --full-refresh` over every landed day;
2. backfill, day by day: `dbt run --vars ds=D` for each day, as an Airflow backfill runs
   the daily DAG (the raw layer already holds every day; the work per day is the same);
3. one day: `dbt build --vars ds=<last day>` (models and all their tests), the daily run.
Prints one JSON object and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_scale import machine  # noqa: E402

from notiflow import domain, simulator, warehouse  # noqa: E402
from notiflow.dbt import dbt_command, dbt_environment  # noqa: E402
from notiflow.settings import Settings  # noqa: E402

MEASURES = ("backfill-build", "backfill-days", "one-day")
ONE_DAY_TARGET_S = 60
BACKFILL_TARGET_S = 600


def timed_dbt(settings: Settings, args: list[str]) -> dict[str, float]:
    """Run dbt (with the project vars, as notiflow.dbt.run_dbt does) and return its wall
    time and peak RSS (of the dbt process, via wait4)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        dbt_command(settings, args),
        env=dbt_environment(settings),
        cwd=settings.dbt_project_dir,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"dbt {' '.join(args)} failed with exit code {process.returncode}")
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),
        # dbt parse runs no nodes and writes no run_results.json
        **(node_times(settings) if args[0] != "parse" else {}),
    }


def node_times(settings: Settings) -> dict[str, object]:
    """Seconds dbt spent per kind of node in its last command, and its slowest nodes."""
    results = json.loads((settings.dbt_target_dir / "run_results.json").read_text())["results"]
    seconds: dict[str, float] = {}
    for node in results:
        kind = node["unique_id"].split(".")[0]
        seconds[kind] = seconds.get(kind, 0.0) + node["execution_time"]
    slowest = sorted(results, key=lambda node: node["execution_time"], reverse=True)[:5]
    return {
        "dbt_seconds_by_kind": {kind: round(s, 1) for kind, s in seconds.items()},
        "slowest_nodes_s": {
            node["unique_id"].split(".")[2]: round(node["execution_time"], 1) for node in slowest
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a NOTIFLOW_HOME already simulated")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--pins", type=int, default=20_000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument(
        "--measure",
        nargs="+",
        choices=MEASURES,
        default=list(MEASURES),
        help="which measurements to take (default: all, in this order)",
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="notiflow-bench-dbt-"))
    settings = Settings.load({**os.environ, "NOTIFLOW_HOME": str(home)})
    result: dict[str, object] = {"machine": machine(), "home": str(home)}
    if args.home is None:
        started = time.perf_counter()
        simulator.simulate(settings, args.start, args.days, users=args.users, pins=args.pins)
        result["simulate_s"] = round(time.perf_counter() - started, 1)
    raw = domain.RAW_SCHEMA
    with warehouse.connect(settings, read_only=True) as con:
        landed = con.execute(f"select distinct ds from {raw}.notifications order by 1").fetchall()
        days = [day for (day,) in landed]
        result["raw_rows_per_day"] = {
            table: con.execute(
                f"select count(*) / count(distinct ds) from {raw}.{table}"
            ).fetchone()[0]
            for table in ("engagement_events", "notification_events", "notifications")
        }
        result["users"] = con.execute(f"select count(*) from {raw}.users").fetchone()[0]
    result["days"] = len(days)

    timed_dbt(settings, ["parse", "--quiet"])  # parse once, as Airflow's manifest is
    if "backfill-build" in args.measure:
        result["backfill_one_build"] = timed_dbt(settings, ["run", "--full-refresh", "--quiet"])
    if "backfill-days" in args.measure:
        per_day = [
            timed_dbt(settings, ["run", "--quiet", "--vars", f"{{ds: '{day}'}}"]) for day in days
        ]
        result["backfill_day_by_day"] = {
            "wall_s": round(sum(d["wall_s"] for d in per_day), 1),
            "peak_rss_gib": max(d["peak_rss_gib"] for d in per_day),
            "slowest_day_s": max(d["wall_s"] for d in per_day),
        }
    if "one-day" in args.measure:
        result["one_day_build"] = timed_dbt(
            settings, ["build", "--quiet", "--vars", f"{{ds: '{days[-1]}'}}"]
        )
    with warehouse.connect(settings, read_only=True) as con:
        result["mart_rows"] = {
            table: con.execute(f"select count(*) from {domain.mart_table(table)}").fetchone()[0]
            for table in domain.FEATURE_MARTS
        }
    backfills = [
        result[key]["wall_s"]
        for key in ("backfill_one_build", "backfill_day_by_day")
        if key in result
    ]
    targets = {}
    if "one_day_build" in result:
        targets["one_day_s"] = result["one_day_build"]["wall_s"] <= ONE_DAY_TARGET_S
    if backfills:
        targets["backfill_s"] = min(backfills) <= BACKFILL_TARGET_S
    result["targets_met"] = targets
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
