"""Data faults injected into one day's raw tables, to drill the quality gates.

A fault corrupts what the loggers deliver for the day, never the world: the
truth store and the state carried into the next day are those of the clean
day, so re-simulating the day without the fault restores it exactly and leaves
the other days as they were. ``severity`` is the share of rows hit.

Per fault: what lands in the day's raw partition, then the gate that must catch
it (✓: the gate exists today).

nulls
    Null ``user_id`` in notifications and engagement_events, null
    ``notification_id`` in notification_events.
    ✓ dbt ``not_null`` tests on those staging columns; GX raw suite (not-null keys).
duplicates
    Rows repeated with their key in every fact table.
    GX raw suite: unique notification_id / event_id. (Staging deduplicates, so
    dbt tests and the marts never see them.)
schema_drift
    Notifications arrive with ``propensity`` renamed to ``propensity_score``, as text.
    ✓ The load contract: warehouse.replace_tables raises SchemaContractError naming
    the table and the columns; the day's previous rows stay.
late_data
    Events whose ``event_ts`` lies 1-3 days before the day they are loaded with.
    GX raw suite: event_ts inside [ds, ds + 1 day).
empty_day
    No rows in any fact table.
    ✓ GX gate on ml_engagement_examples (row count >= 1); GX raw suite (volume).
out_of_range
    Logged propensities above 1 (×3 + 1).
    ✓ GX gate on ml_engagement_examples: propensity in (0, 1], the only
    expectation the fault breaks.
volume_drop
    A share of the sends (with their items and events) and of the engagement
    events lost.
    GX raw suite: volume against the trailing 7-day mean (natural day-to-day
    change is a few percent).

Faults touch the fact tables only (not the users and pins catalogs). Events of a
faulted day's sends that happen on a later day still land then: after an
``empty_day`` or ``volume_drop`` they reference notifications that were never
loaded, until the day is re-simulated (dbt's relationships test on
stg_raw__notification_events reports them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from notiflow.domain import FAULT_DRILLS as FAULTS

FACT_TABLES = ("notifications", "notification_items", "notification_events", "engagement_events")
_NULLED = {
    "notifications": "user_id",
    "notification_events": "notification_id",
    "engagement_events": "user_id",
}
_EVENT_TABLES = ("notification_events", "engagement_events")


def inject(
    fault: str, raw: dict[str, pd.DataFrame], g: np.random.Generator, severity: float
) -> dict[str, pd.DataFrame]:
    """A copy of the day's raw tables with ``fault`` injected."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    tables = dict(raw)
    hit = {name: g.random(len(tables[name])) < severity for name in FACT_TABLES}
    if fault == "nulls":
        for name, column in _NULLED.items():
            tables[name] = _with(tables[name], column, hit[name], None)
    elif fault == "duplicates":
        for name in FACT_TABLES:
            tables[name] = pd.concat([tables[name], tables[name][hit[name]]], ignore_index=True)
    elif fault == "schema_drift":
        tables["notifications"] = tables["notifications"].rename(
            columns={"propensity": "propensity_score"}
        )
        tables["notifications"]["propensity_score"] = tables["notifications"][
            "propensity_score"
        ].astype(str)
    elif fault == "late_data":
        for name in _EVENT_TABLES:
            days_late = pd.to_timedelta(g.integers(1, 4, len(tables[name])), unit="D")
            late = tables[name]["event_ts"] - days_late
            tables[name] = _with(tables[name], "event_ts", hit[name], late[hit[name]])
    elif fault == "empty_day":
        for name in FACT_TABLES:
            tables[name] = tables[name].iloc[0:0]
    elif fault == "out_of_range":
        propensity = tables["notifications"]["propensity"]
        hit_rows = hit["notifications"]
        tables["notifications"] = _with(
            tables["notifications"], "propensity", hit_rows, propensity[hit_rows] * 3.0 + 1.0
        )
    elif fault == "volume_drop":
        lost = tables["notifications"]["notification_id"][hit["notifications"]]
        for name in ("notifications", "notification_items", "notification_events"):
            keep = ~tables[name]["notification_id"].isin(lost).to_numpy()
            if name == "notification_events":
                keep &= ~hit[name]  # and a share of the events of earlier days' sends
            tables[name] = tables[name][keep].reset_index(drop=True)
        events = tables["engagement_events"]
        tables["engagement_events"] = events[~hit["engagement_events"]].reset_index(drop=True)
    return tables


def _with(frame: pd.DataFrame, column: str, rows: np.ndarray, values: object) -> pd.DataFrame:
    """``frame`` with ``column`` set to ``values`` on ``rows`` (a copy, the input untouched)."""
    frame = frame.copy()
    if values is None and isinstance(frame[column].dtype, pd.CategoricalDtype):
        frame[column] = frame[column].astype(object)
    frame.loc[rows, column] = values
    return frame
