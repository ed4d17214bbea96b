"""
### engagement_training

Trains, validates and pushes the engagement model (P(open within 24 h)) with the
TFX pipeline in `tfx_pipelines/engagement`, whenever gated engagement examples
land (the `ml_engagement_examples` Asset).

Each TFX component is its own task, run in the TFX environment; all tasks of a
DAG run share one TFX pipeline run in ML Metadata (its id is the Airflow run id),
so any component can be retried alone. SchemaGen imports the curated schema checked
in at `tfx_pipelines/engagement/schema/`; ExampleValidator (TFDV) fails on schema
anomalies, on drift of key features against the previous day's statistics and on
training/serving skew, and writes its report to `/reports/tfdv/`. The Evaluator
blesses only a model above the AUC floor and no worse than the last blessed one, and
the Pusher pushes only a blessed model.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from notiflow.operators import TFX_NOT_PUSHED_EXIT_CODE, TfxComponentOperator
from notiflow.orchestration import (
    DEFAULT_ARGS,
    ENGAGEMENT_EXAMPLES_ASSET_NAME,
    ENGAGEMENT_MODEL_ASSET_NAME,
    WAREHOUSE_POOL,
    asset_uri,
    load_pipeline_graph,
    reads_warehouse,
    task_environment,
    tfx_component_command,
)
from notiflow.settings import get_settings

PIPELINE = "engagement"
settings = get_settings()
engagement_examples = Asset(
    name=ENGAGEMENT_EXAMPLES_ASSET_NAME, uri=asset_uri(settings, ENGAGEMENT_EXAMPLES_ASSET_NAME)
)
engagement_model = Asset(
    name=ENGAGEMENT_MODEL_ASSET_NAME, uri=asset_uri(settings, ENGAGEMENT_MODEL_ASSET_NAME)
)


@dag(
    schedule=[engagement_examples],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["notiflow", "training", "tfx", "engagement"],
    doc_md=__doc__,
    params={
        "end_ds": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Evaluation day of the window (default: the day that triggered the run).",
        ),
    },
)
def engagement_training():
    @task(pool=WAREHOUSE_POOL)
    def training_window(triggering_asset_events=None, params: dict | None = None) -> str:
        from notiflow import warehouse
        from notiflow.orchestration import training_end_ds

        with warehouse.connect(settings, read_only=True) as con:
            latest = con.execute(
                "select cast(max(ds) as varchar) from marts.ml_engagement_examples"
            ).fetchone()[0]
        return training_end_ds(triggering_asset_events, (params or {}).get("end_ds"), latest)

    window = training_window()
    tasks = {}
    for node in load_pipeline_graph(PIPELINE):
        node_id = node["id"]
        tasks[node_id] = TfxComponentOperator(
            task_id=node_id,
            bash_command=tfx_component_command(
                settings,
                PIPELINE,
                node_id,
                run_id="{{ run_id }}",
                end_ds='{{ ti.xcom_pull(task_ids="training_window") }}',
                # a Pusher that pushed nothing is skipped: no engagement_model Asset event
                not_pushed_exit_code=TFX_NOT_PUSHED_EXIT_CODE if node_id == "Pusher" else None,
            ),
            env=task_environment(settings),
            append_env=True,
            pool=WAREHOUSE_POOL if reads_warehouse(node_id) else "default_pool",
            outlets=[engagement_model] if node_id == "Pusher" else [],
        )
        upstream = [tasks[u] for u in node["upstream"]] or [window]
        upstream >> tasks[node_id]


engagement_training()
