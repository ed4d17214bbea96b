"""The summary of one Evaluator run for the model report (:mod:`notiflow.model_evaluations`
has its fields), built from the run's ``evaluation`` and ``blessing`` artifacts.

The reports app cannot read TFMA's output (it runs without TensorFlow), so the
Evaluator hook exports what the report shows as JSON: the verdict and its reasons,
the metrics of the candidate and of the baseline by slice, and TFMA's calibration
histogram, re-binned into a few bins of about equal weight (TFMA's 1,000 fixed-width
buckets would be mostly empty, and the few full ones too noisy to plot one by one).
It reads the artifacts with :mod:`tfx_pipelines.common.gates`'s readers where they
exist, so the report says what the hooks printed.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.orchestration import metadata

from notiflow import registry
from tfx_pipelines.common import gates, node_runner

CALIBRATION_BINS = 10
CANDIDATE, BASELINE = "candidate", "baseline"
# How TFMA names the models: "" when it evaluated the candidate alone (no baseline yet).
_MODEL_SIDES = {"": CANDIDATE, tfma.CANDIDATE_KEY: CANDIDATE, tfma.BASELINE_KEY: BASELINE}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def read_failures(evaluation_artifact: types.Artifact) -> list[dict[str, Any]]:
    """TFMA's failed thresholds, one dict each (slice, metric, value, threshold text,
    is_change); :func:`gates.validation_failures` says the same as lines of text."""
    result = tfma.load_validation_result(evaluation_artifact.uri)
    return [
        {
            "slice": gates.slice_name(per_slice.slice_key),
            "metric": failure.metric_key.name,
            "value": _finite(failure.metric_value.double_value.value),
            "threshold": gates.threshold_text(failure.metric_threshold),
            "is_change": failure.metric_key.is_diff,
        }
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ]


def equal_weight_bins(
    buckets: Iterable[Any], bins: int = CALIBRATION_BINS
) -> list[dict[str, float | None]]:
    """TFMA's calibration histogram buckets merged, in order, into at most ``bins`` bins
    of about equal weight: ``{lower, upper, weight, mean_prediction, mean_label}``."""
    full = [b for b in buckets if b.num_weighted_examples.value > 0]
    total = sum(b.num_weighted_examples.value for b in full)
    merged: list[dict[str, float | None]] = []
    start, cumulative, next_bin = 0, 0.0, 1
    for i, bucket in enumerate(full):
        cumulative += bucket.num_weighted_examples.value
        # Bin k closes once the buckets so far hold k / bins of the weight.
        if cumulative < total * next_bin / bins * (1 - 1e-9) and i < len(full) - 1:
            continue
        members = full[start : i + 1]
        weight = sum(b.num_weighted_examples.value for b in members)
        merged.append(
            {
                "lower": _finite(members[0].lower_threshold_inclusive),
                "upper": _finite(bucket.upper_threshold_exclusive),
                "weight": weight,
                "mean_prediction": sum(b.total_weighted_refined_prediction.value for b in members)
                / weight,
                "mean_label": sum(b.total_weighted_label.value for b in members) / weight,
            }
        )
        start = i + 1
        while next_bin < bins and cumulative >= total * next_bin / bins * (1 - 1e-9):
            next_bin += 1
    return merged


def read_calibration(
    evaluation_artifact: types.Artifact, bins: int = CALIBRATION_BINS
) -> dict[str, dict[str, list[dict[str, float | None]]]]:
    """Each model's calibration bins by slice name, from TFMA's CalibrationPlot
    (``{"candidate": {}, "baseline": {}}`` for a model evaluated without one)."""
    result: dict[str, dict[str, list[dict[str, float | None]]]] = {CANDIDATE: {}, BASELINE: {}}
    for plots in tfma.load_plots(evaluation_artifact.uri):
        for kv in plots.plot_keys_and_values:
            side = _MODEL_SIDES.get(kv.key.model_name)
            if side is None or not kv.value.HasField("calibration_histogram_buckets"):
                continue
            binned = equal_weight_bins(kv.value.calibration_histogram_buckets.buckets, bins)
            if binned:
                result[side][gates.slice_name(plots.slice_key)] = binned
    return result


def producing_run(config: metadata_store_pb2.ConnectionConfig, artifact_id: int) -> str | None:
    """The pipeline run id of the execution that produced artifact ``artifact_id``."""
    with metadata.Metadata(config) as m:
        run_type = m.store.get_context_type(node_runner.PIPELINE_RUN_CONTEXT)
        for event in m.store.get_events_by_artifact_ids([artifact_id]):
            if event.type != metadata_store_pb2.Event.OUTPUT:
                continue
            for context in m.store.get_contexts_by_execution(event.execution_id):
                if context.type_id == run_type.id:
                    return context.name
    return None


def baseline_model(
    blessing_artifact: types.Artifact, config: metadata_store_pb2.ConnectionConfig | None
) -> dict[str, Any] | None:
    """The last blessed model the candidate was compared with, if any: its uri, MLMD id
    and (given ``config``, ML Metadata's) the pipeline run that trained it."""
    if not gates.has_baseline(blessing_artifact):
        return None
    model_id = blessing_artifact.get_int_custom_property(
        evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY
    )
    return {
        "uri": blessing_artifact.get_string_custom_property(
            evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY
        ),
        "model_id": model_id,
        "pipeline_run_id": producing_run(config, model_id) if config is not None else None,
    }


def not_blessed_reasons(
    evaluation_artifact: types.Artifact, blessing_artifact: types.Artifact
) -> list[str]:
    """Why the model was not blessed (empty when it was): TFMA's failures, then the
    pipeline's own gate's reason."""
    if gates.is_blessed(blessing_artifact):
        return []
    return gates.why_not_blessed(evaluation_artifact, blessing_artifact)


def _finite_metrics(by_slice: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    return {s: {k: _finite(v) for k, v in values.items()} for s, values in by_slice.items()}


def build_summary(
    *,
    model: str,
    run_id: str,
    pipeline_run_id: str,
    end_ds: datetime.date,
    training_days: int,
    evaluation: types.Artifact,
    blessing: types.Artifact,
    reported_metrics: Sequence[str] = gates.REPORTED_METRICS,
    config: metadata_store_pb2.ConnectionConfig | None = None,
    evaluated_at: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The summary of the evaluation in ``evaluation`` and ``blessing`` (the Evaluator's
    outputs, after the pipeline's own gates), in :mod:`notiflow.model_evaluations`'s
    fields. ``config``: ML Metadata, to name the run that trained the baseline."""
    evaluated_at = evaluated_at or datetime.datetime.now(datetime.UTC)
    return {
        "model": model,
        "run_id": run_id,
        "pipeline_run_id": pipeline_run_id,
        "end_ds": end_ds.isoformat(),
        **registry.data_windows(end_ds, training_days),
        "evaluated_at": evaluated_at.isoformat(timespec="seconds"),
        "blessed": gates.is_blessed(blessing),
        "reasons": not_blessed_reasons(evaluation, blessing),
        "failures": read_failures(evaluation),
        "baseline": baseline_model(blessing, config),
        "reported_metrics": list(reported_metrics),
        "metrics": {
            CANDIDATE: _finite_metrics(gates.read_metrics(evaluation)),
            BASELINE: _finite_metrics(gates.read_metrics(evaluation, tfma.BASELINE_KEY)),
        },
        "extra_metrics": {k: _finite(v) for k, v in gates.extra_metrics(blessing).items()},
        "calibration": read_calibration(evaluation),
    }
