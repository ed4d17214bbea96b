"""The outcomes of quality gates, and the warehouse table that keeps them for reports.

Every gate run writes the outcome of each expectation to
``quality.data_quality_results`` (contract: :data:`RESULTS_COLUMNS`) before it
raises, so failed checks are on record too. Re-running the same (run_id, ds,
suite) replaces its rows.

This module must not import Great Expectations: the reader runs inside the
Airflow API server, which has no business loading it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import duckdb

from notiflow import warehouse
from notiflow.contracts import RESULTS_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE, RESULTS_TARGET
from notiflow.settings import Settings

# The run id of gate runs outside Airflow.
MANUAL_RUN_ID = "manual"


@dataclasses.dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result on one day of one table."""

    suite: str
    table: str
    ds: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed_value: Any
    layer: str | None = None

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        status = "passed" if self.success else "failed"
        return (
            f"[{self.severity}] {where} (ds={self.ds}): {self.expectation} {status}, "
            f"observed {self.observed_value!r}"
        )

    @property
    def skipped(self) -> bool:
        """Not evaluated (e.g. no reference days yet); the observed value says why."""
        return isinstance(self.observed_value, dict) and "skipped" in self.observed_value

    def as_record(self) -> dict[str, Any]:
        """JSON-safe form, for XCom and reports."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=json_default))


def json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return str(value)


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    con.execute(f"create table if not exists {RESULTS_TARGET} ({RESULTS_COLUMNS})")


def write_results(
    settings: Settings,
    outcomes: Iterable[ExpectationOutcome],
    *,
    run_id: str | None = None,
    validated_at: dt.datetime | None = None,
) -> int:
    """Record ``outcomes`` in one transaction; returns the number of rows written.

    The rows of every (run_id, ds, suite) present in ``outcomes`` are replaced, so
    re-running a gate for the same run and day does not pile up rows. ``layer`` must
    be set on every outcome. ``validated_at`` defaults to now (UTC, without zone).
    """
    run_id = run_id or MANUAL_RUN_ID
    validated_at = validated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    outcomes = list(outcomes)
    missing_layer = [o for o in outcomes if not o.layer]
    if missing_layer:
        raise ValueError(f"outcomes without a layer: {missing_layer[0].describe()}")
    rows = [
        (
            run_id,
            o.ds,
            o.layer,
            o.suite,
            o.table,
            o.expectation,
            o.column,
            o.severity,
            bool(o.success),
            None
            if o.observed_value is None
            else json.dumps(o.observed_value, default=json_default),
            validated_at,
        )
        for o in outcomes
    ]
    keys = sorted({(o.ds, o.suite) for o in outcomes})
    with warehouse.connect(settings) as con:
        ensure_results_table(con)
        con.execute("begin transaction")
        try:
            for ds, suite in keys:
                con.execute(
                    f"delete from {RESULTS_TARGET} where run_id = ? and ds = ?::date and suite = ?",
                    [run_id, ds, suite],
                )
            if rows:
                con.executemany(
                    f"insert into {RESULTS_TARGET} values (?, ?::date, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return len(rows)


def latest_results(
    settings: Settings,
    *,
    ds: str | None = None,
    layer: str | None = None,
    suite: str | None = None,
    failed_only: bool = False,
) -> list[dict[str, Any]]:
    """The rows of the latest gate run of each (ds, suite), newest day first.

    Filters: a day, a layer, a suite; ``failed_only`` keeps failed expectations.
    Each row is a dict with the columns of :data:`RESULTS_COLUMNS`, JSON-safe (``ds``
    and ``validated_at`` in ISO format, ``observed_value`` decoded from JSON), failed
    expectations first within a suite. No warehouse or no results yet: [].
    """
    if not settings.warehouse_path.exists():
        return []
    filters, params = ["true"], []
    for column, value in (("ds", ds), ("layer", layer), ("suite", suite)):
        if value is not None:
            filters.append(f"{column} = ?" + ("::date" if column == "ds" else ""))
            params.append(value)
    if failed_only:
        filters.append("not success")
    with warehouse.connect(settings, read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [RESULTS_SCHEMA, RESULTS_TABLE],
        ).fetchone()[0]
        if not exists:
            return []
        cursor = con.execute(
            f"""
            with latest as (
                select * from {RESULTS_TARGET}
                qualify validated_at = max(validated_at) over (partition by ds, suite)
            )
            select * from latest where {" and ".join(filters)}
            order by ds desc, layer, suite, success, severity, table_name, column_name,
                expectation
            """,
            params,
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["ds"] = row["ds"].isoformat()
        row["validated_at"] = row["validated_at"].isoformat()
        if row["observed_value"] is not None:
            row["observed_value"] = json.loads(row["observed_value"])
    return rows
