"""What a day's sends did: realized outcomes per user, by arm, beside the estimate made before.

Once day D's labels are mature (the ``daily_features`` run landing D + 1), the
``evaluate_policy`` task measures D from the marts, per user of D's snapshot:

* **arms**: ``holdout`` (the randomized notification holdout: nothing is sent to it,
  under any policy); on a planned day ``policy`` (the plan's exploit branch) and
  ``exploration`` (the users the plan explored at random, from the plan's assignment
  file); on a day the logging heuristic sent, ``policy`` is every user outside the
  holdout. ``eligible`` is every user outside the holdout: the whole policy, the
  population the estimate before sending estimated.
* **per user**: sends, opens and clicks within the attribution window (the engagement
  labels), channels unsubscribed from and organic pin events on D (from the snapshot
  of D + 1), and the share of users active on D (any organic event: the raw layer has
  no session id, so this is what "sessions" can be measured as).
* **the estimate before**: the off-policy estimates stored with the published plan, each
  with whether its interval covers the realized value.
* **fallback**: a day that was planned (a staged plan) but sent by the logging policy
  says so, with why (the plan gate stopped it, or it was never published).

The result goes to ``<planning_dir>/<D>/evaluation.json``; the plan report reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from notiflow import domain, warehouse
from notiflow.planning.plan import (
    ASSIGNMENT_FILE,
    PLAN_SUMMARY_FILE,
    POLICY_NAME,
    STAGED_SUMMARY_FILE,
    planning_dir,
    read_parquet,
    write_json,
)
from notiflow.settings import Settings

EVALUATION_FILE = "evaluation.json"
HOLDOUT, POLICY, EXPLORATION, ELIGIBLE = "holdout", "policy", "exploration", "eligible"
METRICS = ("sends", "opens", "clicks", "unsubscribes", "organic_events", "active")
# Off-policy rewards, by the realized metric they estimate.
ESTIMATED_REWARDS = ("opens", "clicks")


class EvaluationError(RuntimeError):
    """The day cannot be evaluated yet (named in the message)."""


def realized_outcomes(con, ds: dt.date) -> pd.DataFrame:
    """Per user of the snapshot of ``ds``: holdout flag and the day's outcomes
    (:data:`METRICS`). Raises while the day's labels are not mature."""
    examples = domain.mart_table(domain.ENGAGEMENT_EXAMPLES)
    (immature,) = con.execute(
        f"select count(*) filter (where not is_label_mature) from {examples} where ds = ?",
        [ds],
    ).fetchone()
    if immature:
        raise EvaluationError(
            f"{immature} sends of {ds} in {examples} have immature labels: {ds} is "
            f"evaluated once {ds + dt.timedelta(days=domain.LABEL_MATURITY_DAYS)} has landed"
        )
    # The next day's snapshot counts what happened on ``ds``: organic events in its 1-day
    # window, and the channels unsubscribed by then that were not the day before.
    newly_unsubscribed = " + ".join(
        f"cast(after.is_{c}_unsubscribed and not users.is_{c}_unsubscribed as bigint)"
        for c in domain.CHANNELS
    )
    user_features = domain.mart_table(domain.USER_FEATURES)
    return con.execute(
        f"""
        with sends as (
            select user_id, count(*) as sends, sum(opened_24h) as opens,
                   sum(clicked_24h) as clicks
            from {examples} where ds = ? group by user_id
        )
        select
            users.user_id,
            users.is_in_notification_holdout,
            coalesce(sends.sends, 0) as sends,
            coalesce(sends.opens, 0) as opens,
            coalesce(sends.clicks, 0) as clicks,
            {newly_unsubscribed} as unsubscribes,
            after.organic_events_1d as organic_events,
            after.organic_events_1d > 0 as active
        from {user_features} as users
        inner join {user_features} as after
            on after.user_id = users.user_id and after.ds = ?
        left join sends on sends.user_id = users.user_id
        where users.ds = ?
        order by users.user_id
        """,
        [ds, ds + dt.timedelta(days=1), ds],
    ).fetchdf()


def day_policy(con, ds: dt.date) -> str | None:
    """The policy that sent ``ds`` (the most sends), None on a day without sends."""
    row = con.execute(
        f"select policy from {domain.RAW_SCHEMA}.notifications where ds = ? "
        "group by policy order by count(*) desc limit 1",
        [ds],
    ).fetchone()
    return row[0] if row else None


