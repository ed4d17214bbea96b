"""A synthetic ``marts.ml_ranking_examples`` for the ranking pipeline's TFX tests.

One digest (list) of 5 pins per row group; P(click) rises with the user's affinity to
the pin's topic and the pin's click rate, and falls with the logged position, so a
ranker that learns the relevance part beats a random order's NDCG@3 (~0.43) clearly.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from synthetic_mart import COUNTRIES, PLATFORMS, TOPICS

TABLE = "marts.ml_ranking_examples"
LIST_SIZE = 5

DDL = f"""
create schema if not exists marts;
create table if not exists {TABLE} (
    list_id varchar, notification_id varchar, item_position bigint, pin_id varchar,
    user_id varchar, ds date, channel varchar, list_size bigint,
    platform varchar, country varchar, user_events_7d bigint, user_events_28d bigint,
    user_open_rate_28d double, pin_topic varchar, user_topic_affinity_7d double,
    user_topic_affinity_28d double, pin_age_days bigint, pin_impressions_7d bigint,
    pin_saves_7d bigint, pin_click_rate_7d double, pin_popularity_28d double,
    creator_saves_28d bigint, creator_pin_count bigint, pin_click_rate_28d double,
    pin_save_rate_28d double, user_topic_engagements_7d bigint,
    user_topic_engagements_28d bigint, has_seen_pin_before boolean,
    clicked_24h bigint, is_label_mature boolean
)
"""


def synthetic_ranking_examples(
    days: list[datetime.date], lists_per_day: int, seed: int = 0, mature: bool = True
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for day in days:
        n_lists = lists_per_day
        n = n_lists * LIST_SIZE
        per_list = np.repeat(np.arange(n_lists), LIST_SIZE)
        list_ids = np.array([f"{day:%Y%m%d}-d{i:05d}" for i in range(n_lists)])[per_list]
        events_28d = rng.integers(0, 200, n_lists)[per_list]
        affinity_28d = rng.beta(1, 4, n)
        click_rate = rng.beta(2, 30, n)
        position = np.tile(np.arange(1, LIST_SIZE + 1), n_lists)
        logit = (
            -2.0 + 4.0 * (affinity_28d - 0.2) + 25.0 * (click_rate - 0.06) - 0.4 * (position - 1)
        )
        clicked = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        frames.append(
            pd.DataFrame(
                {
                    "list_id": list_ids,
                    "notification_id": list_ids,
                    "item_position": position.astype(np.int64),
                    "pin_id": [f"p{p}" for p in rng.integers(0, 2000, n)],
                    "user_id": [f"u{u}" for u in rng.integers(0, 500, n_lists)[per_list]],
                    "ds": pd.Timestamp(day).date(),
                    "channel": "email",
                    "list_size": np.full(n, LIST_SIZE, dtype=np.int64),
                    "platform": rng.choice(PLATFORMS, n_lists)[per_list],
                    "country": rng.choice(COUNTRIES, n_lists)[per_list],
                    "user_events_7d": (events_28d * rng.uniform(0, 0.4, n)).astype(np.int64),
                    "user_events_28d": events_28d.astype(np.int64),
                    "user_open_rate_28d": rng.beta(2, 5, n_lists)[per_list],
                    "pin_topic": rng.choice(TOPICS, n),
                    "user_topic_affinity_7d": np.clip(affinity_28d + rng.normal(0, 0.05, n), 0, 1),
                    "user_topic_affinity_28d": affinity_28d,
                    "pin_age_days": rng.integers(0, 400, n),
                    "pin_impressions_7d": rng.integers(0, 300, n),
                    "pin_saves_7d": rng.integers(0, 30, n),
                    "pin_click_rate_7d": click_rate,
                    "pin_popularity_28d": rng.exponential(40, n),
                    "creator_saves_28d": rng.integers(0, 500, n),
                    "creator_pin_count": rng.integers(1, 60, n),
                    "pin_click_rate_28d": np.clip(click_rate + rng.normal(0, 0.01, n), 0, 1),
                    "pin_save_rate_28d": rng.beta(2, 40, n),
                    "user_topic_engagements_7d": rng.poisson(1.0 + 10 * affinity_28d),
                    "user_topic_engagements_28d": rng.poisson(4.0 + 40 * affinity_28d),
                    "has_seen_pin_before": rng.uniform(size=n) < 0.3,
                    "clicked_24h": clicked,
                    "is_label_mature": mature,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_ranking_warehouse(path: Path, frame: pd.DataFrame) -> None:
    """Creates (or appends to) the ranking mart in the DuckDB file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        con.register("new_rows", frame)
        con.execute(f"insert into {TABLE} by name select * from new_rows")
    finally:
        con.close()
