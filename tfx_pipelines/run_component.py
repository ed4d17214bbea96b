"""Run one node of a notiflow TFX pipeline: the entry point of each Airflow TFX task.

    python -m tfx_pipelines.run_component --pipeline engagement --node Transform \\
        --run-id "manual__2026-11-25T10:00:00+00:00" --end-ds 2026-11-24
    python -m tfx_pipelines.run_component --print-graph

All nodes run with the same ``--run-id`` (and ``--end-ds``) form one TFX pipeline run in
ML Metadata (see ``tfx_pipelines.node_runner``). After the node, gates turn TFX's
artifacts into task outcomes:
- ExampleValidator: writes the TFDV report (``<reports_dir>/tfdv/<pipeline>/<run>/``),
  prints every drift/skew distance against its threshold, and any anomaly (schema,
  drift between spans, training/serving skew) fails the task, naming each feature
  and the reason;
- Evaluator: prints whether the model was blessed, why not, and metrics by slice;
- Pusher: appends a registry record when a model was pushed; when the model was not
  blessed it says that nothing was pushed and why, and still succeeds (keeping the
  live model is the right outcome).
Exit status: 0 on success; 3 when a gate stopped the run (bad data: retrying the same
task cannot help); 1 for any other error, with an ``ERROR:`` line on stderr. With
``--not-pushed-exit-code N`` a Pusher that pushed nothing exits N instead of 0 (e.g.
99, BashOperator's skip code, so that no model Asset event is emitted).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto.orchestration import pipeline_pb2
from tfx.types import artifact_utils

from notiflow import registry
from notiflow.settings import Settings, get_settings
from tfx_pipelines import gates, node_runner, tf_compat, tfdv_report
from tfx_pipelines.components import data_validator
from tfx_pipelines.components.duckdb_example_gen import span_of
from tfx_pipelines.engagement import pipeline as engagement_pipeline

# Locally Beam runs on its default in-process DirectRunner (one worker, in memory).
# Left empty on purpose: any Beam argument makes TFX build and attach an sdist of TFX
# itself for remote workers (tfx/utils/dependency_utils.py), seconds per component
# for nothing. Production passes Dataflow arguments instead.
LOCAL_BEAM_ARGS: tuple[str, ...] = ()

EXIT_ERROR = 1
EXIT_GATE = 3

# The graph does not depend on the day; --print-graph compiles with this one.
_GRAPH_END_DS = datetime.date(2000, 1, 1)

# ExampleValidator nodes: TFX's, and DataValidator (schema + drift + skew).
_EXAMPLE_VALIDATORS = frozenset(
    {
        "tfx.components.example_validator.component.ExampleValidator",
        "tfx_pipelines.components.data_validator.component.DataValidator",
    }
)
_EVALUATOR = "tfx.components.evaluator.component.Evaluator"
_PUSHER = "tfx.components.pusher.component.Pusher"


@dataclasses.dataclass(frozen=True)
class PipelineEntry:
    # (settings, end_ds, metadata connection or None) -> pipeline
    build: Callable[
        [Settings, datetime.date, metadata_store_pb2.ConnectionConfig | None], tfx_pipeline.Pipeline
    ]
    model_name: str
    graph_file: Path


def _build_engagement(
    settings: Settings,
    end_ds: datetime.date,
    metadata_config: metadata_store_pb2.ConnectionConfig | None,
) -> tfx_pipeline.Pipeline:
    name = engagement_pipeline.PIPELINE_NAME
    return engagement_pipeline.create_pipeline(
        pipeline_name=name,
        pipeline_root=str(settings.pipeline_root / name),
        warehouse_path=str(settings.warehouse_path),
        end_ds=end_ds,
        training_days=settings.training_days,
        serving_dir=str(settings.serving_dir),
        auc_floor=settings.auc_floor,
        metadata_connection_config=metadata_config,
        beam_pipeline_args=LOCAL_BEAM_ARGS,
    )


PIPELINES: dict[str, PipelineEntry] = {
    "engagement": PipelineEntry(
        build=_build_engagement,
        model_name=engagement_pipeline.MODEL_NAME,
        graph_file=Path(engagement_pipeline.__file__).with_name("pipeline_graph.json"),
    ),
}


def compiled_graph(pipeline_name: str, settings: Settings | None = None) -> list[dict[str, object]]:
    """The node graph of the compiled pipeline (what pipeline_graph.json must hold)."""
    entry = PIPELINES[pipeline_name]
    # No metadata connection: printing the graph must not create the metadata DB.
    pipeline = entry.build(settings or get_settings(), _GRAPH_END_DS, None)
    return node_runner.pipeline_graph(node_runner.compile_pipeline(pipeline))


def graph_json(graph: list[dict[str, object]]) -> str:
    return json.dumps(graph, indent=2) + "\n"


class _Run:
    """What gates need besides the node's own execution: the IR, the node, the run ids."""

    def __init__(
        self,
        entry: PipelineEntry,
        settings: Settings,
        ir: pipeline_pb2.Pipeline,
        node: pipeline_pb2.PipelineNode,
        run_id: str,
        end_ds: datetime.date,
    ):
        self.entry, self.settings, self.ir, self.node = entry, settings, ir, node
        self.run_id, self.end_ds = run_id, end_ds
        self.pipeline_name = ir.pipeline_info.id
        self.pipeline_run_id = ir.runtime_spec.pipeline_run_id.field_value.string_value
        self.config = node_runner.connection_config(ir)

    def done(self, node_id: str) -> node_runner.NodeExecution | None:
        with metadata.Metadata(self.config) as m:
            return node_runner.successful_execution(
                m, self.pipeline_name, self.pipeline_run_id, node_id
            )

    def producer(self, input_key: str) -> str:
        """Id of the node whose output feeds this node's ``input_key``."""
        return self.node.inputs.inputs[input_key].channels[0].producer_node_query.id

    def node_of_type(self, suffix: str) -> pipeline_pb2.PipelineNode:
        for n in self.ir.nodes:
            if n.pipeline_node.node_info.type.name.endswith(suffix):
                return n.pipeline_node
        raise node_runner.NodeRunError(f"pipeline {self.pipeline_name} has no {suffix} node")


