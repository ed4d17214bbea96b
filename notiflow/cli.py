"""The `notiflow` command line.

The core's commands (simulate, load, dbt) are defined here; other packages add theirs
through the ``notiflow.commands`` entry points (a function that takes the
subparsers), so the core imports none of them: ``notiflow_airflow.commands`` adds
``airflow``, ``demo`` and ``summary`` where the orchestration environment is installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from notiflow.domain import FEATURE_WINDOW_DAYS
from notiflow.settings import Settings, get_settings

COMMANDS_ENTRY_POINTS = "notiflow.commands"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "report":
        return cmd_simulate_report(settings, args)
    if args.start is None:
        args.parser.error("--start is required to simulate (or use: simulate report)")

    from tqdm import tqdm

    from notiflow import simulator

    with tqdm(total=args.days, unit="day", desc="simulate", disable=None) as bar:
        written = simulator.simulate(
            settings,
            args.start,
            args.days,
            users=args.users,
            pins=args.pins,
            seed=args.seed,
            fault=args.inject,
            fault_day=args.inject_day,
            severity=args.severity,
            new_world=args.new_world,
            to_landing=args.to_landing,
            progress=lambda day, n: (bar.set_postfix(day=str(day), sends=n), bar.update()),
        )
    where = (
        {"landing": str(args.to_landing)}
        if args.to_landing is not None
        else {"warehouse": str(settings.warehouse_path)}
    )
    print(json.dumps({**where, "rows_written": written}))
    return 0


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow import landing

    start, days = (args.ds, 1) if args.ds is not None else (args.start, args.days)
    if start is None:
        args.parser.error("--ds or --start is required")
    if args.ds is not None and args.days != 1:
        args.parser.error("--days goes with --start, not --ds")
    root = args.landing or settings.landing_dir

    def progress(day: dt.date, rows: dict[str, int]) -> None:
        counts = ", ".join(f"{table}={n}" for table, n in rows.items())
        print(f"loaded {day}: {counts}", file=sys.stderr, flush=True)

    loaded = landing.load_days(settings, start, days, landing_dir=root, progress=progress)
    print(
        json.dumps(
            {"landing": str(root), "warehouse": str(settings.warehouse_path), "rows_loaded": loaded}
        )
    )
    return 0


def cmd_simulate_report(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow.simulator import report

    figures = report.realism(settings)
    path = report.write_html(
        figures, args.out or settings.reports_dir / "simulator" / "realism.html"
    )
    if args.json:
        print(json.dumps({**figures, "html": str(path)}, indent=2))
    else:
        for check in figures["checks"]:
            print(f"{'ok ' if check['ok'] else 'OUT'}  {check['name']}: {check['value']}")
        print(f"report: {path}")
    return 0


def cmd_dbt(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow.dbt import run_dbt

    return run_dbt(settings, args.dbt_args, check=False).returncode


def seed_history(settings: Settings, today: dt.date, history_days: int | None = None) -> None:
    """Simulate the history up to the day before yesterday (the scheduler lands yesterday
    itself) and build its features once; the daily DAG then adds one day at a time.

    By default the history is a feature warm-up plus the training window, so that every
    training day's feature windows are full, as with production data.
    """
    from notiflow import simulator
    from notiflow.dbt import run_dbt

    history_days = history_days or FEATURE_WINDOW_DAYS + settings.training_days
    history_start = today - dt.timedelta(days=history_days + 1)
    if settings.source == "landing":  # a team's own logs: the history is in its files
        from notiflow import landing

        print(f"==> loading {history_days} days of history from {settings.landing_dir}")
        landing.load_days(settings, history_start, history_days)
    else:
        print(f"==> simulating {history_days} days of history from {history_start}", flush=True)
        simulator.simulate(settings, history_start, history_days)
    print("==> building the history's features (dbt build)", flush=True)
    run_dbt(settings, ["build", "--quiet"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notiflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    simulate = sub.add_parser(
        "simulate",
        help="simulate days of the world into the warehouse, or report on its realism",
        description="Simulate days of the world into the warehouse (--start ...), or write the "
        "realism report (simulate report [--json]).",
    )
    simulate.add_argument(
        "action", nargs="?", choices=["report"], help="report: the realism report"
    )
    simulate.add_argument("--start", type=_date)
    simulate.add_argument("--days", type=int, default=1)
    simulate.add_argument("--users", type=int)
    simulate.add_argument("--pins", type=int)
    simulate.add_argument("--seed", type=int)
    simulate.add_argument(
        "--inject", help="data fault to inject, e.g. out_of_range (an unknown name lists them all)"
    )
    simulate.add_argument("--inject-day", type=_date, help="day of the fault (default: every day)")
    simulate.add_argument("--severity", type=float, default=0.2, help="share of rows hit")
    simulate.add_argument(
        "--new-world",
        action="store_true",
        help="allow replacing the warehouse's world (other seed or sizes, or an earlier start)",
    )
    simulate.add_argument(
        "--to-landing",
        type=Path,
        metavar="DIR",
        help="write the days as landing files under DIR (for `notiflow load`), not the warehouse",
    )
    simulate.add_argument("--json", action="store_true", help="report: print the figures as JSON")
    simulate.add_argument("--out", type=Path, help="report: where to write the HTML page")
    simulate.set_defaults(func=cmd_simulate, parser=simulate)

    load = sub.add_parser(
        "load",
        help="load days of a team's own logs from a landing folder into the raw layer",
        description="Load days from a landing folder (<table>/ds=YYYY-MM-DD/*.parquet|csv, "
        "dimension tables <table>/*.parquet|csv) into the warehouse's raw layer; a day whose "
        "files break the layout or the contract is refused whole.",
    )
    load.add_argument(
        "--landing", type=Path, metavar="DIR", help="the landing folder (default: landing_dir)"
    )
    day = load.add_mutually_exclusive_group()
    day.add_argument("--ds", type=_date, help="the day to load")
    day.add_argument("--start", type=_date, help="the first day of a backfill")
    load.add_argument("--days", type=int, default=1, help="with --start: how many days")
    load.set_defaults(func=cmd_load, parser=load)

    dbt = sub.add_parser("dbt", help="run dbt on the project with notiflow's settings")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=cmd_dbt)

    for command in importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINTS):
        command.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(get_settings(), args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"notiflow {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
