"""The volume policy: its constraints always hold, its greedy and its budget behave as
specified, and its propensities are the real inclusion probabilities of its sends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from notiflow.domain import CHANNELS, DAILY_CAPS, EMAIL, IN_APP, OPT_IN_CHANNELS, PUSH, QUIET_HOURS
from notiflow.planning.policy import (
    BUDGET_EXPLORATION_OVER,
    BUDGET_MET,
    BUDGET_NOT_BINDING,
    BUDGET_TIED,
    Audience,
    Options,
    PolicyConfig,
    VolumePlan,
    plan_volume,
)

HOURS = 24
NO_QUIET_HOURS = {c: None for c in CHANNELS}


def _grid_options(n_users: int, rng: np.random.Generator, unsub_scale: float = 400) -> Options:
    """Every user × channel × hour, with skewed P(open) and rare unsubscribes."""
    grid = np.meshgrid(
        np.arange(n_users), np.arange(len(CHANNELS)), np.arange(HOURS), indexing="ij"
    )
    user, channel, hour = (a.ravel() for a in grid)
    n = len(user)
    return Options(user, channel, hour, rng.beta(1, 8, n), rng.beta(1, unsub_scale, n))


def _random_options(
    n_users: int, n: int, rng: np.random.Generator, p_open_max: float, p_unsub_max: float
) -> Options:
    """Sparse random options; repeated (user, channel, hour) draws dropped (they are refused)."""
    user, channel, hour = (
        rng.integers(0, n_users, n),
        rng.integers(0, len(CHANNELS), n),
        rng.integers(0, HOURS, n),
    )
    keep = np.unique((user * len(CHANNELS) + channel) * HOURS + hour, return_index=True)[1]
    m = len(keep)
    return Options(
        user[keep],
        channel[keep],
        hour[keep],
        rng.random(m) * p_open_max,
        rng.random(m) * p_unsub_max,
    )


def _everyone(n_users: int) -> Audience:
    """Users opted in to everything, none unsubscribed or held out."""
    shape = (n_users, len(CHANNELS))
    return Audience(np.ones(shape, bool), np.zeros(shape, bool), np.zeros(n_users, bool))


def _audience(n_users: int, rng: np.random.Generator, holdout_share: float = 0.05) -> Audience:
    return Audience(
        opted_in=rng.random((n_users, len(CHANNELS))) < 0.7,
        unsubscribed=rng.random((n_users, len(CHANNELS))) < 0.1,
        holdout=rng.random(n_users) < holdout_share,
    )


def _is_quiet(hour: np.ndarray, window: tuple[int, int] | None) -> np.ndarray:
    """Written apart from the policy's: [start, end) on a 24-hour clock."""
    if window is None:
        return np.zeros_like(hour, dtype=bool)
    start, end = window
    return (hour - start) % HOURS < (end - start) % HOURS


def _may_receive(audience: Audience, user: np.ndarray, channel: np.ndarray) -> np.ndarray:
    needs_opt_in = np.isin(np.array(CHANNELS)[channel], OPT_IN_CHANNELS)
    return (
        ~audience.holdout[user]
        & (audience.opted_in[user, channel] | ~needs_opt_in)
        & ~audience.unsubscribed[user, channel]
    )


def _sendable(options: Options, audience: Audience, config: PolicyConfig) -> np.ndarray:
    quiet = np.zeros(len(options), dtype=bool)
    for c, name in enumerate(CHANNELS):
        on = options.channel == c
        quiet[on] = _is_quiet(options.local_hour[on], config.quiet_hours[name])
    caps = np.array([config.caps[c] for c in CHANNELS])
    return (
        ~quiet & _may_receive(audience, options.user, options.channel) & (caps[options.channel] > 0)
    )


