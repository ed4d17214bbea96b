"""Trainer's ``run_fn``: a listwise tf-keras ranker with a training-only position tower.

Training: Transform's examples are grouped by ``list_id`` into padded lists of
``configs.MAX_LIST_SIZE`` items (a mask marks the real ones). Each item's logit is

    relevance(user, pin features) + position_bias(logged item_position)

and the loss is the listwise softmax cross-entropy (:func:`listwise_softmax_loss`).
The position tower absorbs what the logged position explains (users click the first
item of a digest more, whatever it is), so the relevance tower learns what the user
would click at any position.

Only lists with a click and at least two items carry a gradient (the softmax of one
item is 1; a list without a click has no target), and they are few: emails are
opened rarely and clicked more rarely still (about 3% of a day's digests). Training
therefore samples those lists only, and the towers memorize them past a few epochs: a
single click among five items is a noisy label. So the model is a cross-validated
ensemble (measured in bench/RESULTS.md): the clicked lists are cut into
``configs.ENSEMBLE_FOLDS`` folds; member k trains on the other folds, stops when its
loss on fold k stops improving and keeps its best weights; the served score is the
members' mean relevance.

Exported (the members' relevance towers, averaged; the position towers are dropped):
- ``serving_default``: serialized tf.Examples of the raw (user, pin) warehouse features,
  without ``item_position``, ``list_id`` or the label -> ``{"score": [batch, 1]}``, one
  score per example (a logit; sort a candidate list by it). TFMA evaluates with this
  signature and ``query_key="list_id"``.
- ``transform_features``: serialized raw tf.Examples -> transformed features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from tfx_pipelines.common import tf_compat
from tfx_pipelines.ranking import configs, features

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
# Logit of padded items before the softmax: finite (0 * it stays 0), far below any score.
_PAD_LOGIT = -1e9


# --- The loss ---------------------------------------------------------------------


def listwise_softmax_losses(
    labels: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-list softmax cross-entropy and whether each list counts.

    ``labels``, ``logits``, ``mask``: [lists, items]. Per list: the softmax over the
    logits of its valid (mask) items, cross-entropy against the labels normalized to sum
    to 1 over the valid items. Returns (loss per list, list has a click); a list without
    a click (or without valid items) has loss 0 and does not count.
    """
    mask = tf.cast(mask, tf.bool)
    logits = tf.cast(logits, tf.float32)
    labels = tf.where(mask, tf.maximum(tf.cast(labels, tf.float32), 0.0), 0.0)
    label_sum = tf.reduce_sum(labels, axis=-1, keepdims=True)
    has_click = tf.squeeze(label_sum, -1) > 0
    target = tf.math.divide_no_nan(labels, label_sum)
    log_p = tf.nn.log_softmax(tf.where(mask, logits, _PAD_LOGIT), axis=-1)
    # Padded items: target 0 and a finite log_p, so they add exactly 0.
    per_list = -tf.reduce_sum(tf.where(mask, target * log_p, 0.0), axis=-1)
    return tf.where(has_click, per_list, 0.0), has_click


