"""The ground-truth response model: how users react to the notifications they get.

P(open) is logistic in the channel, the local send hour against the user's
active hours, the user's activity that day and responsiveness, the affinity to
and quality of the top item, the days since the user's last open and fatigue
(sends in the 7 days before). Given an open, each item is clicked with a
probability from its affinity and quality, discounted by its position.
Unsubscribing rises with the recent sends on the channel. These probabilities
are stored as truth: the bound that no model of the logged data can beat.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from notiflow.domain import ATTRIBUTION_WINDOW_HOURS
from notiflow.simulator.catalog import Catalog
from notiflow.simulator.sends import (
    CLICK,
    DELIVERED,
    DISMISS,
    NO_ITEM,
    OPEN,
    UNSUBSCRIBE,
    NotificationEvents,
    Sends,
)
from notiflow.simulator.state import UserState
from notiflow.simulator.world import CHANNELS, EMAIL, IN_APP, MEDIAN_ACTIVITY, PUSH, World


@dataclasses.dataclass(frozen=True)
class ChannelResponse:
    open_logit: float  # log-odds of opening a delivered notification, all else average
    delivery_rate: float
    mean_open_delay_h: float
    click_logit: float  # log-odds of clicking the top item of an opened notification
    unsubscribe_logit: float  # -inf: the channel has no unsubscribe
    dismiss_rate: float  # of delivered, unopened notifications


CHANNEL_RESPONSE = {
    PUSH: ChannelResponse(-2.9, 0.96, 1.0, -0.7, -7.4, 0.4),
    EMAIL: ChannelResponse(-0.75, 0.98, 6.0, -3.4, -6.6, 0.0),
    IN_APP: ChannelResponse(-2.1, 1.0, 3.0, -0.9, -np.inf, 0.25),
}
HOUR_WEIGHT = 0.9  # × cos(send hour − peak hour), scaled by how concentrated the user's hours are
MEAN_HOUR_CONCENTRATION = 1.9
ACTIVITY_WEIGHT = 0.5  # × log(activity / median activity)
AFFINITY_WEIGHT = 0.35  # × log(affinity + 0.1), affinity 1 = indifferent
QUALITY_WEIGHT = 0.25  # per standard deviation of pin quality
RECENCY_WEIGHT = -0.35  # × log(1 + days since the last open)
FATIGUE_WEIGHT = -0.06  # per send on any channel in the 7 days before
CLICK_AFFINITY_WEIGHT = 0.5
CLICK_QUALITY_WEIGHT = 0.4
POSITION_DECAY = 0.8  # examination of position k: k ** -POSITION_DECAY
UNSUBSCRIBE_FATIGUE_WEIGHT = 0.15  # per send on the channel in the 7 days before
# Events happen at most this long after the send (opens are truncated exponentials).
MAX_DELAY_H = 48
# The truth store's P(open within the label window) matches the platform's label.
LABEL_WINDOW_H = ATTRIBUTION_WINDOW_HOURS
DISMISS_MEAN_DELAY_H = 2.0


@dataclasses.dataclass(frozen=True, eq=False)
class Outcome:
    """What a day's sends caused, and the probabilities they were drawn with."""

    local_hour: np.ndarray
    sends_7d: np.ndarray
    days_since_last_open: np.ndarray
    p_open: np.ndarray
    p_open_24h: np.ndarray
    p_unsubscribe: np.ndarray
    p_click_given_open: np.ndarray  # sends × positions, 0 where there is no item
    is_opened: np.ndarray
    is_clicked: np.ndarray  # sends × positions
    is_unsubscribed: np.ndarray
    events: NotificationEvents


