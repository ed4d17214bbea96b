"""Off-policy estimators on synthetic logs whose true value is known in closed form.

Users fall in segments with known probabilities; per segment and option the logging
propensity, the target policy's probability and the Bernoulli open (and click-given-
open) rates are fixed, so V(π_new) = Σ_s P(s) Σ_o π_new(s,o) μ(s,o) exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from notiflow.planning.off_policy import (
    DR,
    IPS,
    SNIPS,
    LoggedSends,
    TargetOptions,
    effective_sample_size,
    evaluate_policy,
)

SEGMENT_SHARE = np.array([0.5, 0.3, 0.2])
# Segment × option: P(open | sent), P(click | open), π_log and π_new.
OPEN_RATE = np.array(
    [[0.2, 0.6, 0.1, 0.4], [0.7, 0.3, 0.5, 0.2], [0.1, 0.1, 0.8, 0.6]],
)
CLICK_GIVEN_OPEN = np.array(
    [[0.3, 0.2, 0.5, 0.4], [0.1, 0.3, 0.2, 0.5], [0.4, 0.4, 0.1, 0.2]],
)
LOGGING = np.array(
    [[0.6, 0.2, 0.5, 0.3], [0.2, 0.5, 0.4, 0.6], [0.5, 0.3, 0.15, 0.25]],
)
TARGET = np.array(
    [[0.1, 0.8, 0.0, 0.6], [0.9, 0.1, 0.5, 0.2], [0.0, 0.2, 0.9, 0.7]],
)
CLICK_RATE = OPEN_RATE * CLICK_GIVEN_OPEN
N_OPTIONS = OPEN_RATE.shape[1]


def true_value(target=TARGET, rate=OPEN_RATE, logging=LOGGING, supported_only=False):
    """Closed-form V(π_new) per eligible user (optionally only over π_log > 0)."""
    mass = target * (logging > 0) if supported_only else target
    return float(SEGMENT_SHARE @ (mass * rate).sum(axis=1))


TRUTH = {"opens": true_value(rate=OPEN_RATE), "clicks": true_value(rate=CLICK_RATE)}


def simulate_day(
    g, n_users=None, *, segment=None, logging=LOGGING, target=TARGET, q_open=OPEN_RATE
):
    """One day of logged sends (independent Bernoulli(π_log) per option) and the target's
    option table (every option of every user, q̂ = ``q_open`` for opens, truth for clicks)."""
    if segment is None:
        segment = g.choice(len(SEGMENT_SHARE), n_users, p=SEGMENT_SHARE)
    n_users = len(segment)
    user = np.repeat(np.arange(n_users), N_OPTIONS)
    option = np.tile(np.arange(N_OPTIONS), n_users)
    seg = segment[user]
    sent = g.random(len(user)) < logging[seg, option]
    opened = g.random(len(user)) < OPEN_RATE[seg, option]
    clicked = opened & (g.random(len(user)) < CLICK_GIVEN_OPEN[seg, option])
    logged = LoggedSends(
        user=user[sent],
        option=option[sent],
        propensity=logging[seg, option][sent],
        target_propensity=target[seg, option][sent],
        rewards={"opens": opened[sent].astype(float), "clicks": clicked[sent].astype(float)},
    )
    options = TargetOptions(
        user=user,
        option=option,
        target_propensity=target[seg, option],
        logging_propensity=logging[seg, option],
        predicted={"opens": q_open[seg, option], "clicks": CLICK_RATE[seg, option]},
    )
    return logged, options


def point_estimates(n_days, n_users, seed, **simulate):
    """(estimator, reward) → the point estimates of ``n_days`` independent days."""
    g = np.random.default_rng(seed)
    n_users = n_users or len(simulate["segment"])
    values: dict[tuple[str, str], list[float]] = {}
    for _ in range(n_days):
        logged, options = simulate_day(g, n_users, **simulate)
        for e in evaluate_policy(logged, options, n_users, n_bootstrap=0).estimates:
            values.setdefault((e.estimator, e.reward), []).append(e.value)
    return {key: np.array(v) for key, v in values.items()}


def tiny_example(**logged_overrides):
    """Three users; user 2 has no logged send and one option the logging policy lacks."""
    logged = dict(
        user=np.array([0, 0, 1]),
        option=np.array([0, 1, 0]),
        propensity=np.array([0.5, 0.25, 0.5]),
        target_propensity=np.array([0.25, 0.5, 1.0]),
        rewards={"opens": np.array([1.0, 0.0, 1.0])},
    )
    logged.update(logged_overrides)
    options = TargetOptions(
        user=np.array([0, 0, 1, 2]),
        option=np.array([0, 1, 0, 1]),
        target_propensity=np.array([0.25, 0.5, 1.0, 0.5]),
        logging_propensity=np.array([0.5, 0.25, 0.5, 0.0]),
        predicted={"opens": np.array([0.2, 0.4, 0.1, 0.6])},
    )
    return LoggedSends(**logged), options


# --- Hand-computed ----------------------------------------------------------------


def test_tiny_example_by_hand():
    # Weights 0.25/0.5 = 0.5, 0.5/0.25 = 2, 1/0.5 = 2; rewards 1, 0, 1; N = 3.
    evaluation = evaluate_policy(*tiny_example(), n_users=3, n_bootstrap=0)
    ips = evaluation.get(IPS, "opens")
    assert ips.value == pytest.approx((0.5 * 1 + 2 * 0 + 2 * 1) / 3)
    # SNIPS: Σwr / Σw × M / N with M = π_new on supported options = 0.25 + 0.5 + 1.
    snips = evaluation.get(SNIPS, "opens")
    assert snips.value == pytest.approx(2.5 / 4.5 * 1.75 / 3)
    # DR: Σ π_new q̂ = 0.05 + 0.2 + 0.1 + 0.3; Σ w (r − q̂) = 0.5·0.8 − 2·0.4 + 2·0.9.
    dr = evaluation.get(DR, "opens")
    assert dr.value == pytest.approx((0.65 + 1.4) / 3)
    assert ips.ess == pytest.approx(4.5**2 / (0.25 + 4 + 4))
    assert ips.max_weight == 2.0
    assert ips.unsupported_share == pytest.approx(0.5 / 2.25)
    assert ips.n_users == 3 and ips.n_logged_sends == 3
    assert ips.target_sends_per_user == pytest.approx(2.25 / 3)


def test_notes_say_what_ips_cannot_see():
    evaluation = evaluate_policy(*tiny_example(), n_users=3, n_bootstrap=0)
    assert "22.2%" in evaluation.get(IPS, "opens").note
    assert "IPS cannot see them" in evaluation.get(IPS, "opens").note
    assert "SNIPS cannot see them" in evaluation.get(SNIPS, "opens").note
    assert "reward model alone" in evaluation.get(DR, "opens").note
    logged, options = simulate_day(np.random.default_rng(0), 50)
    assert evaluate_policy(logged, options, 50, n_bootstrap=0).get(IPS, "opens").note == ""


def test_users_without_sends_count_in_n():
    three = evaluate_policy(*tiny_example(), n_users=3, n_bootstrap=0).get(IPS, "opens")
    six = evaluate_policy(*tiny_example(), n_users=6, n_bootstrap=0).get(IPS, "opens")
    assert six.value == pytest.approx(three.value / 2)


def test_string_option_keys_give_the_same_estimates():
    logged, options = simulate_day(np.random.default_rng(1), 200)
    names = np.array(["push@12", "push@19", "email@08", "in_app@20"])
    as_strings = (
        LoggedSends(
            user=logged.user,
            option=names[logged.option],
            propensity=logged.propensity,
            target_propensity=logged.target_propensity,
            rewards=logged.rewards,
        ),
        TargetOptions(
            user=options.user,
            option=names[options.option],
            target_propensity=options.target_propensity,
            logging_propensity=options.logging_propensity,
            predicted=options.predicted,
        ),
    )
    by_index = evaluate_policy(logged, options, 200, n_bootstrap=0)
    by_name = evaluate_policy(*as_strings, 200, n_bootstrap=0)
    assert [e.value for e in by_name.estimates] == pytest.approx(
        [e.value for e in by_index.estimates]
    )


def test_logged_send_the_target_never_makes_needs_no_table_row():
    # π_new = 0: weight 0, so neither q̂ nor a table row is needed for it.
    logged, options = tiny_example(
        user=np.array([0, 0, 1, 2]),
        option=np.array([0, 1, 0, 7]),
        propensity=np.array([0.5, 0.25, 0.5, 0.9]),
        target_propensity=np.array([0.25, 0.5, 1.0, 0.0]),
        rewards={"opens": np.array([1.0, 0.0, 1.0, 1.0])},
    )
    evaluation = evaluate_policy(logged, options, 3, n_bootstrap=0)
    assert evaluation.get(IPS, "opens").value == pytest.approx(2.5 / 3)
    assert evaluation.get(DR, "opens").value == pytest.approx(2.05 / 3)
    assert evaluation.get(IPS, "opens").n_logged_sends == 4


def test_dr_only_for_rewards_the_table_predicts():
    logged, options = tiny_example(
        rewards={"opens": np.array([1.0, 0.0, 1.0]), "clicks": np.array([1.0, 0.0, 0.0])}
    )
    evaluation = evaluate_policy(logged, options, 3, n_bootstrap=0)
    assert [(e.estimator, e.reward) for e in evaluation.estimates] == [
        (IPS, "opens"),
        (SNIPS, "opens"),
        (DR, "opens"),
        (IPS, "clicks"),
        (SNIPS, "clicks"),
    ]
    assert evaluation.get(IPS, "clicks").value == pytest.approx(0.5 / 3)
    with pytest.raises(KeyError, match="no 'dr' estimate for reward 'clicks'"):
        evaluation.get(DR, "clicks")


# --- Weights ----------------------------------------------------------------------


def test_ess_equals_the_count_for_equal_weights():
    assert effective_sample_size(np.full(7, 0.3)) == pytest.approx(7)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(1)
    assert effective_sample_size(np.zeros(3)) == 0.0
    # Target = half the logging propensity everywhere: every weight is 0.5.
    logged, options = simulate_day(np.random.default_rng(2), 300, target=LOGGING / 2)
    ips = evaluate_policy(logged, options, 300, n_bootstrap=0).get(IPS, "opens")
    assert ips.ess == pytest.approx(len(logged))
    assert ips.max_weight == pytest.approx(0.5)


def test_target_equal_to_logging_gives_the_observed_mean_reward_per_user():
    logged, options = simulate_day(np.random.default_rng(3), 400, target=LOGGING)
    evaluation = evaluate_policy(logged, options, 400, n_bootstrap=0)
    for reward in ("opens", "clicks"):
        observed = logged.rewards[reward].sum() / 400
        assert evaluation.get(IPS, reward).value == pytest.approx(observed, rel=1e-12)
    assert evaluation.get(IPS, "opens").ess == pytest.approx(len(logged))


# --- Unbiased and consistent --------------------------------------------------------


@pytest.mark.parametrize("estimator", [IPS, SNIPS, DR])
@pytest.mark.parametrize("reward", ["opens", "clicks"])
def test_mean_over_days_is_within_a_few_standard_errors_of_the_truth(many_days, estimator, reward):
    values = many_days[estimator, reward]
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - TRUTH[reward]) < 4 * standard_error
    # The spread is a day's sampling noise, not zero (a constant would pass the mean).
    assert values.std() > 0.002


@pytest.fixture(scope="module")
def many_days():
    return point_estimates(n_days=300, n_users=300, seed=10)


def test_one_large_day_is_close_to_the_truth():
    logged, options = simulate_day(np.random.default_rng(11), 100_000)
    evaluation = evaluate_policy(logged, options, 100_000, n_bootstrap=50, seed=1)
    for e in evaluation.estimates:
        assert e.std_error < 0.02 * TRUTH[e.reward]
        assert abs(e.value - TRUTH[e.reward]) < 4 * e.std_error, e


def test_dr_with_a_perfect_reward_model_has_less_variance_than_ips():
    segment = np.random.default_rng(12).choice(3, 300, p=SEGMENT_SHARE)
    values = point_estimates(n_days=300, n_users=None, seed=13, segment=segment)
    assert values[DR, "opens"].var() < 0.7 * values[IPS, "opens"].var()
    assert values[DR, "clicks"].var() < 0.9 * values[IPS, "clicks"].var()


@pytest.mark.parametrize(
    "q_open", [1 - OPEN_RATE, np.full_like(OPEN_RATE, 0.5), np.zeros_like(OPEN_RATE)]
)
def test_dr_with_a_wrong_reward_model_is_still_unbiased(q_open):
    values = point_estimates(n_days=300, n_users=300, seed=14, q_open=q_open)[DR, "opens"]
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - TRUTH["opens"]) < 4 * standard_error


def test_unsupported_options_bias_ips_but_not_dr_with_a_right_model():
    # Segment 0 never gets option 1 from the logging policy, where π_new = 0.8.
    logging = LOGGING.copy()
    logging[0, 1] = 0.0
    logged, options = simulate_day(np.random.default_rng(15), 100_000, logging=logging)
    evaluation = evaluate_policy(logged, options, 100_000, n_bootstrap=50, seed=2)
    ips, dr = evaluation.get(IPS, "opens"), evaluation.get(DR, "opens")
    visible = true_value(logging=logging, supported_only=True)
    assert abs(ips.value - visible) < 4 * ips.std_error
    assert abs(dr.value - TRUTH["opens"]) < 4 * dr.std_error
    assert TRUTH["opens"] - visible > 10 * ips.std_error  # the gap is real, not noise
    expected_share = SEGMENT_SHARE[0] * 0.8 / (SEGMENT_SHARE @ TARGET.sum(axis=1))
    assert ips.unsupported_share == pytest.approx(expected_share, abs=0.01)
    assert "cannot see them" in ips.note


# --- Bootstrap ----------------------------------------------------------------------


def test_bootstrap_intervals_cover_the_truth_about_95_percent_of_days():
    g = np.random.default_rng(20)
    covered: dict[tuple[str, str], list[bool]] = {}
    for day in range(100):
        logged, options = simulate_day(g, 300)
        for e in evaluate_policy(logged, options, 300, seed=day).estimates:
            covered.setdefault((e.estimator, e.reward), []).append(
                e.lower <= TRUTH[e.reward] <= e.upper
            )
            assert e.lower <= e.value <= e.upper
    for key, hits in covered.items():
        assert 0.85 <= np.mean(hits) <= 1.0, key


def test_bootstrap_resamples_users_not_sends():
    # Identical users: every resample of users has the same value, resampled sends would not.
    segment = np.zeros(50, dtype=int)
    g = np.random.default_rng(21)
    one_user_logged, one_user_options = simulate_day(g, segment=segment[:1])
    while len(one_user_logged) < 2:
        one_user_logged, one_user_options = simulate_day(g, segment=segment[:1])
    copies = 50
    logged = LoggedSends(
        user=np.repeat(np.arange(copies), len(one_user_logged)),
        option=np.tile(one_user_logged.option, copies),
        propensity=np.tile(one_user_logged.propensity, copies),
        target_propensity=np.tile(one_user_logged.target_propensity, copies),
        rewards={k: np.tile(v, copies) for k, v in one_user_logged.rewards.items()},
    )
    options = TargetOptions(
        user=np.repeat(np.arange(copies), len(one_user_options)),
        option=np.tile(one_user_options.option, copies),
        target_propensity=np.tile(one_user_options.target_propensity, copies),
        logging_propensity=np.tile(one_user_options.logging_propensity, copies),
        predicted={k: np.tile(v, copies) for k, v in one_user_options.predicted.items()},
    )
    for e in evaluate_policy(logged, options, copies, n_bootstrap=100).estimates:
        assert e.lower == pytest.approx(e.value) and e.upper == pytest.approx(e.value)
        assert e.std_error == pytest.approx(0, abs=1e-12)


def test_bootstrap_standard_error_matches_the_per_user_formula():
    n_users = 1000
    logged, options = simulate_day(np.random.default_rng(22), n_users)
    per_user = np.bincount(
        logged.user, weights=logged.weight * logged.rewards["opens"], minlength=n_users
    )
    ips = evaluate_policy(logged, options, n_users, n_bootstrap=2000, seed=3).get(IPS, "opens")
    assert ips.std_error == pytest.approx(per_user.std() / math.sqrt(n_users), rel=0.1)
    # Near normal at this size: the 95% percentile interval spans about ±1.96 SE.
    assert ips.upper - ips.lower == pytest.approx(2 * 1.96 * ips.std_error, rel=0.1)


def test_bootstrap_is_seeded():
    logged, options = simulate_day(np.random.default_rng(23), 200)
    first = evaluate_policy(logged, options, 200, n_bootstrap=100, seed=7).get(DR, "opens")
    again = evaluate_policy(logged, options, 200, n_bootstrap=100, seed=7).get(DR, "opens")
    other = evaluate_policy(logged, options, 200, n_bootstrap=100, seed=8).get(DR, "opens")
    assert (first.lower, first.upper) == (again.lower, again.upper)
    assert (first.lower, first.upper) != (other.lower, other.upper)
    assert first.value == other.value


def test_bootstrap_in_chunks_matches_one_chunk(monkeypatch):
    from notiflow.planning import off_policy

    logged, options = simulate_day(np.random.default_rng(24), 100)
    whole = evaluate_policy(logged, options, 100, n_bootstrap=30, seed=4).get(SNIPS, "clicks")
    monkeypatch.setattr(off_policy, "_DRAWS_PER_CHUNK", 250)  # two replicates per chunk
    chunked = evaluate_policy(logged, options, 100, n_bootstrap=30, seed=4).get(SNIPS, "clicks")
    assert (chunked.lower, chunked.upper) == pytest.approx((whole.lower, whole.upper))


def test_to_dict_is_json_able():
    logged, options = simulate_day(np.random.default_rng(25), 100)
    stored = json.loads(json.dumps(evaluate_policy(logged, options, 100, n_bootstrap=20).to_dict()))
    first = stored["estimates"][0]
    assert first["estimator"] == IPS and first["reward"] == "opens"
    assert first["lower"] <= first["value"] <= first["upper"]
    assert first["n_users"] == 100 and first["n_bootstrap"] == 20
    without = evaluate_policy(logged, options, 100, n_bootstrap=0).get(IPS, "opens").to_dict()
    assert without["lower"] is None and without["upper"] is None
    assert json.loads(json.dumps(without))["value"] == pytest.approx(first["value"])


# --- Bad inputs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"propensity": np.array([0.5, 0.0, 0.5])}, r"propensity lies outside \(0, 1\]"),
        ({"propensity": np.array([0.5, 1.5, 0.5])}, r"propensity lies outside \(0, 1\]"),
        ({"propensity": np.array([0.5, np.nan, 0.5])}, "propensity is NaN"),
        ({"propensity": np.array([0.5, -0.2, 0.5])}, "propensity is negative"),
        ({"target_propensity": np.array([0.25, -0.5, 1.0])}, "negative weights"),
        ({"target_propensity": np.array([0.25, 1.5, 1.0])}, r"outside \[0, 1\]"),
        ({"rewards": {"opens": np.array([1.0, np.nan, 1.0])}}, "reward 'opens' is NaN"),
        ({"rewards": {"opens": np.array([1.0, 0.0])}}, "reward 'opens' has 2 rows, expected 3"),
        ({"propensity": np.array([0.5, 0.25])}, "mismatched lengths"),
        ({"rewards": {}}, "rewards is empty"),
        ({"user": np.array([0.0, 0.0, 1.0])}, "user must be integer indices"),
        ({"user": np.array([0, 0, -1])}, "user index -1 is negative"),
        ({"propensity": np.array([[0.5, 0.25, 0.5]])}, "must be 1-d"),
    ],
)
def test_bad_logged_sends_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_example(**overrides)


def test_bad_option_tables_raise():
    table = dict(
        user=np.array([0, 1]),
        option=np.array([0, 0]),
        target_propensity=np.array([0.5, 0.5]),
        logging_propensity=np.array([0.5, 0.5]),
    )
    with pytest.raises(ValueError, match="option table: logging_propensity lies outside"):
        TargetOptions(**{**table, "logging_propensity": np.array([0.5, 2.0])})
    with pytest.raises(ValueError, match="option table: target_propensity is NaN"):
        TargetOptions(**{**table, "target_propensity": np.array([0.5, np.nan])})
    with pytest.raises(ValueError, match="predicted 'opens' is NaN or infinite"):
        TargetOptions(**table, predicted={"opens": np.array([0.1, np.inf])})
    with pytest.raises(ValueError, match="mismatched lengths"):
        TargetOptions(**{**table, "option": np.array([0, 0, 1])})


@pytest.mark.parametrize(
    ("n_users", "kwargs", "message"),
    [
        (1, {}, "n_users=1 is less than the 2 distinct users in the logged sends"),
        (0, {}, "n_users must be a positive integer"),
        (2, {}, r"option table: user index 2 is outside \[0, n_users=2\)"),
        (3, {"n_bootstrap": -1}, "n_bootstrap must be an integer >= 0"),
        (3, {"confidence": 1.5}, r"confidence must lie in \(0, 1\)"),
    ],
)
def test_bad_arguments_raise(n_users, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_policy(*tiny_example(), n_users=n_users, **kwargs)


def test_inconsistent_log_and_table_raise():
    _, options = tiny_example()
    cases = [
        (
            tiny_example(option=np.array([0, 1, 1]))[0],
            "the option table lacks 1 logged sends the new policy may send",
        ),
        (
            tiny_example(target_propensity=np.array([0.25, 0.5, 0.9]))[0],
            "target_propensity disagrees with the option table's target_propensity at 1",
        ),
        (
            tiny_example(propensity=np.array([0.5, 0.3, 0.5]))[0],
            "propensity disagrees with the option table's logging_propensity at 1",
        ),
        (
            tiny_example(option=np.array([0, 0, 0]), propensity=np.array([0.5, 0.5, 0.5]))[0],
            r"logged sends: 1 \(user, option\) pairs are repeated",
        ),
        (
            tiny_example(option=np.array(["a", "b", "a"]))[0],
            "option keys differ in type",
        ),
        (
            tiny_example(rewards={"clicks": np.array([1.0, 0.0, 1.0])})[0],
            r"predicts rewards the log lacks: \['opens'\]",
        ),
    ]
    for logged, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluate_policy(logged, options, 3, n_bootstrap=0)