def listwise_softmax_loss(labels: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of :func:`listwise_softmax_losses` over the lists with a click (0 if none)."""
    per_list, counts = listwise_softmax_losses(labels, logits, mask)
    return tf.math.divide_no_nan(
        tf.reduce_sum(per_list), tf.reduce_sum(tf.cast(counts, tf.float32))
    )


# --- Lists ------------------------------------------------------------------------


class Lists(NamedTuple):
    """Padded lists: features {transformed key: [lists, items, 1]}, positions, labels
    and mask [lists, items]."""

    features: dict[str, np.ndarray]
    positions: np.ndarray
    labels: np.ndarray
    mask: np.ndarray


def group_into_lists(
    columns: Mapping[str, np.ndarray],
    list_ids: np.ndarray,
    positions: np.ndarray,
    labels: np.ndarray,
    max_list_size: int = configs.MAX_LIST_SIZE,
) -> Lists:
    """Groups per-example arrays (first axis = examples) by ``list_ids`` into padded
    lists ordered by position; items past ``max_list_size`` are dropped."""
    list_ids = np.asarray(list_ids).reshape(-1)
    positions = np.asarray(positions).reshape(-1).astype(np.int64)
    labels = np.asarray(labels).reshape(-1).astype(np.float32)
    ids, inverse = np.unique(list_ids, return_inverse=True)
    order = np.lexsort((positions, inverse))
    group = inverse[order]
    starts = np.searchsorted(group, np.arange(len(ids)))
    rank = np.arange(len(order)) - starts[group]
    keep = rank < max_list_size
    rows, cols, src = group[keep], rank[keep], order[keep]
    shape = (len(ids), max_list_size)
    out_features = {}
    for key, values in columns.items():
        values = np.asarray(values).reshape(len(list_ids), -1)
        padded = np.zeros(shape + values.shape[1:], dtype=values.dtype)
        padded[rows, cols] = values[src]
        out_features[key] = padded
    out_positions = np.zeros(shape, np.int64)
    out_positions[rows, cols] = positions[src]
    out_labels = np.zeros(shape, np.float32)
    out_labels[rows, cols] = labels[src]
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return Lists(out_features, out_positions, out_labels, mask)


def read_lists(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    model_inputs: list[str],
) -> Lists:
    """Reads a split of Transform's examples once and groups it into padded lists.

    In memory: a day of digests is thousands of lists locally. At warehouse scale the
    grouping belongs upstream (one row per list, e.g. ELWC), not here.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=4096, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    )
    keys = list(model_inputs) + [
        features.transformed_name(features.LIST_ID_KEY),
        features.transformed_name(features.POSITION_KEY),
        features.transformed_label_key(),
    ]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for batch in dataset:
        for key in keys:
            parts[key].append(batch[key].numpy())
    if not parts[keys[0]]:
        raise ValueError(f"no examples in {file_pattern}")
    columns = {k: np.concatenate(v) for k, v in parts.items()}
    return group_into_lists(
        {k: columns[k] for k in model_inputs},
        columns[features.transformed_name(features.LIST_ID_KEY)],
        columns[features.transformed_name(features.POSITION_KEY)],
        columns[features.transformed_label_key()],
    )


def lists_dataset(lists: Lists, batch_size: int, shuffle: bool = True) -> tf.data.Dataset:
    """Batches of (features, positions, labels, mask), repeated forever."""
    dataset = tf.data.Dataset.from_tensor_slices(tuple(lists))
    if shuffle:
        dataset = dataset.shuffle(len(lists.mask), seed=configs.RANDOM_SEED)
    return dataset.repeat().batch(batch_size)


def learnable_lists(lists: Lists, min_items: int = 2) -> Lists:
    """The lists the listwise loss learns from: a click and at least ``min_items`` items."""
    keep = (np.where(lists.mask, lists.labels, 0.0).sum(axis=1) > 0) & (
        lists.mask.sum(axis=1) >= min_items
    )
    return take_lists(lists, keep)


def take_lists(lists: Lists, keep: np.ndarray) -> Lists:
    """The lists where ``keep`` (a boolean or index array over lists) selects them."""
    return Lists(
        {k: v[keep] for k, v in lists.features.items()},
        lists.positions[keep],
        lists.labels[keep],
        lists.mask[keep],
    )


