"""Tomorrow's notification plan, from the scores of the day's candidates.

The planning DAG's ``choose_sends`` task: it reads what ``tfx_pipelines.scoring`` wrote
for plan day ``ds`` (each user's pins ranked by the ranking model; P(open) of the best
pin on each channel at each sendable local hour, by the engagement model), adds a
P(unsubscribe) per send and who may receive what, lets the volume policy
(:mod:`notiflow.planning.policy`) choose the sends, and lays them out as rows of the
plan contract (:data:`notiflow.contracts.PLAN_COLUMNS`): one row per item, an email
digest carrying the user's best ``EMAIL_DIGEST_ITEMS`` pins in rank order, a push or
in-app its best pin.

**P(unsubscribe)** is a calibrated rate, not a model: per channel and number of sends
on the channel in the 7 days before (the fatigue the world punishes), the share of
the last ``UNSUBSCRIBE_WINDOW_DAYS`` days' sends that were followed by an unsubscribe,
shrunk toward the channel's rate. Unsubscribes are rare (a few per ten thousand
sends), so a learned model would have a few hundred positives a month to learn from;
a rate by the one driver the platform can act on is what it can estimate.

The plan goes to the staging table (:data:`notiflow.domain.PLAN_STAGING_TABLE`) only
(:func:`stage_plan`): ``gate_plan`` checks it there, and :func:`publish_staged` copies a
plan that passed to ``plans.notification_plan``, where the senders read it. Users of
the randomized notification holdout (``raw.experiment_assignments``) get nothing:
the planner leaves them out, the plan gate stops a plan that does not, and the sender
would drop such a send (``raw.notification_plan_drops``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from notiflow import domain, warehouse
from notiflow.contracts import PLAN_COLUMNS, check_columns
from notiflow.planning import off_policy
from notiflow.planning.policy import Audience, Options, PolicyConfig, VolumePlan, plan_volume
from notiflow.planning.send_time import send_seconds
from notiflow.settings import Settings

POLICY_NAME = "notiflow_volume_policy"
RANKED_PINS_FILE, SEND_OPTIONS_FILE = "ranked_pins.parquet", "send_options.parquet"
# The summary of the day's staged plan; publishing copies it to the published summary.
STAGED_SUMMARY_FILE, PLAN_SUMMARY_FILE = "staged.json", "plan.json"
# Per user of the day's audience: whether the plan explored them (for the evaluation).
ASSIGNMENT_FILE = "assignment.parquet"
UNSUBSCRIBE_WINDOW_DAYS = 28
# Sends on the channel in the 7 days before: counts above this share one rate.
FATIGUE_BUCKET_CAP = 14
# Prior strength (in sends) of the shrinkage toward the channel's rate.
UNSUBSCRIBE_PRIOR_SENDS = 2000.0


class PlanningError(RuntimeError):
    """Tomorrow's plan cannot be made from what is there (named in the message)."""


@dataclasses.dataclass(frozen=True)
class DayPlan:
    """The plan rows of one day and what the policy decided."""

    ds: dt.date
    rows: pd.DataFrame  # PLAN_COLUMNS
    volume: VolumePlan
    summary: dict[str, Any]


def planning_dir(settings: Settings, ds: dt.date) -> Path:
    return settings.planning_dir / ds.isoformat()


def scores_dir(settings: Settings, ds: dt.date) -> Path:
    """Where ``tfx_pipelines.scoring`` writes the scores of plan day ``ds``."""
    return planning_dir(settings, ds) / "scores"


