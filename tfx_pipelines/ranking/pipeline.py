"""The ranking TFX pipeline, built from explicit arguments.

The graph is the one every pipeline runs (``tfx_pipelines.common.graph``); what is
ranking's own is here: its input (the engagement pipeline's time split, mature labels
only) and its push gate (``eval_config``: NDCG by list); its listwise Trainer is
``model.py``. Its knobs (names, source table, node ids, steps, hyperparameters) are in
``configs.py``, whose ``pipeline_args(settings, end_ds)`` gives this module's
``create_pipeline`` its arguments; runners (``tfx_pipelines.run_component`` for
Airflow, a LocalDagRunner in tests, Vertex in production) add what they own (metadata
connection, Beam arguments). What runs after a node is in ``hooks.py``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

import tensorflow_model_analysis as tfma
from google.protobuf.wrappers_pb2 import BoolValue
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2

from tfx_pipelines.common import graph
from tfx_pipelines.components.duckdb_example_gen import time_split_queries
from tfx_pipelines.ranking import configs, features


def input_config(
    source_table: str, end_ds: datetime.date, training_days: int
) -> example_gen_pb2.Input:
    """The time split of the engagement pipeline (train = the ``training_days`` days
    before ``end_ds``, eval = ``end_ds``), on examples with a mature label only."""
    queries = time_split_queries(source_table, features.example_columns(), end_ds, training_days)
    return example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(
                name=name, pattern=f"{query}\n  and {configs.LABEL_MATURE_COLUMN}"
            )
            for name, query in queries.items()
        ]
    )


def _ndcg_spec(top_k: int, name: str, thresholds=()) -> tfma.MetricsSpec:
    """NDCG@``top_k`` by list, gain = the click label. Its k comes from the spec's
    binarization, so that a threshold's metric key (with its top_k sub key) is the
    computed one; one k per spec, because a spec's thresholds apply to every k of it."""
    return tfma.MetricsSpec(
        query_key=features.LIST_ID_KEY,
        binarize=tfma.BinarizationOptions(top_k_list={"values": [top_k]}),
        metrics=[
            tfma.MetricConfig(
                class_name="NDCG",
                config=json.dumps({"gain_key": features.LABEL_KEY, "name": name}),
                per_slice_thresholds=list(thresholds),
            )
        ],
    )


def eval_config(ndcg_floor: float) -> tfma.EvalConfig:
    """TFMA config, one query = one list (``query_key=list_id``), scored per example by
    the serving signature; NDCG@3, NDCG@5 and the min label position, overall and by
    ``configs.SLICE_KEYS``. The push gate: overall NDCG@3 >= ``ndcg_floor`` and not below
    the last blessed model's on the same data (dropped by TFX on the first run). The
    popularity baseline is checked after the Evaluator (hooks.py)."""
    ndcg_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": ndcg_floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": configs.NDCG_CHANGE_THRESHOLD},
        ),
    )
    overall_only = [tfma.SlicingSpec()]
    gate = tfma.PerSliceMetricThreshold(slicing_specs=overall_only, threshold=ndcg_threshold)
    return tfma.EvalConfig(
        options=tfma.Options(include_default_metrics=BoolValue(value=False)),
        model_specs=[
            tfma.ModelSpec(signature_name="serving_default", label_key=features.LABEL_KEY)
        ],
        slicing_specs=overall_only
        + [tfma.SlicingSpec(feature_keys=[key]) for key in configs.SLICE_KEYS],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")]),
            _ndcg_spec(configs.NDCG_TOP_K, configs.NDCG_METRIC, [gate]),
            _ndcg_spec(configs.NDCG_REPORTED_TOP_K, configs.NDCG_REPORTED_METRIC),
            # Mean (over lists with a click) position of the first clicked item when
            # sorted by score; TFMA 0.47 has no MRR.
            tfma.MetricsSpec(
                query_key=features.LIST_ID_KEY,
                metrics=[tfma.MetricConfig(class_name="MinLabelPosition")],
            ),
        ],
    )


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    warehouse_path: str,
    end_ds: datetime.date,
    training_days: int,
    serving_dir: str,
    ndcg_floor: float,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None,
    beam_pipeline_args: Sequence[str] = (),
    train_steps: int = configs.TRAIN_STEPS,
    eval_steps: int = configs.EVAL_STEPS,
    source_table: str = configs.SOURCE_TABLE,
    warehouse_target: str = "duckdb",
) -> tfx_pipeline.Pipeline:
    """The shared graph (``tfx_pipelines.common.graph``) on the mature-label time split
    of ``source_table`` (``input_config``); the push gate is ``eval_config(ndcg_floor)``.
    ``warehouse_target="bigquery"`` reads ``source_table`` as ``project.dataset.table``.
    """
    return graph.build_pipeline(
        configs,
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        end_ds=end_ds,
        input_config=input_config(source_table, end_ds, training_days),
        eval_config=eval_config(ndcg_floor),
        serving_dir=serving_dir,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
        train_steps=train_steps,
        eval_steps=eval_steps,
        warehouse_target=warehouse_target,
        warehouse_path=warehouse_path,
    )
