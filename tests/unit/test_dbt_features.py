"""The dbt project builds point-in-time-correct features, training sets and candidates."""

import datetime as dt
import shutil

import pandas as pd
import pytest

from notiflow import domain, simulator, warehouse
from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from tests.conftest import START
from tfx_pipelines.engagement import features as engagement_features
from tfx_pipelines.ranking import features as ranking_features

DAYS = 6
LAST_DAY = START + dt.timedelta(days=DAYS - 1)
NEXT_DAY = LAST_DAY + dt.timedelta(days=1)

# Columns of ml_engagement_examples that are not model features.
NOT_FEATURES = {
    "notification_id", "user_id", "ds", "sent_at", "policy_name", "propensity",
    "featured_pin_id", "opened_24h", "clicked_24h", "is_label_mature",
}  # fmt: skip
LABELS = ["opened_24h", "clicked_24h", "is_label_mature"]
WORLD = {"NOTIFLOW_SIM_USERS": "400", "NOTIFLOW_SIM_PINS": "80"}
# The engagement features the scorer sets per candidate send hour: not in ml_send_options.
SEND_TIME_FEATURES = {"local_send_hour", "day_of_week"}
OPTION_KEYS = ["ds", "user_id", "channel", "pin_id"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("dbt_home")
    settings = Settings.load({"NOTIFLOW_HOME": str(home), **WORLD})
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


def _types(settings: Settings, table: str) -> dict[str, str]:
    frame = _query(
        settings,
        f"""select column_name, data_type from information_schema.columns
            where table_schema = 'marts' and table_name = '{table}'""",
    )
    return dict(zip(frame.column_name, frame.data_type, strict=True))


def test_scoring_candidates_carry_the_ranking_features_named_and_typed_as_in_training(built):
    candidates = _table(built, "marts.ml_scoring_candidates", f"ds = '{NEXT_DAY}'")
    features = list(ranking_features.FEATURE_KEYS)
    served, trained = _types(built, "ml_scoring_candidates"), _types(built, "ml_ranking_examples")
    assert {k: served.get(k) for k in features} == {k: trained[k] for k in features}
    assert candidates[features].notna().all().all(), "features must never be null"
    # the list context: the email digest every ranking example comes from
    ranking = _table(built, "marts.ml_ranking_examples")
    assert set(ranking.channel) == {domain.EMAIL}
    assert ranking.list_size.max() == domain.EMAIL_DIGEST_ITEMS
    assert (candidates.channel == domain.EMAIL).all()
    assert (candidates.list_size == domain.EMAIL_DIGEST_ITEMS).all()
    assert candidates.pin_click_rate_28d.between(0, 1).all()
    assert (candidates.user_topic_affinity_28d > 0).mean() > 0.5


def test_send_options_are_every_eligible_channel_of_every_candidate(built):
    candidates = _table(built, "marts.ml_scoring_candidates")
    options = _table(built, "marts.ml_send_options")
    expected = pd.concat(
        candidates.loc[candidates[f"is_{channel}_eligible"], ["ds", "user_id", "pin_id"]].assign(
            channel=channel
        )
        for channel in domain.CHANNELS
    )
    assert len(options) == len(expected) > 0
    assert not options.duplicated(OPTION_KEYS).any()
    pd.testing.assert_frame_equal(
        options[OPTION_KEYS].sort_values(OPTION_KEYS).reset_index(drop=True),
        expected[OPTION_KEYS].sort_values(OPTION_KEYS).reset_index(drop=True),
    )
    assert pd.Timestamp(NEXT_DAY) in set(options.ds)
    features = [k for k in engagement_features.FEATURE_KEYS if k not in SEND_TIME_FEATURES]
    assert not SEND_TIME_FEATURES & set(options.columns)
    served, trained = _types(built, "ml_send_options"), _types(built, "ml_engagement_examples")
    # every feature column (the model's and the examples' others), named and typed as in training
    assert {c: t for c, t in served.items() if c not in OPTION_KEYS} == {
        c: trained[c] for c in served if c not in OPTION_KEYS
    }
    assert set(features) <= set(served)
    assert options.drop(columns=OPTION_KEYS).notna().all().all(), "features must never be null"
    tomorrow = options[options.ds == pd.Timestamp(NEXT_DAY)]
    assert (tomorrow.user_sends_28d > 0).mean() > 0.5
    assert (tomorrow.user_topic_affinity_28d > 0).mean() > 0.5


def _landed_next_day(built: Settings, tmp_path) -> Settings:
    """A copy of the built world in which NEXT_DAY landed and its daily run ran."""
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path / "home"), **WORLD})
    shutil.copytree(built.home, settings.home)
    simulator.simulate(settings, NEXT_DAY, 1)
    run_dbt(settings, ["run", "--quiet", "--vars", f"{{ds: '{NEXT_DAY}'}}"])
    return settings


