"""Each domain fact lives in notiflow/domain.py; where a tool cannot read it from there,
the literal is bound to it here, so that changing either side alone fails loudly.

- dbt reads the facts as project vars (``notiflow.dbt.project_vars``), but its column
  names (``_28d``, ``opened_24h``, ``is_push_opted_in``), its docs and its
  ``accepted_values`` tests are literals;
- the curated TFDV schema's ``channel`` domain is a literal;
- tfx_pipelines, where it keeps a mart name or an exit code as a literal.

Everything is read from the files (the orchestration environment has no TFX, and dbt
needs no run for this).
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import tomllib

import pytest
import yaml

from expectations import suites
from notiflow import contracts, domain
from notiflow.dbt import dbt_command, parse_vars, project_vars
from notiflow.settings import Settings
from notiflow.simulator import policy
from tests.paths import REPO_ROOT

DBT = REPO_ROOT / "dbt_project"
TFDV_SCHEMA = REPO_ROOT / "tfx_pipelines" / "engagement" / "schema" / "schema.pbtxt"
CHANNELS = set(domain.CHANNELS)
OPT_IN_CHANNELS = set(domain.OPT_IN_CHANNELS)
# The feature windows of the marts, in days: 1 and 7 are the short windows; the long one
# is the domain's.
WINDOWS = {1, 7, domain.FEATURE_WINDOW_DAYS}
WINDOW_SUFFIX = re.compile(r"\b[a-z][a-z0-9_]*?_(\d+)d\b")
HOURS_SUFFIX = re.compile(r"\b[a-z][a-z0-9_]*?_(\d+)h\b")
CHANNEL_LITERAL = re.compile(r"""(?<![\w{])['"](push|email|in_app)['"]""")


def _sql_files() -> dict[str, str]:
    return {
        str(path.relative_to(DBT)): path.read_text()
        for folder in ("models", "macros", "tests")
        for path in sorted((DBT / folder).rglob("*.sql"))
    }


def _yml_docs() -> dict[str, dict]:
    return {
        str(path.relative_to(DBT)): yaml.safe_load(path.read_text())
        for path in sorted((DBT / "models").rglob("*.yml"))
    }


def _models() -> dict[str, dict]:
    """Every documented model (and source table) by name."""
    models = {}
    for doc in _yml_docs().values():
        for model in doc.get("models", []):
            models[model["name"]] = model
        for source in doc.get("sources", []):
            for table in source.get("tables", []):
                models[f"source:{source['name']}.{table['name']}"] = table
    return models


def _columns(model: dict) -> list[str]:
    return [column["name"] for column in model.get("columns", [])]


def _descriptions(node: object, *, skip: tuple[str, ...] = ("unit_tests",)) -> list[str]:
    """Every description in a yml document, outside the sections in ``skip``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in skip:
                continue
            if key == "description" and isinstance(value, str):
                found.append(value)
            else:
                found += _descriptions(value, skip=skip)
    elif isinstance(node, list):
        for item in node:
            found += _descriptions(item, skip=skip)
    return found


def _gx_suites() -> dict[str, list]:
    """Expectations of every suite, built for a day without reference days."""
    return {
        name: suites.build_suite(gated, suites.Reference(ds="2026-11-05")).expectations
        for name, gated in suites.SUITES.items()
    }


# ------------------------------------------------------------ dbt: the vars


def test_dbt_project_yml_repeats_no_domain_var():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert not set(project["vars"]) & set(domain.dbt_vars())


def test_models_read_every_domain_fact_as_a_domain_var_and_nothing_else():
    used, plain = set(), set()
    for text in _sql_files().values():
        used |= set(re.findall(r"\bdomain_var\('(\w+)'\)", text))
        plain |= set(re.findall(r"(?<![\w])var\('(\w+)'", text))
    assert used == set(domain.dbt_vars())  # each fact is used, and none is missing
    assert not plain & set(domain.dbt_vars()), "read domain facts with domain_var()"
    for doc in _yml_docs().values():
        for unit_test in doc.get("unit_tests", []):
            overridden = unit_test.get("overrides", {}).get("vars", {})
            assert not set(overridden) & set(domain.dbt_vars()), unit_test["name"]


def test_every_dbt_invocation_gets_the_project_vars(tmp_path):
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})

    def passed(args: list[str]) -> dict:
        command = dbt_command(settings, args)
        assert command.count("--vars") == 1 and not any(a.startswith("--vars=") for a in command)
        return parse_vars(command[command.index("--vars") + 1])

    assert passed(["build", "--quiet"]) == domain.dbt_vars()
    # parsed as dbt parses it: an unquoted date stays a date
    assert passed(["build", "--vars", "{ds: 2026-11-20}"]) == {
        **domain.dbt_vars(),
        "ds": dt.date(2026, 11, 20),
    }
    assert passed(["run", "--vars={ds: '2026-11-20'}"])["ds"] == "2026-11-20"
    # the caller's keys win; of two --vars the last counts, as in dbt
    assert passed(["run", "--vars", '{"days_since_cap": 5}'])["days_since_cap"] == 5
    assert passed(["run", "--vars", "{ds: a}", "--vars", "{ds: b}"])["ds"] == "b"
    assert project_vars({"ds": "{{ ds }}"}) == {**domain.dbt_vars(), "ds": "{{ ds }}"}
    with pytest.raises(ValueError, match="YAML mapping"):
        dbt_command(settings, ["run", "--vars", "[1, 2]"])


# -------------------------------------------------- dbt: literals bound to domain


def test_window_suffixes_are_the_domain_windows():
    """`_<N>d` columns are the 1-, 7- and FEATURE_WINDOW_DAYS-day windows; `_<N>h` labels
    the attribution window; also in the GX suites, the TFX features and TFDV schema."""
    sources = {
        **_sql_files(),
        **{path: yaml.safe_dump(doc) for path, doc in _yml_docs().items()},
        "expectations/suites.py": (REPO_ROOT / "expectations" / "suites.py").read_text(),
        "tfx features": (REPO_ROOT / "tfx_pipelines/engagement/features.py").read_text(),
        "tfdv schema": TFDV_SCHEMA.read_text(),
        "simulator truth": (REPO_ROOT / "notiflow/simulator/truth.py").read_text(),
        "simulator response": (REPO_ROOT / "notiflow/simulator/response.py").read_text(),
    }
    long_window = f"_{domain.FEATURE_WINDOW_DAYS}d"
    for name, text in sources.items():
        assert set(map(int, WINDOW_SUFFIX.findall(text))) <= WINDOWS, name
        assert set(map(int, HOURS_SUFFIX.findall(text))) <= {domain.ATTRIBUTION_WINDOW_HOURS}, name
    for name in ("tfx features", "tfdv schema", "expectations/suites.py"):
        assert long_window in sources[name], name
    marts = _models()
    assert f"user_open_rate{long_window}" in _columns(marts[domain.ENGAGEMENT_EXAMPLES])
    assert f"opened_{domain.ATTRIBUTION_WINDOW_HOURS}h" in _columns(
        marts[domain.ENGAGEMENT_EXAMPLES]
    )


def test_docs_name_the_domain_windows():
    """The models' docs and comments say "28 days" where the windows are
    FEATURE_WINDOW_DAYS long, "24 h" for the attribution window."""
    texts = [
        *((path, text) for path, doc in _yml_docs().items() for text in _descriptions(doc)),
        *_sql_files().items(),
        ("dbt_project.yml", (DBT / "dbt_project.yml").read_text()),
    ]
    for path, text in texts:
        days = re.findall(r"\b(\d+)(?:-day\b| days?\b| before\b)", text)
        assert set(map(int, days)) <= WINDOWS, (path, text)
        hours = re.findall(r"\b(\d+) ?h\b", text)
        assert set(map(int, hours)) <= {domain.ATTRIBUTION_WINDOW_HOURS}, (path, text)
    assert "(29)" not in (DBT / "models/marts/_marts__models.yml").read_text()


def test_the_attribution_unit_test_runs_on_the_domain_window():
    unit_tests = {t["name"]: t for doc in _yml_docs().values() for t in doc.get("unit_tests", [])}
    name = f"test_attribution_window_counts_only_the_first_{domain.ATTRIBUTION_WINDOW_HOURS}_hours"
    assert name in unit_tests  # its rows sit 23 h and 25 h after the send
    assert "attribution_window_hours" not in unit_tests[name]["overrides"]["vars"]


# Per-channel column families: (pattern, the channels it must cover).
CHANNEL_COLUMNS = {
    r"is_(\w+?)_opted_in": OPT_IN_CHANNELS,
    r"(\w+?)_opt_in": OPT_IN_CHANNELS,
    r"is_(\w+?)_eligible": CHANNELS,
    r"is_(\w+?)_unsubscribed": CHANNELS,
    r"(\w+?)_unsubscribes": CHANNELS,
    r"(\w+?)_open_rate_\d+d": CHANNELS,
    r"(\w+?)_sends_1d": CHANNELS,
    r"(\w+?)_sends": CHANNELS,
    r"(\w+?)_opens": CHANNELS,
}
# Prefixes of those families that are not channels (totals, the send's own channel).
NOT_CHANNELS = {"notification", "user", "channel", "topic"}
# The families hand-written SQL spells out per channel (the rest loop over var channels).
SQL_CHANNEL_COLUMNS = [p for p in CHANNEL_COLUMNS if p.startswith("is_") or "opt_in" in p]


@pytest.mark.parametrize("pattern", CHANNEL_COLUMNS)
def test_per_channel_columns_cover_exactly_the_channels(pattern):
    expected = CHANNEL_COLUMNS[pattern]
    models = _models()
    models["contract:raw.users"] = {
        "columns": [{"name": n} for n in contracts.column_names(contracts.RAW_TABLES["users"])]
    }
    checked = 0
    for name, model in models.items():
        prefixes = {
            m.group(1) for c in _columns(model) if (m := re.fullmatch(pattern, c))
        } - NOT_CHANNELS
        if prefixes:
            checked += 1
            assert prefixes == expected, (name, pattern)
    assert checked, f"no model has {pattern} columns"
    if pattern in SQL_CHANNEL_COLUMNS:  # spelled out per channel in hand-written SQL
        for path, text in _sql_files().items():
            prefixes = set(re.findall(rf"\b{pattern}\b", text))
            assert not prefixes or prefixes == expected, (path, pattern, prefixes)


def test_channel_values_are_written_only_in_domain():
    """dbt models loop over var channels; the simulator and GX suites import them."""
    texts = {
        **_sql_files(),
        **{
            str(path.relative_to(REPO_ROOT)): path.read_text()
            for folder in ("expectations", "notiflow/simulator", "bench")
            for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        },
    }
    for path, text in texts.items():
        assert not CHANNEL_LITERAL.findall(text), path


def test_dbt_accepted_values_of_channel_are_the_channels():
    found = []
    for doc in _yml_docs().values():
        for model in doc.get("models", []):
            for column in model.get("columns", []):
                for data_test in column.get("data_tests", []):
                    if isinstance(data_test, dict) and "accepted_values" in data_test:
                        accepted = data_test["accepted_values"]
                        values = accepted.get("arguments", accepted)["values"]
                        if column["name"] == "channel":
                            found.append(values)
    assert found and all(sorted(v) == sorted(CHANNELS) for v in found)


def test_tfdv_schema_channel_domain_is_the_channels():
    text = TFDV_SCHEMA.read_text()
    block = re.search(r'string_domain \{\s*name: "channel"(.*?)\}', text, re.S)
    assert block, "schema.pbtxt has no string_domain named channel"
    values = re.findall(r'value: "([^"]*)"', block.group(1))
    assert values == sorted(domain.CHANNELS)
    assert re.search(r'name: "channel"\s*type: BYTES\s*domain: "channel"', text)


def test_gx_features_suites_check_documented_mart_columns():
    """The columns the GX features gate reads (names such as `_28d`, `_24h`) are the
    dbt marts' documented columns; their channel set is domain's."""
    models = _models()
    built = _gx_suites()
    for name, gated in suites.SUITES.items():
        for expectation in built[name]:
            if getattr(expectation, "column", None) == "channel" and hasattr(
                expectation, "value_set"
            ):
                assert sorted(expectation.value_set) == sorted(CHANNELS), name
        if gated.layer != suites.FEATURES:
            continue
        schema, table = gated.table.split(".")
        assert schema == domain.MARTS_SCHEMA and table in domain.FEATURE_MARTS
        documented = set(_columns(models[table]))
        read = {check.column for check in gated.distribution}
        for expectation in built[name]:
            read |= {getattr(expectation, "column", None)} - {None}
            read |= set(getattr(expectation, "column_list", None) or [])
            read |= set(getattr(expectation, "column_set", None) or [])
        assert read <= documented, (name, read - documented)


# ------------------------------------------------------- tables, marts, Assets


def test_dbt_marts_are_the_domain_marts():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert project["models"]["notiflow"]["marts"]["+schema"] == domain.MARTS_SCHEMA
    marts = {path.stem for path in (DBT / "models" / "marts").glob("*.sql")}
    assert marts == set(domain.FEATURE_MARTS)
    (raw,) = [s for doc in _yml_docs().values() for s in doc.get("sources", [])]
    assert raw.get("schema", raw["name"]) == domain.RAW_SCHEMA
    assert {t["name"] for t in raw["tables"]} >= set(contracts.RAW_TABLES)


def test_tfx_pipelines_name_marts_and_exit_codes_as_domain_does():
    """tfx_pipelines imports them from domain; a literal that remains must equal it."""
    exit_codes = {
        r"EXIT_GATE|GATE_EXIT": domain.TFX_GATE_EXIT_CODE,
        r"NOT_PUSHED": domain.TFX_NOT_PUSHED_EXIT_CODE,
    }
    for path in sorted((REPO_ROOT / "tfx_pipelines").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                table = re.fullmatch(r"(\w+)\.(\w+)", node.value)
                if table and (
                    table.group(2) in domain.FEATURE_MARTS
                    or table.group(1) in {"marts", domain.MARTS_SCHEMA}
                ):
                    assert table.group(2) in domain.FEATURE_MARTS, (path.name, node.value)
                    assert node.value == domain.mart_table(table.group(2)), (path.name, node.value)
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            for target in node.targets:
                for pattern, code in exit_codes.items():
                    if isinstance(target, ast.Name) and re.search(pattern, target.id):
                        assert node.value.value == code, (path.name, target.id, code)


# ----------------------------------------------------------- windows, caps, holdout


def test_label_maturity_is_the_examples_marts_one_landed_day():
    """A send's labels are mature once the next day has landed: the examples marts encode
    LABEL_MATURITY_DAYS = 1 as `ds < newest landed day` (and rebuild yesterday's sends,
    lookback_days=1)."""
    assert domain.LABEL_MATURITY_DAYS == 1, "change is_label_mature in the examples marts"
    for mart in (domain.ENGAGEMENT_EXAMPLES, domain.RANKING_EXAMPLES):
        text = (DBT / "models" / "marts" / f"{mart}.sql").read_text()
        assert re.search(r"\w+\.ds < newest_landed_day\.ds as is_label_mature", text), mart
        assert "in_build_window('ds', lookback_days=1)" in text, mart


def test_days_since_cap_is_one_past_the_feature_window():
    assert domain.DAYS_SINCE_CAP == domain.FEATURE_WINDOW_DAYS + 1
    (check,) = [
        e
        for e in _gx_suites()[suites.ENGAGEMENT_EXAMPLES_SUITE]
        if getattr(e, "column", None) == "days_since_last_open"
        and getattr(e, "max_value", None) is not None
    ]
    assert check.max_value == domain.DAYS_SINCE_CAP


def test_caps_and_quiet_hours_cover_the_channels_and_the_logging_policy_keeps_them():
    assert set(domain.DAILY_CAPS) == set(domain.QUIET_HOURS) == CHANNELS
    assert OPT_IN_CHANNELS <= CHANNELS
    for index, channel in enumerate(domain.CHANNELS):
        slots = policy.SLOT_HOURS[index]
        assert len(slots) <= domain.DAILY_CAPS[channel], channel
        quiet = domain.QUIET_HOURS[channel]
        if quiet is not None:
            start, end = quiet  # [start, end), wrapping midnight when start > end
            inside = [
                h for h in slots if (start <= h < end if start < end else h >= start or h < end)
            ]
            assert not inside, (channel, slots, quiet)
    assert suites.DAILY_CAPS == dict(domain.DAILY_CAPS)


def test_the_holdout_share_default_comes_from_domain(tmp_path):
    defaults = tomllib.loads((REPO_ROOT / "notiflow" / "defaults.toml").read_text())
    assert "sim_holdout_share" not in defaults
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    assert settings.sim_holdout_share == domain.HOLDOUT_SHARE_DEFAULT
