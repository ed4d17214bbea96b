"""Load a pipeline's newest pushed model and score warehouse rows with it.

    python -m tfx_pipelines.serving_check --pipeline engagement|ranking [--limit N]

Prints one JSON object on stdout:
``{"pipeline", "version", "path", "n", "predictions": [...], "metrics": {...}}`` (the
metrics are the version's registry record; ``{}`` if it has none). It exercises the
serving contract the scoring jobs rely on: the ``serving_default`` signature takes
serialized tf.Examples of raw warehouse features (no label, no logged position), read
from the pipeline's source table. A pipeline is served through its own modules:
``configs`` (``MODEL_NAME``, ``SOURCE_TABLE``, ``serving_model_dir``), ``features``
(``FEATURE_KEYS``, ``PREDICTION_KEY``) and ``model`` (``SERVING_SIGNATURE``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import tensorflow as tf

from notiflow import pipelines, registry
from notiflow.settings import Settings, get_settings
from tfx_pipelines.components.duckdb_example_gen.executor import RowConverter


@dataclasses.dataclass(frozen=True)
class ServedPipeline:
    """What serving needs of one pipeline folder."""

    name: str
    configs: ModuleType
    features: ModuleType
    signature: str

    @classmethod
    def load(cls, name: str) -> ServedPipeline:
        pipelines.pipeline_dir(name)  # a clear error for an unknown pipeline
        package = f"{pipelines.PACKAGE}.{name}"
        model = importlib.import_module(f"{package}.model")
        return cls(
            name=name,
            configs=importlib.import_module(f"{package}.configs"),
            features=importlib.import_module(f"{package}.features"),
            signature=model.SERVING_SIGNATURE,
        )

    def model_dir(self, settings: Settings) -> Path:
        return Path(self.configs.serving_model_dir(settings.serving_dir))


def read_rows(
    warehouse_path: Path, feature_keys: Sequence[str], query_tail: str, params: Sequence = ()
) -> tuple[RowConverter, list[tuple]]:
    """Rows of ``select <feature_keys>, <extra columns> from ...`` (``query_tail`` is
    everything after the feature list) and the converter of their first
    ``len(feature_keys)`` columns to tf.Examples."""
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        relation = con.sql(f"select {', '.join(feature_keys)}{query_tail}", params=list(params))
        n = len(feature_keys)
        converter = RowConverter(relation.columns[:n], [str(t) for t in relation.types[:n]])
        return converter, relation.fetchall()
    finally:
        con.close()


def read_serialized_examples(
    served: ServedPipeline, warehouse_path: Path, limit: int
) -> list[bytes]:
    """``limit`` rows of the model's raw features as serialized tf.Examples."""
    # Newest rows first: the day the live model will be scoring next looks like these.
    # The row key makes the order total (and keeps a ranking list's items together).
    keys = ", ".join(served.configs.SOURCE_ROW_KEY)
    converter, rows = read_rows(
        warehouse_path,
        served.features.FEATURE_KEYS,
        f" from {served.configs.SOURCE_TABLE} order by ds desc, {keys} limit {int(limit)}",
    )
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


def load_signature(served: ServedPipeline, version_dir: Path):
    """The serving signature of the SavedModel in ``version_dir``."""
    model = tf.saved_model.load(str(version_dir))
    if served.signature not in model.signatures:
        raise ValueError(
            f"{version_dir} has no {served.signature!r} signature: {sorted(model.signatures)}"
        )
    return model.signatures[served.signature]


def predict(served: ServedPipeline, signature, serialized: Sequence[bytes]) -> list[float]:
    """One prediction per serialized example."""
    outputs = signature(examples=tf.constant(list(serialized)))
    return outputs[served.features.PREDICTION_KEY].numpy().reshape(-1).tolist()


def check(settings: Settings, pipeline: str, limit: int) -> dict[str, Any]:
    served = ServedPipeline.load(pipeline)
    version_dir = latest_version_dir(served.model_dir(settings))
    serialized = read_serialized_examples(served, settings.warehouse_path, limit)
    if not serialized:
        raise ValueError(
            f"{served.configs.SOURCE_TABLE} in {settings.warehouse_path} has no rows to score"
        )
    predictions = predict(served, load_signature(served, version_dir), serialized)
    records = [
        r
        for r in registry.records(settings, served.configs.MODEL_NAME)
        if r.get("version") == version_dir.name
    ]
    return {
        "pipeline": pipeline,
        "version": version_dir.name,
        "path": str(version_dir),
        "n": len(predictions),
        "predictions": predictions,
        "metrics": records[-1].get("metrics", {}) if records else {},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfx_pipelines.serving_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pipeline", required=True, help="e.g. engagement or ranking")
    parser.add_argument("--limit", type=int, default=20, help="rows to score (default 20)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be >= 1")
    try:
        result = check(get_settings(), args.pipeline, args.limit)
    except Exception as error:  # noqa: BLE001 - a clear message and exit code for callers
        print(f"ERROR: serving check failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
