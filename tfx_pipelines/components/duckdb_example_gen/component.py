"""DuckDB ExampleGen: TFX's QueryBasedExampleGen with a DuckDB executor.

The split queries are plain SQL that DuckDB and BigQuery both accept (``DATE
'YYYY-MM-DD'`` literals, ``CAST(... AS STRING)``), so production swaps this
component for ``BigQueryExampleGen(input_config=time_split_input_config(...))``
with the same queries.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2

from tfx_pipelines.components.duckdb_example_gen import executor

TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
_EPOCH = datetime.date(1970, 1, 1)


def time_split_queries(
    table: str,
    columns: Sequence[str],
    end_ds: datetime.date,
    training_days: int,
    ds_column: str = "ds",
) -> dict[str, str]:
    """One query per split: ``train`` = the ``training_days`` days before ``end_ds``,
    ``eval`` = ``end_ds`` alone. Time-based, so evaluation never sees the training days.
    """
    if training_days < 1:
        raise ValueError(f"training_days must be >= 1, got {training_days}")
    windows = {
        TRAIN_SPLIT: (
            end_ds - datetime.timedelta(days=training_days),
            end_ds - datetime.timedelta(days=1),
        ),
        EVAL_SPLIT: (end_ds, end_ds),
    }
    # Dates become strings: BigQueryExampleGen only converts INTEGER/FLOAT/STRING/BOOLEAN.
    select = ",\n  ".join(f"cast({c} as string) as {c}" if c == ds_column else c for c in columns)
    queries = {}
    for split, (first, last) in windows.items():
        # The leading comment is what an empty-split error reports.
        queries[split] = (
            f"/* split={split} table={table} {ds_column} in [{first}, {last}] */\n"
            f"select\n  {select}\nfrom {table}\n"
            f"where {ds_column} between date '{first}' and date '{last}'"
        )
    return queries


def time_split_input_config(
    table: str,
    columns: Sequence[str],
    end_ds: datetime.date,
    training_days: int,
    ds_column: str = "ds",
) -> example_gen_pb2.Input:
    """``input_config`` with the time-based train/eval split queries."""
    queries = time_split_queries(table, columns, end_ds, training_days, ds_column)
    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=name, pattern=q) for name, q in queries.items()]
    )


def span_of(day: datetime.date) -> int:
    """ExampleGen span number of a day (days since the Unix epoch, TFX's convention)."""
    return (day - _EPOCH).days


def duckdb_example_gen(
    database: str,
    input_config: example_gen_pb2.Input,
    span: int | None = None,
) -> QueryBasedExampleGen:
    """A QueryBasedExampleGen that runs ``input_config``'s split queries on ``database``.

    ``span`` (e.g. ``span_of(end_ds)``) is recorded on the Examples artifact so that
    later runs and tools can tell which day the data was cut at.
    """
    range_config = None
    if span is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
    return QueryBasedExampleGen(
        input_config=input_config,
        custom_config=executor.make_custom_config(str(database)),
        range_config=range_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    )
