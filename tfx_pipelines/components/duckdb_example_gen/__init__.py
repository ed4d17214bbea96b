"""ExampleGen reading a DuckDB warehouse by SQL query (QueryBasedExampleGen pattern)."""

from tfx_pipelines.components.duckdb_example_gen.component import (
    EVAL_SPLIT,
    TRAIN_SPLIT,
    duckdb_example_gen,
    span_of,
    time_split_input_config,
    time_split_queries,
)
from tfx_pipelines.components.duckdb_example_gen.executor import EmptySplitError, Executor

__all__ = [
    "EVAL_SPLIT",
    "TRAIN_SPLIT",
    "EmptySplitError",
    "Executor",
    "duckdb_example_gen",
    "span_of",
    "time_split_input_config",
    "time_split_queries",
]
