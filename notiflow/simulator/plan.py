"""Plan execution: on a day with a notification plan, the world sends exactly that plan.

The plan (contract: :data:`notiflow.contracts.PLAN_COLUMNS`) replaces the logging
policy for its day; sends keep the plan's ids, times, items, policy name and
propensities. The world refuses, and records with the reason, what it must not
send: anything to a user of the randomized holdout (so the experiment stays
clean whatever the planner does), on a channel the user never opted in to, or
on a channel the user has unsubscribed from. A plan that breaks its contract
(unknown users or pins, positions with gaps, a send outside its day...) is
refused whole, naming every problem: sending half a broken plan helps nobody.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from notiflow.simulator.catalog import Catalog
from notiflow.simulator.sends import NO_ITEM, Sends
from notiflow.simulator.state import UserState
from notiflow.simulator.world import CHANNELS, EMAIL, SECONDS_PER_DAY, World, day_start_s

DROP_REASONS = ("holdout", "opted_out", "unsubscribed")
# Columns that describe the notification, equal on all rows (items) of one.
NOTIFICATION_COLUMNS = ("user_id", "channel", "send_ts", "policy", "propensity")


class PlanContractError(ValueError):
    """The notification plan of a day breaks its contract; nothing of it was sent."""


@dataclasses.dataclass(frozen=True, eq=False)
class PlanExecution:
    sends: Sends
    drops: pd.DataFrame  # the raw notification_plan_drops rows of the day


def execute_plan(
    plan: pd.DataFrame, world: World, catalog: Catalog, state: UserState, day: dt.date
) -> PlanExecution:
    """The sends of ``plan`` the world may make, and the ones it drops (with reasons)."""
    plan = plan.sort_values(["notification_id", "position"], kind="stable", ignore_index=True)
    user_idx = pd.Index(world.user_id).get_indexer(plan["user_id"])
    pin_idx = catalog.index_of(plan["pin_id"].to_numpy())
    channel = pd.Index(CHANNELS).get_indexer(plan["channel"])
    sent_s = plan["send_ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    problems = _violations(plan, user_idx, pin_idx, channel, sent_s, day)
    if problems:
        raise PlanContractError(f"notification plan of {day}: " + "; ".join(problems))

    key, ids = pd.factorize(plan["notification_id"])
    head = np.flatnonzero(plan["position"].to_numpy() == 1)
    items = np.full((len(ids), int(plan["position"].max())), NO_ITEM)
    items[key, plan["position"].to_numpy() - 1] = pin_idx
    sends = Sends(
        notification_id=np.asarray(ids, dtype=object),
        user_idx=user_idx[head],
        channel=channel[head],
        sent_s=sent_s[head],
        policy=plan["policy"].to_numpy(dtype=object)[head],
        propensity=plan["propensity"].to_numpy(dtype=np.float64)[head],
        items=items,
    )
    u, c = sends.user_idx, sends.channel
    reason = np.select(
        [world.is_holdout[u], ~world.opted_in[u, c], state.unsubscribed[u, c]],
        list(DROP_REASONS),
        default="",
    )
    dropped = reason != ""
    drops = drops_frame(
        sends.notification_id[dropped], world.user_id[u[dropped]], c[dropped], reason[dropped], day
    )
    return PlanExecution(sends=sends.take(np.flatnonzero(~dropped)), drops=drops)


def drops_frame(
    notification_id: np.ndarray,
    user_id: np.ndarray,
    channel: np.ndarray,
    reason: np.ndarray,
    day: dt.date,
) -> pd.DataFrame:
    """The raw ``notification_plan_drops`` rows of a day (empty on days without a plan)."""
    return pd.DataFrame(
        {
            "notification_id": np.asarray(notification_id, dtype=object),
            "user_id": np.asarray(user_id, dtype=object),
            "channel": np.asarray(CHANNELS, dtype=object)[np.asarray(channel, dtype=np.int64)],
            "reason": np.asarray(reason, dtype=object),
            "ds": np.full(len(notification_id), np.datetime64(day, "D")),
        }
    )


def _violations(
    plan: pd.DataFrame,
    user_idx: np.ndarray,
    pin_idx: np.ndarray,
    channel: np.ndarray,
    sent_s: np.ndarray,
    day: dt.date,
) -> list[str]:
    """Every way the plan breaks its contract, each with a count and an example."""
    ids = plan["notification_id"]
    position = plan["position"].to_numpy()
    n_items = plan.groupby("notification_id", sort=False)["position"].transform("size").to_numpy()
    start = day_start_s(day)
    checks = {
        "null values": plan.isna().any(axis=1).to_numpy(),
        "unknown user_id": user_idx < 0,
        f"channel not in {list(CHANNELS)}": channel < 0,
        "pin_id not in the catalog": pin_idx < 0,
        f"send_ts outside {day}": (sent_s < start) | (sent_s >= start + SECONDS_PER_DAY),
        "propensity outside (0, 1]": ~(
            (plan["propensity"] > 0) & (plan["propensity"] <= 1)
        ).to_numpy(),
        "positions not 1..K without gaps or repeats": position
        != plan.groupby("notification_id", sort=False).cumcount().to_numpy() + 1,
        "push or in-app notification with more than one item": (channel != EMAIL) & (n_items > 1),
    }
    varying = plan.groupby("notification_id", sort=False)[list(NOTIFICATION_COLUMNS)].transform(
        "nunique", dropna=False
    )
    checks[f"{'/'.join(NOTIFICATION_COLUMNS)} differ between items of one notification"] = (
        (varying > 1).any(axis=1).to_numpy()
    )
    return [
        f"{name}: {int(bad.sum())} rows (e.g. notification_id {ids[bad].iloc[0]!r})"
        for name, bad in checks.items()
        if bad.any()
    ]
