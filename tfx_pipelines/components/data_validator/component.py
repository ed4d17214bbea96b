"""DataValidator: ExampleValidator's contract plus drift and skew, and its span resolver.

Use::

    previous = Resolver(
        strategy_class=PreviousSpanStatisticsStrategy,
        config={"span": span_of(end_ds)},
        statistics=Channel(type=ExampleStatistics, producer_component_id="StatisticsGen",
                           output_key="statistics"),
    )
    DataValidator(statistics=..., schema=..., previous_statistics=previous.outputs["statistics"])

The thresholds are the schema's ``drift_comparator`` / ``skew_comparator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from tfx_pipelines.components.data_validator import executor

# How far back a "previous span" may lie: a gap of more days means drift is not
# checked (comparing with data weeks old says little about day-to-day drift).
MAX_SPAN_GAP = 7
SPAN = "span"


class DataValidatorSpec(types.ComponentSpec):
    PARAMETERS = {
        executor.TRAINING_SPLIT_KEY: ExecutionParameter(type=str),
        executor.SERVING_SPLIT_KEY: ExecutionParameter(type=str),
        executor.ENVIRONMENT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        executor.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        executor.PREVIOUS_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
    }
    OUTPUTS = {executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class DataValidator(base_component.BaseComponent):
    """Validates statistics against the schema, with drift and skew (see executor)."""

    SPEC_CLASS = DataValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        training_split: str,
        serving_split: str,
        previous_statistics: types.BaseChannel | None = None,
        environment: str | None = None,
    ):
        super().__init__(
            spec=DataValidatorSpec(
                statistics=statistics,
                schema=schema,
                previous_statistics=previous_statistics,
                training_split=training_split,
                serving_split=serving_split,
                environment=environment,
                anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
            )
        )


def statistics_span(store: mlmd.MetadataStore, statistics_id: int) -> int | None:
    """ExampleGen span of the data an ExampleStatistics artifact describes.

    StatisticsGen copies the ``span`` *property* of its Examples, but ExampleGen records
    the span as a *custom property*, so the statistics' own ``span`` is 0; the span is
    read from the Examples that the producing execution consumed (MLMD lineage).
    """
    events = store.get_events_by_artifact_ids([statistics_id])
    producers = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return None
    inputs = [
        e.artifact_id
        for e in store.get_events_by_execution_ids(producers)
        if e.type == metadata_store_pb2.Event.INPUT
    ]
    for artifact in store.get_artifacts_by_id(inputs):
        for values in (artifact.custom_properties, artifact.properties):
            if SPAN in values:
                value = values[SPAN]
                span = value.int_value or int(value.string_value or 0)
                if span:
                    return span
    return None


def previous_span_artifact(
    artifacts: list[types.Artifact],
    span: int,
    span_of: Callable[[types.Artifact], int | None],
    max_gap: int = MAX_SPAN_GAP,
) -> types.Artifact | None:
    """The newest live artifact of the latest span in [span - max_gap, span - 1]."""
    candidates = []
    for artifact in artifacts:
        if artifact.mlmd_artifact.state != metadata_store_pb2.Artifact.LIVE:
            continue
        artifact_span = span_of(artifact)
        if artifact_span is not None and span - max_gap <= artifact_span < span:
            candidates.append((artifact_span, artifact.id, artifact))
    return max(candidates, key=lambda c: c[:2])[2] if candidates else None


class PreviousSpanStatisticsStrategy(resolver.ResolverStrategy):
    """Resolves the statistics of the latest earlier span (at most ``max_gap`` back).

    Spans are ExampleGen's (days since the epoch of the evaluation day), so with daily
    runs this is yesterday's run: drift is measured between consecutive days. Nothing
    found (first run, or a gap) resolves to an empty list: the validator then skips drift.
    """

    def __init__(self, span: int, max_gap: int = MAX_SPAN_GAP):
        self._span = int(span)
        self._max_gap = int(max_gap)

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[Any]] | None:
        result = {}
        for key, artifacts in input_dict.items():
            found = previous_span_artifact(
                list(artifacts),
                self._span,
                lambda a: statistics_span(store, a.id),
                self._max_gap,
            )
            result[key] = [found] if found is not None else []
        return result