def _reference_greedy(
    options: Options, sendable: np.ndarray, config: PolicyConfig, lam: float
) -> set[int]:
    """The exploit choice one user at a time, as the brief states it."""
    chosen = set()

    def channel_of(i: int) -> str:
        return CHANNELS[options.channel[i]]

    value_at = {
        rank: options.value(rank, config) for rank in range(1, sum(config.caps.values()) + 1)
    }
    for u in np.unique(options.user):
        remaining = [i for i in np.flatnonzero(options.user == u) if sendable[i]]
        sent = dict.fromkeys(CHANNELS, 0)
        rank = 1
        while True:
            open_ = [i for i in remaining if sent[channel_of(i)] < config.caps[channel_of(i)]]
            if not open_:
                break
            values = [value_at[rank][i] for i in open_]
            best = int(np.argmax(values))
            if values[best] <= lam:
                break
            chosen.add(int(open_[best]))
            remaining.remove(open_[best])
            sent[channel_of(open_[best])] += 1
            rank += 1
    return chosen


def _per_user_channel(plan: VolumePlan, n_users: int) -> np.ndarray:
    counts = np.zeros((n_users, len(CHANNELS)), dtype=int)
    np.add.at(counts, (plan.user, plan.channel), 1)
    return counts


# --- Constraints ------------------------------------------------------------------


@pytest.mark.parametrize(
    "caps",
    [dict(DAILY_CAPS), {c: (i % 3) for i, c in enumerate(CHANNELS)}],
    ids=["domain", "custom"],
)
def test_caps_never_exceeded_per_user_and_channel(caps):
    rng = np.random.default_rng(1)
    n_users = 600
    options, audience = _grid_options(n_users, rng), _audience(n_users, rng)
    plan = plan_volume(
        options, audience, PolicyConfig(budget=10**6, exploration_share=0.4, caps=caps, seed=3)
    )
    counts = _per_user_channel(plan, n_users)
    cap = np.array([caps[c] for c in CHANNELS])
    assert plan.sends > n_users  # something to check
    assert (counts <= cap).all()
    assert plan.is_exploration.any() and (~plan.is_exploration).any()
    # The report's counts are the plan's.
    capped = ((counts == cap) & (cap > 0)).sum(axis=0)
    assert plan.users_capped == dict(zip(CHANNELS, capped.tolist(), strict=True))
    assert plan.sends_by_channel == dict(zip(CHANNELS, counts.sum(axis=0).tolist(), strict=True))
    for c, name in enumerate(CHANNELS):
        if caps[name] == 0:
            assert (
                counts[:, c].sum() == 0
                and (plan.option_propensity[options.channel == c] == 0).all()
            )
        else:
            assert plan.users_capped[name] > 0
    slots = plan.user * HOURS * len(CHANNELS) + plan.channel * HOURS + plan.local_hour
    assert len(np.unique(slots)) == plan.sends  # at most one send per (user, channel, hour)


@pytest.mark.parametrize(
    "window",
    [(22, 8), (1, 5), (23, 0), None, "domain"],
    ids=["wraps", "plain", "last-hour", "none", "domain"],
)
def test_nothing_in_quiet_hours_and_every_other_hour_used(window):
    rng = np.random.default_rng(2)
    n_users = 300
    options = _grid_options(n_users, rng)
    audience = _everyone(n_users)
    quiet_hours = dict(QUIET_HOURS) if window == "domain" else dict.fromkeys(CHANNELS, window)
    config = PolicyConfig(budget=10**6, exploration_share=0.5, quiet_hours=quiet_hours, seed=4)
    plan = plan_volume(options, audience, config)
    hours = np.arange(HOURS)
    for c, name in enumerate(CHANNELS):
        allowed = set(hours[~_is_quiet(hours, quiet_hours[name])].tolist())
        assert set(plan.local_hour[plan.channel == c].tolist()) == allowed  # none outside, all used
        quiet_options = (options.channel == c) & _is_quiet(options.local_hour, quiet_hours[name])
        assert (plan.option_propensity[quiet_options] == 0).all()
    if window == (22, 8):
        assert {7, 22, 23, 0} & set(plan.local_hour.tolist()) == set()
        assert {8, 21} <= set(plan.local_hour.tolist())


