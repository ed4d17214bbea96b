"""Expectation suites, one factory per gated table, grouped in layers.

Each expectation carries its severity (critical fails the gate and stops
downstream work; warning is reported only) and a note saying what breaks
downstream if it fails.

A factory receives the :class:`Reference` of the day being validated: the day's
bounds and what the warehouse says about the trailing days before it (daily row
counts, statistics of key columns), computed at gate time by
:mod:`expectations.gates`. Checks that need reference days they do not have are
not built; they are listed in ``Reference.skipped`` instead, and the gate records
them as skipped outcomes.

Rules that need a join or an aggregate (caps, opt-outs) are expressed on columns
derived in the SQL that builds the validated frame (``GatedTable.frame_sql``),
named so that a failure message reads as the rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import great_expectations as gx
from great_expectations.core import ExpectationSuite

from notiflow import contracts, domain

LAYERS = domain.QUALITY_LAYERS
RAW, FEATURES, PLAN = LAYERS

# A gated mart's or plan's suite is named after its table.
ENGAGEMENT_EXAMPLES_SUITE = domain.ENGAGEMENT_EXAMPLES
RANKING_EXAMPLES_SUITE = domain.RANKING_EXAMPLES
USER_FEATURES_SUITE = domain.USER_FEATURES
SCORING_CANDIDATES_SUITE = domain.SCORING_CANDIDATES
SEND_OPTIONS_SUITE = domain.SEND_OPTIONS
PLAN_SUITE = domain.PLAN_TABLE

# Enumerations, as the loggers (the simulator locally) emit them.
CHANNELS = list(domain.CHANNELS)
ENGAGEMENT_EVENT_TYPES = ["impression", "closeup", "click", "save"]
SURFACES = ["home_feed", "search", "notification"]
NOTIFICATION_EVENT_TYPES = ["delivered", "open", "click", "dismiss", "unsubscribe"]
NOTIFICATION_TYPES = ["pin_recommendation", "digest"]
DROP_REASONS = ["holdout", "opted_out", "unsubscribed"]

# Volume: the day's row count against the mean of the trailing REFERENCE_DAYS days
# that have rows. Natural day-to-day change in the simulated world is up to ~20% in a
# small world (a few hundred users: one quiet day drops engagement events by 21%),
# so a 30% shortfall is the smallest drop we can call a broken load without paging
# on noise. A volume_drop fault of severity 0.2 loses ~36% of notification_events.
REFERENCE_DAYS = 7
VOLUME_TOLERANCE = 0.3
# Fewer reference days than this make the trailing mean too noisy to fail a day on:
# the volume check is then skipped (recorded, with the reason), never guessed. The
# row count >= 1 check still catches an empty day from the first day on.
MIN_REFERENCE_DAYS = 3

# Distribution bounds: a statistic of the day must lie within a band around the same
# statistic over the trailing days (warning). The band is the widest of
# DISTRIBUTION_TOLERANCE * |reference| (a real change), the column's absolute floor,
# and SAMPLING_SIGMAS standard errors of a mean of the day's row count (sampling noise:
# on a small day, a 0/1 label's daily mean moves by several points by chance alone).
# Columns marked critical_when_far fail the gate only beyond FAR_FACTOR times that
# band, where no real week-to-week change goes and only a broken pipeline does.
DISTRIBUTION_TOLERANCE = 0.25
SAMPLING_SIGMAS = 3.0
FAR_FACTOR = 3.0
# Quantile tails as shares: in the reference, 90% of values are >= its 10% quantile
# (and <= its 90% quantile); a day where fewer than 90% - TAIL_SLACK are has moved.
TAIL_SLACK = 0.15

# Daily caps of the notification plan: at most this many notifications per user per
# channel per day (product decisions, domain.DAILY_CAPS); the gate only enforces them.
# Push matches the logging heuristic's two daily slots.
DAILY_CAPS = dict(domain.DAILY_CAPS)


@dataclasses.dataclass(frozen=True)
class ColumnStats:
    """A column's statistics over the reference days."""

    mean: float
    std: float
    q10: float
    q50: float
    q90: float


@dataclasses.dataclass(frozen=True)
class DistributionCheck:
    column: str
    floor: float  # the smallest band: noise a statistic always has
    critical_when_far: bool = False


@dataclasses.dataclass
class Reference:
    """The day being validated and what the trailing days say about its table."""

    ds: str
    day_rows: int = 0  # rows of the day being validated
    reference_days: int = 0
    daily_row_counts: list[int] = dataclasses.field(default_factory=list)
    stats: dict[str, ColumnStats] = dataclasses.field(default_factory=dict)
    # The sending policies of the day, when the distribution reference is restricted to
    # them (GatedTable.by_policy).
    policies: tuple[str, ...] = ()
    # (expectation type, column or None, reason): checks not built for lack of reference.
    skipped: list[tuple[str, str | None, str]] = dataclasses.field(default_factory=list)

    @property
    def day_start(self) -> str:
        return f"{self.ds}T00:00:00"

    @property
    def day_end(self) -> str:
        return f"{dt.date.fromisoformat(self.ds) + dt.timedelta(days=1)}T00:00:00"


