"""Readers of TFX artifacts for the post-node hooks: anomalies, metrics, validation, pushes.

Every reader takes an artifact recorded in ML Metadata for the run (not values held
in memory), so a retried task that the launcher skips as already done reaches the
same verdict as the first attempt. What to do with them (report, gate, register) is
in :mod:`tfx_pipelines.common.hooks`; the model registry itself is
:mod:`notiflow.registry`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.types import artifact_utils
from tfx.utils import io_utils

from tfx_pipelines.components.duckdb_example_gen import TRAIN_SPLIT

ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split
# The metrics reports and registry records show by default (a binary classifier's); a
# pipeline with other metrics passes its own (e.g. ranking: NDCG).
REPORTED_METRICS = (
    "auc",
    "binary_crossentropy",
    "calibration",
    "mean_label",
    "mean_prediction",
    "example_count",
)


class GateError(RuntimeError):
    """A gate stopped the run; the message names what is wrong."""


# --- ExampleValidator -------------------------------------------------------------


def read_anomalies(anomalies_artifact: types.Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    """The Anomalies proto of each split of an ExampleAnomalies artifact."""
    result = {}
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(
            artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE
        )
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        result[split] = anomalies
    return result


def anomaly_kind(reason: anomalies_pb2.AnomalyInfo.Reason, split: str) -> str:
    """Kind of an anomaly: "schema", "skew" (training vs serving) or "drift" (vs previous span).

    TFDV reports both comparisons with the same COMPARATOR_* reason types; its text
    says which pair was compared. The validator measures skew on the training split
    only, which decides when the text does not.
    """
    if not anomalies_pb2.AnomalyInfo.Type.Name(reason.type).startswith("COMPARATOR_"):
        return "schema"
    text = f"{reason.short_description} {reason.description}"
    if "training and serving" in text:
        return "skew"
    if "previous" in text:
        return "drift"
    return "skew" if split == TRAIN_SPLIT else "drift"


_KIND_LABELS = {
    "schema": "",
    "skew": " (training/serving skew: training window vs evaluation day)",
    "drift": " (drift: evaluation day vs the previous span)",
}


def _reason_text(reason: anomalies_pb2.AnomalyInfo.Reason) -> str:
    return f"{reason.short_description}: {reason.description}".strip(": ")


def describe_anomalies(anomalies_by_split: dict[str, anomalies_pb2.Anomalies]) -> list[str]:
    """One line per anomalous feature (and dataset-level anomaly), with the reason.

    Drift and skew lines say which data were compared; TFDV's text gives the measured
    distance and the schema's threshold.
    """
    lines = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            if info.reason:
                kinds = {anomaly_kind(r, split) for r in info.reason}
                reasons = "; ".join(_reason_text(r) for r in info.reason)
            else:
                kinds, reasons = {"schema"}, f"{info.short_description}: {info.description}"
            label = "".join(_KIND_LABELS[k] for k in sorted(kinds))
            lines.append(f"[{split}] feature {feature!r}{label}: {reasons}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            kinds = {anomaly_kind(r, split) for r in info.reason} or {"schema"}
            label = "".join(_KIND_LABELS[k] for k in sorted(kinds))
            reasons = "; ".join(_reason_text(r) for r in info.reason)
            lines.append(f"[{split}] dataset{label}: {reasons or info.description}")
    return lines


def drift_skew_measurements(
    anomalies_by_split: dict[str, anomalies_pb2.Anomalies],
) -> list[dict[str, Any]]:
    """Every drift/skew distance TFDV measured (anomalous or not), with its threshold."""
    rows = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for info in anomalies.drift_skew_info:
            feature = ".".join(info.path.step)
            for kind, measurements in (
                ("drift", info.drift_measurements),
                ("skew", info.skew_measurements),
            ):
                for m in measurements:
                    rows.append(
                        {
                            "kind": kind,
                            "split": split,
                            "feature": feature,
                            "measure": type(m).Type.Name(m.type).lower(),
                            "value": m.value,
                            "threshold": m.threshold,
                            "exceeded": m.value > m.threshold,
                        }
                    )
    return rows


def check_anomalies(anomalies_artifact: types.Artifact) -> list[str]:
    """Raises GateError naming every anomaly; returns the (empty) list otherwise."""
    lines = describe_anomalies(read_anomalies(anomalies_artifact))
    if lines:
        raise GateError(
            "ExampleValidator found data anomalies; stopping before Transform and training:\n  "
            + "\n  ".join(lines)
        )
    return lines


# --- Evaluator --------------------------------------------------------------------


def slice_name(slice_key: Any) -> str:
    parts = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ",".join(parts) or "overall"


def read_metrics(
    evaluation_artifact: types.Artifact, model: str = tfma.CANDIDATE_KEY
) -> dict[str, dict[str, float]]:
    """Metrics by slice name ("overall", "channel=push", ...) of ``model``: the candidate
    (also TFMA's unnamed single model) or ``tfma.BASELINE_KEY`` (empty without one)."""
    names = ("", tfma.CANDIDATE_KEY) if model == tfma.CANDIDATE_KEY else (model,)
    result: dict[str, dict[str, float]] = {}
    for metrics in tfma.load_metrics(evaluation_artifact.uri):
        for kv in metrics.metric_keys_and_values:
            key = kv.key
            # Skip the other model's metrics and candidate-minus-baseline diffs.
            if key.is_diff or key.model_name not in names:
                continue
            if kv.value.HasField("double_value"):
                values = result.setdefault(slice_name(metrics.slice_key), {})
                values[key.name] = kv.value.double_value.value
    return result


def validation_failures(evaluation_artifact: types.Artifact) -> list[str]:
    """Why TFMA's validation failed (empty when it passed)."""
    result = tfma.load_validation_result(evaluation_artifact.uri)
    if result.validation_ok:
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"{key.name}{' change vs baseline' if key.is_diff else ''}"
            value = failure.metric_value.double_value.value
            lines.append(
                f"[{slice_name(per_slice.slice_key)}] {what} = {value:.6g} "
                f"fails threshold {threshold_text(failure.metric_threshold)}"
            )
    if result.missing_thresholds:
        lines.append("a metric that has a threshold was not computed")
    for missing in result.missing_slices:
        lines.append(f"no evaluation data for thresholded slice {missing}".strip())
    return lines or [f"validation failed: {result}"]


def threshold_text(threshold: Any) -> str:
    if threshold.HasField("value_threshold"):
        bound = threshold.value_threshold
        parts = []
        if bound.HasField("lower_bound"):
            parts.append(f">= {bound.lower_bound.value:g}")
        if bound.HasField("upper_bound"):
            parts.append(f"<= {bound.upper_bound.value:g}")
        return " and ".join(parts)
    change = threshold.change_threshold
    direction = tfma.MetricDirection.Name(change.direction)
    return f"change ({direction}, absolute {change.absolute.value:g})"


def calibration_failures(
    metrics_by_slice: dict[str, dict[str, float]],
    slices: Sequence[str],
    bounds: tuple[float, float],
    z: float,
) -> list[str]:
    """Slices of ``slices`` whose calibration (mean prediction / mean label) is outside
    ``bounds`` by more than sampling error, one line each naming the slice and metric.

    A slice fails when its mean label lies more than ``z`` standard errors beyond the
    mean labels the bounds allow (mean prediction / upper .. mean prediction / lower):
    then its true calibration is outside the bounds with confidence, not by chance.
    The standard error is the mean label's under the model, sqrt(P(1 - P) / n) with P
    the mean prediction (an upper bound of sqrt(sum p(1 - p)) / n). A slice without
    evaluation data is skipped: TFMA's validation names thresholded slices it lacks.
    """
    lower, upper = bounds
    lines = []
    for name in slices:
        metrics = metrics_by_slice.get(name)
        if not metrics or not metrics.get("example_count"):
            continue
        n = metrics["example_count"]
        mean_label, mean_prediction = metrics["mean_label"], metrics["mean_prediction"]
        calibration = mean_prediction / mean_label if mean_label > 0 else math.inf
        if lower <= calibration <= upper:
            continue
        allowed_label = mean_prediction / (upper if calibration > upper else lower)
        standard_error = math.sqrt(max(mean_prediction * (1 - mean_prediction), 1e-12) / n)
        distance = abs(mean_label - allowed_label) / standard_error
        if distance > z:
            lines.append(
                f"[{name}] calibration = {calibration:.4g} (mean prediction "
                f"{mean_prediction:.4g} / mean label {mean_label:.4g}, {n:.0f} examples) is "
                f"outside [{lower:g}, {upper:g}] by {distance:.1f} standard errors (> {z:g})"
            )
    return lines


def is_blessed(blessing_artifact: types.Artifact) -> bool:
    return bool(
        blessing_artifact.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY)
    )


