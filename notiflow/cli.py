"""The `notiflow` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from notiflow.settings import FEATURE_WINDOW_DAYS, Settings, get_settings

DAILY_DAG = "daily_features"
TRAINING_DAG = "engagement_training"


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
            progress=lambda day, n: (bar.set_postfix(day=str(day), sends=n), bar.update()),
        )
    print(json.dumps({"warehouse": str(settings.warehouse_path), "rows_written": written}))
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


def cmd_airflow(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow import airflow_local

    if args.action == "start":
        airflow_local.start(settings)
        print(f"Airflow UI: {airflow_local.base_url(settings)}")
    elif args.action == "stop":
        stopped = airflow_local.stop(settings)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    else:
        print(json.dumps(airflow_local.running_pids(settings)))
    return 0


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
    print(f"==> simulating {history_days} days of history from {history_start}", flush=True)
    simulator.simulate(settings, history_start, history_days)
    print("==> building the history's features (dbt build)", flush=True)
    run_dbt(settings, ["build", "--quiet"])


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow import airflow_local

    today = dt.datetime.now(dt.UTC).date()
    seed_history(settings, today, args.history_days)
    print("==> starting Airflow (api-server, scheduler, dag-processor, triggerer)", flush=True)
    airflow_local.start(settings)
    api = airflow_local.ApiClient(settings)
    api.wait_for_dags([DAILY_DAG, TRAINING_DAG])
    # an earlier demo's runs in the same NOTIFLOW_HOME are not this demo's
    seen = {dag: {r["dag_run_id"] for r in api.dag_runs(dag)} for dag in (DAILY_DAG, TRAINING_DAG)}
    api.unpause(TRAINING_DAG)
    api.unpause(DAILY_DAG)  # the scheduler creates the run that lands yesterday
    print(f"==> waiting for {DAILY_DAG} (lands {today - dt.timedelta(days=1)})", flush=True)
    daily = api.wait_for_run(DAILY_DAG, ignore=seen[DAILY_DAG], timeout_s=args.timeout)
    print(f"    {DAILY_DAG}: {daily['state']}", flush=True)
    training = {"state": "not run"}
    if daily["state"] == "success":
        print(f"==> waiting for {TRAINING_DAG}", flush=True)
        training = api.wait_for_run(TRAINING_DAG, ignore=seen[TRAINING_DAG], timeout_s=args.timeout)
        print(f"    {TRAINING_DAG}: {training['state']}", flush=True)
    print(summary(settings))
    return 0 if daily["state"] == "success" and training["state"] == "success" else 1


def summary(settings: Settings) -> str:
    """What the platform has produced, and where to look."""
    from notiflow import airflow_local, warehouse
    from notiflow.registry import latest_model

    lines = ["", "notiflow: what was produced", ""]
    try:
        with warehouse.connect(settings, read_only=True, wait_s=30) as con:
            counts = warehouse.table_counts(con)
        lines.append(f"Warehouse {settings.warehouse_path}")
        lines += [f"  {table:<55} {n:>10,} rows" for table, n in counts.items()]
    except (FileNotFoundError, warehouse.WarehouseLockedError) as exc:
        lines.append(f"Warehouse: {exc}")
    model = latest_model(settings, "engagement")
    if model:
        lines.append(
            f"Engagement model: version {model['version']} (AUC {model['auc']:.3f} on "
            f"{model['eval_window']['end']}, trained on {model['train_window']['start']}.."
            f"{model['train_window']['end']}) at {model['path']}"
        )
    else:
        lines.append(f"Engagement model: none pushed under {settings.serving_dir / 'engagement'}")
    docs = settings.data_docs_dir / "index.html"
    lines.append(f"Data Docs: {docs}" + ("" if docs.exists() else " (not built yet)"))
    if airflow_local.running_pids(settings):
        lines += [
            "",
            f"Airflow UI: {airflow_local.base_url(settings)}  "
            f"(user {airflow_local.ADMIN_USER}, password in "
            f"{settings.airflow_home / 'simple_auth_manager_passwords.json.generated'})",
            "Stop it with: make demo-stop",
        ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notiflow", description=__doc__)
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
    simulate.add_argument("--json", action="store_true", help="report: print the figures as JSON")
    simulate.add_argument("--out", type=Path, help="report: where to write the HTML page")
    simulate.set_defaults(func=cmd_simulate, parser=simulate)

    dbt = sub.add_parser("dbt", help="run dbt on the project with notiflow's settings")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=cmd_dbt)

    airflow = sub.add_parser("airflow", help="start, stop or inspect the local Airflow")
    airflow.add_argument("action", choices=["start", "stop", "status"])
    airflow.set_defaults(func=cmd_airflow)

    demo = sub.add_parser("demo", help="simulate history and run the DAGs through Airflow")
    demo.add_argument(
        "--history-days",
        type=int,
        help="days of history to simulate (default: the 28-day feature warm-up + training_days)",
    )
    demo.add_argument("--timeout", type=float, default=1800, help="seconds to wait per DAG run")
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("summary", help="print what was produced").set_defaults(
        func=lambda settings, args: print(summary(settings)) or 0
    )
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
