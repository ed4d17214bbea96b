"""The pin catalog: pins with a topic, a creator, and latent quality and popularity.

The pins that exist before the world's first day are created with the world;
new pins join the catalog every later day. Both are pure functions of the
world's configuration and the day, so the catalog as of any day is rebuilt
without reading anything back. A pin's index in :class:`Catalog` is stable for a
world: the initial pins first, then each day's new pins in day order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cached_property

import numpy as np
import pandas as pd

from notiflow.simulator.world import (
    SECONDS_PER_DAY,
    TOPICS,
    Stream,
    WorldConfig,
    day_start_s,
    numbered_ids,
    rng,
)

# New pins per day, as a share of the initial catalog.
NEW_PIN_SHARE = 0.01
# Mean and spread of latent quality, Beta(2, 5): quality enters the models standardized.
QUALITY_MEAN, QUALITY_SD = 2 / 7, 0.16


@dataclasses.dataclass(frozen=True, eq=False)
class PinBatch:
    """Pins that entered the catalog on day ``ds`` (its raw partition)."""

    ds: dt.date
    pin_id: np.ndarray
    creator_id: np.ndarray
    topic: np.ndarray
    created_s: np.ndarray
    quality: np.ndarray
    popularity: np.ndarray

    @classmethod
    def draw(
        cls, config: WorldConfig, ds: dt.date, n: int, prefix: str, g: np.random.Generator,
        created_from_s: int, created_to_s: int,
    ) -> PinBatch:  # fmt: skip
        quality = g.beta(2.0, 5.0, n)
        n_creators = max(1, config.n_pins // 8)
        # A few creators make most pins.
        creator = (n_creators * g.random(n) ** 2).astype(np.int64)
        return cls(
            ds=ds,
            pin_id=numbered_ids(prefix, np.arange(n), 7),
            creator_id=numbered_ids("c", creator, 6),
            topic=g.integers(0, len(TOPICS), n),
            created_s=g.integers(created_from_s, created_to_s, n),
            quality=quality,
            popularity=np.exp(g.normal(0.0, 1.0, n)) * (0.3 + quality),
        )

    def raw_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "pin_id": self.pin_id,
                "creator_id": self.creator_id,
                "topic": np.asarray(TOPICS, dtype=object)[self.topic],
                "created_ts": self.created_s.astype("datetime64[s]"),
                "ds": np.datetime64(self.ds, "D"),
            }
        )

    def truth_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "pin_id": self.pin_id,
                "quality": self.quality,
                "popularity": self.popularity,
                "ds": np.datetime64(self.ds, "D"),
            }
        )


def initial_pins(config: WorldConfig, first_day: dt.date) -> PinBatch:
    """The catalog before the first day: created over the year before it, every topic present."""
    g = rng(config.seed, Stream.PINS)
    start = day_start_s(first_day)
    batch = PinBatch.draw(
        config, first_day, config.n_pins, "p", g, start - 365 * SECONDS_PER_DAY, start
    )
    every_topic = np.concatenate([np.arange(len(TOPICS)), batch.topic[len(TOPICS) :]])
    return dataclasses.replace(batch, topic=every_topic)


def pins_added_on(config: WorldConfig, day: dt.date) -> PinBatch:
    """The pins created on ``day`` (a day after the world's first)."""
    n = max(1, round(config.n_pins * NEW_PIN_SHARE))
    start = day_start_s(day)
    g = rng(config.seed, Stream.PINS, day)
    return PinBatch.draw(config, day, n, f"p{day:%Y%m%d}-", g, start, start + SECONDS_PER_DAY)


class Catalog:
    """Every pin that exists on a day, with samplers by topic and by popularity."""

    def __init__(self, batches: list[PinBatch]) -> None:
        self.batches = batches
        self.pin_id = np.concatenate([b.pin_id for b in batches])
        self.topic = np.concatenate([b.topic for b in batches])
        self.quality = np.concatenate([b.quality for b in batches])
        self.popularity = np.concatenate([b.popularity for b in batches])

    @classmethod
    def as_of(cls, config: WorldConfig, first_day: dt.date, day: dt.date) -> Catalog:
        """The catalog on ``day``: the initial pins and those added on each day since."""
        batches = [initial_pins(config, first_day)]
        for offset in range(1, (day - first_day).days + 1):
            batches.append(pins_added_on(config, first_day + dt.timedelta(days=offset)))
        return cls(batches)

    def __len__(self) -> int:
        return len(self.pin_id)

    @property
    def newest(self) -> PinBatch:
        """The pins that entered the catalog on its last day (that day's raw partition)."""
        return self.batches[-1]

    def quality_z(self, pin_idx: np.ndarray) -> np.ndarray:
        return (self.quality[pin_idx] - QUALITY_MEAN) / QUALITY_SD

    def index_of(self, pin_ids: np.ndarray) -> np.ndarray:
        """Catalog index of each pin id, -1 for ids not in the catalog."""
        return pd.Index(self.pin_id).get_indexer(pin_ids)

    def sample_popular(self, n: int, g: np.random.Generator) -> np.ndarray:
        """``n`` pins drawn in proportion to popularity, whatever their topic."""
        cdf = self._global_cdf
        return np.minimum(np.searchsorted(cdf, g.random(n), side="right"), len(self) - 1)

    def sample_in_topic(self, topic: np.ndarray, g: np.random.Generator) -> np.ndarray:
        """One pin per entry of ``topic``, drawn in proportion to popularity within it."""
        order, flat, topic_end = self._topic_cdf
        position = np.searchsorted(flat, topic + g.random(len(topic)), side="right")
        return order[np.minimum(position, topic_end[topic] - 1)]

    @cached_property
    def _global_cdf(self) -> np.ndarray:
        cdf = np.cumsum(self.popularity)
        return cdf / cdf[-1]

    @cached_property
    def _topic_cdf(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Pins sorted by topic; within a topic the cumulative popularity share, shifted
        # by the topic's number: one sorted array serves every topic's sampler.
        order = np.argsort(self.topic, kind="stable")
        topic = self.topic[order]
        counts = np.bincount(topic, minlength=len(TOPICS))
        topic_end = np.cumsum(counts)
        cum = np.cumsum(self.popularity[order])
        before = np.concatenate([[0.0], cum[topic_end[:-1] - 1]])
        totals = cum[topic_end - 1] - before
        flat = topic + (cum - before[topic]) / totals[topic]
        flat[topic_end - 1] = np.arange(len(TOPICS)) + 1.0
        return order, flat, topic_end
