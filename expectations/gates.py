"""Run a suite as a GX checkpoint on one day of a warehouse table, and build Data Docs."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import great_expectations as gx
from great_expectations.checkpoint import Checkpoint, UpdateDataDocsAction
from great_expectations.core import ValidationDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.metadata_types import FailureSeverity

from expectations.suites import SUITES
from notiflow import warehouse
from notiflow.settings import Settings

DATASOURCE = "notiflow_warehouse"


class DataQualityError(RuntimeError):
    """A critical expectation failed: downstream work must not run."""


@dataclasses.dataclass(frozen=True)
class ExpectationOutcome:
    suite: str
    table: str
    ds: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed_value: Any

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        status = "passed" if self.success else "failed"
        return (
            f"[{self.severity}] {where} (ds={self.ds}): {self.expectation} {status}, "
            f"observed {self.observed_value!r}"
        )

    def as_record(self) -> dict[str, Any]:
        """JSON-safe form, for XCom and reports."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_default))


def _context(settings: Settings) -> Any:
    settings.gx_root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_root))
    # Progress bars flood task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_gate(settings: Settings, suite_name: str, ds: str) -> list[ExpectationOutcome]:
    """Validate the rows of day ``ds``; raise DataQualityError if a critical expectation fails.

    Returns every expectation's outcome (warnings included) for reports and XCom.
    """
    if suite_name not in SUITES:
        raise KeyError(f"no suite named {suite_name!r}; known: {sorted(SUITES)}")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    suite_factory, table = SUITES[suite_name]
    with warehouse.connect(settings, read_only=True) as con:
        frame = con.execute(f"select * from {table} where ds = ?::date", [ds]).fetchdf()

    context = _context(settings)
    datasource = context.data_sources.add_or_update_pandas(DATASOURCE)
    asset_names = {asset.name for asset in datasource.assets}
    asset = (
        datasource.get_asset(table)
        if table in asset_names
        else datasource.add_dataframe_asset(name=table)
    )
    batch_name = "by_day"
    batch_definition = next(
        (b for b in asset.batch_definitions if b.name == batch_name), None
    ) or asset.add_batch_definition_whole_dataframe(batch_name)
    suite = context.suites.add_or_update(suite_factory())
    validation = context.validation_definitions.add_or_update(
        ValidationDefinition(name=f"{suite_name}__by_day", data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        Checkpoint(
            name=f"{suite_name}__gate",
            validation_definitions=[validation],
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=None)

    outcomes = []
    for validation_result in result.run_results.values():
        for item in validation_result.results:
            config = item.expectation_config
            outcomes.append(
                ExpectationOutcome(
                    suite=suite_name,
                    table=table,
                    ds=ds,
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    severity=FailureSeverity(config.severity).value,
                    success=bool(item.success),
                    observed_value=_observed(item.result),
                )
            )
    failed_critical = [o for o in outcomes if not o.success and o.severity == "critical"]
    if failed_critical:
        raise DataQualityError(
            f"{len(failed_critical)} critical expectation(s) failed on {table} for ds={ds}:\n"
            + "\n".join(o.describe() for o in failed_critical)
            + f"\nData Docs: {settings.data_docs_dir / 'index.html'}"
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


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
