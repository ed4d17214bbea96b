"""The plan report: each plan day's summaries and outcome, shaped for the pages, and its charts.

Reads what the planning DAG and the evaluation leave under ``<planning_dir>/<ds>/``
(:mod:`notiflow.planning.plan`, :mod:`notiflow.planning.evaluation`): the staged plan's
summary, the published one (only when the plan passed its gate) and the evaluation once
the day's labels matured. The charts are inline SVG built here, so the pages need no
JavaScript and the Content-Security-Policy stays strict.

The plan summaries are written in place (not atomically), and a page must not fail on a
file it cannot read: a file that does not parse is named on the page instead of taking it
down, a field that is missing or not a number shows as a dash or as it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from notiflow.planning.evaluation import ELIGIBLE, EVALUATION_FILE, EXPLORATION, HOLDOUT, POLICY
from notiflow.planning.plan import PLAN_SUMMARY_FILE, STAGED_SUMMARY_FILE
from notiflow.settings import Settings
from notiflow_airflow.reports import charts
from notiflow_airflow.reports.charts import number

FILES = (STAGED_SUMMARY_FILE, PLAN_SUMMARY_FILE, EVALUATION_FILE)
ARMS = (POLICY, EXPLORATION, HOLDOUT, ELIGIBLE)
HOURS = range(24)
# The headline estimate: SNIPS is the one that stays in [0, max reward] when weights are wild.
HEADLINE_ESTIMATOR, HEADLINE_REWARD = "snips", "opens"

PUBLISHED, FALLBACK, STAGED, LOGGING = "published", "fallback", "staged", "logging"
STATUS_CLASSES = {PUBLISHED: "success", FALLBACK: "danger", STAGED: "info", LOGGING: "secondary"}


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _records(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclasses.dataclass(frozen=True)
class PlanDay:
    """One plan day: what is on disk for it and what it means."""

    ds: dt.date
    staged: dict | None  # staged.json, parsed
    published: dict | None  # plan.json, parsed: the plan passed its gate
    evaluation: dict | None  # evaluation.json, parsed: the day's labels matured
    files: frozenset[str]  # which of FILES exist, readable or not
    unreadable: tuple[str, ...]
    status: str  # PUBLISHED, FALLBACK, STAGED, LOGGING
    gate: str | None = None  # the plan gate's latest verdict on the day, when known

    @property
    def status_label(self) -> str:
        if self.status == FALLBACK:
            if PLAN_SUMMARY_FILE in self.files:
                return "published, but sent by the logging policy"
            return "not published — sent by the logging policy"
        return {
            PUBLISHED: "published",
            STAGED: "staged only — plan gate pending",
            LOGGING: "logging policy (no plan)",
        }[self.status]

    @property
    def status_class(self) -> str:
        return STATUS_CLASSES[self.status]

    @property
    def summary(self) -> dict:
        """The published summary (the staged one plus ``published_at``), else the staged."""
        return self.published or self.staged or {}

    @property
    def has_plan(self) -> bool:
        return STAGED_SUMMARY_FILE in self.files or PLAN_SUMMARY_FILE in self.files

    @property
    def off_policy(self) -> dict:
        return _mapping(self.summary.get("off_policy"))

    @property
    def estimates(self) -> list[dict]:
        return _records(self.off_policy.get("estimates"))

    def estimate(
        self, estimator: str = HEADLINE_ESTIMATOR, reward: str = HEADLINE_REWARD
    ) -> dict | None:
        """The off-policy estimate made before sending, if the plan has one."""
        return next(
            (
                e
                for e in self.estimates
                if (e.get("estimator"), e.get("reward")) == (estimator, reward)
            ),
            None,
        )

    def channel_counts(self, key: str) -> list[tuple[str, Any]]:
        """(channel, count) of ``sends_by_channel`` or ``users_capped``, channels in order."""
        counts = _mapping(self.summary.get(key))
        return [(channel, counts[channel]) for channel in charts.channel_order(counts)]

    @property
    def sends_by_hour(self) -> list[int]:
        """Sends per local hour 0..23 (JSON keys are strings), empty without the field."""
        by_hour = _mapping(self.summary.get("sends_by_local_hour"))
        counts = dict.fromkeys(HOURS, 0)
        for hour, sends in by_hour.items():
            if hour.isascii() and hour.isdigit() and int(hour) in counts and number(sends):
                counts[int(hour)] += sends
        return list(counts.values()) if by_hour else []

    @property
    def planned(self) -> bool | None:
        """Whether the plan sent the day (known once evaluated)."""
        planned = (self.evaluation or {}).get("planned")
        return planned if isinstance(planned, bool) else None

    @property
    def fallback(self) -> str | None:
        reason = (self.evaluation or {}).get("fallback")
        return str(reason) if reason else None

    @property
    def arms(self) -> list[tuple[str, dict]]:
        """(arm, metrics per user) in ARMS order, then any other arm."""
        arms = _mapping((self.evaluation or {}).get("arms"))
        order = [a for a in ARMS if a in arms] + sorted(set(arms) - set(ARMS))
        return [(arm, _mapping(arms[arm])) for arm in order]

    def realized(self, metric: str, arm: str = ELIGIBLE) -> float | None:
        """The realized ``metric`` per user of ``arm`` (the eligible users: the whole policy)."""
        return number(dict(self.arms).get(arm, {}).get(f"{metric}_per_user"))

    @property
    def realized_sends(self) -> float | None:
        eligible = dict(self.arms).get(ELIGIBLE, {})
        users, per_user = number(eligible.get("users")), number(eligible.get("sends_per_user"))
        return None if users is None or per_user is None else users * per_user

    @property
    def compared(self) -> list[dict]:
        """Each estimate made before sending beside the realized value (the evaluation)."""
        return _records((self.evaluation or {}).get("estimate_before"))

    def compared_with(
        self, estimator: str = HEADLINE_ESTIMATOR, reward: str = HEADLINE_REWARD
    ) -> dict | None:
        return next(
            (
                c
                for c in self.compared
                if (c.get("estimator"), c.get("reward")) == (estimator, reward)
            ),
            None,
        )

    @property
    def lift(self) -> dict:
        """The eligible users' outcome minus the holdout's, per user."""
        return _mapping((self.evaluation or {}).get("lift_over_holdout"))

    @property
    def shows_estimate(self) -> bool:
        """Whether the estimate is of what was sent (or is about to be): not on a fallback."""
        return self.status in (PUBLISHED, STAGED)


def plan_status(
    files: Iterable[str], evaluation: dict | None, gate: str | None, newest: bool
) -> str:
    """What happened to the day's plan.

    A staged plan without a published one fell back to the logging policy, unless it is
    the newest day and neither its evaluation nor a failed gate says it is over: then its
    gate and publication are still to come.
    """
    files = set(files)
    planned = (evaluation or {}).get("planned")
    if PLAN_SUMMARY_FILE in files:
        return FALLBACK if planned is False else PUBLISHED
    if STAGED_SUMMARY_FILE in files:
        over = EVALUATION_FILE in files or gate == "fail" or not newest
        return FALLBACK if over else STAGED
    return PUBLISHED if planned is True else LOGGING


def _day_folders(root: Path) -> list[tuple[dt.date, Path]]:
    """The ``<ds>`` folders under ``root``, oldest first; other entries are not days."""
    folders = []
    for path in root.iterdir() if root.is_dir() else []:
        try:
            ds = dt.date.fromisoformat(path.name)
        except ValueError:
            continue
        if path.is_dir() and ds.isoformat() == path.name:
            folders.append((ds, path))
    return sorted(folders)


def _read_day(folder: Path, ds: dt.date, gate: str | None, newest: bool) -> PlanDay:
    files, parsed, unreadable = set(), {}, []
    for name in FILES:
        path = folder / name
        if not path.is_file():
            continue
        files.add(name)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            content = None
        if isinstance(content, dict):
            parsed[name] = content
        else:
            unreadable.append(name)
    evaluation = parsed.get(EVALUATION_FILE)
    return PlanDay(
        ds=ds,
        staged=parsed.get(STAGED_SUMMARY_FILE),
        published=parsed.get(PLAN_SUMMARY_FILE),
        evaluation=evaluation,
        files=frozenset(files),
        unreadable=tuple(unreadable),
        status=plan_status(files, evaluation, gate, newest),
        gate=gate,
    )


def read_days(settings: Settings, gates: Mapping[dt.date, str] | None = None) -> list[PlanDay]:
    """Every day with a plan summary or an evaluation, newest first. ``gates``: the plan
    gate's latest verdict per day, where the warehouse could tell."""
    folders = _day_folders(settings.planning_dir)
    gates = gates or {}
    days = [
        _read_day(folder, ds, gates.get(ds), newest=i == len(folders) - 1)
        for i, (ds, folder) in enumerate(folders)
    ]
    return [day for day in reversed(days) if day.files]


