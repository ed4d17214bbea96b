"""Executor of DataValidator: TFDV's ``validate_statistics`` with drift and skew.

TFX 1.16's ExampleValidator calls ``tfdv.validate_statistics(statistics, schema)``
per split and nothing else: the schema's ``drift_comparator`` and
``skew_comparator`` are never evaluated, because it is given neither previous nor
serving statistics. This executor makes the two calls that evaluate them:

- the serving split (the evaluation day): schema checks plus **drift** against the
  same split of the previous span's statistics (``previous_statistics``), when the
  pipeline found one;
- the training split (the training window): schema checks plus **skew** against the
  serving split, i.e. training data vs the newest day, the data the model meets next.

It writes what ExampleValidator writes (``Split-<name>/SchemaDiff.pb`` with an
Anomalies proto, whose ``drift_skew_info`` holds every measured distance and its
threshold), so readers of ExampleValidator's output need no change.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow_data_validation as tfdv
from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, writer_utils

ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's file name, per split
STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
PREVIOUS_STATISTICS_KEY = "previous_statistics"
ANOMALIES_KEY = "anomalies"
TRAINING_SPLIT_KEY = "training_split"
SERVING_SPLIT_KEY = "serving_split"
ENVIRONMENT_KEY = "environment"

# Custom properties of the anomalies artifact: which statistics drift was measured against.
# (MLMD id -1: no previous span, drift not checked; the gate reads its span by lineage)
PREVIOUS_STATISTICS_ID_PROPERTY = "previous_statistics_id"
PREVIOUS_STATISTICS_URI_PROPERTY = "previous_statistics_uri"
BLESSED_PROPERTY = "blessed"  # 1 when no split has an anomaly (as ExampleValidator)


def validate_split_statistics(
    statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    schema: schema_pb2.Schema,
    training_split: str,
    serving_split: str,
    previous_serving: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    environment: str | None = None,
) -> dict[str, anomalies_pb2.Anomalies]:
    """Anomalies per split: schema for every split, skew on ``training_split`` (vs
    ``serving_split``), drift on ``serving_split`` (vs ``previous_serving``)."""
    result = {}
    for split, stats in statistics.items():
        kwargs: dict[str, Any] = {}
        if split == training_split and serving_split in statistics:
            kwargs["serving_statistics"] = statistics[serving_split]
        if split == serving_split and previous_serving is not None:
            kwargs["previous_statistics"] = previous_serving
        result[split] = tfdv.validate_statistics(
            statistics=stats, schema=schema, environment=environment or None, **kwargs
        )
    return result


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        stats_artifact = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
        schema = io_utils.SchemaReader().read(
            io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        )
        training_split = exec_properties[TRAINING_SPLIT_KEY]
        serving_split = exec_properties[SERVING_SPLIT_KEY]
        splits = artifact_utils.decode_split_names(stats_artifact.split_names)
        statistics = {
            s: stats_artifact_utils.load_statistics(stats_artifact, s).proto() for s in splits
        }

        anomalies_artifact = artifact_utils.get_single_instance(output_dict[ANOMALIES_KEY])
        anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
        anomalies_artifact.span = stats_artifact.span
        previous_serving = None
        anomalies_artifact.set_int_custom_property(PREVIOUS_STATISTICS_ID_PROPERTY, -1)
        previous = input_dict.get(PREVIOUS_STATISTICS_KEY) or []
        if previous:
            prev = previous[0]
            if serving_split in artifact_utils.decode_split_names(prev.split_names):
                previous_serving = stats_artifact_utils.load_statistics(prev, serving_split).proto()
                anomalies_artifact.set_int_custom_property(PREVIOUS_STATISTICS_ID_PROPERTY, prev.id)
                anomalies_artifact.set_string_custom_property(
                    PREVIOUS_STATISTICS_URI_PROPERTY, prev.uri
                )
                logging.info("Drift of split %s measured against %s", serving_split, prev.uri)
        if previous_serving is None:
            logging.info("No statistics of a previous span: drift is not checked in this run")

        by_split = validate_split_statistics(
            statistics,
            schema,
            training_split,
            serving_split,
            previous_serving,
            exec_properties.get(ENVIRONMENT_KEY),
        )
        clean = True
        for split, anomalies in by_split.items():
            uri = artifact_utils.get_split_uri([anomalies_artifact], split)
            writer_utils.write_anomalies(os.path.join(uri, ANOMALIES_FILE), anomalies)
            clean = clean and not (
                anomalies.anomaly_info or anomalies.HasField("dataset_anomaly_info")
            )
            logging.info("Split %s: %d anomalous features", split, len(anomalies.anomaly_info))
        anomalies_artifact.set_int_custom_property(BLESSED_PROPERTY, int(clean))
