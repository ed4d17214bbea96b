"""The logic of notiflow's Airflow tasks, as plain functions DAG files call.

Each takes the settings and the task's context values and returns what the task
pushes to XCom. Airflow's exceptions are imported inside the functions, so that
parsing a DAG file stays cheap and these stay testable one by one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notiflow import domain
from notiflow.settings import Settings

log = logging.getLogger(__name__)


def land_day(
    settings: Settings, ds: str, fault: str | None, severity: float, run_id: str | None = None
) -> dict[str, int]:
    """Land day ``ds`` into the raw layer inside a task, from ``settings.source``: the
    simulator (which also sends the day's published plan), or the landing folder where a
    team's loggers put their files (:mod:`notiflow.landing`). A load that breaks the raw
    or plan contract fails at once (retrying would load the same rows) and is recorded
    with the raw layer's quality results, so the reports show why the day stopped."""
    from airflow.sdk.exceptions import AirflowFailException

    from notiflow import landing, simulator
    from notiflow.contracts import SchemaContractError
    from notiflow.simulator.plan import PlanContractError

    day = dt.date.fromisoformat(ds)
    try:
        if settings.source == "landing":
            if fault is not None:
                raise AirflowFailException(
                    f"fault drills corrupt simulated days; source=landing loads {ds}'s files "
                    "as they are (drill with source=simulator, or land corrupt files)"
                )
            landed = landing.load_day(settings, day)
        else:
            landed = simulator.simulate(settings, day, 1, fault=fault, severity=severity)
        _warn_if_plan_unpublished(settings, ds)
        return landed
    except SchemaContractError as exc:
        _record_refused_load(settings, ds, run_id, exc.table, ", ".join(exc.columns), str(exc))
        raise AirflowFailException(str(exc)) from exc
    except landing.LandingError as exc:
        tables = ", ".join(f"raw.{t}" for t in exc.tables) or "raw"
        _record_refused_load(settings, ds, run_id, tables, None, str(exc))
        raise AirflowFailException(str(exc)) from exc
    except PlanContractError as exc:
        raise AirflowFailException(str(exc)) from exc


def _record_refused_load(
    settings: Settings, ds: str, run_id: str | None, table: str, column: str | None, why: str
) -> None:
    from expectations.results import ExpectationOutcome, write_results

    refused = ExpectationOutcome(
        suite="raw_load_contract",
        table=table,
        ds=ds,
        expectation="load_contract",
        column=column or None,
        severity="critical",
        success=False,
        observed_value=why,
        layer="raw",
    )
    write_results(settings, [refused], run_id=run_id)


def _warn_if_plan_unpublished(settings: Settings, ds: str) -> None:
    from notiflow.planning.plan import PLAN_SUMMARY_FILE, STAGED_SUMMARY_FILE, planning_dir

    folder = planning_dir(settings, dt.date.fromisoformat(ds))
    if (folder / STAGED_SUMMARY_FILE).exists() and not (folder / PLAN_SUMMARY_FILE).exists():
        log.warning(
            "%s was planned but its plan was not published (the plan gate stopped it): the "
            "logging policy sent the day",
            ds,
        )


def run_quality_layer(
    settings: Settings, layer: str, ds: str, run_id: str | None = None
) -> list[dict[str, Any]]:
    """Run every GX suite of ``layer`` on day ``ds`` inside a task; the outcomes are kept in
    quality.data_quality_results and returned for XCom. Broken data fails the task at
    once: retrying cannot fix it."""
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.gates import DataQualityError, run_layer

    try:
        outcomes = run_layer(settings, layer, ds, run_id=run_id)
    except DataQualityError as exc:
        raise AirflowFailException(str(exc)) from exc
    return [outcome.as_record() for outcome in outcomes]


def training_end_ds(
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    requested_end_ds: str | None,
    latest_ds_in_mart: str | None,
) -> str:
    """The last day (evaluation day) of a training run's window.

    An explicit request wins. Otherwise it is the newest day whose labels are
    mature: an open within 24 h of a send on day D may be logged on day D+1, so
    day D's labels are complete only once D+1 has landed. The newest landed day
    is the newer of the asset events that triggered the run and the mart's newest day.
    """
    if requested_end_ds:
        return requested_end_ds
    days = landed_days(triggering_asset_events)
    # A re-landed older day must not pull the window back behind models already trained.
    newest = max([*days, *([latest_ds_in_mart] if latest_ds_in_mart else [])], default=None)
    if newest:
        return (
            dt.date.fromisoformat(newest) - dt.timedelta(days=domain.LABEL_MATURITY_DAYS)
        ).isoformat()
    raise ValueError(
        "no training window: the run was not triggered by an update of its examples mart, "
        "no end_ds was given, and the mart is empty"
    )


def landed_days(triggering_asset_events: Mapping[Any, Sequence[Any]] | None) -> list[str]:
    """The landed days (``ds`` of the events' extra) among a run's triggering events."""
    return [
        event.extra["ds"]
        for events in (triggering_asset_events or {}).values()
        for event in events
        if (event.extra or {}).get("ds")
    ]


def newest_mart_day(settings: Settings, mart: str) -> str | None:
    """The newest ``ds`` of a feature mart, or None when it is empty."""
    from notiflow import warehouse

    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(
            f"select cast(max(ds) as varchar) from {domain.mart_table(mart)}"
        ).fetchone()[0]


def training_window(
    settings: Settings,
    examples_mart: str,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    requested_end_ds: str | None,
) -> str:
    """The evaluation day of a training run triggered by ``examples_mart`` (see
    :func:`training_end_ds`)."""
    latest = newest_mart_day(settings, examples_mart)
    return training_end_ds(triggering_asset_events, requested_end_ds, latest)


def plan_day(
    settings: Settings,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    requested_ds: str | None,
) -> str:
    """The day a planning run plans: the ``ds`` parameter, else the day after the newest
    landed day among the candidate Asset events that triggered it (candidates of the
    run landing D are for D + 1), else the newest day of the candidates mart. A
    re-landed older day is skipped: its next day was sent already."""
    from airflow.sdk.exceptions import AirflowSkipException

    if requested_ds:
        return requested_ds
    landed = landed_days(triggering_asset_events)
    if not landed:
        newest = newest_mart_day(settings, domain.SCORING_CANDIDATES)
        if newest is None:
            raise ValueError("nothing to plan: no ds given and the candidates mart is empty")
        return newest
    day = (dt.date.fromisoformat(max(landed)) + dt.timedelta(days=1)).isoformat()
    newest_landed = newest_raw_day(settings)
    if newest_landed is not None and day <= newest_landed:
        raise AirflowSkipException(
            f"{day} has landed already (newest landed day {newest_landed}): a re-landed "
            "day is not planned again (pass ds to force it)"
        )
    return day


def evaluate_policy(settings: Settings, landed_ds: str) -> dict[str, Any]:
    """Evaluates the day whose labels the landing of ``landed_ds`` made mature (see
    :mod:`notiflow.planning.evaluation`); skipped, saying why, when there is none yet."""
    from airflow.sdk.exceptions import AirflowSkipException

    from notiflow.planning.evaluation import EvaluationError, evaluate_day

    day = dt.date.fromisoformat(landed_ds) - dt.timedelta(days=domain.LABEL_MATURITY_DAYS)
    try:
        result = evaluate_day(settings, day)
    except EvaluationError as exc:
        raise AirflowSkipException(str(exc)) from exc
    if result["fallback"]:
        log.warning("%s fell back to the logging policy: %s", day, result["fallback"])
    return result


def newest_raw_day(settings: Settings) -> str | None:
    """The newest landed day of raw notifications, or None before the first."""
    from notiflow import warehouse

    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(
            f"select cast(max(ds) as varchar) from {domain.RAW_SCHEMA}.notifications"
        ).fetchone()[0]


def choose_sends(
    settings: Settings, ds: str, run_id: str | None = None, fault: str | None = None
) -> dict[str, Any]:
    """Stages tomorrow's plan from the scores (see :mod:`notiflow.planning.plan`), with a
    drill's ``fault`` if given; returns its summary for XCom. A plan that cannot be made
    fails the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from notiflow.planning.plan import PlanningError, stage_plan

    try:
        return stage_plan(settings, dt.date.fromisoformat(ds), run_id=run_id, fault=fault).summary
    except PlanningError as exc:
        raise AirflowFailException(str(exc)) from exc


def publish_plan(settings: Settings, ds: str, run_id: str) -> int:
    """Publishes the staged plan of ``ds``, only if this run's plan gate passed it (a
    task cleared alone must not publish a plan staged, or failed, by another run);
    returns its rows."""
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.results import latest_results
    from notiflow.planning.plan import publish_staged

    verdict = [r for r in latest_results(settings, ds=ds, layer="plan") if r["run_id"] == run_id]
    failed = [r for r in verdict if r["severity"] == "critical" and not r["success"]]
    if not verdict or failed:
        raise AirflowFailException(
            f"the staged plan of {ds} has no passing plan gate of run {run_id} "
            f"({len(failed)} critical failure(s), {len(verdict)} results): not published"
        )
    return publish_staged(settings, dt.date.fromisoformat(ds))