def read_day(settings: Settings, ds: dt.date, gate: str | None = None) -> PlanDay | None:
    """Day ``ds``, or None when nothing of it is on disk."""
    later = [d for d, _ in _day_folders(settings.planning_dir) if d > ds]
    day = _read_day(settings.planning_dir / ds.isoformat(), ds, gate, newest=not later)
    return day if day.files else None


# -- charts ---------------------------------------------------------------------------

PLAN_COLOR, LOGGING_COLOR, HOLDOUT_COLOR, ESTIMATE_COLOR = (
    "#4e79a7",
    "#9c9c9c",
    "#e15759",
    "#8c564b",
)
SENT_COLOR = "#222222"


@dataclasses.dataclass(frozen=True)
class _Frame:
    """A plot area of ``n`` equal bands (one per day or hour) over y from 0 to ``top``."""

    n: int
    top: float
    step: float
    width: int = 760
    height: int = 240
    left: int = 58
    right: int = 12
    upper: int = 34  # room for the legend
    lower: int = 26

    @property
    def band(self) -> float:
        return (self.width - self.left - self.right) / max(self.n, 1)

    def x(self, i: float) -> float:
        """The centre of band ``i``."""
        return self.left + (i + 0.5) * self.band

    def y(self, value: float) -> float:
        return self.height - self.lower - value / self.top * (self.height - self.upper - self.lower)