@dataclasses.dataclass(frozen=True)
class GatedTable:
    suite: str
    table: str  # schema.table in the warehouse
    layer: str
    factory: Callable[[Reference], ExpectationSuite]
    partitioned: bool = True  # validated on partition ds; else the whole table
    volume: bool = False  # row count against the trailing mean
    distribution: tuple[DistributionCheck, ...] = ()
    # Rows are sends (a notification_id column): the distribution checks compare the day
    # with the trailing rows of the same sending policies only. A new policy changes
    # open and click rates by design (that is its point, and policy evaluation measures
    # it); a shift under the same policy is what points at a broken pipeline.
    by_policy: bool = False
    # SQL building the validated frame (one parameter: ds); default: the day's rows.
    frame_sql: str | None = None


def _critical(expectation_cls: type, notes: str, **kwargs: object) -> object:
    return expectation_cls(severity="critical", notes=notes, **kwargs)


def _warning(expectation_cls: type, notes: str, **kwargs: object) -> object:
    return expectation_cls(severity="warning", notes=notes, **kwargs)


def _schema(columns_ddl: str, *, extra: tuple[str, ...] = ()) -> object:
    return _critical(
        gx.expectations.ExpectTableColumnsToMatchSet,
        "Columns are the table's contract: a renamed or missing column breaks the staging "
        "model that reads it.",
        column_set=[*contracts.column_names(columns_ddl), *extra],
        exact_match=True,
    )


def _columns_present(columns: list[str], consumer: str) -> object:
    return _critical(
        gx.expectations.ExpectTableColumnsToMatchSet,
        f"{consumer} reads these columns; the table may have more.",
        column_set=columns,
        exact_match=False,
    )


def _key(column: str, consumer: str) -> list[object]:
    e = gx.expectations
    return [
        _critical(
            e.ExpectColumnValuesToNotBeNull,
            f"A row without {column} cannot be joined or deduplicated by {consumer}.",
            column=column,
        ),
        _critical(
            e.ExpectColumnValuesToBeUnique,
            f"Duplicate {column} double-count rows in {consumer}.",
            column=column,
        ),
    ]


def _compound_key(columns: list[str], consumer: str) -> object:
    return _critical(
        gx.expectations.ExpectCompoundColumnsToBeUnique,
        f"({', '.join(columns)}) identifies a row; duplicates double-count in {consumer}.",
        column_list=columns,
    )


def _not_null(column: str, notes: str) -> object:
    return _critical(gx.expectations.ExpectColumnValuesToNotBeNull, notes, column=column)


def _null_rate(column: str, notes: str, mostly: float = 0.99) -> object:
    return _warning(
        gx.expectations.ExpectColumnValuesToNotBeNull, notes, column=column, mostly=mostly
    )


def _in_set(column: str, values: list, notes: str) -> object:
    return _critical(
        gx.expectations.ExpectColumnValuesToBeInSet, notes, column=column, value_set=values
    )


def _inside_day(column: str, reference: Reference, notes: str) -> object:
    return _critical(
        gx.expectations.ExpectColumnValuesToBeBetween,
        notes,
        column=column,
        min_value=reference.day_start,
        max_value=reference.day_end,
        strict_max=True,
    )


def _between(column: str, notes: str, *, critical: bool = True, **bounds: object) -> object:
    helper = _critical if critical else _warning
    return helper(gx.expectations.ExpectColumnValuesToBeBetween, notes, column=column, **bounds)


def _not_empty(what: str) -> object:
    return _critical(
        gx.expectations.ExpectTableRowCountToBeBetween,
        f"An empty day means the load failed; {what} would silently miss a day.",
        min_value=1,
    )


def _propensity(column: str = "propensity") -> object:
    return _between(
        column,
        "Propensities are probabilities; off-policy evaluation divides by them.",
        min_value=0.0,
        max_value=1.0,
        strict_min=True,
    )


def _boolean_rule(column: str, notes: str) -> object:
    return _in_set(column, [True], notes)


# ---------------------------------------------------------------- raw layer


def raw_users_suite(reference: Reference) -> ExpectationSuite:
    """The users dimension, whole (it has no partitions)."""
    expectations = [
        _schema(contracts.RAW_TABLES["users"]),
        _not_empty("every feature joined to users"),
        *_key("user_id", "stg_raw__users and every join on users"),
        _between(
            "tz_offset_hours",
            "Local send hour and active-hour features shift by this offset.",
            min_value=-12,
            max_value=14,
        ),
        *(
            _null_rate(
                f"{channel}_opt_in",
                f"A missing opt-in counts as opted out: the user gets no {channel}.",
            )
            for channel in domain.OPT_IN_CHANNELS
        ),
        *(
            _null_rate(column, f"Examples without {column} fall into the model's unknown bucket.")
            for column in ("country", "platform", "age_bucket")
        ),
    ]
    return ExpectationSuite(name="raw_users", expectations=expectations)


