"""Determinism, idempotency and the day-to-day state of the world simulator."""

import datetime as dt

import pandas as pd
import pytest

from notiflow import simulator
from notiflow.settings import Settings
from notiflow.simulator.truth import TruthStore
from tests.conftest import START
from tests.unit.simulator_helpers import query, raw_hashes, truth_hashes

DAY = dt.timedelta(days=1)


def _home(tmp_path, name: str, **env: str) -> Settings:
    return Settings.load(
        {
            "NOTIFLOW_HOME": str(tmp_path / name),
            "NOTIFLOW_SIM_USERS": "300",
            "NOTIFLOW_SIM_PINS": "60",
            **env,
        }
    )


def test_same_seed_same_tables_and_another_seed_others(tmp_path):
    first, second, other = _home(tmp_path, "a"), _home(tmp_path, "b"), _home(tmp_path, "c")
    for settings in (first, second):
        simulator.simulate(settings, START, 3)
    simulator.simulate(other, START, 3, seed=8)
    assert raw_hashes(first) == raw_hashes(second)
    assert truth_hashes(first) == truth_hashes(second)
    differ = {t for t, h in raw_hashes(other).items() if h != raw_hashes(first)[t]}
    assert {"engagement_events", "notifications", "notification_events"} <= differ


def test_one_call_per_day_equals_a_backfill(tmp_path):
    backfill, daily = _home(tmp_path, "backfill"), _home(tmp_path, "daily")
    simulator.simulate(backfill, START, 4)
    for offset in range(4):
        simulator.simulate(daily, START + offset * DAY, 1)
    assert raw_hashes(daily) == raw_hashes(backfill)
    assert truth_hashes(daily) == truth_hashes(backfill)


def test_state_carries_over_days(small_world_settings):
    """Opens after midnight land the next day; unsubscribes stop later sends on that channel."""
    settings = small_world_settings
    simulator.simulate(settings, START, 6, users=1500)
    spilled = query(
        settings,
        """select count(*) from raw.notification_events e
           join raw.notifications n using (notification_id) where e.ds > n.ds""",
    )[0][0]
    assert spilled > 0
    unsubscribed = query(
        settings,
        """select n.user_id, n.channel, min(e.event_ts)::date as day from raw.notification_events e
           join raw.notifications n using (notification_id)
           where e.event_type = 'unsubscribe' group by 1, 2""",
    )
    assert unsubscribed, "a 1500-user world sees unsubscribes within 6 days"
    later = query(
        settings,
        """select count(*) from raw.notifications n
           join (select unnest(?) as user_id, unnest(?) as channel, unnest(?)::date as day) u
           using (user_id, channel) where n.ds > u.day""",
        [
            [u for u, _, _ in unsubscribed],
            [c for _, c, _ in unsubscribed],
            [d for *_, d in unsubscribed],
        ],
    )[0][0]
    assert later == 0


def test_resimulating_a_day_replaces_exactly_that_day(small_world_settings):
    simulator.simulate(small_world_settings, START, 3)
    before = raw_hashes(small_world_settings), truth_hashes(small_world_settings)
    simulator.simulate(small_world_settings, START + DAY, 1)
    assert (raw_hashes(small_world_settings), truth_hashes(small_world_settings)) == before
    days = query(small_world_settings, "select distinct ds from raw.notifications order by 1")
    assert [d for (d,) in days] == [START + i * DAY for i in range(3)]


def test_a_gap_is_filled_before_the_requested_day(tmp_path):
    gapped, whole = _home(tmp_path, "gapped"), _home(tmp_path, "whole")
    simulator.simulate(gapped, START, 1)
    written = simulator.simulate(gapped, START + 3 * DAY, 1)
    simulator.simulate(whole, START, 4)
    assert raw_hashes(gapped) == raw_hashes(whole)
    assert (
        written["notifications"]
        == query(whole, "select count(*) from raw.notifications where ds > ?", [START])[0][0]
    )


