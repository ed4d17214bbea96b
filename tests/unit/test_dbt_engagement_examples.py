"""The dbt project builds the engagement examples, point-in-time correct."""

import datetime as dt
import shutil

import pandas as pd
import pytest

from notiflow import simulator, warehouse
from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from tests.conftest import START

DAYS = 6
LAST_DAY = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("dbt_home")
    settings = Settings.load(
        {"NOTIFLOW_HOME": str(home), "NOTIFLOW_SIM_USERS": "400", "NOTIFLOW_SIM_PINS": "80"}
    )
    simulator.simulate(settings, START, DAYS)
    run_dbt(settings, ["build", "--quiet"])
    return settings


def _examples(settings: Settings, where: str = "true") -> pd.DataFrame:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(
            f"select * from marts.ml_engagement_examples where {where} order by notification_id"
        ).fetchdf()


def test_one_row_per_notification_with_labels(built):
    examples = _examples(built)
    with warehouse.connect(built, read_only=True) as con:
        n_sent = con.execute("select count(*) from raw.notifications").fetchone()[0]
        n_opened = con.execute(
            """select count(distinct n.notification_id) from raw.notifications n
               join raw.notification_events e using (notification_id)
               where e.event_type = 'open' and e.event_ts <= n.sent_ts + interval 24 hour"""
        ).fetchone()[0]
    assert len(examples) == n_sent
    assert examples.notification_id.is_unique
    assert examples.opened_24h.sum() == n_opened
    assert set(examples.opened_24h.unique()) <= {0, 1}
    assert examples.local_send_hour.between(0, 23).all()


def test_first_day_has_no_history_and_later_days_do(built):
    examples = _examples(built)
    first = examples[examples.ds == pd.Timestamp(START)]
    last = examples[examples.ds == pd.Timestamp(LAST_DAY)]
    assert (first.user_sends_28d == 0).all()
    assert (last.user_sends_28d > 0).mean() > 0.5


def _copy_of(built: Settings, tmp_path) -> Settings:
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(built.warehouse_path, settings.warehouse_path)
    return settings


def _rebuild_with_extra_opens(settings: Settings, select_notifications: str, open_at: str) -> None:
    with warehouse.connect(settings) as con:
        con.execute(
            f"""insert into raw.notification_events
                select notification_id || '-extra-open', notification_id, 'open', null,
                       {open_at}, cast({open_at} as date)
                from raw.notifications where {select_notifications}"""
        )
    run_dbt(settings, ["build", "--quiet", "--exclude", "test_type:data"])


FEATURES_ONLY = "opened_24h, clicked_24h"


def test_opens_on_the_send_day_do_not_leak_into_that_days_features(built, tmp_path):
    """Opens after the cut-off (end of D-1) of day D's rows leave D's features unchanged."""
    settings = _copy_of(built, tmp_path)
    before = _examples(built, f"ds = '{LAST_DAY}'").drop(columns=FEATURES_ONLY.split(", "))
    _rebuild_with_extra_opens(settings, f"ds = '{LAST_DAY}'", "sent_ts + interval 1 minute")
    after = _examples(settings, f"ds = '{LAST_DAY}'").drop(columns=FEATURES_ONLY.split(", "))
    pd.testing.assert_frame_equal(before, after)


def test_late_opens_of_yesterdays_sends_count_for_yesterday_labels_not_todays_features(
    built, tmp_path
):
    """An open at 00:30 on D of a send from D-1 is after D's cut-off: it may change D-1's
    labels but never D's features (opens are dated when they happen, not by their send)."""
    settings = _copy_of(built, tmp_path)
    yesterday = LAST_DAY - dt.timedelta(days=1)
    open_at = f"timestamp '{LAST_DAY} 00:30:00'"
    before_today = _examples(built, f"ds = '{LAST_DAY}'").drop(columns=FEATURES_ONLY.split(", "))
    before_labels = _examples(built, f"ds = '{yesterday}'").opened_24h.sum()
    _rebuild_with_extra_opens(settings, f"ds = '{yesterday}'", open_at)
    after_today = _examples(settings, f"ds = '{LAST_DAY}'").drop(columns=FEATURES_ONLY.split(", "))
    after_labels = _examples(settings, f"ds = '{yesterday}'").opened_24h.sum()
    pd.testing.assert_frame_equal(before_today, after_today)
    assert after_labels > before_labels  # the extra opens are real: they moved labels
