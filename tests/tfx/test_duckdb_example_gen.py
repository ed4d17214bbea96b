"""DuckDB ExampleGen: time-based split queries, type mapping, empty-split error."""

from __future__ import annotations

import datetime
import glob
import os
from pathlib import Path

import duckdb
import pytest
from synthetic_mart import END_DS, TABLE, days_before, synthetic_examples, write_warehouse

pytestmark = pytest.mark.tfx

tf = pytest.importorskip("tensorflow")

from tfx.components.example_gen import utils as example_gen_utils  # noqa: E402
from tfx.components.util import examples_utils  # noqa: E402
from tfx.proto import example_gen_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402
from tfx.utils import proto_utils  # noqa: E402

from tfx_pipelines.components.duckdb_example_gen import (  # noqa: E402
    EmptySplitError,
    Executor,
    time_split_input_config,
    time_split_queries,
)
from tfx_pipelines.components.duckdb_example_gen.executor import (  # noqa: E402
    RowConverter,
    custom_config_json,
)
from tfx_pipelines.engagement import features  # noqa: E402

ROWS_PER_DAY = 40  # tiny_warehouse: 3 train days + END_DS


def _run_executor(database: Path, input_config: example_gen_pb2.Input, out: Path) -> dict:
    """Runs the executor as the launcher would; returns {split: [tf.Example]}."""
    output_config = example_gen_utils.make_default_output_config(input_config)
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    exec_properties = {
        "input_config": proto_utils.proto_to_json(input_config),
        "output_config": proto_utils.proto_to_json(output_config),
        "custom_config": custom_config_json(str(database)),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    # what downstream components read the splits by (tfx_bsl's TFXIO chooses its reader)
    assert examples_utils.get_payload_format(examples) == example_gen_pb2.FORMAT_TF_EXAMPLE
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    result = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = glob.glob(
            os.path.join(artifact_utils.get_split_uri([examples], split), "data_tfrecord-*.gz")
        )
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        result[split] = [tf.train.Example.FromString(r.numpy()) for r in dataset]
    return result


def _kind(example: tf.train.Example, key: str) -> str:
    return example.features.feature[key].WhichOneof("kind")


def test_split_queries_select_the_time_windows(tiny_warehouse: Path) -> None:
    queries = time_split_queries(TABLE, ["ds", "channel"], END_DS, training_days=2)
    con = duckdb.connect(str(tiny_warehouse), read_only=True)
    try:
        days = {
            split: sorted({row[0] for row in con.execute(q).fetchall()})
            for split, q in queries.items()
        }
    finally:
        con.close()
    # 3 train days exist, but training_days=2 takes only the 2 days before END_DS.
    assert days == {
        "train": [
            str(END_DS - datetime.timedelta(days=2)),
            str(END_DS - datetime.timedelta(days=1)),
        ],
        "eval": [str(END_DS)],
    }


def test_executor_writes_time_splits_with_mapped_types(
    tiny_warehouse: Path, tmp_path: Path
) -> None:
    config = time_split_input_config(TABLE, features.example_columns(), END_DS, training_days=3)
    splits = _run_executor(tiny_warehouse, config, tmp_path / "examples")

    assert {k: len(v) for k, v in splits.items()} == {
        "train": 3 * ROWS_PER_DAY,
        "eval": ROWS_PER_DAY,
    }
    example = splits["eval"][0]
    assert set(example.features.feature) == set(features.example_columns())
    for key in features.CATEGORICAL_FEATURE_KEYS:
        assert _kind(example, key) == "bytes_list"
    for key in features.INT_FEATURE_KEYS + (features.LABEL_KEY,):
        assert _kind(example, key) == "int64_list"
    for key in features.FLOAT_FEATURE_KEYS:
        assert _kind(example, key) == "float_list"
    # The eval split holds the eval day's rows: compare label sums with the warehouse.
    con = duckdb.connect(str(tiny_warehouse), read_only=True)
    try:
        (expected,) = con.execute(
            f"select sum(opened_24h) from {TABLE} where ds = ?", [END_DS]
        ).fetchone()
    finally:
        con.close()
    got = sum(e.features.feature["opened_24h"].int64_list.value[0] for e in splits["eval"])
    assert got == expected


def test_empty_split_fails_naming_table_and_window(tmp_path: Path) -> None:
    database = tmp_path / "no_eval_day.duckdb"
    write_warehouse(database, synthetic_examples(days_before(END_DS, 3), 10))
    config = time_split_input_config(TABLE, features.example_columns(), END_DS, training_days=3)
    with pytest.raises(EmptySplitError) as info:
        _run_executor(database, config, tmp_path / "examples")
    message = str(info.value)
    assert "split=eval" in message
    assert TABLE in message
    assert f"ds in [{END_DS}, {END_DS}]" in message


def test_row_converter_maps_duckdb_types() -> None:
    con = duckdb.connect()
    try:
        relation = con.sql(
            "select 3::bigint as i, true as b, 1.5::double as f, 2.25::decimal(6,2) as d, "
            "'x' as s, date '2026-01-02' as day, timestamp '2026-01-02 03:04:05' as ts, "
            "null::bigint as missing"
        )
        converter = RowConverter(relation.columns, [str(t) for t in relation.types])
        example = converter.to_example(relation.fetchall()[0])
    finally:
        con.close()
    f = example.features.feature
    assert list(f["i"].int64_list.value) == [3]
    assert list(f["b"].int64_list.value) == [1]
    assert list(f["f"].float_list.value) == [1.5]
    assert list(f["d"].float_list.value) == [2.25]
    assert list(f["s"].bytes_list.value) == [b"x"]
    assert list(f["day"].bytes_list.value) == [b"2026-01-02"]
    assert list(f["ts"].bytes_list.value) == [b"2026-01-02T03:04:05"]
    assert f["missing"].WhichOneof("kind") is None  # NULL = feature without values


def test_unsupported_type_names_the_column() -> None:
    with pytest.raises(ValueError, match=r"'tags'.*INTEGER\[\]"):
        RowConverter(["tags"], ["INTEGER[]"])
