"""Runs ONE node of a compiled TFX pipeline in this process, as part of a shared run.

This is what TFX's LocalDagRunner does for every node in a loop
(tfx/orchestration/local/local_dag_runner.py), cut down to one node so that an
orchestrator (Airflow) can run each node as its own task:

1. compile the pipeline to IR and substitute the ``pipeline-run-id`` runtime
   parameter with the orchestrator's run id. Every node of the IR is attached to
   the MLMD contexts ``pipeline`` (pipeline name), ``pipeline_run`` (run id) and
   ``node`` (``<pipeline>.<node id>``), and every input channel queries the producer
   node's outputs within the same ``pipeline_run`` context. So nodes run with the
   same run id, in dependency order, in separate processes, form one pipeline run.
2. build ``tfx.orchestration.portable.launcher.Launcher`` for the node and launch it.
   The launcher registers one execution per (pipeline, run, node): a retry after a
   failure reuses that execution, a retry after a success is a no-op. System nodes
   (Resolver, Importer) go through the launcher's system node handlers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable

from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.compiler import compiler
from tfx.dsl.compiler import constants as compiler_constants
from tfx.dsl.io import fileio
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as pipeline_py
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.orchestration.portable.mlmd import execution_lib
from tfx.proto.orchestration import pipeline_pb2

PIPELINE_CONTEXT = "pipeline"
PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"

RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"
IMPORTER_TYPE = "tfx.dsl.components.common.importer.Importer"
SYSTEM_NODE_TYPES = frozenset({RESOLVER_TYPE, IMPORTER_TYPE})

_UNSAFE_RUN_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


class NodeRunError(RuntimeError):
    """A node cannot run or did not complete; the message says why."""


def sanitize_run_id(run_id: str) -> str:
    """The TFX pipeline run id for an orchestrator run id.

    Airflow run ids contain ``:`` and ``+`` ("manual__2026-11-25T10:00:00+00:00");
    they are kept readable but restricted to ``[A-Za-z0-9_.-]`` because the run id
    also names jobs and paths on other runners (Dataflow, Vertex).
    """
    sanitized = _UNSAFE_RUN_ID_CHARS.sub("_", run_id.strip())
    if not sanitized.strip("_.-"):
        raise NodeRunError(f"run id {run_id!r} is empty once sanitized")
    return sanitized


def compile_pipeline(
    pipeline: pipeline_py.Pipeline, run_id: str | None = None
) -> pipeline_pb2.Pipeline:
    """Pipeline IR; with ``run_id``, the ``pipeline-run-id`` parameter is substituted."""
    ir = compiler.Compiler().compile(pipeline)
    if run_id is not None:
        runtime_parameter_utils.substitute_runtime_parameter(
            ir, {compiler_constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
        )
    return ir


def pipeline_graph(ir: pipeline_pb2.Pipeline) -> list[dict[str, object]]:
    """Nodes in topological order (the IR's order): ``id``, ``type`` and ``upstream`` ids.

    ``type`` is the node's class path (``node_info.type.name``, e.g.
    ``tfx.components.pusher.component.Pusher``): the orchestration reads the checked-in
    graph and decides by type which nodes push a model or read the warehouse
    (``notiflow.pipelines``).
    """
    return [
        {
            "id": n.pipeline_node.node_info.id,
            "type": n.pipeline_node.node_info.type.name,
            "upstream": sorted(n.pipeline_node.upstream_nodes),
        }
        for n in ir.nodes
    ]


def find_node(ir: pipeline_pb2.Pipeline, node_id: str) -> pipeline_pb2.PipelineNode:
    for node in ir.nodes:
        if node.pipeline_node.node_info.id == node_id:
            return node.pipeline_node
    known = [n.pipeline_node.node_info.id for n in ir.nodes]
    raise NodeRunError(
        f"pipeline {ir.pipeline_info.id!r} has no node {node_id!r}; its nodes are {known}"
    )


def connection_config(ir: pipeline_pb2.Pipeline) -> metadata_store_pb2.ConnectionConfig:
    deployment = runner_utils.extract_local_deployment_config(ir)
    which = deployment.metadata_connection_config.WhichOneof("connection_config")
    if which is None:
        raise NodeRunError("the pipeline has no metadata_connection_config")
    return getattr(deployment.metadata_connection_config, which)


@dataclasses.dataclass(frozen=True)
class NodeExecution:
    """The (single) execution of a node in a pipeline run, with its outputs."""

    execution: metadata_store_pb2.Execution
    outputs: dict[str, list[types.Artifact]]

    @property
    def succeeded(self) -> bool:
        return execution_lib.is_execution_successful(self.execution)


def node_executions(
    m: metadata.Metadata, pipeline_name: str, run_id: str, node_id: str
) -> list[NodeExecution]:
    """Executions of ``node_id`` in run ``run_id``, oldest first."""
    run_context = m.store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    node_context = m.store.get_context_by_type_and_name(NODE_CONTEXT, f"{pipeline_name}.{node_id}")
    if run_context is None or node_context is None:
        return []
    executions = execution_lib.get_executions_associated_with_all_contexts(
        m, [run_context, node_context]
    )
    return [
        NodeExecution(e, dict(execution_lib.get_output_artifacts(m, e.id)))
        for e in sorted(executions, key=lambda e: e.id)
    ]


def successful_execution(
    m: metadata.Metadata, pipeline_name: str, run_id: str, node_id: str
) -> NodeExecution | None:
    done = [e for e in node_executions(m, pipeline_name, run_id, node_id) if e.succeeded]
    return done[-1] if done else None


def _require_upstream(
    m: metadata.Metadata, pipeline_name: str, run_id: str, upstream: Iterable[str], node_id: str
) -> None:
    missing = [
        u for u in sorted(upstream) if successful_execution(m, pipeline_name, run_id, u) is None
    ]
    if missing:
        raise NodeRunError(
            f"cannot run {node_id} in run {run_id!r}: upstream node(s) {missing} have not "
            "succeeded in this run; run them first with the same run id"
        )


def _clear_stale_outputs(
    ir: pipeline_pb2.Pipeline, node: pipeline_pb2.PipelineNode, stale: Iterable[NodeExecution]
) -> None:
    """Deletes what a failed or killed attempt left in its output directories.

    The launcher reuses the unfinished execution, and with it the output URIs
    ``<pipeline_root>/<node>/<output key>/<execution id>``; leftovers of a killed
    attempt (e.g. half-written example shards) must not be read as this attempt's output.
    """
    root = ir.runtime_spec.pipeline_root.field_value.string_value
    for attempt in stale:
        for key in node.outputs.outputs:
            path = os.path.join(root, node.node_info.id, key, str(attempt.execution.id))
            if fileio.exists(path):
                logging.info("Removing output of unfinished attempt: %s", path)
                if fileio.isdir(path):
                    fileio.rmtree(path)
                else:
                    fileio.remove(path)


def run_node(ir: pipeline_pb2.Pipeline, node_id: str) -> NodeExecution:
    """Runs ``node_id`` of ``ir`` (run id already substituted) and returns its execution.

    Idempotent per run: a node that already succeeded in this run is not run again.
    """
    node = find_node(ir, node_id)
    pipeline_name = ir.pipeline_info.id
    run_id = ir.runtime_spec.pipeline_run_id.field_value.string_value
    if not run_id:
        raise NodeRunError("the pipeline IR has no pipeline run id; compile it with one")
    config = connection_config(ir)

    with metadata.Metadata(config) as m:
        _require_upstream(m, pipeline_name, run_id, node.upstream_nodes, node_id)
        previous = node_executions(m, pipeline_name, run_id, node_id)
    done = [e for e in previous if e.succeeded]
    if done:
        # The launcher would skip it too, except for system nodes, which register a
        # new execution each time (a second Resolver output would give the Evaluator
        # two baselines).
        logging.info(
            "%s already succeeded in run %s (execution %d); not running it again",
            node_id,
            run_id,
            done[-1].execution.id,
        )
        return done[-1]
    if node.node_info.type.name not in SYSTEM_NODE_TYPES:
        _clear_stale_outputs(ir, node, previous)

    deployment = runner_utils.extract_local_deployment_config(ir)
    component_launcher = launcher.Launcher(
        pipeline_node=node,
        mlmd_connection=metadata.Metadata(config),
        pipeline_info=ir.pipeline_info,
        pipeline_runtime_spec=ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
    )
    logging.info("Running %s in pipeline run %s", node_id, run_id)
    component_launcher.launch()

    with metadata.Metadata(config) as m:
        result = successful_execution(m, pipeline_name, run_id, node_id)
    if result is None:
        # The launcher returns quietly when inputs do not resolve; that must not
        # look like success to the orchestrator.
        raise NodeRunError(
            f"{node_id} did not complete in run {run_id!r}: no successful execution was "
            "recorded (its inputs may not have resolved); see the log above"
        )
    return result
