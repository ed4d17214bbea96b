"""The ranking TFX pipeline, built from explicit arguments (the engagement pipeline's
shape; the differences: mature labels only, a listwise Trainer, NDCG by list).

Its knobs (names, source table, node ids, steps, hyperparameters) are in
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

# Specific modules rather than `tfx.v1`: tfx.v1 also imports the Google Cloud
# extensions (AI Platform clients), ~3 s per component process for nothing.
from tfx.components import (
    Evaluator,
    Pusher,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

from tfx_pipelines.components.data_validator import (
    DataValidator,
    PreviousSpanStatisticsStrategy,
)
from tfx_pipelines.components.duckdb_example_gen import (
    EVAL_SPLIT,
    TRAIN_SPLIT,
    duckdb_example_gen,
    span_of,
    time_split_queries,
)
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
    """ExampleGen -> StatisticsGen -> SchemaGen (ImportSchemaGen of the curated schema)
    -> previous span statistics Resolver -> ExampleValidator (DataValidator: schema,
    drift, skew) -> Transform -> Trainer -> latest blessed model Resolver -> Evaluator
    -> Pusher.

    ``end_ds`` is the evaluation day; training uses the ``training_days`` days before.
    ``warehouse_target="bigquery"`` reads ``source_table`` (``project.dataset.table``)
    with BigQueryExampleGen and the same split queries; ``warehouse_path`` is then unused
    and ``beam_pipeline_args`` must name the GCP project.
    """
    split_config = input_config(source_table, end_ds, training_days)
    if warehouse_target == "duckdb":
        example_gen = duckdb_example_gen(
            database=str(warehouse_path), input_config=split_config, span=span_of(end_ds)
        )
    elif warehouse_target == "bigquery":
        # Imported here: it pulls in the Google Cloud client libraries.
        from tfx.extensions.google_cloud_big_query.example_gen.component import (
            BigQueryExampleGen,
        )

        example_gen = BigQueryExampleGen(input_config=split_config)
    else:
        raise ValueError(
            f"warehouse_target must be 'duckdb' or 'bigquery', not {warehouse_target!r}"
        )
    example_gen = example_gen.with_id(configs.EXAMPLE_GEN)

    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"]).with_id(
        configs.STATISTICS_GEN
    )

    # The curated schema is checked in (ImportSchemaGen copies it into the run), so a
    # change in the data can never quietly change what is "valid". It has no inputs;
    # the explicit upstream keeps the pipeline one chain (one MLMD writer at a time).
    schema_gen = ImportSchemaGen(schema_file=configs.SCHEMA_FILE).with_id(configs.SCHEMA_GEN)
    schema_gen.add_upstream_node(statistics_gen)

    # Statistics of the latest earlier span (yesterday's run, when runs are daily): the
    # validator measures the evaluation day's drift against that run's evaluation day.
    previous_statistics = Resolver(
        strategy_class=PreviousSpanStatisticsStrategy,
        config={"span": span_of(end_ds)},
        statistics=Channel(
            type=standard_artifacts.ExampleStatistics,
            producer_component_id=configs.STATISTICS_GEN,
            output_key="statistics",
        ),
    ).with_id(configs.PREVIOUS_STATISTICS_RESOLVER)
    previous_statistics.add_upstream_node(schema_gen)

    # Every split against the schema, plus drift (eval day vs the previous span's eval
    # day) and training/serving skew (train window vs eval day), with the schema's
    # thresholds. Any anomaly fails the run (the validate_data hook, hooks.py).
    example_validator = DataValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        previous_statistics=previous_statistics.outputs["statistics"],
        training_split=TRAIN_SPLIT,
        serving_split=EVAL_SPLIT,
        environment="TRAINING",
    ).with_id(configs.EXAMPLE_VALIDATOR)

    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
    ).with_id(configs.TRANSFORM)
    # Data that fails validation must not reach training: Transform waits for the
    # validator (whose anomalies gate runs after it, hooks.py) though it reads none of
    # its outputs.
    transform.add_upstream_node(example_validator)

    trainer = Trainer(
        run_fn=configs.RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(num_steps=train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=eval_steps),
    ).with_id(configs.TRAINER)

    model_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(configs.MODEL_RESOLVER)
    # The baseline is looked up across all runs of the pipeline; resolving it right
    # before evaluation picks up a model blessed by a run that finished meanwhile.
    model_resolver.add_upstream_node(trainer)

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        schema=schema_gen.outputs["schema"],
        eval_config=eval_config(ndcg_floor),
    ).with_id(configs.EVALUATOR)

    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=configs.serving_model_dir(serving_dir)
            )
        ),
    ).with_id(configs.PUSHER)

    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=str(pipeline_root),
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            previous_statistics,
            example_validator,
            transform,
            trainer,
            model_resolver,
            evaluator,
            pusher,
        ],
        enable_cache=False,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
