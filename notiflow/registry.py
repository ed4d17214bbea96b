"""The model registry: one JSON line per pushed model version, beside the served versions.

Standard library only: the TFX environment writes records (a pipeline's Pusher hook,
``tfx_pipelines.common.hooks``, reads the push and its metrics from TFX artifacts and
hands them here as plain dicts), the orchestration environment (CLI, UI) reads them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from notiflow.settings import Settings

REQUIRED_FIELDS = ("model", "version", "path", "auc", "run_id", "pushed_at")


def registry_path(settings: Settings, model: str) -> Path:
    return settings.serving_dir / model / "registry.jsonl"


def append_record(settings: Settings, record: dict[str, Any]) -> Path:
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise ValueError(f"registry record lacks {missing}: {record}")
    path = registry_path(settings, record["model"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def records(settings: Settings, model: str) -> list[dict[str, Any]]:
    path = registry_path(settings, model)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest_model(settings: Settings, model: str) -> dict[str, Any] | None:
    history = records(settings, model)
    return history[-1] if history else None


def data_windows(end_ds: datetime.date, training_days: int) -> dict[str, dict[str, str]]:
    """``eval_window`` (the day ``end_ds``) and ``train_window`` (the ``training_days``
    days before it), as the registry, the model report and the TFDV report record them."""
    return {
        "eval_window": {"start": end_ds.isoformat(), "end": end_ds.isoformat()},
        "train_window": {
            "start": (end_ds - datetime.timedelta(days=training_days)).isoformat(),
            "end": (end_ds - datetime.timedelta(days=1)).isoformat(),
        },
    }


def registry_record(
    model_name: str,
    pushed: dict[str, str],
    metrics: dict[str, dict[str, float]],
    end_ds: datetime.date,
    training_days: int,
    run_id: str,
    pipeline_run_id: str,
    pushed_at: datetime.datetime,
    reported_metrics: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The record of one pushed version.

    ``pushed`` holds the push's ``version`` and ``path``; ``metrics`` the candidate's
    metrics by slice name (``"overall"``, ``"channel=push"``, ...), of which the overall
    slice is recorded (only ``reported_metrics``, when given). The model was evaluated
    on ``end_ds`` and trained on the ``training_days`` days before it.
    """
    overall = metrics.get("overall", {})
    names = overall if reported_metrics is None else reported_metrics
    return {
        "model": model_name,
        "version": pushed["version"],
        "path": pushed["path"],
        "auc": overall.get("auc"),
        "metrics": {k: overall[k] for k in names if k in overall},
        **data_windows(end_ds, training_days),
        "run_id": run_id,
        "pipeline_run_id": pipeline_run_id,
        "pushed_at": pushed_at.isoformat(timespec="seconds"),
    }


def register_push(settings: Settings, record: dict[str, Any]) -> bool:
    """Appends ``record`` to the model registry unless its version is there already.

    Returns whether it appended: a retried Pusher task must not register twice.
    """
    known = records(settings, record["model"])
    if any(r.get("version") == record["version"] for r in known):
        return False
    append_record(settings, record)
    return True