def _assert_same_features(joined: pd.DataFrame, features: list[str]) -> None:
    for feature in features:
        # float sums may differ in the last bits with the order DuckDB adds them in
        pd.testing.assert_series_equal(
            joined[f"{feature}_trained"],
            joined[f"{feature}_served"],
            check_names=False,
            check_exact=False,
            rtol=1e-12,
            obj=feature,
        )


@pytest.mark.pit
def test_tomorrows_candidates_and_send_options_have_the_features_training_will_see(built, tmp_path):
    """Train/serve: the run landing D builds tomorrow's (D + 1) candidates and send options,
    which scoring reads. Once D + 1 has landed, a digest item of a candidate pin and a send
    featuring an option's pin on its channel become training examples, whose features
    (same macros, same cut-off: the end of D) are exactly the ones scoring used."""
    day = f"ds = '{NEXT_DAY}'"
    candidates = _table(built, "marts.ml_scoring_candidates", day)
    options = _table(built, "marts.ml_send_options", day)
    landed = _landed_next_day(built, tmp_path)
    items = _table(landed, "marts.ml_ranking_examples", day)
    sends = _table(landed, "marts.ml_engagement_examples", day)

    keys = ["ds", "user_id", "pin_id"]
    ranked = candidates.merge(items, on=keys, suffixes=("_served", "_trained"))
    assert len(ranked) >= 20, len(ranked)
    features = list(ranking_features.FEATURE_KEYS)
    _assert_same_features(ranked, features)

    scored = options.merge(
        sends.rename(columns={"featured_pin_id": "pin_id"}),
        on=OPTION_KEYS,
        suffixes=("_served", "_trained"),
    )
    assert len(scored) >= 20 and scored.channel.nunique() == len(domain.CHANNELS), scored.channel
    features = [c for c in options.columns if c not in OPTION_KEYS]  # channel: joined on
    assert {*features, "channel"} >= set(engagement_features.FEATURE_KEYS) - SEND_TIME_FEATURES
    _assert_same_features(scored, features)


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
SCORING_MARTS = ("marts.ml_scoring_candidates", "marts.ml_send_options")


@pytest.mark.pit
def test_events_after_the_cut_off_leave_every_feature_of_the_day_unchanged(built, tmp_path):
    """Opens, clicks and saves during day D (after the cut-off, the end of D-1) change no
    feature of any row for day D or earlier: snapshots, examples, ranking items, candidates
    and send options."""
    settings = _copy_of(built, tmp_path)
    day = f"ds <= '{LAST_DAY}'"
    before = {t: _table(built, t, day) for t in SNAPSHOTS}
    examples_before = _table(built, "marts.ml_engagement_examples", day).drop(columns=LABELS)
    ranking_before = _table(built, "marts.ml_ranking_examples", day).drop(
        columns=["clicked_24h", "is_label_mature"]
    )
    scoring_before = {t: _table(built, t, day) for t in SCORING_MARTS}
    tomorrow_before = _table(built, "marts.user_features_daily", f"ds = '{NEXT_DAY}'")

    _rebuild_after(
        settings,
        _extra_opens(f"ds = '{LAST_DAY}'", "sent_ts + interval 1 minute"),
        _extra_saves(LAST_DAY),
    )

    for table, frame in {**before, **scoring_before}.items():
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
