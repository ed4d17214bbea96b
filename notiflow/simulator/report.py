"""The realism report: does the simulated world look like published notification metrics?

Figures come from the truth store, i.e. the world as it happened, before any
injected fault: open, click and unsubscribe rates by channel against published
ranges, open rate by local send hour, the distribution of events per user, the
fatigue curve, sessions of holdout versus notified users (the causal lift of
notifications) and the position bias of digest clicks.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from notiflow.domain import EMAIL, IN_APP, PUSH
from notiflow.settings import Settings
from notiflow.simulator import charts
from notiflow.simulator.truth import SCHEMA, TruthStore

# Published ranges the default world must land in (share of sends).
PUBLISHED_RANGES: dict[str, tuple[float, float]] = {
    f"{PUSH} open rate": (0.02, 0.10),
    f"{EMAIL} open rate": (0.10, 0.30),
    f"{EMAIL} click rate": (0.01, 0.05),
    f"{IN_APP} open rate": (0.05, 0.20),
    f"{EMAIL} unsubscribe rate": (0.0005, 0.005),
}
# Events per user are heavy-tailed when the 99th percentile is this many times the median.
HEAVY_TAIL_RATIO = 5.0


def realism(settings: Settings) -> dict[str, Any]:
    """The report's figures, as JSON-ready data."""
    with TruthStore.open(settings, read_only=True) as store:
        if store.world() is None or store.last_day() is None:
            raise FileNotFoundError(
                f"truth store {settings.truth_path} holds no simulated day: "
                "run `notiflow simulate` first"
            )
        con = store.con
        figures = {
            "world": _world(con),
            "channels": _channels(con),
            "open_rate_by_local_hour": _open_rate_by_hour(con),
            "events_per_user": _events_per_user(con),
            "fatigue_curve": _fatigue_curve(con),
            "holdout": _holdout(con),
            "position_bias": _position_bias(con),
        }
    figures["checks"] = _checks(figures)
    return figures


def write_html(figures: dict[str, Any], path: Path) -> Path:
    """Write the report as one self-contained HTML page; returns its path."""
    channels = figures["channels"]
    holdout = figures["holdout"]
    epu = figures["events_per_user"]
    sections = [
        charts.bar_chart(
            list(channels),
            [c["open_rate"] for c in channels.values()],
            title="Open rate by channel",
        ),
        charts.line_chart(
            {
                channel: [(p["hour"], p["open_rate"]) for p in points]
                for channel, points in figures["open_rate_by_local_hour"].items()
            },
            title="Open rate by local send hour",
            x_label="local hour of the send",
        ),
        charts.bar_chart(
            [f"{b['from']}-{b['to']}" for b in epu["histogram"]],
            [b["users"] for b in epu["histogram"]],
            title="Users by engagement events over the period (log-binned)",
            value_format="{:.0f}",
        ),
        charts.line_chart(
            {
                "observed": [(p["sends_7d"], p["open_rate"]) for p in figures["fatigue_curve"]],
                "true P(open)": [
                    (p["sends_7d"], p["mean_p_open"]) for p in figures["fatigue_curve"]
                ],
            },
            title="Fatigue: open rate by sends in the 7 days before",
            x_label="sends in the 7 days before",
        ),
        charts.bar_chart(
            ["holdout", "notified"],
            [
                holdout["sessions_per_user_day"]["holdout"],
                holdout["sessions_per_user_day"]["notified"],
            ],
            title="Sessions per user and day "
            f"(adjusted lift {_number(holdout['lift'], '{:+.1%}')})",
            value_format="{:.3f}",
        ),
        charts.bar_chart(
            [str(p["position"]) for p in figures["position_bias"]],
            [p["click_rate_given_open"] for p in figures["position_bias"]],
            title="Email digests: click rate by position, given an open",
        ),
    ]
    rows = "".join(
        f"<tr><td>{escape(c['name'])}</td><td>{_number(c['value'])}</td><td>{_number(c['low'])}</td>"
        f"<td>{_number(c['high'])}</td><td>{'ok' if c['ok'] else 'OUT OF RANGE'}</td></tr>"
        for c in figures["checks"]
    )
    world = figures["world"]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notiflow world: realism report</title>
