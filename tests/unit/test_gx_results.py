"""quality.data_quality_results: its contract, replacement per (run_id, ds, suite), the reader."""

import subprocess
import sys

from expectations.results import (
    RESULTS_COLUMNS,
    ExpectationOutcome,
    latest_results,
    write_results,
)
from notiflow import warehouse
from tests.paths import REPO_ROOT


def _outcome(suite="raw_notifications", ds="2026-10-01", success=True, **kwargs):
    values = dict(
        suite=suite,
        table="raw.notifications",
        ds=ds,
        expectation="expect_column_values_to_be_between",
        column="propensity",
        severity="critical",
        success=success,
        observed_value={"unexpected_count": 0 if success else 3},
        layer="raw",
    )
    return ExpectationOutcome(**{**values, **kwargs})


def test_table_follows_its_contract(settings):
    write_results(settings, [_outcome()], run_id="r1")
    with warehouse.connect(settings, read_only=True) as con:
        columns = con.execute(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'quality' and table_name = 'data_quality_results' "
            "order by ordinal_position"
        ).fetchall()
    expected = [line.split("--")[0].strip().rstrip(",") for line in RESULTS_COLUMNS.splitlines()]
    expected = [line.split() for line in expected if line]
    assert (
        [c[0] for c in columns]
        == [e[0] for e in expected]
        == [
            "run_id",
            "ds",
            "layer",
            "suite",
            "table_name",
            "expectation",
            "column_name",
            "severity",
            "success",
            "observed_value",
            "validated_at",
        ]
    )
    assert [c[1] for c in columns] == [e[1].upper() for e in expected]
    nullable = {c[0] for c in columns if c[2] == "YES"}
    assert nullable == {"column_name", "observed_value"}


def test_rerunning_a_run_replaces_its_rows_and_the_reader_returns_the_latest_run(settings):
    write_results(settings, [_outcome(success=False), _outcome(column="user_id")], run_id="r1")
    write_results(settings, [_outcome(success=False), _outcome(column="user_id")], run_id="r1")
    write_results(settings, [_outcome(ds="2026-10-02")], run_id="r1")
    with warehouse.connect(settings, read_only=True) as con:
        assert con.execute("select count(*) from quality.data_quality_results").fetchone() == (3,)

    rows = latest_results(settings, ds="2026-10-01")
    assert len(rows) == 2 and rows[0]["success"] is False  # failures first
    assert rows[0]["observed_value"] == {"unexpected_count": 3}
    assert rows[0]["ds"] == "2026-10-01" and rows[0]["run_id"] == "r1"

    # a later run of the same day and suite supersedes it in the reader, not in the table
    write_results(settings, [_outcome()], run_id="r2")
    rows = latest_results(settings, ds="2026-10-01")
    assert [(r["run_id"], r["success"]) for r in rows] == [("r2", True)]
    assert latest_results(settings, failed_only=True) == []
    assert [r["ds"] for r in latest_results(settings)] == ["2026-10-02", "2026-10-01"]
    # outside Airflow the run id is 'manual'
    write_results(settings, [_outcome(suite="raw_users")])
    assert latest_results(settings, suite="raw_users")[0]["run_id"] == "manual"


def test_reader_without_a_warehouse_or_table_returns_nothing(settings):
    assert latest_results(settings) == []
    with warehouse.connect(settings) as con:
        con.execute("create schema raw")
    assert latest_results(settings) == []


def test_reader_does_not_import_great_expectations():
    code = (
        "import sys; import expectations.results; "
        "assert 'great_expectations' not in sys.modules, 'imported GX'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
