"""What the loggers write: the day's raw tables, built from the world's columns.

Ids become strings here and only here, in bulk (numpy string operations and
pandas categoricals), because building one string per event in Python would
dominate the cost of a large world.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from notiflow.simulator.catalog import Catalog
from notiflow.simulator.organic import ENGAGEMENT_EVENT_TYPES, SURFACES, EngagementEvents
from notiflow.simulator.sends import (
    NO_ITEM,
    NOTIFICATION_EVENT_TYPES,
    NOTIFICATION_TYPES,
    NotificationEvents,
    Sends,
)
from notiflow.simulator.world import CHANNELS, World, numbered_ids

_STRING = np.dtypes.StringDType()


def notifications(world: World, sends: Sends, day: dt.date) -> pd.DataFrame:
    channel = np.asarray(CHANNELS, dtype=object)[sends.channel]
    return pd.DataFrame(
        {
            "notification_id": sends.notification_id,
            "user_id": _labels(sends.user_idx, world.user_id),
            "channel": channel,
            "notification_type": pd.Series(channel).map(NOTIFICATION_TYPES).to_numpy(dtype=object),
            "sent_ts": sends.sent_s.astype("datetime64[s]"),
            "policy": sends.policy,
            "propensity": sends.propensity,
            "ds": np.datetime64(day, "D"),
        }
    )


def notification_items(catalog: Catalog, sends: Sends, day: dt.date) -> pd.DataFrame:
    rows, cols = np.nonzero(sends.items != NO_ITEM)
    return pd.DataFrame(
        {
            "notification_id": sends.notification_id[rows],
            "position": (cols + 1).astype(np.int32),
            "pin_id": _labels(sends.items[rows, cols], catalog.pin_id),
            "ds": np.datetime64(day, "D"),
        }
    )


def notification_events(events: NotificationEvents, day: dt.date) -> pd.DataFrame:
    event_type = np.asarray(NOTIFICATION_EVENT_TYPES, dtype=object)[events.event_type]
    # One event of a type per notification, except clicks: one per position.
    suffix = np.strings.add("-", event_type.astype(_STRING))
    with_position = np.strings.add(suffix, np.strings.add("-", events.position.astype(_STRING)))
    event_id = np.strings.add(
        events.notification_id.astype(_STRING), np.where(events.position > 0, with_position, suffix)
    )
    return pd.DataFrame(
        {
            "event_id": event_id.astype(object),
            "notification_id": events.notification_id,
            "event_type": event_type,
            "position": pd.arrays.IntegerArray(
                events.position.astype(np.int32), mask=events.position == 0
            ),
            "event_ts": events.ts.astype("datetime64[s]"),
            "ds": np.datetime64(day, "D"),
        }
    )


def engagement_events(
    world: World, catalog: Catalog, events: EngagementEvents, day: dt.date
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": numbered_ids(f"e{day:%Y%m%d}-", np.arange(len(events)), 9),
            "user_id": _labels(events.user_idx, world.user_id),
            "pin_id": _labels(events.pin_idx, catalog.pin_id),
            "event_type": _labels(events.event_type, np.asarray(ENGAGEMENT_EVENT_TYPES)),
            "surface": _labels(events.surface, np.asarray(SURFACES)),
            "event_ts": events.ts.astype("datetime64[s]"),
            "ds": np.datetime64(day, "D"),
        }
    )


def _labels(codes: np.ndarray, names: np.ndarray) -> pd.Categorical:
    """Strings by reference (codes into ``names``): no string is built per row."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
