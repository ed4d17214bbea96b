"""The volume policy: per user, whether, on which channels and at which local hour to send.

Each option (a candidate send: user, channel, local hour) is worth its expected opens,
discounted by the rank of the send in the user's day and by the sends the user got in
the 7 days before, minus the expected cost of the unsubscribes it causes::

    value = p_open * extra_send_discount ** (rank - 1) * recent_send_discount ** sends_7d
            - unsubscribe_cost * p_unsubscribe

The weekly discount stands for what a myopic P(open) misses: every send tires the user
for the week after it (Pinterest KDD'18 plans weekly volume with diminishing returns per
extra send). The engagement model cannot learn that effect from the logs of a policy
that sends more to the users who open most (recent sends go with opening there), so
without it the plan sends to the same users day after day while their opens fall.

The exploit branch sends, per user, greedily by marginal value while it exceeds a
multiplier λ ≥ 0 (LinkedIn KDD'16: send iff value minus cost clears a threshold), under
the channel caps, quiet hours, opt-ins and unsubscribes; λ is the Lagrange multiplier of
the day's volume budget, found by bisection (Pinterest KDD'18: budgets with diminishing
returns per extra send). A random ε of the eligible users is explored instead, uniformly
over how many sends and at which hours, so that every send carries an exact propensity
under the whole policy and the plan can be judged off-policy.

Pure numpy: every input arrives as arrays, and nothing is trusted (options in quiet
hours or on channels a user cannot receive are dropped here, not by the caller).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import numpy as np

from notiflow.domain import CHANNELS, DAILY_CAPS, OPT_IN_CHANNELS, QUIET_HOURS, hours_outside

HOURS_PER_DAY = 24
N_CHANNELS = len(CHANNELS)
# The budget counts as met when the day's sends are within this share of it.
BUDGET_TOLERANCE = 0.01
# More than enough halvings to pin λ down to adjacent floats on any real value range.
MAX_BISECTIONS = 200

# VolumePlan.budget_status: why the day has the number of sends it has.
BUDGET_MET = "met"  # within BUDGET_TOLERANCE of the budget
BUDGET_NOT_BINDING = "not_binding"  # fewer positive-value sends than the budget: all sent, λ = 0
BUDGET_EXPLORATION_OVER = "exploration_over_budget"  # the explored sends alone exceed it
BUDGET_TIED = "tied"  # equal marginal values straddle the budget: no λ lands within tolerance


@dataclasses.dataclass(frozen=True)
class Options:
    """The candidate sends of the day, one row each (flat arrays, aligned).

    ``channel`` indexes ``domain.CHANNELS``. A (user, channel, local_hour) may appear
    once: two rows for the same send would carry two different models' opinions of it,
    and its propensity would be ambiguous.
    """

    user: np.ndarray
    channel: np.ndarray
    local_hour: np.ndarray
    p_open: np.ndarray
    p_unsubscribe: np.ndarray

    def __post_init__(self) -> None:
        for name in ("user", "channel", "local_hour"):
            object.__setattr__(self, name, _index_array(name, getattr(self, name)))
        for name in ("p_open", "p_unsubscribe"):
            object.__setattr__(self, name, _probability_array(name, getattr(self, name)))
        lengths = {f.name: len(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Options arrays differ in length: {lengths}")
        _check_range("Options.user", self.user, 0, None)
        _check_range("Options.channel", self.channel, 0, N_CHANNELS - 1, f"CHANNELS={CHANNELS}")
        _check_range("Options.local_hour", self.local_hour, 0, HOURS_PER_DAY - 1)
        send_key = _slot_key(self.user, self.channel) * HOURS_PER_DAY + self.local_hour
        ordered = np.sort(send_key)
        repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(repeated):
            key = int(ordered[repeated[0]])
            slot, hour = divmod(key, HOURS_PER_DAY)
            user, channel = divmod(slot, N_CHANNELS)
            raise ValueError(
                f"Options holds {len(repeated)} duplicate send(s), e.g. user {user}, "
                f"channel {CHANNELS[channel]!r}, local_hour {hour}"
            )

    def __len__(self) -> int:
        return len(self.user)

    def value(self, rank: int | np.ndarray, config: PolicyConfig) -> np.ndarray:
        """Each option's value as the ``rank``-th send of its user's day (1 = first)."""
        discount = config.extra_send_discount ** (np.asarray(rank) - 1)
        return self.p_open * discount - config.unsubscribe_cost * self.p_unsubscribe


@dataclasses.dataclass(frozen=True)
class Audience:
    """Who may receive what: users × channels ``opted_in`` and ``unsubscribed``, and the
    users of the randomized ``holdout`` (they never get anything). Channels outside
    ``domain.OPT_IN_CHANNELS`` need no opt-in; an unsubscribe stops every channel it is on.
    """

    opted_in: np.ndarray
    unsubscribed: np.ndarray
    holdout: np.ndarray
    recent_sends: np.ndarray | None = None  # per user: sends in the 7 days before (0 if None)

    def __post_init__(self) -> None:
        for name in ("opted_in", "unsubscribed", "holdout"):
            object.__setattr__(self, name, _bool_array(name, getattr(self, name)))
        if self.holdout.ndim != 1:
            raise ValueError(
                f"Audience.holdout must be 1-D (users), got shape {self.holdout.shape}"
            )
        expected = (len(self.holdout), N_CHANNELS)
        for name in ("opted_in", "unsubscribed"):
            if getattr(self, name).shape != expected:
                raise ValueError(
                    f"Audience.{name} must have shape (users, channels) = {expected}, "
                    f"got {getattr(self, name).shape}"
                )
        recent = np.zeros(len(self.holdout)) if self.recent_sends is None else self.recent_sends
        recent = np.asarray(recent, dtype=np.float64)
        if recent.shape != self.holdout.shape or not (recent >= 0).all():
            raise ValueError(
                f"Audience.recent_sends must be one count >= 0 per user "
                f"(shape {self.holdout.shape}), got shape {recent.shape}"
            )
        object.__setattr__(self, "recent_sends", recent)

    @property
    def n_users(self) -> int:
        return len(self.holdout)

    def can_receive(self) -> np.ndarray:
        """users × channels: allowed to get a notification on the channel today."""
        needs_opt_in = np.array([c in OPT_IN_CHANNELS for c in CHANNELS])
        return (self.opted_in | ~needs_opt_in) & ~self.unsubscribed & ~self.holdout[:, None]


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """The knobs of the day's plan.

    ``budget`` counts every send of the day, explored ones included. ``unsubscribe_cost``
    is in open units (an unsubscribe loses all future opens of the channel).
    ``extra_send_discount`` in [0, 1] scales the open value of a user's k-th send of the
    day (any channel) by discount ** (k - 1); at most 1, as returns diminish.
    ``recent_send_discount`` in [0, 1] scales it by discount ** n for the n sends the user
    got in the 7 days before (1 = no weekly fatigue). ``caps``
    and ``quiet_hours`` (local [start, end), wrapping midnight; None or start == end =
    none) are keyed by channel name and default to the domain's.
    """

    budget: int
    exploration_share: float = 0.05
    unsubscribe_cost: float = 20.0
    extra_send_discount: float = 0.6
    recent_send_discount: float = 0.95
    caps: Mapping[str, int] = dataclasses.field(default_factory=lambda: DAILY_CAPS)
    quiet_hours: Mapping[str, tuple[int, int] | None] = dataclasses.field(
        default_factory=lambda: QUIET_HOURS
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, numbers.Integral):
            raise ValueError(f"budget must be an integer number of sends, got {self.budget!r}")
        if self.budget < 0:
            raise ValueError(f"budget must be non-negative, got {self.budget}")
        if not 0 <= self.exploration_share < 1:  # also refuses NaN
            raise ValueError(f"exploration_share must be in [0, 1), got {self.exploration_share}")
        if not 0 <= self.unsubscribe_cost < np.inf:
            raise ValueError(
                f"unsubscribe_cost must be finite and >= 0, got {self.unsubscribe_cost}"
            )
        for name in ("extra_send_discount", "recent_send_discount"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"{name} must be in [0, 1] (diminishing returns), got {getattr(self, name)}"
                )
        for name in ("caps", "quiet_hours"):
            mapping = getattr(self, name)
            missing = [c for c in CHANNELS if c not in mapping]
            unknown = sorted(set(mapping) - set(CHANNELS))
            if missing or unknown:
                raise ValueError(
                    f"{name} must key every channel of {CHANNELS} exactly: "
                    f"missing {missing}, unknown {unknown}"
                )
        for channel, cap in self.caps.items():
            if isinstance(cap, bool) or not isinstance(cap, numbers.Integral) or cap < 0:
                raise ValueError(f"caps[{channel!r}] must be an integer >= 0, got {cap!r}")
        for channel, window in self.quiet_hours.items():
            if window is None:
                continue
            if len(window) != 2 or not all(
                isinstance(h, numbers.Integral) and 0 <= h < HOURS_PER_DAY for h in window
            ):
                raise ValueError(
                    f"quiet_hours[{channel!r}] must be None or (start, end) hours in "
                    f"0..{HOURS_PER_DAY - 1}, got {window!r}"
                )

    def cap_by_channel(self) -> np.ndarray:
        """The daily cap of each channel, in ``CHANNELS`` order."""
        return np.array([self.caps[c] for c in CHANNELS], dtype=np.int64)

    def allowed_hours(self) -> np.ndarray:
        """channels × 24: the local hours outside each channel's quiet hours."""
        allowed = np.zeros((N_CHANNELS, HOURS_PER_DAY), dtype=bool)
        for c, channel in enumerate(CHANNELS):
            allowed[c, list(hours_outside(self.quiet_hours[channel]))] = True
        return allowed


