"""End to end: every node of the ranking pipeline through `run_component`, one run id.

A synthetic ranking mart of 8 days x 120 digests of 5 pins (7 training days + the
evaluation day; plus immature rows that must not be read). The run must bless the first
model (NDCG@3 above the floor, no baseline yet) and push it to
``<serving_dir>/ranking/<version>/`` with a registry record carrying NDCG.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic_mart import END_DS, days_before
from synthetic_ranking_mart import synthetic_ranking_examples, write_ranking_warehouse

pytestmark = [pytest.mark.tfx, pytest.mark.e2e]

pytest.importorskip("tfx")

from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.orchestration import metadata  # noqa: E402

from notiflow import pipelines, registry  # noqa: E402
from notiflow.settings import Settings  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import node_runner  # noqa: E402
from tfx_pipelines.ranking import configs, features  # noqa: E402

NODES = [node["id"] for node in pipelines.load_graph("ranking")]
LISTS_PER_DAY = 120
TRAINING_DAYS = 7
RUN_ID = "manual__2026-01-10T06:00:00+00:00"


@pytest.fixture(scope="module")
def ranking_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("ranking_e2e") / "home"
    env = {"NOTIFLOW_HOME": str(home), "NOTIFLOW_TRAINING_DAYS": str(TRAINING_DAYS)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings.load(dict(os.environ))
        days = days_before(END_DS, TRAINING_DAYS) + [END_DS]
        write_ranking_warehouse(
            settings.warehouse_path, synthetic_ranking_examples(days, LISTS_PER_DAY, seed=3)
        )
        # Immature labels (here: on training days, with no clicks) must not be read.
        immature = synthetic_ranking_examples(days[-3:], 40, seed=8, mature=False)
        immature["list_id"] = "immature-" + immature["list_id"]
        write_ranking_warehouse(settings.warehouse_path, immature)
        timings, codes = {}, {}
        for node_id in NODES:
            started = time.monotonic()
            codes[node_id] = run_component.main(
                [
                    "--pipeline",
                    "ranking",
                    "--node",
                    node_id,
                    "--run-id",
                    RUN_ID,
                    "--end-ds",
                    END_DS.isoformat(),
                ]
            )
            timings[node_id] = round(time.monotonic() - started, 1)
        print("\nranking run timings (s):", timings)
        return {"settings": settings, "codes": codes}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_every_node_ran_once(ranking_run: dict) -> None:
    settings: Settings = ranking_run["settings"]
    assert ranking_run["codes"] == {n: 0 for n in NODES}
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(settings.metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    pipeline_run_id = node_runner.sanitize_run_id(RUN_ID)
    with metadata.Metadata(config) as m:
        for node_id in NODES:
            found = node_runner.node_executions(m, "ranking", pipeline_run_id, node_id)
            assert len(found) == 1, node_id
            assert found[0].execution.last_known_state == metadata_store_pb2.Execution.COMPLETE


def test_model_pushed_with_ndcg_in_the_registry(ranking_run: dict) -> None:
    settings: Settings = ranking_run["settings"]
    model_dir = Path(configs.serving_model_dir(settings.serving_dir))
    (version,) = [p.name for p in model_dir.iterdir() if p.name.isdigit()]
    (record,) = registry.records(settings, configs.MODEL_NAME)
    assert record["model"] == "ranking" and record["version"] == version
    assert record["path"] == str(model_dir / version)
    assert record["run_id"] == RUN_ID
    assert record["metrics"][configs.NDCG_METRIC] >= configs.NDCG_FLOOR
    assert record["metrics"]["example_count"] == LISTS_PER_DAY * 5  # mature rows only
    assert record["metrics"][configs.MIN_LABEL_POSITION_METRIC] >= 1.0
    print("\nranking registry record:", json.dumps(record["metrics"]))


def test_pushed_model_scores_examples_without_position(ranking_run: dict) -> None:
    import tensorflow as tf

    settings: Settings = ranking_run["settings"]
    (record,) = registry.records(settings, configs.MODEL_NAME)
    loaded = tf.saved_model.load(record["path"])
    frame = synthetic_ranking_examples([END_DS], 4, seed=11)
    serialized = []
    for row in frame.to_dict("records"):
        feature = {}
        for key in features.FEATURE_KEYS:
            value = row[key]
            if isinstance(value, str):
                feature[key] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[value.encode()])
                )
            elif key in features.INT_FEATURE_KEYS:
                feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            else:
                feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        serialized.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    scores = loaded.signatures["serving_default"](examples=tf.constant(serialized))
    values = scores[features.PREDICTION_KEY].numpy()
    assert values.shape == (len(frame), 1) and np.all(np.isfinite(values))
    assert len(np.unique(values)) > 1
