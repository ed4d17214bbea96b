"""End to end: every node of the ranking pipeline through `run_component`, one run id.

A synthetic ranking mart of 8 days x 120 digests of 5 pins (7 training days + the
evaluation day; plus immature rows that must not be read). The run must bless the first
model (NDCG@3 above the floor and above the popularity baseline's, no baseline model
yet) and push it to ``<serving_dir>/ranking/<version>/`` with a registry record carrying
NDCG@3, NDCG@5 and the popularity baseline's NDCG@3.

Then two more runs on the same data (same warehouse and ML Metadata): one whose model is
blessed by TFMA but not better than popularity (the required lift monkeypatched to 1),
and one with a planted worse model (1 training step): neither is pushed, the registry
and the serving directory stay as they were, and the withdrawn blessing is not used as
the next run's baseline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic_mart import END_DS, PLATFORMS, days_before
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
POPULARITY_RUN_ID = "manual__2026-01-10T07:00:00+00:00"
WORSE_RUN_ID = "manual__2026-01-10T08:00:00+00:00"


def _run_all(run_id: str) -> tuple[dict[str, int], dict[str, str]]:
    """Every node in order with ``run_id``: exit codes and printed output by node."""
    timings, codes, outputs = {}, {}, {}
    for node_id in NODES:
        started = time.monotonic()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            codes[node_id] = run_component.main(
                ["--pipeline", "ranking", "--node", node_id, "--run-id", run_id]
                + ["--end-ds", END_DS.isoformat()]
            )
        outputs[node_id] = out.getvalue()
        timings[node_id] = round(time.monotonic() - started, 1)
    print(f"\nranking run {run_id} timings (s):", timings)
    print(outputs[configs.EVALUATOR] + outputs[configs.PUSHER])
    return codes, outputs


def _serving_versions(settings: Settings) -> list[str]:
    model_dir = Path(configs.serving_model_dir(settings.serving_dir))
    return sorted(p.name for p in model_dir.iterdir() if p.name.isdigit())


def _metadata(settings: Settings) -> metadata.Metadata:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(settings.metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata.Metadata(config)


def _execution(settings: Settings, run_id: str, node_id: str) -> node_runner.NodeExecution:
    with _metadata(settings) as m:
        (found,) = node_runner.node_executions(
            m, "ranking", node_runner.sanitize_run_id(run_id), node_id
        )
    return found


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
        codes, outputs = _run_all(RUN_ID)
        return {"settings": settings, "codes": codes, "outputs": outputs, "env": env}
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
    assert 0 < record["metrics"][configs.NDCG_REPORTED_METRIC] <= 1
    assert record["metrics"][configs.NDCG_METRIC] > record["metrics"][configs.POPULARITY_METRIC] > 0
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


def test_evaluator_reports_ndcg_by_platform_and_the_popularity_baseline(ranking_run: dict) -> None:
    report = ranking_run["outputs"][configs.EVALUATOR]
    assert "Evaluator: model BLESSED" in report
    lines = report.splitlines()
    for platform in PLATFORMS:
        (line,) = [x for x in lines if x.strip().startswith(f"platform={platform}:")]
        assert "ndcg_at_3=" in line and "ndcg_at_5=" in line and "min_label_position=" in line
    assert any(x.strip().startswith("overall: ndcg_at_3=") for x in lines)
    assert "popularity baseline" in report and ": better" in report


@contextlib.contextmanager
def _env(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def popularity_run(ranking_run: dict) -> dict:
    """Same data, a model as good as the first (the change threshold relaxed so that TFMA
    blesses it for sure) that must beat popularity by more than 1: it cannot."""
    settings: Settings = ranking_run["settings"]
    before = (_serving_versions(settings), registry.records(settings, configs.MODEL_NAME))
    with _env(ranking_run["env"]), pytest.MonkeyPatch.context() as mp:
        mp.setattr(configs, "NDCG_CHANGE_THRESHOLD", -1.0)
        mp.setattr(configs, "POPULARITY_MIN_LIFT", 1.0)
        codes, outputs = _run_all(POPULARITY_RUN_ID)
    return {"settings": settings, "codes": codes, "outputs": outputs, "before": before}


@pytest.fixture(scope="module")
def worse_run(ranking_run: dict, popularity_run: dict) -> dict:
    """Same data, a planted worse model: 1 training step instead of 300."""
    settings: Settings = ranking_run["settings"]
    before = (_serving_versions(settings), registry.records(settings, configs.MODEL_NAME))
    with _env(ranking_run["env"]), pytest.MonkeyPatch.context() as mp:
        mp.setattr(configs, "TRAIN_STEPS", 1)
        codes, outputs = _run_all(WORSE_RUN_ID)
    return {"settings": settings, "codes": codes, "outputs": outputs, "before": before}


def test_model_not_better_than_popularity_is_not_pushed(popularity_run: dict) -> None:
    settings: Settings = popularity_run["settings"]
    # Every node succeeds (keeping the live model is a success; Airflow skips the Pusher).
    assert popularity_run["codes"] == {n: 0 for n in NODES}
    report = popularity_run["outputs"][configs.EVALUATOR]
    assert "Evaluator: model NOT blessed" in report
    assert "is not better than the popularity baseline's" in report
    assert ": NOT better" in report
    assert "NOTHING PUSHED" in popularity_run["outputs"][configs.PUSHER]
    assert "popularity baseline" in popularity_run["outputs"][configs.PUSHER]
    assert (_serving_versions(settings), registry.records(settings, configs.MODEL_NAME)) == (
        popularity_run["before"]
    )
    pushed = _execution(settings, POPULARITY_RUN_ID, configs.PUSHER).outputs["pushed_model"][0]
    assert pushed.get_int_custom_property("pushed") == 0
    blessing = _execution(settings, POPULARITY_RUN_ID, configs.EVALUATOR).outputs["blessing"][0]
    assert blessing.get_int_custom_property("blessed") == 0
    assert (Path(blessing.uri) / "NOT_BLESSED").exists()
    assert not (Path(blessing.uri) / "BLESSED").exists()


def test_planted_worse_model_is_not_blessed(worse_run: dict, ranking_run: dict) -> None:
    settings: Settings = worse_run["settings"]
    assert worse_run["codes"] == {n: 0 for n in NODES}
    report = worse_run["outputs"][configs.EVALUATOR]
    assert "Evaluator: model NOT blessed" in report
    # It lost against the last blessed model (TFMA's change threshold).
    assert f"{configs.NDCG_METRIC} change vs baseline" in report
    assert "NOTHING PUSHED" in worse_run["outputs"][configs.PUSHER]
    assert (_serving_versions(settings), registry.records(settings, configs.MODEL_NAME)) == (
        worse_run["before"]
    )
    assert len(worse_run["before"][0]) == 1
    # The baseline was the first run's model: the withdrawn blessing of the popularity
    # run's model did not make it the latest blessed one.
    first_model = _execution(settings, RUN_ID, configs.TRAINER).outputs["model"][0]
    blessing = _execution(settings, WORSE_RUN_ID, configs.EVALUATOR).outputs["blessing"][0]
    assert blessing.get_int_custom_property("current_model_id") != first_model.id
    assert blessing.get_int_custom_property("baseline_model_id") == first_model.id