def test_another_world_needs_consent_then_starts_over(small_world_settings):
    simulator.simulate(small_world_settings, START, 2)
    with pytest.raises(ValueError, match="--new-world"):
        simulator.simulate(small_world_settings, START + 5 * DAY, 1, users=200)
    with pytest.raises(ValueError, match="its first day is later"):
        simulator.simulate(small_world_settings, START - DAY, 1)
    # refused calls changed nothing
    assert query(small_world_settings, "select count(*) from raw.users")[0][0] == 300
    simulator.simulate(small_world_settings, START + 5 * DAY, 1, users=200, new_world=True)
    assert query(small_world_settings, "select count(*) from raw.users")[0][0] == 200
    assert query(small_world_settings, "select distinct ds from raw.notifications") == [
        (START + 5 * DAY,)
    ]
    with TruthStore.open(small_world_settings, read_only=True) as store:
        config, first_day = store.world()
    assert (config.n_users, first_day) == (200, START + 5 * DAY)


def test_holdout_gets_no_notifications(small_world_settings):
    simulator.simulate(small_world_settings, START, 2, users=1000)
    with TruthStore.open(small_world_settings, read_only=True) as store:
        holdout = [u for (u,) in store.con.execute(
            "select user_id from world_truth.users where is_holdout"
        ).fetchall()]  # fmt: skip
    assert 20 < len(holdout) < 90  # 5% of 1000
    sent = query(
        small_world_settings,
        "select count(*) from raw.notifications where user_id in (select unnest(?))",
        [holdout],
    )[0][0]
    assert sent == 0


def test_bad_arguments_are_named(small_world_settings):
    with pytest.raises(ValueError, match="unknown fault 'meteor'"):
        simulator.simulate(small_world_settings, START, 1, fault="meteor")
    with pytest.raises(ValueError, match="days must be >= 1"):
        simulator.simulate(small_world_settings, START, 0)
    with pytest.raises(ValueError, match="severity must be in"):
        simulator.simulate(small_world_settings, START, 1, fault="nulls", severity=0)
    with pytest.raises(ValueError, match="outside the simulated days"):
        simulator.simulate(small_world_settings, START, 2, fault="nulls", fault_day=START - DAY)
    with pytest.raises(ValueError, match="pins must be >= 24"):
        simulator.simulate(small_world_settings, START, 1, pins=10)


def test_send_probabilities_of_a_days_sends_are_the_truth_stores(small_world_settings):
    """The oracle planner's P(open within the label window) and P(unsubscribe) of a
    hypothetical send are exactly what the world draws the same send with."""
    import numpy as np

    from notiflow.simulator.catalog import Catalog
    from notiflow.simulator.response import send_probabilities
    from notiflow.simulator.run import world_config
    from notiflow.simulator.state import activity
    from notiflow.simulator.truth import SCHEMA, TruthStore
    from notiflow.simulator.world import CHANNELS, World

    settings = small_world_settings
    day = START + 2 * DAY
    simulator.simulate(settings, START, 3)
    config = world_config(settings)
    with TruthStore.open(settings, read_only=True) as store:
        world = World.create(config, store.world()[1])
        state = store.state_at_end_of(day - DAY, world.n_users)
        sends_7d = store.sends_before(day, world.n_users)
        sends = store.con.execute(
            f"""select s.user_id, s.channel, s.local_hour, i.pin_id, s.p_open_24h, s.p_unsubscribe
                from {SCHEMA}.sends s join {SCHEMA}.items i
                  on i.notification_id = s.notification_id and i.position = 1
                where s.ds = ? order by s.notification_id""",
            [day],
        ).fetchdf()
    assert len(sends) > 50
    catalog = Catalog.as_of(config, world.first_day, day)
    p_open, p_unsubscribe = send_probabilities(
        world, catalog, state, activity(world, state.next_drift(world, day)), sends_7d, day,
        pd.Index(world.user_id).get_indexer(sends["user_id"]),
        pd.Index(CHANNELS).get_indexer(sends["channel"]),
        sends["local_hour"].to_numpy(), catalog.index_of(sends["pin_id"].to_numpy()),
    )  # fmt: skip
    np.testing.assert_allclose(p_open, sends["p_open_24h"], rtol=1e-9)
    np.testing.assert_allclose(p_unsubscribe, sends["p_unsubscribe"], rtol=1e-9)
