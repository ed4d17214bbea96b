"""No feature, model, gate or DAG may see the world's ground truth.

The truth store is reachable only through its path (setting ``truth_path``, the
file name), its schema or the simulator's truth module; none of them may appear
in the code that builds features (dbt), trains and evaluates models (TFX),
gates data (expectations) or orchestrates (dags).
"""

import re
from pathlib import Path

import pytest

from notiflow import simulator, warehouse
from notiflow.settings import Settings
from notiflow.simulator import truth
from tests.conftest import START
from tests.paths import REPO_ROOT

GUARDED = ("dbt_project", "tfx_pipelines", "dags", "expectations", "notiflow_airflow")
# Build output and caches under the guarded folders, not code anyone wrote.
IGNORED_PARTS = {"target", "logs", "dbt_packages", "__pycache__", ".ipynb_checkpoints"}
TEXT_SUFFIXES = {
    ".py",
    ".sql",
    ".yml",
    ".yaml",
    ".json",
    ".toml",
    ".md",
    ".txt",
    ".cfg",
    ".ini",
    ".jinja",
}


def truth_references() -> re.Pattern[str]:
    """Every way to name the truth store: setting, environment variable, file, schema, module."""
    default_file = Path(Settings.load({}).truth_path).name
    names = [
        "truth_path",  # the setting, and NOTIFLOW_TRUTH_PATH in any case
        re.escape(default_file),
        rf"\b{re.escape(truth.SCHEMA)}\b",
        r"simulator\.truth\b",
        r"simulator\s+import\s+(\([^)]*)?\btruth\b",
        r"\bTruthStore\b",
    ]
    return re.compile("|".join(names), re.IGNORECASE)


def offending_lines(root: Path) -> list[str]:
    pattern = truth_references()
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        if IGNORED_PARTS & set(path.relative_to(root).parts):
            continue
        text = path.read_text(errors="replace")
        lines = sorted({text.count("\n", 0, m.start()) for m in pattern.finditer(text)})
        hits += [f"{path}:{n + 1}: {text.splitlines()[n].strip()}" for n in lines]
    return hits


@pytest.mark.pit
@pytest.mark.parametrize("folder", GUARDED)
def test_no_reference_to_the_truth_store(folder):
    root = REPO_ROOT / folder
    assert root.is_dir(), f"{root} is missing: the guarded folders moved, update GUARDED"
    assert offending_lines(root) == []


@pytest.mark.parametrize(
    "line",
    [
        "attach '{{ env_var(\"NOTIFLOW_TRUTH_PATH\") }}' as t",
        "con = duckdb.connect(str(settings.truth_path))",
        "select * from world_truth.sends",
        "path = home / 'truth' / 'truth.duckdb'",
        "from notiflow.simulator.truth import TruthStore",
        "from notiflow.simulator import (\n    report,\n    truth,\n)",
    ],
)
def test_the_scan_finds_a_planted_reference(tmp_path, line):
    (tmp_path / "model.sql").write_text(f"-- innocent\n{line}\n")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "compiled.sql").write_text(line)  # build output is not scanned
    assert len(offending_lines(tmp_path)) == 1


def test_the_truth_stays_out_of_the_warehouse(small_world_settings):
    simulator.simulate(small_world_settings, START, 1)
    assert small_world_settings.truth_path.exists()
    assert small_world_settings.truth_path != small_world_settings.warehouse_path
    with warehouse.connect(small_world_settings, read_only=True) as con:
        schemas = {
            s
            for (s,) in con.execute(
                "select schema_name from information_schema.schemata"
            ).fetchall()
        }
        columns = {
            c
            for (c,) in con.execute("select column_name from information_schema.columns").fetchall()
        }
    assert truth.SCHEMA not in schemas
    assert not {"p_open", "quality", "interest_art", "activity_drift", "is_holdout"} & columns
