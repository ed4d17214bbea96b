"""Tomorrow's plan laid out from scores: rows of the plan contract, items in rank order,
send times at the chosen local hour inside the plan's UTC day, calibrated unsubscribe
rates; and the local-time arithmetic the scorer shares."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from notiflow import domain
from notiflow.contracts import PLAN_COLUMNS, check_columns
from notiflow.planning import plan as planning
from notiflow.planning.policy import PolicyConfig
from notiflow.planning.send_time import local_day_of_week, local_day_offset, send_seconds

DS = dt.date(2026, 3, 4)  # a Wednesday: DuckDB dow 3


def test_local_day_of_a_send_east_and_west_of_utc() -> None:
    # 01:00 local at UTC+5 is 20:00 UTC of the plan day: the local date is the next day.
    assert local_day_offset(np.array([1]), np.array([5])).tolist() == [1]
    # 23:00 local at UTC-3 is 02:00 UTC: the local date is the day before.
    assert local_day_offset(np.array([23]), np.array([-3])).tolist() == [-1]
    assert local_day_offset(np.array([12]), np.array([0])).tolist() == [0]
    assert local_day_of_week(DS, np.array([1, 23, 12]), np.array([5, -3, 0])).tolist() == [4, 2, 3]


def test_send_seconds_land_inside_the_day_at_the_local_hour() -> None:
    rng = np.random.default_rng(0)
    hours, tz = rng.integers(0, 24, 5000), rng.integers(-12, 15, 5000)
    second = rng.integers(0, 3600, 5000)
    utc_s = send_seconds(hours, tz, second)
    assert ((utc_s >= 0) & (utc_s < 86400)).all()
    local = (utc_s + tz * 3600) % 86400
    assert (local // 3600 == hours).all() and (local % 3600 == second).all()


USERS = ["u1", "u2", "u3"]


def _audience(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": USERS,
            "tz_offset_hours": [0, 5, -8],
            "is_in_notification_holdout": [False] * 3,
            "is_push_opted_in": [True, True, False],
            "is_email_opted_in": [True, False, True],
            **{f"is_{c}_unsubscribed": [False] * 3 for c in domain.CHANNELS},
            **{f"{c}_sends_7d": [0, 3, 20] for c in domain.CHANNELS},
        }
    )
    return frame.assign(**overrides)


def _ranked() -> pd.DataFrame:
    rows = [(u, f"{u}-pin{r}", r, 10.0 - r) for u in USERS for r in range(1, 8)]
    return pd.DataFrame(rows, columns=["user_id", "pin_id", "pin_rank", "score"])


def _options(p_open: float = 0.3) -> pd.DataFrame:
    rows = [
        (u, c, h, f"{u}-pin1", p_open + 0.001 * h)
        for u in USERS
        for c in domain.CHANNELS
        for h in domain.hours_outside(domain.QUIET_HOURS[c])
    ]
    return pd.DataFrame(rows, columns=["user_id", "channel", "local_hour", "pin_id", "p_open"])


RATES = pd.DataFrame(
    [(c, b, 1e-4 * (1 + b)) for c in domain.CHANNELS for b in (0, 3)],
    columns=["channel", "sends_7d", "p_unsubscribe"],
)


def _plan(budget: int = 100, **audience) -> planning.DayPlan:
    return planning.choose_sends(
        DS,
        _ranked(),
        _options(),
        _audience(**audience),
        RATES,
        PolicyConfig(budget=budget, exploration_share=0.0, seed=1),
    )


def test_plan_rows_follow_the_contract_with_items_in_rank_order() -> None:
    day = _plan()
    rows = day.rows
    check_columns("plan", PLAN_COLUMNS, rows, DS.isoformat())
    assert (rows["ds"] == pd.Timestamp(DS)).all() and (rows["policy"] == planning.POLICY_NAME).all()
    for _, items in rows.groupby("notification_id"):
        channel, user = items["channel"].iloc[0], items["user_id"].iloc[0]
        size = domain.EMAIL_DIGEST_ITEMS if channel == domain.EMAIL else 1
        assert items["position"].tolist() == list(range(1, size + 1))
        assert items["pin_id"].tolist() == [f"{user}-pin{r}" for r in range(1, size + 1)]
        assert items["send_ts"].nunique() == 1 and items["propensity"].nunique() == 1
    assert rows["notification_id"].nunique() == day.volume.sends == day.summary["sends"]


def test_sends_respect_opt_ins_caps_and_the_local_hour() -> None:
    day = _plan()
    sends = day.rows.drop_duplicates("notification_id")
    pairs = set(zip(sends["user_id"], sends["channel"], strict=True))
    assert ("u3", domain.PUSH) not in pairs and ("u2", domain.EMAIL) not in pairs  # opt-ins
    per_user_channel = sends.groupby(["user_id", "channel"]).size()
    for (_, channel), n in per_user_channel.items():
        assert n <= domain.DAILY_CAPS[channel]
    tz = sends["user_id"].map(dict(zip(USERS, [0, 5, -8], strict=True)))
    day_start = pd.Timestamp(DS)
    assert (
        (sends["send_ts"] >= day_start) & (sends["send_ts"] < day_start + pd.Timedelta("1D"))
    ).all()
    local_hour = ((sends["send_ts"] - day_start).dt.total_seconds() // 3600 + tz) % 24
    # notification i is the volume policy's send i
    sends = sends.assign(local_hour=local_hour.astype(int)).sort_values("notification_id")
    assert sends["local_hour"].tolist() == day.volume.local_hour.tolist()
    assert sends["propensity"].tolist() == pytest.approx(day.volume.propensity.tolist())
    quiet = set(range(24)) - set(domain.hours_outside(domain.QUIET_HOURS[domain.PUSH]))
    push_hours = sends.loc[sends["channel"] == domain.PUSH, "local_hour"]
    assert not set(push_hours) & quiet


def test_unsubscribed_users_get_nothing_on_that_channel() -> None:
    day = _plan(is_email_unsubscribed=[True, True, True])
    assert domain.EMAIL not in set(day.rows["channel"])


def test_budget_binds_the_day() -> None:
    day = _plan(budget=4)
    assert day.volume.sends == 4 and day.summary["budget_status"] == "met"


def test_unsubscribe_rates_by_channel_and_fatigue_bucket() -> None:
    channel_idx = np.array([0, 0, 1, 2])
    # 0 and 3 sends are measured; 2 takes the lower bucket's rate; 20 the top bucket's (3).
    p = planning._lookup_rates(RATES, channel_idx, np.array([0, 2, 3, 20]))
    assert p == pytest.approx([1e-4, 1e-4, 4e-4, 4e-4])


def test_send_options_of_an_unknown_user_are_refused() -> None:
    options = _options()
    options.loc[0, "user_id"] = "ghost"
    with pytest.raises(planning.PlanningError, match="ghost"):
        planning.choose_sends(
            DS, _ranked(), options, _audience(), RATES, PolicyConfig(budget=10, seed=0)
        )


def test_users_of_the_notification_holdout_get_nothing() -> None:
    day = _plan(is_in_notification_holdout=[False, True, False])
    assert "u2" not in set(day.rows["user_id"]) and {"u1", "u3"} <= set(day.rows["user_id"])


def _logged(rows) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["user_id", "channel", "local_hour", "propensity", "opens", "clicks"]
    )


def test_estimate_before_sending_weights_the_logged_sends_by_the_plans_propensity() -> None:
    from types import SimpleNamespace

    options = _options()
    logged = _logged(
        [
            ("u1", domain.EMAIL, 8, 0.5, 1, 0),  # opened
            ("u2", domain.PUSH, 12, 0.25, 1, 1),  # opened and clicked
            ("u3", domain.IN_APP, 20, 0.5, 0, 0),
            ("u3", domain.PUSH, 23, 0.1, 1, 0),  # a quiet hour: no option, π_new = 0
            ("ghost", domain.EMAIL, 8, 0.5, 1, 0),  # not in the audience: ignored
        ]
    )
    key = options["user_id"] + options["channel"] + options["local_hour"].astype(str)
    sends_logged = key.isin(["u1email8", "u2push12", "u3in_app20"]).to_numpy()
    volume = SimpleNamespace(option_propensity=np.where(sends_logged, 1.0, 0.0))
    day = dt.date(2026, 3, 2)
    result = planning.estimate_before_sending(DS, logged, day, options, volume, _audience())
    ips = {(e["estimator"], e["reward"]): e for e in result["estimates"]}
    # IPS opens: (1/0.5 + 1/0.25 + 0) / 3 users; clicks: (1/0.25) / 3
    assert ips["ips", "opens"]["value"] == pytest.approx((2 + 4) / 3)
    assert ips["ips", "clicks"]["value"] == pytest.approx(4 / 3)
    assert (
        ips["ips", "opens"]["lower"] <= ips["ips", "opens"]["value"] <= ips["ips", "opens"]["upper"]
    )
    assert ("dr", "opens") in ips and ("dr", "clicks") not in ips  # q̂ for opens only
    assert result["logged_sends"] == 4 and result["logged_opens_per_user"] == pytest.approx(1)

    never = SimpleNamespace(option_propensity=np.zeros(len(options)))
    silent = planning.estimate_before_sending(DS, logged, day, options, never, _audience())
    assert all(e["value"] == 0 for e in silent["estimates"] if e["estimator"] != "dr")
    none = planning.estimate_before_sending(DS, logged.iloc[:0], day, options, never, _audience())
    assert "skipped" in none


def test_estimate_before_sending_is_per_user_outside_the_holdout() -> None:
    from types import SimpleNamespace

    options = _options()
    options = options[options["user_id"] != "u3"]  # the holdout is not scored
    logged = _logged([("u1", domain.EMAIL, 8, 0.5, 1, 0), ("u3", domain.EMAIL, 8, 0.5, 1, 0)])
    key = options["user_id"] + options["channel"] + options["local_hour"].astype(str)
    volume = SimpleNamespace(option_propensity=key.eq("u1email8").to_numpy(float))
    held_out = _audience(is_in_notification_holdout=[False, False, True])
    result = planning.estimate_before_sending(
        DS, logged, dt.date(2026, 3, 2), options, volume, held_out
    )
    ips = {(e["estimator"], e["reward"]): e for e in result["estimates"]}
    assert result["eligible_users"] == 2 and result["logged_sends"] == 1
    assert ips["ips", "opens"]["value"] == pytest.approx((1 / 0.5) / 2)


def test_estimate_before_sending_says_it_cannot_be_computed_without_propensities() -> None:
    from types import SimpleNamespace

    options = _options()
    logged = _logged([("u1", domain.EMAIL, 8, 0.5, 1, 0), ("u2", domain.PUSH, 12, None, 1, 0)])
    volume = SimpleNamespace(option_propensity=np.full(len(options), 0.5))
    result = planning.estimate_before_sending(
        DS, logged, dt.date(2026, 3, 2), options, volume, _audience()
    )
    assert result == {
        "skipped": "cannot be computed: 1 of the 2 sends of 2026-03-02 have no logged "
        "propensity (off-policy estimates divide by it)"
    }
