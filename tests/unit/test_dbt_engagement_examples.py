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


@pytest.mark.parametrize("event_type", ["open", "delivered"])
def test_events_after_the_cutoff_do_not_change_features(built, tmp_path, event_type):
    """An event on the send day itself (after the cut-off) must not move that day's features."""
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(built.warehouse_path, settings.warehouse_path)
    feature_columns = [
        c for c in _examples(built).columns if c not in ("opened_24h", "clicked_24h")
    ]
    before = _examples(settings, f"ds = '{LAST_DAY}'")[feature_columns]

    with warehouse.connect(settings) as con:
        # every notification of the last day gets an extra open a minute after it was sent,
        # i.e. after the cut-off (end of the previous day) of that day's own rows
        con.execute(
            f"""insert into raw.notification_events
                select notification_id || '-late-{event_type}', notification_id,
                       '{event_type}', null,
                       sent_ts + interval 1 minute, ds
                from raw.notifications where ds = '{LAST_DAY}'"""
        )
    run_dbt(settings, ["build", "--quiet", "--exclude", "test_type:data"])
    after = _examples(settings, f"ds = '{LAST_DAY}'")[feature_columns]
    pd.testing.assert_frame_equal(before, after)
