"""Transform's ``preprocessing_fn`` for the ranking model.

The list id, the logged position and the label pass through: the Trainer groups
examples into lists by id and feeds the position to the training-only position tower.
Serving requests carry none of the three; TFT's serving layer then computes only the
outputs that do not depend on them.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from tfx_pipelines.ranking import configs, features


def _dense(x: tf.Tensor | tf.SparseTensor, default: str | int | float) -> tf.Tensor:
    """``x`` as a dense [batch, 1] tensor; a missing value becomes ``default``."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(x, [-1, 1])


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Vocabularies for categoricals, z-scores (of log1p for counts), pass-throughs."""
    outputs: dict[str, tf.Tensor] = {}
    for key in features.CATEGORICAL_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _dense(inputs[key], ""),
            num_oov_buckets=features.OOV_BUCKETS,
            vocab_filename=features.vocabulary_name(key),
        )
    for key in features.INT_FEATURE_KEYS:
        value = tf.math.log1p(tf.maximum(tf.cast(_dense(inputs[key], 0), tf.float32), 0.0))
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)
    for key in features.FLOAT_FEATURE_KEYS:
        value = tf.cast(_dense(inputs[key], 0), tf.float32)
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)
    outputs[features.transformed_name(features.LIST_ID_KEY)] = _dense(
        inputs[features.LIST_ID_KEY], ""
    )
    # 1..MAX_LIST_SIZE; 0 is the padding position of the Trainer's lists.
    outputs[features.transformed_name(features.POSITION_KEY)] = tf.clip_by_value(
        tf.cast(_dense(inputs[features.POSITION_KEY], 1), tf.int64), 1, configs.MAX_LIST_SIZE
    )
    outputs[features.transformed_label_key()] = tf.cast(
        _dense(inputs[features.LABEL_KEY], 0), tf.int64
    )
    return outputs