def _check_end_ds(run: _Run) -> None:
    """All tasks of a run must use the day ExampleGen cut the data at."""
    example_gen = run.node_of_type("ExampleGen")
    if run.node.node_info.id == example_gen.node_info.id:
        return
    done = run.done(example_gen.node_info.id)
    if done is None:
        return  # run_node reports missing upstream nodes
    examples = done.outputs["examples"][0]
    span = examples.get_int_custom_property("span")
    if span != span_of(run.end_ds):
        cut = datetime.date(1970, 1, 1) + datetime.timedelta(days=span)
        raise node_runner.NodeRunError(
            f"run {run.run_id!r} read its data with end_ds {cut} (ExampleGen), but this task "
            f"got --end-ds {run.end_ds}; all tasks of a run must use the same --end-ds"
        )


def _check_upstream_gates(run: _Run) -> None:
    """Refuses to run below an ExampleValidator whose data has anomalies.

    Its failed gate already stops Airflow's downstream tasks; this also stops a
    manual or cleared-task run of, say, Transform from training on that data.
    """
    for upstream in sorted(run.node.upstream_nodes):
        node = node_runner.find_node(run.ir, upstream)
        if node.node_info.type.name not in _EXAMPLE_VALIDATORS:
            continue
        done = run.done(upstream)
        if done is not None:
            try:
                gates.check_anomalies(done.outputs["anomalies"][0])
            except gates.GateError as error:
                raise gates.GateError(f"upstream {upstream} failed its gate: {error}") from None


