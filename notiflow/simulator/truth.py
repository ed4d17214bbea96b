"""The truth store: the world's ground truth and day-to-day state, in its own DuckDB file.

It lives at ``settings.truth_path``, never in the warehouse: features, models and
gates that could read the truth would be measured against themselves. Only the
simulator (its state, its realism report) and ``bench/`` read it; a unit test
fails if dbt models, TFX modules, DAGs or expectations refer to it.

Tables, in schema ``world_truth``; all but ``world`` and ``users`` are partitioned
by ``ds`` and re-simulating a day replaces exactly its partition:

- ``world``: the configuration and first day of the world the store describes.
- ``users``: latent traits per user (activity, active hours, interests, holdout...).
- ``pins``: latent quality and popularity per pin (``ds``: the day it joined the catalog).
- ``sends``: per notification, true P(open), P(open within 24 h) (the Bayes-optimal
  prediction of the engagement label), P(unsubscribe), the inputs that drove them,
  and what happened.
- ``items``: per notification item, true P(click | open) and P(click), and whether clicked.
- ``user_days``: per user and day with any activity: organic sessions, sessions opened
  from notifications, engagement events, sends per channel, opens.
- ``user_state``: per user, the state at the end of the day (see :mod:`.state`).
- ``pending_events``: notification events drawn on day ``ds`` that happen on a later
  day ``due_ds`` (an email opened after midnight is logged the next day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
import numpy as np
import pandas as pd

from notiflow import warehouse
from notiflow.settings import Settings
from notiflow.simulator.catalog import Catalog
from notiflow.simulator.organic import OrganicDay
from notiflow.simulator.response import Outcome
from notiflow.simulator.sends import NO_ITEM, NotificationEvents, Sends
from notiflow.simulator.state import FATIGUE_WINDOW_DAYS, UserState
from notiflow.simulator.world import (
    CHANNELS,
    SECONDS_PER_DAY,
    TOPICS,
    UNIX_EPOCH,
    World,
    WorldConfig,
)

SCHEMA = "world_truth"
SCHEMA_VERSION = 1
TABLES: dict[str, str] = {
    "world": """
        schema_version integer, seed bigint, n_users bigint, n_pins bigint,
        holdout_share double, exploration double, first_day date
    """,
    "users": """
        user_idx integer, user_id varchar, base_activity double, peak_hour double,
        hour_concentration double, responsiveness double, unsubscribe_propensity double,
        is_holdout boolean, """
    + ", ".join(f"interest_{t} double" for t in TOPICS),
    "pins": "pin_id varchar, quality double, popularity double, ds date",
    "sends": """
        notification_id varchar, user_id varchar, channel varchar, policy varchar,
        local_hour integer, sends_7d integer, days_since_last_open integer, activity double,
        p_open double, p_open_24h double, p_unsubscribe double,
        is_opened boolean, is_unsubscribed boolean, ds date
    """,
    "items": """
        notification_id varchar, position integer, pin_id varchar,
        p_click_given_open double, p_click double, is_clicked boolean, ds date
    """,
    "user_days": """
        user_idx integer, organic_sessions integer, induced_sessions integer,
        engagement_events integer, """
    + "".join(f"{c}_sends integer, " for c in CHANNELS)
    + "opens integer, ds date",
    "user_state": """
        user_idx integer, activity_drift double, last_open_day date, """
    + "".join(f"is_unsubscribed_{c} boolean, " for c in CHANNELS)
    + "ds date",
    "pending_events": """
        seq integer, notification_id varchar, user_idx integer, channel smallint,
        event_type smallint, position smallint, pin_idx integer, event_ts timestamp,
        due_ds date, ds date
    """,
}


class TruthStore:
    """Reads and writes the truth store through one open connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @classmethod
    @contextmanager
    def open(cls, settings: Settings, *, read_only: bool = False) -> Iterator[TruthStore]:
        with warehouse.open_duckdb(
            settings.truth_path, read_only=read_only, name="truth store"
        ) as con:
            yield cls(con)

    def world(self) -> tuple[WorldConfig, dt.date] | None:
        """The configuration and first day of the stored world (None: none, or an older layout)."""
        try:
            row = self.con.execute(
                f"select seed, n_users, n_pins, holdout_share, exploration, first_day "
                f"from {SCHEMA}.world where schema_version = ?",
                [SCHEMA_VERSION],
            ).fetchone()
        except duckdb.CatalogException:
            return None
        if row is None:
            return None
        return WorldConfig(*row[:5]), row[5]

    def begin_world(self, world: World) -> None:
        """Forget everything stored and describe ``world``, which has not lived a day yet."""
        c = world.config

        def recreate() -> None:
            self.con.execute(f"drop schema if exists {SCHEMA} cascade")
            self.con.execute(f"create schema {SCHEMA}")
            for table, columns in TABLES.items():
                self.con.execute(f"create table {SCHEMA}.{table} ({columns})")
            self.con.execute(
                f"insert into {SCHEMA}.world values (?, ?, ?, ?, ?, ?, ?)",
                [SCHEMA_VERSION, c.seed, c.n_users, c.n_pins, c.holdout_share, c.exploration,
                 world.first_day],
            )  # fmt: skip
            self._insert("users", world.latents_frame())

        self._transaction(recreate)

    def last_day(self) -> dt.date | None:
        """The last day whose end-of-day state is stored (days are stored without gaps)."""
        return self.con.execute(f"select max(ds) from {SCHEMA}.user_state").fetchone()[0]

    def state_at_end_of(self, day: dt.date, n_users: int) -> UserState:
        cols = self.con.execute(
            f"""select activity_drift, last_open_day - date '{UNIX_EPOCH}' as last_open_day,
                       {", ".join(f"is_unsubscribed_{c}" for c in CHANNELS)}
                from {SCHEMA}.user_state where ds = ? order by user_idx""",
            [day],
        ).fetchnumpy()
        if len(cols["activity_drift"]) != n_users:
            raise RuntimeError(f"truth store has no complete user state for {day}")
        return UserState(
            activity_drift=np.asarray(cols["activity_drift"], dtype=np.float64),
            last_open_day=np.asarray(cols["last_open_day"], dtype=np.int64),
            unsubscribed=np.stack(
                [np.asarray(cols[f"is_unsubscribed_{c}"], dtype=bool) for c in CHANNELS], axis=1
            ),
        )

    def sends_before(self, day: dt.date, n_users: int) -> np.ndarray:
        """Sends per user and channel in the FATIGUE_WINDOW_DAYS days before ``day``."""
        cols = self.con.execute(
            f"""select user_idx, {", ".join(f"sum({c}_sends)" for c in CHANNELS)}
                from {SCHEMA}.user_days
                where ds >= ?::date - {FATIGUE_WINDOW_DAYS}::integer and ds < ?::date
                group by user_idx""",
            [day, day],
        ).fetchnumpy()
        user_idx, *per_channel = (np.asarray(c, dtype=np.int64) for c in cols.values())
        sends = np.zeros((n_users, len(CHANNELS)), dtype=np.int64)
        sends[user_idx] = np.stack(per_channel, axis=1)
        return sends

    def pending_due(self, day: dt.date) -> NotificationEvents:
        """Events drawn on earlier days that happen on ``day``."""
        frame = self.con.execute(
            f"""select notification_id, user_idx, channel, event_type, position, pin_idx,
                       epoch(event_ts)::bigint as ts
                from {SCHEMA}.pending_events where due_ds = ? and ds < ?
                order by ds, seq""",
            [day, day],
        ).fetchdf()
        if frame.empty:
            return NotificationEvents.empty()
        return NotificationEvents(
            notification_id=frame["notification_id"].to_numpy(dtype=object),
            **{
                name: frame[name].to_numpy(dtype=np.int64)
                for name in ("user_idx", "channel", "event_type", "position", "pin_idx", "ts")
            },
        )

    def write_day(self, day: dt.date, frames: dict[str, pd.DataFrame]) -> None:
        """Replace day ``day`` of every partitioned table, in one transaction."""

        def replace() -> None:
            for table, frame in frames.items():
                self.con.execute(f"delete from {SCHEMA}.{table} where ds = ?", [day])
                self._insert(table, frame)

        self._transaction(replace)

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("_incoming", frame)
        self.con.execute(f"insert into {SCHEMA}.{table} by name select * from _incoming")
        self.con.unregister("_incoming")

    def _transaction(self, work: Callable[[], None]) -> None:
        self.con.execute("begin transaction")
        try:
            work()
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise


def day_frames(
    world: World,
    catalog: Catalog,
    day: dt.date,
    sends: Sends,
    outcome: Outcome,
    activity: np.ndarray,
    organic: OrganicDay,
    opens_today: np.ndarray,
    state: UserState,
    pending: NotificationEvents,
) -> dict[str, pd.DataFrame]:
    """The truth of one day: one frame per partitioned table of the store."""
    ds = np.datetime64(day, "D")
    n = world.n_users
    rows, cols = np.nonzero(sends.items != NO_ITEM)
    p_click_given_open = outcome.p_click_given_open[rows, cols]
    per_channel_sends = {
        f"{name}_sends": np.bincount(sends.user_idx[sends.channel == c], minlength=n)
        for c, name in enumerate(CHANNELS)
    }
    user_days = pd.DataFrame(
        {
            "user_idx": np.arange(n, dtype=np.int32),
            "organic_sessions": organic.organic_sessions,
            "induced_sessions": organic.induced_sessions,
            "engagement_events": np.bincount(organic.events.user_idx, minlength=n),
            **per_channel_sends,
            "opens": np.bincount(opens_today, minlength=n),
            "ds": ds,
        }
    )
    return {
        "pins": catalog.newest.truth_frame(),
        "sends": pd.DataFrame(
            {
                "notification_id": sends.notification_id,
                "user_id": world.user_id[sends.user_idx],
                "channel": np.asarray(CHANNELS, dtype=object)[sends.channel],
                "policy": sends.policy,
                "local_hour": outcome.local_hour,
                "sends_7d": outcome.sends_7d,
                "days_since_last_open": outcome.days_since_last_open,
                "activity": activity[sends.user_idx],
                "p_open": outcome.p_open,
                "p_open_24h": outcome.p_open_24h,
                "p_unsubscribe": outcome.p_unsubscribe,
                "is_opened": outcome.is_opened,
                "is_unsubscribed": outcome.is_unsubscribed,
                "ds": ds,
            }
        ),
        "items": pd.DataFrame(
            {
                "notification_id": sends.notification_id[rows],
                "position": cols + 1,
                "pin_id": catalog.pin_id[sends.items[rows, cols]],
                "p_click_given_open": p_click_given_open,
                "p_click": outcome.p_open[rows] * p_click_given_open,
                "is_clicked": outcome.is_clicked[rows, cols],
                "ds": ds,
            }
        ),
        "user_days": user_days[user_days.drop(columns=["user_idx", "ds"]).to_numpy().any(axis=1)],
        "user_state": pd.DataFrame(
            {
                "user_idx": np.arange(n, dtype=np.int32),
                "activity_drift": state.activity_drift,
                "last_open_day": state.last_open_day.astype("datetime64[D]"),
                **{
                    f"is_unsubscribed_{c}": state.unsubscribed[:, i] for i, c in enumerate(CHANNELS)
                },
                "ds": ds,
            }
        ),
        "pending_events": pd.DataFrame(
            {
                "seq": np.arange(len(pending), dtype=np.int32),
                "notification_id": pending.notification_id,
                "user_idx": pending.user_idx,
                "channel": pending.channel,
                "event_type": pending.event_type,
                "position": pending.position,
                "pin_idx": pending.pin_idx,
                "event_ts": pending.ts.astype("datetime64[s]"),
                "due_ds": (pending.ts // SECONDS_PER_DAY).astype("datetime64[D]"),
                "ds": ds,
            }
        ),
    }