def raw_pins_suite(reference: Reference) -> ExpectationSuite:
    """Pins that entered the catalog on the day (no volume: additions are not traffic)."""
    expectations = [
        _schema(contracts.RAW_TABLES["pins"]),
        *_key("pin_id", "stg_raw__pins and the topic features"),
        _null_rate("topic", "Pins without a topic get no topic affinity feature."),
        _null_rate("creator_id", "Pins without a creator are missing from creator stats."),
    ]
    return ExpectationSuite(name="raw_pins", expectations=expectations)


def raw_engagement_events_suite(reference: Reference) -> ExpectationSuite:
    expectations = [
        _schema(contracts.RAW_TABLES["engagement_events"]),
        _not_empty("user activity features"),
        *_key("event_id", "user activity features"),
        _not_null("user_id", "An event without a user is lost from every user feature."),
        _not_null("pin_id", "An event without a pin is lost from pin and topic features."),
        _in_set(
            "event_type",
            ENGAGEMENT_EVENT_TYPES,
            "Unknown event types are dropped from activity counts.",
        ),
        _in_set("surface", SURFACES, "Unknown surfaces are dropped from session features."),
        _inside_day(
            "event_ts",
            reference,
            "An event outside its partition day is late or misrouted: features computed as "
            "of that day would change after the fact (point-in-time correctness).",
        ),
    ]
    return ExpectationSuite(name="raw_engagement_events", expectations=expectations)


def raw_notifications_suite(reference: Reference) -> ExpectationSuite:
    expectations = [
        _schema(contracts.RAW_TABLES["notifications"]),
        _not_empty("engagement examples"),
        *_key("notification_id", "engagement examples (one row per notification)"),
        _not_null("user_id", "A send without a user has no features and no label."),
        _in_set("channel", CHANNELS, "An unknown channel gets no channel features or policy."),
        # Warning only: a logging system that never recorded propensities still trains
        # models; the off-policy estimates of its days say they cannot be computed.
        _null_rate(
            "propensity",
            "Off-policy evaluation needs every send's propensity: days without them get "
            "no estimate.",
            mostly=1.0,
        ),
        _propensity(),
        _inside_day(
            "sent_ts",
            reference,
            f"A send outside its partition day breaks the {domain.ATTRIBUTION_WINDOW_HOURS}h "
            "label window and the daily caps.",
        ),
        _warning(
            gx.expectations.ExpectColumnValuesToBeInSet,
            "A new notification type is not wrong, but no feature knows it yet.",
            column="notification_type",
            value_set=NOTIFICATION_TYPES,
        ),
        _null_rate("policy", "Sends without a policy cannot be attributed in evaluation."),
    ]
    return ExpectationSuite(name="raw_notifications", expectations=expectations)


def raw_notification_items_suite(reference: Reference) -> ExpectationSuite:
    expectations = [
        _schema(contracts.RAW_TABLES["notification_items"]),
        _not_empty("ranking examples"),
        _not_null("notification_id", "An item without its notification has no list key."),
        _compound_key(["notification_id", "position"], "ranking examples"),
        _between(
            "position", "Positions start at 1 (top); click attribution uses them.", min_value=1
        ),
        _not_null("pin_id", "An item without a pin has no pin features."),
    ]
    return ExpectationSuite(name="raw_notification_items", expectations=expectations)


def raw_notification_events_suite(reference: Reference) -> ExpectationSuite:
    expectations = [
        _schema(contracts.RAW_TABLES["notification_events"]),
        _not_empty("the labels (opens, clicks)"),
        *_key("event_id", "labels (opens and clicks counted twice)"),
        _not_null("notification_id", "An outcome without its notification is lost from labels."),
        _in_set(
            "event_type",
            NOTIFICATION_EVENT_TYPES,
            "Unknown outcome types are dropped from the labels.",
        ),
        _between("position", "Clicks carry the item position, from 1 (top).", min_value=1),
        _inside_day(
            "event_ts",
            reference,
            "An outcome outside its partition day is late: labels of past days would change "
            "after training on them.",
        ),
    ]
    return ExpectationSuite(name="raw_notification_events", expectations=expectations)


def raw_experiment_assignments_suite(reference: Reference) -> ExpectationSuite:
    """The experiment assignments, whole; optional (empty: nobody is held out)."""
    expectations = [
        _schema(contracts.RAW_TABLES["experiment_assignments"]),
        _compound_key(["user_id", "experiment"], "the holdout flag of user_features_daily"),
        *(
            _not_null(column, f"An assignment without {column} cannot be told apart.")
            for column in ("user_id", "experiment", "group_name", "assigned_ts")
        ),
    ]
    return ExpectationSuite(name="raw_experiment_assignments", expectations=expectations)


def raw_notification_plan_drops_suite(reference: Reference) -> ExpectationSuite:
    """Empty on days without a plan, so no row count or volume checks."""
    expectations = [
        _schema(contracts.RAW_TABLES["notification_plan_drops"]),
        *_key("notification_id", "the plan-versus-sent reconciliation"),
        _in_set("channel", CHANNELS, "Drops are reconciled per channel."),
        _in_set("reason", DROP_REASONS, "An unknown drop reason hides why a plan was not sent."),
    ]
    return ExpectationSuite(name="raw_notification_plan_drops", expectations=expectations)