def has_baseline(blessing_artifact: types.Artifact) -> bool:
    return blessing_artifact.has_custom_property(
        evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY
    )


# A blessing withdrawn after TFMA's validation (a pipeline's own gate in its Evaluator
# hook, e.g. ranking's popularity baseline): the reason, and metrics computed beside
# TFMA's (JSON) that the report and the registry record show.
NOT_BLESSED_REASON_PROPERTY = "notiflow_not_blessed_reason"
EXTRA_METRICS_PROPERTY = "notiflow_extra_metrics"


def _update_artifact(config: Any, artifact: types.Artifact) -> None:
    from tfx.orchestration import metadata

    with metadata.Metadata(config) as m:
        m.store.put_artifacts([artifact.mlmd_artifact])


def revoke_blessing(config: Any, blessing_artifact: types.Artifact, reason: str) -> None:
    """Marks a positive ModelBlessing not blessed, in ML Metadata (what the Pusher and
    the latest-blessed-model resolver read) and on disk (BLESSED -> NOT_BLESSED), with
    ``reason``. The Pusher then pushes nothing, as for a model TFMA did not bless."""
    blessing_artifact.set_int_custom_property(
        evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY, evaluator_constants.NOT_BLESSED_VALUE
    )
    blessing_artifact.set_string_custom_property(NOT_BLESSED_REASON_PROPERTY, reason)
    _update_artifact(config, blessing_artifact)
    blessed_file = os.path.join(blessing_artifact.uri, evaluator_constants.BLESSED_FILE_NAME)
    io_utils.write_string_file(
        os.path.join(blessing_artifact.uri, evaluator_constants.NOT_BLESSED_FILE_NAME), ""
    )
    if os.path.exists(blessed_file):
        os.remove(blessed_file)


