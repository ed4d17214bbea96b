"""Where notiflow's TFX pipelines live, read without importing TFX.

A pipeline is a folder ``tfx_pipelines/<name>/`` of the installed ``tfx_pipelines``
package that holds a ``configs.py`` (every knob of that pipeline) and its
``pipeline_graph.json`` (the compiled node graph, which a test in the TFX
environment keeps equal to the compiled pipeline). The per-component runner finds
a pipeline by name here, and so does the Airflow DAG factory, which cannot compile
the pipeline itself (TFX lives in another environment). Adding a pipeline is adding
such a folder: no shared file names the pipelines.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

PACKAGE = "tfx_pipelines"
CONFIGS_MODULE = "configs"
GRAPH_FILE = "pipeline_graph.json"

# Node types (TFX class paths) the orchestration treats specially.
PUSHER_TYPE = "tfx.components.pusher.component.Pusher"
# A resolver only queries ML Metadata (milliseconds), but a task of its own would spend
# the seconds of a TFX process start-up on it: it runs in the task of the node it feeds.
RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"


class PipelineNotFoundError(FileNotFoundError):
    """No pipeline folder of that name; the message lists the known ones."""


def package_dir() -> Path:
    """The installed ``tfx_pipelines`` package's folder (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineNotFoundError(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def pipeline_names() -> list[str]:
    """Every pipeline folder's name, sorted."""
    return sorted(
        path.parent.name
        for path in package_dir().glob(f"*/{CONFIGS_MODULE}.py")
        if path.parent.name.isidentifier()
    )


def pipeline_dir(name: str) -> Path:
    if name not in pipeline_names():
        raise PipelineNotFoundError(
            f"no TFX pipeline {name!r} (a folder {PACKAGE}/{name}/ with {CONFIGS_MODULE}.py) "
            f"in {package_dir()}; known: {pipeline_names()}"
        )
    return package_dir() / name


def graph_path(name: str) -> Path:
    return pipeline_dir(name) / GRAPH_FILE


def load_graph(name: str) -> list[dict[str, Any]]:
    """The pipeline's nodes in topological order: ``id``, ``type`` and ``upstream`` ids."""
    try:
        path = graph_path(name)
    except PipelineNotFoundError as error:
        raise PipelineNotFoundError(
            f"no pipeline graph for TFX pipeline {name!r}: {error}"
        ) from None
    if not path.exists():
        raise FileNotFoundError(
            f"no pipeline graph for TFX pipeline {name!r} at {path}: write it with "
            f"`python -m tfx_pipelines.run_component --pipeline {name} --print-graph`"
        )
    nodes = json.loads(path.read_text())
    known: set[str] = set()
    for node in nodes:
        missing = [u for u in node["upstream"] if u not in known]
        if missing:
            raise ValueError(
                f"{path}: node {node['id']} lists upstream {missing} before they appear"
            )
        known.add(node["id"])
    return nodes


def pushes_model(node: dict[str, Any]) -> bool:
    return node.get("type") == PUSHER_TYPE


def reads_warehouse(node: dict[str, Any]) -> bool:
    """ExampleGens read the warehouse (and must hold its one-slot pool locally)."""
    return node.get("type", "").endswith("ExampleGen")


def tasks(graph: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orchestrator's tasks of a pipeline graph (:func:`load_graph`), in topological
    order: ``id`` and ``type`` (of the node the task is named after), ``nodes`` (the
    node ids it runs, in order) and ``upstream`` (task ids).

    A resolver that feeds exactly one node runs first in that node's task (e.g.
    ``LatestBlessedModelResolver`` in ``Evaluator``); every other node is a task.
    """
    downstream: dict[str, list[str]] = {node["id"]: [] for node in graph}
    for node in graph:
        for upstream in node["upstream"]:
            downstream[upstream].append(node["id"])
    hosted_by = {
        node["id"]: downstream[node["id"]][0]
        for node in graph
        if node.get("type") == RESOLVER_TYPE and len(downstream[node["id"]]) == 1
    }

    def task_of(node_id: str) -> str:
        while node_id in hosted_by:
            node_id = hosted_by[node_id]
        return node_id

    result = []
    for node in graph:
        if node["id"] in hosted_by:
            continue
        members = [n for n in graph if task_of(n["id"]) == node["id"]]  # topological order
        upstream = {task_of(u) for member in members for u in member["upstream"]}
        result.append(
            {
                "id": node["id"],
                "type": node.get("type"),
                "nodes": [member["id"] for member in members],
                "upstream": sorted(upstream - {node["id"]}),
            }
        )
    return result
