"""The contracts of the tables notiflow is fed and feeds, each in one place.

Both sides of each contract import it from here:

* the raw layer (:data:`RAW_TABLES`, DESIGN.md §3), written by the loggers (locally the
  simulator) and the warehouse loader, checked by the raw GX suites, read by dbt's
  staging models;
* the notification plan (:data:`PLAN_COLUMNS`), written by the scoring DAG, checked by
  the plan GX suite and executed by the senders (locally the simulator);
* the data-quality results (:data:`RESULTS_COLUMNS`), written by the gates and read by
  the reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notiflow.domain import PLAN_SCHEMA, PLAN_TABLE, RAW_SCHEMA, RESULTS_SCHEMA, RESULTS_TABLE

__all__ = [
    "DIMENSION_TABLES",
    "PLAN_COLUMNS",
    "PLAN_SCHEMA",
    "PLAN_TABLE",
    "RAW_SCHEMA",
    "RAW_TABLES",
    "RESULTS_COLUMNS",
    "RESULTS_SCHEMA",
    "RESULTS_TABLE",
    "RESULTS_TARGET",
    "SchemaContractError",
    "check_columns",
    "column_names",
]

# The raw layer's contract. Every table with a `ds` column is partitioned by it: `ds`
# is the day the rows were logged (events: the UTC day of `event_ts`, so an open
# after midnight lands in the next day's partition), and loading a day replaces
# exactly that day's rows. `users` and `experiment_assignments` are dimensions, replaced
# whole (DIMENSION_TABLES).
RAW_TABLES: dict[str, str] = {
    # One row per user; opt-ins as given at signup (later unsubscribes are events).
    "users": """
        user_id varchar not null,
        signup_ts timestamp not null,
        country varchar,
        platform varchar,
        age_bucket varchar,
        tz_offset_hours integer,
        push_opt_in boolean,
        email_opt_in boolean
    """,
    # One row per user and experiment the user is assigned to, from the experimentation
    # system; a dimension, replaced whole. The long-running notification holdout
    # (experiment domain.HOLDOUT_EXPERIMENT) assigns users at random at signup to
    # group_name domain.HOLDOUT_GROUP (gets no notification) or TREATMENT_GROUP. Optional:
    # without rows, nobody is held out and evaluations have no holdout arm.
    "experiment_assignments": """
        user_id varchar not null,
        experiment varchar not null,
        group_name varchar not null,
        assigned_ts timestamp not null
    """,
    # One row per pin, in the partition of the day it entered the catalog (the
    # catalog that existed before the first logged day lands on that first day).
    "pins": """
        pin_id varchar not null,
        creator_id varchar,
        topic varchar,
        created_ts timestamp,
        ds date not null
    """,
    # Organic activity: event_type impression|closeup|click|save, surface
    # home_feed|search|notification (a session opened from a notification).
    "engagement_events": """
        event_id varchar not null,
        user_id varchar,
        pin_id varchar,
        event_type varchar,
        surface varchar,
        event_ts timestamp,
        ds date not null
    """,
    # One row per notification sent; propensity is the probability with which the
    # policy named in `policy` chose this send (for off-policy evaluation).
    "notifications": """
        notification_id varchar not null,
        user_id varchar,
        channel varchar,
        notification_type varchar,
        sent_ts timestamp,
        policy varchar,
        propensity double,
        ds date not null
    """,
    # The pins a notification carries: push and in-app one (position 1), email
    # digests several (positions 1..K, 1 on top).
    "notification_items": """
        notification_id varchar not null,
        position integer not null,
        pin_id varchar,
        ds date not null
    """,
    # Outcomes: delivered, open, click (with the item position), dismiss, unsubscribe.
    "notification_events": """
        event_id varchar not null,
        notification_id varchar,
        event_type varchar,
        position integer,
        event_ts timestamp,
        ds date not null
    """,
    # Planned sends the sender refused (reason holdout|opted_out|unsubscribed), so
    # that "the plan minus the drops" is exactly what was sent.
    "notification_plan_drops": """
        notification_id varchar not null,
        user_id varchar,
        channel varchar,
        reason varchar,
        ds date not null
    """,
}

# The notification plan's contract: one row per planned item. The scoring DAG writes
# the plan of day `ds` before it starts; whoever sends (the simulator locally) sends
# exactly these notifications that day, except the ones it must drop (a user in the
# randomized holdout, not opted in to the channel, or unsubscribed from it), which
# it records in raw.notification_plan_drops.
#
# - notification_id: the id the sent notification carries in raw.notifications; unique
#   across days (e.g. prefixed with ds). Every column but position and pin_id must be
#   equal on all rows of one notification_id.
# - channel: push | email | in_app. Push and in-app carry exactly one item.
# - send_ts: when to send, UTC, inside [ds, ds + 1 day).
# - position: 1..K without gaps, 1 on top; pin_id: a pin of the catalog by then.
# - policy: the name of the policy that made the plan, logged as notifications.policy.
# - propensity: in (0, 1], the probability with which the policy chose this send,
#   logged as notifications.propensity.
PLAN_COLUMNS = """
    ds date not null,
    notification_id varchar not null,
    user_id varchar not null,
    channel varchar not null,
    send_ts timestamp not null,
    position integer not null,
    pin_id varchar not null,
    policy varchar not null,
    propensity double not null
"""


RESULTS_TARGET = f"{RESULTS_SCHEMA}.{RESULTS_TABLE}"
# One row per expectation outcome of a gate run on one day (see expectations/results.py).
RESULTS_COLUMNS = """
    run_id varchar not null,
    ds date not null,
    layer varchar not null,
    suite varchar not null,
    table_name varchar not null,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    validated_at timestamp not null
"""


class SchemaContractError(ValueError):
    """Rows do not have the columns their table's contract names (e.g. a renamed column)."""

    def __init__(self, message: str, table: str = "", columns: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.table = table
        self.columns = list(columns)


def column_names(columns_ddl: str) -> list[str]:
    """The column names of a contract's column list."""
    return [column.split()[0] for column in columns_ddl.split(",") if column.strip()]


def check_columns(target: str, columns_ddl: str, frame: Any, ds: str | None) -> None:
    expected = column_names(columns_ddl)
    got = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in got]
    unexpected = [c for c in got if c not in expected]
    if missing or unexpected:
        where = f" (ds={ds})" if ds else ""
        raise SchemaContractError(
            f"{target}{where}: rows do not follow the table's contract: "
            f"missing columns {missing}, unexpected columns {unexpected}; nothing was written",
            table=target,
            columns=[*missing, *unexpected],
        )


# The raw tables without day partitions (no `ds`): replaced whole on every load.
DIMENSION_TABLES: tuple[str, ...] = tuple(
    table for table, columns in RAW_TABLES.items() if "ds" not in column_names(columns)
)
