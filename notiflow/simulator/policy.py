"""The logging policy: the heuristic that decides the sends of a day without a plan.

It favours users who opened something in the last week, backs off after recent
sends on a channel, sends at a fixed local hour per daily slot, and explores
with probability ε over both whether and when to send. Each send's propensity,
P(send in this slot) × P(this hour | send), is logged with it, so that a new
policy can be evaluated off-policy on these logs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from notiflow.domain import EMAIL_DIGEST_ITEMS
from notiflow.simulator.catalog import Catalog
from notiflow.simulator.sends import Sends
from notiflow.simulator.state import UserState
from notiflow.simulator.world import (
    CHANNELS,
    EMAIL,
    IN_APP,
    PUSH,
    SECONDS_PER_DAY,
    World,
    day_start_s,
    numbered_ids,
)

POLICY_NAME = "logging_heuristic"
# Per channel, one entry per daily slot: the local hour the heuristic sends at.
SLOT_HOURS = {PUSH: (12, 19), EMAIL: (8,), IN_APP: (20,)}
# Heuristic log-odds of using a slot, the bonus for users who opened within
# ENGAGED_DAYS, and the back-off per send on the channel in the last 7 days.
SEND_LOGIT = {PUSH: -0.9, EMAIL: -0.3, IN_APP: -1.1}
ENGAGED_DAYS = 7
ENGAGED_BONUS = 1.0
FATIGUE_BACKOFF = 0.08
# Content: a pin from the user's interests this often, else a popular pin.
INTEREST_SHARE = 0.6
MAX_REDRAWS = 10


def logging_policy(
    world: World,
    catalog: Catalog,
    state: UserState,
    sends_7d: np.ndarray,
    day: dt.date,
    g: np.random.Generator,
) -> Sends:
    """The day's sends: eligible users are outside the holdout, opted in and not unsubscribed."""
    eps = world.config.exploration
    engaged = state.days_since_last_open(day) <= ENGAGED_DAYS
    parts = []
    for channel in range(len(CHANNELS)):
        eligible = ~world.is_holdout & world.opted_in[:, channel] & ~state.unsubscribed[:, channel]
        users = np.flatnonzero(eligible)
        logit = (
            SEND_LOGIT[channel]
            + ENGAGED_BONUS * engaged[users]
            - FATIGUE_BACKOFF * sends_7d[users, channel]
        )
        p_send = (1 - eps) / (1 + np.exp(-logit)) + eps / 2
        for slot_hour in SLOT_HOURS[channel]:
            sent = g.random(len(users)) < p_send
            who = users[sent]
            n = len(who)
            hour = np.where(g.random(n) < eps, g.integers(0, 24, n), slot_hour)
            p_hour = np.where(hour == slot_hour, 1 - eps + eps / 24, eps / 24)
            local_s = hour * 3600 + g.integers(0, 3600, n)
            utc_s = (local_s - world.tz_offset_hours[who] * 3600) % SECONDS_PER_DAY
            width = EMAIL_DIGEST_ITEMS if channel == EMAIL else 1
            parts.append(
                Sends(
                    notification_id=np.empty(n, dtype=object),
                    user_idx=who,
                    channel=np.full(n, channel),
                    sent_s=day_start_s(day) + utc_s,
                    policy=np.full(n, POLICY_NAME, dtype=object),
                    propensity=p_send[sent] * p_hour,
                    items=choose_items(world, catalog, who, width, g),
                )
            )
    sends = Sends.concat(parts)
    sends = sends.take(np.lexsort((sends.channel, sends.user_idx, sends.sent_s)))
    ids = numbered_ids(f"n{day:%Y%m%d}-", np.arange(len(sends)), 7)
    return dataclasses.replace(sends, notification_id=ids)


def choose_items(
    world: World, catalog: Catalog, user_idx: np.ndarray, width: int, g: np.random.Generator
) -> np.ndarray:
    """``width`` distinct pins per user (users × width), from interests or popularity."""
    n = len(user_idx)
    owners = np.repeat(user_idx, width).reshape(n, width)
    items = _draw(world, catalog, owners.ravel(), g).reshape(n, width)
    for _ in range(MAX_REDRAWS):
        repeated = _repeats(items)
        if not repeated.any():
            return items
        items[repeated] = _draw(world, catalog, owners[repeated], g)
    # A tiny catalog: move what still repeats to the next pins until all differ.
    while (repeated := _repeats(items)).any():
        items[repeated] = (items[repeated] + 1) % len(catalog)
    return items


def _draw(world: World, catalog: Catalog, users: np.ndarray, g: np.random.Generator) -> np.ndarray:
    by_interest = g.random(len(users)) < INTEREST_SHARE
    from_interests = catalog.sample_in_topic(world.sample_topics(users, g), g)
    return np.where(by_interest, from_interests, catalog.sample_popular(len(users), g))


def _repeats(items: np.ndarray) -> np.ndarray:
    """True where a row's pin already appeared at an earlier position of that row."""
    same = items[:, :, None] == items[:, None, :]
    earlier = np.tri(items.shape[1], k=-1, dtype=bool)
    return (same & earlier).any(axis=2)
