"""The Great Expectations gate on engagement examples, run as a real checkpoint."""

import datetime as dt

import pytest

from expectations.gates import DataQualityError, run_gate
from notiflow import simulator
from notiflow.dbt import run_dbt
from tests.conftest import START

FAULT_DAY = START + dt.timedelta(days=2)


@pytest.fixture
def mart(small_world_settings):
    simulator.simulate(small_world_settings, START, 3, fault="out_of_range", fault_day=FAULT_DAY)
    run_dbt(small_world_settings, ["build", "--quiet", "--exclude", "test_type:data"])
    return small_world_settings


def test_clean_day_passes_and_publishes_data_docs(mart):
    outcomes = run_gate(mart, "ml_engagement_examples", START.isoformat())
    assert outcomes and all(o.success for o in outcomes if o.severity == "critical")
    assert {o.severity for o in outcomes} == {"critical", "warning"}
    index = mart.data_docs_dir / "index.html"
    assert index.exists() and "ml_engagement_examples" in index.read_text()


def test_out_of_range_day_fails_naming_table_column_and_rule(mart):
    with pytest.raises(DataQualityError) as failure:
        run_gate(mart, "ml_engagement_examples", FAULT_DAY.isoformat())
    message = str(failure.value)
    assert "marts.ml_engagement_examples.propensity" in message
    assert "expect_column_values_to_be_between" in message
    assert f"ds={FAULT_DAY}" in message
    # only the broken rule fails
    assert message.count("[critical]") == 1


def test_empty_day_fails(mart):
    with pytest.raises(DataQualityError, match="expect_table_row_count_to_be_between"):
        run_gate(mart, "ml_engagement_examples", "2030-01-01")