def _after_example_validator(run: _Run, result: node_runner.NodeExecution) -> None:
    anomalies_artifact = result.outputs["anomalies"][0]
    try:
        report = _write_tfdv_report(run, anomalies_artifact)
        print(f"ExampleValidator: TFDV report written to {report / 'index.html'}")
    except Exception as error:  # noqa: BLE001 - a broken report must not hide the verdict
        logging.exception("TFDV report not written")
        print(f"ExampleValidator: WARNING: TFDV report not written: {error}")
    by_split = gates.read_anomalies(anomalies_artifact)
    previous = _previous_span_ds(run, anomalies_artifact)
    print(
        "ExampleValidator: drift measured against the previous span "
        + (f"{previous}" if previous else "(none found: drift not checked)")
    )
    for m in gates.drift_skew_measurements(by_split):
        print(
            f"  {m['kind']} {m['feature']}: {m['measure']} {m['value']:.4g} "
            f"(threshold {m['threshold']:.4g}){'  ABOVE THRESHOLD' if m['exceeded'] else ''}"
        )
    gates.check_anomalies(anomalies_artifact)
    print(f"ExampleValidator: no anomalies in run {run.run_id}")


def _previous_span_ds(run: _Run, anomalies_artifact: types.Artifact) -> datetime.date | None:
    """The day whose statistics the validator measured drift against, if any."""
    key = data_validator.PREVIOUS_STATISTICS_ID_PROPERTY
    if not anomalies_artifact.has_custom_property(key):
        return None
    statistics_id = anomalies_artifact.get_int_custom_property(key)
    if statistics_id < 0:
        return None
    with metadata.Metadata(run.config) as m:
        span = data_validator.statistics_span(m.store, statistics_id)
    return None if span is None else datetime.date(1970, 1, 1) + datetime.timedelta(days=span)


def _write_tfdv_report(run: _Run, anomalies_artifact: types.Artifact) -> Path:
    """The run's TFDV report under ``<reports_dir>/tfdv/<pipeline>/<pipeline run id>/``."""
    statistics_gen = run.done(run.producer("statistics"))
    if statistics_gen is None:
        raise node_runner.NodeRunError("the validator's StatisticsGen has no execution in this run")
    stats_artifact = statistics_gen.outputs["statistics"][0]
    statistics = {
        split: stats_artifact_utils.load_statistics(stats_artifact, split).proto()
        for split in artifact_utils.decode_split_names(stats_artifact.split_names)
    }
    out_dir = tfdv_report.report_dir(
        run.settings.reports_dir, run.pipeline_name, run.pipeline_run_id
    )
    return tfdv_report.write_report(
        out_dir,
        pipeline=run.pipeline_name,
        run_id=run.run_id,
        pipeline_run_id=run.pipeline_run_id,
        eval_ds=run.end_ds,
        training_days=run.settings.training_days,
        statistics=statistics,
        anomalies=gates.read_anomalies(anomalies_artifact),
        previous_span_ds=_previous_span_ds(run, anomalies_artifact),
    )


def _after_evaluator(run: _Run, result: node_runner.NodeExecution) -> None:
    print(gates.evaluation_report(result.outputs["evaluation"][0], result.outputs["blessing"][0]))


def _after_pusher(run: _Run, result: node_runner.NodeExecution) -> bool:
    """Registers a pushed model; returns whether a model was pushed."""
    evaluator = run.done(run.producer("model_blessing"))
    if evaluator is None:
        raise node_runner.NodeRunError("Pusher ran but its Evaluator has no execution in this run")
    evaluation = evaluator.outputs["evaluation"][0]
    pushed = gates.pushed_model_info(result.outputs["pushed_model"][0])
    if pushed is None:
        why = gates.validation_failures(evaluation) or ["the model blessing is negative"]
        print(
            f"Pusher: NOTHING PUSHED in run {run.run_id}: the Evaluator did not bless the "
            "new model, so the live model stays.\n  why: " + "\n  why: ".join(why)
        )
        return False
    record = gates.registry_record(
        model_name=run.entry.model_name,
        pushed=pushed,
        metrics=gates.read_metrics(evaluation),
        end_ds=run.end_ds,
        training_days=run.settings.training_days,
        run_id=run.run_id,
        pipeline_run_id=run.pipeline_run_id,
        pushed_at=datetime.datetime.now(datetime.UTC),
    )
    appended = gates.register_push(run.settings, record)
    print(
        f"Pusher: pushed {run.entry.model_name} version {pushed['version']} to {pushed['path']} "
        f"(AUC {record['auc']}); registry "
        f"{registry.registry_path(run.settings, run.entry.model_name)} "
        f"{'updated' if appended else 'already had this version'}"
    )
    return True


