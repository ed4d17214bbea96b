"""The model registry: one JSON line per pushed model version, beside the versions.

``<serving_dir>/<model>/registry.jsonl`` sits next to the TF Serving layout
``<serving_dir>/<model>/<version>/`` so that the UI, the scoring job and
``serving_check`` can read what is live without ML Metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REGISTRY_FILE = "registry.jsonl"


def registry_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / REGISTRY_FILE


def read_records(model_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = registry_path(model_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(model_dir: str | os.PathLike[str], record: dict[str, Any]) -> bool:
    """Appends ``record`` unless a record of the same version is there already.

    Returns whether it appended; a retried Pusher task must not register twice.
    """
    if any(r.get("version") == record["version"] for r in read_records(model_dir)):
        return False
    path = registry_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    return True


def latest_version_dir(model_dir: str | os.PathLike[str]) -> Path:
    """The newest pushed version (numeric directory name) holding a SavedModel."""
    root = Path(model_dir)
    versions = [
        p
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists()
    ]
    if not versions:
        raise FileNotFoundError(f"no pushed model version (<version>/saved_model.pb) under {root}")
    return max(versions, key=lambda p: int(p.name))
