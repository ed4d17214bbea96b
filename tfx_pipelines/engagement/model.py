"""Trainer's ``run_fn``: a tf-keras DCN-v2 (cross network beside a deep tower) on
Transform's outputs, trained for a number of epochs over the window with early stopping.

The model (Wang et al., "DCN V2", WWW 2021, the parallel form): the embeddings of the
categoricals and of the send hour and day, and the numerics, are one vector x0; cross
layers x_{l+1} = x0 * (W x_l + b) + x_l learn the feature crosses that opening depends
on (a send hour against the user's own hours, a channel against its history), a deep
tower learns the rest, and one logit reads both.

Training length follows the data: ``configs.TRAIN_EPOCHS`` passes over the training
split at most, checked ``configs.CHECKS_PER_EPOCH`` times per epoch on the whole eval
split; training stops after ``configs.EARLY_STOPPING_PATIENCE`` checks without a lower
eval loss and keeps the best check's weights. ``fn_args.train_steps`` (the pipeline's
``train_steps``, when not 0) caps the steps, for tests.

Exported signatures:
- ``serving_default``: serialized tf.Examples with the raw features (no label) ->
  ``{"probabilities": P(open within 24h)}``, shape [batch, 1]. The Transform graph is
  inside, so callers send warehouse values, not transformed ones.
- ``transform_features``: serialized raw tf.Examples -> transformed features (as in
  TFX's penguin example; lets TFMA or debugging tools see what the model saw).
"""

from __future__ import annotations

import math

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
    shuffle_buffer_size: int | None = None,
) -> tf.data.Dataset:
    """Batches of (transformed features, label), repeated forever; shuffled through a
    buffer of ``shuffle_buffer_size`` rows, or in file order when None."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=features.transformed_label_key(),
            shuffle=shuffle_buffer_size is not None,
            shuffle_buffer_size=shuffle_buffer_size or 1,
            shuffle_seed=configs.RANDOM_SEED,
        ),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


class CrossLayer(tf_keras.layers.Layer):
    """One DCN-v2 cross layer: ``x0 * (W x + b) + x``, with a full-rank ``W``."""

    def build(self, input_shape: list[tf.TensorShape]) -> None:
        self.dense = tf_keras.layers.Dense(
            input_shape[0][-1], kernel_regularizer=tf_keras.regularizers.l2(configs.CROSS_L2)
        )
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x0, x = inputs
        return x0 * self.dense(x) + x


def build_keras_model(tf_transform_output: tft.TFTransformOutput) -> tf_keras.Model:
    """The parallel DCN-v2 of the module docstring; one logit, sigmoid output."""
    inputs: dict[str, tf_keras.Input] = {}
    parts: list[tf.Tensor] = []
    categories = {
        features.transformed_name(key): tf_transform_output.vocabulary_size_by_name(
            features.vocabulary_name(key)
        )
        + features.OOV_BUCKETS
        for key in features.CATEGORICAL_FEATURE_KEYS
    } | {features.bucket_name(key): size for key, size in features.BUCKET_FEATURE_SIZES.items()}
    for name, size in categories.items():
        inputs[name] = tf_keras.Input(shape=(1,), name=name, dtype=tf.int64)
        embedded = tf_keras.layers.Embedding(size, configs.EMBEDDING_DIM)(inputs[name])
        parts.append(tf_keras.layers.Flatten()(embedded))
    for key in features.NUMERIC_FEATURE_KEYS + features.DERIVED_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf_keras.Input(shape=(1,), name=name, dtype=tf.float32)
        parts.append(inputs[name])

    x0 = tf_keras.layers.concatenate(parts)
    crossed = x0
    for _ in range(configs.CROSS_LAYERS):
        crossed = CrossLayer()([x0, crossed])
    deep = x0
    for units in configs.DEEP_HIDDEN_UNITS:
        deep = tf_keras.layers.Dense(units, activation="relu")(deep)
        deep = tf_keras.layers.Dropout(configs.DROPOUT_RATE)(deep)
    logit = tf_keras.layers.Dense(1)(tf_keras.layers.concatenate([crossed, deep]))
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


def count_examples(file_patterns: list[str]) -> int:
    """Rows in Transform's (gzipped TFRecord) output files."""
    files = [f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1).numpy())


def training_schedule(train_rows: int, eval_rows: int, max_steps: int | None) -> dict[str, int]:
    """Steps per check, checks and validation steps for ``train_rows`` training rows.

    A check every ``1 / CHECKS_PER_EPOCH`` of an epoch (at least ``MIN_STEPS_PER_CHECK``
    steps, so that tiny data still trains), ``TRAIN_EPOCHS`` epochs at most, capped at
    ``max_steps`` in all when given; each check reads the whole eval split."""
    steps_per_epoch = max(math.ceil(train_rows / configs.TRAIN_BATCH_SIZE), 1)
    steps_per_check = max(
        math.ceil(steps_per_epoch / configs.CHECKS_PER_EPOCH), configs.MIN_STEPS_PER_CHECK
    )
    checks = max(math.ceil(configs.TRAIN_EPOCHS * steps_per_epoch / steps_per_check), 1)
    if max_steps:
        steps_per_check = min(steps_per_check, max_steps)
        checks = max(min(checks, max_steps // steps_per_check), 1)
    return {
        "steps_per_check": steps_per_check,
        "checks": checks,
        "validation_steps": max(math.ceil(eval_rows / configs.EVAL_BATCH_SIZE), 1),
    }


def run_fn(fn_args: FnArgs) -> None:
    """Trains the model on the transformed train split, stopping early on the eval split,
    and exports it for serving."""
    # Also here, not only in run_component: other runners (Vertex) call run_fn directly.
    tf_compat.skip_autograph_for_tf_keras()
    tf_keras.utils.set_random_seed(configs.RANDOM_SEED)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_rows = count_examples(fn_args.train_files)
    schedule = training_schedule(
        train_rows, count_examples(fn_args.eval_files), fn_args.train_steps
    )
    logging.info("engagement model training schedule: %s", schedule)
    # The rows come in day order (ExampleGen reads the window day by day): a buffer of the
    # whole window (up to SHUFFLE_BUFFER_ROWS) mixes the days in every batch.
    train_dataset = _input_fn(
        fn_args.train_files,
        fn_args.data_accessor,
        tf_transform_output,
        configs.TRAIN_BATCH_SIZE,
        shuffle_buffer_size=min(train_rows, configs.SHUFFLE_BUFFER_ROWS),
    )
    eval_dataset = _input_fn(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output, configs.EVAL_BATCH_SIZE
    )
    model = build_keras_model(tf_transform_output)
    history = model.fit(
        train_dataset,
        steps_per_epoch=schedule["steps_per_check"],
        validation_data=eval_dataset,
        validation_steps=schedule["validation_steps"],
        epochs=schedule["checks"],
        callbacks=[
            # A smaller step once the eval loss stalls: SGD noise in the per-channel
            # offsets is what miscalibrates a channel, and early stopping would otherwise
            # pick whichever noisy check best fits the one evaluation day.
            tf_keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=configs.LEARNING_RATE_DECAY,
                patience=configs.LEARNING_RATE_PATIENCE,
                min_delta=configs.MIN_LOSS_IMPROVEMENT,
            ),
            tf_keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=configs.EARLY_STOPPING_PATIENCE,
                min_delta=configs.MIN_LOSS_IMPROVEMENT,
                restore_best_weights=True,
            ),
        ],
        verbose=2,
    )
    logging.info("engagement model training history: %s", history.history)
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=make_serving_signatures(model, tf_transform_output),
    )
