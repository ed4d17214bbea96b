"""The features layer's GX suites, with distribution bounds learned from the trailing week.

The marts are written directly (synthetic, seeded) so that the distributions are known.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from expectations.gates import DataQualityError, MissingTableError, run_gate, run_layer
from expectations.results import latest_results
from expectations.suites import (
    ENGAGEMENT_EXAMPLES_COLUMNS,
    RANKING_EXAMPLES_COLUMNS,
    SCORING_CANDIDATES_COLUMNS,
    SEND_OPTION_FEATURES,
    SEND_OPTIONS_COLUMNS,
)
from notiflow import domain, warehouse
from notiflow.settings import Settings
from tests.conftest import START
from tfx_pipelines.engagement import features as engagement_features
from tfx_pipelines.ranking import features as ranking_features

DAYS = 8
LAST_DAY = START + dt.timedelta(days=DAYS - 1)
ROWS = 400


def _examples(
    day: dt.date, g: np.random.Generator, *, open_rate: float = 0.12, sends_scale: float = 1.0
) -> pd.DataFrame:
    n = ROWS
    sends = np.round(g.gamma(2.0, 3.0, n) * sends_scale).astype(np.int64)
    opens = g.binomial(sends, 0.15)
    frame = pd.DataFrame(
        {
            "notification_id": [f"{day:%Y%m%d}-{i:05d}" for i in range(n)],
            "user_id": [f"u{i % 150:04d}" for i in range(n)],
            "ds": pd.Timestamp(day),
            "sent_at": pd.Timestamp(day) + pd.to_timedelta(g.integers(0, 86400, n), unit="s"),
            "propensity": g.uniform(0.05, 0.9, n),
            "channel": g.choice(list(domain.CHANNELS), n),
            "platform": g.choice(["ios", "android", "web"], n),
            "country": g.choice(["US", "FR"], n),
            "pin_topic": g.choice(["art", "cars"], n),
            "local_send_hour": g.integers(0, 24, n),
            "day_of_week": day.weekday(),
            "user_tenure_days": g.integers(0, 400, n),
            "user_sends_7d": np.minimum(sends, g.integers(0, 8, n)),
            "user_opens_7d": 0,
            "user_sends_28d": sends,
            "user_opens_28d": opens,
            "channel_sends_7d": g.integers(0, 5, n),
            "user_open_rate_28d": (opens + 1) / (sends + 8),
            "channel_open_rate_28d": g.beta(2, 12, n),
            "topic_open_rate_28d": g.beta(2, 12, n),
            "days_since_last_open": g.integers(0, 30, n).astype(float),
            "opened_24h": (g.random(n) < open_rate).astype(np.int64),
            "clicked_24h": 0,
            "some_future_feature": 1.0,  # marts may have more columns than the gate reads
        }
    )
    assert set(ENGAGEMENT_EXAMPLES_COLUMNS) < set(frame.columns)
    return frame


def _ranking(day: dt.date, g: np.random.Generator) -> pd.DataFrame:
    n = ROWS
    engagements_7d = g.poisson(1.5, n)
    frame = pd.DataFrame(
        {
            "notification_id": [f"{day:%Y%m%d}-{i // 3:05d}" for i in range(n)],
            "item_position": [i % 3 + 1 for i in range(n)],
            "pin_id": [f"p{i % 40}" for i in range(n)],
            "ds": pd.Timestamp(day),
            "pin_click_rate_28d": g.beta(2, 60, n),
            "pin_save_rate_28d": g.beta(2, 40, n),
            "creator_pin_count": g.integers(1, 6, n),
            "user_topic_engagements_7d": engagements_7d,
            "user_topic_engagements_28d": engagements_7d + g.poisson(4.0, n),
            "has_seen_pin_before": g.random(n) < 0.2,
            "clicked_24h": (g.random(n) < 0.05).astype(np.int64),
        }
    )
    assert set(RANKING_EXAMPLES_COLUMNS) <= set(frame.columns)
    return frame


def _user_features(day: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": [f"u{i:04d}" for i in range(150)], "ds": pd.Timestamp(day), "sends_28d": 3}
    )


def _candidates(day: dt.date, g: np.random.Generator) -> pd.DataFrame:
    """Candidates for ``day`` (built by the run landing the day before): 30 users x 5 pins."""
    n = 150
    frame = pd.DataFrame(
        {
            "ds": pd.Timestamp(day),
            "user_id": [f"u{i // 5:04d}" for i in range(n)],
            "pin_id": [f"p{i % 5}" for i in range(n)],
            "candidate_rank": [i % 5 + 1 for i in range(n)],
            "candidate_score": g.uniform(0, 3, n),
            "channel": domain.EMAIL,
            "list_size": domain.EMAIL_DIGEST_ITEMS,
            **{c: 0 for c in ranking_features.FEATURE_KEYS if c not in ("channel", "list_size")},
        }
    )
    assert set(SCORING_CANDIDATES_COLUMNS) <= set(frame.columns)
    return frame


def _send_options(day: dt.date, g: np.random.Generator) -> pd.DataFrame:
    """Send options for ``day``: every candidate on every channel."""
    candidates = _candidates(day, g)[["ds", "user_id", "pin_id"]]
    frame = candidates.merge(pd.DataFrame({"channel": list(domain.CHANNELS)}), how="cross")
    for column in SEND_OPTION_FEATURES:
        if column != "channel":
            frame[column] = g.uniform(0, 1, len(frame))
    assert set(SEND_OPTIONS_COLUMNS) <= set(frame.columns)
    return frame


def _replace(settings: Settings, table: str, frame: pd.DataFrame, day: dt.date) -> None:
    with warehouse.connect(settings) as con:
        con.execute("create schema if not exists marts")
        con.register("_frame", frame)
        con.execute(f"create table if not exists marts.{table} as select * from _frame limit 0")
        con.execute(f"delete from marts.{table} where ds = ?::date", [day.isoformat()])
        con.execute(f"insert into marts.{table} by name select * from _frame")
        con.unregister("_frame")


@pytest.fixture
def marts(settings) -> Settings:
    g = np.random.default_rng(5)
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        _replace(settings, "ml_engagement_examples", _examples(day, g), day)
        _replace(settings, "ml_ranking_examples", _ranking(day, g), day)
        _replace(settings, "user_features_daily", _user_features(day), day)
        # the run landing `day` builds the scoring marts for the day after
        tomorrow = day + dt.timedelta(days=1)
        _replace(settings, "ml_scoring_candidates", _candidates(tomorrow, g), tomorrow)
        _replace(settings, "ml_send_options", _send_options(tomorrow, g), tomorrow)
    return settings


def _distribution(outcomes, column: str) -> list:
    return [
        o
        for o in outcomes
        if o.column == column
        and isinstance(o.observed_value, dict)
        and ("trailing" in o.observed_value or "skipped" in o.observed_value)
    ]


def test_clean_day_passes_the_features_layer_within_its_trailing_bounds(marts):
    outcomes = run_layer(marts, "features", LAST_DAY.isoformat(), run_id="r1")
    assert {o.table for o in outcomes} == {
        "marts.ml_engagement_examples",
        "marts.ml_ranking_examples",
        "marts.user_features_daily",
        "marts.ml_scoring_candidates",
        "marts.ml_send_options",
    }
    assert all(o.success for o in outcomes if o.severity == "critical")
    bounds = _distribution(outcomes, "opened_24h")
    # warning mean, critical mean (far), median, two tails
    assert len(bounds) == 5 and all(o.success for o in bounds)
    assert all(o.observed_value["reference_days"] == DAYS - 1 for o in bounds)
    assert {o.severity for o in bounds} == {"warning", "critical"}
    assert len(latest_results(marts, ds=LAST_DAY.isoformat(), layer="features")) == len(outcomes)


def test_first_day_skips_the_distribution_bounds_saying_so(marts):
    outcomes = run_gate(marts, "ml_engagement_examples", START.isoformat())
    skipped = [o for o in outcomes if o.skipped]
    assert {o.column for o in skipped} == {
        "opened_24h",
        "user_open_rate_28d",
        "channel_open_rate_28d",
        "user_sends_28d",
    }
    assert all(o.success and o.severity == "warning" for o in skipped)
    assert all("no reference days" in o.observed_value["skipped"] for o in skipped)


def test_a_moderate_shift_is_a_warning(marts):
    g = np.random.default_rng(11)
    _replace(marts, "ml_engagement_examples", _examples(LAST_DAY, g, sends_scale=1.8), LAST_DAY)
    outcomes = run_gate(marts, "ml_engagement_examples", LAST_DAY.isoformat())  # no raise
    shifted = _distribution(outcomes, "user_sends_28d")
    assert {o.expectation for o in shifted if not o.success} >= {
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
    }
    assert all(o.severity == "warning" for o in shifted)
    assert all(o.success for o in _distribution(outcomes, "opened_24h"))


def test_a_far_shift_of_the_label_fails_the_gate(marts):
    g = np.random.default_rng(12)
    _replace(marts, "ml_engagement_examples", _examples(LAST_DAY, g, open_rate=0.5), LAST_DAY)
    with pytest.raises(DataQualityError) as failure:
        run_layer(marts, "features", LAST_DAY.isoformat())
    message = str(failure.value)
    assert message.count("[critical]") == 1, message
    assert (
        f"[critical] marts.ml_engagement_examples.opened_24h (ds={LAST_DAY}): "
        "expect_column_mean_to_be_between failed" in message
    )
    assert "'trailing':" in message and "'reference_days': 7" in message


def _log_policies(settings: Settings, policy_of_last_day: str) -> None:
    """raw.notifications of the marts' sends: the logging policy, then on the last day
    ``policy_of_last_day``."""
    with warehouse.connect(settings) as con:
        frames = [
            pd.DataFrame(
                {
                    "notification_id": [f"{day:%Y%m%d}-{i:05d}" for i in range(ROWS)],
                    "ds": pd.Timestamp(day),
                    "policy": policy_of_last_day if day == LAST_DAY else "logging_heuristic",
                }
            )
            for day in (START + dt.timedelta(days=d) for d in range(DAYS))
        ]
        con.register("_sends", pd.concat(frames))
        con.execute("create schema if not exists raw")
        con.execute("create or replace table raw.notifications as select * from _sends")


def test_a_new_policys_label_shift_is_its_effect_not_a_broken_pipeline(marts):
    """The distribution checks compare a day with the trailing sends of its own policies:
    a plan that doubles the open rate on its first day is not stopped, the same shift
    under the unchanged policy is."""
    g = np.random.default_rng(12)
    _replace(marts, "ml_engagement_examples", _examples(LAST_DAY, g, open_rate=0.5), LAST_DAY)
    _log_policies(marts, "notiflow_volume_policy")
    outcomes = run_gate(marts, "ml_engagement_examples", LAST_DAY.isoformat())  # no raise
    skipped = _distribution(outcomes, "opened_24h")
    assert skipped and all(o.skipped for o in skipped)
    assert all(
        "with sends of policy notiflow_volume_policy" in o.observed_value["skipped"]
        for o in skipped
    )
    _log_policies(marts, "logging_heuristic")
    with pytest.raises(DataQualityError, match="ml_engagement_examples.opened_24h"):
        run_gate(marts, "ml_engagement_examples", LAST_DAY.isoformat())


def test_features_layer_names_out_of_range_features_and_missing_marts(settings):
    g = np.random.default_rng(3)
    frame = _examples(START, g)
    frame.loc[0, "local_send_hour"] = 24
    frame.loc[1, "user_open_rate_28d"] = 1.5
    frame.loc[2, "notification_id"] = frame.loc[3, "notification_id"]
    _replace(settings, "ml_engagement_examples", frame, START)
    with pytest.raises(DataQualityError) as failure:
        run_layer(settings, "features", START.isoformat())
    message = str(failure.value)
    assert not isinstance(failure.value, MissingTableError)  # data failures too
    for where, rule in (
        ("ml_engagement_examples.local_send_hour", "expect_column_values_to_be_between"),
        ("ml_engagement_examples.user_open_rate_28d", "expect_column_values_to_be_between"),
        ("ml_engagement_examples.notification_id", "expect_column_values_to_be_unique"),
        ("ml_ranking_examples", "expect_table_to_exist"),
        ("user_features_daily", "expect_table_to_exist"),
        ("ml_scoring_candidates", "expect_table_to_exist"),
        ("ml_send_options", "expect_table_to_exist"),
    ):
        assert f"marts.{where} (ds={START}): {rule} failed" in message
    assert message.count("[critical]") == 7, message


def test_out_of_range_ranking_features_fail_the_gate_by_name(marts):
    g = np.random.default_rng(6)
    frame = _ranking(LAST_DAY, g)
    frame.loc[0, "pin_save_rate_28d"] = 1.2
    frame.loc[1, "user_topic_engagements_28d"] = -1
    frame["has_seen_pin_before"] = frame.has_seen_pin_before.astype("boolean")
    frame.loc[2, "has_seen_pin_before"] = pd.NA
    _replace(marts, "ml_ranking_examples", frame, LAST_DAY)
    with pytest.raises(DataQualityError) as failure:
        run_gate(marts, "ml_ranking_examples", LAST_DAY.isoformat())
    message = str(failure.value)
    for column, rule in (
        ("pin_save_rate_28d", "expect_column_values_to_be_between"),
        ("user_topic_engagements_28d", "expect_column_values_to_be_between"),
        ("has_seen_pin_before", "expect_column_values_to_not_be_null"),
    ):
        assert f"[critical] marts.ml_ranking_examples.{column} (ds={LAST_DAY}): {rule} failed" in (
            message
        )
    assert message.count("[critical]") == 3, message


def test_duplicate_ranking_items_fail_on_the_compound_key(marts):
    g = np.random.default_rng(4)
    frame = _ranking(LAST_DAY, g)
    frame.loc[1, "item_position"] = 1
    _replace(marts, "ml_ranking_examples", frame, LAST_DAY)
    with pytest.raises(DataQualityError) as failure:
        run_gate(marts, "ml_ranking_examples", LAST_DAY.isoformat())
    assert (
        f"[critical] marts.ml_ranking_examples.(notification_id, item_position) (ds={LAST_DAY}): "
        "expect_compound_columns_to_be_unique failed" in str(failure.value)
    )


def test_scoring_marts_gates_read_every_feature_its_model_scores_with():
    """The gated columns are the models' features (the gates may not import tfx_pipelines),
    but the engagement model's send hour and day of week, which the scorer sets."""
    assert set(SCORING_CANDIDATES_COLUMNS) >= set(ranking_features.FEATURE_KEYS)
    assert set(SEND_OPTION_FEATURES) == set(engagement_features.FEATURE_KEYS) - {
        "local_send_hour",
        "day_of_week",
    }


