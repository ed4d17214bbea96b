"""The dbt project builds point-in-time-correct features, training sets and candidates."""

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
NEXT_DAY = LAST_DAY + dt.timedelta(days=1)

# Columns of ml_engagement_examples that are not model features.
NOT_FEATURES = {
    "notification_id", "user_id", "ds", "sent_at", "policy_name", "propensity",
    "featured_pin_id", "opened_24h", "clicked_24h", "is_label_mature",
}  # fmt: skip
LABELS = ["opened_24h", "clicked_24h", "is_label_mature"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("dbt_home")
    settings = Settings.load(
        {"NOTIFLOW_HOME": str(home), "NOTIFLOW_SIM_USERS": "400", "NOTIFLOW_SIM_PINS": "80"}
    )
    simulator.simulate(settings, START, DAYS)
    run_dbt(settings, ["build", "--quiet"])
    return settings


def _query(settings: Settings, sql: str) -> pd.DataFrame:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql).fetchdf()


def _table(settings: Settings, table: str, where: str = "true") -> pd.DataFrame:
    frame = _query(settings, f"select * from {table} where {where}")
    keys = [c for c in frame.columns if frame[c].dtype.kind != "f"]
    return frame.sort_values(keys).reset_index(drop=True)


def test_one_engagement_example_per_notification_with_24h_labels(built):
    examples = _table(built, "marts.ml_engagement_examples")
    counts = _query(
        built,
        """select
             (select count(*) from raw.notifications) as sent,
             (select count(distinct n.notification_id) from raw.notifications n
              join raw.notification_events e using (notification_id)
              where e.event_type = 'open' and e.event_ts >= n.sent_ts
                and e.event_ts <= n.sent_ts + interval 24 hour) as opened""",
    ).iloc[0]
    assert len(examples) == counts.sent
    assert examples.notification_id.is_unique
    assert examples.opened_24h.sum() == counts.opened
    assert examples.local_send_hour.between(0, 23).all()
    features = [c for c in examples.columns if c not in NOT_FEATURES]
    assert len(features) >= 25, features
    assert examples[features].notna().all().all(), "features must never be null"


def test_labels_of_the_newest_day_are_marked_immature(built):
    examples = _table(built, "marts.ml_engagement_examples")
    mature = examples.groupby("ds").is_label_mature.agg(["min", "max"])
    assert not mature.loc[pd.Timestamp(LAST_DAY)].any()
    assert mature.drop(index=pd.Timestamp(LAST_DAY)).all().all()


def test_first_day_has_no_history_and_later_days_do(built):
    examples = _table(built, "marts.ml_engagement_examples")
    first = examples[examples.ds == pd.Timestamp(START)]
    last = examples[examples.ds == pd.Timestamp(LAST_DAY)]
    assert (first.user_sends_28d == 0).all() and (first.user_events_28d == 0).all()
    assert (last.user_sends_28d > 0).mean() > 0.5
    assert (last.user_topic_affinity_28d > 0).mean() > 0.3
    assert (last.pin_popularity_28d > 0).mean() > 0.5


def test_ranking_examples_are_the_digest_items_with_their_clicks(built):
    ranking = _table(built, "marts.ml_ranking_examples")
    expected = _query(
        built,
        """select count(*) as items,
                  count(distinct i.notification_id) as lists
           from raw.notification_items i join raw.notifications n using (notification_id)
           where n.notification_type = 'digest'""",
    ).iloc[0]
    clicks = _query(
        built,
        """select count(distinct e.notification_id || '#' || e.position) as clicked
           from raw.notification_events e join raw.notifications n using (notification_id)
           where n.notification_type = 'digest' and e.event_type = 'click'
             and e.event_ts <= n.sent_ts + interval 24 hour""",
    ).clicked[0]
    assert len(ranking) == expected["items"] and ranking.list_id.nunique() == expected.lists
    assert ranking.clicked_24h.sum() == clicks > 0
    sizes = ranking.groupby("list_id").agg(size=("item_position", "size"), n=("list_size", "max"))
    assert (sizes["size"] == sizes["n"]).all()


def test_scoring_candidates_are_for_tomorrow_and_skip_recent_pins(built):
    candidates = _table(built, "marts.ml_scoring_candidates", f"ds = '{NEXT_DAY}'")
    assert len(candidates) > 0
    per_user = candidates.groupby("user_id").size()
    assert per_user.max() <= 20
    assert (candidates.groupby("user_id").candidate_rank.min() == 1).all()
    recent = _query(
        built,
        f"""select distinct n.user_id, i.pin_id from raw.notification_items i
            join raw.notifications n using (notification_id)
            where i.ds >= date '{NEXT_DAY}' - interval 14 day
            union
            select distinct user_id, pin_id from raw.engagement_events
            where event_type = 'save' and ds >= date '{NEXT_DAY}' - interval 14 day""",
    )
    clash = candidates.merge(recent, on=["user_id", "pin_id"])
    assert clash.empty, clash.head()
    eligible = candidates[["is_push_eligible", "is_email_eligible", "is_in_app_eligible"]]
    assert eligible.any(axis=1).all()


