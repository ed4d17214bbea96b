"""The checked-in node graph Airflow reads equals the compiled pipeline; pipeline config."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

from notiflow import domain, pipelines  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import node_runner  # noqa: E402
from tfx_pipelines.engagement import configs, features, hooks  # noqa: E402
from tfx_pipelines.engagement import pipeline as engagement  # noqa: E402

GRAPH_FILE = pipelines.graph_path("engagement")


@pytest.fixture(scope="module")
def compiled_graph() -> list[dict]:
    return run_component.compiled_graph("engagement")


def test_checked_in_graph_equals_compiled_pipeline(compiled_graph: list[dict]) -> None:
    assert json.loads(GRAPH_FILE.read_text()) == compiled_graph, (
        "pipeline_graph.json is stale; regenerate it with "
        "`python -m tfx_pipelines.run_component --pipeline engagement --print-graph > "
        + str(GRAPH_FILE)
        + "`"
    )


def test_print_graph_prints_the_graph(
    compiled_graph: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_component.main(["--pipeline", "engagement", "--print-graph"]) == 0
    assert json.loads(capsys.readouterr().out) == compiled_graph


def test_graph_is_topological_and_gated(compiled_graph: list[dict]) -> None:
    seen: set[str] = set()
    for node in compiled_graph:
        assert set(node["upstream"]) <= seen, f"{node['id']} listed before its upstream"
        seen.add(node["id"])
    upstream = {n["id"]: set(n["upstream"]) for n in compiled_graph}
    assert [n["id"] for n in compiled_graph][0] == configs.EXAMPLE_GEN
    # Anomalies must stop training: Transform waits for the validator.
    assert configs.EXAMPLE_VALIDATOR in upstream[configs.TRANSFORM]
    assert configs.MODEL_RESOLVER in upstream[configs.EVALUATOR]
    assert configs.EVALUATOR in upstream[configs.PUSHER]


def test_eval_config_gates_auc_overall_and_per_channel() -> None:
    import tensorflow_model_analysis as tfma

    config = engagement.eval_config(auc_floor=0.61)
    assert config.model_specs[0].label_key == features.LABEL_KEY
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["channel"], ["platform"]]
    metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
    assert {"ExampleCount", "AUC", "BinaryCrossEntropy", "Calibration"} <= set(metrics)
    overall, channels = metrics["AUC"].per_slice_thresholds
    assert [s.feature_keys for s in overall.slicing_specs] == [[]]
    assert [dict(s.feature_values) for s in channels.slicing_specs] == [
        {"channel": c} for c in domain.CHANNELS
    ]  # each channel on its own, not the platforms
    for per_slice in (overall, channels):
        assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.61)
        assert (
            per_slice.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        )
    # overall: any loss of AUC against the blessed model fails; a channel: a small one
    assert -1e-6 < overall.threshold.change_threshold.absolute.value < 0
    assert channels.threshold.change_threshold.absolute.value == pytest.approx(
        -configs.CHANNEL_AUC_TOLERANCE
    )


def test_example_gen_reads_the_configured_window(tmp_path) -> None:
    pipeline = engagement.create_pipeline(
        pipeline_name="engagement",
        pipeline_root=str(tmp_path / "root"),
        warehouse_path=str(tmp_path / "w.duckdb"),
        end_ds=datetime.date(2026, 3, 15),
        training_days=14,
        serving_dir=str(tmp_path / "serving"),
        auc_floor=0.6,
        metadata_connection_config=None,
    )
    ir = node_runner.compile_pipeline(pipeline)
    node = node_runner.find_node(ir, configs.EXAMPLE_GEN)
    input_config = node.parameters.parameters["input_config"].field_value.string_value
    assert "ds in [2026-03-01, 2026-03-14]" in input_config
    assert "ds in [2026-03-15, 2026-03-15]" in input_config
    pusher = node_runner.find_node(ir, configs.PUSHER)
    assert str(tmp_path / "serving" / "engagement") in str(pusher.parameters)


def test_bigquery_example_gen_drops_in_with_the_same_queries_and_graph(tmp_path) -> None:
    def build(target: str):
        return engagement.create_pipeline(
            pipeline_name="engagement",
            pipeline_root=str(tmp_path / "root"),
            warehouse_path=str(tmp_path / "w.duckdb"),
            end_ds=datetime.date(2026, 3, 15),
            training_days=14,
            serving_dir=str(tmp_path / "serving"),
            auc_floor=0.6,
            metadata_connection_config=None,
            source_table="proj.notiflow.ml_engagement_examples",
            warehouse_target=target,
        )

    duck, bq = (node_runner.compile_pipeline(build(t)) for t in ("duckdb", "bigquery"))
    # The same nodes and edges; only the ExampleGen's type differs.
    assert _ids_and_edges(node_runner.pipeline_graph(bq)) == _ids_and_edges(
        node_runner.pipeline_graph(duck)
    )
    nodes = {
        t: node_runner.find_node(ir, configs.EXAMPLE_GEN)
        for t, ir in (("duckdb", duck), ("bigquery", bq))
    }
    assert nodes["bigquery"].node_info.type.name.endswith("BigQueryExampleGen")
    config = {
        t: n.parameters.parameters["input_config"].field_value.string_value
        for t, n in nodes.items()
    }
    assert config["bigquery"] == config["duckdb"]
    with pytest.raises(ValueError, match="warehouse_target"):
        build("postgres")


def _ids_and_edges(graph: list[dict]) -> list[tuple]:
    return [(n["id"], n["upstream"]) for n in graph]


def test_graph_types_mark_the_pusher_and_the_warehouse_reader(compiled_graph: list[dict]) -> None:
    """The orchestration decides by node type (notiflow.pipelines), not by id."""
    assert all(set(n) == {"id", "type", "upstream"} for n in compiled_graph)
    assert [n["id"] for n in compiled_graph if pipelines.pushes_model(n)] == [configs.PUSHER]
    assert [n["id"] for n in compiled_graph if pipelines.reads_warehouse(n)] == [
        configs.EXAMPLE_GEN
    ]
    assert pipelines.load_graph("engagement") == compiled_graph


def test_hooks_are_keyed_by_node_ids_of_the_pipeline(compiled_graph: list[dict]) -> None:
    assert set(hooks.AFTER_NODE) == {configs.EXAMPLE_VALIDATOR, configs.EVALUATOR, configs.PUSHER}
    assert set(hooks.AFTER_NODE) <= {n["id"] for n in compiled_graph}


def test_pipeline_args_build_the_pipeline_from_settings(settings) -> None:
    args = configs.pipeline_args(settings, datetime.date(2026, 3, 15))
    assert args["pipeline_name"] == configs.PIPELINE_NAME == "engagement"
    assert args["pipeline_root"] == str(settings.pipeline_root / "engagement")
    assert args["source_table"] == configs.SOURCE_TABLE == "marts.ml_engagement_examples"
    assert args["training_days"] == settings.training_days
    ir = node_runner.compile_pipeline(
        engagement.create_pipeline(**args, metadata_connection_config=None)
    )
    assert [n["id"] for n in node_runner.pipeline_graph(ir)] == [
        n["id"] for n in json.loads(GRAPH_FILE.read_text())
    ]


def test_configs_import_no_tfx_or_tensorflow() -> None:
    code = (
        "import sys, tfx_pipelines.engagement.configs; "
        "print(sorted(m for m in ('tfx', 'tensorflow', 'tensorflow_model_analysis') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
