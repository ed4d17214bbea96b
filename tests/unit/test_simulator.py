import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from notiflow import simulator, warehouse
from tests.conftest import START


def _table_hashes(settings) -> dict[str, str]:
    with warehouse.connect(settings, read_only=True) as con:
        return {
            table: hashlib.sha256(
                pd.util.hash_pandas_object(
                    con.execute(f"select * from raw.{table} order by all").fetchdf(), index=False
                ).values.tobytes()
            ).hexdigest()
            for table in warehouse.RAW_TABLES
        }


def test_same_seed_same_tables(small_world_settings, tmp_path, monkeypatch):
    simulator.simulate(small_world_settings, START, 3)
    first = _table_hashes(small_world_settings)
    monkeypatch.setenv("NOTIFLOW_HOME", str(tmp_path / "other"))
    from notiflow.settings import Settings

    other = Settings.load()
    simulator.simulate(other, START, 3)
    assert _table_hashes(other) == first


def test_resimulating_a_day_replaces_exactly_that_day(small_world_settings):
    simulator.simulate(small_world_settings, START, 3)
    before = _table_hashes(small_world_settings)
    # a backfill of the middle day, in any order, gives the same warehouse
    simulator.simulate(small_world_settings, START + dt.timedelta(days=1), 1)
    assert _table_hashes(small_world_settings) == before
    with warehouse.connect(small_world_settings, read_only=True) as con:
        days = con.execute("select ds, count(*) from raw.notifications group by 1 order by 1").fetchall()
    assert [d for d, _ in days] == [START + dt.timedelta(days=i) for i in range(3)]


def test_open_probability_depends_on_channel_hour_activity_and_affinity():
    world = simulator.World.create(5000, 200, seed=1)
    n = 4
    channel = np.array(["push", "email", "push", "push"])
    local_hour = np.array([19, 19, 7, 19])
    activity = np.array([0.3, 0.3, 0.3, 0.3])
    active_hour = np.full(n, 19.0)
    affinity = np.array([0.2, 0.2, 0.2, 0.2])
    base = simulator.true_open_logit(channel, local_hour, activity, active_hour, affinity)
    assert base[1] > base[0]  # email opens more than push
    assert base[0] > base[2]  # at the user's active hour more than at an off hour
    higher_activity = simulator.true_open_logit(channel, local_hour, activity * 2, active_hour, affinity)
    assert (higher_activity > base).all()
    higher_affinity = simulator.true_open_logit(channel, local_hour, activity, active_hour, affinity * 3)
    assert (higher_affinity > base).all()
    assert world.interests.shape == (5000, len(simulator.TOPICS))
    np.testing.assert_allclose(world.interests.sum(axis=1), 1.0)


def test_empirical_open_rates_by_channel_are_plausible():
    world = simulator.World.create(4000, 200, seed=3)
    tables = simulator.simulate_day(world, START, seed=3)
    sends = tables["notifications"]
    opens = tables["notification_events"].query("event_type == 'open'")["notification_id"]
    rate = sends.assign(opened=sends.notification_id.isin(opens)).groupby("channel").opened.mean()
    assert 0.02 <= rate["push"] <= 0.12
    assert 0.10 <= rate["email"] <= 0.35
    assert 0.04 <= rate["in_app"] <= 0.22
    # opt-outs are respected by the logging policy
    users = world.users.set_index("user_id")
    pushed = users.loc[sends.loc[sends.channel == "push", "user_id"]]
    assert pushed.push_opt_in.all()
    assert ((sends.propensity > 0) & (sends.propensity <= 1)).all()


def test_out_of_range_fault_hits_only_the_chosen_day(small_world_settings):
    fault_day = START + dt.timedelta(days=1)
    simulator.simulate(small_world_settings, START, 3, fault="out_of_range", fault_day=fault_day)
    with warehouse.connect(small_world_settings, read_only=True) as con:
        bad = dict(
            con.execute(
                "select ds, count(*) filter (where propensity > 1) from raw.notifications group by 1"
            ).fetchall()
        )
    assert bad[fault_day] > 0
    assert bad[START] == 0 and bad[START + dt.timedelta(days=2)] == 0


def test_bad_arguments_are_named(small_world_settings):
    with pytest.raises(ValueError, match="unknown fault 'meteor'"):
        simulator.simulate(small_world_settings, START, 1, fault="meteor")
    with pytest.raises(ValueError, match="days must be >= 1"):
        simulator.simulate(small_world_settings, START, 0)
