"""What each user carries from one day into the next.

The state at the end of day D (drifting activity, last open, unsubscribes) is
persisted in the truth store together with each day's sends per user, from which
fatigue is counted. Day D+1 therefore needs nothing but the store: the daily DAG
simulates one day at a time and gets exactly what a one-call backfill produces.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from notiflow.simulator.world import CHANNELS, Stream, World, epoch_day, rng

# Log-activity follows an AR(1) around the user's base level.
ACTIVITY_PERSISTENCE = 0.9
ACTIVITY_SHOCK_SD = 0.1
ACTIVITY_DRIFT_SD = ACTIVITY_SHOCK_SD / np.sqrt(1 - ACTIVITY_PERSISTENCE**2)
# Days since the last open are counted up to this cap: the simulated users' memory (the
# world's ground truth), not the platform's feature cap (domain.DAYS_SINCE_CAP), so the two
# stay separate on purpose.
RECENCY_CAP_DAYS = 30
# Fatigue counts the sends of this many days before the day.
FATIGUE_WINDOW_DAYS = 7


@dataclasses.dataclass(frozen=True, eq=False)
class UserState:
    """Per user: ``activity_drift`` (log-multiplier of base activity), ``last_open_day``
    (days from 1970-01-01) and ``unsubscribed`` (users × channels)."""

    activity_drift: np.ndarray
    last_open_day: np.ndarray
    unsubscribed: np.ndarray

    @classmethod
    def initial(cls, world: World) -> UserState:
        """The state the evening before the first day: the world starts mid-life."""
        g = rng(world.config.seed, Stream.STATE)
        n = world.n_users
        # Active users opened something recently; the others long ago.
        p_daily_open = 0.02 + 0.3 * world.base_activity / (world.base_activity + 1.0)
        days_ago = g.geometric(p_daily_open)
        return cls(
            activity_drift=g.normal(0.0, ACTIVITY_DRIFT_SD, n),
            last_open_day=epoch_day(world.first_day) - days_ago,
            unsubscribed=np.zeros((n, len(CHANNELS)), dtype=bool),
        )

    def next_drift(self, world: World, day: dt.date) -> np.ndarray:
        """The activity drift of ``day``, one AR(1) step from this state's."""
        shock = rng(world.config.seed, Stream.STATE, day).normal(
            0.0, ACTIVITY_SHOCK_SD, world.n_users
        )
        return ACTIVITY_PERSISTENCE * self.activity_drift + shock

    def days_since_last_open(self, day: dt.date) -> np.ndarray:
        return np.minimum(epoch_day(day) - self.last_open_day, RECENCY_CAP_DAYS)

    def after(
        self,
        day: dt.date,
        drift: np.ndarray,
        opened_users: np.ndarray,
        unsubscribed_users: np.ndarray,
        unsubscribed_channels: np.ndarray,
    ) -> UserState:
        """The state at the end of ``day``, given the opens and unsubscribes that happened on it."""
        last_open = self.last_open_day.copy()
        last_open[opened_users] = epoch_day(day)
        unsubscribed = self.unsubscribed.copy()
        unsubscribed[unsubscribed_users, unsubscribed_channels] = True
        return UserState(activity_drift=drift, last_open_day=last_open, unsubscribed=unsubscribed)


def activity(world: World, drift: np.ndarray) -> np.ndarray:
    """Expected organic sessions of the day; the drift leaves the long-run mean at the base."""
    return world.base_activity * np.exp(drift - ACTIVITY_DRIFT_SD**2 / 2)