def fold_lists(
    lists: Lists, folds: int, seed: int = configs.RANDOM_SEED
) -> list[tuple[Lists, Lists | None]]:
    """(training, validation) lists of each fold: the lists are shuffled (seeded) and cut
    into ``folds`` disjoint validation folds, each trained on the other folds. Fewer
    lists than two give one (lists, None): nothing to hold out."""
    n = len(lists.mask)
    folds = min(folds, n)
    if folds < 2:
        return [(lists, None)]
    fold_of = np.empty(n, np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return [
        (take_lists(lists, fold_of != k), take_lists(lists, fold_of == k)) for k in range(folds)
    ]


class TrainingLog(NamedTuple):
    """Training losses per step, the held-out loss at each check and the step whose
    weights were kept (the last step without validation)."""

    losses: list[float]
    validation_losses: list[tuple[int, float]]
    best_step: int


# --- The towers -------------------------------------------------------------------


def vocabulary_sizes(tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """Embedding sizes (vocabulary + OOV buckets) by categorical feature key."""
    return {
        key: tf_transform_output.vocabulary_size_by_name(features.vocabulary_name(key))
        + features.OOV_BUCKETS
        for key in features.CATEGORICAL_FEATURE_KEYS
    }


def build_relevance_model(
    vocab_sizes: Mapping[str, int], name: str = "relevance"
) -> tf_keras.Model:
    """Per example: transformed (user, pin) features -> one relevance score [batch, 1].
    ``name``: distinct per member of an ensemble (Keras needs unique layer names)."""
    inputs: dict[str, tf_keras.Input] = {}
    parts: list[tf.Tensor] = []
    for key in features.CATEGORICAL_FEATURE_KEYS:
        input_name = features.transformed_name(key)
        inputs[input_name] = tf_keras.Input(shape=(1,), name=input_name, dtype=tf.int64)
        embedded = tf_keras.layers.Embedding(vocab_sizes[key], configs.EMBEDDING_DIM)(
            inputs[input_name]
        )
        parts.append(tf_keras.layers.Flatten()(embedded))
    for key in features.NUMERIC_FEATURE_KEYS:
        input_name = features.transformed_name(key)
        inputs[input_name] = tf_keras.Input(shape=(1,), name=input_name, dtype=tf.float32)
        parts.append(inputs[input_name])
    hidden = tf_keras.layers.concatenate(parts)
    for units in configs.HIDDEN_UNITS:
        hidden = tf_keras.layers.Dense(units, activation="relu")(hidden)
    # Zero-initialised output: every item starts equally relevant, so whatever spread
    # the scores have was learned (not the random initialisation's).
    score = tf_keras.layers.Dense(1, kernel_initializer="zeros", name=features.PREDICTION_KEY)(
        hidden
    )
    return tf_keras.Model(inputs=inputs, outputs=score, name=name)


def build_position_model(max_list_size: int = configs.MAX_LIST_SIZE) -> tf_keras.Model:
    """Shallow position tower: logged positions [lists, items] (1-based, 0 = padding)
    -> a bias on each item's logit [lists, items]. Training only."""
    positions = tf_keras.Input(shape=(None,), name="position", dtype=tf.int64)
    embedded = tf_keras.layers.Embedding(max_list_size + 1, configs.POSITION_EMBEDDING_DIM)(
        positions
    )
    bias = tf_keras.layers.Dense(1)(embedded)
    bias = tf_keras.layers.Reshape((-1,))(bias)
    return tf_keras.Model(inputs=positions, outputs=bias, name="position_bias")


def average_model(members: list[tf_keras.Model]) -> tf_keras.Model:
    """One relevance model whose score is the mean of ``members``' scores (same inputs)."""
    if len(members) == 1:
        return members[0]
    inputs = {
        name: tf_keras.Input(shape=tensor.shape[1:], name=name, dtype=tensor.dtype)
        for name, tensor in zip(members[0].input_names, members[0].inputs, strict=True)
    }
    score = tf_keras.layers.Average(name=features.PREDICTION_KEY)([m(inputs) for m in members])
    return tf_keras.Model(inputs=inputs, outputs=score, name="relevance_ensemble")


def list_logits(
    relevance: tf_keras.Model,
    position_tower: tf_keras.Model | None,
    list_features: Mapping[str, tf.Tensor],
    positions: tf.Tensor,
    training: bool = False,
) -> tf.Tensor:
    """Logits [lists, items]: relevance of each item, plus the position bias if given."""
    shape = tf.shape(positions)
    flat = {k: tf.reshape(v, [-1, 1]) for k, v in list_features.items()}
    logits = tf.reshape(relevance(flat, training=training), shape)
    if position_tower is not None:
        logits += position_tower(positions, training=training)
    return logits


def train(
    relevance: tf_keras.Model,
    position_tower: tf_keras.Model | None,
    dataset: tf.data.Dataset,
    steps: int,
    learning_rate: float = configs.LEARNING_RATE,
    validation: Lists | None = None,
    check_every: int = configs.VALIDATION_EVERY_STEPS,
    patience: int = configs.VALIDATION_PATIENCE,
) -> TrainingLog:
    """Adam on the listwise loss for at most ``steps`` batches of lists.

    With ``validation`` lists, the loss on them is checked every ``check_every`` steps;
    training stops after ``patience`` checks without improvement and the weights of the
    best check are restored. ``position_tower=None`` trains the relevance tower alone
    (to show what the position tower prevents)."""
    optimizer = tf_keras.optimizers.Adam(learning_rate)
    iterator = iter(dataset)
    first = next(iterator)
    list_logits(relevance, position_tower, first[0], first[1])  # builds the variables
    variables = list(relevance.trainable_variables)
    if position_tower is not None:
        variables += position_tower.trainable_variables

    @tf.function
    def step(list_features, positions, labels, mask):
        with tf.GradientTape() as tape:
            logits = list_logits(relevance, position_tower, list_features, positions, True)
            loss = listwise_softmax_loss(labels, logits, mask)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    losses = [float(step(*first))]
    checks: list[tuple[int, float]] = []
    best_loss, best_step, best_weights, checks_since_best = float("inf"), 0, None, 0
    for done in range(2, steps + 1):
        losses.append(float(step(*next(iterator))))
        if validation is None or done % check_every:
            continue
        loss = evaluate(relevance, position_tower, validation)
        checks.append((done, loss))
        if loss < best_loss:
            best_loss, best_step, best_weights = loss, done, [v.numpy() for v in variables]
            checks_since_best = 0
        else:
            checks_since_best += 1
            if checks_since_best >= patience:
                break
    if best_weights is None:  # no check ran: the last step's weights
        return TrainingLog(losses, checks, len(losses))
    for variable, value in zip(variables, best_weights, strict=True):
        variable.assign(value)
    return TrainingLog(losses, checks, best_step)


def evaluate(
    relevance: tf_keras.Model,
    position_tower: tf_keras.Model | None,
    lists: Lists,
) -> float:
    """The listwise loss on ``lists`` (all of them, one pass)."""
    logits = list_logits(relevance, position_tower, lists.features, lists.positions)
    return float(listwise_softmax_loss(lists.labels, logits, lists.mask))


# --- Export -----------------------------------------------------------------------


def make_serving_signatures(
    model: tf_keras.Model, tf_transform_output: tft.TFTransformOutput
) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """The exported signatures (see module docstring)."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    missing = [k for k in features.FEATURE_KEYS if k not in raw_feature_spec]
    if missing:
        raise ValueError(f"features missing from the Transform input schema: {missing}")
    # The model's features only: no position, list id or label in a request.
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


def position_biases(position_tower: tf_keras.Model) -> np.ndarray:
    """The learned bias of positions 1..MAX_LIST_SIZE (for logs and tests)."""
    positions = tf.constant([list(range(1, configs.MAX_LIST_SIZE + 1))], tf.int64)
    return position_tower(positions).numpy()[0]


def run_fn(fn_args: FnArgs) -> None:
    """Trains the fold ensemble on the transformed train split's lists and exports it."""
    tf_compat.skip_autograph_for_tf_keras()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_steps = fn_args.train_steps or configs.TRAIN_STEPS
    vocab_sizes = vocabulary_sizes(tf_transform_output)
    model_inputs = list(build_relevance_model(vocab_sizes).input_names)
    all_train_lists = read_lists(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, model_inputs
    )
    eval_lists = read_lists(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output, model_inputs
    )
    learnable = learnable_lists(all_train_lists)
    if not len(learnable.mask):
        raise ValueError(
            f"no training list has a click and two items ({len(all_train_lists.mask)} lists): "
            "nothing to learn a ranking from"
        )
    folds = fold_lists(learnable, configs.ENSEMBLE_FOLDS)
    logging.info(
        "ranking: %d training lists, %d with a click and 2+ items, in %d folds; %d "
        "evaluation lists",
        len(all_train_lists.mask),
        len(learnable.mask),
        len(folds),
        len(eval_lists.mask),
    )
    members = []
    for k, (train_lists, validation_lists) in enumerate(folds):
        tf_keras.utils.set_random_seed(configs.RANDOM_SEED + k)
        relevance = build_relevance_model(vocab_sizes, name=f"relevance_{k}")
        position_tower = build_position_model()
        log = train(
            relevance,
            position_tower,
            lists_dataset(train_lists, configs.TRAIN_LISTS_PER_BATCH),
            train_steps,
            validation=validation_lists,
        )
        logging.info(
            "ranking member %d: %d steps, weights of step %d kept (held-out loss %s); eval "
            "loss %.4f (with position) %.4f (relevance only); position biases %s",
            k,
            len(log.losses),
            log.best_step,
            dict(log.validation_losses).get(log.best_step, "n/a"),
            evaluate(relevance, position_tower, eval_lists),
            evaluate(relevance, None, eval_lists),
            np.round(position_biases(position_tower), 3).tolist(),
        )
        members.append(relevance)
    ensemble = average_model(members)
    logging.info("ranking ensemble: eval loss %.4f", evaluate(ensemble, None, eval_lists))
    ensemble.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=make_serving_signatures(ensemble, tf_transform_output),
    )