def test_the_scoring_marts_are_gated_on_tomorrows_rows(marts):
    """The run landing ds builds the candidates and send options for ds + 1: the gate of ds
    checks those, not the rows of ds (which yesterday's gate checked)."""
    g = np.random.default_rng(8)
    broken = _send_options(LAST_DAY, g)
    broken.loc[1, ["user_id", "channel", "pin_id"]] = broken.loc[
        0, ["user_id", "channel", "pin_id"]
    ]
    _replace(marts, "ml_send_options", broken, LAST_DAY)
    outcomes = run_gate(marts, "ml_send_options", LAST_DAY.isoformat())  # no raise
    assert outcomes and all(o.success for o in outcomes)

    tomorrow = LAST_DAY + dt.timedelta(days=1)
    broken = _send_options(tomorrow, g)
    broken.loc[1, ["user_id", "channel", "pin_id"]] = broken.loc[
        0, ["user_id", "channel", "pin_id"]
    ]
    broken.loc[2, "channel"] = "sms"
    broken.loc[3, "pin_id"] = None
    _replace(marts, "ml_send_options", broken, tomorrow)
    candidates = _candidates(tomorrow, g).drop(columns=["has_seen_pin_before"])
    candidates.loc[1, "pin_id"] = candidates.loc[0, "pin_id"]
    candidates.loc[2, "user_id"] = None
    with warehouse.connect(marts) as con:
        con.execute("drop table marts.ml_scoring_candidates")
    _replace(marts, "ml_scoring_candidates", candidates, tomorrow)
    with pytest.raises(DataQualityError) as failure:
        run_layer(marts, "features", LAST_DAY.isoformat())
    message = str(failure.value)
    for where, rule in (
        ("ml_send_options.(user_id, channel, pin_id)", "expect_compound_columns_to_be_unique"),
        ("ml_send_options.channel", "expect_column_values_to_be_in_set"),
        ("ml_send_options.pin_id", "expect_column_values_to_not_be_null"),
        ("ml_scoring_candidates.(user_id, pin_id)", "expect_compound_columns_to_be_unique"),
        ("ml_scoring_candidates.user_id", "expect_column_values_to_not_be_null"),
        ("ml_scoring_candidates", "expect_table_columns_to_match_set"),
    ):
        assert f"[critical] marts.{where} (ds={LAST_DAY}): {rule} failed" in message
    assert message.count("[critical]") == 6, message


def test_a_day_without_scoring_rows_passes_the_scoring_gates(marts):
    """A re-run of a day older than the candidates' retention builds no scoring rows."""
    with warehouse.connect(marts) as con:
        for table in ("ml_scoring_candidates", "ml_send_options"):
            con.execute(f"delete from marts.{table} where ds = ?::date", [LAST_DAY.isoformat()])
    for suite in ("ml_scoring_candidates", "ml_send_options"):
        outcomes = run_gate(marts, suite, (LAST_DAY - dt.timedelta(days=1)).isoformat())
        assert outcomes and all(o.success for o in outcomes)
