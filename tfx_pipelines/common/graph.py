"""The training graph every notiflow TFX pipeline runs, built in one place.

ExampleGen -> StatisticsGen -> SchemaGen (ImportSchemaGen of the curated schema) ->
previous span statistics Resolver -> ExampleValidator (DataValidator: schema, drift,
skew) -> Transform -> Trainer -> latest blessed model Resolver -> Evaluator -> Pusher.

One builder, so that a change to the wiring (the data gate before Transform, the
baseline lookup, the single chain) reaches every pipeline. What is a pipeline's own
comes in as arguments: what ExampleGen reads (``input_config``), the push gate
(``eval_config``), and from its ``configs`` module the node ids, schema, user code and
serving directory.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Protocol

import tensorflow_model_analysis as tfma
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
)


class GraphConfigs(Protocol):
    """What the builder reads of a pipeline's ``configs`` module."""

    EXAMPLE_GEN: str
    STATISTICS_GEN: str
    SCHEMA_GEN: str
    PREVIOUS_STATISTICS_RESOLVER: str
    EXAMPLE_VALIDATOR: str
    TRANSFORM: str
    TRAINER: str
    MODEL_RESOLVER: str
    EVALUATOR: str
    PUSHER: str
    SCHEMA_FILE: str
    PREPROCESSING_FN: str
    RUN_FN: str

    def serving_model_dir(self, serving_dir: str) -> str: ...


def build_pipeline(
    configs: GraphConfigs,
    *,
    pipeline_name: str,
    pipeline_root: str,
    end_ds: datetime.date,
    input_config: example_gen_pb2.Input,
    eval_config: tfma.EvalConfig,
    serving_dir: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None,
    beam_pipeline_args: Sequence[str],
    train_steps: int,
    eval_steps: int,
    warehouse_target: str,
    warehouse_path: str,
) -> tfx_pipeline.Pipeline:
    """The graph above for evaluation day ``end_ds`` (the span of ExampleGen's output).

    ``warehouse_target="duckdb"`` runs ``input_config``'s queries on the DuckDB file
    ``warehouse_path``; ``"bigquery"`` runs them with BigQueryExampleGen, and
    ``beam_pipeline_args`` must then name the GCP project.
    """
    if warehouse_target == "duckdb":
        example_gen = duckdb_example_gen(
            database=str(warehouse_path), input_config=input_config, span=span_of(end_ds)
        )
    elif warehouse_target == "bigquery":
        # Imported here: it pulls in the Google Cloud client libraries.
        from tfx.extensions.google_cloud_big_query.example_gen.component import (
            BigQueryExampleGen,
        )

        example_gen = BigQueryExampleGen(input_config=input_config)
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
    # thresholds. Any anomaly fails the run (``hooks.validate_data``, after this node).
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
    # validator (whose anomalies gate runs after it) though it reads none of its outputs.
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
        eval_config=eval_config,
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