def read_scores(settings: Settings, ds: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ranked pins, send options) of plan day ``ds``."""
    folder = scores_dir(settings, ds)
    files = [folder / RANKED_PINS_FILE, folder / SEND_OPTIONS_FILE]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise PlanningError(f"no scores for {ds}: missing {missing} (did score_candidates run?)")
    ranked, options = (read_parquet(f) for f in files)
    return ranked, options


def read_parquet(path: Path) -> pd.DataFrame:
    """A parquet file as a frame (through DuckDB: the orchestration environment has no
    pyarrow)."""
    import duckdb

    with duckdb.connect() as con:
        return con.execute("select * from read_parquet(?)", [str(path)]).fetchdf()


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Writes ``content`` to ``path`` whole or not at all (the report may be reading it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=1))
    tmp.replace(path)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Writes ``frame`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp")
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"copy frame to {warehouse.sql_string(tmp)} (format parquet)")
    tmp.replace(path)


def unsubscribe_rates(con, ds: dt.date) -> pd.DataFrame:
    """P(unsubscribe) per channel and sends on it in the 7 days before (bucketed), from
    the sends of the ``UNSUBSCRIBE_WINDOW_DAYS`` days before ``ds``."""
    examples = domain.mart_table(domain.ENGAGEMENT_EXAMPLES)
    return con.execute(
        f"""
        with sends as (
            select
                e.channel,
                least(e.channel_sends_7d, {FATIGUE_BUCKET_CAP}) as sends_7d,
                exists (
                    select 1 from {domain.RAW_SCHEMA}.notification_events as ev
                    where ev.notification_id = e.notification_id
                      and ev.event_type = 'unsubscribe'
                ) as unsubscribed
            from {examples} as e
            -- mature sends only: an unsubscribe may be logged the day after the send
            where e.ds >= ?::date - {UNSUBSCRIBE_WINDOW_DAYS} and e.ds < ?::date
              and e.is_label_mature
        ),
        by_channel as (
            select channel, avg(unsubscribed::double) as channel_rate from sends group by 1
        )
        select
            s.channel,
            s.sends_7d,
            (sum(s.unsubscribed::double) + {UNSUBSCRIBE_PRIOR_SENDS} * any_value(c.channel_rate))
                / (count(*) + {UNSUBSCRIBE_PRIOR_SENDS}) as p_unsubscribe
        from sends as s inner join by_channel as c using (channel)
        group by 1, 2
        """,
        [ds, ds],
    ).fetchdf()


def read_audience(con, ds: dt.date) -> pd.DataFrame:
    """Per user of the snapshot of ``ds``: tz, holdout, opt-ins, unsubscribes, sends in 7
    days."""
    flags = ", ".join(
        ["is_in_notification_holdout"]
        + [f"is_{c}_opted_in" for c in domain.OPT_IN_CHANNELS]
        + [f"is_{c}_unsubscribed" for c in domain.CHANNELS]
        + [f"{c}_sends_7d" for c in domain.CHANNELS]
    )
    return con.execute(
        f"select user_id, tz_offset_hours, {flags} "
        f"from {domain.mart_table(domain.USER_FEATURES)} where ds = ? order by user_id",
        [ds],
    ).fetchdf()


def default_budget(con, ds: dt.date) -> int:
    """The planned volume of the last landed day before ``ds`` (its sends and the planned
    sends the sender dropped): a plan keeps the volume flat."""
    (count,) = con.execute(
        f"""
        with last_day as (
            select max(ds) as ds from {domain.RAW_SCHEMA}.notifications where ds < ?
        )
        select
            (select count(*) from {domain.RAW_SCHEMA}.notifications
             where ds = (select ds from last_day))
            + (select count(distinct notification_id)
               from {domain.RAW_SCHEMA}.notification_plan_drops
               where ds = (select ds from last_day))
        """,
        [ds],
    ).fetchone()
    return int(count)


def choose_sends(
    ds: dt.date,
    ranked: pd.DataFrame,
    options: pd.DataFrame,
    audience: pd.DataFrame,
    rates: pd.DataFrame,
    config: PolicyConfig,
) -> DayPlan:
    """The plan of ``ds``: the policy's sends laid out as rows of the plan contract."""
    users = pd.Index(audience["user_id"])
    user_idx = users.get_indexer(options["user_id"])
    if (user_idx < 0).any():
        unknown = options.loc[user_idx < 0, "user_id"].iloc[0]
        raise PlanningError(f"send options for users not in the {ds} snapshot, e.g. {unknown!r}")
    channel_idx = pd.Index(domain.CHANNELS).get_indexer(options["channel"])
    if (channel_idx < 0).any():
        raise PlanningError(f"send options on unknown channels: {set(options['channel'])}")
    recent = np.stack(
        [audience[f"{c}_sends_7d"].fillna(0).to_numpy() for c in domain.CHANNELS], axis=1
    )
    p_unsubscribe = _lookup_rates(rates, channel_idx, recent[user_idx, channel_idx])
    volume = plan_volume(
        Options(
            user=user_idx,
            channel=channel_idx,
            local_hour=options["local_hour"].to_numpy(np.int64),
            p_open=options["p_open"].to_numpy(np.float64).clip(0, 1),
            p_unsubscribe=p_unsubscribe,
        ),
        _audience(audience),
        config,
    )
    rows = plan_rows(ds, volume, users, ranked, audience, config.seed)
    summary = {
        "ds": ds.isoformat(),
        "policy": POLICY_NAME,
        "sends": volume.sends,
        "sends_by_channel": dict(volume.sends_by_channel),
        "users_capped": dict(volume.users_capped),
        "budget": volume.budget,
        "budget_status": volume.budget_status,
        "multiplier": volume.multiplier,
        "exploration_share": config.exploration_share,
        "exploration_users": volume.exploration_users,
        "exploration_sends": int(volume.is_exploration.sum()),
        "eligible_users": volume.eligible_users,
        "expected_opens": float((options["p_open"].to_numpy() * volume.option_propensity).sum()),
        "sends_by_local_hour": {
            int(h): int(n)
            for h, n in zip(*np.unique(volume.local_hour, return_counts=True), strict=True)
        },
    }
    return DayPlan(ds=ds, rows=rows, volume=volume, summary=summary)


