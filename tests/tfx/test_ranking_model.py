"""The ranking model's listwise loss, list grouping and position tower, on tiny data."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.tfx

tf = pytest.importorskip("tensorflow")

from tfx_pipelines.ranking import configs, features, model  # noqa: E402

L = configs.MAX_LIST_SIZE


# --- the loss, against hand-computed values ----------------------------------------


def test_loss_masks_padded_items() -> None:
    # 3 valid items, 2 padded ones with a huge logit and a (bogus) click.
    logits = [[1.0, 2.0, 3.0, 50.0, 50.0]]
    labels = [[0.0, 0.0, 1.0, 1.0, 1.0]]
    mask = [[True, True, True, False, False]]
    per_list, counts = model.listwise_softmax_losses(labels, logits, mask)
    # -log(e^3 / (e^1 + e^2 + e^3)) = log(1 + e^-1 + e^-2)
    expected = math.log(1 + math.exp(-1) + math.exp(-2))
    assert per_list.numpy()[0] == pytest.approx(expected, rel=1e-6)
    assert counts.numpy().tolist() == [True]


def test_two_clicks_split_the_target() -> None:
    # target (1/2, 1/2, 0); softmax(0, 0, ln 2) = (1/4, 1/4, 1/2): loss = ln 4.
    loss = model.listwise_softmax_loss([[1.0, 1.0, 0.0]], [[0.0, 0.0, math.log(2)]], [[1, 1, 1]])
    assert loss.numpy() == pytest.approx(math.log(4), rel=1e-6)


def test_list_without_click_contributes_zero_and_is_not_counted() -> None:
    logits = [[1.0, 2.0, 3.0], [0.0, 0.0, math.log(2)], [5.0, -3.0, 0.0]]
    labels = [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    mask = [[True] * 3] * 3
    per_list, counts = model.listwise_softmax_losses(labels, logits, mask)
    assert per_list.numpy()[2] == 0.0
    assert counts.numpy().tolist() == [True, True, False]
    first = math.log(1 + math.exp(-1) + math.exp(-2))
    loss = model.listwise_softmax_loss(labels, logits, mask)
    assert loss.numpy() == pytest.approx((first + math.log(4)) / 2, rel=1e-6)


def test_no_click_at_all_gives_zero_loss_and_zero_gradient() -> None:
    logits = tf.Variable([[1.0, 2.0], [0.5, 0.0]])
    with tf.GradientTape() as tape:
        loss = model.listwise_softmax_loss([[0.0, 0.0], [0.0, 0.0]], logits, [[1, 1], [1, 0]])
    assert loss.numpy() == 0.0
    assert np.all(tape.gradient(loss, logits).numpy() == 0.0)


def test_loss_is_invariant_to_a_shift_of_the_list() -> None:
    labels, mask = [[0.0, 1.0, 0.0, 0.0]], [[1, 1, 1, 0]]
    a = model.listwise_softmax_loss(labels, [[0.3, 1.2, -0.4, 9.0]], mask)
    b = model.listwise_softmax_loss(labels, [[10.3, 11.2, 9.6, -9.0]], mask)
    assert a.numpy() == pytest.approx(b.numpy(), rel=1e-5)


# --- grouping examples into lists ---------------------------------------------------


def test_group_into_lists_orders_by_position_pads_and_truncates() -> None:
    ids = np.array([b"b", b"a", b"b", b"a", b"a", b"c"] + [b"d"] * 7)
    positions = np.array([2, 3, 1, 1, 2, 1] + [7, 6, 5, 4, 3, 2, 1])
    labels = np.array([1, 0, 0, 1, 0, 0] + [0] * 6 + [1])
    values = np.arange(len(ids), dtype=np.float32).reshape(-1, 1)
    lists = model.group_into_lists({"x": values}, ids, positions, labels, max_list_size=5)
    # Lists in id order: a, b, c, d.
    assert lists.mask.sum(axis=1).tolist() == [3, 2, 1, 5]
    assert lists.positions[0].tolist() == [1, 2, 3, 0, 0]
    assert lists.features["x"][0, :, 0].tolist() == [3, 4, 1, 0, 0]
    assert lists.labels[1].tolist() == [0, 1, 0, 0, 0]
    assert lists.positions[3].tolist() == [1, 2, 3, 4, 5]  # items past 5 dropped
    assert lists.labels[3].tolist() == [1, 0, 0, 0, 0]
    assert lists.features["x"].shape == (4, 5, 1)


def _lists_of(labels: list[list[int]], mask: list[list[bool]]) -> model.Lists:
    labels_, mask_ = np.array(labels, np.float32), np.array(mask, bool)
    ids = np.arange(len(labels), dtype=np.float32)[:, None, None] * np.ones(mask_.shape + (1,))
    return model.Lists({"id": ids}, mask_.astype(np.int64), labels_, mask_)


def test_learnable_lists_keep_a_click_among_two_or_more_items() -> None:
    lists = _lists_of(
        labels=[[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0]],
        mask=[[1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1]],
    )
    # list 1: no click; list 2: one item; list 3: its click is on a padded item
    kept = model.learnable_lists(lists)
    assert kept.features["id"][:, 0, 0].tolist() == [0, 4]
    assert kept.labels.tolist() == [[0, 1, 0], [1, 1, 0]]


def test_fold_lists_hold_out_each_list_exactly_once() -> None:
    lists = _lists_of([[1, 0]] * 23, [[1, 1]] * 23)
    folds = model.fold_lists(lists, 5, seed=3)
    assert len(folds) == 5
    held_out = []
    for train, validation in folds:
        train_ids = set(train.features["id"][:, 0, 0].tolist())
        validation_ids = validation.features["id"][:, 0, 0].tolist()
        assert not train_ids & set(validation_ids)
        assert len(train_ids) + len(validation_ids) == 23
        held_out += validation_ids
    assert sorted(held_out) == list(range(23))
    assert [len(v.mask) for _, v in folds] == [5, 5, 5, 4, 4]
    again = model.fold_lists(lists, 5, seed=3)
    assert all(
        np.array_equal(a[1].features["id"], b[1].features["id"])
        for a, b in zip(folds, again, strict=True)
    )
    assert len(model.fold_lists(_lists_of([[1, 0]] * 3, [[1, 1]] * 3), 5)) == 3
    one = _lists_of([[1, 0]], [[1, 1]])
    assert model.fold_lists(one, 5) == [(one, None)]


def test_average_model_scores_the_mean_of_its_members() -> None:
    members = []
    for seed in (0, 1, 2):
        tf.keras.utils.set_random_seed(seed)
        member = model.build_relevance_model(VOCAB, name=f"member_{seed}")
        last = member.layers[-1]  # zero-initialised: give it weights
        last.kernel.assign(np.random.default_rng(seed).normal(size=last.kernel.shape))
        members.append(member)
    lists = _random_lists(4, np.random.default_rng(5), lambda c, p: np.zeros(len(p)))
    ensemble = model.average_model(members)
    expected = np.mean([_scores(m, lists) for m in members], axis=0)
    assert np.ptp(expected) > 0
    np.testing.assert_allclose(_scores(ensemble, lists), expected, rtol=1e-5, atol=1e-6)
    assert ensemble.input_names == members[0].input_names
    assert model.average_model(members[:1]) is members[0]


def test_early_stopping_keeps_the_weights_of_the_best_held_out_loss() -> None:
    """Clicks at random: any fit is memorization, so the held-out loss soon rises."""
    rng = np.random.default_rng(4)
    lists = _random_lists(300, rng, lambda c, p: np.zeros(len(p)))
    train, validation = model.fold_lists(lists, 3)[0]
    tf.keras.utils.set_random_seed(0)
    relevance, position = model.build_relevance_model(VOCAB), model.build_position_model()
    log = model.train(
        relevance, position, model.lists_dataset(train, 16), 3000, learning_rate=1e-2,
        validation=validation, check_every=10, patience=3,
    )  # fmt: skip
    assert len(log.losses) < 3000  # stopped early
    steps, losses = zip(*log.validation_losses, strict=True)
    assert log.best_step == steps[int(np.argmin(losses))]
    assert len(steps) - steps.index(log.best_step) - 1 == 3  # patience checks after it
    kept = model.evaluate(relevance, position, validation)
    assert kept == pytest.approx(min(losses), rel=1e-5)  # the best weights were restored
    assert kept < losses[-1]


# --- the towers ----------------------------------------------------------------------

VOCAB = {key: 3 for key in features.CATEGORICAL_FEATURE_KEYS}


def _random_lists(n_lists: int, rng: np.random.Generator, click_logit) -> model.Lists:
    """Lists of L items with random features; clicks drawn from ``click_logit``."""
    n = n_lists * L
    cols: dict[str, np.ndarray] = {}
    for key in features.CATEGORICAL_FEATURE_KEYS:
        cols[features.transformed_name(key)] = rng.integers(0, 3, (n, 1)).astype(np.int64)
    for key in features.NUMERIC_FEATURE_KEYS:
        cols[features.transformed_name(key)] = rng.normal(size=(n, 1)).astype(np.float32)
    positions = np.tile(np.arange(1, L + 1), n_lists)
    p = 1 / (1 + np.exp(-click_logit(cols, positions)))
    clicks = (rng.uniform(size=n) < p).astype(np.int64)
    ids = np.repeat(np.arange(n_lists), L)
    return model.group_into_lists(cols, ids, positions, clicks)


def _train(lists: model.Lists, steps: int = 200, with_position: bool = True):
    tf.keras.utils.set_random_seed(0)
    relevance = model.build_relevance_model(VOCAB)
    position = model.build_position_model() if with_position else None
    model.train(relevance, position, model.lists_dataset(lists, 128), steps, learning_rate=3e-3)
    return relevance, position


def _scores(relevance, lists: model.Lists) -> np.ndarray:
    flat = {k: v.reshape(-1, 1) for k, v in lists.features.items()}
    return relevance(flat).numpy().reshape(-1)


POPULARITY = features.transformed_name("pin_popularity_28d")


def _position_only_clicks(cols, positions):
    # P(click) falls with position only (0.71, 0.48, 0.25, 0.11, 0.04): no feature matters.
    return 0.9 - 0.8 * (positions - 1)


def test_clicks_explained_by_position_go_to_the_position_tower() -> None:
    lists = _random_lists(2000, np.random.default_rng(0), _position_only_clicks)
    relevance, position = _train(lists)
    biases = model.position_biases(position)
    assert np.all(np.diff(biases) < 0), biases  # earlier positions get a higher bias
    assert biases[0] - biases[-1] > 2.0, biases
    # The relevance tower learned ~nothing: on fresh items its scores barely vary
    # (what spread there is, is noise fitted from 20 random features).
    fresh = _random_lists(500, np.random.default_rng(9), _position_only_clicks)
    assert _scores(relevance, fresh).std() < 0.2 * (biases[0] - biases[-1]), biases


def test_position_tower_keeps_a_feature_the_logger_sorted_by_out_of_relevance() -> None:
    """The logging ranker put popular pins first, and clicks depend on position only:
    without the position tower the relevance tower learns popularity; with it, not."""
    rng = np.random.default_rng(2)
    lists = _random_lists(2000, rng, _position_only_clicks)
    popularity = -(lists.positions - 3).astype(np.float32) + rng.normal(0, 1.0, lists.mask.shape)
    lists.features[POPULARITY][..., 0] = popularity
    flat_popularity = lists.features[POPULARITY].reshape(-1)

    biased, _ = _train(lists, with_position=False)
    scores_biased = _scores(biased, lists)
    debiased, position = _train(lists)
    scores_debiased = _scores(debiased, lists)
    assert np.corrcoef(scores_biased, flat_popularity)[0, 1] > 0.8
    # How strongly the item's score follows popularity: large when the relevance tower
    # had to explain position by it, small when the position tower does.
    slope_biased = np.polyfit(flat_popularity, scores_biased, 1)[0]
    slope_debiased = np.polyfit(flat_popularity, scores_debiased, 1)[0]
    assert abs(slope_debiased) < 0.35 * slope_biased, (slope_debiased, slope_biased)
    biases = model.position_biases(position)
    assert biases[0] - biases[-1] > 1.0, biases


def test_relevance_tower_learns_what_position_does_not_explain() -> None:
    key = features.transformed_name("user_topic_affinity_28d")
    lists = _random_lists(1000, np.random.default_rng(1), lambda c, p: -1.5 + 1.5 * c[key][:, 0])
    relevance, position = _train(lists)
    flat = lists.features[key].reshape(-1)
    assert np.corrcoef(_scores(relevance, lists), flat)[0, 1] > 0.8
    biases = model.position_biases(position)
    assert np.ptp(biases) < 0.5, biases
