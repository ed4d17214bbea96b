"""A minimal, seeded notifications world (the walking skeleton's simulator).

It writes one day at a time into the raw layer. Open probabilities really depend
on channel, local send hour against the user's active hours, a latent activity
level and user-topic affinity, so a model has something to learn. Everything is
vectorised with numpy; each day draws from its own generator seeded by
``(seed, day)``, so re-simulating a day reproduces it exactly and days can be
produced in any order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from notiflow import warehouse
from notiflow.settings import Settings

TOPICS = (
    "art", "beauty", "cars", "diy", "fashion", "fitness",
    "food", "gardening", "home_decor", "kids", "travel", "weddings",
)  # fmt: skip
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "JP", "IN", "CA")
COUNTRY_TZ = {"US": -5, "GB": 0, "DE": 1, "FR": 1, "BR": -3, "JP": 9, "IN": 5, "CA": -6}
PLATFORMS = ("ios", "android", "web")
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55+")
CHANNELS = ("push", "email", "in_app")
# Base log-odds of an open per channel: push ≈ 4%, email ≈ 17%, in-app ≈ 9% on average.
CHANNEL_BASE_LOGIT = {"push": -3.8, "email": -2.2, "in_app": -2.9}
MEAN_OPEN_DELAY_H = {"push": 2.0, "email": 9.0, "in_app": 4.0}
# The world's users and pins exist from this date on, whatever day is simulated.
WORLD_EPOCH = dt.datetime(2025, 1, 1)

FAULTS = ("out_of_range",)


@dataclasses.dataclass(frozen=True)
class World:
    """The latent, day-independent state of the world, derived from the seed alone."""

    users: pd.DataFrame
    pins: pd.DataFrame
    activity: np.ndarray  # per user, in (0, 1): how engaged the user is
    active_hour: np.ndarray  # per user, local hour of peak activity
    interests: np.ndarray  # users × topics, rows sum to 1
    pin_quality: np.ndarray
    pin_topic_index: np.ndarray

    @classmethod
    def create(cls, n_users: int, n_pins: int, seed: int) -> World:
        if n_users < 1 or n_pins < len(TOPICS):
            raise ValueError(
                f"world too small: users={n_users} (need >= 1), pins={n_pins} "
                f"(need >= {len(TOPICS)}, one per topic)"
            )
        rng = np.random.default_rng([seed, 0])
        country = rng.choice(COUNTRIES, n_users, p=[0.4, 0.1, 0.1, 0.08, 0.12, 0.06, 0.09, 0.05])
        users = pd.DataFrame(
            {
                "user_id": [f"u{i:07d}" for i in range(n_users)],
                "signup_ts": WORLD_EPOCH
                - pd.to_timedelta(rng.uniform(0, 730 * 86400, n_users).round(), unit="s"),
                "country": country,
                "platform": rng.choice(PLATFORMS, n_users, p=[0.45, 0.4, 0.15]),
                "age_bucket": rng.choice(AGE_BUCKETS, n_users),
                "tz_offset_hours": np.array([COUNTRY_TZ[c] for c in country], dtype=np.int32),
                "push_opt_in": rng.random(n_users) < 0.7,
                "email_opt_in": rng.random(n_users) < 0.8,
            }
        )
        topic_index = np.concatenate(
            [np.arange(len(TOPICS)), rng.integers(0, len(TOPICS), n_pins - len(TOPICS))]
        )
        pins = pd.DataFrame(
            {
                "pin_id": [f"p{i:07d}" for i in range(n_pins)],
                "creator_id": [f"c{i:05d}" for i in rng.integers(0, max(1, n_pins // 5), n_pins)],
                "topic": np.asarray(TOPICS)[topic_index],
                "created_ts": WORLD_EPOCH
                - pd.to_timedelta(rng.uniform(0, 365 * 86400, n_pins).round(), unit="s"),
            }
        )
        return cls(
            users=users,
            pins=pins,
            activity=rng.beta(1.5, 4.0, n_users),
            active_hour=(rng.normal(19.0, 3.0, n_users)) % 24,
            interests=rng.dirichlet(np.full(len(TOPICS), 0.3), n_users),
            pin_quality=rng.beta(2.0, 5.0, n_pins),
            pin_topic_index=topic_index,
        )


def true_open_logit(
    channel: np.ndarray,
    local_hour: np.ndarray,
    activity: np.ndarray,
    active_hour: np.ndarray,
    affinity: np.ndarray,
) -> np.ndarray:
    """The world's response model: log-odds of opening a notification."""
    base = np.select([channel == c for c in CHANNELS], [CHANNEL_BASE_LOGIT[c] for c in CHANNELS])
    hour_match = np.cos(2 * np.pi * (local_hour - active_hour) / 24.0)
    return (
        base
        + 2.0 * np.log(activity / 0.27)
        + 0.9 * hour_match
        + 0.6 * np.log(affinity * len(TOPICS) + 0.05)
    )


