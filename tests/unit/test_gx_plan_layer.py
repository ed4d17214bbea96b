"""The plan layer's GX suite on the staged plan: contract, caps, quiet hours and opt-outs."""

import datetime as dt
import json

import pandas as pd
import pytest

from expectations.gates import DataQualityError, MissingTableError, run_layer
from expectations.results import latest_results
from expectations.suites import DAILY_CAPS
from notiflow import domain, simulator, warehouse
from notiflow.planning.send_time import send_seconds
from notiflow.settings import Settings
from tests.conftest import START
from tests.unit.simulator_helpers import query

PLAN_DAY = START + dt.timedelta(days=1)
STAGED = f"plans.{domain.PLAN_STAGING_TABLE}"
# Each user's offset from UTC (raw.users), so that a row's send is at the local hour meant.
_TZ: dict[str, int] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Settings:
    settings = Settings.load(
        {
            "NOTIFLOW_HOME": str(tmp_path_factory.mktemp("gx_plan_world")),
            "NOTIFLOW_SIM_USERS": "200",
            "NOTIFLOW_SIM_PINS": "40",
        }
    )
    simulator.simulate(settings, START, 1)
    users, _ = _users(settings)
    _TZ.update(zip(users.user_id, users.tz_offset_hours.fillna(0).astype(int), strict=True))
    return settings


def _users(settings: Settings) -> pd.DataFrame:
    with warehouse.connect(settings, read_only=True) as con:
        users = con.execute(
            f"""select users.*, coalesce(a.group_name = '{domain.HOLDOUT_GROUP}', false)
                    as is_held_out
                from raw.users as users left join raw.experiment_assignments as a
                  on a.user_id = users.user_id and a.experiment = '{domain.HOLDOUT_EXPERIMENT}'
                order by user_id"""
        ).fetchdf()
        pins = con.execute("select pin_id from raw.pins order by pin_id").fetchdf()
    return users, list(pins.pin_id)


def _row(
    user_id: str, channel: str, n: int, position: int, pin_id: str, local_hour: int | None = None
) -> dict:
    """Item ``position`` of the user's ``n``-th send on the channel, at local hour 12 + n
    (or ``local_hour``) of the plan day."""
    hour = 12 + n if local_hour is None else local_hour
    seconds = int(send_seconds(hour, _TZ.get(user_id, 0), 0))
    return {
        "ds": pd.Timestamp(PLAN_DAY),
        "notification_id": f"{PLAN_DAY:%Y%m%d}-{user_id}-{channel}-{n}",
        "user_id": user_id,
        "channel": channel,
        "send_ts": pd.Timestamp(PLAN_DAY) + pd.Timedelta(seconds=seconds),
        "position": position,
        "pin_id": pin_id,
        "policy": "test_policy",
        "propensity": 0.5,
    }


def _unsubscribed(settings: Settings) -> set[tuple[str, str]]:
    return {
        tuple(row)
        for row in query(
            settings,
            """select n.user_id, n.channel from raw.notification_events e
               join raw.notifications n using (notification_id)
               where e.event_type = 'unsubscribe'""",
        )
    }


def _valid_plan(settings: Settings) -> list[dict]:
    """Each user outside the holdout at the channel's cap on every channel they opted in
    to and did not leave."""
    users, pins = _users(settings)
    unsubscribed = _unsubscribed(settings)
    rows = []
    for user in users[~users.is_held_out].head(20).itertuples():
        allowed = {
            "push": user.push_opt_in,
            "email": user.email_opt_in,
            "in_app": True,
        }
        for channel, opted_in in allowed.items():
            if not opted_in or (user.user_id, channel) in unsubscribed:
                continue
            if channel == "email":
                rows += [_row(user.user_id, "email", 0, p, pins[p]) for p in (1, 2, 3)]
            else:
                rows += [
                    _row(user.user_id, channel, n, 1, pins[n]) for n in range(DAILY_CAPS[channel])
                ]
    return rows


def _write(settings: Settings, rows: list[dict]) -> None:
    with warehouse.connect(settings) as con:
        warehouse.write_plan(
            con, pd.DataFrame(rows), PLAN_DAY.isoformat(), table=domain.PLAN_STAGING_TABLE
        )


