"""Loading a team's own logs from a landing folder (notiflow.landing, `notiflow load`).

One small world is simulated as landing files and loaded; the same world simulated
straight into the warehouse is the reference. The bad-input tests break a copy of
another world's landing folder (seed 8) and try to load it over the loaded world, so
that any partial write would change the warehouse's hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from notiflow import cli, contracts, landing, simulator
from notiflow.landing import LandingError
from notiflow.settings import Settings, SettingsError
from tests.conftest import START
from tests.unit.simulator_helpers import query, raw_hashes

DAYS = 3
DAY = dt.timedelta(days=1)
D1, D2 = START.isoformat(), (START + DAY).isoformat()


def _home(root: Path, name: str) -> Settings:
    return Settings.load(
        {
            "NOTIFLOW_HOME": str(root / name),
            "NOTIFLOW_SIM_USERS": "300",
            "NOTIFLOW_SIM_PINS": "60",
        }
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landing")


@pytest.fixture(scope="module")
def direct(root) -> dict[str, str]:
    """The raw hashes of the world simulated straight into the warehouse."""
    settings = _home(root, "direct")
    simulator.simulate(settings, START, DAYS)
    return raw_hashes(settings)


@pytest.fixture(scope="module")
def landed(root) -> Settings:
    """The same world simulated as landing files (under its landing_dir), not yet loaded."""
    settings = _home(root, "landed")
    simulator.simulate(settings, START, DAYS, to_landing=settings.landing_dir)
    return settings


@pytest.fixture(scope="module")
def loaded(root, landed) -> Settings:
    """A warehouse holding the landed world, loaded day by day."""
    settings = _home(root, "loaded")
    days = []
    landing.load_days(
        settings,
        START,
        DAYS,
        landing_dir=landed.landing_dir,
        progress=lambda day, rows: days.append(day),
    )
    assert days == [START + i * DAY for i in range(DAYS)]
    return settings


@pytest.fixture(scope="module")
def other_landing(root) -> Path:
    """Two days of another world (seed 8) as landing files: the tests' clean input to break."""
    settings = _home(root, "other")
    simulator.simulate(settings, START, 2, seed=8, to_landing=settings.landing_dir)
    return settings.landing_dir


@pytest.fixture
def broken(tmp_path, other_landing) -> Path:
    """A copy of the other world's landing folder, for one test to break."""
    return Path(shutil.copytree(other_landing, tmp_path / "landing"))


def _rewrite(path: Path, select: str, to: Path | None = None) -> Path:
    """Replace a landed Parquet file by ``select`` over its rows (table ``t``), written as
    Parquet or CSV after ``to``'s suffix (default: in place)."""
    to = to or path
    with duckdb.connect() as con:
        con.execute(
            f"create table t as select * from read_parquet('{path}', hive_partitioning = false)"
        )
        path.unlink()
        kind = "csv" if to.suffix == ".csv" else "parquet"
        con.execute(f"copy ({select}) to '{to}' (format {kind})")
    return to


def _file(landing_dir: Path, table: str, ds: str | None = D1) -> Path:
    return landing.table_folder(landing_dir, table, ds) / landing.WRITTEN_FILE


@pytest.fixture
def refused(loaded, direct, broken) -> Callable[[], str]:
    """Loading day 1 of ``broken`` over the loaded world fails with a LandingError, and the
    warehouse still holds exactly that world; returns the error's message."""

    def refused() -> str:
        with pytest.raises(LandingError) as error:
            landing.load_day(loaded, D1, landing_dir=broken)
        assert raw_hashes(loaded) == direct, "a refused load changed the warehouse"
        assert "nothing was loaded" in str(error.value)
        return str(error.value)

    return refused


# ---- Loading what was landed ----


def test_a_landed_world_loads_identical_to_the_simulated_one(loaded, direct):
    assert raw_hashes(loaded) == direct
    counts = query(loaded, "select ds, count(*) from raw.notifications group by ds order by ds")
    assert [day for day, _ in counts] == [START + i * DAY for i in range(DAYS)]
    assert all(n > 0 for _, n in counts)


def test_simulating_to_landing_writes_files_not_the_warehouse(landed):
    assert query(landed, "select count(*) from raw.notifications") == [(0,)]
    assert query(landed, "select count(*) from raw.users") == [(0,)]
    assert _file(landed.landing_dir, "users", None).is_file()
    for day in range(DAYS):
        ds = (START + day * DAY).isoformat()
        for table in contracts.RAW_TABLES:
            if table not in contracts.DIMENSION_TABLES:
                assert _file(landed.landing_dir, table, ds).is_file(), (table, ds)
    # Hive layout: ds is the folder, not a column of the files.
    with duckdb.connect() as con:
        columns = con.sql(
            f"select * from read_parquet('{_file(landed.landing_dir, 'notifications')}', "
            "hive_partitioning = false)"
        ).columns
    assert "ds" not in columns and "sent_ts" in columns


