"""Every dbt model compiles for the BigQuery target offline and parses as BigQuery SQL."""

import json
import subprocess

import pytest

from notiflow.dbt import compile_offline
from notiflow.settings import Settings

pytestmark = pytest.mark.bigquery_compile

MODELS = {
    "staging": 8,
    "intermediate": 8,
    "marts": 6,
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("bq_home")
    return Settings.load({"NOTIFLOW_HOME": str(home), "NOTIFLOW_BIGQUERY_PROJECT": "acme-prod"})


@pytest.fixture(scope="module")
def compiled(settings, tmp_path_factory):
    """Target folders of a full and a daily compile."""
    root = tmp_path_factory.mktemp("bq_target")
    for name, dbt_vars in (("full", None), ("daily", {"ds": "2026-11-05"})):
        compile_offline(settings, "bigquery", root / name, dbt_vars)
    return root


def _parse(settings: Settings, folder) -> dict[str, dict]:
    python = settings.dbt_executable.parent / "python"
    done = subprocess.run(
        [str(python), "-m", "notiflow.sql_dialect_check", "--dialect", "bigquery", str(folder)],
        capture_output=True,
        text=True,
    )
    results = json.loads(done.stdout)
    return results


@pytest.mark.parametrize("build", ["full", "daily"])
def test_every_model_compiles_and_parses_as_bigquery(settings, compiled, build):
    models = compiled / build / "compiled" / "notiflow" / "models"
    results = _parse(settings, models)
    counts = {layer: sum(1 for f in results if f.startswith(layer + "/")) for layer in MODELS}
    assert counts == MODELS
    errors = {f: r["error"] for f, r in results.items() if r["error"]}
    assert errors == {}
    for file, result in results.items():
        # BigQuery relations are project.dataset.table; sources read the raw dataset
        assert result["tables"], file
        assert all(t.startswith("acme-prod.") for t in result["tables"]), (file, result)
    staging = results["staging/stg_raw__notifications.sql"]["tables"]
    assert "acme-prod.raw.notifications" in staging
    text = (models / "marts" / "user_features_daily.sql").read_text()
    assert "generate_date_array" in text and "date_add(" in text  # BigQuery macros, not DuckDB's
    assert "interval (" not in text


def test_the_checker_rejects_sql_that_is_not_bigquery(settings, tmp_path):
    (tmp_path / "bad.sql").write_text("select * from t where x = = 1")
    (tmp_path / "good.sql").write_text("select a from `p.d.t` qualify row_number() over () = 1")
    results = _parse(settings, tmp_path)
    assert results["bad.sql"]["error"] and results["good.sql"]["error"] is None


def test_incremental_models_are_partitioned_by_day_and_clustered_on_bigquery(compiled):
    manifest = json.loads((compiled / "full" / "manifest.json").read_text())
    models = {
        node["name"]: node["config"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    incremental = {n: c for n, c in models.items() if c["materialized"] == "incremental"}
    assert len(incremental) == 13
    for name, config in incremental.items():
        assert config["incremental_strategy"] == "insert_overwrite", name
        assert config["partition_by"] == {"field": "ds", "data_type": "date"}, name
        assert config["cluster_by"], name
