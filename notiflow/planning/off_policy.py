"""Off-policy estimates of a new sending policy's value, from the logging policy's sends.

A day's sends decide, per eligible user i, which (channel, local hour) options o go out.
The logging policy sent o with a known marginal propensity π_log(i,o) (logged with the
send); a new policy would send it with marginal probability π_new(i,o). Rewards are per
send and additive (the opens, the clicks of that notification; 0 when nothing is sent),
so the estimand is the expected reward per eligible user,

    V(π_new) = (1/N) Σ_i Σ_o π_new(i,o) μ(i,o),   μ(i,o) = E[reward | o sent to i].

The sample unit is the eligible user: a user without logged sends still counts in N,
and the bootstrap resamples users, not sends (a user's sends share the user's luck).

With w = π_new/π_log on each logged send, S_i the options logged-sent to i, and q̂ a
reward model (e.g. the engagement model's P(open)):

    IPS   = (1/N) Σ_i Σ_{o∈S_i} w r
    SNIPS = (M/N) · Σ_i Σ_{o∈S_i} w r / Σ_i Σ_{o∈S_i} w,   M = Σ_i Σ_{o: π_log>0} π_new
    DR    = (1/N) Σ_i [Σ_o π_new q̂ + Σ_{o∈S_i} w (r − q̂)]

SNIPS uses the weight total as a control variate: its expectation M, the new policy's
expected sends on options the logging policy can send, is known exactly, so IPS is
rescaled by M / Σw when the log happened to hold more or less of the new policy's sends
than expected. It is the new policy's supported sends per user (M/N) times their
self-normalized reward per send: consistent, with an O(1/N) ratio bias, and less
variance than IPS when rewards per send vary less than the weights.

IPS and SNIPS see only options the logging policy could send (π_log > 0): the new
policy's mass elsewhere counts as reward 0, which the estimate's note says. DR values
those options by the reward model alone. DR is unbiased when either the propensities or
the reward model are right; with the logged (known) propensities, any q̂ keeps it
unbiased on supported options, and a good q̂ cuts its variance.

Pure numpy: the planning DAG feeds it the log and the volume policy's option table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

IPS, SNIPS, DR = "ips", "snips", "dr"
ESTIMATORS: tuple[str, ...] = (IPS, SNIPS, DR)
# Bootstrap replicates are drawn in chunks of about this many user draws, so that a
# large day's resampling stays within a few tens of MB.
_DRAWS_PER_CHUNK = 1 << 22
# Relative tolerance for a logged send's propensities to agree with the option table's.
_PROPENSITY_RTOL = 1e-6


@dataclasses.dataclass(frozen=True, eq=False)
class LoggedSends:
    """The logging policy's sends of a day, one row per (user, option) sent.

    ``user``: eligible-user index in [0, n_users); ``option``: the option's key (an int
    index or a string, the same keys as the option table's); ``propensity``: π_log of the
    send, in (0, 1]; ``target_propensity``: π_new of the same (user, option), in [0, 1];
    ``rewards``: reward name → the reward of each send (e.g. opens, clicks).
    """

    user: np.ndarray
    option: np.ndarray
    propensity: np.ndarray
    target_propensity: np.ndarray
    rewards: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        _freeze_columns(self, "logged sends", ("user", "option", "propensity", "target_propensity"))
        n = len(self.user)
        if not self.rewards:
            raise ValueError("logged sends: rewards is empty; give at least one reward column")
        rewards = {}
        for name, values in self.rewards.items():
            values = _column(values, f"logged sends: reward {name!r}", n)
            bad = ~np.isfinite(values)
            if bad.any():
                raise ValueError(
                    f"logged sends: reward {name!r} is NaN or infinite at {bad.sum()} sends"
                )
            rewards[name] = values
        object.__setattr__(self, "rewards", rewards)
        _check_user_indices(self.user, "logged sends")
        _check_probabilities(self.propensity, "logged sends: propensity", allow_zero=False)
        _check_probabilities(self.target_propensity, "logged sends: target_propensity")

    @property
    def weight(self) -> np.ndarray:
        """The importance weight π_new/π_log of each send."""
        return self.target_propensity / self.propensity

    def __len__(self) -> int:
        return len(self.user)


@dataclasses.dataclass(frozen=True, eq=False)
class TargetOptions:
    """The new policy's option table: one row per (user, option) it may send.

    Every option with π_new > 0 must be listed (rows with π_new = 0 may be left out).
    ``target_propensity``: π_new, in [0, 1]; ``logging_propensity``: π_log of the same
    option, 0 where the logging policy could not send it (unsupported); ``predicted``:
    reward name → the reward model's q̂ per row, for the rewards DR is wanted for.
    """

    user: np.ndarray
    option: np.ndarray
    target_propensity: np.ndarray
    logging_propensity: np.ndarray
    predicted: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_columns(
            self, "option table", ("user", "option", "target_propensity", "logging_propensity")
        )
        n = len(self.user)
        predicted = {}
        for name, values in self.predicted.items():
            values = _column(values, f"option table: predicted {name!r}", n)
            bad = ~np.isfinite(values)
            if bad.any():
                raise ValueError(
                    f"option table: predicted {name!r} is NaN or infinite at {bad.sum()} rows"
                )
            predicted[name] = values
        object.__setattr__(self, "predicted", predicted)
        _check_user_indices(self.user, "option table")
        _check_probabilities(self.target_propensity, "option table: target_propensity")
        _check_probabilities(self.logging_propensity, "option table: logging_propensity")

    def __len__(self) -> int:
        return len(self.user)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """One estimator's value of the new policy for one reward, per eligible user.

    ``lower``/``upper``: the bootstrap percentile interval at ``confidence`` (NaN without
    bootstrap); ``std_error``: the bootstrap standard deviation. The weight diagnostics
    are over the logged sends: ``ess`` = (Σw)²/Σw², ``max_weight``; ``unsupported_share``:
    the share of the new policy's expected sends on options with π_log = 0.
    """

    estimator: str
    reward: str
    value: float
    lower: float
    upper: float
    std_error: float
    confidence: float
    n_bootstrap: int
    n_users: int
    n_logged_sends: int
    target_sends_per_user: float
    ess: float
    max_weight: float
    unsupported_share: float
    note: str = ""

    def to_dict(self) -> dict[str, str | int | float | None]:
        """JSON-able fields for storing with a plan; NaN (no bootstrap) becomes None."""
        out: dict[str, str | int | float | None] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float):
                value = None if math.isnan(value) else float(value)
            out[field.name] = value
        return out


@dataclasses.dataclass(frozen=True)
class PolicyEvaluation:
    """Every estimate of one call, all from the same bootstrap resamples of users."""

    estimates: tuple[Estimate, ...]

    def get(self, estimator: str, reward: str) -> Estimate:
        for estimate in self.estimates:
            if estimate.estimator == estimator and estimate.reward == reward:
                return estimate
        raise KeyError(f"no {estimator!r} estimate for reward {reward!r}")

    def to_dict(self) -> dict[str, list[dict[str, str | int | float | None]]]:
        return {"estimates": [estimate.to_dict() for estimate in self.estimates]}


def evaluate_policy(
    logged: LoggedSends,
    options: TargetOptions,
    n_users: int,
    *,
    n_bootstrap: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
) -> PolicyEvaluation:
    """IPS and SNIPS for every reward, DR for every reward the table predicts.

    ``n_users`` is the number of eligible users N (users index [0, N)), including those
    with no logged send. ``n_bootstrap`` = 0 skips the intervals (point estimates only).
    """
    n_users = _check_n_users(n_users, logged, options)
    if not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    unknown = sorted(set(options.predicted) - set(logged.rewards))
    if unknown:
        raise ValueError(f"option table predicts rewards the log lacks: {unknown}")
    row = _table_rows_of_sends(logged, options)

    weight = logged.weight
    supported = options.logging_propensity > 0
    columns = {"weight": (logged.user, weight)}
    columns["supported_mass"] = (
        options.user[supported],
        options.target_propensity[supported],
    )
    for name, reward in logged.rewards.items():
        columns[f"ips:{name}"] = (logged.user, weight * reward)
        if name in options.predicted:
            q_hat = options.predicted[name]
            q_hat_of_send = np.where(row >= 0, q_hat[np.maximum(row, 0)], 0.0)
            columns[f"dm:{name}"] = (options.user, options.target_propensity * q_hat)
            columns[f"correction:{name}"] = (logged.user, weight * (reward - q_hat_of_send))
    names = list(columns)
    per_user = np.column_stack(
        [np.bincount(u, weights=x, minlength=n_users) for u, x in columns.values()]
    )

    totals = per_user.sum(axis=0)
    if n_bootstrap:
        resampled = _bootstrap_totals(per_user, n_bootstrap, np.random.default_rng(seed))
    else:
        resampled = np.empty((0, len(names)))

    total_mass = float(options.target_propensity.sum())
    unsupported_share = (
        float(options.target_propensity[~supported].sum()) / total_mass if total_mass else 0.0
    )
    diagnostics = dict(
        confidence=float(confidence),
        n_bootstrap=int(n_bootstrap),
        n_users=n_users,
        n_logged_sends=len(logged),
        target_sends_per_user=total_mass / n_users,
        ess=effective_sample_size(weight),
        max_weight=float(weight.max()) if len(weight) else 0.0,
        unsupported_share=unsupported_share,
    )
    alpha = (1 - confidence) / 2
    estimates = []
    for name in logged.rewards:
        for estimator in ESTIMATORS:
            if estimator == DR and name not in options.predicted:
                continue
            value = _estimator_value(estimator, name, totals, names, n_users)
            boot = _estimator_value(estimator, name, resampled, names, n_users)
            if n_bootstrap:
                lower, upper = np.quantile(boot, [alpha, 1 - alpha])
                std_error = boot.std(ddof=1) if n_bootstrap > 1 else 0.0
            else:
                lower = upper = std_error = math.nan
            estimates.append(
                Estimate(
                    estimator=estimator,
                    reward=name,
                    value=float(value),
                    lower=float(lower),
                    upper=float(upper),
                    std_error=float(std_error),
                    note=_note(estimator, unsupported_share),
                    **diagnostics,
                )
            )
    return PolicyEvaluation(tuple(estimates))


def effective_sample_size(weight: np.ndarray) -> float:
    """(Σw)²/Σw²: how many equally weighted sends the weighted log is worth (0 if all w=0)."""
    weight = np.asarray(weight, dtype=float)
    squares = float(np.square(weight).sum())
    return float(weight.sum()) ** 2 / squares if squares else 0.0


def _estimator_value(
    estimator: str, reward: str, totals: np.ndarray, names: list[str], n_users: int
) -> np.ndarray:
    """The estimator from column totals; ``totals`` is (columns,) or (replicates, columns)."""

    def total(column: str) -> np.ndarray:
        return totals[..., names.index(column)]

    if estimator == IPS:
        return total(f"ips:{reward}") / n_users
    if estimator == SNIPS:
        weight = total("weight")
        # No weighted send at all: nothing to normalize, the estimate is IPS's 0.
        ratio = np.divide(
            total(f"ips:{reward}"), weight, out=np.zeros_like(weight), where=weight > 0
        )
        return ratio * total("supported_mass") / n_users
    return (total(f"dm:{reward}") + total(f"correction:{reward}")) / n_users


def _bootstrap_totals(per_user: np.ndarray, n_bootstrap: int, g: np.random.Generator) -> np.ndarray:
    """Column totals of ``n_bootstrap`` resamples of the users (N draws with replacement).

    Each chunk of replicates counts its draws per user with one bincount and sums the
    users' columns with one matrix product: no Python loop over users or sends.
    """
    n_users, n_columns = per_user.shape
    chunk = max(1, min(n_bootstrap, _DRAWS_PER_CHUNK // n_users))
    totals = np.empty((n_bootstrap, n_columns))
    for start in range(0, n_bootstrap, chunk):
        k = min(chunk, n_bootstrap - start)
        draws = g.integers(0, n_users, size=(k, n_users))
        draws += n_users * np.arange(k)[:, None]
        counts = np.bincount(draws.ravel(), minlength=k * n_users).reshape(k, n_users)
        totals[start : start + k] = counts @ per_user
    return totals


def _note(estimator: str, unsupported_share: float) -> str:
    if unsupported_share <= 0:
        return ""
    share = (
        f"{unsupported_share:.1%} of the new policy's expected sends are on options the "
        "logging policy could not send (π_log = 0)"
    )
    if estimator == DR:
        return f"{share}; DR values them by the reward model alone"
    return f"{share}; {estimator.upper()} cannot see them and counts them as reward 0"


def _table_rows_of_sends(logged: LoggedSends, options: TargetOptions) -> np.ndarray:
    """The option-table row of each logged send (-1 where the table lacks it), after
    checking keys are unique and the log's propensities agree with the table's."""
    if np.issubdtype(logged.option.dtype, np.number) != np.issubdtype(
        options.option.dtype, np.number
    ):
        raise ValueError(
            "option keys differ in type between the logged sends "
            f"({logged.option.dtype}) and the option table ({options.option.dtype})"
        )
    _, codes = np.unique(np.concatenate([logged.option, options.option]), return_inverse=True)
    n_codes = int(codes.max()) + 1 if len(codes) else 1
    send_keys = logged.user.astype(np.int64) * n_codes + codes[: len(logged)]
    table_keys = options.user.astype(np.int64) * n_codes + codes[len(logged) :]
    for keys, where in ((send_keys, "logged sends"), (table_keys, "option table")):
        _, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{where}: {(counts > 1).sum()} (user, option) pairs are repeated")

    order = np.argsort(table_keys)
    row = np.full(len(logged), -1)
    if len(order):
        position = np.minimum(np.searchsorted(table_keys[order], send_keys), len(order) - 1)
        found = table_keys[order][position] == send_keys
        row[found] = order[position[found]]
    found = row >= 0

    missing = ~found & (logged.target_propensity > 0)
    if missing.any():
        raise ValueError(
            f"the option table lacks {missing.sum()} logged sends the new policy may send "
            "(target_propensity > 0)"
        )
    table_row = row[found]
    for log_field, table_field in (
        ("target_propensity", "target_propensity"),
        ("propensity", "logging_propensity"),
    ):
        disagree = ~np.isclose(
            getattr(logged, log_field)[found],
            getattr(options, table_field)[table_row],
            rtol=_PROPENSITY_RTOL,
            atol=0,
        )
        if disagree.any():
            raise ValueError(
                f"logged sends' {log_field} disagrees with the option table's {table_field} "
                f"at {disagree.sum()} sends"
            )
    return row


def _check_n_users(n_users: int, logged: LoggedSends, options: TargetOptions) -> int:
    if not isinstance(n_users, int | np.integer) or n_users < 1:
        raise ValueError(f"n_users must be a positive integer, got {n_users!r}")
    distinct = len(np.unique(logged.user))
    if n_users < distinct:
        raise ValueError(
            f"n_users={n_users} is less than the {distinct} distinct users in the logged sends"
        )
    for users, where in ((logged.user, "logged sends"), (options.user, "option table")):
        if len(users) and users.max() >= n_users:
            raise ValueError(f"{where}: user index {users.max()} is outside [0, n_users={n_users})")
    return int(n_users)


def _freeze_columns(obj: object, where: str, names: tuple[str, ...]) -> None:
    """Store each field as a 1-d array, all as long as the first; numbers as floats."""
    n = len(np.atleast_1d(np.asarray(getattr(obj, names[0]))))
    for name in names:
        as_float = name not in ("user", "option")
        values = _column(getattr(obj, name), f"{where}: {name}", n, as_float=as_float)
        object.__setattr__(obj, name, values)


def _column(values: object, what: str, n: int, *, as_float: bool = True) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{what} must be 1-d, got shape {values.shape}")
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} rows, expected {n} (mismatched lengths)")
    if not as_float:
        return values
    try:
        return values.astype(float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be numeric: {error}") from None


def _check_user_indices(user: np.ndarray, where: str) -> None:
    if user.dtype.kind not in "iu":
        raise ValueError(f"{where}: user must be integer indices, got dtype {user.dtype}")
    if len(user) and user.min() < 0:
        raise ValueError(f"{where}: user index {user.min()} is negative")


def _check_probabilities(values: np.ndarray, what: str, *, allow_zero: bool = True) -> None:
    """Propensities are probabilities: in [0, 1], or (0, 1] where a send was observed."""
    nan = np.isnan(values)
    if nan.any():
        raise ValueError(f"{what} is NaN at {nan.sum()} rows")
    if (values < 0).any():
        raise ValueError(
            f"{what} is negative at {(values < 0).sum()} rows (negative weights are invalid)"
        )
    outside = (values > 1) | (values == 0 if not allow_zero else False)
    if outside.any():
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(
            f"{what} lies outside {interval} at {outside.sum()} rows "
            f"(min {values.min():.6g}, max {values.max():.6g})"
        )
