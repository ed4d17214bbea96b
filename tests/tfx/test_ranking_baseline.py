"""The popularity baseline's NDCG, against hand-computed values (TFMA's definition)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfx_pipelines.ranking import baseline

pytestmark = pytest.mark.tfx

INV_LOG2_3 = 1 / math.log2(3)  # discount of rank 2


def test_one_click_at_rank_two() -> None:
    # Ordered by score: the clicked item is second -> DCG 1/log2(3), ideal 1.
    value = baseline.list_ndcg([0, 1, 0, 0, 0], [5, 4, 3, 2, 1], k=3)
    assert value == pytest.approx(INV_LOG2_3)


def test_two_clicks_and_the_cutoff() -> None:
    gains, scores = [1, 0, 1, 0, 0], [1, 2, 3, 4, 5]  # order: items 4, 3, 2, 1, 0
    # @3: the only click in the top 3 is at rank 3 (1/log2 4 = 0.5); ideal 1 + 1/log2 3.
    assert baseline.list_ndcg(gains, scores, k=3) == pytest.approx(0.5 / (1 + INV_LOG2_3))
    # @5: plus the click at rank 5 (1/log2 6).
    expected = (0.5 + 1 / math.log2(6)) / (1 + INV_LOG2_3)
    assert baseline.list_ndcg(gains, scores, k=5) == pytest.approx(expected)


def test_perfect_order_and_short_list() -> None:
    assert baseline.list_ndcg([0, 2, 1], [0.1, 0.9, 0.5], k=3) == pytest.approx(1.0)
    assert baseline.list_ndcg([0, 1], [1.0, 0.0], k=3) == pytest.approx(INV_LOG2_3)


def test_list_without_click_is_skipped() -> None:
    assert baseline.list_ndcg([0, 0, 0], [1, 2, 3], k=3) is None


def test_mean_over_lists_with_a_click_grouped_by_id() -> None:
    # Interleaved rows of lists a (NDCG 1/log2 3), b (0.5 / (1 + 1/log2 3)), c (no click).
    ids = np.array([b"a", b"b", b"c", b"a", b"b", b"c", b"a", b"b", b"a", b"b", b"a", b"b"])
    scores = np.array([5, 1, 9, 4, 2, 8, 3, 3, 2, 4, 1, 5], dtype=np.float32)
    gains = np.array([0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    value, lists = baseline.ndcg_by_list(ids, scores, gains, k=3)
    assert lists == 2
    assert value == pytest.approx((INV_LOG2_3 + 0.5 / (1 + INV_LOG2_3)) / 2)


def test_no_list_with_a_click_is_nan() -> None:
    value, lists = baseline.ndcg_by_list(["a", "a"], [1, 2], [0, 0], k=3)
    assert lists == 0 and math.isnan(value)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        baseline.ndcg_by_list(["a", "a"], [1, 2, 3], [0, 1], k=3)
