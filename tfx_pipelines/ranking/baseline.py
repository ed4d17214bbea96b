"""The popularity baseline: each digest's items ordered by ``pin_popularity_28d``.

A ranking model is pushed only if it orders the evaluation day's digests better than
this (``hooks.py``). The NDCG is TFMA's (``tfma.metrics.NDCG``): per list, gain = the
click label, DCG@k = sum of gain / log2(1 + rank) over the first k items of the order,
divided by the DCG@k of the ideal (gain-sorted) order; lists without a positive gain are
skipped; the result is the mean over the remaining lists. Ties in the score are broken
as TFMA does (reversed stable argsort).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence

import numpy as np


def list_ndcg(gains: Sequence[float], scores: Sequence[float], k: int) -> float | None:
    """NDCG@k of one list ordered by ``scores`` (descending); None without a positive gain."""
    gains = np.asarray(gains, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if gains.size == 0 or gains.max() <= 0:
        return None
    top = min(k, gains.size)
    discounts = 1.0 / np.log2(np.arange(2, top + 2))
    dcg = float(np.sum(gains[np.argsort(scores)[::-1]][:top] * discounts))
    ideal = float(np.sum(np.sort(gains)[::-1][:top] * discounts))
    return dcg / ideal


def ndcg_by_list(
    list_ids: Sequence[object], scores: Sequence[float], gains: Sequence[float], k: int
) -> tuple[float, int]:
    """Mean NDCG@k over the lists (grouped by ``list_ids``) with a positive gain, and how
    many lists that is; (nan, 0) when none has one."""
    ids = np.asarray(list_ids).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    gains = np.asarray(gains, dtype=np.float64).reshape(-1)
    if not (len(ids) == len(scores) == len(gains)):
        raise ValueError(
            f"list_ids, scores and gains differ in length: {len(ids)}, {len(scores)}, {len(gains)}"
        )
    _, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    values = [
        v
        for rows in np.split(order, bounds)
        if rows.size and (v := list_ndcg(gains[rows], scores[rows], k)) is not None
    ]
    if not values:
        return float("nan"), 0
    return float(np.mean(values)), len(values)


_DTYPES = {"bytes": "string", "int": "int64", "float": "float32"}


def read_split(split_uri: str, keys: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Single-valued features of every tf.Example of an ExampleGen split (its
    ``Split-<name>`` directory of gzipped TFRecords). ``keys``: {feature key: "bytes",
    "int" or "float"}; returns {key: array}."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(split_uri, "*")))
    if not files:
        raise FileNotFoundError(f"no example files in {split_uri}")
    spec = {k: tf.io.FixedLenFeature([], getattr(tf, _DTYPES[kind])) for k, kind in keys.items()}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in spec}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        for key in spec:
            parts[key].append(parsed[key].numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}
