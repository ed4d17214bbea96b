"""Plan execution: the world sends exactly the plan minus recorded drops, never to the holdout."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from notiflow import contracts, simulator, warehouse
from notiflow.simulator.catalog import Catalog
from notiflow.simulator.plan import PlanContractError, execute_plan
from notiflow.simulator.state import UserState
from notiflow.simulator.world import EMAIL, PUSH, World
from tests.conftest import START
from tests.unit.simulator_helpers import query

PLAN_DAY = START + dt.timedelta(days=1)


def _users(settings) -> pd.DataFrame:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute("select * from raw.users order by user_id").fetchdf()


def _holdout(settings) -> set[str]:
    world = World.create(simulator.world_config(settings), START)
    return set(world.user_id[world.is_holdout])


def _plan(rows: list[tuple], day: dt.date = PLAN_DAY) -> pd.DataFrame:
    plan = pd.DataFrame(
        rows, columns=["notification_id", "user_id", "channel", "hour", "position", "pin_id"]
    )
    return plan.assign(
        ds=pd.Timestamp(day),
        send_ts=pd.Timestamp(day) + pd.to_timedelta(plan.pop("hour"), unit="h"),
        policy="candidate_policy",
        propensity=0.25,
    )


@pytest.fixture
def planned(small_world_settings):
    """A day of history, then a plan for the next day written where the scoring DAG writes it."""
    settings = small_world_settings
    simulator.simulate(settings, START, 1)
    users = _users(settings)
    holdout = _holdout(settings)
    eligible = users[~users.user_id.isin(holdout)]
    push_ok = eligible[eligible.push_opt_in].user_id.iloc[0]
    email_ok = eligible[eligible.email_opt_in].user_id.iloc[1]
    in_app = eligible.user_id.iloc[2]
    no_push = eligible[~eligible.push_opt_in].user_id.iloc[0]
    held_out = sorted(holdout)[0]
    plan = _plan(
        [
            ("plan-1", push_ok, "push", 9, 1, "p0000001"),
            ("plan-2", email_ok, "email", 7, 1, "p0000002"),
            ("plan-2", email_ok, "email", 7, 2, "p0000003"),
            ("plan-2", email_ok, "email", 7, 3, "p0000004"),
            ("plan-3", in_app, "in_app", 21, 1, "p0000005"),
            ("plan-4", no_push, "push", 12, 1, "p0000006"),
            ("plan-5", held_out, "in_app", 12, 1, "p0000007"),
        ]
    )
    with warehouse.connect(settings) as con:
        warehouse.write_plan(con, plan, PLAN_DAY.isoformat())
    simulator.simulate(settings, PLAN_DAY, 1)
    return settings, plan


def test_the_world_sends_exactly_the_plan_minus_recorded_drops(planned):
    settings, plan = planned
    drops = query(
        settings, "select notification_id, reason from raw.notification_plan_drops order by 1"
    )
    assert drops == [("plan-4", "opted_out"), ("plan-5", "holdout")]
    sent = query(
        settings,
        """select notification_id, user_id, channel, sent_ts, policy, propensity
           from raw.notifications where ds = ? order by 1""",
        [PLAN_DAY],
    )
    expected = plan[~plan.notification_id.isin(["plan-4", "plan-5"])].drop_duplicates(
        "notification_id"
    )[["notification_id", "user_id", "channel", "send_ts", "policy", "propensity"]]
    assert sent == [tuple(r) for r in expected.itertuples(index=False)]
    items = query(
        settings,
        """select notification_id, position, pin_id from raw.notification_items
           where ds = ? order by 1, 2""",
        [PLAN_DAY],
    )
    assert items == [
        ("plan-1", 1, "p0000001"), ("plan-2", 1, "p0000002"), ("plan-2", 2, "p0000003"),
        ("plan-2", 3, "p0000004"), ("plan-3", 1, "p0000005"),
    ]  # fmt: skip
    # the day before, without a plan, the logging policy sent as usual
    assert (
        query(settings, "select count(*) from raw.notifications where ds = ?", [START])[0][0] > 50
    )


def test_planned_sends_have_outcomes(planned):
    settings, _ = planned
    delivered = query(
        settings,
        """select distinct notification_id from raw.notification_events
           where event_type = 'delivered' and notification_id like 'plan-%' order by 1""",
    )
    assert {n for (n,) in delivered} <= {"plan-1", "plan-2", "plan-3"}
    assert len(delivered) >= 2  # delivery fails for a few percent of push and email only


def test_unsubscribed_channels_are_dropped(small_world_settings):
    config = simulator.world_config(small_world_settings)
    world = World.create(config, START)
    catalog = Catalog.as_of(config, START, PLAN_DAY)
    state = UserState.initial(world)
    user = int(
        np.flatnonzero(~world.is_holdout & world.opted_in[:, EMAIL] & world.opted_in[:, PUSH])[0]
    )
    state.unsubscribed[user, EMAIL] = True
    plan = _plan(
        [
            ("plan-1", world.user_id[user], "email", 8, 1, "p0000001"),
            ("plan-2", world.user_id[user], "push", 8, 1, "p0000001"),
        ]
    )
    execution = execute_plan(plan, world, catalog, state, PLAN_DAY)
    assert list(execution.sends.notification_id) == ["plan-2"]
    assert execution.drops[["notification_id", "reason"]].values.tolist() == [
        ["plan-1", "unsubscribed"]
    ]


def test_a_plan_breaking_its_contract_is_refused_whole(small_world_settings):
    settings = small_world_settings
    simulator.simulate(settings, START, 1)
    user = _users(settings).user_id.iloc[0]
    plan = _plan(
        [
            ("plan-1", user, "push", 9, 1, "p0000001"),
            ("plan-1", user, "push", 9, 2, "p0000002"),
            ("plan-2", user, "email", 30, 1, "no-such-pin"),
            ("plan-3", user, "sms", 9, 1, "p0000003"),
        ]
    )
    with warehouse.connect(settings) as con:
        warehouse.write_plan(con, plan, PLAN_DAY.isoformat())
    with pytest.raises(PlanContractError) as refused:
        simulator.simulate(settings, PLAN_DAY, 1)
    message = str(refused.value)
    problems = (
        "pin_id not in the catalog",
        f"send_ts outside {PLAN_DAY}",
        "channel not in",
        "push or in-app notification with more than one item",
    )
    for problem in problems:
        assert problem in message
    assert query(settings, "select count(*) from raw.notifications where ds = ?", [PLAN_DAY]) == [
        (0,)
    ]


def test_the_plan_table_has_a_contract(settings):
    with warehouse.connect(settings) as con:
        with pytest.raises(
            contracts.SchemaContractError, match="missing columns \\['propensity'\\]"
        ):
            warehouse.write_plan(con, _plan([]).drop(columns="propensity"), PLAN_DAY.isoformat())