def _lookup_rates(rates: pd.DataFrame, channel_idx: np.ndarray, sends_7d: np.ndarray) -> np.ndarray:
    if rates.empty:
        raise PlanningError("no sends in the unsubscribe window: P(unsubscribe) is unknown")
    table = np.full((len(domain.CHANNELS), FATIGUE_BUCKET_CAP + 1), np.nan)
    for channel, bucket, p in rates[["channel", "sends_7d", "p_unsubscribe"]].itertuples(
        index=False
    ):
        table[domain.CHANNELS.index(channel), int(bucket)] = p
    # Buckets without sends take the nearest lower measured bucket's rate (fatigue only
    # adds), buckets below the first measured one its rate; a channel without sends the
    # highest rate measured on any channel (a cautious guess).
    for c in range(len(domain.CHANNELS)):
        row = pd.Series(table[c]).ffill().bfill()
        table[c] = row.fillna(float(np.nanmax(table))).to_numpy()
    bucket = np.minimum(np.nan_to_num(sends_7d).astype(np.int64), FATIGUE_BUCKET_CAP)
    return table[channel_idx, bucket]


def _audience(audience: pd.DataFrame) -> Audience:
    n = len(audience)
    opted_in = np.ones((n, len(domain.CHANNELS)), dtype=bool)
    unsubscribed = np.zeros((n, len(domain.CHANNELS)), dtype=bool)
    for c, channel in enumerate(domain.CHANNELS):
        if channel in domain.OPT_IN_CHANNELS:
            opted_in[:, c] = audience[f"is_{channel}_opted_in"].fillna(False).to_numpy(bool)
        unsubscribed[:, c] = audience[f"is_{channel}_unsubscribed"].fillna(False).to_numpy(bool)
    held_out = audience["is_in_notification_holdout"].fillna(False).to_numpy(bool)
    recent = sum(audience[f"{c}_sends_7d"].fillna(0).to_numpy(np.float64) for c in domain.CHANNELS)
    return Audience(
        opted_in=opted_in, unsubscribed=unsubscribed, holdout=held_out, recent_sends=recent
    )


def plan_rows(
    ds: dt.date,
    volume: VolumePlan,
    users: pd.Index,
    ranked: pd.DataFrame,
    audience: pd.DataFrame,
    seed: int,
) -> pd.DataFrame:
    """The plan contract's rows of the policy's sends: ``users`` and ``audience`` (its
    ``tz_offset_hours``) are aligned with the policy's user index, ``ranked`` holds each
    user's pins by ``pin_rank`` (1 = best)."""
    n = volume.sends
    channel = np.asarray(domain.CHANNELS, dtype=object)[volume.channel]
    user_id = users.to_numpy()[volume.user]
    tz = audience["tz_offset_hours"].fillna(0).to_numpy(np.int64)[volume.user]
    second_in_hour = np.random.default_rng(seed + 1).integers(0, 3600, n)
    send_ts = pd.Timestamp(ds) + pd.to_timedelta(
        send_seconds(volume.local_hour, tz, second_in_hour), unit="s"
    )
    sends = pd.DataFrame(
        {
            "notification_id": [f"p{ds:%Y%m%d}-{i:07d}" for i in range(n)],
            "user_id": user_id,
            "channel": channel,
            "send_ts": send_ts,
            "items": np.where(channel == domain.EMAIL, domain.EMAIL_DIGEST_ITEMS, 1),
            "propensity": volume.propensity,
        }
    )
    pins = ranked.loc[
        ranked["pin_rank"] <= domain.EMAIL_DIGEST_ITEMS, ["user_id", "pin_id", "pin_rank"]
    ]
    rows = sends.merge(pins, on="user_id", how="inner")
    rows = rows[rows["pin_rank"] <= rows["items"]].rename(columns={"pin_rank": "position"})
    rows = rows.sort_values(["notification_id", "position"], ignore_index=True)
    rows.insert(0, "ds", pd.Timestamp(ds))
    rows["policy"] = POLICY_NAME
    rows["position"] = rows["position"].astype(np.int32)
    columns = [line.split()[0] for line in PLAN_COLUMNS.strip().splitlines()]
    rows = rows[columns]
    check_columns("the plan", PLAN_COLUMNS, rows, ds.isoformat())
    return rows


