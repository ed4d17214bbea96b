"""Access to the local DuckDB warehouse, and the contracts of the tables it is fed.

DuckDB lets one process hold its file at a time, so connections are opened
briefly, retried while another process holds the lock, and every write of a day
happens in one transaction: a failed load leaves the previous data untouched.

Two contracts live here, because both sides of each must agree on them:

* the raw layer (:data:`RAW_TABLES`, DESIGN.md §3), written by the loggers (locally
  the simulator) and read by dbt's staging models;
* the notification plan (:data:`PLAN_COLUMNS`), written by the scoring DAG and
  executed by the senders (locally the simulator).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from notiflow.settings import Settings

RAW_SCHEMA = "raw"

# The raw layer's contract. Every table with a `ds` column is partitioned by it: `ds`
# is the day the rows were logged (events: the UTC day of `event_ts`, so an open
# after midnight lands in the next day's partition), and loading a day replaces
# exactly that day's rows. `users` is a dimension, replaced whole.
RAW_TABLES: dict[str, str] = {
    # One row per user; opt-ins as given at signup (later unsubscribes are events).
    "users": """
        user_id varchar not null,
        signup_ts timestamp not null,
        country varchar,
        platform varchar,
        age_bucket varchar,
        tz_offset_hours integer,
        push_opt_in boolean,
        email_opt_in boolean
    """,
    # One row per pin, in the partition of the day it entered the catalog (the
    # catalog that existed before the first logged day lands on that first day).
    "pins": """
        pin_id varchar not null,
        creator_id varchar,
        topic varchar,
        created_ts timestamp,
        ds date not null
    """,
    # Organic activity: event_type impression|closeup|click|save, surface
    # home_feed|search|notification (a session opened from a notification).
    "engagement_events": """
        event_id varchar not null,
        user_id varchar,
        pin_id varchar,
        event_type varchar,
        surface varchar,
        event_ts timestamp,
        ds date not null
    """,
    # One row per notification sent; propensity is the probability with which the
    # policy named in `policy` chose this send (for off-policy evaluation).
    "notifications": """
        notification_id varchar not null,
        user_id varchar,
        channel varchar,
        notification_type varchar,
        sent_ts timestamp,
        policy varchar,
        propensity double,
        ds date not null
    """,
    # The pins a notification carries: push and in-app one (position 1), email
    # digests several (positions 1..K, 1 on top).
    "notification_items": """
        notification_id varchar not null,
        position integer not null,
        pin_id varchar,
        ds date not null
    """,
    # Outcomes: delivered, open, click (with the item position), dismiss, unsubscribe.
    "notification_events": """
        event_id varchar not null,
        notification_id varchar,
        event_type varchar,
        position integer,
        event_ts timestamp,
        ds date not null
    """,
    # Planned sends the sender refused (reason holdout|opted_out|unsubscribed), so
    # that "the plan minus the drops" is exactly what was sent.
    "notification_plan_drops": """
        notification_id varchar not null,
        user_id varchar,
        channel varchar,
        reason varchar,
        ds date not null
    """,
}

PLAN_SCHEMA = "plans"
PLAN_TABLE = "notification_plan"
# The notification plan's contract: one row per planned item. The scoring DAG writes
# the plan of day `ds` before it starts; whoever sends (the simulator locally) sends
# exactly these notifications that day, except the ones it must drop (a user in the
# randomized holdout, not opted in to the channel, or unsubscribed from it), which
# it records in raw.notification_plan_drops.
#
# - notification_id: the id the sent notification carries in raw.notifications; unique
#   across days (e.g. prefixed with ds). Every column but position and pin_id must be
#   equal on all rows of one notification_id.
# - channel: push | email | in_app. Push and in-app carry exactly one item.
# - send_ts: when to send, UTC, inside [ds, ds + 1 day).
# - position: 1..K without gaps, 1 on top; pin_id: a pin of the catalog by then.
# - policy: the name of the policy that made the plan, logged as notifications.policy.
# - propensity: in (0, 1], the probability with which the policy chose this send,
#   logged as notifications.propensity.
PLAN_COLUMNS = """
    ds date not null,
    notification_id varchar not null,
    user_id varchar not null,
    channel varchar not null,
    send_ts timestamp not null,
    position integer not null,
    pin_id varchar not null,
    policy varchar not null,
    propensity double not null
"""


class WarehouseLockedError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than we waited."""


