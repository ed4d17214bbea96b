"""Post-node hooks: what runs after a node of a pipeline, turning its artifacts into outcomes.

A pipeline declares its hooks in its own folder (``tfx_pipelines/<name>/hooks.py``:
``AFTER_NODE = {node id: hook}``) from the reusable ones here. The runner
(``tfx_pipelines.run_component``) calls the node's hook, if any, after the node ran,
with the :class:`NodeRun` context and the node's execution. A hook prints what it
found, raises :class:`~tfx_pipelines.common.gates.GateError` to stop the run on bad
data, and returns whether a model was pushed (a Pusher's hook) or None.

Hooks read the run's artifacts from ML Metadata (``tfx_pipelines.common.gates``), so a
retried task whose node the launcher skips as done reaches the same verdict.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from absl import logging
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.orchestration import metadata
from tfx.proto.orchestration import pipeline_pb2
from tfx.types import artifact_utils

from notiflow import model_evaluations, registry
from notiflow.settings import Settings
from tfx_pipelines.common import evaluation_summary, gates, node_runner, tfdv_report
from tfx_pipelines.components import data_validator


class NodeRun:
    """What hooks and run checks need besides the node's execution: the IR, the node,
    the run ids, the settings."""

    def __init__(
        self,
        settings: Settings,
        ir: pipeline_pb2.Pipeline,
        node: pipeline_pb2.PipelineNode,
        run_id: str,
        end_ds: datetime.date,
    ):
        self.settings, self.ir, self.node = settings, ir, node
        self.run_id, self.end_ds = run_id, end_ds
        self.pipeline_name = ir.pipeline_info.id
        self.pipeline_run_id = ir.runtime_spec.pipeline_run_id.field_value.string_value
        self.config = node_runner.connection_config(ir)

    @property
    def node_id(self) -> str:
        return self.node.node_info.id

    def done(self, node_id: str) -> node_runner.NodeExecution | None:
        """The successful execution of ``node_id`` in this run, if any."""
        with metadata.Metadata(self.config) as m:
            return node_runner.successful_execution(
                m, self.pipeline_name, self.pipeline_run_id, node_id
            )

    def producer(self, input_key: str) -> str:
        """Id of the node whose output feeds this node's ``input_key``."""
        return self.node.inputs.inputs[input_key].channels[0].producer_node_query.id

    def node_of_type(self, suffix: str) -> pipeline_pb2.PipelineNode | None:
        """The first node whose type (class path) ends with ``suffix``, if any."""
        for n in self.ir.nodes:
            if n.pipeline_node.node_info.type.name.endswith(suffix):
                return n.pipeline_node
        return None


# (run, the node's execution) -> whether a model was pushed (Pusher) or None.
Hook = Callable[[NodeRun, node_runner.NodeExecution], bool | None]


# --- ExampleValidator -------------------------------------------------------------


def validate_data(run: NodeRun, result: node_runner.NodeExecution) -> None:
    """Writes the TFDV report, prints every drift/skew distance against its threshold,
    and stops the run (GateError) on any anomaly, naming each feature and reason."""
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


def _previous_span_ds(run: NodeRun, anomalies_artifact: types.Artifact) -> datetime.date | None:
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


def _write_tfdv_report(run: NodeRun, anomalies_artifact: types.Artifact) -> Path:
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


# --- Evaluator --------------------------------------------------------------------


def report_evaluation(
    run: NodeRun,
    result: node_runner.NodeExecution,
    reported_metrics: Sequence[str] = gates.REPORTED_METRICS,
) -> None:
    """Writes the evaluation's summary for the model report, and prints whether the model
    was blessed, why not, and its metrics by slice."""
    write_evaluation_summary(run, result, reported_metrics)
    print(
        gates.evaluation_report(
            result.outputs["evaluation"][0], result.outputs["blessing"][0], reported_metrics
        )
    )


def write_evaluation_summary(
    run: NodeRun,
    result: node_runner.NodeExecution,
    reported_metrics: Sequence[str] = gates.REPORTED_METRICS,
) -> None:
    """The evaluation's summary (:mod:`notiflow.model_evaluations`) for the model report
    ``/reports/models/<model>``, after the pipeline's own gates decided the blessing. A
    summary that cannot be written is logged: it must not hide the verdict."""
    try:
        summary = evaluation_summary.build_summary(
            model=run.pipeline_name,
            run_id=run.run_id,
            pipeline_run_id=run.pipeline_run_id,
            end_ds=run.end_ds,
            training_days=run.settings.training_days,
            evaluation=result.outputs["evaluation"][0],
            blessing=result.outputs["blessing"][0],
            reported_metrics=reported_metrics,
            config=run.config,
        )
        path = model_evaluations.write_summary(run.settings, summary)
        print(f"Evaluator: evaluation summary written to {path}")
    except Exception as error:  # noqa: BLE001 - a broken summary must not hide the verdict
        logging.exception("evaluation summary not written")
        print(f"Evaluator: WARNING: evaluation summary not written: {error}")


def report_evaluation_of(reported_metrics: Sequence[str]) -> Hook:
    """The Evaluator hook of a pipeline whose report shows ``reported_metrics``."""
    return functools.partial(report_evaluation, reported_metrics=tuple(reported_metrics))


# --- Pusher -----------------------------------------------------------------------


def register_pushed_model(
    model_name: str, reported_metrics: Sequence[str] = gates.REPORTED_METRICS
) -> Hook:
    """The Pusher hook of model ``model_name``: appends a registry record
    (:mod:`notiflow.registry`, keeping the overall ``reported_metrics``) when a model was
    pushed; when the Evaluator did not bless it, says that nothing was pushed and why
    (keeping the live model is a success)."""
    reported_metrics = tuple(reported_metrics)
    headline = reported_metrics[0]

    def hook(run: NodeRun, result: node_runner.NodeExecution) -> bool:
        evaluator = run.done(run.producer("model_blessing"))
        if evaluator is None:
            raise node_runner.NodeRunError(
                "Pusher ran but its Evaluator has no execution in this run"
            )
        evaluation = evaluator.outputs["evaluation"][0]
        blessing = evaluator.outputs["blessing"][0]
        pushed = gates.pushed_model_info(result.outputs["pushed_model"][0])
        if pushed is None:
            why = gates.why_not_blessed(evaluation, blessing)
            print(
                f"Pusher: NOTHING PUSHED in run {run.run_id}: the Evaluator did not bless the "
                "new model, so the live model stays.\n  why: " + "\n  why: ".join(why)
            )
            return False
        metrics = gates.read_metrics(evaluation)
        # Metrics a pipeline's Evaluator hook computed beside TFMA's (none for most).
        extra = gates.extra_metrics(blessing)
        metrics["overall"] = metrics.get("overall", {}) | extra
        recorded = reported_metrics + tuple(k for k in extra if k not in reported_metrics)
        record = registry.registry_record(
            model_name=model_name,
            pushed=pushed,
            metrics=metrics,
            end_ds=run.end_ds,
            training_days=run.settings.training_days,
            run_id=run.run_id,
            pipeline_run_id=run.pipeline_run_id,
            pushed_at=datetime.datetime.now(datetime.UTC),
            reported_metrics=recorded,
        )
        appended = registry.register_push(run.settings, record)
        print(
            f"Pusher: pushed {model_name} version {pushed['version']} to {pushed['path']} "
            f"({headline} {record['metrics'].get(headline)}); registry "
            f"{registry.registry_path(run.settings, model_name)} "
            f"{'updated' if appended else 'already had this version'}"
        )
        return True

    return hook
