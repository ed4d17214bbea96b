"""Evaluation summaries: what each Evaluator run measured and decided, for the model report.

Standard library only, like :mod:`notiflow.registry`: the TFX environment writes one
summary per evaluation (the pipelines' Evaluator hooks, from TFMA's artifacts:
``tfx_pipelines.common.evaluation_summary``), the orchestration environment reads them
(the reports app's ``/reports/models``), which has no TFMA to read the artifacts with.
A summary is one JSON file, ``<reports_dir>/models/<model>/<pipeline_run_id>.json``,
written atomically (a page never reads half of one); a retried Evaluator task rewrites
its run's summary.

The fields of a summary (every evaluation, blessed or not):

- ``model``: the model's name, as in the registry (each pipeline trains the model of its
  name); ``run_id``: the orchestrator's run id; ``pipeline_run_id``: the TFX pipeline run
  id, path-safe, which names the file. A version that run pushed has a registry record
  with the same ``pipeline_run_id`` (:mod:`notiflow.registry`): that is how the report
  knows which evaluation made the live version, so the summary does not repeat it.
- ``end_ds``: the evaluation day; ``eval_window`` and ``train_window``: ``{start, end}``
  ISO days, as in the registry record; ``evaluated_at``: ISO time (UTC) of the summary.
- ``blessed``: whether the model may be pushed, after TFMA's thresholds and the
  pipeline's own gates (which may withdraw TFMA's blessing).
- ``reasons``: why it was not blessed, one line each: TFMA's failed thresholds, then the
  pipeline's own gate; empty when blessed.
- ``failures``: TFMA's failed thresholds, structured: ``{slice, metric, value, threshold,
  is_change}`` (``threshold`` as text, e.g. ``">= 0.6"``; ``is_change``: the threshold is
  on the change against the baseline, ``value`` then being that change).
- ``baseline``: the last blessed model the candidate was compared with, ``{uri,
  model_id, pipeline_run_id}`` (the run that trained it, when known), or null: the
  first model, which TFX blesses on the value thresholds alone.
- ``reported_metrics``: the metric names the pipeline reports, in its order.
- ``metrics``: ``{"candidate": {slice: {metric: value}}, "baseline": {...}}``, the
  baseline's empty without one; slices are named ``"overall"``, ``"channel=push"``,
  ``"platform=ios"``, ... Values are finite numbers (null where TFMA gave NaN).
- ``extra_metrics``: overall metrics a pipeline's gate computed beside TFMA's (ranking's
  popularity baseline NDCG@3), ``{metric: value}``.
- ``calibration``: ``{"candidate": {slice: [bin, ...]}, "baseline": {...}}``, from TFMA's
  calibration histogram: the predictions in bins of about equal weight, ascending, each
  ``{lower, upper, weight, mean_prediction, mean_label}``; empty for a model without a
  calibration plot (ranking).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from notiflow.settings import Settings

REQUIRED_FIELDS = ("model", "run_id", "pipeline_run_id", "end_ds", "evaluated_at", "blessed")
SUBDIR = "models"
SUFFIX = ".json"
# What a pipeline run id may be (tfx_pipelines.common.node_runner.sanitize_run_id makes
# it so): a file name, never a path.
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class Unreadable(NamedTuple):
    """A summary file that is not a summary: the page names it instead of failing."""

    path: Path
    error: str


def summaries_dir(settings: Settings, model: str) -> Path:
    return settings.reports_dir / SUBDIR / model


def summary_path(settings: Settings, model: str, pipeline_run_id: str) -> Path:
    """The summary file of one evaluation; ValueError for a run id that is not a file name."""
    if not _RUN_ID.fullmatch(pipeline_run_id) or not _RUN_ID.fullmatch(model):
        raise ValueError(f"not a model and pipeline run id: {model!r}, {pipeline_run_id!r}")
    return summaries_dir(settings, model) / f"{pipeline_run_id}{SUFFIX}"


def write_summary(settings: Settings, summary: dict[str, Any]) -> Path:
    """Writes ``summary`` (fields above) atomically, replacing the run's earlier one."""
    missing = [f for f in REQUIRED_FIELDS if f not in summary]
    if missing:
        raise ValueError(f"evaluation summary lacks {missing}")
    path = summary_path(settings, summary["model"], summary["pipeline_run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    # allow_nan=False: a NaN would make the file unreadable to strict JSON parsers.
    text = json.dumps(summary, indent=1, sort_keys=True, allow_nan=False)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text + "\n")
    os.replace(handle.name, path)
    return path


def read_summary(path: Path) -> dict[str, Any] | Unreadable:
    """The summary in ``path``, or why it is not one."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        return Unreadable(path, f"not valid JSON ({error})")
    if not isinstance(content, dict):
        return Unreadable(path, "not a JSON object")
    missing = [f for f in REQUIRED_FIELDS if f not in content]
    if missing:
        return Unreadable(path, f"lacks {', '.join(missing)}")
    return content


def read_summaries(settings: Settings, model: str) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Every evaluation summary of ``model``, newest first, and the files that are not one."""
    folder = summaries_dir(settings, model)
    paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    summaries, unreadable = [], []
    for path in paths:
        if path.name.startswith("."):  # a write in progress
            continue
        content = read_summary(path)
        (unreadable if isinstance(content, Unreadable) else summaries).append(content)
    summaries.sort(key=lambda s: (str(s["evaluated_at"]), str(s["pipeline_run_id"])), reverse=True)
    return summaries, unreadable
