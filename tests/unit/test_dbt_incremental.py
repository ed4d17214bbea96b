"""Daily incremental dbt runs are idempotent and end where a full build ends."""

import datetime as dt

import pandas as pd
import pytest

from notiflow import simulator, warehouse
from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from tests.conftest import START

pytestmark = pytest.mark.idempotency

DAYS = [START + dt.timedelta(days=i) for i in range(4)]
WORLD = {"NOTIFLOW_SIM_USERS": "300", "NOTIFLOW_SIM_PINS": "60"}
# Fewer retained candidate days than days built, so that retention is part of the proof.
CANDIDATE_RETENTION_DAYS = 2


def _settings(home) -> Settings:
    return Settings.load({"NOTIFLOW_HOME": str(home), **WORLD})


def _run(settings: Settings, day: dt.date | None = None) -> None:
    ds = f"ds: '{day}', " if day else ""
    variables = f"{{{ds}candidate_retention_days: {CANDIDATE_RETENTION_DAYS}}}"
    run_dbt(settings, ["run", "--quiet", "--vars", variables])


def _tables(settings: Settings) -> dict[str, pd.DataFrame]:
    with warehouse.connect(settings, read_only=True) as con:
        names = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                """select table_schema, table_name from information_schema.tables
                   where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE'
                   order by 1, 2"""
            ).fetchall()
        ]
        frames = {name: con.execute(f"select * from {name}").fetchdf() for name in names}
    for name, frame in frames.items():
        columns = sorted(frame.columns)
        keys = [c for c in columns if frame[c].dtype.kind != "f"]
        frames[name] = frame[columns].sort_values(keys).reset_index(drop=True)
    return frames


def _assert_same(expected: dict[str, pd.DataFrame], actual: dict[str, pd.DataFrame]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, frame in expected.items():
        assert len(frame) > 0, f"{name} is empty: the comparison would prove nothing"
        # float sums may differ in the last bits with the order DuckDB adds them in
        pd.testing.assert_frame_equal(frame, actual[name], check_exact=False, rtol=1e-12, obj=name)


@pytest.fixture(scope="module")
def full_build(tmp_path_factory) -> dict[str, pd.DataFrame]:
    settings = _settings(tmp_path_factory.mktemp("full"))
    simulator.simulate(settings, DAYS[0], len(DAYS))
    _run(settings)
    return _tables(settings)


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory) -> Settings:
    """Land one day at a time, as the daily DAG does, and run dbt for that day."""
    settings = _settings(tmp_path_factory.mktemp("daily"))
    for day in DAYS:
        simulator.simulate(settings, day, 1, new_world=day == DAYS[0])
        _run(settings, day)
    return settings


def test_day_by_day_incremental_runs_equal_a_full_build(full_build, day_by_day):
    _assert_same(full_build, _tables(day_by_day))


@pytest.mark.parametrize("mart", ["ml_scoring_candidates", "ml_send_options"])
def test_only_the_newest_candidate_days_are_kept(full_build, day_by_day, mart):
    newest_landed = DAYS[-1]
    kept = sorted(full_build[f"marts.{mart}"]["ds"].dt.date.unique())
    assert kept == [newest_landed, newest_landed + dt.timedelta(days=1)]
    # the daily runs built tomorrow's rows each day and dropped the days out of retention
    pd.testing.assert_frame_equal(
        full_build[f"marts.{mart}"], _tables(day_by_day)[f"marts.{mart}"], rtol=1e-12, obj=mart
    )


def test_rerunning_a_past_day_changes_nothing(full_build, day_by_day):
    _run(day_by_day, DAYS[1])
    _run(day_by_day, DAYS[-1])
    _assert_same(full_build, _tables(day_by_day))


def test_a_malformed_day_is_refused_before_anything_is_written(day_by_day):
    before = _tables(day_by_day)
    done = run_dbt(day_by_day, ["run", "--vars", "{ds: '11/05/2026'}"], check=False, capture=True)
    assert done.returncode != 0
    assert "var 'ds' must be a date YYYY-MM-DD, got '11/05/2026'" in done.stdout
    _assert_same(before, _tables(day_by_day))


def test_a_daily_run_on_missing_history_is_refused(tmp_path):
    """Landed days whose features were never built: the daily run names them and writes nothing."""
    settings = _settings(tmp_path)
    simulator.simulate(settings, DAYS[0], 3)
    done = run_dbt(settings, ["run", "--vars", f"{{ds: '{DAYS[2]}'}}"], check=False, capture=True)
    assert done.returncode != 0
    assert (
        f"daily run for ds={DAYS[2]}: intermediate.int_user_activity_daily lacks landed day(s) "
        f"{DAYS[0]}, {DAYS[1]} of the 28 days before it"
    ) in " ".join(done.stdout.split())
    with warehouse.connect(settings, read_only=True) as con:
        built = con.execute(
            """select count(*) from information_schema.tables
               where table_schema in ('intermediate', 'marts')"""
        ).fetchone()[0]
    assert built == 0
