"""Run one node of a notiflow TFX pipeline: the entry point of each Airflow TFX task.

    python -m tfx_pipelines.run_component --pipeline engagement --node Transform \\
        --run-id "manual__2026-11-25T10:00:00+00:00" --end-ds 2026-11-24
    python -m tfx_pipelines.run_component --pipeline engagement --print-graph

This module only wires; where each thing lives:
- a pipeline is a folder ``tfx_pipelines/<name>/``, found by name through
  ``notiflow.pipelines`` (no list of pipelines anywhere): ``configs.py`` (its knobs, and
  ``pipeline_args(settings, end_ds)``), ``pipeline.py`` (``create_pipeline``),
  ``hooks.py`` (``AFTER_NODE``: node id -> what runs after that node), and
  ``pipeline_graph.json`` (what ``--print-graph`` prints; the orchestration reads it);
- running one node as part of a shared run: ``tfx_pipelines.common.node_runner``;
- the run invariants of every pipeline (same ``--end-ds`` as ExampleGen's span; nothing
  runs below a validator with anomalies): ``tfx_pipelines.common.checks``;
- the reusable hooks (TFDV report and anomaly gate, evaluation report, registry record
  of a push) and their context: ``tfx_pipelines.common.hooks``; the registry itself:
  ``notiflow.registry``.

All nodes run with the same ``--run-id`` (and ``--end-ds``) form one TFX pipeline run in
ML Metadata. Exit status: 0 on success; ``notiflow.domain.TFX_GATE_EXIT_CODE`` (3) when
a gate stopped the run (bad data: retrying the same task cannot help); 1 for any other
error, with an ``ERROR:`` line on stderr. With ``--not-pushed-exit-code N`` a Pusher that
pushed nothing exits N instead of 0 (e.g. ``notiflow.domain.TFX_NOT_PUSHED_EXIT_CODE``,
99, BashOperator's skip code, so that no model Asset event is emitted).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import pipeline as tfx_pipeline

from notiflow import domain, pipelines
from notiflow.settings import Settings, get_settings
from tfx_pipelines.common import checks, gates, node_runner, runtime, tf_compat
from tfx_pipelines.common.hooks import Hook, NodeRun

EXIT_ERROR = 1
EXIT_GATE = domain.TFX_GATE_EXIT_CODE

PIPELINE_MODULE = "pipeline"
HOOKS_MODULE = "hooks"

# The graph does not depend on the day; --print-graph compiles with this one.
_GRAPH_END_DS = datetime.date(2000, 1, 1)


@dataclasses.dataclass(frozen=True)
class PipelineFolder:
    """A pipeline folder's modules: ``configs``, ``pipeline`` and its post-node hooks."""

    name: str
    configs: ModuleType
    pipeline: ModuleType
    after_node: Mapping[str, Hook]

    def build(
        self,
        settings: Settings,
        end_ds: datetime.date,
        metadata_config: metadata_store_pb2.ConnectionConfig | None,
        beam_job: str,
    ) -> tfx_pipeline.Pipeline:
        """The pipeline for ``end_ds``; ``beam_job`` names its Dataflow jobs."""
        return self.pipeline.create_pipeline(
            **self.configs.pipeline_args(settings, end_ds),
            metadata_connection_config=metadata_config,
            beam_pipeline_args=runtime.beam_pipeline_args(settings, beam_job),
        )


def load_pipeline(name: str) -> PipelineFolder:
    """Imports ``tfx_pipelines.<name>.configs``, ``.pipeline`` and ``.hooks`` (optional:
    without it nothing runs after the nodes). Raises ``PipelineNotFoundError`` naming the
    known pipelines."""
    pipelines.pipeline_dir(name)
    package = f"{pipelines.PACKAGE}.{name}"
    hooks_name = f"{package}.{HOOKS_MODULE}"
    hooks = importlib.import_module(hooks_name) if importlib.util.find_spec(hooks_name) else None
    return PipelineFolder(
        name=name,
        configs=importlib.import_module(f"{package}.{pipelines.CONFIGS_MODULE}"),
        pipeline=importlib.import_module(f"{package}.{PIPELINE_MODULE}"),
        after_node=dict(getattr(hooks, "AFTER_NODE", {})),
    )


def compiled_graph(pipeline_name: str, settings: Settings | None = None) -> list[dict[str, object]]:
    """The node graph of the compiled pipeline (what its pipeline_graph.json must hold)."""
    folder = load_pipeline(pipeline_name)
    # No metadata connection: printing the graph must not create the metadata DB.
    pipeline = folder.build(settings or get_settings(), _GRAPH_END_DS, None, pipeline_name)
    return node_runner.pipeline_graph(node_runner.compile_pipeline(pipeline))


def graph_json(graph: list[dict[str, object]]) -> str:
    return json.dumps(graph, indent=2) + "\n"


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
    """Runs ``node_id`` of the pipeline in run ``run_id`` and then its post-node hook;
    first the resolvers its task hosts (``notiflow.pipelines.tasks``), each with its
    hook. A hosted resolver named alone runs alone."""
    folder = load_pipeline(pipeline_name)
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
    ir = node_runner.compile_pipeline(
        folder.build(
            settings,
            end_ds,
            runtime.metadata_connection_config(settings),
            beam_job=f"{node_id}-{pipeline_name}-{pipeline_run_id}",
        ),
        pipeline_run_id,
    )
    node_ids = [n.pipeline_node.node_info.id for n in ir.nodes]
    stray = sorted(set(folder.after_node) - set(node_ids))
    if stray:
        raise node_runner.NodeRunError(
            f"{pipelines.PACKAGE}/{pipeline_name}/{HOOKS_MODULE}.py: AFTER_NODE names node(s) "
            f"{stray} that pipeline {ir.pipeline_info.id!r} does not have; its nodes are "
            f"{node_ids}"
        )
    node_runner.find_node(ir, node_id)  # an unknown id fails here, naming the known ones
    # The task of a node also runs the resolvers it hosts (notiflow.pipelines.tasks), first.
    task = next(
        (t for t in pipelines.tasks(node_runner.pipeline_graph(ir)) if t["id"] == node_id), None
    )
    outcome = None
    for each in task["nodes"] if task else [node_id]:
        node = node_runner.find_node(ir, each)
        run = NodeRun(settings, ir, node, run_id, end_ds)
        checks.check_run(run)
        # flushed: the task log shows progress as it happens (stdout is a pipe there)
        print(f"{each}: running in {ir.pipeline_info.id}, run {pipeline_run_id}", flush=True)
        result = node_runner.run_node(ir, each)
        print(f"{each}: execution {result.execution.id} complete", flush=True)
        hook = folder.after_node.get(each)
        outcome = NodeOutcome(result, hook(run, result) if hook is not None else None)
    return outcome


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tfx_pipelines.run_component", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--pipeline",
        choices=pipelines.pipeline_names(),
        help="pipeline name: a folder tfx_pipelines/<name>/ with configs.py",
    )
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
        help="exit status of a Pusher that pushed nothing (default 0: success; Airflow "
        f"passes {domain.TFX_NOT_PUSHED_EXIT_CODE}, its skip code)",
    )
    args = parser.parse_args(argv)
    required = ("pipeline",) if args.print_graph else ("pipeline", "node", "run_id", "end_ds")
    missing = [f"--{k.replace('_', '-')}" for k in required if getattr(args, k) is None]
    if missing:
        parser.error(
            f"missing {', '.join(missing)}"
            + ("" if args.print_graph else " (or use --print-graph)")
        )
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
