"""The domain facts of notiflow, each written once.

Python imports them from here (the simulator, the GX suites, the TFX pipelines, the
DAGs); dbt receives them as project vars (:func:`dbt_vars`, passed on every dbt
invocation). Where a tool cannot read them (dbt column names such as ``_28d``, the
curated TFDV schema's domains), ``tests/unit/test_domain_bindings.py`` binds the
literal to this module, so that a change here fails loudly there.

Standard library only: every environment (orchestration, dbt, TFX) imports it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# --- Channels and volume limits ---------------------------------------------------

# The channels a notification can go out on, in the order the simulator indexes them.
CHANNELS: tuple[str, ...] = ("push", "email", "in_app")
PUSH, EMAIL, IN_APP = CHANNELS

# The channels a user must opt in to (at signup: the users table's `<channel>_opt_in`);
# in-app shows only while the user is in the app and needs none.
OPT_IN_CHANNELS: tuple[str, ...] = (PUSH, EMAIL)

# At most this many notifications per user, channel and day (the plan gate checks
# them; the volume policy plans within them).
DAILY_CAPS: MappingProxyType[str, int] = MappingProxyType({PUSH: 2, EMAIL: 1, IN_APP: 2})

# Local hours [start, end) in which a channel must not send, wrapping midnight: a push
# at night wakes people. Email waits in the inbox and in-app shows only while the user
# is in the app, so they have none.
QUIET_HOURS: MappingProxyType[str, tuple[int, int] | None] = MappingProxyType(
    {PUSH: (22, 8), EMAIL: None, IN_APP: None}
)


def hours_outside(quiet: tuple[int, int] | None) -> tuple[int, ...]:
    """The local hours 0..23 outside a quiet window [start, end) (wrapping midnight when
    start > end; None or start == end: no quiet hours)."""
    if quiet is None or quiet[0] == quiet[1]:
        return tuple(range(24))
    start, end = quiet
    if start < end:
        return tuple(h for h in range(24) if not start <= h < end)
    return tuple(h for h in range(24) if end <= h < start)


# Items an email digest carries (push and in-app carry one).
EMAIL_DIGEST_ITEMS = 5

# --- Windows ----------------------------------------------------------------------

# The longest feature window of the dbt marts (28-day counts, rates and affinities;
# the `_28d` columns). A day's features are complete only once this much history
# precedes it: training on the days before would teach the model cold-start values
# serving never sees again (and the ExampleValidator's skew check refuses such a window).
FEATURE_WINDOW_DAYS = 28

# "Days since" features are capped here, and take the cap when nothing happened inside
# the feature window.
DAYS_SINCE_CAP = FEATURE_WINDOW_DAYS + 1

# Notification opens and clicks count only inside this window after the send (the
# engagement labels `opened_24h`, `clicked_24h`).
ATTRIBUTION_WINDOW_HOURS = 24

# Days after a send day until its labels are all logged: an open within 24 h of a send
# on day D may land on D + 1.
LABEL_MATURITY_DAYS = 1

# --- Experiment -------------------------------------------------------------------

# Share of users randomized out of every notification (the holdout), unless the
# settings say otherwise (`sim_holdout_share`).
HOLDOUT_SHARE_DEFAULT = 0.05
# The long-running notification holdout in raw.experiment_assignments: users of its
# HOLDOUT_GROUP get no notification (the comparison that measures what notifications
# add); the others are in TREATMENT_GROUP.
HOLDOUT_EXPERIMENT = "notification_holdout"
HOLDOUT_GROUP, TREATMENT_GROUP = "holdout", "treatment"

# The data faults the simulator can drill (the `daily_features` DAG offers them); each
# must be stopped by a named gate (README's fault matrix).
FAULT_DRILLS: tuple[str, ...] = (
    "nulls", "duplicates", "schema_drift", "late_data", "empty_day", "out_of_range", "volume_drop",
)  # fmt: skip

# --- Tables and Assets ------------------------------------------------------------

# The gated layers, in the order data passes them (quality results and reports key on them).
QUALITY_LAYERS: tuple[str, ...] = ("raw", "features", "plan")

# The faults the planning DAG can plant in its staged plan; the plan gate must stop each.
PLAN_FAULT_DRILLS: tuple[str, ...] = ("over_cap",)

RAW_SCHEMA = "raw"
MARTS_SCHEMA = "marts"
PLAN_SCHEMA = "plans"
PLAN_TABLE = "notification_plan"
# Where a new plan waits for its gate; only a plan that passed is copied to PLAN_TABLE.
PLAN_STAGING_TABLE = "notification_plan_staged"
RESULTS_SCHEMA = "quality"
RESULTS_TABLE = "data_quality_results"

# The feature marts (dbt models in `marts`), each an Asset updated once its day passed
# the features gate.
ENGAGEMENT_EXAMPLES = "ml_engagement_examples"
RANKING_EXAMPLES = "ml_ranking_examples"
SCORING_CANDIDATES = "ml_scoring_candidates"
SEND_OPTIONS = "ml_send_options"
USER_FEATURES = "user_features_daily"
PIN_FEATURES = "pin_features_daily"
FEATURE_MARTS: tuple[str, ...] = (
    ENGAGEMENT_EXAMPLES,
    RANKING_EXAMPLES,
    SCORING_CANDIDATES,
    SEND_OPTIONS,
    USER_FEATURES,
    PIN_FEATURES,
)

# Models, each an Asset updated when a new version is pushed.
ENGAGEMENT_MODEL = "engagement_model"
RANKING_MODEL = "ranking_model"


def mart_table(name: str) -> str:
    """The warehouse relation of a feature mart."""
    return f"{MARTS_SCHEMA}.{name}"


# --- Exit codes -------------------------------------------------------------------

# `python -m tfx_pipelines.run_component`: a gate stopped the run (bad data; retrying
# the same task cannot help).
TFX_GATE_EXIT_CODE = 3
# ... a Pusher pushed nothing (BashOperator's skip code: no model Asset event).
TFX_NOT_PUSHED_EXIT_CODE = 99


def dbt_vars() -> dict[str, Any]:
    """The domain facts dbt's models read with ``var()``."""
    return {
        "channels": list(CHANNELS),
        "feature_window_days": FEATURE_WINDOW_DAYS,
        "days_since_cap": DAYS_SINCE_CAP,
        "attribution_window_hours": ATTRIBUTION_WINDOW_HOURS,
        # the list the ranking model ranks tomorrow's candidates for: an email digest
        "digest_channel": EMAIL,
        "digest_list_size": EMAIL_DIGEST_ITEMS,
        "holdout_experiment": HOLDOUT_EXPERIMENT,
        "holdout_group": HOLDOUT_GROUP,
    }