@dataclasses.dataclass(frozen=True)
class VolumePlan:
    """The day's sends (sorted by user, channel, hour) and what the plan report needs.

    ``propensity`` is each send's probability under the whole policy, and
    ``option_propensity`` the same for every row of the Options (0 where the policy can
    never send it), for off-policy estimates of this plan on old logs.
    """

    option_index: np.ndarray  # into the Options
    user: np.ndarray
    channel: np.ndarray
    local_hour: np.ndarray
    propensity: np.ndarray
    is_exploration: np.ndarray
    option_propensity: np.ndarray
    multiplier: float  # λ
    budget: int
    budget_binding: bool  # the budget limited the day: positive-value sends withheld
    budget_status: str  # BUDGET_MET, BUDGET_NOT_BINDING, BUDGET_EXPLORATION_OVER, BUDGET_TIED
    sends_by_channel: Mapping[str, int]
    users_capped: Mapping[str, int]  # per channel: users sent exactly the cap
    eligible_users: int  # not held out, at least one option the policy may send
    exploring: np.ndarray  # per user of the Audience: drawn into the explore branch

    @property
    def exploration_users(self) -> int:
        return int(self.exploring.sum())

    @property
    def sends(self) -> int:
        return len(self.option_index)


@dataclasses.dataclass(frozen=True)
class _GreedySteps:
    """Each eligible user's greedy sequence, one row per step; its marginal values never
    increase within a user (every option's value falls with the rank, and caps only
    remove options), so the exploit choice at any λ is the steps with value > λ."""

    option: np.ndarray
    user: np.ndarray
    value: np.ndarray


