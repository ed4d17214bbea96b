"""The engagement TFX pipeline, built from explicit arguments.

The graph is the one every pipeline runs (``tfx_pipelines.common.graph``); what is
engagement's own is here: its input (the time split of the source table) and its push
gate (``eval_config``: AUC overall and per channel; calibration per channel in
``hooks.py``). Its knobs (names, source table, node ids, steps,
hyperparameters) are in ``configs.py``, whose ``pipeline_args(settings, end_ds)`` gives
this module's ``create_pipeline`` its arguments; runners (``tfx_pipelines.run_component``
for Airflow, a LocalDagRunner in tests, Vertex in production) add what they own
(metadata connection, Beam arguments). What runs after a node is in ``hooks.py``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import tensorflow_model_analysis as tfma
from google.protobuf.wrappers_pb2 import BoolValue
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import pipeline as tfx_pipeline

from notiflow import domain
from tfx_pipelines.common import graph
from tfx_pipelines.components.duckdb_example_gen import time_split_input_config
from tfx_pipelines.engagement import configs, features


def eval_config(auc_floor: float) -> tfma.EvalConfig:
    """TFMA config of the push gate, per slice: overall and on each channel, AUC >=
    ``auc_floor``; overall, AUC not below the last blessed model's on the same evaluation
    data; on each channel, not more than ``configs.CHANNEL_AUC_TOLERANCE`` below it.
    Without a blessed model yet (first run) TFX's Evaluator drops the change thresholds
    ("rubber stamp"), so the floors alone decide. Calibration by channel is gated after
    the Evaluator (``hooks.py``): its bounds depend on each slice's sampling error, which
    a TFMA threshold cannot express."""

    def auc_threshold(change: float) -> tfma.MetricThreshold:
        return tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": auc_floor}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": change}
            ),
        )

    channel_slices = [
        tfma.SlicingSpec(feature_values={configs.GATED_SLICE_KEY: channel})
        for channel in domain.CHANNELS
    ]
    return tfma.EvalConfig(
        # Only the metrics below: TFMA's defaults would add the Keras compiled metrics,
        # which makes it load the SavedModel once more per model (~10 s each locally).
        options=tfma.Options(include_default_metrics=BoolValue(value=False)),
        model_specs=[
            tfma.ModelSpec(signature_name="serving_default", label_key=features.LABEL_KEY)
        ],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in features.SLICE_KEYS],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    # Per-slice thresholds, not a plain `threshold` (which TFMA's
                    # metrics_validator applies to every slice, platforms included).
                    tfma.MetricConfig(
                        class_name="AUC",
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[tfma.SlicingSpec()],
                                threshold=auc_threshold(configs.AUC_CHANGE_THRESHOLD),
                            ),
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=channel_slices,
                                threshold=auc_threshold(-configs.CHANNEL_AUC_TOLERANCE),
                            ),
                        ],
                    ),
                    tfma.MetricConfig(class_name="BinaryCrossEntropy"),
                    # Calibration = mean prediction / mean label.
                    tfma.MetricConfig(class_name="Calibration"),
                    tfma.MetricConfig(class_name="MeanLabel"),
                    tfma.MetricConfig(class_name="MeanPrediction"),
                    tfma.MetricConfig(class_name="CalibrationPlot"),
                ]
            )
        ],
    )


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    warehouse_path: str,
    end_ds: datetime.date,
    training_days: int,
    serving_dir: str,
    auc_floor: float,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None,
    beam_pipeline_args: Sequence[str] = (),
    train_steps: int = configs.TRAIN_STEPS,
    eval_steps: int = configs.EVAL_STEPS,
    source_table: str = configs.SOURCE_TABLE,
    warehouse_target: str = "duckdb",
) -> tfx_pipeline.Pipeline:
    """The shared graph (``tfx_pipelines.common.graph``) on the time split of
    ``source_table``: ``end_ds`` is the evaluation day, training uses the
    ``training_days`` days before; the push gate is ``eval_config(auc_floor)``.
    ``warehouse_target="bigquery"`` reads ``source_table`` as ``project.dataset.table``.
    """
    return graph.build_pipeline(
        configs,
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        end_ds=end_ds,
        input_config=time_split_input_config(
            source_table, features.example_columns(), end_ds, training_days
        ),
        eval_config=eval_config(auc_floor),
        serving_dir=serving_dir,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
        train_steps=train_steps,
        eval_steps=eval_steps,
        warehouse_target=warehouse_target,
        warehouse_path=warehouse_path,
    )