# Gates by node type; a gate returns whether a model was pushed (Pusher) or None.
_GATES: dict[str, Callable[[_Run, node_runner.NodeExecution], bool | None]] = {
    **{validator: _after_example_validator for validator in _EXAMPLE_VALIDATORS},
    _EVALUATOR: _after_evaluator,
    _PUSHER: _after_pusher,
}


@dataclasses.dataclass(frozen=True)
class NodeOutcome:
    execution: node_runner.NodeExecution
    pushed: bool | None = None  # Pusher only: whether a new model version was pushed


def run_component(
    pipeline_name: str,
    node_id: str,
    run_id: str,
    end_ds: datetime.date,
    settings: Settings | None = None,
) -> NodeOutcome:
    """Runs ``node_id`` of the pipeline in run ``run_id`` and applies its gate."""
    if pipeline_name not in PIPELINES:
        raise node_runner.NodeRunError(
            f"unknown pipeline {pipeline_name!r}; known: {sorted(PIPELINES)}"
        )
    entry = PIPELINES[pipeline_name]
    settings = settings or get_settings()
    if settings.warehouse_target != "duckdb":
        # create_pipeline supports BigQueryExampleGen; the BigQuery table of the mart
        # and the Dataflow arguments are not settings yet.
        raise node_runner.NodeRunError(
            f"warehouse_target={settings.warehouse_target!r}: only 'duckdb' is wired to this "
            "runner; a production runner calls create_pipeline(warehouse_target='bigquery', "
            "source_table=...)"
        )
    pipeline_run_id = node_runner.sanitize_run_id(run_id)
    metadata_config = metadata.sqlite_metadata_connection_config(str(settings.metadata_path))
    ir = node_runner.compile_pipeline(
        entry.build(settings, end_ds, metadata_config), pipeline_run_id
    )
    node = node_runner.find_node(ir, node_id)
    run = _Run(entry, settings, ir, node, run_id, end_ds)
    _check_end_ds(run)
    _check_upstream_gates(run)
    print(f"{node_id}: running in pipeline {ir.pipeline_info.id}, run {pipeline_run_id}")
    result = node_runner.run_node(ir, node_id)
    print(f"{node_id}: execution {result.execution.id} complete")
    gate = _GATES.get(node.node_info.type.name)
    return NodeOutcome(result, gate(run, result) if gate is not None else None)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tfx_pipelines.run_component", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pipeline", default="engagement", choices=sorted(PIPELINES))
    parser.add_argument("--node", help="node id, e.g. Transform (see --print-graph)")
    parser.add_argument("--run-id", help="orchestrator run id, shared by all nodes of a run")
    parser.add_argument("--end-ds", type=_date, help="evaluation day YYYY-MM-DD")
    parser.add_argument(
        "--print-graph", action="store_true", help="print the compiled node graph as JSON and exit"
    )
    parser.add_argument(
        "--not-pushed-exit-code",
        type=int,
        default=0,
        help="exit status of a Pusher that pushed nothing (default 0: success)",
    )
    args = parser.parse_args(argv)
    if not args.print_graph:
        missing = [
            f"--{k.replace('_', '-')}"
            for k in ("node", "run_id", "end_ds")
            if getattr(args, k) is None
        ]
        if missing:
            parser.error(f"missing {', '.join(missing)} (or use --print-graph)")
    return args


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.print_graph:
        sys.stdout.write(graph_json(compiled_graph(args.pipeline)))
        return 0
    logging.set_verbosity(logging.INFO)
    tf_compat.skip_autograph_for_tf_keras()
    try:
        outcome = run_component(args.pipeline, args.node, args.run_id, args.end_ds)
    except Exception as error:  # noqa: BLE001 - every failure must become a clear exit
        logging.exception("%s failed", args.node)
        print(
            f"ERROR: {args.pipeline}/{args.node} in run {args.run_id!r} failed: "
            f"{type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return EXIT_GATE if isinstance(error, gates.GateError) else EXIT_ERROR
    return args.not_pushed_exit_code if outcome.pushed is False else 0


if __name__ == "__main__":
    sys.exit(main())
