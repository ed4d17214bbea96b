"""Access to the local DuckDB warehouse: the loader of the tables in ``notiflow.contracts``.

DuckDB lets one process hold its file at a time, so connections are opened
briefly, retried while another process holds the lock, and every write of a day
happens in one transaction: a failed load leaves the previous data untouched.
Rows are checked against their table's contract before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from notiflow.contracts import (
    DIMENSION_TABLES,
    PLAN_COLUMNS,
    PLAN_SCHEMA,
    PLAN_TABLE,
    RAW_SCHEMA,
    RAW_TABLES,
    check_columns,
)
from notiflow.settings import Settings


def sql_string(value: object) -> str:
    """``value`` as a SQL string literal (DuckDB takes file paths in COPY and the
    read functions as literals, not parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


class WarehouseLockedError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than we waited."""


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

    With ``ds`` the rows of that day are replaced in the partitioned tables; the
    dimension tables (:data:`DIMENSION_TABLES`) and every table without ``ds`` are
    replaced whole. Frames are pandas data frames
    whose columns are exactly those of :data:`RAW_TABLES`; any other set of columns
    (a renamed or missing column) is refused before anything is written, with a
    :class:`SchemaContractError` naming the table and the columns.
    """
    for table, frame in frames.items():
        if table not in RAW_TABLES:
            raise KeyError(f"unknown raw table {table!r}; expected one of {sorted(RAW_TABLES)}")
        check_columns(f"{RAW_SCHEMA}.{table}", RAW_TABLES[table], frame, ds)
    ensure_raw_schema(con)
    whole = {f"{RAW_SCHEMA}.{table}" for table in frames if table in DIMENSION_TABLES}
    _replace(con, {f"{RAW_SCHEMA}.{table}": frame for table, frame in frames.items()}, ds, whole)


def write_plan(con: duckdb.DuckDBPyConnection, plan: Any, ds: str, table: str = PLAN_TABLE) -> None:
    """Replace the notification plan of day ``ds`` (columns: :data:`PLAN_COLUMNS`) in
    ``table`` of the plan schema (the published plan, or the staged one)."""
    target = f"{PLAN_SCHEMA}.{table}"
    check_columns(target, PLAN_COLUMNS, plan, ds)
    con.execute(f"create schema if not exists {PLAN_SCHEMA}")
    con.execute(f"create table if not exists {target} ({PLAN_COLUMNS})")
    _replace(con, {target: plan}, ds)


def read_plan(con: duckdb.DuckDBPyConnection, ds: str, table: str = PLAN_TABLE) -> Any | None:
    """The plan of day ``ds`` in ``table`` as a pandas frame, or None when there is none."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [PLAN_SCHEMA, table],
    ).fetchone()[0]
    if not exists:
        return None
    plan = con.execute(
        f"select * from {PLAN_SCHEMA}.{table} where ds = ?::date "
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


def _replace(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, Any],
    ds: str | None,
    whole: set[str] = frozenset(),
) -> None:
    con.execute("begin transaction")
    try:
        for target, frame in frames.items():
            if ds is None or target in whole:
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