class SchemaContractError(ValueError):
    """Rows do not have the columns their table's contract names (e.g. a renamed column)."""

    def __init__(self, message: str, table: str = "", columns: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.table = table
        self.columns = list(columns)


@contextmanager
def open_duckdb(
    path: Path, *, read_only: bool = False, wait_s: float = 60.0, name: str = "database"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a DuckDB file briefly, waiting up to ``wait_s`` for another process's lock.

    ``name`` says in error messages which file this is (warehouse, truth store).
    """
    if read_only and not path.exists():
        raise FileNotFoundError(f"{name} {path} does not exist yet: simulate or load data first")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise WarehouseLockedError(
                    f"{name} {path} stayed locked by another process for {wait_s:.0f}s"
                ) from exc
            time.sleep(0.5)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def connect(
    settings: Settings, *, read_only: bool = False, wait_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse briefly, waiting up to ``wait_s`` for another process's lock."""
    if settings.warehouse_target != "duckdb":
        raise NotImplementedError(
            f"warehouse_target={settings.warehouse_target!r}: direct connections exist for "
            "the local duckdb warehouse only"
        )
    with open_duckdb(
        settings.warehouse_path, read_only=read_only, wait_s=wait_s, name="warehouse"
    ) as con:
        yield con


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for table, columns in RAW_TABLES.items():
        con.execute(f"create table if not exists {RAW_SCHEMA}.{table} ({columns})")


def reset_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Drop and recreate every raw table (empty, and on the current contract)."""
    con.execute("begin transaction")
    try:
        for table in RAW_TABLES:
            con.execute(f"drop table if exists {RAW_SCHEMA}.{table}")
        ensure_raw_schema(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, Any],
    *,
    ds: str | None = None,
) -> None:
    """Write several raw tables in one transaction.

    With ``ds`` the rows of that day are replaced (partitioned tables); without it
    the whole table is replaced (dimension tables). Frames are pandas data frames
    whose columns are exactly those of :data:`RAW_TABLES`; any other set of columns
    (a renamed or missing column) is refused before anything is written, with a
    :class:`SchemaContractError` naming the table and the columns.
    """
    for table, frame in frames.items():
        if table not in RAW_TABLES:
            raise KeyError(f"unknown raw table {table!r}; expected one of {sorted(RAW_TABLES)}")
        _check_columns(f"{RAW_SCHEMA}.{table}", RAW_TABLES[table], frame, ds)
    ensure_raw_schema(con)
    _replace(con, {f"{RAW_SCHEMA}.{table}": frame for table, frame in frames.items()}, ds)


def write_plan(con: duckdb.DuckDBPyConnection, plan: Any, ds: str) -> None:
    """Replace the notification plan of day ``ds`` (columns: :data:`PLAN_COLUMNS`)."""
    target = f"{PLAN_SCHEMA}.{PLAN_TABLE}"
    _check_columns(target, PLAN_COLUMNS, plan, ds)
    con.execute(f"create schema if not exists {PLAN_SCHEMA}")
    con.execute(f"create table if not exists {target} ({PLAN_COLUMNS})")
    _replace(con, {target: plan}, ds)


def read_plan(con: duckdb.DuckDBPyConnection, ds: str) -> Any | None:
    """The plan of day ``ds`` as a pandas frame, or None when there is none."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [PLAN_SCHEMA, PLAN_TABLE],
    ).fetchone()[0]
    if not exists:
        return None
    plan = con.execute(
        f"select * from {PLAN_SCHEMA}.{PLAN_TABLE} where ds = ?::date "
        "order by notification_id, position",
        [ds],
    ).fetchdf()
    return plan if len(plan) else None


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of every table in the warehouse, keyed by schema.table."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' order by 1, 2"
    ).fetchall()
    return {
        f"{schema}.{name}": con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
        for schema, name in rows
    }


def column_names(columns_ddl: str) -> list[str]:
    """The column names of a contract's column list."""
    return [column.split()[0] for column in columns_ddl.split(",") if column.strip()]


def _check_columns(target: str, columns_ddl: str, frame: Any, ds: str | None) -> None:
    expected = column_names(columns_ddl)
    got = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in got]
    unexpected = [c for c in got if c not in expected]
    if missing or unexpected:
        where = f" (ds={ds})" if ds else ""
        raise SchemaContractError(
            f"{target}{where}: rows do not follow the table's contract: "
            f"missing columns {missing}, unexpected columns {unexpected}; nothing was written",
            table=target,
            columns=[*missing, *unexpected],
        )


def _replace(con: duckdb.DuckDBPyConnection, frames: dict[str, Any], ds: str | None) -> None:
    con.execute("begin transaction")
    try:
        for target, frame in frames.items():
            if ds is None:
                con.execute(f"delete from {target}")
            else:
                con.execute(f"delete from {target} where ds = ?::date", [ds])
            con.register("_incoming", frame)
            con.execute(f"insert into {target} by name select * from _incoming")
            con.unregister("_incoming")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
