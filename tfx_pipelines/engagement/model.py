"""Trainer's ``run_fn``: a tf-keras wide & deep model on Transform's outputs.

Exported signatures:
- ``serving_default``: serialized tf.Examples with the raw features (no label) ->
  ``{"probabilities": P(open within 24h)}``, shape [batch, 1]. The Transform graph is
  inside, so callers send warehouse values, not transformed ones.
- ``transform_features``: serialized raw tf.Examples -> transformed features (as in
  TFX's penguin example; lets TFMA or debugging tools see what the model saw).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

# tf-keras (Keras 2) explicitly: TFX 1.16, TFT and TFMA load SavedModels through it.
import tf_keras
from absl import logging
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from tfx_pipelines.common import tf_compat
from tfx_pipelines.engagement import configs, features

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"


def _input_fn(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    """Batches of (transformed features, label), repeated forever."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=features.transformed_label_key(),
            shuffle_seed=configs.RANDOM_SEED,
        ),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_keras_model(tf_transform_output: tft.TFTransformOutput) -> tf_keras.Model:
    """Wide & deep: a linear part over one-hot categoricals, hour/day buckets and
    numerics, plus an MLP over embeddings and numerics; one logit, sigmoid output."""
    inputs: dict[str, tf_keras.Input] = {}
    wide: list[tf.Tensor] = []
    deep: list[tf.Tensor] = []
    for key in features.CATEGORICAL_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf_keras.Input(shape=(1,), name=name, dtype=tf.int64)
        size = (
            tf_transform_output.vocabulary_size_by_name(features.vocabulary_name(key))
            + features.OOV_BUCKETS
        )
        wide.append(tf_keras.layers.CategoryEncoding(size, output_mode="one_hot")(inputs[name]))
        embedded = tf_keras.layers.Embedding(size, configs.EMBEDDING_DIM)(inputs[name])
        deep.append(tf_keras.layers.Flatten()(embedded))
    for key, size in features.BUCKET_FEATURE_SIZES.items():
        name = features.bucket_name(key)
        inputs[name] = tf_keras.Input(shape=(1,), name=name, dtype=tf.int64)
        wide.append(tf_keras.layers.CategoryEncoding(size, output_mode="one_hot")(inputs[name]))
    for key in features.NUMERIC_FEATURE_KEYS + features.DERIVED_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf_keras.Input(shape=(1,), name=name, dtype=tf.float32)
        wide.append(inputs[name])
        deep.append(inputs[name])

    hidden = tf_keras.layers.concatenate(deep)
    for units in configs.DEEP_HIDDEN_UNITS:
        hidden = tf_keras.layers.Dense(units, activation="relu")(hidden)
        hidden = tf_keras.layers.Dropout(configs.DROPOUT_RATE)(hidden)
    logit = tf_keras.layers.Dense(1)(tf_keras.layers.concatenate(wide + [hidden]))
    probability = tf_keras.layers.Activation("sigmoid", name=features.PREDICTION_KEY)(logit)

    model = tf_keras.Model(inputs=inputs, outputs=probability)
    model.compile(
        optimizer=tf_keras.optimizers.Adam(configs.LEARNING_RATE),
        loss=tf_keras.losses.BinaryCrossentropy(),
        metrics=[tf_keras.metrics.AUC(name="auc")],
    )
    return model


def make_serving_signatures(
    model: tf_keras.Model, tf_transform_output: tft.TFTransformOutput
) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """The exported signatures (see module docstring)."""
    # Tracked as an attribute so that the Transform graph's assets are saved with the model.
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    missing = [k for k in features.FEATURE_KEYS if k not in raw_feature_spec]
    if missing:
        raise ValueError(f"features missing from the Transform input schema: {missing}")
    # Serving parses only the model's features: requests need not carry the label,
    # keys or columns the warehouse adds later.
    serving_spec = {k: raw_feature_spec[k] for k in features.FEATURE_KEYS}
    model_inputs = list(model.input_names)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_tf_examples_fn(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, serving_spec)
        transformed = model.tft_layer(raw)
        return {features.PREDICTION_KEY: model({k: transformed[k] for k in model_inputs})}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform_features_fn(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, raw_feature_spec)
        return model.tft_layer(raw)

    return {
        SERVING_SIGNATURE: serve_tf_examples_fn.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features_fn.get_concrete_function(),
    }


def run_fn(fn_args: FnArgs) -> None:
    """Trains the model on the transformed train split and exports it for serving."""
    # Also here, not only in run_component: other runners (Vertex) call run_fn directly.
    tf_compat.skip_autograph_for_tf_keras()
    tf_keras.utils.set_random_seed(configs.RANDOM_SEED)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_steps = fn_args.train_steps or configs.TRAIN_STEPS
    eval_steps = fn_args.eval_steps or configs.EVAL_STEPS

    train_dataset = _input_fn(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, configs.TRAIN_BATCH_SIZE
    )
    eval_dataset = _input_fn(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output, configs.EVAL_BATCH_SIZE
    )
    model = build_keras_model(tf_transform_output)
    history = model.fit(
        train_dataset,
        steps_per_epoch=train_steps,
        validation_data=eval_dataset,
        validation_steps=eval_steps,
        epochs=1,
        verbose=2,
    )
    logging.info("engagement model training history: %s", history.history)
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=make_serving_signatures(model, tf_transform_output),
    )
