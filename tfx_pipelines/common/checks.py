"""Invariants of a pipeline run that the runner checks before any node of any pipeline.

- every task of a run uses the day its ExampleGen cut the data at (``--end-ds``);
- no node runs below an ExampleValidator whose data has anomalies.
"""

from __future__ import annotations

import datetime

from tfx_pipelines.common import gates, node_runner
from tfx_pipelines.common.hooks import NodeRun
from tfx_pipelines.components.duckdb_example_gen import span_of

# ExampleValidator nodes: TFX's, and DataValidator (schema + drift + skew).
EXAMPLE_VALIDATOR_TYPES = frozenset(
    {
        "tfx.components.example_validator.component.ExampleValidator",
        "tfx_pipelines.components.data_validator.component.DataValidator",
    }
)


def check_run(run: NodeRun) -> None:
    check_end_ds(run)
    check_upstream_gates(run)


def check_end_ds(run: NodeRun) -> None:
    """All tasks of a run must use the day ExampleGen cut the data at."""
    example_gen = run.node_of_type("ExampleGen")
    if example_gen is None or run.node_id == example_gen.node_info.id:
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


def check_upstream_gates(run: NodeRun) -> None:
    """Refuses to run below an ExampleValidator whose data has anomalies.

    Its failed gate already stops Airflow's downstream tasks; this also stops a
    manual or cleared-task run of, say, Transform from training on that data.
    """
    for upstream in sorted(run.node.upstream_nodes):
        node = node_runner.find_node(run.ir, upstream)
        if node.node_info.type.name not in EXAMPLE_VALIDATOR_TYPES:
            continue
        done = run.done(upstream)
        if done is not None:
            try:
                gates.check_anomalies(done.outputs["anomalies"][0])
            except gates.GateError as error:
                raise gates.GateError(f"upstream {upstream} failed its gate: {error}") from None