def not_blessed_reason(blessing_artifact: types.Artifact) -> str | None:
    """Why :func:`revoke_blessing` withdrew the blessing, if it did."""
    if not blessing_artifact.has_custom_property(NOT_BLESSED_REASON_PROPERTY):
        return None
    return blessing_artifact.get_string_custom_property(NOT_BLESSED_REASON_PROPERTY) or None


def why_not_blessed(
    evaluation_artifact: types.Artifact, blessing_artifact: types.Artifact
) -> list[str]:
    """Why the model is not blessed: TFMA's failed thresholds, then the reason a
    pipeline's own gate withdrew the blessing with (:func:`revoke_blessing`)."""
    reason = not_blessed_reason(blessing_artifact)
    why = validation_failures(evaluation_artifact) + ([reason] if reason else [])
    return why or ["the model blessing is negative"]


def add_extra_metrics(
    config: Any, blessing_artifact: types.Artifact, metrics: dict[str, float]
) -> None:
    """Records ``metrics`` (overall, beside TFMA's) on the blessing, in ML Metadata."""
    blessing_artifact.set_string_custom_property(
        EXTRA_METRICS_PROPERTY, json.dumps(extra_metrics(blessing_artifact) | metrics)
    )
    _update_artifact(config, blessing_artifact)


def extra_metrics(blessing_artifact: types.Artifact) -> dict[str, float]:
    if not blessing_artifact.has_custom_property(EXTRA_METRICS_PROPERTY):
        return {}
    return json.loads(blessing_artifact.get_string_custom_property(EXTRA_METRICS_PROPERTY))


def evaluation_report(
    evaluation_artifact: types.Artifact,
    blessing_artifact: types.Artifact,
    reported_metrics: Sequence[str] = REPORTED_METRICS,
) -> str:
    """Human-readable verdict and ``reported_metrics`` by slice."""
    metrics = read_metrics(evaluation_artifact)
    blessed = is_blessed(blessing_artifact)
    baseline = (
        "compared with the last blessed model "
        + blessing_artifact.get_string_custom_property(
            evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY
        )
        if has_baseline(blessing_artifact)
        else "no blessed baseline yet (first model: change threshold not applied)"
    )
    lines = [f"Evaluator: model {'BLESSED' if blessed else 'NOT blessed'} ({baseline})"]
    if not blessed:
        reason = not_blessed_reason(blessing_artifact)
        lines += ["  why: " + f for f in validation_failures(evaluation_artifact)]
        lines += [f"  why: {reason}"] if reason else []
    for slice_name in sorted(metrics, key=lambda s: (s != "overall", s)):
        shown = ", ".join(
            f"{name}={metrics[slice_name][name]:.4g}"
            for name in reported_metrics
            if name in metrics[slice_name]
        )
        lines.append(f"  {slice_name}: {shown}")
    return "\n".join(lines)


# --- Pusher -----------------------------------------------------------------------


def pushed_model_info(pushed_model: types.Artifact) -> dict[str, str] | None:
    """Version and destination of a push, or None when the Pusher did not push."""
    if not pushed_model.get_int_custom_property("pushed"):
        return None
    return {
        "version": pushed_model.get_string_custom_property("pushed_version"),
        "path": pushed_model.get_string_custom_property("pushed_destination"),
    }
