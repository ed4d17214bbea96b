"""The checked-in node graph Airflow reads equals the compiled pipeline; pipeline config."""

from __future__ import annotations

import datetime
import json

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

from tfx_pipelines import node_runner, run_component  # noqa: E402
from tfx_pipelines.engagement import features  # noqa: E402
from tfx_pipelines.engagement import pipeline as engagement  # noqa: E402

GRAPH_FILE = run_component.PIPELINES["engagement"].graph_file


@pytest.fixture(scope="module")
def compiled_graph() -> list[dict]:
    return run_component.compiled_graph("engagement")


def test_checked_in_graph_equals_compiled_pipeline(compiled_graph: list[dict]) -> None:
    assert json.loads(GRAPH_FILE.read_text()) == compiled_graph, (
        "pipeline_graph.json is stale; regenerate it with "
        "`python -m tfx_pipelines.run_component --print-graph > " + str(GRAPH_FILE) + "`"
    )


def test_print_graph_prints_the_graph(
    compiled_graph: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_component.main(["--print-graph"]) == 0
    assert json.loads(capsys.readouterr().out) == compiled_graph


def test_graph_is_topological_and_gated(compiled_graph: list[dict]) -> None:
    seen: set[str] = set()
    for node in compiled_graph:
        assert set(node["upstream"]) <= seen, f"{node['id']} listed before its upstream"
        seen.add(node["id"])
    upstream = {n["id"]: set(n["upstream"]) for n in compiled_graph}
    assert [n["id"] for n in compiled_graph][0] == engagement.EXAMPLE_GEN
    # Anomalies must stop training: Transform waits for the validator.
    assert engagement.EXAMPLE_VALIDATOR in upstream[engagement.TRANSFORM]
    assert engagement.MODEL_RESOLVER in upstream[engagement.EVALUATOR]
    assert engagement.EVALUATOR in upstream[engagement.PUSHER]


def test_eval_config_gates_overall_auc_with_floor_and_baseline() -> None:
    import tensorflow_model_analysis as tfma

    config = engagement.eval_config(auc_floor=0.61)
    assert config.model_specs[0].label_key == features.LABEL_KEY
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["channel"], ["platform"]]
    metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
    assert {"ExampleCount", "AUC", "BinaryCrossEntropy", "Calibration"} <= set(metrics)
    (per_slice,) = metrics["AUC"].per_slice_thresholds
    assert [s.feature_keys for s in per_slice.slicing_specs] == [[]]  # overall only
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.61)
    change = per_slice.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert -1e-6 < change.absolute.value < 0


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
    node = node_runner.find_node(ir, engagement.EXAMPLE_GEN)
    input_config = node.parameters.parameters["input_config"].field_value.string_value
    assert "ds in [2026-03-01, 2026-03-14]" in input_config
    assert "ds in [2026-03-15, 2026-03-15]" in input_config
    pusher = node_runner.find_node(ir, engagement.PUSHER)
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
    assert node_runner.pipeline_graph(bq) == node_runner.pipeline_graph(duck)
    nodes = {
        t: node_runner.find_node(ir, engagement.EXAMPLE_GEN)
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