# ----------------------------------------------------------- features layer

ENGAGEMENT_EXAMPLES_COLUMNS = [
    "notification_id",
    "user_id",
    "ds",
    "sent_at",
    "propensity",
    "channel",
    "platform",
    "country",
    "pin_topic",
    "local_send_hour",
    "day_of_week",
    "user_tenure_days",
    "user_sends_7d",
    "user_opens_7d",
    "user_sends_28d",
    "user_opens_28d",
    "channel_sends_7d",
    "user_open_rate_28d",
    "channel_open_rate_28d",
    "topic_open_rate_28d",
    "days_since_last_open",
    "opened_24h",
    "clicked_24h",
]
ENGAGEMENT_COUNTS = [
    "user_sends_7d",
    "user_opens_7d",
    "user_sends_28d",
    "user_opens_28d",
    "channel_sends_7d",
]
ENGAGEMENT_RATES = ["user_open_rate_28d", "channel_open_rate_28d", "topic_open_rate_28d"]


def engagement_examples_suite(reference: Reference | None = None) -> ExpectationSuite:
    """Gate between the engagement-examples mart and model training (one day's rows)."""
    e = gx.expectations
    expectations = [
        _columns_present(ENGAGEMENT_EXAMPLES_COLUMNS, "The engagement model's Transform"),
        _not_empty("training"),
        _critical(
            e.ExpectColumnValuesToBeUnique,
            "Duplicate notifications double-count examples and bias the model.",
            column="notification_id",
        ),
        _not_null("notification_id", "An example without a notification cannot be traced."),
        _not_null("user_id", "An example without a user has no user features."),
        _critical(
            e.ExpectColumnValuesToNotBeNull,
            "A missing label cannot be trained on.",
            column="opened_24h",
        ),
        _critical(
            e.ExpectColumnValuesToBeInSet,
            "The label is binary; anything else corrupts the loss.",
            column="opened_24h",
            value_set=[0, 1],
        ),
        _in_set("clicked_24h", [0, 1], "The click label is binary; anything else corrupts it."),
        _critical(
            e.ExpectColumnValuesToBeInSet,
            "An unknown channel gets no embedding and no channel policy.",
            column="channel",
            value_set=CHANNELS,
        ),
        _propensity(),
        _critical(
            e.ExpectColumnValuesToBeBetween,
            "Send hour is a model feature; values outside a day mean broken time zones.",
            column="local_send_hour",
            min_value=0,
            max_value=23,
        ),
        _between(
            "day_of_week", "Day of week is a categorical feature 0..6.", min_value=0, max_value=6
        ),
        _between("user_tenure_days", "Negative tenure means a signup after the send.", min_value=0),
        *(
            _between(column, "Counts of past activity cannot be negative.", min_value=0)
            for column in ENGAGEMENT_COUNTS
        ),
        _critical(
            e.ExpectColumnValuesToBeBetween,
            "Smoothed open rates are probabilities.",
            column="user_open_rate_28d",
            min_value=0.0,
            max_value=1.0,
        ),
        *(
            _between(column, "Smoothed open rates are probabilities.", min_value=0.0, max_value=1.0)
            for column in ENGAGEMENT_RATES[1:]
        ),
        _between(
            "days_since_last_open",
            f"Capped at {domain.DAYS_SINCE_CAP} (no open in the {domain.FEATURE_WINDOW_DAYS}-day "
            "window); beyond the cap the feature is broken.",
            min_value=0,
            max_value=domain.DAYS_SINCE_CAP,
        ),
        *(
            _null_rate(column, f"Null {column} falls into the model's unknown bucket.")
            for column in ("platform", "country", "pin_topic")
        ),
        _warning(
            e.ExpectColumnMeanToBeBetween,
            "An open rate far outside the usual range points at a logging change.",
            column="opened_24h",
            min_value=0.01,
            max_value=0.6,
        ),
    ]
    return ExpectationSuite(name=ENGAGEMENT_EXAMPLES_SUITE, expectations=expectations)


RANKING_EXAMPLES_COLUMNS = [
    "notification_id",
    "item_position",
    "pin_id",
    "ds",
    "pin_click_rate_28d",
    "pin_save_rate_28d",
    "creator_pin_count",
    "user_topic_engagements_7d",
    "user_topic_engagements_28d",
    "has_seen_pin_before",
    "clicked_24h",
]
RANKING_RATES = ["pin_click_rate_28d", "pin_save_rate_28d"]
RANKING_COUNTS = ["creator_pin_count", "user_topic_engagements_7d", "user_topic_engagements_28d"]


