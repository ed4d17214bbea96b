"""Organic behaviour: sessions driven by activity, and the pins users see and act on.

Each user has Poisson(activity) organic sessions a day, at local times drawn
from the user's active-hours profile. Each open of a notification adds a
session at the time of the open (surface ``notification``, starting on the
notified pin): notifications cause sessions that would not have happened, a real
and measurable lift against the holdout. A session shows a heavy-tailed number
of pins, drawn from the user's interests or from what is popular; closeups,
clicks and saves follow from the user's affinity to the pin's topic and its quality.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from notiflow.simulator.catalog import Catalog
from notiflow.simulator.response import sigmoid
from notiflow.simulator.sends import Columns, NotificationEvents
from notiflow.simulator.world import SECONDS_PER_DAY, World, day_start_s

SURFACES = ("home_feed", "search", "notification")
HOME_FEED, SEARCH, NOTIFICATION = range(len(SURFACES))
ENGAGEMENT_EVENT_TYPES = ("impression", "closeup", "click", "save")
IMPRESSION, CLOSEUP, CLICK, SAVE = range(len(ENGAGEMENT_EVENT_TYPES))

SEARCH_SHARE = 0.25  # of organic sessions
INTEREST_SHARE = np.array([0.65, 0.9, 0.65])  # per surface; else a popular pin
# Pins shown per session: 1 + negative binomial (heavy-tailed), this mean and shape.
MEAN_EXTRA_IMPRESSIONS = 5.0
IMPRESSIONS_SHAPE = 1.2
MEAN_GAP_S = 12.0  # between impressions of a session
CLOSEUP_LOGIT = -2.6
CLOSEUP_SEARCH_BONUS = 0.4
CLICK_LOGIT = -1.3  # given a closeup
SAVE_LOGIT = -1.6  # given a closeup


@dataclasses.dataclass(frozen=True, eq=False)
class EngagementEvents(Columns):
    user_idx: np.ndarray
    pin_idx: np.ndarray
    event_type: np.ndarray
    surface: np.ndarray
    ts: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class OrganicDay:
    events: EngagementEvents
    organic_sessions: np.ndarray  # per user
    induced_sessions: np.ndarray  # per user: sessions opened from a notification


def organic_day(
    world: World,
    catalog: Catalog,
    user_activity: np.ndarray,
    opens: NotificationEvents,
    day: dt.date,
    g: np.random.Generator,
) -> OrganicDay:
    """The day's sessions and engagement events; ``opens`` are the opens that happen on ``day``."""
    n_users = world.n_users
    organic = g.poisson(user_activity)
    org_user = np.repeat(np.arange(n_users), organic)
    local_h = world.peak_hour[org_user] + g.vonmises(0.0, world.hour_concentration[org_user]) * (
        24 / (2 * np.pi)
    )
    utc_s = (np.round(local_h * 3600).astype(np.int64) - world.tz_offset_hours[org_user] * 3600) % (
        SECONDS_PER_DAY
    )
    session_user = np.concatenate([org_user, opens.user_idx])
    session_start = np.concatenate([day_start_s(day) + utc_s, opens.ts])
    session_surface = np.concatenate(
        [np.where(g.random(len(org_user)) < SEARCH_SHARE, SEARCH, HOME_FEED),
         np.full(len(opens), NOTIFICATION)]
    )  # fmt: skip
    landing_pin = np.concatenate([np.full(len(org_user), -1), opens.pin_idx])

    # Impressions: a heavy-tailed number per session, a few seconds apart.
    p = IMPRESSIONS_SHAPE / (IMPRESSIONS_SHAPE + MEAN_EXTRA_IMPRESSIONS)
    shown = 1 + g.negative_binomial(IMPRESSIONS_SHAPE, p, len(session_user))
    session = np.repeat(np.arange(len(session_user)), shown)
    first = np.cumsum(shown) - shown
    is_first = np.zeros(len(session), dtype=bool)
    is_first[first] = True
    gaps = 2 + g.exponential(MEAN_GAP_S, len(session))
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], shown)
    end_s = day_start_s(day) + SECONDS_PER_DAY - 1
    imp_ts = np.minimum(session_start[session] + np.round(elapsed).astype(np.int64), end_s)
    user = session_user[session]
    surface = session_surface[session]
    by_interest = g.random(len(session)) < INTEREST_SHARE[surface]
    pin = np.where(
        by_interest,
        catalog.sample_in_topic(world.sample_topics(user, g), g),
        catalog.sample_popular(len(session), g),
    )
    # A session opened from a notification starts on the notified pin, in closeup.
    lands = is_first & (landing_pin[session] >= 0)
    pin = np.where(lands, landing_pin[session], pin)

    affinity_term = 0.5 * np.log(world.affinity(user, catalog.topic[pin]) + 0.1)
    quality_z = catalog.quality_z(pin)
    p_closeup = sigmoid(
        CLOSEUP_LOGIT + affinity_term + 0.4 * quality_z + CLOSEUP_SEARCH_BONUS * (surface == SEARCH)
    )
    closeup = lands | (g.random(len(pin)) < p_closeup)
    clicked = closeup & (g.random(len(pin)) < sigmoid(CLICK_LOGIT + 0.4 * quality_z))
    saved = closeup & (g.random(len(pin)) < sigmoid(SAVE_LOGIT + affinity_term + 0.4 * quality_z))
    closeup_ts = np.minimum(imp_ts + g.integers(2, 15, len(pin)), end_s)

    def events(mask: np.ndarray, event_type: int, ts: np.ndarray) -> EngagementEvents:
        return EngagementEvents(
            user_idx=user[mask],
            pin_idx=pin[mask],
            event_type=np.full(int(mask.sum()), event_type),
            surface=surface[mask],
            ts=ts[mask],
        )

    after_closeup = np.minimum(closeup_ts + g.integers(3, 40, len(pin)), end_s)
    return OrganicDay(
        events=EngagementEvents.concat(
            [
                events(np.ones(len(pin), dtype=bool), IMPRESSION, imp_ts),
                events(closeup, CLOSEUP, closeup_ts),
                events(clicked, CLICK, after_closeup),
                events(saved, SAVE, after_closeup),
            ]
        ),
        organic_sessions=organic,
        induced_sessions=np.bincount(opens.user_idx, minlength=n_users),
    )