def logged_sends(con, day: dt.date) -> pd.DataFrame:
    """The sends of ``day`` with mature labels, their logged propensity and outcome."""
    return con.execute(
        f"""
        select user_id, channel, local_send_hour as local_hour, propensity,
               opened_24h as opens, clicked_24h as clicks
        from {domain.mart_table(domain.ENGAGEMENT_EXAMPLES)}
        where ds = ? and is_label_mature
        """,
        [day],
    ).fetchdf()


def estimate_before_sending(
    ds: dt.date,
    logged: pd.DataFrame,
    logged_day: dt.date,
    options: pd.DataFrame,
    volume: VolumePlan,
    audience: pd.DataFrame,
    seed: int = 0,
) -> dict[str, Any]:
    """Off-policy estimates (IPS, SNIPS, DR for opens; IPS, SNIPS for clicks) of the
    plan's value per eligible user on the sends of ``logged_day``.

    An option is a (channel, local hour) of a user; the plan's propensity of each is its
    whole-policy propensity, treated as that of the user on the logged day. What the
    estimate cannot see: the plan's content (its pins) differs from the logged one, so
    it values the plan's choice of who, where and when with the logged content. The
    logging propensity of an option that was not sent is not logged; every option
    counts as supported (the logging policy explores every hour) and the logged
    propensities are exact where it matters, on the sends.
    """
    if logged.empty:
        return {"skipped": f"no sends with mature labels on {logged_day}"}
    missing = int(logged["propensity"].isna().sum())
    if missing:
        return {
            "skipped": f"cannot be computed: {missing} of the {len(logged)} sends of "
            f"{logged_day} have no logged propensity (off-policy estimates divide by it)"
        }
    channels = pd.Index(domain.CHANNELS)
    hours = 24
    # per eligible user: the holdout gets nothing under any policy
    eligible = ~audience["is_in_notification_holdout"].fillna(False).to_numpy(bool)
    users = pd.Index(audience.loc[eligible, "user_id"])
    option_user = users.get_indexer(options["user_id"])
    if (option_user < 0).any():
        raise PlanningError(
            f"send options for users outside the eligible {ds} snapshot, "
            f"e.g. {options.loc[option_user < 0, 'user_id'].iloc[0]!r}"
        )
    option_key = channels.get_indexer(options["channel"]) * hours + options["local_hour"].to_numpy()
    user_idx = users.get_indexer(logged["user_id"])
    keep = user_idx >= 0
    logged = logged[keep]
    user_idx = user_idx[keep]
    key = channels.get_indexer(logged["channel"]) * hours + logged["local_hour"].to_numpy()
    # a user sent twice on one (channel, hour): the first send only (the option is one)
    first = ~pd.Series(user_idx * len(channels) * hours + key).duplicated().to_numpy()
    logged, user_idx, key = logged[first], user_idx[first], key[first]
    table_row = pd.Index(option_user * len(channels) * hours + option_key).get_indexer(
        user_idx * len(channels) * hours + key
    )
    target = np.where(table_row >= 0, volume.option_propensity[table_row], 0.0)
    logging_propensity = np.ones(len(options))
    logging_propensity[table_row[table_row >= 0]] = logged["propensity"].to_numpy()[table_row >= 0]
    evaluation = off_policy.evaluate_policy(
        off_policy.LoggedSends(
            user=user_idx,
            option=key,
            propensity=logged["propensity"].to_numpy(np.float64),
            target_propensity=target,
            rewards={
                "opens": logged["opens"].to_numpy(np.float64),
                "clicks": logged["clicks"].to_numpy(np.float64),
            },
        ),
        off_policy.TargetOptions(
            user=option_user,
            option=option_key,
            target_propensity=volume.option_propensity,
            logging_propensity=logging_propensity,
            predicted={"opens": options["p_open"].to_numpy(np.float64).clip(0, 1)},
        ),
        n_users=len(users),
        seed=seed,
    )
    n_eligible = len(users)
    return {
        "logged_day": logged_day.isoformat(),
        "logged_sends": len(logged),
        "logged_opens_per_user": float(logged["opens"].sum()) / n_eligible,
        "logged_clicks_per_user": float(logged["clicks"].sum()) / n_eligible,
        "eligible_users": n_eligible,
        **evaluation.to_dict(),
    }