def test_nothing_to_holdout_opted_out_or_unsubscribed_users():
    rng = np.random.default_rng(5)
    n_users = 800
    options = _grid_options(n_users, rng)
    audience = _audience(n_users, rng, holdout_share=0.2)
    plan = plan_volume(options, audience, PolicyConfig(budget=10**6, exploration_share=0.3, seed=6))
    assert plan.sends > 0
    assert _may_receive(audience, plan.user, plan.channel).all()
    assert (
        plan.option_propensity[~_may_receive(audience, options.user, options.channel)] == 0
    ).all()
    # A channel that needs no opt-in still reaches users who opted in to nothing.
    free = [c for c, name in enumerate(CHANNELS) if name not in OPT_IN_CHANNELS]
    opted_out = ~audience.opted_in.any(axis=1) & ~audience.holdout
    assert free and opted_out.any()
    reached = np.isin(plan.user, np.flatnonzero(opted_out))
    assert reached.any() and np.isin(plan.channel[reached], free).all()


# --- The greedy and the budget ----------------------------------------------------


def _hand_example(unsubscribe_cost: float) -> tuple[Options, Audience, dict]:
    """One user. Caps 2 / 1 / 2, discount 0.5. With unsubscribe cost 20 (the email's
    0.01 costs 0.2), the greedy values are:
        rank 1: push@12 .5, push@19 .4, push@9 .35, email@8 .45-.2=.25, in_app@20 .3 -> push@12
        rank 2: push@19 .2, push@9 .175, email .225-.2=.025, in_app .15             -> push@19
        rank 3: push capped (push@9 would be .0875), email <0, in_app .075          -> in_app@20
        rank 4: email .05625-.2 < 0                                                  -> stop
    Without the cost, email's .225 wins rank 2, then push@19 .1, then in_app .0375."""
    c = {name: i for i, name in enumerate(CHANNELS)}
    rows = [(c[PUSH], 12, 0.5, 0), (c[PUSH], 19, 0.4, 0), (c[PUSH], 9, 0.35, 0),
            (c[EMAIL], 8, 0.45, 0.01), (c[IN_APP], 20, 0.3, 0)]  # fmt: skip
    channel, hour, p_open, p_unsub = (np.array(x) for x in zip(*rows, strict=True))
    options = Options(np.zeros(len(rows), int), channel, hour, p_open, p_unsub)
    audience = _everyone(1)
    config = dict(
        exploration_share=0.0,
        unsubscribe_cost=unsubscribe_cost,
        extra_send_discount=0.5,
        caps={PUSH: 2, EMAIL: 1, IN_APP: 2},
        quiet_hours=NO_QUIET_HOURS,
    )
    return options, audience, config


@pytest.mark.parametrize(
    ("unsubscribe_cost", "budget", "chosen", "lam_range", "status"),
    [
        (20, 10, [0, 1, 4], (0, 0), BUDGET_NOT_BINDING),
        (20, 2, [0, 1], (0.075, 0.2), BUDGET_MET),
        (20, 1, [0], (0.2, 0.5), BUDGET_MET),
        (0, 10, [0, 1, 3, 4], (0, 0), BUDGET_NOT_BINDING),
        (0, 2, [0, 3], (0.1, 0.225), BUDGET_MET),
        (0, 3, [0, 1, 3], (0.0375, 0.1), BUDGET_MET),
    ],
)
def test_hand_computed_greedy_with_discount_and_unsubscribe_cost(
    unsubscribe_cost, budget, chosen, lam_range, status
):
    options, audience, config = _hand_example(unsubscribe_cost)
    plan = plan_volume(options, audience, PolicyConfig(budget=budget, **config))
    assert sorted(plan.option_index.tolist()) == chosen
    assert lam_range[0] <= plan.multiplier <= lam_range[1]
    assert plan.budget_status == status and plan.budget_binding == (status != BUDGET_NOT_BINDING)
    assert (plan.propensity == 1).all() and not plan.is_exploration.any()
    assert plan.option_propensity.tolist() == [float(i in chosen) for i in range(len(options))]


def test_matches_a_reference_greedy_on_a_random_instance():
    rng = np.random.default_rng(7)
    n_users = 40
    options = _random_options(n_users, 900, rng, p_open_max=0.5, p_unsub_max=0.03)
    audience = _audience(n_users, rng)
    for budget in (10**6, 60, 15):
        config = PolicyConfig(budget=budget, exploration_share=0.0, unsubscribe_cost=10, seed=1)
        plan = plan_volume(options, audience, config)
        expected = _reference_greedy(
            options, _sendable(options, audience, config), config, plan.multiplier
        )
        assert set(plan.option_index.tolist()) == expected
        assert (options.value(1, config)[plan.option_index] > 0).all()
    assert plan.multiplier > 0 and abs(plan.sends - 15) <= 0.15


