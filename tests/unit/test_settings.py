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


@pytest.mark.parametrize(
    ("choice", "needs"),
    [
        ({"NOTIFLOW_TFX_RUNNER": "kubernetes"}, "NOTIFLOW_TFX_IMAGE"),
        ({"NOTIFLOW_METADATA_STORE": "mysql"}, "NOTIFLOW_METADATA_MYSQL_HOST"),
        ({"NOTIFLOW_WAREHOUSE_TARGET": "bigquery"}, "NOTIFLOW_BIGQUERY_PROJECT"),
    ],
)
def test_a_production_choice_names_the_settings_it_lacks(choice, needs):
    with pytest.raises(SettingsError, match=needs):
        Settings.load(choice)
    with pytest.raises(SettingsError, match="NOTIFLOW_TFX_RUNNER"):
        Settings.load({"NOTIFLOW_TFX_RUNNER": "yarn"})


def test_a_secret_is_read_but_never_passed_on_nor_shown(tmp_path):
    s = Settings.load({"NOTIFLOW_HOME": str(tmp_path), "NOTIFLOW_METADATA_MYSQL_PASSWORD": "pw-1"})
    assert s.metadata_mysql_password == "pw-1"
    assert "pw-1" not in repr(s)
    assert "pw-1" not in s.as_environment().values()
    assert "pw-1" not in s.portable_environment().values()


def test_the_portable_environment_leaves_this_installations_paths_to_the_image(tmp_path):
    s = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    portable = s.portable_environment()
    assert portable["NOTIFLOW_HOME"] == str(tmp_path)  # mounted at the same path
    assert not {"NOTIFLOW_PROJECT_DIR", "NOTIFLOW_VENVS_DIR", "NOTIFLOW_DBT_PROJECT_DIR",
                "NOTIFLOW_DAGS_DIR"} & set(portable)  # fmt: skip
    assert set(s.as_environment()) - set(portable) == {
        "NOTIFLOW_PROJECT_DIR", "NOTIFLOW_VENVS_DIR", "NOTIFLOW_DBT_PROJECT_DIR",
        "NOTIFLOW_DAGS_DIR"
    }  # fmt: skip