<style>body{{font-family:sans-serif;max-width:1180px;margin:24px auto}}
td,th{{padding:2px 10px;text-align:left}} svg{{margin:8px;border:1px solid #eee}}</style></head>
<body><h1>Realism of the simulated world</h1>
<p>{world["users"]:,} users, {world["days"]} days ({world["first_day"]} to {world["last_day"]}),
seed {world["seed"]}, holdout share {world["holdout_share"]:.0%}. Figures from the truth store.</p>
<table><tr><th>check</th><th>value</th><th>low</th><th>high</th><th></th></tr>{rows}</table>
{"".join(sections)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def _number(value: float | None, fmt: str = "{:.4g}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _world(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    seed, users, pins, holdout, first, last, days = con.execute(
        f"""select w.seed, w.n_users, w.n_pins, w.holdout_share, min(s.ds), max(s.ds),
                   count(distinct s.ds)
            from {SCHEMA}.world w, {SCHEMA}.user_state s group by all"""
    ).fetchone()
    return {
        "seed": seed, "users": users, "pins": pins, "holdout_share": holdout,
        "first_day": str(first), "last_day": str(last), "days": days,
    }  # fmt: skip


def _channels(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, float]]:
    rows = con.execute(
        f"""select s.channel, count(*), avg(s.is_opened::int), avg(s.p_open),
                   sqrt(sum(s.p_open * (1 - s.p_open))) / count(*),
                   avg(coalesce(c.clicked, false)::int), avg(s.is_unsubscribed::int)
            from {SCHEMA}.sends s
            left join (select notification_id, bool_or(is_clicked) as clicked
                       from {SCHEMA}.items group by 1) c using (notification_id)
            group by 1 order by 1"""
    ).fetchall()
    return {
        channel: {
            "sends": sends,
            "open_rate": opened,
            "mean_p_open": p_open,
            "open_rate_se": se,
            "click_rate": clicked,
            "unsubscribe_rate": unsubscribed,
        }  # fmt: skip
        for channel, sends, opened, p_open, se, clicked, unsubscribed in rows
    }


def _open_rate_by_hour(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, float]]]:
    rows = con.execute(
        f"""select channel, local_hour, count(*), avg(is_opened::int)
            from {SCHEMA}.sends group by 1, 2 order by 1, 2"""
    ).fetchall()
    by_channel: dict[str, list[dict[str, float]]] = {}
    for channel, hour, sends, rate in rows:
        by_channel.setdefault(channel, []).append({"hour": hour, "sends": sends, "open_rate": rate})
    return by_channel