def test_csv_files_load_like_parquet(tmp_path, landed, loaded):
    folder = Path(shutil.copytree(landed.landing_dir, tmp_path / "landing"))
    for table in contracts.RAW_TABLES:
        path = _file(folder, table, None if table in contracts.DIMENSION_TABLES else D1)
        _rewrite(path, "select * from t", path.with_suffix(".csv"))
    settings = _home(tmp_path, "csv")
    landing.load_day(settings, D1, landing_dir=folder)
    assert raw_hashes(settings) == raw_hashes(loaded, f"ds = '{D1}'") | {
        table: raw_hashes(loaded)[table] for table in contracts.DIMENSION_TABLES
    }


def test_reloading_a_day_replaces_exactly_that_day(tmp_path, loaded, other_landing):
    settings = _home(tmp_path, "reload")
    shutil.copytree(loaded.warehouse_path.parent, settings.warehouse_path.parent)
    day3 = raw_hashes(settings, f"ds = '{(START + 2 * DAY).isoformat()}'")
    landing.load_day(settings, D2, landing_dir=other_landing)
    assert raw_hashes(settings, f"ds = '{D2}'") != raw_hashes(loaded, f"ds = '{D2}'")
    assert raw_hashes(settings, f"ds = '{(START + 2 * DAY).isoformat()}'") == day3
    assert raw_hashes(settings, f"ds = '{D1}'") == raw_hashes(loaded, f"ds = '{D1}'")


def test_null_or_absent_propensities_load(tmp_path, broken):
    """A logging system that never recorded propensities: the column null, or absent."""
    _rewrite(
        _file(broken, "notifications", D1), "select * replace (null::double as propensity) from t"
    )
    _rewrite(_file(broken, "notifications", D2), "select * exclude (propensity) from t")
    settings = _home(tmp_path, "nulls")
    landing.load_days(settings, START, 2, landing_dir=broken)
    rows = query(settings, "select count(*), count(propensity) from raw.notifications")
    assert rows[0][0] > 0 and rows[0][1] == 0


def test_experiment_assignments_are_optional(tmp_path, broken):
    shutil.rmtree(broken / "experiment_assignments")
    settings = _home(tmp_path, "no_assignments")
    rows = landing.load_day(settings, D1, landing_dir=broken)
    assert rows["experiment_assignments"] == 0 and rows["users"] == 300
    assert query(settings, "select count(*) from raw.experiment_assignments") == [(0,)]


def test_a_few_rows_outside_the_day_are_left_to_the_raw_gx_suite(tmp_path, broken):
    """Late data (a minority of rows outside the day) loads; the raw suite measures it."""
    path = _file(broken, "engagement_events")
    _rewrite(
        path,
        "select * replace (case when row_number() over (order by event_id) <= 3 "
        "then event_ts - interval 2 day else event_ts end as event_ts) from t",
    )
    settings = _home(tmp_path, "late")
    landing.load_day(settings, D1, landing_dir=broken)
    late = query(settings, f"select count(*) from raw.engagement_events where event_ts < '{D1}'")
    assert late == [(3,)]


# ---- Bad input: a clear error, and the warehouse as it was ----


def test_a_missing_required_column(refused, broken):
    _rewrite(_file(broken, "notifications"), "select * exclude (notification_id) from t")
    message = refused()
    assert f"notifications/ds={D1}/part-0.parquet" in message
    assert "missing column notification_id" in message and "not null" in message


def test_a_column_the_contract_does_not_know(refused, broken):
    """The schema_drift fault: propensity renamed to propensity_score."""
    _rewrite(
        _file(broken, "notifications"),
        "select * exclude (propensity), propensity::varchar as propensity_score from t",
    )
    message = refused()
    assert f"notifications/ds={D1}/part-0.parquet" in message
    assert "column propensity_score is not in the contract of raw.notifications" in message


@pytest.mark.parametrize(
    ("table", "column", "kind"),
    [("engagement_events", "event_ts", "timestamp"), ("notification_items", "position", "integer")],
)
def test_an_unparseable_value(refused, broken, table, column, kind):
    path = _rewrite(
        _file(broken, table),
        f"select * replace (case when row_number() over () = 2 then 'abc' "
        f"else {column}::varchar end as {column}) from t",
        _file(broken, table).with_suffix(".csv"),
    )
    message = refused()
    assert f"{table}/ds={D1}/{path.name}" in message
    assert f"column {column}: not a valid {kind} in 1 row, e.g. {column}='abc' where" in message