def test_budget_met_within_one_percent_when_binding():
    rng = np.random.default_rng(8)
    n_users = 2000
    options, audience = _grid_options(n_users, rng), _audience(n_users, rng)
    unconstrained = plan_volume(options, audience, PolicyConfig(budget=10**7, seed=9))
    for budget in (500, 3000, unconstrained.sends // 2):
        plan = plan_volume(options, audience, PolicyConfig(budget=budget, seed=9))
        assert plan.budget_status == BUDGET_MET and plan.budget_binding and plan.multiplier > 0
        assert abs(plan.sends - budget) <= 0.01 * budget
        assert plan.is_exploration.sum() > 0  # the budget counts explored sends too


def test_budget_not_binding_sends_only_positive_value_options_with_zero_multiplier():
    rng = np.random.default_rng(10)
    n_users = 500
    # Costly unsubscribes: many options are worth less than nothing.
    options, audience = _grid_options(n_users, rng, unsub_scale=60), _audience(n_users, rng)
    config = PolicyConfig(budget=10**6, exploration_share=0.0, seed=11)
    plan = plan_volume(options, audience, config)
    assert (
        plan.multiplier == 0
        and plan.budget_status == BUDGET_NOT_BINDING
        and not plan.budget_binding
    )
    assert 0 < plan.sends < config.budget
    negative = options.value(1, config) <= 0
    assert negative[_sendable(options, audience, config)].any()
    assert not negative[plan.option_index].any()
    assert plan.sends == len(
        _reference_greedy(options, _sendable(options, audience, config), config, 0.0)
    )


def test_higher_budget_sends_more():
    rng = np.random.default_rng(12)
    n_users = 1000
    options, audience = _grid_options(n_users, rng), _audience(n_users, rng)
    plans = [
        plan_volume(options, audience, PolicyConfig(budget=b, seed=13))
        for b in (0, 200, 800, 1600, 3200, 10**6)
    ]
    sends = [p.sends for p in plans]
    multipliers = [p.multiplier for p in plans]
    assert sends == sorted(sends) and len(set(sends)) == len(sends)
    assert multipliers == sorted(multipliers, reverse=True)


def test_exploration_over_budget_and_ties_are_reported():
    rng = np.random.default_rng(14)
    n_users = 400
    options, audience = _grid_options(n_users, rng), _audience(n_users, rng)
    plan = plan_volume(options, audience, PolicyConfig(budget=5, exploration_share=0.5, seed=1))
    assert (
        plan.budget_status == BUDGET_EXPLORATION_OVER
        and plan.is_exploration.all()
        and plan.sends > 5
    )
    # Nothing is worth sending and exploration alone overshoots: no exploit λ to look for.
    worthless = dataclasses.replace(options, p_open=np.zeros(len(options)))
    plan = plan_volume(worthless, audience, PolicyConfig(budget=5, exploration_share=0.5, seed=1))
    assert plan.budget_status == BUDGET_EXPLORATION_OVER and plan.multiplier == 0
    assert plan.is_exploration.all() and plan.sends > 5
    # Ten users, one option each, all worth the same: no λ splits them, and none is sent
    # rather than exceeding the budget.
    same = Options(
        np.arange(10), np.zeros(10, int), np.full(10, 12), np.full(10, 0.3), np.zeros(10)
    )
    audience = _everyone(10)
    config = PolicyConfig(budget=5, exploration_share=0.0, quiet_hours=NO_QUIET_HOURS)
    plan = plan_volume(same, audience, config)
    assert plan.budget_status == BUDGET_TIED and plan.sends <= 5
    assert plan_volume(same, audience, PolicyConfig(budget=10, exploration_share=0.0)).sends == 10


# --- Exploration and propensities ---------------------------------------------------


def test_propensities_are_the_inclusion_frequencies_over_seeds():
    """Monte Carlo: with λ fixed (budget not binding), each option's frequency over seeds
    matches option_propensity. The instance has channels with fewer sendable hours than
    the cap, negative-value options (explore only) and exploited ones ((1-ε) + ε·π)."""
    rng = np.random.default_rng(15)
    n_users = 12
    options = _random_options(n_users, 140, rng, p_open_max=0.4, p_unsub_max=0.02)
    audience = _audience(n_users, rng, holdout_share=0.1)
    draws = 3000
    counts = np.zeros(len(options))
    expected = None
    for seed in range(draws):
        plan = plan_volume(
            options, audience, PolicyConfig(budget=10**6, exploration_share=0.4, seed=seed)
        )
        assert plan.multiplier == 0
        if expected is None:
            expected = plan.option_propensity
        np.testing.assert_array_equal(plan.option_propensity, expected)
        np.testing.assert_array_equal(plan.propensity, expected[plan.option_index])
        counts[plan.option_index] += 1
    frequency = counts / draws
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert (np.abs(frequency - expected) <= 5 * sigma + 1e-12).all()
    assert ((expected > 0) & (expected < 0.6)).sum() > 20  # explore-only options were checked
    assert ((expected > 0.6) & (expected < 1)).sum() > 5  # exploited ones too


def test_explore_propensity_with_fewer_hours_than_the_cap():
    """One sendable hour on a cap-2 channel: k ~ U{0, 1}, so π_explore = 1/2."""
    channel = next(i for i, c in enumerate(CHANNELS) if DAILY_CAPS[c] >= 2)
    options = Options(
        np.array([0]), np.array([channel]), np.array([12]), np.array([0.01]), np.array([0.5])
    )
    audience = _everyone(1)
    config = PolicyConfig(budget=10, exploration_share=0.2, quiet_hours=NO_QUIET_HOURS)
    assert plan_volume(options, audience, config).option_propensity.tolist() == [0.2 * 0.5]


def test_exploration_reaches_about_epsilon_of_eligible_users():
    rng = np.random.default_rng(16)
    n_users, eps = 5000, 0.2
    options, audience = _grid_options(n_users, rng), _audience(n_users, rng)
    config = PolicyConfig(budget=10**7, exploration_share=eps, seed=17)
    plan = plan_volume(options, audience, config)
    eligible = plan.eligible_users
    assert eligible == np.unique(options.user[_sendable(options, audience, config)]).size
    sigma = np.sqrt(eps * (1 - eps) / eligible)
    assert abs(plan.exploration_users / eligible - eps) <= 4 * sigma
    explorers = np.unique(plan.user[plan.is_exploration])
    assert not np.isin(plan.user[~plan.is_exploration], explorers).any()  # one branch per user
    # Explored sends: ε × Σ over (user, channel) of E[k] = min(cap, H) / 2, within 5 σ.
    sendable = _sendable(options, audience, config)
    slot_hours = np.zeros((n_users, len(CHANNELS)), dtype=int)
    np.add.at(slot_hours, (options.user[sendable], options.channel[sendable]), 1)
    k_max = np.minimum(np.array([DAILY_CAPS[c] for c in CHANNELS]), slot_hours)
    mean_k, var_k = k_max / 2, ((k_max + 1) ** 2 - 1) / 12
    per_user_mean, per_user_second = mean_k.sum(1), var_k.sum(1) + mean_k.sum(1) ** 2
    mean = eps * per_user_mean.sum()
    std = np.sqrt((eps * per_user_second - (eps * per_user_mean) ** 2).sum())
    assert abs(plan.is_exploration.sum() - mean) <= 5 * std


def test_same_seed_same_plan_other_seed_other_explorers():
    rng = np.random.default_rng(18)
    options, audience = _grid_options(300, rng), _audience(300, rng)
    a, b, c = (
        plan_volume(options, audience, PolicyConfig(budget=1000, exploration_share=0.2, seed=s))
        for s in (1, 1, 2)
    )
    np.testing.assert_array_equal(a.option_index, b.option_index)
    assert not np.array_equal(a.user[a.is_exploration], c.user[c.is_exploration])


# --- Bad inputs ---------------------------------------------------------------------


def _one(**overrides):
    fields = dict(
        user=[0, 1],
        channel=[0, 1],
        local_hour=[9, 10],
        p_open=[0.1, 0.2],
        p_unsubscribe=[0.0, 0.01],
    )
    fields.update(overrides)
    return Options(**{k: np.asarray(v) for k, v in fields.items()})


def _two_users(**overrides) -> Audience:
    shape = (2, len(CHANNELS))
    fields = dict(opted_in=np.ones(shape, bool), unsubscribed=np.zeros(shape, bool))
    return Audience(**{**fields, "holdout": np.zeros(2, bool), **overrides})


def _all_quiet(window) -> dict:
    return dict.fromkeys(CHANNELS, window)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _one(user=[0, 1, 2]), "differ in length"),
        (lambda: _one(p_open=[0.1, 1.2]), r"p_open must be in \[0, 1\]"),
        (lambda: _one(p_unsubscribe=[-0.1, 0.0]), r"p_unsubscribe must be in \[0, 1\]"),
        (lambda: _one(p_unsubscribe=[np.nan, 0.0]), "p_unsubscribe holds 1 NaN"),
        (lambda: _one(channel=[0, len(CHANNELS)]), "Options.channel must be in"),
        (lambda: _one(channel=[0.0, 1.0]), "channel must hold integers"),
        (lambda: _one(local_hour=[9, 24]), r"local_hour must be in \[0, 23\]"),
        (lambda: _one(local_hour=[-1, 9]), "local_hour must be in"),
        (lambda: _one(user=[-1, 0]), "Options.user must be >= 0"),
        (lambda: _one(user=[1, 1], channel=[0, 0], local_hour=[9, 9]), "duplicate send"),
        (lambda: PolicyConfig(budget=-1), "budget must be non-negative"),
        (lambda: PolicyConfig(budget=10.5), "budget must be an integer"),
        (lambda: PolicyConfig(budget=10, exploration_share=1.0), r"share must be in \[0, 1\)"),
        (lambda: PolicyConfig(budget=10, exploration_share=-0.1), "exploration_share"),
        (lambda: PolicyConfig(budget=10, extra_send_discount=1.5), "extra_send_discount"),
        (lambda: PolicyConfig(budget=10, unsubscribe_cost=np.nan), "unsubscribe_cost"),
        (lambda: PolicyConfig(budget=10, caps={CHANNELS[0]: 1}), "caps must key every channel"),
        (lambda: PolicyConfig(budget=10, quiet_hours=_all_quiet((22, 24))), "quiet_hours"),
        (lambda: _two_users(opted_in=np.ones((2, 2), bool)), "opted_in must have shape"),
        (lambda: _two_users(opted_in=np.full((2, len(CHANNELS)), 0.5)), "opted_in must be boolean"),
        (lambda: _two_users(holdout=np.zeros((2, 1), bool)), "holdout must be 1-D"),
        (lambda: plan_volume(_one(user=[0, 5]), _two_users(), PolicyConfig(1)), "only 2 users"),
    ],
)
def test_bad_inputs_raise_naming_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_sends_of_the_week_before_discount_a_users_value():
    """Budget 1: the slightly better option of a user sent 10 times in the week loses to a
    rested user's (0.3 * 0.95 ** 10 = 0.18 < 0.28); without the weekly discount it wins."""
    options = Options(
        user=np.array([0, 1]),
        channel=np.array([CHANNELS.index(IN_APP)] * 2),
        local_hour=np.array([20, 20]),
        p_open=np.array([0.3, 0.28]),
        p_unsubscribe=np.zeros(2),
    )
    audience = _two_users(recent_sends=np.array([10, 0]))
    tired = plan_volume(options, audience, PolicyConfig(budget=1, exploration_share=0.0))
    assert tired.user.tolist() == [1] and tired.propensity.tolist() == [1.0]
    rested = PolicyConfig(budget=1, exploration_share=0.0, recent_send_discount=1.0)
    assert plan_volume(options, audience, rested).user.tolist() == [0]
    with pytest.raises(ValueError, match="recent_sends must be one count >= 0 per user"):
        _two_users(recent_sends=np.array([1, -1]))
    with pytest.raises(ValueError, match="recent_send_discount must be in"):
        PolicyConfig(budget=1, recent_send_discount=1.5)