def _events_per_user(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    events = con.execute(
        f"""select coalesce(sum(d.engagement_events), 0)::bigint
            from {SCHEMA}.users u left join {SCHEMA}.user_days d using (user_idx)
            group by u.user_idx"""
    ).fetchnumpy()
    values = np.sort(next(iter(events.values())))
    top = values[-max(1, len(values) // 100) :]
    edges = [0, 1] + [2**k for k in range(1, int(math.log2(max(values.max(), 1))) + 2)]
    counts = np.histogram(values, bins=[*edges, np.inf])[0]
    return {
        "mean": float(values.mean()),
        "p50": float(np.quantile(values, 0.5)),
        "p90": float(np.quantile(values, 0.9)),
        "p99": float(np.quantile(values, 0.99)),
        "max": int(values.max()),
        "top_1pct_share": float(top.sum() / max(values.sum(), 1)),
        "histogram": [
            {"from": int(lo), "to": int(hi) - 1 if np.isfinite(hi) else None, "users": int(n)}
            for lo, hi, n in zip(edges, [*edges[1:], np.inf], counts, strict=True)
            if n or lo
        ],
    }


def _fatigue_curve(con: duckdb.DuckDBPyConnection) -> list[dict[str, float]]:
    rows = con.execute(
        f"""select least(sends_7d, 15) as f, count(*), avg(is_opened::int), avg(p_open)
            from {SCHEMA}.sends group by 1 order by 1"""
    ).fetchall()
    return [
        {"sends_7d": f, "sends": n, "open_rate": rate, "mean_p_open": p} for f, n, rate, p in rows
    ]


def _holdout(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Sessions per user and day by randomized group: the lift of notifications is causal.

    The lift is estimated on sessions adjusted for each user's base activity
    (CUPED): activity was drawn before the randomization, so the adjustment keeps
    the estimate unbiased and removes most of the heavy-tailed noise between users.
    """
    frame = con.execute(
        f"""select u.is_holdout, u.base_activity,
                   coalesce(sum(d.organic_sessions + d.induced_sessions), 0) as sessions,
                   coalesce(sum(d.induced_sessions), 0) as induced
            from {SCHEMA}.users u left join {SCHEMA}.user_days d using (user_idx)
            group by u.user_idx, u.is_holdout, u.base_activity"""
    ).fetchdf()
    days = con.execute(f"select count(distinct ds) from {SCHEMA}.user_state").fetchone()[0]
    per_day = frame["sessions"] / days
    x = frame["base_activity"]
    theta = np.cov(x, per_day)[0, 1] / x.var() if len(frame) > 1 else 0.0
    adjusted = per_day - theta * (x - x.mean())
    holdout = frame["is_holdout"].to_numpy()
    h, t = adjusted[holdout], adjusted[~holdout]
    lift = lift_ci = None
    if len(h) > 1 and len(t) > 1 and h.mean() > 0:
        lift = float(t.mean() / h.mean() - 1)
        # delta method for the ratio of two independent means
        se = math.sqrt(
            t.var() / len(t) / h.mean() ** 2 + t.mean() ** 2 * h.var() / len(h) / h.mean() ** 4
        )
        lift_ci = [lift - 1.96 * se, lift + 1.96 * se]
    return {
        "holdout_users": int(holdout.sum()),
        "notified_users": int((~holdout).sum()),
        "sessions_per_user_day": {
            "holdout": float(per_day[holdout].mean()) if holdout.any() else 0.0,
            "notified": float(per_day[~holdout].mean()) if (~holdout).any() else 0.0,
        },
        "lift": lift,
        "lift_ci95": lift_ci,
        "induced_share": float(frame["induced"].sum() / max(frame["sessions"].sum(), 1)),
    }


def _position_bias(con: duckdb.DuckDBPyConnection) -> list[dict[str, float]]:
    rows = con.execute(
        f"""select i.position, count(*), avg(i.is_clicked::int), avg(i.p_click_given_open)
            from {SCHEMA}.items i join {SCHEMA}.sends s using (notification_id, ds)
            where s.channel = '{EMAIL}' and s.is_opened
            group by 1 order by 1"""
    ).fetchall()
    return [
        {
            "position": pos,
            "opened_emails": n,
            "click_rate_given_open": rate,
            "mean_p_click_given_open": p,
        }  # fmt: skip
        for pos, n, rate, p in rows
    ]


def _checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    channels = figures["channels"]
    values = {
        f"{PUSH} open rate": channels.get(PUSH, {}).get("open_rate"),
        f"{EMAIL} open rate": channels.get(EMAIL, {}).get("open_rate"),
        f"{EMAIL} click rate": channels.get(EMAIL, {}).get("click_rate"),
        f"{IN_APP} open rate": channels.get(IN_APP, {}).get("open_rate"),
        f"{EMAIL} unsubscribe rate": channels.get(EMAIL, {}).get("unsubscribe_rate"),
    }
    checks = [
        {
            "name": name,
            "value": values[name],
            "low": low,
            "high": high,
            "ok": values[name] is not None and low <= values[name] <= high,
        }  # fmt: skip
        for name, (low, high) in PUBLISHED_RANGES.items()
    ]
    epu = figures["events_per_user"]
    ratio = epu["p99"] / max(epu["p50"], 1.0)
    checks.append(
        {
            "name": "events per user p99 / p50 (heavy tail)",
            "value": ratio,
            "low": HEAVY_TAIL_RATIO,
            "high": None,
            "ok": ratio >= HEAVY_TAIL_RATIO,
        }  # fmt: skip
    )
    holdout = figures["holdout"]
    checks.append(
        {
            "name": "session lift of notified users over the holdout (95% CI above 0)",
            "value": holdout["lift"],
            "low": 0.0,
            "high": None,
            "ok": holdout["lift_ci95"] is not None and holdout["lift_ci95"][0] > 0,
        }  # fmt: skip
    )
    return checks
