"""Seed data for the reports tests: data-quality results rows, TFDV report folders, and
model registries with evaluation summaries."""

from __future__ import annotations

import datetime as dt
import json

from notiflow import model_evaluations, registry, warehouse
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


# -- models: registry records and evaluation summaries (notiflow.model_evaluations) ----

MODEL_DAY = dt.date(2026, 10, 8)
FIRST_RUN, REFUSED_RUN, LIVE_RUN = "manual__first", "scheduled__refused", "scheduled__live"
ENGAGEMENT_METRICS = ("auc", "binary_crossentropy", "calibration", "mean_label", "mean_prediction")


def _engagement_metrics(auc: float, scale: float = 1.0) -> dict[str, dict[str, float]]:
    """Metrics by slice: each channel's AUC ``auc`` minus an offset, predictions ``scale``
    times the labels on push (over-calibrated when ``scale`` > 1)."""
    by_slice = {}
    for k, name in enumerate(("overall", "channel=push", "channel=email", "channel=in_app")):
        mean_label = 0.10 + 0.02 * k
        mean_prediction = mean_label * (scale if name == "channel=push" else 1.01)
        by_slice[name] = {
            "auc": auc - 0.01 * k,
            "binary_crossentropy": 0.30 + 0.01 * k,
            "calibration": mean_prediction / mean_label,
            "mean_label": mean_label,
            "mean_prediction": mean_prediction,
            "example_count": 2000.0 if name == "overall" else 600.0 + 40 * k,
        }
    by_slice["platform=ios"] = dict(by_slice["overall"], auc=auc + 0.005, example_count=900.0)
    return by_slice


def calibration_bins(scale: float, bins: int = 10) -> list[dict[str, float]]:
    """Equal-weight bins whose mean label is the mean prediction / ``scale``."""
    return [
        {
            "lower": 0.02 * k,
            "upper": 0.02 * (k + 1),
            "weight": 200.0,
            "mean_prediction": 0.02 * k + 0.01,
            "mean_label": (0.02 * k + 0.01) / scale,
        }
        for k in range(bins)
    ]


def model_summary(
    model: str,
    pipeline_run_id: str,
    *,
    blessed: bool,
    metrics: dict[str, dict[str, float]],
    baseline_metrics: dict[str, dict[str, float]] | None = None,
    baseline_run: str | None = None,
    reasons: list[str] = (),
    failures: list[dict] = (),
    calibration: dict[str, list[dict]] | None = None,
    reported: tuple[str, ...] = ENGAGEMENT_METRICS,
    evaluated_at: str = "2026-10-09T06:00:00+00:00",
    extra_metrics: dict[str, float] | None = None,
) -> dict:
    """An evaluation summary with every field of notiflow.model_evaluations' contract."""
    return {
        "model": model,
        "run_id": pipeline_run_id.replace("__", "__2026-10-09T"),
        "pipeline_run_id": pipeline_run_id,
        "end_ds": MODEL_DAY.isoformat(),
        **registry.data_windows(MODEL_DAY, 14),
        "evaluated_at": evaluated_at,
        "blessed": blessed,
        "reasons": list(reasons),
        "failures": list(failures),
        "baseline": None
        if baseline_run is None
        else {
            "uri": f"/pipelines/{model}/Trainer/model/7",
            "model_id": 13,
            "pipeline_run_id": baseline_run,
        },
        "reported_metrics": list(reported),
        "metrics": {"candidate": metrics, "baseline": baseline_metrics or {}},
        "extra_metrics": extra_metrics or {},
        "calibration": {"candidate": calibration or {}, "baseline": {}},
    }


def push(settings: Settings, model: str, pipeline_run_id: str, version: str, metrics: dict) -> None:
    """The registry record of ``version``, pushed by run ``pipeline_run_id``."""
    record = registry.registry_record(
        model_name=model,
        pushed={"version": version, "path": str(settings.serving_dir / model / version)},
        metrics=metrics,
        end_ds=MODEL_DAY,
        training_days=14,
        run_id=pipeline_run_id,
        pipeline_run_id=pipeline_run_id,
        pushed_at=dt.datetime(2026, 10, 9, 6, int(version[-1]), tzinfo=dt.UTC),
        reported_metrics=[*ENGAGEMENT_METRICS, "example_count", "ndcg_at_3"],
    )
    registry.append_record(settings, record)


CHANNEL_FAILURE = {
    "slice": "channel=push",
    "metric": "auc",
    "value": -0.031,
    "threshold": "change (HIGHER_IS_BETTER, absolute -0.01)",
    "is_change": True,
}
CALIBRATION_REASON = (
    "[channel=push] calibration = 1.3 (mean prediction 0.156 / mean label 0.12, 640 examples) "
    "is outside [0.9, 1.1] by 4.2 standard errors (> 3)"
)


def seed_models(settings: Settings) -> None:
    """Engagement: a first model (no baseline) pushed as version 1; a refused one, worse on
    push only (AUC against the baseline, calibration); a better one pushed as version 2,
    live. Ranking: one pushed model, judged on NDCG, without a calibration plot."""
    first, live = _engagement_metrics(0.75), _engagement_metrics(0.77)
    refused = _engagement_metrics(0.76, scale=1.3)
    refused["channel=push"]["auc"] = first["channel=push"]["auc"] - 0.031
    bins = {name: calibration_bins(1.02) for name in ("overall", "channel=email", "channel=in_app")}
    summaries = [
        model_summary(
            "engagement",
            FIRST_RUN,
            blessed=True,
            metrics=first,
            calibration=bins | {"channel=push": calibration_bins(1.0)},
            evaluated_at="2026-10-09T06:00:00+00:00",
        ),
        model_summary(
            "engagement",
            REFUSED_RUN,
            blessed=False,
            metrics=refused,
            baseline_metrics=first,
            baseline_run=FIRST_RUN,
            reasons=[
                "[channel=push] auc change vs baseline = -0.031 fails threshold change "
                "(HIGHER_IS_BETTER, absolute -0.01)",
                CALIBRATION_REASON,
            ],
            failures=[CHANNEL_FAILURE],
            calibration=bins | {"channel=push": calibration_bins(1.3)},
            evaluated_at="2026-10-10T06:00:00+00:00",
        ),
        model_summary(
            "engagement",
            LIVE_RUN,
            blessed=True,
            metrics=live,
            baseline_metrics=first,
            baseline_run=FIRST_RUN,
            calibration=bins | {"channel=push": calibration_bins(0.98)},
            evaluated_at="2026-10-11T06:00:00+00:00",
        ),
        model_summary(
            "ranking",
            FIRST_RUN,
            blessed=True,
            metrics={
                "overall": {"ndcg_at_3": 0.41, "example_count": 800.0},
                "platform=ios": {"ndcg_at_3": 0.43, "example_count": 300.0},
            },
            reported=("ndcg_at_3", "example_count"),
            extra_metrics={"popularity_ndcg_at_3": 0.35},
        ),
    ]
    for summary in summaries:
        model_evaluations.write_summary(settings, summary)
    push(settings, "engagement", FIRST_RUN, "1001", first)
    push(settings, "engagement", LIVE_RUN, "1002", live)
    push(settings, "ranking", FIRST_RUN, "2001", {"overall": {"ndcg_at_3": 0.41}})