def _frame(n: int, values: Iterable[float | None], **sizes: int) -> _Frame:
    top, step = charts.nice_top(max((v for v in values if v is not None), default=0.0))
    return _Frame(n, top, step, **sizes)


def _axes(frame: _Frame, labels: list[str], max_labels: int = 12) -> list[str]:
    parts = charts.y_grid(frame)
    every = max(1, math.ceil(len(labels) / max_labels))
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:  # the newest day always has its label
            parts.append(
                f'<text class="tick" x="{frame.x(i):.1f}" y="{frame.height - frame.lower + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _line(frame: _Frame, values: list[float | None], color: str, css: str) -> str:
    """A line through the days that have a value (days without one are skipped)."""
    points = [(frame.x(i), frame.y(v)) for i, v in enumerate(values) if v is not None]
    return charts.path(points, color, css)


def _day_labels(days: list[PlanDay]) -> list[str]:
    return [day.ds.strftime("%m-%d") for day in days]


def _interval(day: PlanDay) -> tuple[float, float, float] | None:
    """(value, lower, upper) of the headline estimate, where it is of what was sent."""
    estimate = day.estimate() if day.shows_estimate else None
    value, lower, upper = (number((estimate or {}).get(k)) for k in ("value", "lower", "upper"))
    if value is None:
        return None
    return value, value if lower is None else lower, value if upper is None else upper


def opens_chart(days: list[PlanDay]) -> Markup:
    """Opens per eligible user, realized (plan days and logging-policy days told apart) and
    the holdout's, with the estimate made before sending and its interval on plan days."""
    days = sorted(days, key=lambda d: d.ds)
    realized = [d.realized("opens") for d in days]
    holdout = [d.realized("opens", HOLDOUT) for d in days]
    intervals = [_interval(d) for d in days]
    frame = _frame(len(days), [*realized, *holdout, *(i[2] for i in intervals if i)])
    parts = _axes(frame, _day_labels(days))
    cap = min(6.0, frame.band / 4)
    for i, (day, interval) in enumerate(zip(days, intervals, strict=True)):
        if interval is None:
            continue
        x, (value, lower, upper) = frame.x(i), (frame.y(v) for v in interval)
        tip = "{} estimate before sending ({} {}): {:.3f} [{:.3f}, {:.3f}]".format(
            day.ds, HEADLINE_ESTIMATOR, HEADLINE_REWARD, *interval
        )
        parts.append(
            f'<g class="mark estimate" stroke="{ESTIMATE_COLOR}" fill="{ESTIMATE_COLOR}">'
            f"{charts.tip(tip)}{charts.segment(x, lower, x, upper)}"
            f"{charts.segment(x - cap, lower, x + cap, lower)}"
            f"{charts.segment(x - cap, upper, x + cap, upper)}"
            f'<rect x="{x - 3:.1f}" y="{value - 3:.1f}" width="6" height="6"/></g>'
        )
    parts.append(_line(frame, holdout, HOLDOUT_COLOR, "holdout"))
    parts.append(_line(frame, realized, PLAN_COLOR, "realized"))
    for i, (day, value, held) in enumerate(zip(days, realized, holdout, strict=True)):
        x = frame.x(i)
        if held is not None:
            tip = f"{day.ds} holdout: {held:.3f}"
            parts.append(charts.point(x, frame.y(held), HOLDOUT_COLOR, "holdout", tip, r=3))
        if value is not None:
            by_plan = day.planned is True
            tip = f"{day.ds} realized, sent by the {'plan' if by_plan else 'logging policy'}"
            parts.append(
                charts.point(
                    x,
                    frame.y(value),
                    PLAN_COLOR if by_plan else LOGGING_COLOR,
                    f"realized {'plan' if by_plan else 'logging'}",
                    f"{tip}: {value:.3f}",
                )
            )
    parts += charts.legend(
        frame,
        [
            ("realized, plan", PLAN_COLOR),
            ("realized, logging policy", LOGGING_COLOR),
            ("holdout", HOLDOUT_COLOR),
            ("estimate before sending", ESTIMATE_COLOR),
        ],
    )
    return charts.svg("chart-opens", "Opens per eligible user by day", frame, parts)


def sends_chart(days: list[PlanDay]) -> Markup:
    """Planned sends per day, stacked by channel (faded where the plan was not sent), and
    the sends realized (every channel) once the day was evaluated."""
    days = sorted(days, key=lambda d: d.ds)
    stacks = [[(c, number(n) or 0) for c, n in d.channel_counts("sends_by_channel")] for d in days]
    channels = charts.channel_order({c for stack in stacks for c, _ in stack})
    colors = charts.channel_colors(channels)
    sent = [d.realized_sends for d in days]
    frame = _frame(len(days), [*(sum(n for _, n in s) for s in stacks), *sent])
    parts = _axes(frame, _day_labels(days))
    width = min(frame.band * 0.7, 40)
    for i, (day, stack) in enumerate(zip(days, stacks, strict=True)):
        base, faded = 0.0, day.status == FALLBACK
        for channel, sends in stack:
            tip = f"{day.ds} {channel}: {sends:,.0f} planned" + (" (not sent)" if faded else "")
            css = "sends faded" if faded else "sends"
            y0, y1 = frame.y(base), frame.y(base + sends)
            parts.append(charts.bar(frame.x(i), width, y0, y1, colors[channel], css, tip))
            base += sends
    for i, (day, value) in enumerate(zip(days, sent, strict=True)):
        if value is not None:
            x, y, half = frame.x(i), frame.y(value), width / 2 + 3
            parts.append(
                f'<g class="mark sent" stroke="{SENT_COLOR}">'
                f"{charts.tip(f'{day.ds} sent: {value:,.0f}')}"
                f"{charts.segment(x - half, y, x + half, y)}</g>"
            )
    legend = [(c, colors[c]) for c in channels] + [("sent (all channels)", SENT_COLOR)]
    return charts.svg(
        "chart-sends", "Sends per day by channel", frame, parts + charts.legend(frame, legend)
    )


def active_chart(days: list[PlanDay]) -> Markup:
    """The share of users active on the day: eligible users against the holdout."""
    days = sorted(days, key=lambda d: d.ds)
    series = [
        ("eligible", PLAN_COLOR, [d.realized("active") for d in days]),
        ("holdout", HOLDOUT_COLOR, [d.realized("active", HOLDOUT) for d in days]),
    ]
    frame = _frame(len(days), [v for _, _, values in series for v in values])
    parts = _axes(frame, _day_labels(days))
    for name, color, values in series:
        parts.append(_line(frame, values, color, name))
        for i, (day, value) in enumerate(zip(days, values, strict=True)):
            if value is not None:
                tip = f"{day.ds} {name}: {value:.1%} active"
                parts.append(
                    charts.point(frame.x(i), frame.y(value), color, f"active {name}", tip, r=3)
                )
    parts += charts.legend(frame, [(name, color) for name, color, _ in series])
    return charts.svg("chart-active", "Share of users active by day", frame, parts)


def hour_chart(day: PlanDay) -> Markup:
    """The day's sends per local hour, 0..23."""
    counts = day.sends_by_hour
    frame = _frame(len(HOURS), counts, height=200, upper=12)
    parts = _axes(frame, [str(h) for h in HOURS], max_labels=24)
    for hour, sends in zip(HOURS, counts, strict=True):
        tip = f"{hour}h: {sends:,.0f} sends"
        parts.append(
            charts.bar(
                frame.x(hour),
                frame.band * 0.75,
                frame.y(0),
                frame.y(sends),
                PLAN_COLOR,
                "hour",
                tip,
            )
        )
    return charts.svg("chart-hours", f"Sends of {day.ds} by local hour", frame, parts)
