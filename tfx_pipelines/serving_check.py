"""Load the newest pushed engagement model and score warehouse rows with it.

    python -m tfx_pipelines.serving_check [--limit N]

Prints one JSON object on stdout:
``{"version", "path", "n", "predictions": [...], "auc": <registry AUC or null>}``.
It exercises the serving contract the scoring job relies on: the ``serving_default``
signature takes serialized tf.Examples of raw warehouse features (no label).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import tensorflow as tf

from notiflow import registry
from notiflow.settings import Settings, get_settings
from tfx_pipelines.components.duckdb_example_gen.executor import RowConverter
from tfx_pipelines.engagement import features
from tfx_pipelines.engagement.configs import MODEL_NAME, SOURCE_TABLE, serving_model_dir
from tfx_pipelines.engagement.model import SERVING_SIGNATURE


def read_serialized_examples(
    warehouse_path: Path, limit: int, table: str = SOURCE_TABLE
) -> list[bytes]:
    """``limit`` rows of the model's raw features as serialized tf.Examples."""
    columns = ", ".join(features.FEATURE_KEYS)
    # Newest rows first: the day the live model will be scoring next looks like these.
    query = f"select {columns} from {table} order by ds desc, notification_id limit {int(limit)}"
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        relation = con.sql(query)
        converter = RowConverter(relation.columns, [str(t) for t in relation.types])
        rows = relation.fetchall()
    finally:
        con.close()
    return [converter.to_example(row).SerializeToString() for row in rows]


def latest_version_dir(model_dir: Path) -> Path:
    """The newest pushed version (numeric directory name) holding a SavedModel."""
    versions = [
        p
        for p in (model_dir.iterdir() if model_dir.is_dir() else [])
        if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists()
    ]
    if not versions:
        raise FileNotFoundError(f"no pushed model (<version>/saved_model.pb) under {model_dir}")
    return max(versions, key=lambda p: int(p.name))


def check(settings: Settings, limit: int) -> dict[str, Any]:
    model_dir = Path(serving_model_dir(settings.serving_dir))
    version_dir = latest_version_dir(model_dir)
    serialized = read_serialized_examples(settings.warehouse_path, limit)
    if not serialized:
        raise ValueError(f"{SOURCE_TABLE} in {settings.warehouse_path} has no rows to score")
    model = tf.saved_model.load(str(version_dir))
    if SERVING_SIGNATURE not in model.signatures:
        raise ValueError(
            f"{version_dir} has no {SERVING_SIGNATURE!r} signature: {sorted(model.signatures)}"
        )
    outputs = model.signatures[SERVING_SIGNATURE](examples=tf.constant(serialized))
    predictions = outputs[features.PREDICTION_KEY].numpy().reshape(-1).tolist()
    records = [
        r for r in registry.records(settings, MODEL_NAME) if r.get("version") == version_dir.name
    ]
    return {
        "version": version_dir.name,
        "path": str(version_dir),
        "n": len(predictions),
        "predictions": predictions,
        "auc": records[-1]["auc"] if records else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfx_pipelines.serving_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--limit", type=int, default=20, help="rows to score (default 20)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be >= 1")
    try:
        result = check(get_settings(), args.limit)
    except Exception as error:  # noqa: BLE001 - a clear message and exit code for callers
        print(f"ERROR: serving check failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