def test_a_null_in_a_not_null_column(refused, broken):
    _rewrite(
        _file(broken, "engagement_events"),
        "select * replace (case when row_number() over () = 1 then null "
        "else event_id end as event_id) from t",
    )
    message = refused()
    assert f"engagement_events/ds={D1}/part-0.parquet" in message
    assert "column event_id: null, but the contract says event_id varchar not null" in message
    assert "in 1 row" in message


@pytest.mark.parametrize("state", ["does not exist", "is empty"])
def test_a_missing_or_empty_day_folder(refused, broken, state):
    folder = landing.table_folder(broken, "notification_events", D1)
    shutil.rmtree(folder)
    if state == "is empty":
        folder.mkdir()
        (folder / "_SUCCESS").touch()
    message = refused()
    assert f"notification_events/ds={D1}/: {state}" in message
    assert "required table notification_events" in message


def test_a_missing_dimension_table(refused, broken):
    shutil.rmtree(broken / "users")
    message = refused()
    assert "users/: does not exist; expected the whole table of required table users" in message


def test_a_file_of_another_day(refused, broken):
    """Day 2's notifications landed in day 1's folder."""
    shutil.copy(_file(broken, "notifications", D2), _file(broken, "notifications", D1))
    message = refused()
    assert f"notifications/ds={D1}/part-0.parquet" in message
    assert "column sent_ts:" in message and f"outside [{D1}, {D2})" in message
    assert "a file of another day" in message


def test_a_ds_column_of_another_day(refused, broken):
    _rewrite(_file(broken, "pins"), f"select *, date '{D2}' as ds from t")
    message = refused()
    assert f"pins/ds={D1}/part-0.parquet" in message
    assert f"column ds: not the folder's day {D1} in 60 rows of 60, e.g. ds='{D2}'" in message


def test_the_same_file_landed_twice(refused, broken):
    path = _file(broken, "engagement_events")
    shutil.copy(path, path.with_name("part-1.parquet"))
    message = refused()
    assert (
        f"engagement_events/ds={D1}/part-1.parquet: the same content as part-0.parquet" in message
    )
    assert "landed twice" in message


def test_a_folder_for_a_table_the_contract_does_not_know(refused, broken):
    shutil.copytree(broken / "engagement_events", broken / "clicks")
    message = refused()
    assert "clicks/: a folder for table 'clicks', which the raw contract does not know" in message


def test_every_problem_of_the_day_is_listed(refused, broken):
    _rewrite(_file(broken, "notifications"), "select * exclude (notification_id) from t")
    shutil.rmtree(landing.table_folder(broken, "pins", D1))
    message = refused()
    assert "(2 problems)" in message
    assert "notifications/ds=2026-10-01/part-0.parquet: missing column" in message
    assert "pins/ds=2026-10-01/: does not exist" in message
    with pytest.raises(LandingError) as error:
        landing.load_day(_home(broken.parent, "tables"), D1, landing_dir=broken)
    assert error.value.tables == ["notifications", "pins"]


def test_a_clean_copy_of_the_bad_input_would_change_the_warehouse(tmp_path, loaded, other_landing):
    """The bad-input tests' control: the unbroken input does load, and differs from what the
    warehouse holds (so a partial write would show in the hashes)."""
    settings = _home(tmp_path, "control")
    shutil.copytree(loaded.warehouse_path.parent, settings.warehouse_path.parent)
    before = raw_hashes(settings)
    landing.load_day(settings, D1, landing_dir=other_landing)
    after = raw_hashes(settings)
    assert {table for table in before if before[table] != after[table]} == set(
        contracts.RAW_TABLES
    ) - {"notification_plan_drops"}  # no drops without a plan, in both worlds


# ---- The command line and the settings ----


def test_notiflow_load_cli(tmp_path, monkeypatch, capsys, landed, direct, broken):
    settings = _home(tmp_path, "cli")
    monkeypatch.setenv("NOTIFLOW_HOME", str(settings.home))
    argv = ["load", "--landing", str(landed.landing_dir), "--start", D1, "--days", str(DAYS)]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["rows_loaded"]["users"] == 300
    assert err.count("loaded 2026-10-0") == DAYS
    assert raw_hashes(settings) == direct

    assert cli.main(["load", "--landing", str(broken), "--ds", "2026-10-05"]) == 2
    assert "notiflow load: error: cannot load 2026-10-05" in capsys.readouterr().err
    assert raw_hashes(settings) == direct


