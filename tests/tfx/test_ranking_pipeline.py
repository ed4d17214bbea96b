"""The ranking pipeline's config: curated schema <-> features, graph file, eval config."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

import tensorflow_data_validation as tfdv  # noqa: E402
import yaml  # noqa: E402
from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: E402

from notiflow import domain, pipelines  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import node_runner  # noqa: E402
from tfx_pipelines.ranking import configs, features, hooks  # noqa: E402
from tfx_pipelines.ranking import pipeline as ranking  # noqa: E402


def _types(schema: schema_pb2.Schema) -> dict[str, str]:
    return {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}


def _expected_types(categorical, ints, floats) -> dict[str, str]:
    return (
        {k: "BYTES" for k in categorical} | {k: "INT" for k in ints} | {k: "FLOAT" for k in floats}
    )


# --- schema <-> features -------------------------------------------------------------


def test_schema_has_exactly_the_columns_read_with_their_types() -> None:
    schema = tfdv.load_schema_text(configs.SCHEMA_FILE)
    expected = _expected_types(
        features.CATEGORICAL_FEATURE_KEYS, features.INT_FEATURE_KEYS, features.FLOAT_FEATURE_KEYS
    )
    expected |= {features.LIST_ID_KEY: "BYTES", features.POSITION_KEY: "INT"}
    expected[features.LABEL_KEY] = "INT"
    assert _types(schema) == expected
    assert set(_types(schema)) == set(features.example_columns())
    for feature in schema.feature:
        assert [d.size for d in feature.shape.dim] == [1], feature.name
        assert feature.presence.min_fraction == 1.0, feature.name
    serving_only_absent = {
        f.name for f in schema.feature if list(f.not_in_environment) == ["SERVING"]
    }
    assert serving_only_absent == {features.LIST_ID_KEY, features.POSITION_KEY, features.LABEL_KEY}
    by_name = {f.name: f for f in schema.feature}
    assert by_name[features.POSITION_KEY].int_domain.max == domain.EMAIL_DIGEST_ITEMS
    # Drift and skew are watched on a couple of key features.
    watched = {f.name for f in schema.feature if f.HasField("skew_comparator")}
    assert watched == {"pin_topic", "user_topic_affinity_28d"}
    assert watched == {f.name for f in schema.feature if f.HasField("drift_comparator")}


def test_every_column_read_is_a_documented_column_of_the_mart() -> None:
    docs = (
        Path(domain.__file__).resolve().parents[1] / "dbt_project/models/marts/_marts__models.yml"
    )
    (mart,) = [
        m
        for m in yaml.safe_load(docs.read_text())["models"]
        if m["name"] == domain.RANKING_EXAMPLES
    ]
    documented = {c["name"] for c in mart["columns"]}
    read = {*features.example_columns(), features.LIST_ID_KEY, features.POSITION_KEY}
    assert read <= documented, sorted(read - documented)


def test_feature_lists_are_consistent() -> None:
    keys = features.FEATURE_KEYS
    assert len(set(keys)) == len(keys)
    # Neither the label, nor the list id, nor the logged position is a model input.
    assert not {features.LABEL_KEY, features.LIST_ID_KEY, features.POSITION_KEY} & set(keys)
    assert "is_label_mature" not in features.example_columns()


# --- the graph ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled_graph() -> list[dict]:
    return run_component.compiled_graph("ranking")


def test_checked_in_graph_equals_compiled_pipeline(compiled_graph: list[dict]) -> None:
    path = pipelines.graph_path("ranking")
    assert json.loads(path.read_text()) == compiled_graph, (
        "pipeline_graph.json is stale; regenerate it with "
        f"`python -m tfx_pipelines.run_component --pipeline ranking --print-graph > {path}`"
    )
    assert [n["id"] for n in compiled_graph if pipelines.pushes_model(n)] == [configs.PUSHER]
    upstream = {n["id"]: set(n["upstream"]) for n in compiled_graph}
    assert configs.EXAMPLE_VALIDATOR in upstream[configs.TRANSFORM]
    assert configs.MODEL_RESOLVER in upstream[configs.EVALUATOR]
    assert configs.EVALUATOR in upstream[configs.PUSHER]
    assert set(hooks.AFTER_NODE) == {configs.EXAMPLE_VALIDATOR, configs.EVALUATOR, configs.PUSHER}


def test_example_gen_reads_the_window_with_mature_labels_only(tmp_path, settings) -> None:
    args = configs.pipeline_args(settings, datetime.date(2026, 3, 15))
    assert args["source_table"] == "marts.ml_ranking_examples"
    args |= {"training_days": 14, "serving_dir": str(tmp_path / "serving")}
    ir = node_runner.compile_pipeline(
        ranking.create_pipeline(**args, metadata_connection_config=None)
    )
    node = node_runner.find_node(ir, configs.EXAMPLE_GEN)
    input_config = node.parameters.parameters["input_config"].field_value.string_value
    assert "ds in [2026-03-01, 2026-03-14]" in input_config
    assert "ds in [2026-03-15, 2026-03-15]" in input_config
    assert input_config.count("and is_label_mature") == 2
    pusher = node_runner.find_node(ir, configs.PUSHER)
    assert str(tmp_path / "serving" / "ranking") in str(pusher.parameters)


def test_eval_config_gates_overall_ndcg_by_list() -> None:
    import tensorflow_model_analysis as tfma

    config = ranking.eval_config(ndcg_floor=0.55)
    assert config.model_specs[0].label_key == features.LABEL_KEY
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["platform"]]
    ndcg_specs = [s for s in config.metrics_specs if s.metrics[0].class_name == "NDCG"]
    by_name = {json.loads(s.metrics[0].config)["name"]: s for s in ndcg_specs}
    assert set(by_name) == {"ndcg_at_3", "ndcg_at_5"}
    for name, spec in by_name.items():
        assert spec.query_key == features.LIST_ID_KEY
        # k comes from the spec's binarization (the threshold's key has the top_k sub key).
        assert list(spec.binarize.top_k_list.values) == [int(name[-1])]
        assert json.loads(spec.metrics[0].config)["gain_key"] == features.LABEL_KEY
    # Only NDCG@3 is gated, on the overall slice only.
    assert not by_name["ndcg_at_5"].metrics[0].per_slice_thresholds
    (per_slice,) = by_name["ndcg_at_3"].metrics[0].per_slice_thresholds
    assert [list(s.feature_keys) for s in per_slice.slicing_specs] == [[]]
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.55)
    change = per_slice.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert -1e-6 < change.absolute.value < 0
    assert any(s.metrics[0].class_name == "MinLabelPosition" for s in config.metrics_specs)


def test_thresholds_match_computed_metric_keys() -> None:
    """Every threshold's key is one TFMA computes (else validation fails with
    "missing thresholds"), and only NDCG@3 carries one."""
    from tensorflow_model_analysis.metrics import metric_specs

    config = ranking.eval_config(ndcg_floor=0.5)
    computed = {
        key for key, _, _ in metric_specs.keys_and_metrics_from_specs(config, config.metrics_specs)
    }
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(config.metrics_specs, config)
    assert thresholds
    for key in thresholds:
        assert key.name == configs.NDCG_METRIC and key.sub_key.top_k == configs.NDCG_TOP_K
        assert key._replace(is_diff=False) in computed, key


def test_configs_import_no_tfx_or_tensorflow() -> None:
    code = (
        "import sys, tfx_pipelines.ranking.configs; "
        "print(sorted(m for m in ('tfx', 'tensorflow', 'tensorflow_model_analysis') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
