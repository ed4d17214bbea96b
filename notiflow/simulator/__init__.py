"""The world simulator: a seeded notifications world with ground truth.

It stands in for a consumer app's loggers. Day by day it lives a world of users
and pins (:mod:`.world`, :mod:`.catalog`, :mod:`.state`), their organic sessions
(:mod:`.organic`), the notifications sent by the logging policy (:mod:`.policy`)
or by the day's notification plan (:mod:`.plan`) and the users' responses
(:mod:`.response`), and writes what loggers would have logged into the raw layer
of the warehouse (:mod:`.logs`), or as landing files for :mod:`notiflow.landing`
to load (``simulate(..., to_landing=folder)``). The probabilities behind every outcome, the
users' latent traits and the state carried from day to day go to a separate
truth store (:mod:`.truth`) that features, models and gates never read. A day's
logs can be corrupted on purpose to drill the quality gates (:mod:`.faults`), and
:mod:`.report` checks that the world looks like published notification metrics.

Same seed and configuration, same tables: every day draws from its own random
streams, so a backfill of a range in one call and one call per day agree.
"""

from notiflow.simulator.faults import FAULTS
from notiflow.simulator.run import simulate, world_config

__all__ = ["FAULTS", "simulate", "world_config"]
