"""Seed data for the reports tests: data-quality results rows and TFDV report folders."""

from __future__ import annotations

import datetime as dt
import json

from notiflow import warehouse
from notiflow.contracts import RESULTS_COLUMNS
from notiflow.settings import Settings


def insert_results(settings: Settings, rows: list[tuple]) -> None:
    """Rows of quality.data_quality_results, in the contract's column order."""
    with warehouse.connect(settings) as con:
        con.execute("create schema if not exists quality")
        con.execute(f"create table if not exists quality.data_quality_results ({RESULTS_COLUMNS})")
        con.executemany(
            "insert into quality.data_quality_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def result(
    run_id: str,
    ds: str,
    layer: str,
    expectation: str,
    *,
    success: bool = True,
    severity: str = "critical",
    column: str | None = "propensity",
    observed: object = 0.5,
    at: dt.datetime,
    table: str = "marts.ml_engagement_examples",
) -> tuple:
    return (
        run_id,
        dt.date.fromisoformat(ds),
        layer,
        f"{layer}_suite",
        table,
        expectation,
        column,
        severity,
        success,
        json.dumps(observed),
        at,
    )


def write_tfdv_report(
    settings: Settings, pipeline: str, run_id: str, *, status: str, created_at: str
) -> None:
    folder = settings.reports_dir / "tfdv" / pipeline / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        f"<!doctype html><title>TFDV {run_id}</title><h1 id='tfdv'>Statistics of {run_id}</h1>"
    )
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "pipeline": pipeline,
                "run_id": run_id,
                "eval_ds": "2026-10-03",
                "status": status,
                "created_at": created_at,
            }
        )
    )
    (folder / "anomalies.json").write_text("{}")
