"""DAG factories: a DAG file names what differs, the factory builds the rest.

:func:`training_dag` builds the training DAG of any TFX pipeline folder
(:mod:`notiflow.pipelines`): a ``training_window`` task, then one task per node of the
pipeline's graph, each run in the TFX environment, all sharing one TFX pipeline run
in ML Metadata (its id is the Airflow run id), so any component can be retried alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, BaseOperator, Param, task

from notiflow import pipelines
from notiflow.domain import MARTS_SCHEMA, TFX_NOT_PUSHED_EXIT_CODE
from notiflow.settings import Settings, get_settings
from notiflow_airflow import tasks
from notiflow_airflow.common import (
    DEFAULT_ARGS,
    WAREHOUSE_POOL,
    asset_uri,
    model_asset_uri,
    task_environment,
)
from notiflow_airflow.operators import TfxComponentOperator

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
WINDOW_TASK_ID = "training_window"
# The model report of the reports plugin (notiflow_airflow.reports): live version,
# history, every evaluation by slice against the baseline, calibration.
MODEL_REPORT_PATH = "/reports/models/{model}"


def model_report_link(model: str) -> str:
    """A Markdown link to ``model``'s report, for DAG and task docs."""
    path = MODEL_REPORT_PATH.format(model=model)
    return f"[{path}]({path})"


def asset(settings: Settings, name: str, schema: str = MARTS_SCHEMA) -> Asset:
    """The Asset of a warehouse table (:mod:`notiflow.domain` names them): a feature
    mart unless another ``schema`` is given (the published plan's)."""
    return Asset(name=name, uri=asset_uri(settings, name, schema))


def asset_of_model(name: str) -> Asset:
    """The Asset of a model, updated when a new version is pushed."""
    return Asset(name=name, uri=model_asset_uri(name))


def tfx_component_command(
    settings: Settings,
    pipeline: str,
    node_id: str,
    run_id: str,
    end_ds: str,
    not_pushed_exit_code: int | None = None,
) -> str:
    """Shell command running one TFX node in the TFX environment."""
    argv: list[str] = [
        str(settings.tfx_python),
        "-m",
        "tfx_pipelines.run_component",
        "--pipeline",
        pipeline,
        "--node",
        node_id,
        "--run-id",
        run_id,
        "--end-ds",
        end_ds,
    ]
    if not_pushed_exit_code is not None:
        argv = [*argv, "--not-pushed-exit-code", str(not_pushed_exit_code)]
    return shlex.join(argv)


def tfx_node_task(
    settings: Settings, pipeline: str, node: dict[str, Any], end_ds: str, model_asset: Asset
) -> BaseOperator:
    """The task of one TFX node. A node that pushes a model updates ``model_asset``, and
    only when it pushed one: otherwise it exits with the skip code, and a skipped task
    emits no Asset event (so nothing downstream scores with an unchanged model)."""
    pushes = pipelines.pushes_model(node)
    return TfxComponentOperator(
        task_id=node["id"],
        bash_command=tfx_component_command(
            settings,
            pipeline,
            node["id"],
            run_id="{{ run_id }}",
            end_ds=end_ds,
            not_pushed_exit_code=TFX_NOT_PUSHED_EXIT_CODE if pushes else None,
        ),
        env=task_environment(settings),
        append_env=True,
        pool=WAREHOUSE_POOL if pipelines.reads_warehouse(node) else "default_pool",
        outlets=[model_asset] if pushes else [],
        doc_md=(
            "Pushes the model only if the Evaluator blessed it. The verdict and why, the "
            f"metrics by slice against the live model: {model_report_link(pipeline)}"
            if pushes
            else None
        ),
    )


def training_dag(
    *,
    pipeline: str,
    trigger: str,
    model_asset: str,
    tags: Sequence[str] = (),
    doc_md: str | None = None,
    settings: Settings | None = None,
) -> DAG:
    """The DAG ``<pipeline>_training``: runs whenever the ``trigger`` mart's Asset is
    updated (a day passed the features gate), trains on the window that ends on the
    newest day with mature labels (or the ``end_ds`` parameter), and updates
    ``model_asset`` when it pushed a new model version."""
    settings = settings or get_settings()
    graph = pipelines.load_graph(pipeline)
    model = asset_of_model(model_asset)
    with DAG(
        dag_id=f"{pipeline}_training",
        schedule=[asset(settings, trigger)],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["notiflow", "training", "tfx", pipeline, *tags],
        doc_md=f"{doc_md or ''}\n\n**Model report** (the live version, its history, every "
        f"evaluation by slice): {model_report_link(pipeline)}\n",
        params={
            "end_ds": Param(
                None,
                type=["null", "string"],
                format="date",
                description="Evaluation day of the window (default: the day that triggered "
                "the run, less the label maturity).",
            ),
        },
    ) as dag:

        @task(task_id=WINDOW_TASK_ID, pool=WAREHOUSE_POOL)
        def training_window(triggering_asset_events=None, params: dict | None = None) -> str:
            return tasks.training_window(
                settings, trigger, triggering_asset_events, (params or {}).get("end_ds")
            )

        window = training_window()
        end_ds = f'{{{{ ti.xcom_pull(task_ids="{WINDOW_TASK_ID}") }}}}'
        node_tasks: dict[str, BaseOperator] = {}
        for node in graph:
            node_tasks[node["id"]] = tfx_node_task(settings, pipeline, node, end_ds, model)
            upstream = [node_tasks[u] for u in node["upstream"]] or [window]
            upstream >> node_tasks[node["id"]]
    return dag