def plan_volume(options: Options, audience: Audience, config: PolicyConfig) -> VolumePlan:
    """Tomorrow's sends: exploit by marginal value above λ, explore ε of users uniformly.

    Propensities treat λ as fixed: λ depends on the realized exploration draws (through
    the budget they use up), which the standard whole-policy propensity ignores; the
    effect of one user's draw on λ is negligible at a real audience's size.
    """
    if len(options) and options.user.max() >= audience.n_users:
        raise ValueError(
            f"Options.user holds index {int(options.user.max())}, "
            f"but the Audience has only {audience.n_users} users"
        )
    caps = config.cap_by_channel()
    sendable = (
        config.allowed_hours()[options.channel, options.local_hour]
        & audience.can_receive()[options.user, options.channel]
        & (caps[options.channel] > 0)
    )
    eligible = np.bincount(options.user[sendable], minlength=audience.n_users) > 0
    rng = np.random.default_rng(config.seed)
    eps = config.exploration_share
    # One draw per user (eligible or not), so that a user's branch does not depend on
    # who else is eligible.
    explores = (rng.random(audience.n_users) < eps) & eligible
    explore_propensity, explored = _explore(options, sendable, explores, caps, rng)

    # the weekly fatigue scales what each user's opens are worth today (the policy's
    # choice only: the propensities and expected opens stay those of the model's P(open))
    tired = config.recent_send_discount ** audience.recent_sends[options.user]
    valued = dataclasses.replace(options, p_open=options.p_open * tired)
    steps = _greedy_steps(valued, sendable, caps, config, audience.n_users)
    exploiting = ~explores[steps.user]
    multiplier, status = _multiplier(
        steps.value[exploiting], config.budget - len(explored), config.budget
    )

    # P(sent) = (1 - ε) 1[in the exploit choice] + ε π_explore, with λ held fixed (the
    # standard whole-policy propensity: λ's own dependence on the draws is ignored).
    in_exploit_choice = np.zeros(len(options), dtype=bool)
    in_exploit_choice[steps.option[steps.value > multiplier]] = True
    option_propensity = (1 - eps) * in_exploit_choice + eps * explore_propensity

    exploited = steps.option[exploiting & (steps.value > multiplier)]
    chosen = np.concatenate([exploited, explored])
    is_exploration = np.repeat([False, True], [len(exploited), len(explored)])
    order = np.lexsort((options.local_hour[chosen], options.channel[chosen], options.user[chosen]))
    chosen, is_exploration = chosen[order], is_exploration[order]

    per_user_channel = np.zeros((audience.n_users, N_CHANNELS), dtype=np.int64)
    np.add.at(per_user_channel, (options.user[chosen], options.channel[chosen]), 1)
    sends_by_channel = per_user_channel.sum(axis=0)
    users_capped = ((per_user_channel == caps) & (caps > 0)).sum(axis=0)
    return VolumePlan(
        option_index=chosen,
        user=options.user[chosen],
        channel=options.channel[chosen],
        local_hour=options.local_hour[chosen],
        propensity=option_propensity[chosen],
        is_exploration=is_exploration,
        option_propensity=option_propensity,
        multiplier=multiplier,
        budget=int(config.budget),
        budget_binding=status != BUDGET_NOT_BINDING,
        budget_status=status,
        sends_by_channel=dict(zip(CHANNELS, sends_by_channel.tolist(), strict=True)),
        users_capped=dict(zip(CHANNELS, users_capped.tolist(), strict=True)),
        eligible_users=int(eligible.sum()),
        exploring=explores,
    )


