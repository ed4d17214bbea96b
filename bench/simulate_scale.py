"""Benchmark: simulate a large world and measure wall time, peak memory and volume.

The target (issue 3): 30 days x 100k users, at least 10M events, in at most
10 minutes and 4 GiB peak RSS on 2 cores. Run from the repository root:

    .venvs/orchestration/bin/python bench/simulate_scale.py

It simulates into a temporary NOTIFLOW_HOME (removed afterwards unless --keep),
prints one JSON object with the measurements and the machine, and exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from notiflow import simulator
from notiflow.settings import Settings
from notiflow.simulator import report

TARGET_S = 600
TARGET_RSS_GIB = 4.0
TARGET_EVENTS = 10_000_000
EVENT_TABLES = ("engagement_events", "notification_events")


def machine() -> dict[str, object]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(memory_kib / 2**20, 1),
        "load_average_at_start": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--pins", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument("--keep", action="store_true", help="keep the simulated home")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="notiflow-bench-"))
    settings = Settings.load({**os.environ, "NOTIFLOW_HOME": str(home)})
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load = machine()
    try:
        started = time.perf_counter()
        with tqdm(total=args.days, unit="day", desc="simulate") as bar:
            written = simulator.simulate(
                settings,
                args.start,
                args.days,
                users=args.users,
                pins=args.pins,
                seed=args.seed,
                progress=lambda day, n: (bar.set_postfix(day=str(day), sends=n), bar.update()),
            )
        seconds = time.perf_counter() - started
        peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        disk_mib = sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 2**20
        realism = report.realism(settings)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    events = sum(written[t] for t in EVENT_TABLES)
    result = {
        "benchmark": "simulate_scale",
        "started_at": started_at,
        "machine": load,
        "users": args.users,
        "days": args.days,
        "pins": args.pins,
        "rows_written": written,
        "events": events,
        "seconds": round(seconds, 1),
        "peak_rss_gib": round(peak_rss_gib, 2),
        "disk_mib": round(disk_mib),
        "checks": realism["checks"],
        "targets_met": {
            f"seconds <= {TARGET_S}": seconds <= TARGET_S,
            f"peak_rss_gib <= {TARGET_RSS_GIB}": peak_rss_gib <= TARGET_RSS_GIB,
            f"events >= {TARGET_EVENTS:,}": events >= TARGET_EVENTS,
        },
    }
    print(json.dumps(result, indent=2, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
