"""The policy evaluation of a day, on a hand-built warehouse whose answer is known."""

import datetime as dt
import json

import pandas as pd
import pytest

from notiflow import domain, warehouse
from notiflow.planning import evaluation
from notiflow.planning.plan import (
    ASSIGNMENT_FILE,
    PLAN_SUMMARY_FILE,
    POLICY_NAME,
    STAGED_SUMMARY_FILE,
    planning_dir,
    write_parquet,
)
from notiflow.settings import Settings

DAY = dt.date(2026, 3, 10)
USERS = ["u1", "u2", "u3", "u4"]  # u4 is held out
# (user, opened, clicked) per send of DAY
SENDS = [("u1", 1, 1), ("u1", 0, 0), ("u2", 0, 0), ("u3", 1, 0)]
ESTIMATES = [
    {"estimator": "snips", "reward": "opens", "value": 0.6, "lower": 0.5, "upper": 0.8},
    {"estimator": "ips", "reward": "clicks", "value": 0.1, "lower": 0.0, "upper": 0.2},
]


def _warehouse(settings: Settings, policy: str, mature: bool = True) -> None:
    examples = pd.DataFrame(
        [(pd.Timestamp(DAY), u, o, c, mature) for u, o, c in SENDS],
        columns=["ds", "user_id", "opened_24h", "clicked_24h", "is_label_mature"],
    )
    snapshots = []
    for offset in (0, 1):
        for user in USERS:
            snapshots.append(
                {
                    "user_id": user,
                    "ds": pd.Timestamp(DAY + dt.timedelta(days=offset)),
                    "is_in_notification_holdout": user == "u4",
                    # u2 unsubscribes from push on DAY
                    **{
                        f"is_{c}_unsubscribed": offset == 1 and user == "u2" and c == domain.PUSH
                        for c in domain.CHANNELS
                    },
                    # organic events on DAY are the next snapshot's 1-day window
                    "organic_events_1d": {"u1": 4, "u2": 0, "u3": 2, "u4": 1}[user] * offset,
                }
            )
    notifications = pd.DataFrame(
        {"ds": [pd.Timestamp(DAY)] * len(SENDS), "policy": [policy] * len(SENDS)}
    )
    with warehouse.connect(settings) as con:
        for schema in (domain.MARTS_SCHEMA, domain.RAW_SCHEMA):
            con.execute(f"create schema if not exists {schema}")
        for table, frame in (
            (domain.mart_table(domain.ENGAGEMENT_EXAMPLES), examples),
            (domain.mart_table(domain.USER_FEATURES), pd.DataFrame(snapshots)),
            (f"{domain.RAW_SCHEMA}.notifications", notifications),
        ):
            con.register("frame", frame)
            con.execute(f"create or replace table {table} as select * from frame")
            con.unregister("frame")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load({"NOTIFLOW_HOME": str(tmp_path)})


def _plan_files(settings: Settings, published: bool) -> None:
    folder = planning_dir(settings, DAY)
    folder.mkdir(parents=True)
    summary = {"ds": DAY.isoformat(), "run_id": "plan-run", "off_policy": {"estimates": ESTIMATES}}
    (folder / STAGED_SUMMARY_FILE).write_text(json.dumps(summary))
    if published:
        (folder / PLAN_SUMMARY_FILE).write_text(json.dumps(summary))
    write_parquet(
        pd.DataFrame({"user_id": USERS[:3], "is_exploration": [False, False, True]}),
        folder / ASSIGNMENT_FILE,
    )


def test_a_planned_day_by_arm_beside_the_estimate_made_before(settings):
    _warehouse(settings, POLICY_NAME)
    _plan_files(settings, published=True)
    result = evaluation.evaluate_day(settings, DAY)

    arms = result["arms"]
    assert {arm: a["users"] for arm, a in arms.items()} == {
        "policy": 2, "exploration": 1, "holdout": 1, "eligible": 3,
    }  # fmt: skip
    policy = arms["policy"]  # u1 and u2
    assert policy["sends_per_user"] == 1.5 and policy["opens_per_user"] == 0.5
    assert policy["clicks_per_user"] == 0.5 and policy["unsubscribes_per_user"] == 0.5
    assert policy["organic_events_per_user"] == 2 and policy["active_per_user"] == 0.5
    assert arms["exploration"]["opens_per_user"] == 1 and arms["holdout"]["sends_per_user"] == 0
    assert arms["eligible"]["opens_per_user"] == pytest.approx(2 / 3)
    assert result["lift_over_holdout"]["organic_events"] == pytest.approx(2 - 1)
    assert result["planned"] and result["fallback"] is None

    compared = {(c["estimator"], c["reward"]): c for c in result["estimate_before"]}
    assert compared["snips", "opens"]["realized"] == pytest.approx(2 / 3)
    assert compared["snips", "opens"]["covered"] is True
    assert compared["ips", "clicks"]["realized"] == pytest.approx(1 / 3)
    assert compared["ips", "clicks"]["covered"] is False  # 1/3 is above [0, 0.2]

    stored = json.loads((planning_dir(settings, DAY) / evaluation.EVALUATION_FILE).read_text())
    assert stored == result


def test_a_day_whose_plan_was_not_published_says_it_fell_back(settings):
    _warehouse(settings, "logging_heuristic")
    _plan_files(settings, published=False)
    result = evaluation.evaluate_day(settings, DAY)
    assert not result["planned"] and "'plan-run' was not published" in result["fallback"]
    assert "'logging_heuristic'" in result["fallback"]
    # the logging policy has no exploration arm of the plan's: every eligible user is its
    assert set(result["arms"]) == {"policy", "holdout", "eligible"}
    assert result["arms"]["policy"]["users"] == 3 and result["estimate_before"] == []


def test_a_day_whose_labels_are_not_mature_is_not_evaluated(settings):
    _warehouse(settings, POLICY_NAME, mature=False)
    with pytest.raises(evaluation.EvaluationError, match=f"{DAY} is evaluated once"):
        evaluation.evaluate_day(settings, DAY)
    assert not (planning_dir(settings, DAY) / evaluation.EVALUATION_FILE).exists()
