"""One day of the world: who gets what, what they do, what is logged and what is kept."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from notiflow.simulator import logs, truth
from notiflow.simulator.catalog import Catalog
from notiflow.simulator.organic import organic_day
from notiflow.simulator.plan import drops_frame, execute_plan
from notiflow.simulator.policy import logging_policy
from notiflow.simulator.response import respond
from notiflow.simulator.sends import OPEN, UNSUBSCRIBE, NotificationEvents
from notiflow.simulator.state import UserState, activity
from notiflow.simulator.world import SECONDS_PER_DAY, Stream, World, day_start_s, rng


@dataclasses.dataclass(frozen=True, eq=False)
class DayInputs:
    """Everything a day depends on besides its random streams."""

    world: World
    catalog: Catalog  # as of the day
    state: UserState  # at the end of the day before
    sends_7d: np.ndarray  # users × channels, in the 7 days before
    pending: NotificationEvents  # events of earlier sends that happen on the day
    plan: pd.DataFrame | None  # the day's notification plan, if any


@dataclasses.dataclass(frozen=True, eq=False)
class DayResult:
    raw: dict[str, pd.DataFrame]  # the day's partition of each raw table
    truth: dict[str, pd.DataFrame]  # the day's partition of each truth table
    state: UserState  # at the end of the day
    n_sends: int


def simulate_day(inputs: DayInputs, day: dt.date) -> DayResult:
    world, catalog, state = inputs.world, inputs.catalog, inputs.state
    seed = world.config.seed
    drift = state.next_drift(world, day)
    user_activity = activity(world, drift)
    if inputs.plan is None:
        sends = logging_policy(
            world, catalog, state, inputs.sends_7d, day, rng(seed, Stream.POLICY, day)
        )
        drops = drops_frame(np.array([]), np.array([]), np.array([]), np.array([]), day)
    else:
        execution = execute_plan(inputs.plan, world, catalog, state, day)
        sends, drops = execution.sends, execution.drops
    outcome = respond(
        world, catalog, sends, user_activity, state, inputs.sends_7d, day,
        rng(seed, Stream.RESPONSE, day),
    )  # fmt: skip

    # Events are logged on the day they happen; later ones wait in the truth store.
    events = NotificationEvents.concat([inputs.pending, outcome.events])
    today = events.ts < day_start_s(day) + SECONDS_PER_DAY
    happened = events.take(np.flatnonzero(today))
    later = events.take(np.flatnonzero(~today))
    opens = happened.take(np.flatnonzero(happened.event_type == OPEN))
    unsubscribes = happened.take(np.flatnonzero(happened.event_type == UNSUBSCRIBE))

    organic = organic_day(world, catalog, user_activity, opens, day, rng(seed, Stream.ORGANIC, day))
    end_state = state.after(day, drift, opens.user_idx, unsubscribes.user_idx, unsubscribes.channel)
    raw = {
        "pins": catalog.newest.raw_frame(),
        "engagement_events": logs.engagement_events(world, catalog, organic.events, day),
        "notifications": logs.notifications(world, sends, day),
        "notification_items": logs.notification_items(catalog, sends, day),
        "notification_events": logs.notification_events(happened, day),
        "notification_plan_drops": drops,
    }
    kept = truth.day_frames(
        world,
        catalog,
        day,
        sends,
        outcome,
        user_activity,
        organic,
        opens.user_idx,
        end_state,
        later,
    )
    return DayResult(raw=raw, truth=kept, state=end_state, n_sends=len(sends))
