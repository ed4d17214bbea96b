"""DAG factories: a DAG file names what differs, the factory builds the rest.

:func:`dbt_task_group` builds the day's dbt task group: one ``dbt build`` of the landed
day (Cosmos's watcher mode), followed in the UI by a task per model and per test.

:func:`training_dag` builds the training DAG of any TFX pipeline folder
(:mod:`notiflow.pipelines`): a ``training_window`` task, then one task per component of
the pipeline's graph (a resolver runs in the task of the node it feeds:
``pipelines.tasks``), each run in the TFX environment, all sharing one TFX pipeline run
in ML Metadata (its id is the Airflow run id), so any component can be retried alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, BaseOperator, Param, task

from notiflow import pipelines
from notiflow.dbt import project_vars
from notiflow.domain import MARTS_SCHEMA, TFX_NOT_PUSHED_EXIT_CODE
from notiflow.settings import Settings, get_settings
from notiflow_airflow import tasks
from notiflow_airflow.common import (
    WAREHOUSE_POOL,
    asset_uri,
    dbt_paths,
    default_args,
    model_asset_uri,
    task_environment,
)
from notiflow_airflow.operators import TfxComponentOperator

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
WINDOW_TASK_ID = "training_window"
# The model report of the reports plugin (notiflow_airflow.reports): live version,
# history, every evaluation by slice against the baseline, calibration.
MODEL_REPORT_PATH = "/reports/models/{model}"
# Seconds between a deferred dbt node task's looks at the build's results (Cosmos: 10).
CONSUMER_POKE_INTERVAL_S = 2


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


def dbt_task_group(settings: Settings, group_id: str = "dbt") -> Any:
    """The dbt task group of the landed day ``ds``, in Cosmos's watcher mode.

    One producer task runs a single ``dbt build --vars ds`` of the whole project (one
    dbt process parses the project once, instead of one process per model and test);
    a task per model and per test follows its result, so the UI still shows each node,
    a failing test fails its own task and dbt skips its dependants. A retried node task
    (or one cleared in the UI) runs ``dbt run``/``dbt test`` of its own node.

    Only the producer holds the one-slot ``warehouse`` pool for the build; the node
    tasks read the producer's results (XCom) and would otherwise queue behind it.
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
    from cosmos.operators.watcher import DbtConsumerWatcherSensor, DbtProducerWatcherOperator

    dbt = dbt_paths(settings)
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=dbt["project"],
            manifest_path=dbt["manifest"],
            env_vars=task_environment(settings) | settings.dbt_environment(),
        ),
        profile_config=ProfileConfig(
            profile_name="notiflow",
            target_name=settings.warehouse_target,
            profiles_yml_filepath=dbt["profiles"],
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            dbt_executable_path=dbt["executable"],
            # dbt lives in its own environment (protobuf>=6; TFX needs <5)
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # A test spanning models (relationships) belongs to each model's test task: the
            # build runs it once all its models are built, and Cosmos's watcher mode reports
            # no result for a detached test task.
            should_detach_multiple_parents_tests=False,
            emit_datasets=False,
            dbt_executable_path=dbt["executable"],
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        # every model rebuilds only the days the landed day changes (macros/build_window.sql)
        operator_args={
            "install_deps": False,
            "vars": project_vars({"ds": "{{ ds }}"}),
        },
    )
    for node_task in group.iter_tasks():
        producer = isinstance(node_task, DbtProducerWatcherOperator)
        node_task.pool = WAREHOUSE_POOL if producer else "default_pool"
        if isinstance(node_task, DbtConsumerWatcherSensor):
            # A node task waits deferred (in the triggerer, holding no worker slot) until the
            # build reports its node: poll often, so its dependants start during the build.
            node_task.poke_interval = CONSUMER_POKE_INTERVAL_S
    return group


def tfx_component_args(
    pipeline: str,
    node_id: str,
    run_id: str,
    end_ds: str,
    not_pushed_exit_code: int | None = None,
) -> list[str]:
    """``python -m`` arguments running one TFX node (with the resolvers it hosts)."""
    argv = [
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
        argv += ["--not-pushed-exit-code", str(not_pushed_exit_code)]
    return argv


def tfx_environment_task(
    settings: Settings, task_id: str, module_args: Sequence[str], **task_args: Any
) -> BaseOperator:
    """A task running ``python -m <module_args>`` in the TFX environment: a subprocess
    on the TFX venv (``tfx_runner = "local"``) or a pod on the tfx image
    (``"kubernetes"``: :mod:`notiflow_airflow.kubernetes`). Either way a gate's exit code
    fails it without retry and ``TFX_NOT_PUSHED_EXIT_CODE`` skips it."""
    if settings.tfx_runner == "kubernetes":
        from notiflow_airflow.kubernetes import tfx_pod_task

        return tfx_pod_task(settings, task_id, module_args, **task_args)
    return TfxComponentOperator(
        task_id=task_id,
        bash_command=shlex.join([str(settings.tfx_python), "-m", *module_args]),
        env=task_environment(settings),
        append_env=True,
        **task_args,
    )


def tfx_node_task(
    settings: Settings, pipeline: str, node: dict[str, Any], end_ds: str, model_asset: Asset
) -> BaseOperator:
    """The task of one TFX node (with the resolvers it hosts: ``pipelines.tasks``). A
    node that pushes a model updates ``model_asset``, and only when it pushed one:
    otherwise it exits with the skip code, and a skipped task emits no Asset event (so
    nothing downstream scores with an unchanged model)."""
    pushes = pipelines.pushes_model(node)
    return tfx_environment_task(
        settings,
        node["id"],
        tfx_component_args(
            pipeline,
            node["id"],
            run_id="{{ run_id }}",
            end_ds=end_ds,
            not_pushed_exit_code=TFX_NOT_PUSHED_EXIT_CODE if pushes else None,
        ),
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
        default_args=default_args(settings),
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
        for node in pipelines.tasks(graph):
            node_tasks[node["id"]] = tfx_node_task(settings, pipeline, node, end_ds, model)
            upstream = [node_tasks[u] for u in node["upstream"]] or [window]
            upstream >> node_tasks[node["id"]]
    return dag