def ranking_examples_suite(reference: Reference) -> ExpectationSuite:
    """Gate between the ranking-examples mart (one row per notification item) and training."""
    expectations = [
        _columns_present(RANKING_EXAMPLES_COLUMNS, "The ranking model's Transform"),
        _not_empty("ranking training"),
        _not_null("notification_id", "The list key groups items for the listwise loss."),
        _not_null("pin_id", "An item without a pin has no pin features."),
        _compound_key(["notification_id", "item_position"], "the ranking model's lists"),
        _between(
            "item_position",
            "Positions start at 1 (top); the ranker absorbs position bias from them in training.",
            min_value=1,
        ),
        *(
            _between(column, "Smoothed rates are probabilities.", min_value=0.0, max_value=1.0)
            for column in RANKING_RATES
        ),
        *(
            _between(column, "Counts of past activity cannot be negative.", min_value=0)
            for column in RANKING_COUNTS
        ),
        _not_null(
            "has_seen_pin_before",
            "The flag is false when the pin was neither sent nor saved; null means a broken join.",
        ),
        _not_null("clicked_24h", "A missing label cannot be trained on."),
        _in_set("clicked_24h", [0, 1], "The label is binary; anything else corrupts the loss."),
    ]
    return ExpectationSuite(name=RANKING_EXAMPLES_SUITE, expectations=expectations)


def user_features_suite(reference: Reference) -> ExpectationSuite:
    """Daily user feature snapshot, read by scoring for the next day."""
    expectations = [
        _columns_present(["user_id", "ds"], "Scoring"),
        _not_empty("scoring (no user would be scored)"),
        _not_null("user_id", "A snapshot row without a user cannot be joined at scoring."),
        _compound_key(["user_id", "ds"], "scoring (a user scored twice)"),
    ]
    return ExpectationSuite(name=USER_FEATURES_SUITE, expectations=expectations)


# Tomorrow's scoring marts: the run landing ds builds them for ds + 1 (from data up to the
# end of ds), so the features gate of day ds validates those rows, the ones scoring reads.
# No row-count check: a re-run of a day older than var candidate_retention_days builds
# none of them, by design (an empty plan is stopped by the plan gate).
def _tomorrows_rows(table: str) -> str:
    tomorrow = "cast(?::date + interval 1 day as date)"
    return f"select * from {domain.mart_table(table)} where ds = {tomorrow}"


# The ranking model's features (tfx_pipelines/ranking/features.py FEATURE_KEYS, which the
# gates may not import; tests/unit/test_gx_features_layer.py binds the two lists).
RANKING_FEATURES = [
    "channel",
    "platform",
    "country",
    "pin_topic",
    "list_size",
    "user_events_7d",
    "user_events_28d",
    "pin_age_days",
    "pin_impressions_7d",
    "pin_saves_7d",
    "creator_saves_28d",
    "creator_pin_count",
    "user_topic_engagements_7d",
    "user_topic_engagements_28d",
    "has_seen_pin_before",
    "user_open_rate_28d",
    "user_topic_affinity_7d",
    "user_topic_affinity_28d",
    "pin_click_rate_7d",
    "pin_click_rate_28d",
    "pin_save_rate_28d",
    "pin_popularity_28d",
]
SCORING_CANDIDATES_COLUMNS = ["ds", "user_id", "pin_id", "candidate_rank", *RANKING_FEATURES]

# The engagement model's features but the send's hour and day of week, which the scorer
# sets per candidate send hour (tfx_pipelines/engagement/features.py FEATURE_KEYS; bound
# in tests/unit/test_gx_features_layer.py).
SEND_OPTION_FEATURES = [
    "channel",
    "platform",
    "country",
    "age_bucket",
    "pin_topic",
    "user_tenure_days",
    "user_events_1d",
    "user_events_7d",
    "user_events_28d",
    "user_active_days_28d",
    "days_since_last_active",
    "user_sends_1d",
    "user_sends_7d",
    "user_opens_7d",
    "user_sends_28d",
    "user_opens_28d",
    "channel_sends_1d",
    "channel_sends_7d",
    "pin_age_days",
    "pin_impressions_7d",
    "pin_saves_7d",
    "creator_pin_count",
    "creator_saves_28d",
    "user_open_rate_28d",
    "channel_open_rate_28d",
    "topic_open_rate_28d",
    "days_since_last_open",
    "user_active_hour_cos_28d",
    "user_active_hour_sin_28d",
    "user_topic_affinity_7d",
    "user_topic_affinity_28d",
    "pin_click_rate_7d",
    "pin_popularity_28d",
]
SEND_OPTIONS_COLUMNS = ["ds", "user_id", "pin_id", *SEND_OPTION_FEATURES]


def scoring_candidates_suite(reference: Reference) -> ExpectationSuite:
    """Tomorrow's candidates (ds + 1), which scoring ranks with the ranking model."""
    expectations = [
        _columns_present(SCORING_CANDIDATES_COLUMNS, "Scoring with the ranking model"),
        _not_null("user_id", "A candidate without a user cannot be planned."),
        _not_null("pin_id", "A candidate without a pin cannot be ranked or sent."),
        _compound_key(["user_id", "pin_id"], "scoring (a pin ranked twice for a user)"),
    ]
    return ExpectationSuite(name=SCORING_CANDIDATES_SUITE, expectations=expectations)