def simulate_day(
    world: World, day: dt.date, seed: int, fault: str | None = None, severity: float = 0.2
) -> dict[str, pd.DataFrame]:
    """Notifications sent on ``day`` by the logging policy, and their outcomes."""
    rng = np.random.default_rng([seed, day.toordinal()])
    users = world.users
    n_users = len(users)

    # Logging policy: more active users get more notifications; channels uniformly
    # among those the user may receive (in-app needs no opt-in).
    counts = rng.poisson(0.3 + 1.2 * world.activity)
    user_idx = np.repeat(np.arange(n_users), counts)
    n = len(user_idx)
    eligible = np.stack(
        [
            users["push_opt_in"].to_numpy()[user_idx],
            users["email_opt_in"].to_numpy()[user_idx],
            np.ones(n, dtype=bool),
        ],
        axis=1,
    )
    n_eligible = eligible.sum(axis=1)
    choice = np.floor(rng.random(n) * n_eligible).astype(int)
    channel_idx = np.argmax(np.cumsum(eligible, axis=1) > choice[:, None], axis=1)
    channel = np.asarray(CHANNELS)[channel_idx]
    propensity = 1.0 / n_eligible

    # Content: the user's favourite topics half the time, exploration otherwise.
    explore = rng.random(n) < 0.5
    interest_cdf = np.cumsum(world.interests[user_idx], axis=1)
    by_interest = np.argmax(interest_cdf > rng.random(n)[:, None], axis=1)
    topic_idx = np.where(explore, rng.integers(0, len(TOPICS), n), by_interest)
    pins_by_topic = [np.flatnonzero(world.pin_topic_index == t) for t in range(len(TOPICS))]
    pin_idx = np.array(
        [pins_by_topic[t][k % len(pins_by_topic[t])] for t, k in
         zip(topic_idx, rng.integers(0, 1 << 30, n), strict=True)],
        dtype=int,
    )  # fmt: skip

    seconds = rng.integers(0, 86400, n)
    sent_ts = pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")
    tz = users["tz_offset_hours"].to_numpy()[user_idx]
    local_hour = ((seconds // 3600) + tz) % 24
    affinity = world.interests[user_idx, topic_idx]

    logit = true_open_logit(
        channel, local_hour, world.activity[user_idx], world.active_hour[user_idx], affinity
    )
    p_open = 1.0 / (1.0 + np.exp(-logit))
    opened = rng.random(n) < p_open
    delay_h = rng.exponential([MEAN_OPEN_DELAY_H[c] for c in channel])
    p_click = 1.0 / (1.0 + np.exp(-(-1.0 + 3.0 * world.pin_quality[pin_idx] + 2.0 * affinity)))
    clicked = opened & (rng.random(n) < p_click)
    dismissed = ~opened & (channel == "push") & (rng.random(n) < 0.3)

    day_tag = day.strftime("%Y%m%d")
    notification_id = np.array([f"n{day_tag}-{i:07d}" for i in range(n)], dtype=object)
    notifications = pd.DataFrame(
        {
            "notification_id": notification_id,
            "user_id": users["user_id"].to_numpy()[user_idx],
            "pin_id": world.pins["pin_id"].to_numpy()[pin_idx],
            "channel": channel,
            "notification_type": np.where(channel == "email", "digest", "pin_recommendation"),
            "sent_ts": sent_ts,
            "policy": "logging_heuristic",
            "propensity": propensity,
            "ds": day,
        }
    )

    def events(mask: np.ndarray, event_type: str, offset_h: np.ndarray | float) -> pd.DataFrame:
        offset = np.broadcast_to(np.asarray(offset_h, dtype=float), (n,))[mask]
        return pd.DataFrame(
            {
                "event_id": notification_id[mask] + f"-{event_type}",
                "notification_id": notification_id[mask],
                "event_type": event_type,
                # Push and in-app carry one pin, so a click is always on position 1.
                "position": pd.array([1 if event_type == "click" else None] * int(mask.sum()), dtype="Int32"),
                "event_ts": sent_ts[mask] + pd.to_timedelta(offset * 3600, unit="s").round("s"),
                "ds": day,
            }
        )

    notification_events = pd.concat(
        [
            events(np.ones(n, dtype=bool), "delivered", 0.001),
            events(opened, "open", delay_h),
            events(clicked, "click", delay_h + 0.02),
            events(dismissed, "dismiss", rng.exponential(1.0, n)),
        ],
        ignore_index=True,
    )
    tables = {"notifications": notifications, "notification_events": notification_events}
    if fault is not None:
        INJECTORS[fault](tables, rng, severity)
    return tables


def _inject_out_of_range(tables: dict[str, pd.DataFrame], rng: np.random.Generator, severity: float) -> None:
    """Logged propensities above 1 on a share of sends (caught by the engagement-examples gate)."""
    notifications = tables["notifications"]
    hit = rng.random(len(notifications)) < severity
    notifications.loc[hit, "propensity"] = notifications.loc[hit, "propensity"] * 3.0 + 1.0


INJECTORS: dict[str, Callable[[dict[str, pd.DataFrame], np.random.Generator, float], None]] = {
    "out_of_range": _inject_out_of_range,
}


def simulate(
    settings: Settings,
    start: dt.date,
    days: int,
    *,
    users: int | None = None,
    pins: int | None = None,
    seed: int | None = None,
    fault: str | None = None,
    fault_day: dt.date | None = None,
    severity: float = 0.2,
    progress: Callable[[dt.date, int], None] | None = None,
) -> dict[str, int]:
    """Simulate ``days`` days from ``start`` into the warehouse; returns rows written per table."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    if not 0.0 < severity <= 1.0:
        raise ValueError(f"severity must be in (0, 1], got {severity}")
    seed = settings.sim_seed if seed is None else seed
    world = World.create(users or settings.sim_users, pins or settings.sim_pins, seed)
    written = {"users": len(world.users), "pins": len(world.pins)}
    with warehouse.connect(settings) as con:
        warehouse.replace_tables(con, {"users": world.users, "pins": world.pins})
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            day_fault = fault if fault is not None and (fault_day is None or fault_day == day) else None
            tables = simulate_day(world, day, seed, day_fault, severity)
            warehouse.replace_tables(con, tables, ds=day.isoformat())
            for name, frame in tables.items():
                written[name] = written.get(name, 0) + len(frame)
            if progress is not None:
                progress(day, len(tables["notifications"]))
    return written
