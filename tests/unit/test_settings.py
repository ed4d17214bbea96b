import pytest

from notiflow.settings import Settings, SettingsError
from tests.paths import REPO_ROOT


def test_defaults_resolve_under_home():
    s = Settings.load({})
    assert s.home == REPO_ROOT / ".notiflow"
    assert s.warehouse_path == s.home / "warehouse" / "notiflow.duckdb"
    assert s.airflow_home == s.home / "airflow"
    assert s.venvs_dir == REPO_ROOT / ".venvs"
    assert s.warehouse_target == "duckdb"


def test_environment_overrides_and_types(tmp_path):
    s = Settings.load({"NOTIFLOW_HOME": str(tmp_path), "NOTIFLOW_SIM_USERS": "42"})
    assert s.home == tmp_path
    assert s.serving_dir == tmp_path / "serving"
    assert s.sim_users == 42


def test_bad_values_name_the_setting():
    with pytest.raises(SettingsError, match="NOTIFLOW_SIM_USERS"):
        Settings.load({"NOTIFLOW_SIM_USERS": "many"})
    with pytest.raises(SettingsError, match="NOTIFLOW_WAREHOUSE_TARGET"):
        Settings.load({"NOTIFLOW_WAREHOUSE_TARGET": "oracle"})


def test_round_trips_through_child_environment(tmp_path):
    s = Settings.load({"NOTIFLOW_HOME": str(tmp_path), "NOTIFLOW_AUC_FLOOR": "0.7"})
    assert Settings.load(s.as_environment()) == s