def _copy_of(built: Settings, tmp_path) -> Settings:
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(built.warehouse_path, settings.warehouse_path)
    return settings


def _rebuild_after(settings: Settings, *statements: str) -> None:
    with warehouse.connect(settings) as con:
        for statement in statements:
            con.execute(statement)
    run_dbt(settings, ["build", "--quiet", "--exclude", "test_type:data"])


def _extra_opens(select_notifications: str, open_at: str) -> str:
    return f"""insert into raw.notification_events
        select notification_id || '-extra-open', notification_id, 'open', null,
               {open_at}, cast({open_at} as date)
        from raw.notifications where {select_notifications}"""


def _extra_saves(day: dt.date) -> str:
    """Every user saves pins they never saw, late on ``day``."""
    return f"""insert into raw.engagement_events
        select 'extra-save-' || u.user_id || '-' || p.pin_id, u.user_id, p.pin_id, 'save',
               'search', timestamp '{day} 23:00:00', date '{day}'
        from raw.users u cross join (select pin_id from raw.pins limit 3) p"""


SNAPSHOTS = (
    "marts.user_features_daily", "marts.pin_features_daily", "intermediate.int_user_topic_affinity",
)  # fmt: skip


@pytest.mark.pit
def test_events_after_the_cut_off_leave_every_feature_of_the_day_unchanged(built, tmp_path):
    """Opens, clicks and saves during day D (after the cut-off, the end of D-1) change no
    feature of any row for day D or earlier: snapshots, examples and ranking items."""
    settings = _copy_of(built, tmp_path)
    day = f"ds <= '{LAST_DAY}'"
    before = {t: _table(built, t, day) for t in SNAPSHOTS}
    examples_before = _table(built, "marts.ml_engagement_examples", day).drop(columns=LABELS)
    ranking_before = _table(built, "marts.ml_ranking_examples", day).drop(
        columns=["clicked_24h", "is_label_mature"]
    )
    tomorrow_before = _table(built, "marts.user_features_daily", f"ds = '{NEXT_DAY}'")

    _rebuild_after(
        settings,
        _extra_opens(f"ds = '{LAST_DAY}'", "sent_ts + interval 1 minute"),
        _extra_saves(LAST_DAY),
    )

    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, _table(settings, table, day), obj=table)
    pd.testing.assert_frame_equal(
        examples_before,
        _table(settings, "marts.ml_engagement_examples", day).drop(columns=LABELS),
    )
    pd.testing.assert_frame_equal(
        ranking_before,
        _table(settings, "marts.ml_ranking_examples", day).drop(
            columns=["clicked_24h", "is_label_mature"]
        ),
    )
    # the extra events are real: tomorrow's snapshot (cut-off: end of D) sees them
    tomorrow_after = _table(settings, "marts.user_features_daily", f"ds = '{NEXT_DAY}'")
    assert tomorrow_after.organic_events_1d.sum() > tomorrow_before.organic_events_1d.sum()
    assert tomorrow_after.notification_opens_7d.sum() > tomorrow_before.notification_opens_7d.sum()


@pytest.mark.pit
def test_late_opens_of_yesterdays_sends_count_for_yesterday_labels_not_todays_features(
    built, tmp_path
):
    """An open at 00:30 on D of a send from D-1 is after D's cut-off: it may change D-1's
    labels but never D's features (opens are dated when they happen, not by their send)."""
    settings = _copy_of(built, tmp_path)
    yesterday = LAST_DAY - dt.timedelta(days=1)
    today = f"ds = '{LAST_DAY}'"
    before_today = _table(built, "marts.ml_engagement_examples", today).drop(columns=LABELS)
    before_labels = _table(built, "marts.ml_engagement_examples", f"ds = '{yesterday}'")
    _rebuild_after(
        settings,
        _extra_opens(
            f"ds = '{yesterday}' and sent_ts >= timestamp '{yesterday} 01:00:00'",
            f"timestamp '{LAST_DAY} 00:30:00'",
        ),
    )
    after_today = _table(settings, "marts.ml_engagement_examples", today).drop(columns=LABELS)
    after_labels = _table(settings, "marts.ml_engagement_examples", f"ds = '{yesterday}'")
    pd.testing.assert_frame_equal(before_today, after_today)
    # the extra opens are real: they moved yesterday's labels
    assert after_labels.opened_24h.sum() > before_labels.opened_24h.sum()
