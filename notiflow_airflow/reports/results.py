"""Read the data-quality results and the TFDV report summaries the reports pages show.

Readers open the DuckDB warehouse briefly and read-only; a writing task may hold its
lock, so they wait a few seconds and then report the warehouse as busy instead of failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from notiflow import domain, warehouse
from notiflow.contracts import RESULTS_SCHEMA, RESULTS_TABLE, RESULTS_TARGET
from notiflow.settings import Settings

LAYERS = domain.QUALITY_LAYERS
BUSY_WAIT_S = 3.0


class WarehouseBusy(RuntimeError):
    """A writing task holds the warehouse; the page asks the reader to reload."""


@dataclasses.dataclass(frozen=True)
class LayerDay:
    """The latest run of one layer on one day."""

    ds: dt.date
    layer: str
    run_id: str
    validated_at: dt.datetime
    expectations: int
    failed_critical: int
    failed_warning: int

    @property
    def status(self) -> str:
        if self.failed_critical:
            return "fail"
        return "warn" if self.failed_warning else "pass"


@dataclasses.dataclass(frozen=True)
class LatestRun:
    run_id: str
    validated_at: dt.datetime
    days: list[dt.date]
    layers: list[str]
    expectations: int
    failed_critical: int
    failed_warning: int

    @property
    def status(self) -> str:
        return "fail" if self.failed_critical else "pass"


@dataclasses.dataclass(frozen=True)
class Overview:
    latest: LatestRun | None
    layer_days: list[LayerDay]


def _query(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple] | None:
    """Rows of ``sql``, or None when the warehouse or the results table does not exist yet."""
    if not settings.warehouse_path.exists():
        return None
    try:
        with warehouse.connect(settings, read_only=True, wait_s=BUSY_WAIT_S) as con:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [RESULTS_SCHEMA, RESULTS_TABLE],
            ).fetchone()[0]
            if not exists:
                return None
            return con.execute(sql, params or []).fetchall()
    except warehouse.WarehouseLockedError as exc:
        raise WarehouseBusy(str(exc)) from exc


def overview(settings: Settings, *, days: int = 30) -> Overview:
    """The latest run per (ds, layer) of the newest ``days`` days, and the latest run overall."""
    rows = _query(
        settings,
        f"""
        with runs as (
            select ds, layer, run_id, max(validated_at) as validated_at
            from {RESULTS_TARGET} group by ds, layer, run_id
        ),
        latest as (
            select * from runs
            qualify row_number() over (partition by ds, layer order by validated_at desc) = 1
        ),
        recent_days as (
            select distinct ds from latest order by ds desc limit ?
        )
        select l.ds, l.layer, l.run_id, l.validated_at,
               count(*),
               count(*) filter (where not r.success and r.severity = 'critical'),
               count(*) filter (where not r.success and r.severity = 'warning')
        from latest l
        join recent_days using (ds)
        join {RESULTS_TARGET} r on r.ds = l.ds and r.layer = l.layer and r.run_id = l.run_id
        group by l.ds, l.layer, l.run_id, l.validated_at
        order by l.ds desc, l.layer
        """,
        [days],
    )
    if not rows:
        return Overview(latest=None, layer_days=[])
    latest_rows = _query(
        settings,
        f"""
        with latest_run as (
            select run_id from {RESULTS_TARGET} order by validated_at desc limit 1
        )
        select run_id, max(validated_at), list(distinct ds order by ds),
               list(distinct layer order by layer), count(*),
               count(*) filter (where not success and severity = 'critical'),
               count(*) filter (where not success and severity = 'warning')
        from {RESULTS_TARGET} join latest_run using (run_id)
        group by run_id
        """,
    )
    latest = LatestRun(*latest_rows[0]) if latest_rows else None
    return Overview(latest=latest, layer_days=[LayerDay(*row) for row in rows])


@dataclasses.dataclass(frozen=True)
class ExpectationResult:
    suite: str
    table_name: str
    expectation: str
    column_name: str | None
    severity: str
    success: bool
    observed_value: str | None
    validated_at: dt.datetime

    @property
    def observed(self) -> str:
        """The observed value, compact JSON when it is JSON."""
        if self.observed_value is None:
            return ""
        try:
            return json.dumps(json.loads(self.observed_value), sort_keys=True)
        except ValueError:
            return self.observed_value


def layer_day(settings: Settings, ds: dt.date, layer: str) -> tuple[str | None, list]:
    """The latest run of ``layer`` on ``ds`` and each of its expectations (failures first)."""
    rows = _query(
        settings,
        f"""
        with latest_run as (
            select run_id from {RESULTS_TARGET} where ds = ? and layer = ?
            order by validated_at desc limit 1
        )
        select run_id, suite, table_name, expectation, column_name, severity, success,
               observed_value, validated_at
        from {RESULTS_TARGET} join latest_run using (run_id)
        where ds = ? and layer = ?
        order by success, severity, table_name, expectation, column_name
        """,
        [ds, layer, ds, layer],
    )
    if not rows:
        return None, []
    return rows[0][0], [ExpectationResult(*row[1:]) for row in rows]


@dataclasses.dataclass(frozen=True)
class TfdvReport:
    pipeline: str
    run_id: str
    eval_ds: str
    status: str
    created_at: str
    path: str  # relative to the tfdv reports directory
    has_anomalies: bool


def tfdv_reports(settings: Settings) -> list[TfdvReport]:
    """The TFDV reports under ``<reports_dir>/tfdv/<pipeline>/<run_id>/``, newest first."""
    root = settings.reports_dir / "tfdv"
    reports = []
    for summary_path in root.glob("*/*/summary.json") if root.is_dir() else []:
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue
        folder = summary_path.parent
        reports.append(
            TfdvReport(
                pipeline=str(summary.get("pipeline", folder.parent.name)),
                run_id=str(summary.get("run_id", folder.name)),
                eval_ds=str(summary.get("eval_ds", "")),
                status=str(summary.get("status", "unknown")),
                created_at=str(summary.get("created_at") or _mtime(summary_path)),
                path=folder.relative_to(root).as_posix(),
                has_anomalies=(folder / "anomalies.json").is_file(),
            )
        )
    return sorted(reports, key=lambda r: r.created_at, reverse=True)


def _mtime(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()


def run_results(settings: Settings, run_id: str) -> list[tuple[dt.date, str, ExpectationResult]]:
    """Every expectation a run validated, as (ds, layer, result), newest day first."""
    rows = _query(
        settings,
        f"""
        select ds, layer, suite, table_name, expectation, column_name, severity, success,
               observed_value, validated_at
        from {RESULTS_TARGET} where run_id = ?
        order by ds desc, layer, success, severity, table_name, expectation, column_name
        """,
        [run_id],
    )
    return [(row[0], row[1], ExpectationResult(*row[2:])) for row in rows or []]
