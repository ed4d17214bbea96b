"""TFDV statistics and anomalies as a self-contained report for the reports page.

``<reports_dir>/tfdv/<pipeline>/<pipeline run id>/``:

- ``index.html``: one page, inline CSS, no scripts and no external URL: the verdict,
  the anomalies, every drift and skew distance against its threshold, and a table
  of feature statistics per split. (TFDV's own visualization loads Facets from a
  CDN, which the reports page cannot use.)
- ``summary.json``: pipeline, run ids, eval_ds, training window, status
  (``pass``/``fail``), anomaly_count, created_at: what a listing of runs needs.
- ``anomalies.json``: the anomalies (split, feature, kind, reason) and the drift/skew
  measurements.

Written after validation whether it passed or not: a failed run is when people look.
"""

from __future__ import annotations

import datetime
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from notiflow import registry
from tfx_pipelines.common import gates

REPORT_SUBDIR = "tfdv"
TOP_VALUES_SHOWN = 5


def report_dir(reports_dir: str | os.PathLike[str], pipeline: str, pipeline_run_id: str) -> Path:
    """Where the report of one run goes (``pipeline_run_id`` is already path-safe)."""
    return Path(reports_dir) / REPORT_SUBDIR / pipeline / pipeline_run_id


# --- data -------------------------------------------------------------------------


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    which = feature.WhichOneof("stats")
    return getattr(feature, which).common_stats if which else statistics_pb2.CommonStatistics()


def feature_rows(stats: statistics_pb2.DatasetFeatureStatisticsList) -> list[dict[str, Any]]:
    """One row per feature: count, missing %, numeric summary or top string values."""
    if not stats.datasets:
        return []
    dataset = stats.datasets[0]
    rows = []
    for feature in dataset.features:
        common = _common(feature)
        total = common.num_non_missing + common.num_missing
        row: dict[str, Any] = {
            "feature": ".".join(feature.path.step) or feature.name,
            "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
            "count": int(common.num_non_missing),
            "missing_pct": 100.0 * common.num_missing / total if total else 0.0,
        }
        if feature.HasField("num_stats"):
            num = feature.num_stats
            row.update(
                mean=num.mean,
                std=num.std_dev,
                min=num.min,
                median=num.median,
                max=num.max,
                zeros_pct=100.0 * num.num_zeros / common.num_non_missing
                if common.num_non_missing
                else 0.0,
            )
        elif feature.HasField("string_stats"):
            strings = feature.string_stats
            row.update(
                unique=int(strings.unique),
                top_values=[
                    {"value": v.value, "frequency": int(v.frequency)}
                    for v in strings.top_values[:TOP_VALUES_SHOWN]
                ],
            )
        rows.append(row)
    return sorted(rows, key=lambda r: r["feature"])


def anomaly_rows(anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies]) -> list[dict[str, Any]]:
    """One row per (split, feature or dataset, reason)."""
    rows = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        items = sorted(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            items.append(("(dataset)", anomalies.dataset_anomaly_info))
        for feature, info in items:
            reasons = list(info.reason) or [
                anomalies_pb2.AnomalyInfo.Reason(
                    short_description=info.short_description, description=info.description
                )
            ]
            for reason in reasons:
                rows.append(
                    {
                        "split": split,
                        "feature": feature,
                        "kind": gates.anomaly_kind(reason, split),
                        "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                        "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                        "short_description": reason.short_description,
                        "description": reason.description,
                    }
                )
    return rows


def anomaly_count(anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies]) -> int:
    """Anomalous features (and datasets) over all splits: what the gate fails on."""
    return sum(
        len(a.anomaly_info) + int(a.HasField("dataset_anomaly_info"))
        for a in anomalies_by_split.values()
    )


# --- writing ----------------------------------------------------------------------