def plant_fault(rows: pd.DataFrame, fault: str) -> pd.DataFrame:
    """The staged plan with a drill's fault (``domain.PLAN_FAULT_DRILLS``): ``over_cap``
    gives the first push recipient the daily cap of pushes more (cap + 1 or more)."""
    if fault != "over_cap":
        raise ValueError(f"unknown plan fault {fault!r}; known: {domain.PLAN_FAULT_DRILLS}")
    pushes = rows[rows["channel"] == domain.PUSH]
    if pushes.empty:
        raise PlanningError("over_cap drill: the plan has no push to repeat")
    first = pushes.iloc[[0]]
    extra = pd.concat([first] * domain.DAILY_CAPS[domain.PUSH], ignore_index=True)
    extra["notification_id"] = [
        f"{first['notification_id'].iloc[0]}-over-cap-{i}" for i in range(len(extra))
    ]
    return pd.concat([rows, extra], ignore_index=True)


def stage_plan(
    settings: Settings, ds: dt.date, run_id: str | None = None, fault: str | None = None
) -> DayPlan:
    """Reads the scores and the warehouse, chooses the sends of ``ds`` and stages them
    (with a drill's ``fault`` planted, for the plan gate to stop)."""
    ranked, options = read_scores(settings, ds)
    with warehouse.connect(settings, read_only=True) as con:
        audience = read_audience(con, ds)
        rates = unsubscribe_rates(con, ds)
        budget = settings.plan_budget or default_budget(con, ds)
        logged_day = ds - dt.timedelta(days=1 + domain.LABEL_MATURITY_DAYS)
        logged = logged_sends(con, logged_day)
    if audience.empty:
        raise PlanningError(f"{domain.mart_table(domain.USER_FEATURES)} has no snapshot for {ds}")
    config = PolicyConfig(
        budget=budget,
        exploration_share=settings.plan_exploration_share,
        seed=ds.toordinal(),  # reproducible, different every day
    )
    plan = choose_sends(ds, ranked, options, audience, rates, config)
    plan.summary["off_policy"] = estimate_before_sending(
        ds, logged, logged_day, options, plan.volume, audience
    )
    if fault:
        plan = dataclasses.replace(plan, rows=plant_fault(plan.rows, fault))
    plan.summary.update(run_id=run_id, planted_fault=fault)
    with warehouse.connect(settings) as con:
        warehouse.write_plan(con, plan.rows, ds.isoformat(), table=domain.PLAN_STAGING_TABLE)
    folder = planning_dir(settings, ds)
    write_parquet(
        pd.DataFrame({"user_id": audience["user_id"], "is_exploration": plan.volume.exploring}),
        folder / ASSIGNMENT_FILE,
    )
    write_json(folder / STAGED_SUMMARY_FILE, plan.summary)
    return plan


def publish_staged(settings: Settings, ds: dt.date) -> int:
    """Copies the staged plan of ``ds`` (it passed ``gate_plan``) to the plan table the
    senders read, replacing that day in one transaction; returns its rows."""
    with warehouse.connect(settings) as con:
        staged = warehouse.read_plan(con, ds.isoformat(), table=domain.PLAN_STAGING_TABLE)
        if staged is None:
            raise PlanningError(f"no staged plan for {ds}: nothing to publish")
        warehouse.write_plan(con, staged, ds.isoformat())
    folder = planning_dir(settings, ds)
    summary = json.loads((folder / STAGED_SUMMARY_FILE).read_text())
    summary["published_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    write_json(folder / PLAN_SUMMARY_FILE, summary)
    return len(staged)
