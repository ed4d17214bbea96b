"""
### engagement_training

Trains, validates and pushes the engagement model (P(open within 24 h)) with the
TFX pipeline in `tfx_pipelines/engagement/` (its knobs in `configs.py`), whenever
gated engagement examples land (the `ml_engagement_examples` Asset).

Each TFX component is its own task, run in the TFX environment; all tasks of a
DAG run share one TFX pipeline run in ML Metadata (its id is the Airflow run id),
so any component can be retried alone. SchemaGen imports the curated schema checked
in at `tfx_pipelines/engagement/schema/`; ExampleValidator (TFDV) fails on schema
anomalies, on drift of key features against the previous day's statistics and on
training/serving skew, and writes its report to `/reports/tfdv/`. The Evaluator
gates per slice: a model is blessed only above the AUC floor overall and on each
channel, no worse than the last blessed one overall and not more than a tolerance worse
on any channel, and calibrated on each channel (`tfx_pipelines/engagement/configs.py`);
a refusal names the slice and metric. The Pusher pushes only a blessed model
(otherwise it is skipped and the `engagement_model` Asset gets no event).

The DAG is built by `notiflow_airflow.factories.training_dag`; the window logic is in
`notiflow_airflow.tasks`, what runs after each node in `tfx_pipelines/engagement/hooks.py`.
"""

from __future__ import annotations

from notiflow import domain
from notiflow_airflow.factories import training_dag

training_dag(
    pipeline="engagement",
    trigger=domain.ENGAGEMENT_EXAMPLES,
    model_asset=domain.ENGAGEMENT_MODEL,
    doc_md=__doc__,
)