def send_options_suite(reference: Reference) -> ExpectationSuite:
    """Tomorrow's send options (ds + 1), which scoring scores with the engagement model."""
    expectations = [
        _columns_present(SEND_OPTIONS_COLUMNS, "Scoring with the engagement model"),
        _not_null("user_id", "An option without a user cannot be planned."),
        _not_null("channel", "An option without a channel cannot be sent."),
        _not_null("pin_id", "An option without a pin has no pin features and nothing to send."),
        _compound_key(
            ["user_id", "channel", "pin_id"], "scoring (an option scored and planned twice)"
        ),
        _in_set("channel", CHANNELS, "The sender has no route for an unknown channel."),
    ]
    return ExpectationSuite(name=SEND_OPTIONS_SUITE, expectations=expectations)


# --------------------------------------------------------------- plan layer

# The plan of the day with the rules that need a join or an aggregate derived as
# columns, named as the rule: opt-ins from raw.users, the holdout from
# raw.experiment_assignments, unsubscribes from the logged
# events, per user and channel send counts against DAILY_CAPS, items per notification.
PLAN_DERIVED_COLUMNS = (
    "is_known_user",
    "is_outside_holdout",
    "is_opted_in",
    "user_channel_sends",
    "is_within_daily_cap",
    "is_item_count_allowed",
    "is_subscribed",
    "is_outside_quiet_hours",
)
_CAP_CASE = " ".join(f"when '{c}' then {n}" for c, n in DAILY_CAPS.items())
_OPT_IN_CASE = " ".join(
    f"when '{c}' then coalesce(users.{c}_opt_in, false)" for c in domain.OPT_IN_CHANNELS
)
# The local hour of a send (the user's offset from raw.users) against the channel's quiet
# hours; channels without quiet hours always pass.
_QUIET_HOURS_CASE = " ".join(
    f"when '{c}' then extract(hour from counted.send_ts "
    f"+ to_hours(coalesce(users.tz_offset_hours, 0))) in "
    f"({', '.join(str(h) for h in domain.hours_outside(window))})"
    for c, window in domain.QUIET_HOURS.items()
    if window is not None
)
_OUTSIDE_QUIET_HOURS = (
    f"case counted.channel {_QUIET_HOURS_CASE} else true end" if _QUIET_HOURS_CASE else "true"
)
# The gate checks the staged plan: only a plan that passed is published to the senders.
PLAN_GATED_TABLE = f"{contracts.PLAN_SCHEMA}.{domain.PLAN_STAGING_TABLE}"
PLAN_FRAME_SQL = f"""
    with plan as (
        select * from {PLAN_GATED_TABLE} where ds = ?::date
    ),
    counted as (
        select
            plan.*,
            count(distinct notification_id) over (partition by user_id, channel)
                as user_channel_sends,
            count(*) over (partition by notification_id) as items_in_notification
        from plan
    ),
    -- (user, channel) pairs unsubscribed on a logged day before the plan's day
    unsubscribed as (
        select notifications.user_id, notifications.channel, min(events.ds) as first_ds
        from {contracts.RAW_SCHEMA}.notification_events as events
        inner join {contracts.RAW_SCHEMA}.notifications as notifications
            on events.notification_id = notifications.notification_id
        where events.event_type = 'unsubscribe'
        group by notifications.user_id, notifications.channel
    ),
    held_out as (
        select distinct user_id from {contracts.RAW_SCHEMA}.experiment_assignments
        where experiment = '{domain.HOLDOUT_EXPERIMENT}' and group_name = '{domain.HOLDOUT_GROUP}'
    )
    select
        counted.* exclude (items_in_notification),
        users.user_id is not null as is_known_user,
        held_out.user_id is null as is_outside_holdout,
        -- channels without an opt-in reach every known user
        case counted.channel {_OPT_IN_CASE}
            else users.user_id is not null
        end as is_opted_in,
        counted.user_channel_sends <= case counted.channel {_CAP_CASE} else 0 end
            as is_within_daily_cap,
        counted.channel = '{domain.EMAIL}' or counted.items_in_notification = 1
            as is_item_count_allowed,
        unsubscribed.user_id is null as is_subscribed,
        {_OUTSIDE_QUIET_HOURS} as is_outside_quiet_hours
    from counted
    left join {contracts.RAW_SCHEMA}.users as users on counted.user_id = users.user_id
    left join held_out on counted.user_id = held_out.user_id
    left join unsubscribed
        on counted.user_id = unsubscribed.user_id
        and counted.channel = unsubscribed.channel
        and unsubscribed.first_ds < counted.ds
"""