def test_notiflow_simulate_to_landing_cli(tmp_path, monkeypatch, capsys, landed):
    settings = _home(tmp_path, "cli_simulate")
    for name, value in settings.as_environment().items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "out"
    argv = ["simulate", "--start", D1, "--days", "1", "--to-landing", str(folder)]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["landing"] == str(folder)
    assert (
        _file(folder, "notifications").read_bytes()
        == _file(landed.landing_dir, "notifications").read_bytes()
    )


def test_source_and_landing_dir_settings(tmp_path):
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    assert settings.source == "simulator"
    assert settings.landing_dir == tmp_path / "landing"
    assert Settings.load({"NOTIFLOW_SOURCE": "landing"}).source == "landing"
    with pytest.raises(SettingsError, match="NOTIFLOW_SOURCE='kafka'"):
        Settings.load({"NOTIFLOW_SOURCE": "kafka"})


def test_a_file_that_is_not_parquet(refused, broken):
    _file(broken, "pins").write_bytes(b"user_id,ds\nu1,2026-10-01\n")
    message = refused()
    assert f"pins/ds={D1}/part-0.parquet: cannot be read as Parquet" in message


def test_a_schema_drift_fault_lands_and_the_loader_refuses_it(tmp_path, loaded, direct):
    """simulate --inject schema_drift --to-landing: the logger writes the drifted file."""
    settings = _home(tmp_path, "drift")
    simulator.simulate(settings, START, 1, fault="schema_drift", to_landing=tmp_path / "drift")
    with pytest.raises(LandingError, match="column propensity_score is not in the contract"):
        landing.load_day(loaded, D1, landing_dir=tmp_path / "drift")
    assert raw_hashes(loaded) == direct


# ---- The daily_features task ----


def test_the_land_day_task_loads_from_the_landing_folder_or_records_the_refusal(
    tmp_path, landed, direct, broken
):
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.results import latest_results
    from notiflow_airflow.tasks import land_day

    home = {"NOTIFLOW_HOME": str(tmp_path / "home"), "NOTIFLOW_SOURCE": "landing"}
    settings = Settings.load({**home, "NOTIFLOW_LANDING_DIR": str(landed.landing_dir)})
    for offset in range(DAYS):
        land_day(settings, (START + offset * DAY).isoformat(), None, 0.2, run_id="landing-run")
    assert raw_hashes(settings) == direct

    with pytest.raises(AirflowFailException, match="drill with source=simulator"):
        land_day(settings, D1, "nulls", 0.2)
    _rewrite(_file(broken, "notifications"), "select * exclude (notification_id) from t")
    refusing = Settings.load({**home, "NOTIFLOW_LANDING_DIR": str(broken)})
    with pytest.raises(AirflowFailException, match="notification_id"):
        land_day(refusing, D1, None, 0.2, run_id="refused-run")
    assert raw_hashes(settings) == direct
    (refusal,) = [r for r in latest_results(settings, ds=D1) if r["run_id"] == "refused-run"]
    assert refusal["table_name"] == "raw.notifications"
    assert refusal["expectation"] == "load_contract"
    assert refusal["success"] is False and "notification_id" in refusal["observed_value"]


def test_a_landed_world_builds_the_marts_of_the_simulated_one(root, loaded, direct):
    """Loaded files give the same raw layer, hence the same features: dbt built over both
    gives the same marts (the ``direct`` fixture's home holds the simulated world). Equal
    to the last bit but for floating-point sums, whose last digit depends on the order
    DuckDB scans the rows in (the load writes them in another physical order)."""
    import numpy as np

    from notiflow import domain, warehouse
    from notiflow.dbt import run_dbt

    def marts(settings: Settings) -> dict[str, pd.DataFrame]:
        run_dbt(settings, ["build", "--quiet", "--exclude", "resource_type:test"], capture=True)
        with warehouse.connect(settings, read_only=True) as con:
            return {
                mart: con.execute(f"select * from {domain.mart_table(mart)}").fetchdf()
                for mart in domain.FEATURE_MARTS
            }

    simulated, landed = marts(_home(root, "direct")), marts(loaded)
    for mart, expected in simulated.items():
        got = landed[mart]
        assert list(got.columns) == list(expected.columns) and len(got) == len(expected), mart
        exact = [c for c in expected.columns if expected[c].dtype.kind != "f"]
        expected = expected.sort_values(exact, ignore_index=True)
        got = got.sort_values(exact, ignore_index=True)
        pd.testing.assert_frame_equal(got[exact], expected[exact], obj=mart)
        for column in set(expected.columns) - set(exact):
            np.testing.assert_allclose(
                got[column], expected[column], rtol=1e-12, atol=1e-15, err_msg=f"{mart}.{column}"
            )