def _explore(
    options: Options,
    sendable: np.ndarray,
    explores: np.ndarray,
    caps: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The explore branch: per (user, channel) with H sendable hours, k ~ U{0..min(cap, H)}
    sends at k distinct hours drawn uniformly without replacement.

    Given k, each hour is in the draw with probability k / H, so its inclusion
    probability is exactly E[k] / H = min(cap, H) / 2 / H. Returns that for every option
    (0 where not sendable) and the explored option indices.
    """
    idx = np.flatnonzero(sendable)
    slot = _slot_key(options.user[idx], options.channel[idx])
    by_slot = np.argsort(slot, kind="stable")
    idx, slot = idx[by_slot], slot[by_slot]
    first = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]]) if len(idx) else idx
    hours_per_slot = np.diff(np.r_[first, len(idx)])
    slot_of = np.repeat(np.arange(len(first)), hours_per_slot)
    max_sends = np.minimum(caps[options.channel[idx[first]]], hours_per_slot)

    propensity = np.zeros(len(options))
    propensity[idx] = (max_sends / 2 / hours_per_slot)[slot_of]

    sends = rng.integers(0, max_sends + 1)
    by_random_key = np.lexsort((rng.random(len(idx)), slot_of))  # slots stay where they are
    rank = np.empty(len(idx), dtype=np.int64)
    rank[by_random_key] = np.arange(len(idx)) - first[slot_of[by_random_key]]
    picked = (rank < sends[slot_of]) & explores[options.user[idx]]
    return propensity, np.sort(idx[picked])


def _greedy_steps(
    options: Options, sendable: np.ndarray, caps: np.ndarray, config: PolicyConfig, n_users: int
) -> _GreedySteps:
    """Every eligible user's greedy sequence at λ = 0, all users at once, one step at a
    time: the step-k send is the sendable option of highest value at rank k among those
    not yet taken on a channel below its cap, while that value is positive."""
    positive_first = sendable & (options.value(1, config) > 0)  # rank 1 is its best value
    cand = np.flatnonzero(positive_first)
    cand = cand[np.argsort(options.user[cand], kind="stable")]
    user, channel = options.user[cand], options.channel[cand]
    p_open, unsub_value = (
        options.p_open[cand],
        config.unsubscribe_cost * options.p_unsubscribe[cand],
    )
    first = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if len(cand) else cand
    group_of = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(cand)]))

    taken = np.zeros(len(cand), dtype=bool)
    per_user_channel = np.zeros((n_users, N_CHANNELS), dtype=np.int64)  # sends so far
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    for rank in range(1, int(caps.sum()) + 1):
        if not len(cand):
            break
        value = p_open * config.extra_send_discount ** (rank - 1) - unsub_value
        open_ = ~taken & (per_user_channel[user, channel] < caps[channel]) & (value > 0)
        value = np.where(open_, value, -np.inf)
        best = np.maximum.reduceat(value, first)
        at_best = np.flatnonzero((value == best[group_of]) & open_)
        if not len(at_best):
            break
        pick = at_best[np.r_[True, group_of[at_best][1:] != group_of[at_best][:-1]]]
        taken[pick] = True
        per_user_channel[user[pick], channel[pick]] += 1  # one pick per user: no repeats
        steps.append((pick, value[pick]))
    if not steps:
        empty = np.array([], dtype=np.int64)
        return _GreedySteps(option=empty, user=empty, value=np.array([]))
    pick = np.concatenate([p for p, _ in steps])
    return _GreedySteps(
        option=cand[pick], user=user[pick], value=np.concatenate([v for _, v in steps])
    )


def _multiplier(values: np.ndarray, exploit_target: int, budget: int) -> tuple[float, str]:
    """λ ≥ 0 so that the exploit sends (marginal value > λ) fill what exploration left of
    the budget; bisection on λ, never above the budget."""
    ordered = np.sort(values)

    def sends_above(lam: float) -> int:
        return len(ordered) - int(np.searchsorted(ordered, lam, side="right"))

    def met(exploit_sends: int) -> bool:  # the day's total is off the budget by this much
        return abs(exploit_sends - exploit_target) <= BUDGET_TOLERANCE * budget

    if exploit_target >= len(ordered):
        return 0.0, BUDGET_NOT_BINDING
    if exploit_target <= 0:  # exploration used it all: no exploit send
        multiplier = float(ordered[-1]) if len(ordered) else 0.0
        return multiplier, BUDGET_MET if met(0) else BUDGET_EXPLORATION_OVER
    low, high = 0.0, float(ordered[-1])  # sends_above(low) > target >= sends_above(high)
    for _ in range(MAX_BISECTIONS):
        middle = (low + high) / 2
        if not low < middle < high:
            break
        if sends_above(middle) > exploit_target:
            low = middle
        else:
            high = middle
            if sends_above(high) == exploit_target:
                break
    return high, BUDGET_MET if met(sends_above(high)) else BUDGET_TIED


def _slot_key(user: np.ndarray, channel: np.ndarray) -> np.ndarray:
    return user * N_CHANNELS + channel


def _index_array(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"Options.{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"Options.{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _probability_array(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"Options.{name} must be 1-D, got shape {array.shape}")
    if array.size and not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"Options.{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if np.isnan(array).any():
        raise ValueError(f"Options.{name} holds {int(np.isnan(array).sum())} NaN")
    _check_range(f"Options.{name}", array, 0, 1, "a probability")
    return array


def _check_range(name: str, array: np.ndarray, low, high, what: str = "") -> None:
    bad = (array < low) if high is None else (array < low) | (array > high)
    if bad.any():
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        note = f" ({what})" if what else ""
        raise ValueError(
            f"{name} must be {allowed}{note}: {int(bad.sum())} value(s) outside, "
            f"e.g. {array[bad][0]}"
        )


def _bool_array(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype != bool:
        if not (np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all()):
            raise ValueError(f"Audience.{name} must be boolean, got dtype {array.dtype}")
        array = array.astype(bool)
    return array
