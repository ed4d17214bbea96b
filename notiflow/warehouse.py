"""Access to the local DuckDB warehouse.

DuckDB lets one process hold its file at a time, so connections are opened
briefly, retried while another process holds the lock, and every write of a day
happens in one transaction: a failed load leaves the previous data untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from notiflow.settings import Settings

RAW_SCHEMA = "raw"

# The raw layer's contract (DESIGN.md §3). `ds` is the load partition: loading a
# day replaces exactly the rows of that day.
RAW_TABLES: dict[str, str] = {
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
    "pins": """
        pin_id varchar not null,
        creator_id varchar,
        topic varchar,
        created_ts timestamp
    """,
    "notifications": """
        notification_id varchar not null,
        user_id varchar,
        pin_id varchar,
        channel varchar,
        notification_type varchar,
        sent_ts timestamp,
        policy varchar,
        propensity double,
        ds date not null
    """,
    "notification_events": """
        event_id varchar not null,
        notification_id varchar,
        event_type varchar,
        position integer,
        event_ts timestamp,
        ds date not null
    """,
}


class WarehouseLockedError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than we waited."""


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
    path = settings.warehouse_path
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist yet: simulate or load data first")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                if "lock" in str(exc).lower():
                    raise WarehouseLockedError(
                        f"warehouse {path} stayed locked by another process for {wait_s:.0f}s"
                    ) from exc
                raise
            time.sleep(0.5)
    try:
        yield con
    finally:
        con.close()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for table, columns in RAW_TABLES.items():
        con.execute(f"create table if not exists {RAW_SCHEMA}.{table} ({columns})")


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, Any],
    *,
    ds: str | None = None,
) -> None:
    """Write several raw tables in one transaction.

    With ``ds`` the rows of that day are replaced (partitioned tables); without it
    the whole table is replaced (dimension tables). Frames are pandas or Arrow
    tables whose columns follow :data:`RAW_TABLES`.
    """
    ensure_raw_schema(con)
    con.execute("begin transaction")
    try:
        for table, frame in frames.items():
            if table not in RAW_TABLES:
                raise KeyError(f"unknown raw table {table!r}; expected one of {sorted(RAW_TABLES)}")
            target = f"{RAW_SCHEMA}.{table}"
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
