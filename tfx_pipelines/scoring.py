"""Score tomorrow's candidates with the newest pushed models: the planning DAG's first task.

    python -m tfx_pipelines.scoring --ds YYYY-MM-DD

For plan day ``ds`` (the candidates the run landing ``ds - 1`` built), in batches and
through the models' ``serving_default`` signatures, as any serving client would:

1. **ranking**: every candidate pin of every user (``marts.ml_scoring_candidates``)
   gets the ranking model's relevance score; per user the pins are ordered by it
   (``ranked_pins.parquet``: user_id, pin_id, pin_rank (1 = best), score).
2. **engagement**: each user's best pin is featured on every channel the user can get
   (``marts.ml_send_options``) at every local hour the channel may send (outside
   ``notiflow.domain.QUIET_HOURS``); the engagement model gives P(open) of each such
   send (``send_options.parquet``: user_id, channel, local_hour, pin_id, p_open). The
   send hour and the local day of week are the only features set here (the hour is
   the choice being scored); every other one comes from the mart, computed by the same
   SQL as the training examples.
3. ``manifest.json``: the model versions, row counts and seconds per step.

Everything is written to ``<planning_dir>/<ds>/scores/`` through a temporary folder
renamed at the end: a failed run leaves the previous scores or none, never half of
them. A missing model (nothing pushed: no version passed its gate) stops it with the
folder it looked in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from notiflow import domain
from notiflow.planning.plan import RANKED_PINS_FILE, SEND_OPTIONS_FILE, scores_dir
from notiflow.planning.send_time import local_day_of_week
from notiflow.settings import Settings, get_settings
from tfx_pipelines import serving_check
from tfx_pipelines.components.duckdb_example_gen.executor import RowConverter
from tfx_pipelines.serving_check import ServedPipeline

RANKING, ENGAGEMENT = "ranking", "engagement"
MANIFEST_FILE = "manifest.json"
# Examples per call of a serving signature.
BATCH_SIZE = 8192
# Set per scored send, not read from the mart.
HOUR_FEATURE, DAY_OF_WEEK_FEATURE = "local_send_hour", "day_of_week"


class Scorer:
    """One pushed model's serving signature, fed rows of raw warehouse features."""

    def __init__(self, settings: Settings, pipeline: str) -> None:
        self.served = ServedPipeline.load(pipeline)
        self.version_dir = serving_check.latest_version_dir(self.served.model_dir(settings))
        self.signature = serving_check.load_signature(self.served, self.version_dir)

    @property
    def feature_keys(self) -> tuple[str, ...]:
        return tuple(self.served.features.FEATURE_KEYS)

    def score(self, frame: pd.DataFrame, types: dict[str, str]) -> np.ndarray:
        """One prediction per row of ``frame``; ``types``: the DuckDB type of each feature
        column (as the query returned it: a pandas dtype loses it, e.g. ints with NULLs)."""
        keys = list(self.feature_keys)
        converter = RowConverter(keys, [types[k] for k in keys])
        values = frame[keys].astype(object)
        rows = values.where(values.notna(), None).itertuples(index=False, name=None)
        out: list[float] = []
        batch: list[bytes] = []
        for row in rows:
            batch.append(converter.to_example(row).SerializeToString())
            if len(batch) == BATCH_SIZE:
                out += serving_check.predict(self.served, self.signature, batch)
                batch = []
        if batch:
            out += serving_check.predict(self.served, self.signature, batch)
        return np.asarray(out, dtype=np.float64)