def open_logit(
    channel: np.ndarray,
    local_hour: np.ndarray,
    peak_hour: np.ndarray,
    hour_concentration: np.ndarray,
    activity: np.ndarray,
    responsiveness: np.ndarray,
    affinity: np.ndarray,
    quality_z: np.ndarray,
    days_since_last_open: np.ndarray,
    sends_7d: np.ndarray,
) -> np.ndarray:
    """Log-odds that a delivered notification is opened (within the 48 h it can be)."""
    base = np.array([CHANNEL_RESPONSE[c].open_logit for c in range(len(CHANNELS))])[channel]
    hour_match = np.cos(2 * np.pi * (local_hour + 0.5 - peak_hour) / 24)
    return (
        base
        + HOUR_WEIGHT * hour_concentration / MEAN_HOUR_CONCENTRATION * hour_match
        + ACTIVITY_WEIGHT * np.log(activity / MEDIAN_ACTIVITY)
        + responsiveness
        + AFFINITY_WEIGHT * np.log(affinity + 0.1)
        + QUALITY_WEIGHT * quality_z
        + RECENCY_WEIGHT * np.log1p(days_since_last_open)
        + FATIGUE_WEIGHT * sends_7d
    )


def respond(
    world: World,
    catalog: Catalog,
    sends: Sends,
    user_activity: np.ndarray,
    state: UserState,
    sends_7d: np.ndarray,
    day: dt.date,
    g: np.random.Generator,
) -> Outcome:
    """Draw the outcome of every send from the ground-truth probabilities."""
    n, width = sends.items.shape
    u, c = sends.user_idx, sends.channel
    has_item = sends.items != NO_ITEM
    item = np.where(has_item, sends.items, 0)
    affinity = world.affinity(u[:, None], catalog.topic[item])
    quality_z = catalog.quality_z(item)
    local_hour = world.local_hour(u, sends.sent_s)
    recency = state.days_since_last_open(day)[u]
    fatigue = sends_7d[u].sum(axis=1)

    delivery = _per_channel("delivery_rate")[c]
    p_open_if_delivered = sigmoid(
        open_logit(
            c, local_hour, world.peak_hour[u], world.hour_concentration[u], user_activity[u],
            world.responsiveness[u], affinity[:, 0], quality_z[:, 0], recency, fatigue,
        )
    )  # fmt: skip
    mean_delay = _per_channel("mean_open_delay_h")[c]
    click_logit = (
        _per_channel("click_logit")[c][:, None]
        + CLICK_AFFINITY_WEIGHT * np.log(affinity + 0.1)
        + CLICK_QUALITY_WEIGHT * quality_z
    )
    examination = np.arange(1, width + 1) ** -POSITION_DECAY
    p_click = np.where(has_item, sigmoid(click_logit) * examination, 0.0)
    p_unsubscribe_if_delivered = sigmoid(
        _per_channel("unsubscribe_logit")[c]
        + np.log(world.unsubscribe_propensity[u])
        + UNSUBSCRIBE_FATIGUE_WEIGHT * sends_7d[u, c]
    )

    delivered = g.random(n) < delivery
    opened = delivered & (g.random(n) < p_open_if_delivered)
    clicked = opened[:, None] & (g.random((n, width)) < p_click)
    unsubscribed = delivered & (g.random(n) < p_unsubscribe_if_delivered)
    dismissed = delivered & ~opened & (g.random(n) < _per_channel("dismiss_rate")[c])

    open_s = sends.sent_s + _delay_s(g, mean_delay)
    dismiss_s = sends.sent_s + _delay_s(g, np.full(n, DISMISS_MEAN_DELAY_H))
    unsubscribe_s = np.where(opened, open_s, sends.sent_s) + g.integers(30, 3600, n)
    d, o, x, un = (np.flatnonzero(m) for m in (delivered, opened, dismissed, unsubscribed))
    rows, cols = np.nonzero(clicked)
    events = NotificationEvents.concat(
        [
            _events(sends, d, DELIVERED, sends.sent_s[d] + g.integers(1, 30, len(d))),
            _events(sends, o, OPEN, open_s[o], pin_idx=item[o, 0]),
            _events(
                sends, rows, CLICK, open_s[rows] + 30 * cols + g.integers(5, 60, len(rows)),
                position=cols + 1, pin_idx=item[rows, cols],
            ),
            _events(sends, x, DISMISS, dismiss_s[x]),
            _events(sends, un, UNSUBSCRIBE, unsubscribe_s[un]),
        ]
    )  # fmt: skip
    return Outcome(
        local_hour=local_hour,
        sends_7d=fatigue,
        days_since_last_open=recency,
        p_open=delivery * p_open_if_delivered,
        p_open_24h=delivery * p_open_if_delivered * _truncated_exp_cdf(LABEL_WINDOW_H, mean_delay),
        p_unsubscribe=delivery * p_unsubscribe_if_delivered,
        p_click_given_open=p_click,
        is_opened=opened,
        is_clicked=clicked,
        is_unsubscribed=unsubscribed,
        events=events,
    )


