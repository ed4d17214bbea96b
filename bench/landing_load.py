"""Benchmark: loading one day of a team's logs from the landing folder (issue 16).

The target: a 100k-user day (about 1M rows across the raw tables) loads from Parquet in
<= 30 s on 2 cores, checks included. Run from the repository root:

    .venvs/orchestration/bin/python bench/landing_load.py              # 100k users
    .venvs/orchestration/bin/python bench/landing_load.py --users 20000

Steps, into a temporary NOTIFLOW_HOME (removed afterwards unless --keep):
1. ``notiflow simulate --to-landing``: ``--days`` days of the world as landing files (the
   first day only warms the world up);
2. ``notiflow.landing.load_day`` of the last day, timed, with its peak RSS (getrusage of
   this process: the load runs in it).

Prints one JSON object and exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

TARGET_S = 30.0
START = dt.date(2026, 1, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from simulate_scale import machine

    from notiflow import landing, simulator
    from notiflow.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="notiflow-bench-landing-"))
    settings = Settings.load(
        {
            **os.environ,
            "NOTIFLOW_HOME": str(home),
            "NOTIFLOW_SIM_USERS": str(args.users),
            "NOTIFLOW_SIM_PINS": str(max(args.users // 5, 100)),
        }
    )
    result: dict[str, object] = {
        "benchmark": "landing_load",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "users": args.users,
    }
    try:
        started = time.perf_counter()
        simulator.simulate(settings, START, args.days, to_landing=settings.landing_dir)
        result["simulate_to_landing_s"] = round(time.perf_counter() - started, 1)
        day = START + dt.timedelta(days=args.days - 1)
        files = sorted(p for p in settings.landing_dir.rglob("*") if p.is_file())
        result["landing_bytes"] = sum(p.stat().st_size for p in files)
        started = time.perf_counter()
        rows = landing.load_day(settings, day)
        seconds = time.perf_counter() - started
        result.update(
            day=str(day),
            rows_loaded=rows,
            rows_total=sum(rows.values()),
            load_s=round(seconds, 2),
            peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        )
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            result["home"] = str(home)
    result["targets_met"] = {f"load <= {TARGET_S:.0f} s": seconds <= TARGET_S}
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
