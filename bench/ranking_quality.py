"""Benchmark: how well the pushed ranking model orders digests, under the world's truth.

The target (issue 11): on a held-out day, the NDCG@3 of the learned order of each email
digest, with the TRUE position-free click probability of each item as its gain, is at
least 0.93 and above both the logged order and the user-topic affinity order. Run from
the repository root:

    .venvs/orchestration/bin/python bench/ranking_quality.py             # 20k users
    .venvs/orchestration/bin/python bench/ranking_quality.py --users 2000

Steps, into a temporary NOTIFLOW_HOME (removed afterwards unless --keep):
1. history: ``notiflow.cli.seed_history`` (28-day feature warm-up + ``training_days``,
   then one ``dbt build``); the last landed day L is the held-out day;
2. the ranking TFX pipeline once, node by node (``tfx_pipelines.run_component``, as the
   Airflow tasks run it) with ``--end-ds L - 1``: it trains on the ``training_days``
   days before L - 1 and evaluates on L - 1, so it never reads day L (whose labels are
   not mature, and which no split selects);
3. scoring: this file with ``--score``, run by the TFX interpreter, loads the pushed
   SavedModel and scores day L's rows of ``marts.ml_ranking_examples`` through
   ``serving_default``;
4. NDCG@3 per ordering (learned, oracle, logged ``item_position``, popularity
   ``pin_popularity_28d``, affinity ``user_topic_affinity_28d``, random) over the
   digests of day L with at least 2 items. Ties in a feature are broken at random.

The gain: the truth store's ``world_truth.items.p_click_given_open`` is NOT
position-free: the simulator multiplies the item's click probability by the
examination of its logged position, ``position ** -POSITION_DECAY``
(``notiflow/simulator/response.py``). The gain is that column divided by the
examination, i.e. the probability that the user clicks the item, given an open, were it
examined: ``p_click_given_open * position ** POSITION_DECAY``.

Benchmarks are the only code besides the simulator that may read the truth store.
Prints one JSON object and exits 1 when the target is missed. Only the standard library
is imported at the top: ``--score`` runs in the TFX environment, the rest in the
orchestration one.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import (  # noqa: E402
    DEFAULT_TODAY,
    PipelineFailed,
    landed_days,
    run_logged,
    run_pipeline,
    seed_history,
    tail,
    tfx_environment,
    world_environment,
)

PIPELINE = "ranking"
TOP_K = 3
TARGET_NDCG = 0.93
ORDERINGS = ("learned", "oracle", "logged", "popularity", "affinity", "random")
SCORE_BATCH = 8192


# --- Scoring, in the TFX environment ------------------------------------------------


def score(ds: dt.date, out: Path) -> int:
    """Scores day ``ds`` of the ranking examples with the newest pushed ranking model and
    writes (notification_id, item_position, score) to ``out`` (CSV)."""
    from notiflow.settings import get_settings
    from tfx_pipelines import serving_check

    settings = get_settings()
    served = serving_check.ServedPipeline.load(PIPELINE)
    version_dir = serving_check.latest_version_dir(served.model_dir(settings))
    signature = serving_check.load_signature(served, version_dir)
    converter, rows = serving_check.read_rows(
        settings.warehouse_path,
        served.features.FEATURE_KEYS,
        f", notification_id, item_position from {served.configs.SOURCE_TABLE} where ds = ? "
        "order by notification_id, item_position",
        [ds],
    )
    n = len(served.features.FEATURE_KEYS)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notification_id", "item_position", "score"])
        for start in range(0, len(rows), SCORE_BATCH):
            batch = rows[start : start + SCORE_BATCH]
            examples = [converter.to_example(r[:n]).SerializeToString() for r in batch]
            scores = serving_check.predict(served, signature, examples)
            for row, value in zip(batch, scores, strict=True):
                writer.writerow([row[n], row[n + 1], value])
    print(json.dumps({"version": version_dir.name, "rows": len(rows)}))
    return 0


# --- NDCG -----------------------------------------------------------------------------


def ndcg_at_k(items, k: int = TOP_K, seed: int = 0) -> dict[str, float]:
    """Mean NDCG@k per ordering over the lists of ``items`` (a DataFrame: one row per item,
    ``list_id``, ``gain`` and one sort key per ordering, higher = earlier, except
    ``logged``: the position, lower = earlier). Ties are broken by a random draw."""
    import numpy as np

    rng = np.random.default_rng(seed)
    items = items.sort_values(["list_id", "logged"]).reset_index(drop=True)
    starts = np.flatnonzero(
        np.r_[True, items["list_id"].to_numpy()[1:] != items["list_id"].to_numpy()[:-1]]
    )
    bounds = np.r_[starts, len(items)]
    gain = items["gain"].to_numpy(dtype=float)
    keys = {
        "learned": items["score"].to_numpy(dtype=float),
        "oracle": gain,
        "logged": -items["logged"].to_numpy(dtype=float),
        "popularity": items["pin_popularity_28d"].to_numpy(dtype=float),
        "affinity": items["user_topic_affinity_28d"].to_numpy(dtype=float),
        "random": rng.random(len(items)),
    }
    tiebreak = rng.random(len(items))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    totals = dict.fromkeys(ORDERINGS, 0.0)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        g = gain[a:b]
        m = min(k, b - a)
        ideal = np.sort(g)[::-1][:m] @ discount[:m]
        for name, key in keys.items():
            order = np.lexsort((tiebreak[a:b], -key[a:b]))[:m]
            totals[name] += (g[order] @ discount[:m]) / ideal
    lists = len(bounds) - 1
    return {name: round(float(total) / lists, 4) for name, total in totals.items()}


# --- The benchmark, in the orchestration environment -------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--pins", type=int, help="initial pins (default: users / 5)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--home", type=Path, help="reuse a home this script --keep'd (skips 1)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated home")
    parser.add_argument("--score", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score is not None:
        return score(args.score, args.out)

    import pandas as pd
    from simulate_scale import machine

    from notiflow import domain, registry, warehouse
    from notiflow.settings import Settings
    from notiflow.simulator.response import POSITION_DECAY
    from notiflow.simulator.truth import SCHEMA as TRUTH_SCHEMA

    home = args.home or Path(tempfile.mkdtemp(prefix="notiflow-bench-ranking-"))
    pins = args.pins or max(args.users // 5, 100)
    environ = world_environment(home, args.users, pins)
    settings = Settings.load(environ)
    result: dict[str, object] = {
        "benchmark": "ranking_quality",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "users": args.users,
        "pins": pins,
        "training_days": settings.training_days,
    }
    seconds: dict[str, object] = {}
    result["seconds"] = seconds
    log = home / "ranking_quality.log"
    try:
        if args.home is None:
            seconds["history_simulate_and_dbt_build"] = seed_history(settings, args.today)
        landed = landed_days(settings)
        held_out, end_ds = landed[-1], landed[-1] - dt.timedelta(days=1)
        result.update(
            days_simulated=len(landed),
            first_day=str(landed[0]),
            train_days=[
                str(end_ds - dt.timedelta(days=settings.training_days)),
                str(end_ds - dt.timedelta(days=1)),
            ],
            eval_day=str(end_ds),
            held_out_day=str(held_out),
        )

        tfx_env = tfx_environment(settings, environ)
        try:
            seconds["pipeline_nodes"] = run_pipeline(settings, environ, PIPELINE, end_ds, log)
        except PipelineFailed as error:
            result["error"] = str(error)
            print(json.dumps(result, indent=1, default=str))
            return 1
        seconds["pipeline"] = round(
            sum(n["seconds"] for n in seconds["pipeline_nodes"].values()), 1
        )
        pushed = registry.records(settings, PIPELINE)
        if pushed:
            result["pushed_model"] = {
                k: pushed[-1].get(k) for k in ("version", "train_window", "eval_window", "metrics")
            }  # metrics: TFMA's on the eval day, gain = the logged clicks

        started = time.perf_counter()
        scores_csv = home / "held_out_scores.csv"
        code, _ = run_logged(
            [str(settings.tfx_python), str(Path(__file__).resolve()), "--score", str(held_out),
             "--out", str(scores_csv)],
            tfx_env,
            log,
        )  # fmt: skip
        seconds["score"] = round(time.perf_counter() - started, 1)
        if code:
            result["error"] = f"scoring failed (exit {code}):\n{tail(log)}"
            print(json.dumps(result, indent=1, default=str))
            return 1

        started = time.perf_counter()
        with warehouse.connect(settings, read_only=True) as con:
            con.execute(f"attach '{settings.truth_path}' as truth (read_only)")
            items = con.execute(
                f"""
                select m.notification_id as list_id, m.item_position as logged, m.pin_id,
                       t.pin_id as truth_pin_id, t.p_click_given_open,
                       m.pin_popularity_28d, m.user_topic_affinity_28d, s.score
                from {domain.mart_table(domain.RANKING_EXAMPLES)} m
                join truth.{TRUTH_SCHEMA}.items t
                  on t.notification_id = m.notification_id and t.position = m.item_position
                join read_csv('{scores_csv}', header = true) s
                  on s.notification_id = m.notification_id
                 and s.item_position = m.item_position
                where m.ds = ?
                """,
                [held_out],
            ).df()
        mismatched = int((items["pin_id"] != items["truth_pin_id"]).sum())
        if mismatched:
            raise RuntimeError(f"{mismatched} mart items have another pin in the truth store")
        items["gain"] = items["p_click_given_open"] * items["logged"] ** POSITION_DECAY
        sizes = items.groupby("list_id")["logged"].transform("size")
        scored = items[sizes >= 2]
        result.update(
            gain="world_truth.items.p_click_given_open * position ** POSITION_DECAY "
            f"(= {POSITION_DECAY})",
            held_out_items=len(items),
            lists_scored=int(scored["list_id"].nunique()),
            lists_skipped_single_item=int(items["list_id"].nunique() - scored["list_id"].nunique()),
            items_per_list=round(len(scored) / max(scored["list_id"].nunique(), 1), 2),
        )
        ndcg = ndcg_at_k(pd.DataFrame(scored))
        result[f"ndcg_at_{TOP_K}"] = ndcg
        seconds["ndcg"] = round(time.perf_counter() - started, 1)
    finally:
        if not args.keep and args.home is None:
            shutil.rmtree(home, ignore_errors=True)
        else:
            result["home"] = str(home)
    result["targets_met"] = {
        f"learned >= {TARGET_NDCG}": bool(ndcg["learned"] >= TARGET_NDCG),
        "learned > logged": ndcg["learned"] > ndcg["logged"],
        "learned > affinity": ndcg["learned"] > ndcg["affinity"],
    }
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
