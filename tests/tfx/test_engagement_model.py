"""features / preprocessing_fn / run_fn consistency on tiny in-memory data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from synthetic_mart import END_DS, days_before, synthetic_examples

pytestmark = pytest.mark.tfx

tf = pytest.importorskip("tensorflow")
tft = pytest.importorskip("tensorflow_transform")

from tensorflow_transform.tf_metadata import dataset_metadata  # noqa: E402

from tfx_pipelines.engagement import configs, features, model, preprocessing  # noqa: E402

N_ROWS = 160


def _raw_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    # What SchemaGen infers (infer_feature_shape=True) for always-present columns.
    spec = {k: tf.io.FixedLenFeature([1], tf.string) for k in features.CATEGORICAL_FEATURE_KEYS}
    spec |= {k: tf.io.FixedLenFeature([1], tf.int64) for k in features.INT_FEATURE_KEYS}
    spec |= {k: tf.io.FixedLenFeature([1], tf.float32) for k in features.FLOAT_FEATURE_KEYS}
    spec[features.LABEL_KEY] = tf.io.FixedLenFeature([1], tf.int64)
    return spec


def _raw_instances() -> list[dict[str, list]]:
    frame = synthetic_examples(days_before(END_DS, 2), N_ROWS // 2, seed=5)
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for key in features.CATEGORICAL_FEATURE_KEYS:
            row[key] = [record[key].encode()]
        for key in features.INT_FEATURE_KEYS + (features.LABEL_KEY,):
            row[key] = [int(record[key])]
        for key in features.FLOAT_FEATURE_KEYS:
            row[key] = [float(record[key])]
        rows.append(row)
    return rows


def _batch(rows: list[dict[str, list]]) -> dict[str, tf.Tensor]:
    """Dense raw tensors, typed as the raw feature spec says (not as Python infers)."""
    return {
        key: tf.constant([row[key] for row in rows], dtype=spec.dtype)
        for key, spec in _raw_feature_spec().items()
    }


def _serialize(row: dict[str, list], keys) -> bytes:
    feature = {}
    for key in keys:
        value = row[key]
        if isinstance(value[0], bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=value))
        elif isinstance(value[0], int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=value))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=value))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs preprocessing_fn with tft_beam and writes what Transform would write."""
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam

    root = tmp_path_factory.mktemp("transform")
    raw = _raw_instances()
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(_raw_feature_spec())
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(root / "tmp")):
        data = pipeline | "Raw" >> beam.Create(raw)
        (out_data, out_metadata), transform_fn = (
            data,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform_graph"))
        # Transform also writes the raw schema; serving parses requests with it.
        _ = metadata | tft_beam.WriteMetadata(
            str(root / "transform_graph" / tft.TFTransformOutput.RAW_METADATA_DIR), pipeline
        )
        coder = tft.coders.ExampleProtoCoder(out_metadata.schema)
        for split in ("train", "eval"):
            _ = (
                out_data
                | f"Encode[{split}]" >> beam.Map(coder.encode)
                | f"Write[{split}]"
                >> beam.io.WriteToTFRecord(
                    str(root / "transformed" / f"Split-{split}" / "data"),
                    file_name_suffix=".gz",
                )
            )
        _ = out_data | "Collect" >> beam.io.WriteToText(str(root / "rows"), num_shards=1)
    output = tft.TFTransformOutput(str(root / "transform_graph"))
    return {"root": root, "raw": raw, "output": output}


def test_feature_lists_are_consistent() -> None:
    keys = features.FEATURE_KEYS
    assert len(set(keys)) == len(keys)
    assert features.LABEL_KEY not in keys
    assert "clicked_24h" not in keys  # a sibling label would leak the outcome
    assert set(features.BUCKET_FEATURE_SIZES) <= set(features.INT_FEATURE_KEYS)
    assert set(features.SLICE_KEYS) <= set(features.CATEGORICAL_FEATURE_KEYS)
    assert set(features.example_columns()) == set(keys) | {features.LABEL_KEY}
    names = [features.transformed_name(k) for k in keys] + [
        features.bucket_name(k) for k in features.BUCKET_FEATURE_SIZES
    ]
    assert len(set(names)) == len(names)


def test_preprocessing_outputs_match_feature_helpers(transformed: dict) -> None:
    spec = transformed["output"].transformed_feature_spec()
    expected = {
        features.transformed_name(k) for k in features.FEATURE_KEYS + features.DERIVED_FEATURE_KEYS
    }
    expected |= {features.bucket_name(k) for k in features.BUCKET_FEATURE_SIZES}
    expected.add(features.transformed_label_key())
    assert set(spec) == expected
    for key in features.CATEGORICAL_FEATURE_KEYS:
        assert spec[features.transformed_name(key)].dtype == tf.int64
        size = transformed["output"].vocabulary_size_by_name(features.vocabulary_name(key))
        distinct = {row[key][0] for row in transformed["raw"]}
        assert size == len(distinct)
    for key in features.NUMERIC_FEATURE_KEYS:
        assert spec[features.transformed_name(key)].dtype == tf.float32


def test_preprocessing_values(transformed: dict) -> None:
    raw = transformed["raw"]
    layer = transformed["output"].transform_features_layer()
    out = {k: v.numpy() for k, v in layer(_batch(raw)).items()}
    for key in features.NUMERIC_FEATURE_KEYS:
        z = out[features.transformed_name(key)]
        assert abs(z.mean()) < 1e-3 and abs(z.std() - 1) < 1e-2, key
    for key in features.CATEGORICAL_FEATURE_KEYS:
        idx = out[features.transformed_name(key)]
        size = transformed["output"].vocabulary_size_by_name(features.vocabulary_name(key))
        assert idx.min() >= 0 and idx.max() < size  # every training value is in-vocabulary
    # the send hour's match with the user's active hours: cos of the angle between them,
    # scaled by how regular the user is
    angle = 2 * np.pi * (np.array([r["local_send_hour"][0] for r in raw]) + 0.5) / 24
    active = {p: np.array([r[f"user_active_hour_{p}_28d"][0] for r in raw]) for p in ("cos", "sin")}
    match = out[features.transformed_name(features.SEND_HOUR_MATCH_KEY)].ravel()
    np.testing.assert_allclose(
        match, np.cos(angle) * active["cos"] + np.sin(angle) * active["sin"], atol=1e-5
    )
    hours = np.array([row["local_send_hour"][0] for row in raw]).reshape(-1, 1)
    np.testing.assert_array_equal(out[features.bucket_name("local_send_hour")], hours)
    labels = np.array([row[features.LABEL_KEY][0] for row in raw]).reshape(-1, 1)
    np.testing.assert_array_equal(out[features.transformed_label_key()], labels)


def test_unseen_category_and_out_of_range_hour_are_absorbed(transformed: dict) -> None:
    layer = transformed["output"].transform_features_layer()
    row = dict(transformed["raw"][0])
    row["country"] = [b"XX"]
    row["local_send_hour"] = [30]
    out = layer(_batch([row]))
    size = transformed["output"].vocabulary_size_by_name(features.vocabulary_name("country"))
    assert out[features.transformed_name("country")].numpy()[0, 0] == size  # the OOV bucket
    assert out[features.bucket_name("local_send_hour")].numpy()[0, 0] == 23


def test_model_inputs_are_the_transformed_features(transformed: dict) -> None:
    keras_model = model.build_keras_model(transformed["output"])
    expected = set(transformed["output"].transformed_feature_spec()) - {
        features.transformed_label_key()
    }
    assert set(keras_model.input_names) == expected


def test_run_fn_trains_and_exports_serving_signatures(
    transformed: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils, standard_artifacts

    root = transformed["root"]
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "transformed")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    monkeypatch.setattr(configs, "TRAIN_BATCH_SIZE", 16)
    monkeypatch.setattr(configs, "EVAL_BATCH_SIZE", 16)
    serving_dir = tmp_path / "serving_model"
    fn_args = FnArgs(
        train_files=[os.path.join(examples.uri, "Split-train", "*")],
        eval_files=[os.path.join(examples.uri, "Split-eval", "*")],
        transform_output=str(root / "transform_graph"),
        serving_model_dir=str(serving_dir),
        train_steps=5,
        eval_steps=2,
        data_accessor=DataAccessor(
            tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
            record_batch_factory=None,
            data_view_decode_fn=None,
        ),
    )
    model.run_fn(fn_args)

    loaded = tf.saved_model.load(str(serving_dir))
    assert {model.SERVING_SIGNATURE, model.TRANSFORM_SIGNATURE} <= set(loaded.signatures)
    raw = transformed["raw"][:7]
    # Serving takes the raw features only: no label, no keys.
    serving_inputs = tf.constant([_serialize(r, features.FEATURE_KEYS) for r in raw])
    probabilities = loaded.signatures[model.SERVING_SIGNATURE](examples=serving_inputs)[
        features.PREDICTION_KEY
    ].numpy()
    assert probabilities.shape == (7, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))

    with_label = tf.constant([_serialize(r, _raw_feature_spec()) for r in raw])
    out = loaded.signatures[model.TRANSFORM_SIGNATURE](examples=with_label)
    np.testing.assert_array_equal(
        out[features.transformed_label_key()].numpy().reshape(-1),
        [r[features.LABEL_KEY][0] for r in raw],
    )
