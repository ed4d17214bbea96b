"""Transform's ``preprocessing_fn`` for the engagement model.

Referenced by module path (``tfx_pipelines.engagement.preprocessing.preprocessing_fn``),
so the same code runs in Transform's Beam job and inside the exported serving graph.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from tfx_pipelines.engagement import features


def _dense(x: tf.Tensor | tf.SparseTensor, default: str | int | float) -> tf.Tensor:
    """``x`` as a dense [batch, 1] tensor; a missing value becomes ``default``.

    SchemaGen marks always-present features as fixed-length [1] (dense); a feature with
    missing values arrives as a SparseTensor, and the model still needs one value.
    """
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(x, [-1, 1])


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """z-scores numerics (the log of the heavy-tailed ones), builds a vocabulary per
    categorical, derives the send hour's match with the user's active hours, passes the
    label through."""
    outputs: dict[str, tf.Tensor] = {}
    for key in features.CATEGORICAL_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _dense(inputs[key], ""),
            num_oov_buckets=features.OOV_BUCKETS,
            vocab_filename=features.vocabulary_name(key),
        )
    for key in features.NUMERIC_FEATURE_KEYS:
        value = tf.cast(_dense(inputs[key], 0), tf.float32)
        if key in features.LOG_FEATURE_KEYS:
            # Clipped at 0 so that a negative value at serving time cannot make a NaN.
            value = tf.math.log1p(tf.maximum(value, 0.0))
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)
    angle = features.hour_angle(tf.cast(_dense(inputs["local_send_hour"], 0), tf.float32))
    outputs[features.transformed_name(features.SEND_HOUR_MATCH_KEY)] = tf.cos(angle) * tf.cast(
        _dense(inputs["user_active_hour_cos_28d"], 0), tf.float32
    ) + tf.sin(angle) * tf.cast(_dense(inputs["user_active_hour_sin_28d"], 0), tf.float32)
    for key, size in features.BUCKET_FEATURE_SIZES.items():
        # Clipped so an out-of-range hour at serving time cannot index past the one-hot.
        value = tf.cast(_dense(inputs[key], 0), tf.int64)
        outputs[features.bucket_name(key)] = tf.clip_by_value(value, 0, size - 1)
    outputs[features.transformed_label_key()] = tf.cast(
        _dense(inputs[features.LABEL_KEY], 0), tf.int64
    )
    return outputs