def notification_plan_suite(reference: Reference) -> ExpectationSuite:
    """Gate between scoring and sending: what the senders will do with the plan."""
    expectations = [
        _schema(contracts.PLAN_COLUMNS, extra=PLAN_DERIVED_COLUMNS),
        _critical(
            gx.expectations.ExpectTableRowCountToBeBetween,
            "An empty plan sends nothing: scoring failed or selected nobody.",
            min_value=1,
        ),
        _compound_key(["notification_id", "position"], "the sender (an item sent twice)"),
        _in_set("channel", CHANNELS, "The sender has no route for an unknown channel."),
        _propensity(),
        _inside_day(
            "send_ts",
            reference,
            "A send outside its day is refused by the sender and breaks the day's caps.",
        ),
        _between("position", "Positions start at 1 (top).", min_value=1),
        _boolean_rule(
            "is_known_user", "A plan row for a user not in raw.users cannot be delivered."
        ),
        _boolean_rule(
            "is_outside_holdout",
            "Users of the randomized notification holdout get nothing: one send to them "
            "biases the measure of what notifications add (and the sender drops it).",
        ),
        _boolean_rule(
            "is_opted_in",
            "Sending on a channel the user did not opt in to breaks consent (and the sender "
            "drops it, so the plan's evaluation is wrong).",
        ),
        _boolean_rule(
            "is_subscribed",
            "The user unsubscribed from this channel on an earlier day; sending again "
            "ignores their choice (and the sender drops it).",
        ),
        _boolean_rule(
            "is_within_daily_cap",
            f"Daily caps per user and channel ({DAILY_CAPS}) protect users from fatigue and "
            "unsubscribes.",
        ),
        _boolean_rule(
            "is_item_count_allowed",
            "Push and in-app notifications carry exactly one item; the sender refuses the "
            "whole plan otherwise.",
        ),
        _boolean_rule(
            "is_outside_quiet_hours",
            f"Quiet hours in the user's local time ({dict(domain.QUIET_HOURS)}): a push at "
            "night wakes people, and they unsubscribe.",
        ),
    ]
    return ExpectationSuite(name=PLAN_SUITE, expectations=expectations)


# ------------------------------------------------ reference-window checks


def volume_expectations(table: str, reference: Reference) -> list[object]:
    """Day's row count against the trailing mean, or a skip recorded in ``reference``."""
    if reference.reference_days < MIN_REFERENCE_DAYS:
        reference.skipped.append(
            (
                "expect_table_row_count_to_be_between",
                None,
                f"volume check skipped: {reference.reference_days} reference day(s) with rows "
                f"in the {REFERENCE_DAYS} days before {reference.ds}, "
                f"{MIN_REFERENCE_DAYS} needed",
            )
        )
        return []
    mean = sum(reference.daily_row_counts) / len(reference.daily_row_counts)
    min_rows = max(1, int(mean * (1 - VOLUME_TOLERANCE)))
    return [
        _critical(
            gx.expectations.ExpectTableRowCountToBeBetween,
            f"A day with far fewer rows than the trailing mean is a partial load: every "
            f"daily aggregate of {table} downstream would be silently low.",
            min_value=min_rows,
            meta={
                "reference": {
                    "rule": f"row count >= (1 - {VOLUME_TOLERANCE}) x trailing mean",
                    "min_value": min_rows,
                    "trailing_mean": round(mean, 1),
                    "reference_days": reference.reference_days,
                }
            },
        )
    ]


def distribution_expectations(
    checks: tuple[DistributionCheck, ...], reference: Reference
) -> list[object]:
    """Mean, median and tails of key columns against the trailing days (or skips)."""
    e = gx.expectations
    expectations: list[object] = []
    for check in checks:
        stats = reference.stats.get(check.column)
        if stats is None:
            for kind in (
                "expect_column_mean_to_be_between",
                "expect_column_median_to_be_between",
            ):
                of_policies = (
                    f" with sends of policy {', '.join(reference.policies)}"
                    if reference.policies
                    else ""
                )
                reference.skipped.append(
                    (
                        kind,
                        check.column,
                        f"distribution check skipped: no reference days{of_policies} in the "
                        f"{REFERENCE_DAYS} days before {reference.ds}",
                    )
                )
            continue

        noise = SAMPLING_SIGMAS * stats.std / max(reference.day_rows, 1) ** 0.5

        def band(value: float, check: DistributionCheck = check, noise: float = noise) -> float:
            return max(DISTRIBUTION_TOLERANCE * abs(value), check.floor, noise)

        def meta(statistic: str, value: float, width: float) -> dict:
            return {
                "reference": {
                    "rule": f"{statistic} within {width:.4g} of the trailing {statistic}",
                    "trailing": round(value, 6),
                    "reference_days": reference.reference_days,
                }
            }

        note = (
            f"A shift of {check.column} against the trailing week points at a logging or "
            "feature change; the model was trained on the old distribution."
        )
        width = band(stats.mean)
        expectations.append(
            _warning(
                e.ExpectColumnMeanToBeBetween,
                note,
                column=check.column,
                min_value=stats.mean - width,
                max_value=stats.mean + width,
                meta=meta("mean", stats.mean, width),
            )
        )
        if check.critical_when_far:
            far = FAR_FACTOR * width
            expectations.append(
                _critical(
                    e.ExpectColumnMeanToBeBetween,
                    f"{check.column}'s mean is far outside its trailing range: the pipeline, "
                    "not the world, changed; training on it would poison the model.",
                    column=check.column,
                    min_value=stats.mean - far,
                    max_value=stats.mean + far,
                    meta=meta("mean", stats.mean, far),
                )
            )
        width = band(stats.q50)
        expectations.append(
            _warning(
                e.ExpectColumnMedianToBeBetween,
                note,
                column=check.column,
                min_value=stats.q50 - width,
                max_value=stats.q50 + width,
                meta=meta("median", stats.q50, width),
            )
        )
        # Tails as shares of values (ExpectColumnQuantileValuesToBeBetween cannot store
        # its result with numpy 2 in GX 1.24: numpy booleans in its details).
        for statistic, bound in (
            ("q10", {"min_value": stats.q10}),
            ("q90", {"max_value": stats.q90}),
        ):
            value = stats.q10 if statistic == "q10" else stats.q90
            expectations.append(
                _warning(
                    e.ExpectColumnValuesToBeBetween,
                    note,
                    column=check.column,
                    mostly=round(0.9 - TAIL_SLACK, 4),
                    meta={
                        "reference": {
                            "rule": f"at least {0.9 - TAIL_SLACK:.0%} of values on the inner "
                            f"side of the trailing {statistic}",
                            "trailing": round(value, 6),
                            "reference_days": reference.reference_days,
                        }
                    },
                    **bound,
                )
            )
    return expectations


