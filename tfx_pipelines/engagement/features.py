"""Feature keys and naming helpers shared by ``preprocessing_fn``, the model and serving.

The warehouse table may grow columns; only the keys listed here are read by the
pipeline (ExampleGen selects them explicitly), so adding a column to the mart
never changes the model by accident.
"""

from __future__ import annotations

import math

# Every feature of the mart that is known when the send is chosen: the send options of
# tomorrow (marts.ml_send_options) carry the same columns, and the scorer sets the send's
# local hour and day of week per candidate hour. The notification's type and item count
# are left out: the plan decides them with the channel, so they add nothing to it.

# Categorical string features: Transform builds a vocabulary for each.
CATEGORICAL_FEATURE_KEYS: tuple[str, ...] = (
    "channel",
    "platform",
    "country",
    "age_bucket",
    "pin_topic",
)

# Integer features. The counts (and day counts) are heavy-tailed: Transform takes
# log(1 + x) before z-scoring them (LOG_FEATURE_KEYS).
INT_FEATURE_KEYS: tuple[str, ...] = (
    "local_send_hour",
    "day_of_week",
    "user_tenure_days",
    "user_events_1d",
    "user_events_7d",
    "user_events_28d",
    "user_active_days_28d",
    "days_since_last_active",
    "user_sends_1d",
    "user_sends_7d",
    "user_opens_7d",
    "user_sends_28d",
    "user_opens_28d",
    "channel_sends_1d",
    "channel_sends_7d",
    "pin_age_days",
    "pin_impressions_7d",
    "pin_saves_7d",
    "creator_pin_count",
    "creator_saves_28d",
)

# Float features: rates, affinities and the user's active-hour vector, z-scored.
FLOAT_FEATURE_KEYS: tuple[str, ...] = (
    "user_open_rate_28d",
    "channel_open_rate_28d",
    "topic_open_rate_28d",
    "days_since_last_open",
    "user_active_hour_cos_28d",
    "user_active_hour_sin_28d",
    "user_topic_affinity_7d",
    "user_topic_affinity_28d",
    "pin_click_rate_7d",
    "pin_popularity_28d",
)

# Non-negative features whose effect is multiplicative (activity, recency, popularity,
# affinity): Transform z-scores log(1 + x) instead of x.
LOG_FEATURE_KEYS: tuple[str, ...] = tuple(
    k for k in INT_FEATURE_KEYS if k not in ("local_send_hour", "day_of_week")
) + (
    "days_since_last_open",
    "user_topic_affinity_7d",
    "user_topic_affinity_28d",
    "pin_popularity_28d",
)

# Computed by Transform from the raw features above (so serving computes it the same way):
# how well the send hour matches the user's active hours, the mean over the user's 28
# days of organic events of cos(angle(event hour) - angle(send hour)), in [-1, 1] (0
# for a user without events). Opening depends on the hour relative to each user's own
# active hours, which no single feature says.
SEND_HOUR_MATCH_KEY = "send_hour_match"
DERIVED_FEATURE_KEYS: tuple[str, ...] = (SEND_HOUR_MATCH_KEY,)

# Cyclical integer features that are also embedded as categories, because the open rate
# by send hour is not monotonic (a z-score alone cannot express "evenings").
BUCKET_FEATURE_SIZES: dict[str, int] = {"local_send_hour": 24, "day_of_week": 7}

NUMERIC_FEATURE_KEYS: tuple[str, ...] = INT_FEATURE_KEYS + FLOAT_FEATURE_KEYS
FEATURE_KEYS: tuple[str, ...] = CATEGORICAL_FEATURE_KEYS + NUMERIC_FEATURE_KEYS

LABEL_KEY = "opened_24h"


# Slices of the evaluation, besides the overall slice.
SLICE_KEYS: tuple[str, ...] = ("channel", "platform")

# Number of out-of-vocabulary buckets per categorical vocabulary (unseen values at
# serving time, e.g. a new country, share this bucket instead of failing).
OOV_BUCKETS = 1

# Name of the serving signature output (probability of an open within 24h).
PREDICTION_KEY = "probabilities"


def hour_angle(hour):
    """The angle of a local hour on the 24-hour circle, at the middle of the hour: the
    dbt macro ``local_hour_angle`` (dbt_project/macros/features.sql), which puts the
    user's events on the same circle. Works on numbers and tensors."""
    return 2 * math.pi * (hour + 0.5) / 24


def transformed_name(key: str) -> str:
    """Name of the Transform output for raw feature ``key``."""
    return f"{key}_xf"


def bucket_name(key: str) -> str:
    """Name of the Transform output holding the one-hot bucket index of ``key``."""
    return f"{key}_bucket_xf"


def vocabulary_name(key: str) -> str:
    """File name of the Transform vocabulary of categorical feature ``key``."""
    return f"{key}_vocab"


def transformed_label_key() -> str:
    return transformed_name(LABEL_KEY)


def example_columns() -> tuple[str, ...]:
    """Columns ExampleGen selects from the warehouse, in a stable order.

    Keys such as ``ds`` or ``notification_id`` are left out on purpose: they are not
    features, and the curated schema (``schema/schema.pbtxt``) lists exactly these
    columns (a test keeps the two consistent).
    """
    return FEATURE_KEYS + (LABEL_KEY,)
