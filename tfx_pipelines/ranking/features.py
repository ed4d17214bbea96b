"""Feature keys of the ranking model, shared by ``preprocessing_fn``, the model and serving.

Only the keys listed here are read (ExampleGen selects them explicitly), so a column
added to ``marts.ml_ranking_examples`` never changes the model by accident.
"""

from __future__ import annotations

# Categorical string features: Transform builds a vocabulary for each.
CATEGORICAL_FEATURE_KEYS: tuple[str, ...] = ("channel", "platform", "country", "pin_topic")

# Counts: log1p, then z-scored by Transform (heavy tails).
INT_FEATURE_KEYS: tuple[str, ...] = (
    "list_size",
    "user_events_7d",
    "user_events_28d",
    "pin_age_days",
    "pin_impressions_7d",
    "pin_saves_7d",
    "creator_saves_28d",
    "creator_pin_count",
    "user_topic_engagements_7d",
    "user_topic_engagements_28d",
    "has_seen_pin_before",  # a boolean in the mart; ExampleGen writes it as 0/1
)

# Rates, affinities and scores: z-scored by Transform.
FLOAT_FEATURE_KEYS: tuple[str, ...] = (
    "user_open_rate_28d",
    "user_topic_affinity_7d",
    "user_topic_affinity_28d",
    "pin_click_rate_7d",
    "pin_click_rate_28d",
    "pin_save_rate_28d",
    "pin_popularity_28d",
)

NUMERIC_FEATURE_KEYS: tuple[str, ...] = INT_FEATURE_KEYS + FLOAT_FEATURE_KEYS
FEATURE_KEYS: tuple[str, ...] = CATEGORICAL_FEATURE_KEYS + NUMERIC_FEATURE_KEYS

LABEL_KEY = "clicked_24h"
# The list (query) an item belongs to: the digest notification. Groups examples into
# lists for training and is TFMA's query_key; not a model input.
LIST_ID_KEY = "list_id"
# The logged 1-based position of the item in the digest. Only the training-time position
# tower reads it; serving requests do not carry it.
POSITION_KEY = "item_position"

OOV_BUCKETS = 1

# Name of the serving signature output (the relevance score, a logit: higher = earlier).
PREDICTION_KEY = "score"


def transformed_name(key: str) -> str:
    """Name of the Transform output for raw feature ``key``."""
    return f"{key}_xf"


def vocabulary_name(key: str) -> str:
    return f"{key}_vocab"


def transformed_label_key() -> str:
    return transformed_name(LABEL_KEY)


def example_columns() -> tuple[str, ...]:
    """Columns ExampleGen selects, in a stable order: the features, the list id, the
    logged position and the label (the curated schema lists exactly these)."""
    return FEATURE_KEYS + (LIST_ID_KEY, POSITION_KEY, LABEL_KEY)