def _raw(table: str, factory: Callable[[Reference], ExpectationSuite], **kwargs) -> GatedTable:
    return GatedTable(f"raw_{table}", f"{contracts.RAW_SCHEMA}.{table}", RAW, factory, **kwargs)


# Suite name → gated table. Raw suites in contracts.RAW_TABLES order.
SUITES: dict[str, GatedTable] = {
    gated.suite: gated
    for gated in (
        _raw("users", raw_users_suite, partitioned=False),
        _raw("experiment_assignments", raw_experiment_assignments_suite, partitioned=False),
        _raw("pins", raw_pins_suite),
        _raw("engagement_events", raw_engagement_events_suite, volume=True),
        _raw("notifications", raw_notifications_suite, volume=True),
        _raw("notification_items", raw_notification_items_suite, volume=True),
        _raw("notification_events", raw_notification_events_suite, volume=True),
        _raw("notification_plan_drops", raw_notification_plan_drops_suite),
        GatedTable(
            ENGAGEMENT_EXAMPLES_SUITE,
            domain.mart_table(domain.ENGAGEMENT_EXAMPLES),
            FEATURES,
            engagement_examples_suite,
            distribution=(
                DistributionCheck("opened_24h", floor=0.02, critical_when_far=True),
                DistributionCheck("user_open_rate_28d", floor=0.02, critical_when_far=True),
                DistributionCheck("channel_open_rate_28d", floor=0.02),
                # Warning only: it grows through a world's first feature window.
                DistributionCheck("user_sends_28d", floor=1.0),
            ),
            by_policy=True,
        ),
        GatedTable(
            RANKING_EXAMPLES_SUITE,
            domain.mart_table(domain.RANKING_EXAMPLES),
            FEATURES,
            ranking_examples_suite,
            distribution=(DistributionCheck("clicked_24h", floor=0.02, critical_when_far=True),),
            by_policy=True,
        ),
        GatedTable(
            USER_FEATURES_SUITE,
            domain.mart_table(domain.USER_FEATURES),
            FEATURES,
            user_features_suite,
        ),
        GatedTable(
            SCORING_CANDIDATES_SUITE,
            domain.mart_table(domain.SCORING_CANDIDATES),
            FEATURES,
            scoring_candidates_suite,
            frame_sql=_tomorrows_rows(domain.SCORING_CANDIDATES),
        ),
        GatedTable(
            SEND_OPTIONS_SUITE,
            domain.mart_table(domain.SEND_OPTIONS),
            FEATURES,
            send_options_suite,
            frame_sql=_tomorrows_rows(domain.SEND_OPTIONS),
        ),
        GatedTable(
            PLAN_SUITE,
            PLAN_GATED_TABLE,
            PLAN,
            notification_plan_suite,
            frame_sql=PLAN_FRAME_SQL,
        ),
    )
}
if {s.suite for s in SUITES.values() if s.layer == RAW} != {
    f"raw_{t}" for t in contracts.RAW_TABLES
}:
    raise RuntimeError("every table of contracts.RAW_TABLES needs a raw suite")


def layer_suites(layer: str) -> list[GatedTable]:
    if layer not in LAYERS:
        raise KeyError(f"no layer named {layer!r}; known: {list(LAYERS)}")
    return [gated for gated in SUITES.values() if gated.layer == layer]


def build_suite(gated: GatedTable, reference: Reference) -> ExpectationSuite:
    """The table's suite for the day, with its volume and distribution checks."""
    suite = gated.factory(reference)
    extra = []
    if gated.volume:
        extra += volume_expectations(gated.table, reference)
    extra += distribution_expectations(gated.distribution, reference)
    for expectation in extra:
        suite.add_expectation(expectation)
    return suite
