"""Run suites as GX checkpoints on one day of warehouse tables, record and gate on them.

``run_gate`` validates one table, ``run_layer`` every table of a layer (raw before
dbt, features after it, plan before sending). Both record every outcome in
``quality.data_quality_results`` before they raise, then raise one
DataQualityError naming each failed critical expectation; warnings are reported
only. Reference statistics (trailing row counts, column statistics) come from
the warehouse at gate time.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb
import great_expectations as gx
from great_expectations.checkpoint import Checkpoint
from great_expectations.core import ValidationDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
)
from great_expectations.expectations.metadata_types import FailureSeverity

from expectations.results import ExpectationOutcome, json_default, write_results
from expectations.suites import (
    REFERENCE_DAYS,
    SUITES,
    ColumnStats,
    GatedTable,
    Reference,
    build_suite,
    layer_suites,
)
from notiflow import warehouse
from notiflow.domain import RAW_SCHEMA
from notiflow.settings import Settings

__all__ = [
    "DataQualityError",
    "ExpectationOutcome",
    "MissingTableError",
    "json_default",
    "run_gate",
    "run_layer",
]

DATASOURCE = "notiflow_warehouse"
# Recorded for a gated table that does not exist (not a GX expectation type).
TABLE_EXISTS = "expect_table_to_exist"


class DataQualityError(RuntimeError):
    """A critical expectation failed: downstream work must not run."""


class MissingTableError(DataQualityError):
    """A gated table does not exist in the warehouse (yet)."""


def _context(settings: Settings) -> Any:
    settings.gx_root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_root))
    # Progress bars flood task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_gate(
    settings: Settings, suite_name: str, ds: str, run_id: str | None = None
) -> list[ExpectationOutcome]:
    """Validate the rows of day ``ds``; raise DataQualityError if a critical expectation fails.

    Returns every expectation's outcome (warnings and skipped checks included) for
    reports and XCom; all of them are recorded in quality.data_quality_results
    under ``run_id`` ('manual' when None) first.
    """
    if suite_name not in SUITES:
        raise KeyError(f"no suite named {suite_name!r}; known: {sorted(SUITES)}")
    gated = SUITES[suite_name]
    return _gate(settings, [gated], ds, run_id, scope=f"on {gated.table}")


def run_layer(
    settings: Settings, layer: str, ds: str, run_id: str | None = None
) -> list[ExpectationOutcome]:
    """Validate every table of ``layer`` (raw | features | plan) for day ``ds``.

    Runs all the layer's suites, records all outcomes in one transaction, then
    raises one DataQualityError naming every failed critical expectation.
    """
    return _gate(settings, layer_suites(layer), ds, run_id, scope=f"in the {layer} layer")


def _gate(
    settings: Settings, tables: list[GatedTable], ds: str, run_id: str | None, scope: str
) -> list[ExpectationOutcome]:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = None
    outcomes: list[ExpectationOutcome] = []
    # Data Docs are built once for the whole gate: rendering dominates a gate's time.
    rendered: list[Any] = []
    for gated in tables:
        with warehouse.connect(settings, read_only=True) as con:
            if not _exists(con, gated.table):
                outcomes.append(_missing(gated, ds))
                continue
            frame = _frame(con, gated, ds)
            reference = _reference(con, gated, ds, day_rows=len(frame))
        context = context or _context(settings)
        outcomes += _validate(context, gated, build_suite(gated, reference), frame, ds, rendered)
        outcomes += [
            ExpectationOutcome(
                suite=gated.suite,
                table=gated.table,
                ds=ds,
                expectation=expectation,
                column=column,
                severity="warning",
                success=True,
                observed_value={"skipped": reason},
                layer=gated.layer,
            )
            for expectation, column, reason in reference.skipped
        ]
    if rendered:
        context.build_data_docs(resource_identifiers=rendered)
    write_results(settings, outcomes, run_id=run_id)

    failed_critical = [o for o in outcomes if not o.success and o.severity == "critical"]
    if failed_critical:
        only_missing = all(o.expectation == TABLE_EXISTS for o in failed_critical)
        error = MissingTableError if only_missing else DataQualityError
        raise error(
            f"{len(failed_critical)} critical expectation(s) failed {scope} for ds={ds}:\n"
            + "\n".join(o.describe() for o in failed_critical)
            + f"\nData Docs: {settings.data_docs_dir / 'index.html'}"
        )
    return outcomes


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def _missing(gated: GatedTable, ds: str) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite=gated.suite,
        table=gated.table,
        ds=ds,
        expectation=TABLE_EXISTS,
        column=None,
        severity="critical",
        success=False,
        observed_value={
            "error": f"table {gated.table} does not exist in the warehouse: build or write it "
            "before gating it"
        },
        layer=gated.layer,
    )


def _frame(con: duckdb.DuckDBPyConnection, gated: GatedTable, ds: str) -> Any:
    if gated.frame_sql is not None:
        return con.execute(gated.frame_sql, [ds]).fetchdf()
    if not gated.partitioned:
        return con.execute(f"select * from {gated.table}").fetchdf()
    return con.execute(f"select * from {gated.table} where ds = ?::date", [ds]).fetchdf()


def _reference(
    con: duckdb.DuckDBPyConnection, gated: GatedTable, ds: str, day_rows: int
) -> Reference:
    """What the REFERENCE_DAYS days before ``ds`` hold (days without rows do not count)."""
    reference = Reference(ds=ds, day_rows=day_rows)
    if not gated.partitioned or not (gated.volume or gated.distribution):
        return reference
    window = f"ds >= ?::date - interval {REFERENCE_DAYS} day and ds < ?::date"
    counts = con.execute(
        f"select ds, count(*) from {gated.table} where {window} group by ds order by ds",
        [ds, ds],
    ).fetchall()
    reference.daily_row_counts = [n for _, n in counts]
    reference.reference_days = len(counts)
    same_policies, params = "", [ds, ds]
    sends = f"{RAW_SCHEMA}.notifications"
    if gated.by_policy and _exists(con, sends):
        reference.policies = tuple(
            p
            for (p,) in con.execute(
                f"select distinct policy from {sends} where ds = ?::date order by 1", [ds]
            ).fetchall()
        )
    # Without logged sends of the day, the trailing rows of every policy are the reference.
    if reference.policies:
        same_policies = (
            f" and notification_id in (select notification_id from {sends} "
            "where list_contains(?, policy))"
        )
        params = [ds, ds, list(reference.policies)]
    if counts:
        for check in gated.distribution:
            column = check.column
            row = con.execute(
                f"""select avg({column}), coalesce(stddev_samp({column}), 0),
                        quantile_cont({column}, 0.1),
                        quantile_cont({column}, 0.5), quantile_cont({column}, 0.9)
                    from {gated.table}
                    where {window} and {column} is not null{same_policies}""",
                params,
            ).fetchone()
            if row[0] is not None:
                reference.stats[column] = ColumnStats(*(float(v) for v in row))
    return reference


def _validate(
    context: Any, gated: GatedTable, suite: Any, frame: Any, ds: str, rendered: list[Any]
) -> list[ExpectationOutcome]:
    """Run the table's checkpoint; appends what Data Docs must render to ``rendered``."""
    datasource = context.data_sources.add_or_update_pandas(DATASOURCE)
    asset_names = {asset.name for asset in datasource.assets}
    asset = (
        datasource.get_asset(gated.table)
        if gated.table in asset_names
        else datasource.add_dataframe_asset(name=gated.table)
    )
    batch_name = "by_day"
    batch_definition = next(
        (b for b in asset.batch_definitions if b.name == batch_name), None
    ) or asset.add_batch_definition_whole_dataframe(batch_name)
    suite = context.suites.add_or_update(suite)
    validation = context.validation_definitions.add_or_update(
        ValidationDefinition(name=f"{gated.suite}__by_day", data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        Checkpoint(
            name=f"{gated.suite}__gate",
            validation_definitions=[validation],
            actions=[],
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=None)
    rendered += [*result.run_results, ExpectationSuiteIdentifier(name=suite.name)]

    outcomes = []
    for validation_result in result.run_results.values():
        for item in validation_result.results:
            config = item.expectation_config
            column = config.kwargs.get("column")
            if column is None and config.kwargs.get("column_list"):
                column = f"({', '.join(config.kwargs['column_list'])})"
            observed = _observed(item.result)
            if item.exception_info and item.exception_info.get("raised_exception"):
                observed = {"error": item.exception_info.get("exception_message")}
            reference = (config.meta or {}).get("reference")
            if reference:
                observed = {"value": observed, **reference}
            outcomes.append(
                ExpectationOutcome(
                    suite=gated.suite,
                    table=gated.table,
                    ds=ds,
                    expectation=config.type,
                    column=column,
                    severity=FailureSeverity(config.severity).value,
                    success=bool(item.success),
                    observed_value=observed,
                    layer=gated.layer,
                )
            )
    return outcomes


def _observed(result: dict) -> Any:
    if "observed_value" in result:
        return result["observed_value"]
    if "unexpected_count" in result:
        return {
            "unexpected_count": result.get("unexpected_count"),
            "unexpected_percent": result.get("unexpected_percent"),
            "partial_unexpected_list": result.get("partial_unexpected_list", [])[:5],
        }
    return None


# Backward-compatible name.
_json_default = json_default