def arm_summary(outcomes: pd.DataFrame, arms: pd.Series) -> dict[str, dict[str, float]]:
    """Per arm: users and the mean of every metric per user."""
    summary = {}
    for arm, rows in outcomes.groupby(arms, sort=True):
        summary[str(arm)] = {
            "users": len(rows),
            **{f"{m}_per_user": float(rows[m].astype(float).mean()) for m in METRICS},
        }
    return summary


def assign_arms(
    outcomes: pd.DataFrame, planned: bool, exploration_users: set[str]
) -> tuple[pd.Series, pd.Series]:
    """(arm of every user, whether the user is eligible: outside the holdout)."""
    held_out = outcomes["is_in_notification_holdout"].fillna(False).to_numpy(bool)
    explored = outcomes["user_id"].isin(exploration_users).to_numpy(bool) & planned
    arms = np.select([held_out, explored], [HOLDOUT, EXPLORATION], default=POLICY)
    return pd.Series(arms, index=outcomes.index), pd.Series(~held_out, index=outcomes.index)


def compare_with_estimate(estimates: list[dict], realized: dict[str, float]) -> list[dict]:
    """Each estimate made before sending beside the realized value per eligible user."""
    compared = []
    for estimate in estimates:
        reward = estimate.get("reward")
        if reward not in realized:
            continue
        value, lower, upper = (estimate.get(k) for k in ("value", "lower", "upper"))
        actual = realized[reward]
        compared.append(
            {
                "estimator": estimate["estimator"],
                "reward": reward,
                "estimate": value,
                "lower": lower,
                "upper": upper,
                "realized": actual,
                "covered": None if lower is None or upper is None else lower <= actual <= upper,
                "relative_error": None if not actual else (value - actual) / actual,
            }
        )
    return compared


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _plan_status(folder: Path, policy: str | None) -> tuple[dict | None, str | None]:
    """(the published plan summary, why the day fell back to the logging policy)."""
    published, staged = (_read_json(folder / f) for f in (PLAN_SUMMARY_FILE, STAGED_SUMMARY_FILE))
    if policy == POLICY_NAME:
        return published, None
    if published is not None:
        return published, f"the plan was published but the day was sent by {policy!r}"
    if staged is not None:
        return None, (
            f"the plan staged by run {staged.get('run_id')!r} was not published (its plan "
            f"gate did not pass): the day was sent by {policy!r}"
        )
    return None, None


def evaluate_day(settings: Settings, ds: dt.date) -> dict[str, Any]:
    """Measures day ``ds`` and writes ``evaluation.json`` next to its plan (if any)."""
    with warehouse.connect(settings, read_only=True) as con:
        outcomes = realized_outcomes(con, ds)
        policy = day_policy(con, ds)
    if outcomes.empty:
        raise EvaluationError(f"{domain.mart_table(domain.USER_FEATURES)} has no snapshot of {ds}")
    folder = planning_dir(settings, ds)
    published, fallback = _plan_status(folder, policy)
    planned = policy == POLICY_NAME
    exploration_users: set[str] = set()
    if planned and (folder / ASSIGNMENT_FILE).exists():
        assignment = read_parquet(folder / ASSIGNMENT_FILE)
        exploration_users = set(assignment.loc[assignment["is_exploration"], "user_id"])
    arms, eligible = assign_arms(outcomes, planned, exploration_users)
    summary = arm_summary(outcomes, arms)
    summary |= arm_summary(outcomes[eligible], arms[eligible].map(lambda _: ELIGIBLE))
    realized = {r: summary[ELIGIBLE][f"{r}_per_user"] for r in ESTIMATED_REWARDS}
    estimates = ((published or {}).get("off_policy") or {}).get("estimates") or []
    holdout = summary.get(HOLDOUT)
    result = {
        "ds": ds.isoformat(),
        "policy": policy,
        "planned": planned,
        "fallback": fallback,
        "arms": summary,
        "lift_over_holdout": None
        if holdout is None
        else {
            m: summary[ELIGIBLE][f"{m}_per_user"] - holdout[f"{m}_per_user"]
            for m in ("organic_events", "active")
        },
        "estimate_before": compare_with_estimate(estimates, realized),
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(folder / EVALUATION_FILE, result)
    return result
