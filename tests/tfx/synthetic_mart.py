"""A synthetic ``marts.ml_engagement_examples`` for the TFX tests.

It follows the input contract of the TFX layer; its label depends on channel, send
hour, open rates and topic affinity, so a model that learns anything reaches AUC well above 0.6.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

END_DS = datetime.date(2026, 1, 9)
TABLE = "marts.ml_engagement_examples"

CHANNELS = ("push", "email", "in_app")
PLATFORMS = ("ios", "android", "web")
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "CA")
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55+")
# A subset of the simulator's topics (notiflow/simulator/world.py): the curated schema
# lists those as the pin_topic domain.
TOPICS = (
    "food",
    "travel",
    "fashion",
    "diy",
    "fitness",
    "home_decor",
    "art",
    "beauty",
    "tech",
    "gardening",
    "pets",
    "quotes",
)

DDL = f"""
create schema if not exists marts;
create table if not exists {TABLE} (
    notification_id varchar, user_id varchar, ds date, sent_at timestamp, propensity double,
    channel varchar, platform varchar, country varchar, age_bucket varchar, pin_topic varchar,
    local_send_hour bigint, day_of_week bigint, user_tenure_days bigint,
    user_events_1d bigint, user_events_7d bigint, user_events_28d bigint,
    user_active_days_28d bigint, days_since_last_active bigint, user_sends_1d bigint,
    user_sends_7d bigint, user_opens_7d bigint, user_sends_28d bigint,
    user_opens_28d bigint, channel_sends_1d bigint, channel_sends_7d bigint,
    pin_age_days bigint, pin_impressions_7d bigint, pin_saves_7d bigint,
    creator_pin_count bigint, creator_saves_28d bigint,
    user_open_rate_28d double, channel_open_rate_28d double, topic_open_rate_28d double,
    days_since_last_open double, user_active_hour_cos_28d double,
    user_active_hour_sin_28d double, user_topic_affinity_7d double,
    user_topic_affinity_28d double, pin_click_rate_7d double, pin_popularity_28d double,
    opened_24h bigint, clicked_24h bigint
)
"""


def synthetic_examples(days: list[datetime.date], rows_per_day: int, seed: int = 0) -> pd.DataFrame:
    """Rows of the mart for ``days``; P(open) rises with push, evening hours, open rates
    and a send hour near the user's active hours."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in days:
        n = rows_per_day
        channel = rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2])
        hour = rng.integers(0, 24, n)
        sends_28d = rng.integers(1, 60, n)
        user_rate = rng.beta(2, 5, n)
        opens_28d = np.minimum(sends_28d, np.round(sends_28d * user_rate)).astype(np.int64)
        channel_rate = np.select(
            [channel == "push", channel == "email"], [0.3, 0.12], 0.2
        ) + rng.normal(0, 0.01, n)
        topic = rng.choice(TOPICS, n)
        topic_rate = rng.uniform(0.05, 0.35, n)
        days_since = np.minimum(rng.exponential(6, n), 29.0).round(1)
        # each row's user is active around a peak hour, more or less regularly
        peak_angle = 2 * np.pi * (rng.uniform(0, 24, n) + 0.5) / 24
        regularity = rng.uniform(0.1, 0.9, n)
        active_cos, active_sin = regularity * np.cos(peak_angle), regularity * np.sin(peak_angle)
        send_angle = 2 * np.pi * (hour + 0.5) / 24
        hour_match = np.cos(send_angle) * active_cos + np.sin(send_angle) * active_sin
        affinity_28d = rng.beta(1, 6, n)
        events_28d = rng.poisson(rng.gamma(2, 15, n))
        logit = (
            -1.6
            + np.select([channel == "push", channel == "email"], [0.9, -0.6], 0.0)
            + 0.9 * np.isin(hour, list(range(18, 23)))
            - 0.7 * np.isin(hour, list(range(0, 7)))
            + 4.0 * (user_rate - 0.28)
            + 2.0 * (topic_rate - 0.2)
            - 0.05 * days_since
            + 1.5 * hour_match
            + 2.0 * (affinity_28d - 0.14)
        )
        opened = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        ids = [f"{day:%Y%m%d}-{i:05d}" for i in range(n)]
        frames.append(
            pd.DataFrame(
                {
                    "notification_id": ids,
                    "user_id": [f"u{u}" for u in rng.integers(0, 500, n)],
                    "ds": pd.Timestamp(day).date(),
                    "sent_at": [
                        datetime.datetime.combine(day, datetime.time(int(h))) for h in hour
                    ],
                    "propensity": rng.uniform(0.1, 0.9, n),
                    "channel": channel,
                    "platform": rng.choice(PLATFORMS, n),
                    "country": rng.choice(COUNTRIES, n),
                    "age_bucket": rng.choice(AGE_BUCKETS, n),
                    "pin_topic": topic,
                    "local_send_hour": hour.astype(np.int64),
                    "day_of_week": np.full(n, day.weekday(), dtype=np.int64),
                    "user_tenure_days": rng.integers(1, 900, n),
                    "user_events_1d": rng.poisson(events_28d / 28),
                    "user_events_7d": rng.poisson(events_28d / 4),
                    "user_events_28d": events_28d,
                    "user_active_days_28d": rng.integers(0, 29, n),
                    "days_since_last_active": rng.integers(1, 30, n),
                    "user_sends_1d": rng.integers(0, 3, n),
                    "user_sends_7d": np.minimum(sends_28d, rng.integers(0, 15, n)),
                    "user_opens_7d": rng.integers(0, 4, n),
                    "user_sends_28d": sends_28d,
                    "user_opens_28d": opens_28d,
                    "channel_sends_1d": rng.integers(0, 2, n),
                    "channel_sends_7d": rng.integers(0, 10, n),
                    "pin_age_days": rng.integers(0, 200, n),
                    "pin_impressions_7d": rng.poisson(40, n),
                    "pin_saves_7d": rng.poisson(3, n),
                    "creator_pin_count": rng.integers(1, 50, n),
                    "creator_saves_28d": rng.poisson(20, n),
                    "user_open_rate_28d": user_rate,
                    "channel_open_rate_28d": channel_rate,
                    "topic_open_rate_28d": topic_rate,
                    "days_since_last_open": days_since,
                    "user_active_hour_cos_28d": active_cos,
                    "user_active_hour_sin_28d": active_sin,
                    "user_topic_affinity_7d": np.clip(affinity_28d + rng.normal(0, 0.05, n), 0, 1),
                    "user_topic_affinity_28d": affinity_28d,
                    "pin_click_rate_7d": rng.beta(2, 20, n),
                    "pin_popularity_28d": rng.gamma(2, 3, n),
                    "opened_24h": opened,
                    "clicked_24h": opened * (rng.uniform(size=n) < 0.3),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_warehouse(path: Path, frame: pd.DataFrame) -> None:
    """Creates (or appends to) the mart in the DuckDB file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        con.register("new_rows", frame)
        con.execute(f"insert into {TABLE} by name select * from new_rows")
    finally:
        con.close()


def days_before(end_ds: datetime.date, count: int) -> list[datetime.date]:
    """``count`` days ending the day before ``end_ds``."""
    return [end_ds - datetime.timedelta(days=d) for d in range(count, 0, -1)]
