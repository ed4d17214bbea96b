"""Simulating days into the warehouse, carrying the world's state in the truth store.

A world begins on the first day it is simulated. Simulating day D needs the
state at the end of D-1 (or D to be the world's first day):

* days already simulated are re-simulated: day D's raw partitions and truth are
  replaced, nothing else. With the same configuration (and no new plan for D),
  D comes out identical, so later days stay consistent. If D changes (a plan for
  D appeared, a fault was injected), the stored days after D keep what they were
  simulated from; re-simulate D..last in one call to carry the change forward.
* a day after a gap first simulates the missing days (without faults), because
  the state of D-1 exists only once D-1 has been lived.
* a different configuration (seed, users, pins, holdout, exploration) or a day
  before the world's first starts a new world on that day: the truth store and
  the raw layer are emptied first, since the old days belong to another world.

With ``to_landing`` the days' raw tables are written as landing files instead
(:func:`notiflow.landing.write_tables`), for ``notiflow.landing`` to load, as a
team's loggers would: the simulator then only reads the warehouse (the day's plan),
except that a new world still empties its raw layer. The truth store is kept either way.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb

from notiflow import landing, warehouse
from notiflow.settings import Settings
from notiflow.simulator.catalog import Catalog, pins_added_on
from notiflow.simulator.day import DayInputs, simulate_day
from notiflow.simulator.faults import FAULTS, inject
from notiflow.simulator.state import UserState
from notiflow.simulator.truth import TruthStore
from notiflow.simulator.world import Stream, World, WorldConfig, rng

log = logging.getLogger(__name__)


def world_config(
    settings: Settings,
    *,
    users: int | None = None,
    pins: int | None = None,
    seed: int | None = None,
) -> WorldConfig:
    """The world the settings describe, with explicit sizes or seed taking precedence."""
    return WorldConfig(
        seed=settings.sim_seed if seed is None else seed,
        n_users=settings.sim_users if users is None else users,
        n_pins=settings.sim_pins if pins is None else pins,
        holdout_share=settings.sim_holdout_share,
        exploration=settings.sim_exploration,
    )


def simulate(
    settings: Settings,
    start: dt.date,
    days: int,
    *,
    users: int | None = None,
    pins: int | None = None,
    seed: int | None = None,
    fault: str | None = None,
    fault_day: dt.date | None = None,
    severity: float = 0.2,
    progress: Callable[[dt.date, int], None] | None = None,
    new_world: bool = False,
    to_landing: Path | None = None,
) -> dict[str, int]:
    """Simulate ``days`` days from ``start`` into the warehouse; returns rows written per table.

    ``fault`` is injected on ``fault_day`` (default: every requested day), hitting a
    ``severity`` share of rows. ``progress(day, sends)`` is called after each day.
    A different world (seed, sizes, shares) or a start before the world's first day
    replaces the whole raw layer and truth store, so it needs ``new_world=True``.
    With ``to_landing`` (a folder) the raw tables go there as landing files, not to the
    warehouse.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    if not 0.0 < severity <= 1.0:
        raise ValueError(f"severity must be in (0, 1], got {severity}")
    end = start + dt.timedelta(days=days - 1)
    if fault_day is not None and not start <= fault_day <= end:
        raise ValueError(f"inject day {fault_day} is outside the simulated days {start}..{end}")
    config = world_config(settings, users=users, pins=pins, seed=seed)

    written: Counter[str] = Counter()
    with warehouse.connect(settings) as con, TruthStore.open(settings) as store:
        write_raw = (
            functools.partial(warehouse.replace_tables, con)
            if to_landing is None
            else functools.partial(landing.write_tables, Path(to_landing))
        )
        world, first = _resume(store, con, config, start, new_world=new_world)
        dimensions = {
            "users": world.users_frame(),
            "experiment_assignments": world.assignments_frame(),
        }
        write_raw(dimensions)
        written.update({table: len(frame) for table, frame in dimensions.items()})
        catalog = Catalog.as_of(config, world.first_day, first)
        state = (
            UserState.initial(world)
            if first == world.first_day
            else store.state_at_end_of(first - dt.timedelta(days=1), world.n_users)
        )
        day = first
        while day <= end:
            if day > first:
                catalog = Catalog([*catalog.batches, pins_added_on(config, day)])
            inputs = DayInputs(
                world=world,
                catalog=catalog,
                state=state,
                sends_7d=store.sends_before(day, world.n_users),
                pending=store.pending_due(day),
                plan=warehouse.read_plan(con, day.isoformat()),
            )
            result = simulate_day(inputs, day)
            raw = result.raw
            if fault is not None and day >= start and fault_day in (None, day):
                raw = inject(fault, raw, rng(config.seed, Stream.FAULTS, day), severity)
            write_raw(raw, ds=day.isoformat())
            store.write_day(day, result.truth)
            state = result.state
            written.update({table: len(frame) for table, frame in raw.items()})
            if progress is not None:
                progress(day, result.n_sends)
            day += dt.timedelta(days=1)
    return dict(written)


def _resume(
    store: TruthStore,
    con: duckdb.DuckDBPyConnection,
    config: WorldConfig,
    start: dt.date,
    *,
    new_world: bool,
) -> tuple[World, dt.date]:
    """The world to continue and the first day to simulate (earlier than ``start`` after a gap)."""
    known = store.world()
    if known is not None and known[0] == config and known[1] <= start:
        world = World.create(config, known[1])
        last = store.last_day()
        resume = world.first_day if last is None else last + dt.timedelta(days=1)
        if resume < start:
            log.warning(
                "simulating the missing days %s..%s first", resume, start - dt.timedelta(days=1)
            )
        return world, min(start, resume)
    if known is not None and not new_world:
        reason = "its first day is later" if known[0] == config else f"it is {known[0]}"
        raise ValueError(
            f"the warehouse holds another world ({reason}, first day {known[1]}); simulating "
            f"{config} from {start} would replace the whole raw layer and truth store. "
            "Pass new_world=True (CLI: --new-world) to do that."
        )
    if known is not None:
        log.warning(
            "starting a new world on %s (%s); the previous one (%s, first day %s) is removed "
            "from the truth store and the raw layer",
            start, config, known[0], known[1],
        )  # fmt: skip
    world = World.create(config, start)
    warehouse.reset_raw_schema(con)
    store.begin_world(world)
    return world, start