def test_no_plan_table_is_a_clear_error(world):
    with pytest.raises(MissingTableError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    assert f"{STAGED} does not exist" in str(failure.value)
    # recorded too, so the reports show it
    (row,) = latest_results(world, ds=PLAN_DAY.isoformat(), layer="plan")
    assert row["expectation"] == "expect_table_to_exist" and row["success"] is False


def test_plan_within_caps_and_opt_ins_passes(world):
    _write(world, _valid_plan(world))
    outcomes = run_layer(world, "plan", PLAN_DAY.isoformat())
    assert outcomes and all(o.success for o in outcomes)
    checked = {o.column for o in outcomes}
    assert {"is_opted_in", "is_within_daily_cap", "is_known_user", "propensity"} <= checked


def test_plan_breaking_a_cap_and_an_opt_out_fails_naming_both(world):
    users, pins = _users(world)
    rows = _valid_plan(world)
    capped = next(r["user_id"] for r in rows if r["channel"] == "push")
    opted_out = users[~users.push_opt_in.astype(bool)].user_id.iloc[0]
    rows += [
        _row(capped, "push", DAILY_CAPS["push"], 1, pins[0]),  # one push over the cap
        _row(opted_out, "push", 0, 1, pins[0]),  # push to a user who did not opt in
    ]
    _write(world, rows)
    with pytest.raises(DataQualityError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    message = str(failure.value)
    assert message.count("[critical]") == 2, message
    where = f"{STAGED}.%s (ds={PLAN_DAY}): expect_column_values_to_be_in_set failed"
    assert where % "is_within_daily_cap" in message
    assert where % "is_opted_in" in message
    assert f"'unexpected_count': {DAILY_CAPS['push'] + 1}" in message  # all the user's pushes


def test_plan_out_of_contract_values_fail(world):
    rows = _valid_plan(world)
    before_the_day = pd.Timestamp(PLAN_DAY) - pd.Timedelta(1, "h")
    rows[0] = {**rows[0], "propensity": 1.5, "send_ts": before_the_day}
    rows.append({**rows[-1]})  # a duplicated in-app (notification_id, position)
    _write(world, rows)
    with pytest.raises(DataQualityError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    message = str(failure.value)
    for rule in (
        f"{STAGED}.propensity (ds=%s): expect_column_values_to_be_between",
        f"{STAGED}.send_ts (ds=%s): expect_column_values_to_be_between",
        f"{STAGED}.(notification_id, position) (ds=%s): expect_compound_columns_to_be_unique",
        # the duplicated row makes it an in-app notification with two items
        f"{STAGED}.is_item_count_allowed (ds=%s): expect_column_values_to_be_in_set",
    ):
        assert rule % PLAN_DAY in message
    assert message.count("[critical]") == 4, message


def test_plan_to_a_user_who_unsubscribed_from_the_channel_fails(world):
    unsubscribed = _unsubscribed(world)
    if not unsubscribed:  # log one, on the day before the plan, for a user outside the plan
        notification_id, user_id, channel = query(
            world,
            "select notification_id, user_id, channel from raw.notifications "
            "where user_id not in (select user_id from raw.users order by user_id limit 20) "
            "order by notification_id limit 1",
        )[0]
        with warehouse.connect(world) as con:
            con.execute(
                "insert into raw.notification_events values (?, ?, 'unsubscribe', null, ?, ?)",
                [f"{notification_id}-unsubscribe", notification_id, START, START],
            )
        unsubscribed = {(user_id, channel)}
    user_id, channel = sorted(unsubscribed)[0]
    _, pins = _users(world)
    _write(world, [*_valid_plan(world), _row(user_id, channel, 5, 1, pins[0])])
    with pytest.raises(DataQualityError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    message = str(failure.value)
    assert (
        f"[critical] {STAGED}.is_subscribed (ds={PLAN_DAY}): "
        "expect_column_values_to_be_in_set failed" in message
    )
    # they were sent on the channel, so opted in; one send is within any cap
    assert message.count("[critical]") == 1, message


def test_plan_to_a_user_of_the_notification_holdout_fails(world):
    users, pins = _users(world)
    held_out = users[users.is_held_out].user_id.iloc[0]
    _write(world, [*_valid_plan(world), _row(held_out, domain.IN_APP, 0, 1, pins[0])])
    with pytest.raises(DataQualityError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    message = str(failure.value)
    assert (
        f"[critical] {STAGED}.is_outside_holdout (ds={PLAN_DAY}): "
        "expect_column_values_to_be_in_set failed" in message
    )
    assert message.count("[critical]") == 1, message


def test_push_in_the_users_quiet_hours_fails_and_email_does_not(world):
    rows = _valid_plan(world)
    pusher = next(r["user_id"] for r in rows if r["channel"] == domain.PUSH)
    emailer = next(r["user_id"] for r in rows if r["channel"] == domain.EMAIL)
    night = domain.QUIET_HOURS[domain.PUSH][0]  # the first quiet hour, local time
    rows = [r for r in rows if (r["user_id"], r["channel"]) not in {(pusher, domain.PUSH)}]
    rows = [r for r in rows if (r["user_id"], r["channel"]) not in {(emailer, domain.EMAIL)}]
    _, pins = _users(world)
    rows += [
        _row(pusher, domain.PUSH, 0, 1, pins[0], local_hour=night),
        _row(emailer, domain.EMAIL, 0, 1, pins[1], local_hour=night),
    ]
    _write(world, rows)
    with pytest.raises(DataQualityError) as failure:
        run_layer(world, "plan", PLAN_DAY.isoformat())
    message = str(failure.value)
    assert (
        f"[critical] {STAGED}.is_outside_quiet_hours (ds={PLAN_DAY}): "
        "expect_column_values_to_be_in_set failed" in message
    )
    assert "'unexpected_count': 1" in message  # the push only: email has no quiet hours
    assert message.count("[critical]") == 1, message


def test_only_a_plan_this_run_gated_is_published(world):
    from airflow.sdk.exceptions import AirflowFailException

    from notiflow_airflow.tasks import publish_plan

    ds = PLAN_DAY.isoformat()
    rows = _valid_plan(world)
    capped = next(r["user_id"] for r in rows if r["channel"] == "push")
    _, pins = _users(world)
    _write(world, [*rows, _row(capped, "push", DAILY_CAPS["push"], 1, pins[0])])
    with pytest.raises(DataQualityError):
        run_layer(world, "plan", ds, run_id="bad-run")
    with pytest.raises(AirflowFailException, match="not published"):
        publish_plan(world, ds, "bad-run")  # its gate failed
    _write(world, rows)
    run_layer(world, "plan", ds, run_id="good-run")
    with pytest.raises(AirflowFailException, match="no passing plan gate of run other-run"):
        publish_plan(world, ds, "other-run")  # a task cleared alone, of another run
    (world.planning_dir / ds).mkdir(parents=True, exist_ok=True)
    (world.planning_dir / ds / "staged.json").write_text(json.dumps({"ds": ds}))
    assert publish_plan(world, ds, "good-run") == len(rows)
    with warehouse.connect(world, read_only=True) as con:
        assert len(warehouse.read_plan(con, ds)) == len(rows)
