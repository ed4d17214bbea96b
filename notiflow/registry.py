"""The model registry: one JSON line per pushed model version, beside the served versions.

Standard library only: the TFX environment writes records, the orchestration
environment (CLI, UI) reads them.
"""

from __future__ import annotations

import json
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
