"""Each injected fault shows in the chosen day's raw partition as documented, and only there."""

import datetime as dt
import shutil

import pytest

from notiflow import contracts, simulator
from notiflow.settings import Settings
from tests.conftest import START
from tests.unit.simulator_helpers import query, raw_hashes, truth_hashes

FAULT_DAY = START + dt.timedelta(days=1)
OTHER_DAYS = f"ds <> '{FAULT_DAY}'"
ON_FAULT_DAY = f"ds = '{FAULT_DAY}'"


def _settings(home) -> Settings:
    return Settings.load(
        {"NOTIFLOW_HOME": str(home), "NOTIFLOW_SIM_USERS": "600", "NOTIFLOW_SIM_PINS": "60"}
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Settings:
    """Three clean days; each test injects its fault into a copy of them."""
    settings = _settings(tmp_path_factory.mktemp("clean_world"))
    simulator.simulate(settings, START, 3)
    return settings


def _faulted(clean: Settings, tmp_path, fault: str) -> Settings:
    settings = _settings(tmp_path / "home")
    for source, target in (
        (clean.warehouse_path, settings.warehouse_path),
        (clean.truth_path, settings.truth_path),
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    simulator.simulate(settings, FAULT_DAY, 1, fault=fault, severity=0.2)
    return settings


def _count(settings: Settings, table: str, condition: str = "true") -> int:
    return query(
        settings, f"select count(*) from raw.{table} where {ON_FAULT_DAY} and ({condition})"
    )[0][0]


def _fault_shows(fault: str, clean: Settings, faulted: Settings) -> None:
    """The documented symptom of ``fault`` on FAULT_DAY (see notiflow.simulator.faults)."""
    if fault == "nulls":
        assert _count(faulted, "notifications", "user_id is null") > 0
        assert _count(faulted, "notification_events", "notification_id is null") > 0
        assert _count(faulted, "engagement_events", "user_id is null") > 0
    elif fault == "duplicates":
        keys = {
            "notifications": "notification_id",
            "notification_events": "event_id",
            "engagement_events": "event_id",
        }
        for table, key in keys.items():
            distinct = query(
                faulted, f"select count(distinct {key}) from raw.{table} where {ON_FAULT_DAY}"
            )
            assert _count(faulted, table) > distinct[0][0] == _count(clean, table)
    elif fault == "late_data":
        for table in ("notification_events", "engagement_events"):
            assert _count(faulted, table, "event_ts < ds") > 0.1 * _count(faulted, table)
            assert _count(clean, table, "event_ts < ds or event_ts >= ds + interval 1 day") == 0
    elif fault == "empty_day":
        for table in (
            "notifications",
            "notification_items",
            "notification_events",
            "engagement_events",
        ):
            assert _count(faulted, table) == 0
        assert _count(faulted, "pins") == _count(clean, "pins")
    elif fault == "out_of_range":
        share = _count(faulted, "notifications", "propensity > 1") / _count(
            faulted, "notifications"
        )
        assert 0.1 < share < 0.3
        assert _count(clean, "notifications", "propensity > 1") == 0
    elif fault == "volume_drop":
        for table in ("notifications", "engagement_events"):
            assert 0.7 < _count(faulted, table) / _count(clean, table) < 0.9
        orphans = _count(
            faulted, "notification_items",
            "notification_id not in "
            f"(select notification_id from raw.notifications where {ON_FAULT_DAY})",
        )  # fmt: skip
        assert orphans == 0
    else:
        raise AssertionError(f"no symptom specified for {fault}")


@pytest.mark.parametrize("fault", [f for f in simulator.FAULTS if f != "schema_drift"])
def test_fault_shows_on_its_day_only_and_leaves_the_world_alone(fault, clean, tmp_path):
    faulted = _faulted(clean, tmp_path, fault)
    _fault_shows(fault, clean, faulted)
    assert raw_hashes(faulted, OTHER_DAYS) == raw_hashes(clean, OTHER_DAYS)
    assert raw_hashes(faulted, ON_FAULT_DAY) != raw_hashes(clean, ON_FAULT_DAY)
    # the truth and the state carried to later days are the clean day's
    assert truth_hashes(faulted) == truth_hashes(clean)
    # reloading the day without the fault restores it
    simulator.simulate(faulted, FAULT_DAY, 1)
    assert raw_hashes(faulted) == raw_hashes(clean)


def test_schema_drift_is_refused_at_load_and_keeps_the_day(clean, tmp_path):
    with pytest.raises(contracts.SchemaContractError) as refused:
        _faulted(clean, tmp_path, "schema_drift")
    message = str(refused.value)
    assert f"raw.notifications (ds={FAULT_DAY})" in message
    assert "missing columns ['propensity']" in message
    assert "unexpected columns ['propensity_score']" in message
    assert raw_hashes(_settings(tmp_path / "home")) == raw_hashes(clean)


def test_out_of_range_hits_only_the_chosen_day_of_a_range(small_world_settings):
    simulator.simulate(small_world_settings, START, 3, fault="out_of_range", fault_day=FAULT_DAY)
    bad = dict(
        query(
            small_world_settings,
            "select ds, count(*) filter (where propensity > 1) from raw.notifications group by 1",
        )
    )
    assert bad[FAULT_DAY] > 0
    assert bad[START] == 0 and bad[START + dt.timedelta(days=2)] == 0