def write_report(
    out_dir: str | os.PathLike[str],
    *,
    pipeline: str,
    run_id: str,
    pipeline_run_id: str,
    eval_ds: datetime.date,
    training_days: int,
    statistics: Mapping[str, statistics_pb2.DatasetFeatureStatisticsList],
    anomalies: Mapping[str, anomalies_pb2.Anomalies],
    previous_span_ds: datetime.date | None = None,
    created_at: datetime.datetime | None = None,
) -> Path:
    """Writes index.html, summary.json and anomalies.json; returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    created_at = created_at or datetime.datetime.now(datetime.UTC)
    count = anomaly_count(anomalies)
    summary = {
        "pipeline": pipeline,
        "run_id": run_id,
        "pipeline_run_id": pipeline_run_id,
        "eval_ds": eval_ds.isoformat(),
        "train_days": training_days,
        "train_window": registry.data_windows(eval_ds, training_days)["train_window"],
        "drift_baseline_ds": previous_span_ds.isoformat() if previous_span_ds else None,
        "status": "fail" if count else "pass",
        "anomaly_count": count,
        "examples": {
            split: int(s.datasets[0].num_examples) if s.datasets else 0
            for split, s in sorted(statistics.items())
        },
        "created_at": created_at.isoformat(timespec="seconds"),
    }
    details = {
        "status": summary["status"],
        "anomaly_count": count,
        "anomalies": anomaly_rows(anomalies),
        "drift_skew": gates.drift_skew_measurements(dict(anomalies)),
        "drift_baseline_ds": summary["drift_baseline_ds"],
    }
    features_by_split = {split: feature_rows(s) for split, s in sorted(statistics.items())}
    _write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write_text(out / "anomalies.json", json.dumps(details, indent=2) + "\n")
    _write_text(out / "index.html", render_html(summary, details, features_by_split))
    return out


def _write_text(path: Path, text: str) -> None:
    # Write then rename: the reports page may read while a retried task rewrites.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- HTML -------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;
color:#1d2330;background:#fafbfc;font-size:14px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#5a6270;margin-bottom:16px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}
table{border-collapse:collapse;background:#fff;margin-bottom:8px;min-width:60%}
th,td{border:1px solid #d8dee4;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#ffebe9}.note{color:#5a6270}
.kind{font-size:12px;padding:1px 6px;border-radius:6px;background:#eaeef2}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]], bad: list[bool] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, cells in enumerate(rows):
        cls = ' class="bad"' if bad and bad[i] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(value: Any, numeric: bool = False) -> str:
    return f'<td class="num">{_e(_num(value))}</td>' if numeric else f"<td>{_e(value)}</td>"


def render_html(
    summary: dict[str, Any],
    details: dict[str, Any],
    features_by_split: dict[str, list[dict[str, Any]]],
) -> str:
    status = summary["status"]
    window = summary["train_window"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>TFDV {_e(summary['pipeline'])} {_e(summary['run_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>TFDV data validation: {_e(summary['pipeline'])} "
        f'<span class="badge {status}">{_e(status.upper())}</span></h1>',
        f'<div class="meta">run {_e(summary["run_id"])} &middot; evaluation day '
        f"{_e(summary['eval_ds'])} &middot; training window {_e(window['start'])} to "
        f"{_e(window['end'])} ({_e(summary['train_days'])} days) &middot; examples "
        + ", ".join(f"{_e(k)} {_e(v)}" for k, v in summary["examples"].items())
        + f" &middot; created {_e(summary['created_at'])}</div>",
        f"<h2>Anomalies ({_e(summary['anomaly_count'])})</h2>",
    ]
    anomalies = details["anomalies"]
    if anomalies:
        parts.append(
            _table(
                ["split", "feature", "kind", "anomaly", "details"],
                [
                    [
                        _td(a["split"]),
                        _td(a["feature"]),
                        f'<td><span class="kind">{_e(a["kind"])}</span></td>',
                        _td(a["short_description"]),
                        _td(a["description"]),
                    ]
                    for a in anomalies
                ],
                [True] * len(anomalies),
            )
        )
    else:
        parts.append('<p class="note">None: every split matches the schema.</p>')

    measurements = details["drift_skew"]
    baseline = summary.get("drift_baseline_ds")
    parts.append("<h2>Drift and skew</h2>")
    parts.append(
        '<p class="note">Skew: training window vs evaluation day. Drift: evaluation day vs '
        + (
            f"the previous span ({_e(baseline)})."
            if baseline
            else "the previous span; none was found (first run, or no run in the last days), "
            "so drift was not checked."
        )
        + " Thresholds come from the checked-in schema.</p>"
    )
    if measurements:
        parts.append(
            _table(
                ["kind", "feature", "measure", "distance", "threshold", "verdict"],
                [
                    [
                        _td(m["kind"]),
                        _td(m["feature"]),
                        _td(m["measure"]),
                        _td(m["value"], numeric=True),
                        _td(m["threshold"], numeric=True),
                        _td("ABOVE threshold" if m["exceeded"] else "ok"),
                    ]
                    for m in measurements
                ],
                [m["exceeded"] for m in measurements],
            )
        )
    else:
        parts.append('<p class="note">No drift or skew measurements.</p>')

    anomalous = {(a["split"], a["feature"]) for a in anomalies}
    for split, rows in features_by_split.items():
        parts.append(f"<h2>Feature statistics: {_e(split)}</h2>")
        table_rows, bad = [], []
        for r in rows:
            top = ", ".join(f"{t['value']} ({t['frequency']})" for t in r.get("top_values", []))
            table_rows.append(
                [
                    _td(r["feature"]),
                    _td(r["type"]),
                    _td(r["count"], numeric=True),
                    _td(f"{r['missing_pct']:.2f}", numeric=True),
                    _td(r.get("mean"), numeric=True),
                    _td(r.get("std"), numeric=True),
                    _td(r.get("min"), numeric=True),
                    _td(r.get("median"), numeric=True),
                    _td(r.get("max"), numeric=True),
                    _td(r.get("unique", ""), numeric=True),
                    _td(top),
                ]
            )
            bad.append((split, r["feature"]) in anomalous)
        parts.append(
            _table(
                [
                    "feature",
                    "type",
                    "count",
                    "missing %",
                    "mean",
                    "std",
                    "min",
                    "median",
                    "max",
                    "unique",
                    "top values",
                ],
                table_rows,
                bad,
            )
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
