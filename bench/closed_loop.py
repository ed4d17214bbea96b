"""Benchmark: the closed loop. What planning every day does to users, against the logging
policy and an oracle planner, at equal volume on the same world.

The target (issue 12): over the planned days the platform's opens per eligible user beat
the logging policy's by >= 10% at equal volume, with unsubscribes no higher, and reach
>= 50% of the oracle's lift; the off-policy estimate's interval covers the realized value
on most days. Run from the repository root:

    .venvs/orchestration/bin/python bench/closed_loop.py               # 20k users, 14 days
    .venvs/orchestration/bin/python bench/closed_loop.py --users 5000 --plan-days 7

Steps, into a temporary folder (removed afterwards unless --keep):
1. history: ``notiflow.cli.seed_history`` (the 28-day feature warm-up + the training
   window, all sent by the logging policy, then one ``dbt build``), and both TFX
   pipelines once, node by node, evaluated on the last mature day: the models the
   platform plans with (not retrained during the planned days);
2. three arms continue the same world from the same state, the warehouse and the truth
   store copied:
   * ``logging``: the logging heuristic sends every day (its volume sets the budget of
     the other two arms, day by day);
   * ``platform``: every day, what the planning DAG does (``tfx_pipelines.scoring``,
     ``stage_plan``, the plan gate, ``publish_staged``), then the world sends the plan,
     the day's ``dbt build``, and the evaluation of the day before
     (``notiflow.planning.evaluation``);
   * ``oracle``: the same volume policy (``plan_volume``, no exploration; the same weekly
     fatigue discount of the users' true sends in the 7 days before) on the true P(open)
     and P(unsubscribe) of every option (``simulator.response.send_probabilities``) with
     each user's truly best pins;
3. per arm, from the truth store: sends, expected and realized opens, clicks and
   unsubscribes, sessions, per eligible user (outside the holdout) per day.

Benchmarks are the only code besides the simulator that may read the truth store.
Prints one JSON object and exits 1 when a target is missed.
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
    DEFAULT_TODAY,
    RUN_ID,
    run_logged,
    run_pipeline,
    stdout_to_stderr,
    tail,
    tfx_environment,
)

ORACLE_POLICY = "oracle_planner"
TARGET_LIFT = 0.10
TARGET_ORACLE_SHARE = 0.5
ARMS = ("logging", "platform", "oracle")


def arm_settings(base: dict[str, str], home: Path, **overrides: str):
    from notiflow.settings import Settings

    return Settings.load({**base, "NOTIFLOW_HOME": str(home), **overrides})


def train(settings, environ: dict[str, str], end_ds: dt.date, log: Path) -> dict[str, float]:
    """Both pipelines once, node by node, as the Airflow tasks run them."""
    seconds = {}
    for pipeline in ("engagement", "ranking"):
        started = time.perf_counter()
        run_pipeline(settings, environ, pipeline, end_ds, log)
        seconds[pipeline] = round(time.perf_counter() - started, 1)
    return seconds


def platform_day(settings, environ: dict[str, str], day: dt.date, log: Path) -> dict:
    """One day of the platform: plan it, send it, build its features."""
    from expectations.gates import DataQualityError, run_layer
    from notiflow import simulator
    from notiflow.dbt import run_dbt
    from notiflow.planning.plan import publish_staged, stage_plan

    seconds = {}
    started = time.perf_counter()
    code, _ = run_logged(
        [str(settings.tfx_python), "-m", "tfx_pipelines.scoring", "--ds", str(day)],
        tfx_environment(settings, environ),
        log,
    )
    if code:
        raise RuntimeError(f"scoring {day} failed (exit {code}):\n{tail(log)}")
    seconds["score"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    plan = stage_plan(settings, day, run_id=RUN_ID)
    seconds["plan"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    try:
        run_layer(settings, "plan", day.isoformat(), run_id=RUN_ID)
        publish_staged(settings, day)
        published = True
    except DataQualityError as exc:  # the day falls back to the logging policy
        print(f"{day}: the plan gate stopped the plan: {exc}", file=sys.stderr)
        published = False
    seconds["gate_and_publish"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with stdout_to_stderr():
        simulator.simulate(settings, day, 1)
        run_dbt(settings, ["build", "--quiet", "--vars", f"{{ds: {day}}}"])
    seconds["send_and_dbt"] = round(time.perf_counter() - started, 1)
    return {
        "published": published,
        "sends_planned": plan.summary["sends"],
        "budget": plan.summary["budget"],
        "budget_status": plan.summary["budget_status"],
        "multiplier": plan.summary["multiplier"],
        "seconds": seconds,
    }


def oracle_plan(settings, day: dt.date, budget: int):
    """The volume policy on the world's true probabilities, with each user's truly best
    pins (per topic its best-quality pin; topics by the item's pull on opening)."""
    import numpy as np
    import pandas as pd

    from notiflow import domain
    from notiflow.planning.plan import plan_rows
    from notiflow.planning.policy import Audience, Options, PolicyConfig, plan_volume
    from notiflow.simulator.catalog import Catalog
    from notiflow.simulator.response import AFFINITY_WEIGHT, QUALITY_WEIGHT, send_probabilities
    from notiflow.simulator.run import world_config
    from notiflow.simulator.state import activity
    from notiflow.simulator.truth import TruthStore
    from notiflow.simulator.world import TOPICS, World

    config = world_config(settings)
    with TruthStore.open(settings, read_only=True) as store:
        world = World.create(config, store.world()[1])
        state = store.state_at_end_of(day - dt.timedelta(days=1), world.n_users)
        sends_7d = store.sends_before(day, world.n_users)
    catalog = Catalog.as_of(config, world.first_day, day)
    user_activity = activity(world, state.next_drift(world, day))

    best_in_topic = np.array(
        [np.flatnonzero(catalog.topic == t)[np.argmax(catalog.quality[catalog.topic == t])]
         for t in range(len(TOPICS))]
    )  # fmt: skip
    n = world.n_users
    users = np.arange(n)
    pull = (
        AFFINITY_WEIGHT
        * np.log(world.affinity(users[:, None], np.arange(len(TOPICS))[None, :]) + 0.1)
        + QUALITY_WEIGHT * catalog.quality_z(best_in_topic)[None, :]
    )
    top_topics = np.argsort(-pull, axis=1)[:, : domain.EMAIL_DIGEST_ITEMS]
    top_pins = best_in_topic[top_topics]  # users × digest size, best first

    policy = PolicyConfig(budget=budget, exploration_share=0.0, seed=day.toordinal())
    channel_grid, hour_grid = np.nonzero(policy.allowed_hours())  # outside quiet hours
    user = np.repeat(users, len(channel_grid))
    channel = np.tile(channel_grid, n)
    hour = np.tile(hour_grid, n)
    reachable = world.opted_in[user, channel] & ~state.unsubscribed[user, channel]
    reachable &= ~world.is_holdout[user]
    user, channel, hour = user[reachable], channel[reachable], hour[reachable]
    p_open, p_unsubscribe = send_probabilities(
        world, catalog, state, user_activity, sends_7d, day, user, channel, hour,
        top_pins[user, 0],
    )  # fmt: skip
    volume = plan_volume(
        Options(user=user, channel=channel, local_hour=hour, p_open=p_open,
                p_unsubscribe=p_unsubscribe),
        Audience(opted_in=world.opted_in, unsubscribed=state.unsubscribed,
                 holdout=world.is_holdout, recent_sends=sends_7d.sum(axis=1)),
        policy,
    )  # fmt: skip
    ranked = pd.DataFrame(
        {
            "user_id": np.repeat(world.user_id, top_pins.shape[1]),
            "pin_id": catalog.pin_id[top_pins.ravel()],
            "pin_rank": np.tile(np.arange(1, top_pins.shape[1] + 1), n),
        }
    )
    audience = pd.DataFrame({"user_id": world.user_id, "tz_offset_hours": world.tz_offset_hours})
    rows = plan_rows(day, volume, pd.Index(world.user_id), ranked, audience, day.toordinal())
    rows["policy"] = ORACLE_POLICY
    return rows


def oracle_day(settings, day: dt.date, budget: int) -> dict:
    from notiflow import simulator, warehouse

    started = time.perf_counter()
    rows = oracle_plan(settings, day, budget)
    with warehouse.connect(settings) as con:
        warehouse.write_plan(con, rows, day.isoformat())
    with stdout_to_stderr():
        simulator.simulate(settings, day, 1)
    return {
        "sends_planned": int(rows["notification_id"].nunique()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def arm_outcomes(settings, first: dt.date, last: dt.date) -> dict:
    """Per eligible user per day, from the truth store: sends, opens, clicks,
    unsubscribes (expected: the true probabilities of the sends; realized: the draws),
    sessions (organic + induced)."""
    from notiflow import warehouse
    from notiflow.simulator.truth import SCHEMA

    with warehouse.open_duckdb(settings.truth_path, read_only=True) as con:
        (eligible,) = con.execute(
            f"select count(*) from {SCHEMA}.users where not is_holdout"
        ).fetchone()
        by_day = con.execute(
            f"""
            with sends as (
                select ds, count(*) as sends, sum(p_open_24h) as expected_opens,
                       sum(is_opened::int) as opens, sum(p_unsubscribe) as expected_unsubscribes,
                       sum(is_unsubscribed::int) as unsubscribes
                from {SCHEMA}.sends where ds between ? and ? group by ds
            ),
            items as (
                select ds, sum(p_click) as expected_clicks, sum(is_clicked::int) as clicks
                from {SCHEMA}.items where ds between ? and ? group by ds
            ),
            sessions as (
                select d.ds, sum(d.organic_sessions + d.induced_sessions) as sessions
                from {SCHEMA}.user_days d join {SCHEMA}.users u using (user_idx)
                where d.ds between ? and ? and not u.is_holdout group by d.ds
            )
            select * from sends join items using (ds) join sessions using (ds) order by ds
            """,
            [first, last] * 3,
        ).fetchdf()
    totals = by_day.drop(columns="ds").sum()
    days = len(by_day)
    per_user_day = {k: float(v) / eligible / days for k, v in totals.items()}
    return {
        "eligible_users": int(eligible),
        "days": days,
        "sends_by_day": by_day["sends"].astype(int).tolist(),
        "per_eligible_user_per_day": per_user_day,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--pins", type=int, help="initial pins (default: users / 5)")
    parser.add_argument("--plan-days", type=int, default=14)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--keep", action="store_true", help="keep the simulated homes")
    args = parser.parse_args()

    from simulate_scale import machine

    from notiflow import cli, domain, warehouse
    from notiflow.planning.evaluation import EvaluationError, evaluate_day

    folder = Path(tempfile.mkdtemp(prefix="notiflow-bench-closed-loop-"))
    pins = args.pins or max(args.users // 5, 100)
    environ = {
        **os.environ,
        "NOTIFLOW_SIM_USERS": str(args.users),
        "NOTIFLOW_SIM_PINS": str(pins),
    }
    homes = {arm: folder / arm for arm in ARMS}
    settings = {arm: arm_settings(environ, homes[arm]) for arm in ARMS}
    base = settings["platform"]  # the platform arm continues in the home it trained in
    result: dict[str, object] = {
        "benchmark": "closed_loop",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "users": args.users,
        "pins": pins,
        "plan_days": args.plan_days,
    }
    seconds: dict[str, object] = {}
    result["seconds"] = seconds
    log = folder / "closed_loop.log"
    try:
        started = time.perf_counter()
        with stdout_to_stderr():
            cli.seed_history(base, args.today)
        seconds["history"] = round(time.perf_counter() - started, 1)
        with warehouse.connect(base, read_only=True) as con:
            (last,) = con.execute(
                f"select max(ds) from {domain.RAW_SCHEMA}.notifications"
            ).fetchone()
        seconds["training"] = train(base, {**environ, "NOTIFLOW_HOME": str(homes["platform"])},
                                    last - dt.timedelta(days=1), log)  # fmt: skip
        days = [last + dt.timedelta(days=k) for k in range(1, args.plan_days + 1)]
        result["planned_days"] = [str(days[0]), str(days[-1])]
        for arm in ("logging", "oracle"):
            for path in (base.warehouse_path, base.truth_path):
                target = (
                    settings[arm].warehouse_path
                    if path == base.warehouse_path
                    else (settings[arm].truth_path)
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)

        started = time.perf_counter()
        from notiflow import simulator

        with stdout_to_stderr():
            simulator.simulate(settings["logging"], days[0], len(days))
        seconds["logging"] = round(time.perf_counter() - started, 1)
        budgets = arm_outcomes(settings["logging"], days[0], days[-1])["sends_by_day"]

        platform_days, oracle_days = [], []
        for day, budget in zip(days, budgets, strict=True):
            day_settings = arm_settings(
                environ, homes["platform"], NOTIFLOW_PLAN_BUDGET=str(budget)
            )
            platform_days.append({"ds": str(day), **platform_day(day_settings, environ, day, log)})
            if day > days[0]:
                try:
                    evaluation = evaluate_day(day_settings, day - dt.timedelta(days=1))
                    platform_days[-2]["evaluation"] = evaluation
                except EvaluationError as exc:
                    platform_days[-2]["evaluation"] = {"skipped": str(exc)}
            oracle_days.append({"ds": str(day), **oracle_day(settings["oracle"], day, budget)})
            print(f"{day}: platform {platform_days[-1]}", file=sys.stderr, flush=True)
        result["platform_days"] = [
            {k: v for k, v in d.items() if k != "evaluation"} for d in platform_days
        ]
        result["oracle_days"] = oracle_days

        outcomes = {arm: arm_outcomes(settings[arm], days[0], days[-1]) for arm in ARMS}
        result["outcomes"] = outcomes
        coverage = []
        for d in platform_days:
            for compared in (d.get("evaluation") or {}).get("estimate_before", []):
                if compared["reward"] == "opens":
                    coverage.append({"ds": d["ds"], **compared})
        result["off_policy_vs_realized"] = coverage
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            result["home"] = str(folder)

    per = {arm: outcomes[arm]["per_eligible_user_per_day"] for arm in ARMS}
    lift = per["platform"]["expected_opens"] / per["logging"]["expected_opens"] - 1
    oracle_lift = per["oracle"]["expected_opens"] - per["logging"]["expected_opens"]
    share = (per["platform"]["expected_opens"] - per["logging"]["expected_opens"]) / oracle_lift
    by_estimator: dict[str, list[bool]] = {}
    for c in coverage:
        if c["covered"] is not None:
            by_estimator.setdefault(c["estimator"], []).append(c["covered"])
    result["summary"] = {
        "opens_lift_over_logging": round(lift, 4),
        "oracle_opens_lift_over_logging": round(oracle_lift / per["logging"]["expected_opens"], 4),
        "share_of_oracle_lift": round(share, 4),
        "volume_ratio_to_logging": {
            arm: round(per[arm]["sends"] / per["logging"]["sends"], 4) for arm in ARMS
        },
        "off_policy_coverage": {e: f"{sum(v)}/{len(v)}" for e, v in by_estimator.items()},
    }
    result["targets_met"] = {
        f"opens >= {1 + TARGET_LIFT:.2f} x logging": lift >= TARGET_LIFT,
        "unsubscribes <= logging": per["platform"]["expected_unsubscribes"]
        <= per["logging"]["expected_unsubscribes"],
        f"share of the oracle's lift >= {TARGET_ORACLE_SHARE}": share >= TARGET_ORACLE_SHARE,
        "off-policy interval covers on most days (snips)": bool(
            by_estimator.get("snips")
            and sum(by_estimator["snips"]) > len(by_estimator["snips"]) / 2
        ),
    }
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
