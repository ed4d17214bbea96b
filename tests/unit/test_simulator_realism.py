"""The world behaves like its ground truth says, and like published notification metrics."""

import datetime as dt

import numpy as np
import pytest

from notiflow import simulator
from notiflow.settings import Settings
from notiflow.simulator import report
from notiflow.simulator.response import open_logit
from notiflow.simulator.truth import TruthStore
from notiflow.simulator.world import CHANNELS, EMAIL, PUSH
from tests.conftest import START
from tests.unit.simulator_helpers import query

DAYS = 5
# Sends of these days have all their events logged by the end of the simulated days
# (events happen at most 48 h after the send).
COMPLETE_DAYS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Settings:
    settings = Settings.load(
        {"NOTIFLOW_HOME": str(tmp_path_factory.mktemp("realism")), "NOTIFLOW_SIM_USERS": "3000"}
    )
    simulator.simulate(settings, START, DAYS)
    return settings


def test_logged_open_rates_match_the_true_probabilities(world):
    """Per channel, the open rate in the raw logs is within 3 standard errors of mean P(open)."""
    last = START + dt.timedelta(days=COMPLETE_DAYS - 1)
    opened = dict(
        query(
            world,
            """select n.channel,
                      count(distinct n.notification_id) filter (where e.event_type = 'open')
                      / count(distinct n.notification_id)
               from raw.notifications n left join raw.notification_events e using (notification_id)
               where n.ds <= ? group by 1""",
            [last],
        )
    )
    with TruthStore.open(world, read_only=True) as store:
        truth = store.con.execute(
            """select channel, avg(p_open), sqrt(sum(p_open * (1 - p_open))) / count(*), count(*)
               from world_truth.sends where ds <= ? group by 1""",
            [last],
        ).fetchall()
    assert {channel for channel, *_ in truth} == set(CHANNELS)
    for channel, p_open, standard_error, sends in truth:
        assert sends > 1000
        assert abs(opened[channel] - p_open) < 3 * standard_error, channel


def test_open_probability_follows_the_response_model():
    def logit(**changes):
        inputs = dict(
            channel=np.array([PUSH]), local_hour=np.array([20]), peak_hour=np.array([20.5]),
            hour_concentration=np.array([2.0]), activity=np.array([0.35]),
            responsiveness=np.array([0.0]), affinity=np.array([1.0]), quality_z=np.array([0.0]),
            days_since_last_open=np.array([2]), sends_7d=np.array([5]),
        )  # fmt: skip
        inputs.update({k: np.array([v]) for k, v in changes.items()})
        return open_logit(**inputs)[0]

    base = logit()
    assert logit(channel=EMAIL) > base
    assert logit(local_hour=8) < base  # off the user's active hours
    assert logit(activity=1.0) > base
    assert logit(affinity=4.0) > base
    assert logit(quality_z=1.0) > base
    assert logit(days_since_last_open=20) < base
    assert logit(sends_7d=15) < base  # fatigue


def test_default_world_lands_in_published_ranges(settings):
    """The defaults (2000 users) over 15 days."""
    simulator.simulate(settings, START, 15)
    figures = report.realism(settings)
    failed = [c for c in figures["checks"] if not c["ok"]]
    assert not failed, failed
    positions = [p["click_rate_given_open"] for p in figures["position_bias"]]
    assert positions[0] > positions[1] > positions[-1]  # position bias
    fatigue = figures["fatigue_curve"]
    assert fatigue[0]["mean_p_open"] > fatigue[-1]["mean_p_open"]
    html = report.write_html(figures, settings.reports_dir / "realism.html").read_text()
    assert html.count("<svg") == 6 and "OUT OF RANGE" not in html


def test_notifications_cause_a_session_lift(small_world_settings, monkeypatch):
    """With half the users held out, notified users have measurably more sessions."""
    monkeypatch.setenv("NOTIFLOW_SIM_HOLDOUT_SHARE", "0.5")
    settings = Settings.load()
    simulator.simulate(settings, START, 4, users=2000)
    holdout = report.realism(settings)["holdout"]
    assert 900 < holdout["holdout_users"] < 1100
    assert holdout["lift_ci95"][0] > 0.05
    surfaces = dict(
        query(settings, "select surface, count(*) from raw.engagement_events group by 1")
    )
    assert surfaces["notification"] > 0