def read_frame(
    settings: Settings,
    query: str,
    params: Sequence[Any] = (),
    frames: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A query's result and its DuckDB column types, through a short read-only
    connection (one DuckDB writer); ``frames`` are registered as views first."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for name, frame in (frames or {}).items():
            con.register(name, frame)
        relation = con.execute(query, list(params))
        types = {d[0]: str(d[1]) for d in relation.description}
        return relation.fetchdf(), types
    finally:
        con.close()


def rank_candidates(settings: Settings, ds: dt.date, ranker: Scorer) -> pd.DataFrame:
    """Every candidate of ``ds`` with its relevance score and rank within its user."""
    table = domain.mart_table(domain.SCORING_CANDIDATES)
    columns = ", ".join(dict.fromkeys(("user_id", "pin_id", *ranker.feature_keys)))
    candidates, types = read_frame(
        settings, f"select {columns} from {table} where ds = ? order by user_id, pin_id", [ds]
    )
    if candidates.empty:
        raise ValueError(f"{table} has no candidates for {ds}: nothing to plan")
    candidates["score"] = ranker.score(candidates, types)
    ranked = candidates.sort_values(
        ["user_id", "score", "pin_id"], ascending=[True, False, True], kind="stable"
    )
    ranked["pin_rank"] = ranked.groupby("user_id").cumcount() + 1
    return ranked[["user_id", "pin_id", "pin_rank", "score"]].reset_index(drop=True)


def score_send_options(
    settings: Settings, ds: dt.date, best_pins: pd.DataFrame, engagement: Scorer
) -> pd.DataFrame:
    """P(open) of each user's best pin on each reachable channel at each sendable hour."""
    table = domain.mart_table(domain.SEND_OPTIONS)
    set_here = (HOUR_FEATURE, DAY_OF_WEEK_FEATURE)
    mart_keys = [k for k in engagement.feature_keys if k not in set_here]
    columns = ", ".join(
        f"o.{k}" for k in dict.fromkeys(("user_id", "pin_id", "channel", *mart_keys))
    )
    options, types = read_frame(
        settings,
        f"""
        select {columns}, coalesce(u.tz_offset_hours, 0) as tz_offset_hours
        from {table} as o
        inner join best_pins as b on o.user_id = b.user_id and o.pin_id = b.pin_id
        inner join {domain.mart_table(domain.USER_FEATURES)} as u
            on u.user_id = o.user_id and u.ds = o.ds
        where o.ds = ?
        order by o.user_id, o.channel
        """,
        [ds],
        frames={"best_pins": best_pins[["user_id", "pin_id"]]},
    )
    if options.empty:
        raise ValueError(f"{table} has no send options of the users' best pins for {ds}")
    hours = {c: np.array(domain.hours_outside(domain.QUIET_HOURS[c])) for c in domain.CHANNELS}
    per_row = options["channel"].map(lambda c: len(hours[c])).to_numpy()
    expanded = options.loc[options.index.repeat(per_row)].reset_index(drop=True)
    expanded[HOUR_FEATURE] = np.concatenate([hours[c] for c in options["channel"]])
    expanded[DAY_OF_WEEK_FEATURE] = local_day_of_week(
        ds, expanded[HOUR_FEATURE].to_numpy(), expanded["tz_offset_hours"].to_numpy()
    )
    types.update(dict.fromkeys(set_here, "BIGINT"))
    expanded["p_open"] = engagement.score(expanded, types)
    return expanded.rename(columns={HOUR_FEATURE: "local_hour"})[
        ["user_id", "channel", "local_hour", "pin_id", "p_open"]
    ]


def score_day(settings: Settings, ds: dt.date) -> dict[str, Any]:
    """Scores plan day ``ds`` and writes the scores folder; returns the manifest."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ranker, engagement = Scorer(settings, RANKING), Scorer(settings, ENGAGEMENT)
    seconds["load_models"] = time.perf_counter() - started

    started = time.perf_counter()
    ranked = rank_candidates(settings, ds, ranker)
    seconds["ranking"] = time.perf_counter() - started
    started = time.perf_counter()
    options = score_send_options(settings, ds, ranked[ranked["pin_rank"] == 1], engagement)
    seconds["engagement"] = time.perf_counter() - started

    manifest = {
        "ds": ds.isoformat(),
        "models": {
            RANKING: ranker.version_dir.name,
            ENGAGEMENT: engagement.version_dir.name,
        },
        "rows": {
            "ranked_pins": len(ranked),
            "users": int(ranked["user_id"].nunique()),
            "send_options": len(options),
        },
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    target = scores_dir(settings, ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".scores-", dir=target.parent))
    try:
        ranked.to_parquet(staging / RANKED_PINS_FILE, index=False)
        options.to_parquet(staging / SEND_OPTIONS_FILE, index=False)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        # the old scores move aside before the new ones move in: a crash in between
        # leaves one complete set under one of the two names, never a half-written one
        previous = target.with_name(f".{target.name}-previous")
        shutil.rmtree(previous, ignore_errors=True)
        if target.exists():
            target.rename(previous)
        staging.rename(target)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfx_pipelines.scoring", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--ds", type=dt.date.fromisoformat, required=True, help="plan day")
    args = parser.parse_args(argv)
    try:
        manifest = score_day(get_settings(), args.ds)
    except Exception as error:  # noqa: BLE001 - a clear message and exit code for callers
        print(f"ERROR: scoring {args.ds} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
