"""The `notiflow airflow|demo|summary` commands: the local Airflow and what it produced.

Registered with the core CLI through the ``notiflow.commands`` entry point
(pyproject.toml). Nothing here imports Airflow at module level: the CLI loads this
module in every environment to list its commands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from notiflow.domain import FEATURE_WINDOW_DAYS
from notiflow.settings import Settings

DAILY_DAG = "daily_features"
# The training DAGs the gated features trigger, and the model each pushes.
TRAINING_DAGS = {"engagement_training": "engagement", "ranking_training": "ranking"}
PLANNING_DAG = "notification_planning"


def register(sub: argparse._SubParsersAction) -> None:
    airflow = sub.add_parser("airflow", help="start, stop or inspect the local Airflow")
    airflow.add_argument("action", choices=["start", "stop", "status"])
    airflow.set_defaults(func=cmd_airflow)

    demo = sub.add_parser("demo", help="simulate history and run the DAGs through Airflow")
    demo.add_argument(
        "--history-days",
        type=int,
        help=f"days of history to simulate (default: the {FEATURE_WINDOW_DAYS}-day feature "
        "warm-up + training_days)",
    )
    demo.add_argument("--timeout", type=float, default=1800, help="seconds to wait per DAG run")
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("summary", help="print what was produced").set_defaults(
        func=lambda settings, args: print(summary(settings)) or 0
    )


def cmd_airflow(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow_airflow import local

    if args.action == "start":
        running = local.running_pids(settings)
        if running:  # some component died (a crash, a kill): start only what is missing
            for name in [name for name in local.components(settings) if name not in running]:
                print(f"restarted {name}: pid {local.restart(settings, name)}")
        else:
            local.start(settings)
        print(f"Airflow UI: {local.base_url(settings)}")
    elif args.action == "stop":
        stopped = local.stop(settings)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    else:
        print(json.dumps(local.running_pids(settings)))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from notiflow.cli import seed_history
    from notiflow_airflow import local as airflow_local

    today = dt.datetime.now(dt.UTC).date()
    seed_history(settings, today, args.history_days)
    print("==> starting Airflow (api-server, scheduler, dag-processor, triggerer)", flush=True)
    airflow_local.start(settings)
    api = airflow_local.ApiClient(settings)
    dags = [DAILY_DAG, *TRAINING_DAGS, PLANNING_DAG]
    api.wait_for_dags(dags)
    # an earlier demo's runs in the same NOTIFLOW_HOME are not this demo's
    seen = {dag: {r["dag_run_id"] for r in api.dag_runs(dag)} for dag in dags}
    for dag in TRAINING_DAGS:
        api.unpause(dag)
    api.unpause(DAILY_DAG)  # the scheduler creates the run that lands yesterday
    print(f"==> waiting for {DAILY_DAG} (lands {today - dt.timedelta(days=1)})", flush=True)
    daily = api.wait_for_run(DAILY_DAG, ignore=seen[DAILY_DAG], timeout_s=args.timeout)
    print(f"    {DAILY_DAG}: {daily['state']}", flush=True)
    states = [daily["state"]]
    if daily["state"] == "success":
        for dag in TRAINING_DAGS:
            print(f"==> waiting for {dag}", flush=True)
            training = api.wait_for_run(dag, ignore=seen[dag], timeout_s=args.timeout)
            print(f"    {dag}: {training['state']}", flush=True)
            states.append(training["state"])
    if states == ["success"] * (1 + len(TRAINING_DAGS)):
        # Planning follows the candidates Asset; on the demo's first day the models it
        # needs are trained from that same day, so its first run is started here, once
        # both are pushed (later days plan on their own).
        print(f"==> planning {today} with both models ({PLANNING_DAG})", flush=True)
        api.unpause(PLANNING_DAG)
        run_id = api.trigger(PLANNING_DAG, dt.datetime.now(dt.UTC).isoformat())
        planning = api.wait_for_run(PLANNING_DAG, run_id=run_id, timeout_s=args.timeout)
        print(f"    {PLANNING_DAG}: {planning['state']}", flush=True)
        states.append(planning["state"])
    print(summary(settings))
    return 0 if states == ["success"] * (2 + len(TRAINING_DAGS)) else 1


def summary(settings: Settings) -> str:
    """What the platform has produced, and where to look."""
    from notiflow import warehouse
    from notiflow.registry import latest_model
    from notiflow_airflow import local as airflow_local

    lines = ["", "notiflow: what was produced", ""]
    try:
        with warehouse.connect(settings, read_only=True, wait_s=30) as con:
            counts = warehouse.table_counts(con)
        lines.append(f"Warehouse {settings.warehouse_path}")
        lines += [f"  {table:<55} {n:>10,} rows" for table, n in counts.items()]
    except (FileNotFoundError, warehouse.WarehouseLockedError) as exc:
        lines.append(f"Warehouse: {exc}")
    for name in TRAINING_DAGS.values():
        model = latest_model(settings, name)
        if model:
            shown = ", ".join(
                f"{k} {v:.3f}" for k, v in model["metrics"].items() if k != "example_count"
            )
            lines.append(
                f"{name.capitalize()} model: version {model['version']} ({shown} on "
                f"{model['eval_window']['end']}, trained on {model['train_window']['start']}.."
                f"{model['train_window']['end']}) at {model['path']}"
            )
        else:
            lines.append(
                f"{name.capitalize()} model: none pushed under {settings.serving_dir / name}"
            )
    lines.append(_plan_summary(settings))
    docs = settings.data_docs_dir / "index.html"
    lines.append(f"Data Docs: {docs}" + ("" if docs.exists() else " (not built yet)"))
    if airflow_local.running_pids(settings):
        lines += [
            "",
            f"Airflow UI: {airflow_local.base_url(settings)}  "
            f"(user {airflow_local.ADMIN_USER}, password in "
            f"{settings.airflow_home / 'simple_auth_manager_passwords.json.generated'})",
            f"Plan report: {airflow_local.base_url(settings)}/reports/plans",
            "Stop it with: make demo-stop",
        ]
    return "\n".join(lines)


def _plan_summary(settings: Settings) -> str:
    """The newest published plan, and a newer staged one that was not published."""
    from notiflow.planning.plan import PLAN_SUMMARY_FILE, STAGED_SUMMARY_FILE

    lines = []
    published = sorted(settings.planning_dir.glob(f"*/{PLAN_SUMMARY_FILE}"))
    staged = sorted(settings.planning_dir.glob(f"*/{STAGED_SUMMARY_FILE}"))
    if published:
        plan = json.loads(published[-1].read_text())
        channels = ", ".join(f"{c} {n:,}" for c, n in plan["sends_by_channel"].items())
        lines.append(
            f"Plan for {plan['ds']} (published {plan['published_at']}): {plan['sends']:,} "
            f"sends ({channels}); budget {plan['budget']:,} ({plan['budget_status']}, "
            f"multiplier {plan['multiplier']:.4f}); {plan['exploration_users']:,} users "
            f"explored; expected opens {plan['expected_opens']:,.0f} ({published[-1]})"
        )
        lines.append(_off_policy_line(plan.get("off_policy", {})))
    if staged and (not published or staged[-1].parent.name > published[-1].parent.name):
        lines.append(f"Plan for {staged[-1].parent.name}: staged, NOT published ({staged[-1]})")
    return "\n".join(lines) or f"Plan: none made under {settings.planning_dir}"


def _off_policy_line(estimate: dict) -> str:
    if "estimates" not in estimate:
        return f"  off-policy estimate: {estimate.get('skipped', 'none')}"
    shown = ", ".join(
        f"{e['estimator'].upper()} {e['value']:.3f} [{e['lower']:.3f}, {e['upper']:.3f}]"
        for e in estimate["estimates"]
        if e["reward"] == "opens"
    )
    ess = min(e["ess"] for e in estimate["estimates"])
    return (
        f"  off-policy opens per eligible user on {estimate['logged_day']}'s logs: {shown} "
        f"(effective sample size {ess:,.0f} of {estimate['logged_sends']:,} sends); logged "
        f"{estimate['logged_opens_per_user']:.3f}"
    )