def send_probabilities(
    world: World,
    catalog: Catalog,
    state: UserState,
    user_activity: np.ndarray,
    sends_7d: np.ndarray,
    day: dt.date,
    user_idx: np.ndarray,
    channel: np.ndarray,
    local_hour: np.ndarray,
    top_item: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(P(open within the label window), P(unsubscribe)) of hypothetical sends of ``day``
    (one per entry, carrying ``top_item`` on top), exactly as :func:`respond` would draw
    them: what an oracle planner knows (``bench/closed_loop.py``)."""
    u, c = user_idx, channel
    p_open_if_delivered = sigmoid(
        open_logit(
            c, local_hour, world.peak_hour[u], world.hour_concentration[u], user_activity[u],
            world.responsiveness[u], world.affinity(u, catalog.topic[top_item]),
            catalog.quality_z(top_item), state.days_since_last_open(day)[u],
            sends_7d[u].sum(axis=1),
        )
    )  # fmt: skip
    delivery = _per_channel("delivery_rate")[c]
    window = _truncated_exp_cdf(LABEL_WINDOW_H, _per_channel("mean_open_delay_h")[c])
    p_unsubscribe = sigmoid(
        _per_channel("unsubscribe_logit")[c]
        + np.log(world.unsubscribe_propensity[u])
        + UNSUBSCRIBE_FATIGUE_WEIGHT * sends_7d[u, c]
    )
    return delivery * p_open_if_delivered * window, delivery * p_unsubscribe


def _events(
    sends: Sends,
    rows: np.ndarray,
    event_type: int,
    ts: np.ndarray,
    *,
    position: np.ndarray | None = None,
    pin_idx: np.ndarray | None = None,
) -> NotificationEvents:
    """Events of ``event_type`` of the sends at ``rows``; the other arrays are per row."""
    k = len(rows)
    return NotificationEvents(
        notification_id=sends.notification_id[rows],
        user_idx=sends.user_idx[rows],
        channel=sends.channel[rows],
        event_type=np.full(k, event_type),
        position=np.zeros(k, dtype=np.int64) if position is None else position,
        pin_idx=np.full(k, NO_ITEM) if pin_idx is None else pin_idx,
        ts=ts,
    )


def _per_channel(field: str) -> np.ndarray:
    """One response parameter for every channel, indexable by channel number."""
    return np.array([getattr(CHANNEL_RESPONSE[c], field) for c in range(len(CHANNELS))])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _truncated_exp_cdf(hours: float, mean_h: np.ndarray) -> np.ndarray:
    """P(delay <= hours) for an exponential delay truncated at MAX_DELAY_H."""
    return (1 - np.exp(-hours / mean_h)) / (1 - np.exp(-MAX_DELAY_H / mean_h))


def _delay_s(g: np.random.Generator, mean_h: np.ndarray) -> np.ndarray:
    """Delays in seconds: exponential with the given means (hours), truncated at MAX_DELAY_H."""
    hours = -mean_h * np.log1p(-g.random(len(mean_h)) * (1 - np.exp(-MAX_DELAY_H / mean_h)))
    return np.round(hours * 3600).astype(np.int64)
