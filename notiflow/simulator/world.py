"""The world's users and their latent traits, derived from the world's configuration.

A world is identified by its :class:`WorldConfig` and its first day. Everything
in this module is a pure function of those, so any process (the daily DAG, a
backfill, a test) rebuilds exactly the same users; what changes from day to day
lives in :mod:`notiflow.simulator.state`.

Random numbers come from one generator per (seed, stream, day) (:func:`rng`):
changing how one part of the world draws never shifts the draws of another,
and any day can be produced without replaying the random draws of the days before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import IntEnum
from functools import cached_property

import numpy as np
import pandas as pd

from notiflow import domain

CHANNELS = domain.CHANNELS
# The simulator indexes its arrays (users x channels, a send's channel) by position in
# CHANNELS.
PUSH, EMAIL, IN_APP = (CHANNELS.index(c) for c in (domain.PUSH, domain.EMAIL, domain.IN_APP))
TOPICS = (
    "architecture", "art", "beauty", "cars", "crafts", "diy", "education", "fashion",
    "fitness", "food", "gaming", "gardening", "hair", "home_decor", "kids", "outdoors",
    "pets", "photography", "quotes", "tattoos", "tech", "travel", "weddings", "wellness",
)  # fmt: skip
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "JP", "IN", "CA")
COUNTRY_SHARE = (0.40, 0.10, 0.10, 0.08, 0.12, 0.06, 0.09, 0.05)
# Offsets a user of the country may have (hours from UTC); large countries span several.
COUNTRY_TZ = {
    "US": (-5, -6, -7, -8), "GB": (0,), "DE": (1,), "FR": (1,), "BR": (-3,),
    "JP": (9,), "IN": (5,), "CA": (-5, -6, -8),
}  # fmt: skip
PLATFORMS = ("ios", "android", "web")
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55+")

SECONDS_PER_DAY = 86_400
UNIX_EPOCH = dt.date(1970, 1, 1)
# Median organic sessions per user and day; the activity term of the response model
# is relative to it.
MEDIAN_ACTIVITY = 0.35


class Stream(IntEnum):
    """Independent random streams, one per part of the world."""

    USERS = 0
    PINS = 1
    STATE = 2
    POLICY = 3
    RESPONSE = 4
    ORGANIC = 5
    FAULTS = 6


def rng(seed: int, stream: Stream, day: dt.date | None = None) -> np.random.Generator:
    """The generator of one stream on one day (``day=None``: the world's creation)."""
    key = [seed, int(stream)] + ([] if day is None else [day.toordinal()])
    return np.random.default_rng(key)


def epoch_day(day: dt.date) -> int:
    """Days from 1970-01-01: how days are stored in the world's arrays."""
    return (day - UNIX_EPOCH).days


def day_start_s(day: dt.date) -> int:
    """Seconds from the Unix epoch to 00:00 UTC of ``day``."""
    return epoch_day(day) * SECONDS_PER_DAY


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """What makes a world: the same config and first day give the same world."""

    seed: int
    n_users: int
    n_pins: int
    holdout_share: float
    exploration: float

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.n_users < 1:
            raise ValueError(f"users must be >= 1, got {self.n_users}")
        if self.n_pins < len(TOPICS):
            raise ValueError(f"pins must be >= {len(TOPICS)} (one per topic), got {self.n_pins}")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError(f"holdout share must be in [0, 1), got {self.holdout_share}")
        if not 0.0 < self.exploration <= 1.0:
            raise ValueError(f"exploration must be in (0, 1], got {self.exploration}")


@dataclasses.dataclass(frozen=True, eq=False)
class World:
    """The users of a world: their public profile and their latent traits.

    Latents (never logged, kept in the truth store): ``base_activity`` (expected
    organic sessions per day, heavy-tailed), ``peak_hour`` and
    ``hour_concentration`` (a von Mises profile of active local hours),
    ``interests`` (Dirichlet over topics), ``responsiveness`` (a user effect on
    opening notifications), ``unsubscribe_propensity`` and the randomized holdout.
    """

    config: WorldConfig
    first_day: dt.date
    user_id: np.ndarray
    signup_s: np.ndarray
    country: np.ndarray
    platform: np.ndarray
    age_bucket: np.ndarray
    tz_offset_hours: np.ndarray
    opted_in: np.ndarray  # (users, channels); in-app needs no opt-in
    base_activity: np.ndarray
    peak_hour: np.ndarray
    hour_concentration: np.ndarray
    interests: np.ndarray  # (users, topics), rows sum to 1
    responsiveness: np.ndarray
    unsubscribe_propensity: np.ndarray
    is_holdout: np.ndarray

    @classmethod
    def create(cls, config: WorldConfig, first_day: dt.date) -> World:
        n = config.n_users
        g = rng(config.seed, Stream.USERS)
        country_idx = g.choice(len(COUNTRIES), n, p=COUNTRY_SHARE)
        tz_choice = g.random(n)
        tz_offset = _country_tz(country_idx, tz_choice)
        platform = g.choice(len(PLATFORMS), n, p=[0.45, 0.40, 0.15])
        # Web push is rare; mobile users mostly accept push. Channels without an opt-in
        # (in-app) reach everyone.
        push_rate = np.where(platform == PLATFORMS.index("web"), 0.25, 0.65)
        opt_in_rate = {PUSH: push_rate, EMAIL: 0.8}
        opted_in = np.stack(
            [
                g.random(n) < opt_in_rate[c]
                if CHANNELS[c] in domain.OPT_IN_CHANNELS
                else np.ones(n, dtype=bool)
                for c in range(len(CHANNELS))
            ],
            axis=1,
        )
        first_s = day_start_s(first_day)
        return cls(
            config=config,
            first_day=first_day,
            user_id=numbered_ids("u", np.arange(n), 7),
            signup_s=first_s - g.integers(0, 730 * SECONDS_PER_DAY, n),
            country=np.asarray(COUNTRIES, dtype=object)[country_idx],
            platform=np.asarray(PLATFORMS, dtype=object)[platform],
            age_bucket=np.asarray(AGE_BUCKETS, dtype=object)[g.integers(0, len(AGE_BUCKETS), n)],
            tz_offset_hours=tz_offset,
            opted_in=opted_in,
            base_activity=np.minimum(MEDIAN_ACTIVITY * np.exp(g.normal(0.0, 1.0, n)), 20.0),
            # Most people are active in the evening, some at lunch or in the morning.
            peak_hour=(g.choice([20.5, 12.5, 8.0], n, p=[0.6, 0.25, 0.15]) + g.normal(0, 1.5, n))
            % 24,
            hour_concentration=g.uniform(0.8, 3.0, n),
            interests=g.dirichlet(np.full(len(TOPICS), 0.25), n),
            responsiveness=g.normal(0.0, 0.6, n),
            unsubscribe_propensity=np.exp(g.normal(0.0, 0.8, n)),
            is_holdout=g.random(n) < config.holdout_share,
        )

    @property
    def n_users(self) -> int:
        return len(self.user_id)

    def users_frame(self) -> pd.DataFrame:
        """The raw ``users`` table: what the platform knows about its users."""
        return pd.DataFrame(
            {
                "user_id": self.user_id,
                "signup_ts": self.signup_s.astype("datetime64[s]"),
                "country": self.country,
                "platform": self.platform,
                "age_bucket": self.age_bucket,
                "tz_offset_hours": self.tz_offset_hours.astype(np.int32),
                **{
                    f"{channel}_opt_in": self.opted_in[:, CHANNELS.index(channel)]
                    for channel in domain.OPT_IN_CHANNELS
                },
            }
        )

    def assignments_frame(self) -> pd.DataFrame:
        """The raw ``experiment_assignments``: every user's group of the notification
        holdout, assigned at signup."""
        return pd.DataFrame(
            {
                "user_id": self.user_id,
                "experiment": domain.HOLDOUT_EXPERIMENT,
                "group_name": np.where(
                    self.is_holdout, domain.HOLDOUT_GROUP, domain.TREATMENT_GROUP
                ).astype(object),
                "assigned_ts": self.signup_s.astype("datetime64[s]"),
            }
        )

    def latents_frame(self) -> pd.DataFrame:
        """The users' latent traits, for the truth store."""
        return pd.DataFrame(
            {
                "user_idx": np.arange(self.n_users, dtype=np.int32),
                "user_id": self.user_id,
                "base_activity": self.base_activity,
                "peak_hour": self.peak_hour,
                "hour_concentration": self.hour_concentration,
                "responsiveness": self.responsiveness,
                "unsubscribe_propensity": self.unsubscribe_propensity,
                "is_holdout": self.is_holdout,
                **{f"interest_{t}": self.interests[:, i] for i, t in enumerate(TOPICS)},
            }
        )

    def affinity(self, user_idx: np.ndarray, topic: np.ndarray) -> np.ndarray:
        """Interest of each user in each topic relative to indifference (1 = 1/len(TOPICS))."""
        return self.interests[user_idx, topic] * len(TOPICS)

    def sample_topics(self, user_idx: np.ndarray, g: np.random.Generator) -> np.ndarray:
        """One topic per entry of ``user_idx``, drawn from that user's interests."""
        flat = self._interest_cdf
        u = user_idx.astype(np.float64)
        hit = np.searchsorted(flat, u + g.random(len(user_idx)), side="right")
        return np.minimum(hit - user_idx * len(TOPICS), len(TOPICS) - 1)

    def local_hour(self, user_idx: np.ndarray, utc_s: np.ndarray) -> np.ndarray:
        """The recipient's local hour (0-23) at UTC time ``utc_s``."""
        return ((utc_s // 3600) + self.tz_offset_hours[user_idx]) % 24

    @cached_property
    def _interest_cdf(self) -> np.ndarray:
        # Each user's cumulative interests shifted by the user's index, flattened:
        # one sorted array, so a single searchsorted samples every user's own topic.
        cdf = np.cumsum(self.interests, axis=1)
        cdf[:, -1] = 1.0
        return (cdf + np.arange(self.n_users)[:, None]).ravel()


def numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Ids like ``u0000042`` for many numbers at once (vectorised string building)."""
    digits = np.strings.zfill(numbers.astype(np.dtypes.StringDType()), width)
    return np.strings.add(prefix, digits).astype(object)


def _country_tz(country_idx: np.ndarray, choice: np.ndarray) -> np.ndarray:
    tz = np.empty(len(country_idx), dtype=np.int64)
    for c, name in enumerate(COUNTRIES):
        options = np.asarray(COUNTRY_TZ[name])
        here = country_idx == c
        tz[here] = options[(choice[here] * len(options)).astype(int)]
    return tz
