"""Benchmark: the pushed engagement model against the best possible predictor and a
logistic regression, per channel and overall, on a held-out day.

The targets (issue 14), on a 20k-user world (28-day feature warm-up + 14 training days):
the pushed model's AUC >= 0.97 x the Bayes-optimal AUC and above the logistic
regression's, its log loss within 5% of the Bayes-optimal one, and its calibration
within 3% on every channel. Run from the repository root:

    .venvs/orchestration/bin/python bench/engagement_quality.py            # 20k users
    .venvs/orchestration/bin/python bench/engagement_quality.py --users 2000

Steps, into a temporary NOTIFLOW_HOME (removed afterwards unless --keep):
1. history: ``notiflow.cli.seed_history``; of the landed days, the last but one H is
   held out (its labels are mature: the last day has landed), and the day before it is
   the pipeline's evaluation day E = H - 1;
2. the engagement TFX pipeline once, node by node (``tfx_pipelines.run_component``, as
   the Airflow tasks run it) with ``--end-ds E``: it trains on the ``training_days``
   days before E, stops early and is gated on E, and never reads H;
3. analysis, by this file with ``--analyze`` under the TFX interpreter (scikit-learn is
   there): it scores day H's sends of ``marts.ml_engagement_examples`` through the
   pushed model's ``serving_default`` (``tfx_pipelines.scoring.Scorer``, as the planner
   scores);
4. the logistic regression (scikit-learn, L2, C = 1): trained on the same training
   days of the same mart and the same features (one-hot categoricals, send hour and day
   of week; standardized numerics), scored on H;
5. on H's sends, per channel and overall: AUC and log loss of the model, of the
   Bayes-optimal predictor (the truth store's ``world_truth.sends.p_open_24h``, the
   probability the label was drawn with) and of the regression; calibration = mean
   prediction / mean label, and mean prediction / mean true probability, which the
   calibration target is measured on (a channel's mean label on one day is itself
   noisy: push opens are ~4%).

Benchmarks are the only code besides the simulator that may read the truth store.
Prints one JSON object and exits 1 when a target is missed. Only the standard library
is imported at the top: ``--analyze`` runs in the TFX environment, the rest in the
orchestration one.
"""

from __future__ import annotations

import argparse
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

PIPELINE = "engagement"
TARGET_AUC_SHARE = 0.97
TARGET_LOG_LOSS_EXCESS = 0.05
TARGET_CALIBRATION_ERROR = 0.03
PREDICTORS = ("model", "bayes_optimal", "logistic_regression")


# --- Scoring and metrics, in the TFX environment (scikit-learn is there) ------------


def analyze(
    held_out: dt.date, train_first: dt.date, train_last: dt.date, truth_schema: str, out: Path
) -> int:
    """Scores day ``held_out``'s sends with the newest pushed engagement model and with
    the logistic regression fit on ``train_first..train_last``, joins their true
    probabilities, and writes the metrics by slice to ``out`` (JSON)."""
    import duckdb
    import pandas as pd

    from notiflow import domain
    from notiflow.settings import get_settings
    from tfx_pipelines.engagement import features
    from tfx_pipelines.scoring import Scorer, read_frame

    settings = get_settings()
    scorer = Scorer(settings, PIPELINE)
    table = domain.mart_table(domain.ENGAGEMENT_EXAMPLES)
    started = time.perf_counter()
    frame, types = read_frame(
        settings,
        f"select notification_id, {', '.join(features.example_columns())} from {table} "
        "where ds = ? order by notification_id",
        [held_out],
    )
    frame["model"] = scorer.score(frame, types)
    score_seconds = time.perf_counter() - started

    started = time.perf_counter()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        train = con.execute(
            f"select {', '.join(features.example_columns())} from {table} where ds between ? and ?",
            [train_first, train_last],
        ).df()
        con.execute(f"attach '{settings.truth_path}' as truth (read_only)")
        truth = con.execute(
            f"select notification_id, p_open_24h as bayes_optimal from truth.{truth_schema}.sends "
            "where ds = ?",
            [held_out],
        ).df()
    finally:
        con.close()
    frame = frame.merge(truth, on="notification_id", how="inner", validate="one_to_one")
    frame["logistic_regression"] = logistic_regression(train, frame)
    by_slice = {"overall": metrics(frame)}
    for channel, rows in frame.groupby("channel"):
        by_slice[f"channel={channel}"] = metrics(pd.DataFrame(rows))
    out.write_text(
        json.dumps(
            {
                "version": scorer.version_dir.name,
                "held_out_sends": len(frame),
                "train_rows": len(train),
                "seconds": {
                    "score": round(score_seconds, 1),
                    "baseline_and_metrics": round(time.perf_counter() - started, 1),
                },
                "metrics": by_slice,
            }
        )
    )
    return 0


def logistic_regression(train, held_out):
    """P(open) of ``held_out``'s rows by an L2 logistic regression fit on ``train``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tfx_pipelines.engagement import features

    categorical = list(features.CATEGORICAL_FEATURE_KEYS) + list(features.BUCKET_FEATURE_SIZES)
    numeric = [k for k in features.NUMERIC_FEATURE_KEYS if k not in features.BUCKET_FEATURE_SIZES]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
                ("numeric", StandardScaler(), numeric),
            ]
        ),
        LogisticRegression(C=1.0, max_iter=2000),
    )
    model.fit(train[categorical + numeric], train[features.LABEL_KEY])
    return model.predict_proba(held_out[categorical + numeric])[:, 1]


def metrics(frame) -> dict[str, dict[str, float]]:
    """Per predictor of PREDICTORS: AUC, log loss, calibration against the labels and
    against the true probabilities, over ``frame``'s rows."""
    import numpy as np
    from sklearn.metrics import log_loss, roc_auc_score

    label = frame["opened_24h"].to_numpy()
    truth = frame["bayes_optimal"].to_numpy()
    result = {"rows": len(frame), "opens": int(label.sum())}
    for name in PREDICTORS:
        p = np.clip(frame[name].to_numpy(), 1e-7, 1 - 1e-7)
        result[name] = {
            "auc": round(float(roc_auc_score(label, p)), 4),
            "log_loss": round(float(log_loss(label, p, labels=[0, 1])), 4),
            "calibration_vs_labels": round(float(p.mean() / label.mean()), 4),
            "calibration_vs_truth": round(float(p.mean() / truth.mean()), 4),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--pins", type=int, help="initial pins (default: users / 5)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--home", type=Path, help="reuse a home this script --keep'd (skips 1)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated home")
    parser.add_argument("--analyze", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.analyze is not None:
        *days, truth_schema = args.analyze
        return analyze(*map(dt.date.fromisoformat, days), truth_schema, args.out)

    from simulate_scale import machine

    from notiflow import registry
    from notiflow.settings import Settings
    from notiflow.simulator.truth import SCHEMA as TRUTH_SCHEMA

    home = args.home or Path(tempfile.mkdtemp(prefix="notiflow-bench-engagement-"))
    environ = world_environment(home, args.users, args.pins)
    settings = Settings.load(environ)
    result: dict[str, object] = {
        "benchmark": "engagement_quality",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "users": args.users,
        "training_days": settings.training_days,
    }
    seconds: dict[str, object] = {}
    result["seconds"] = seconds
    log = home / "engagement_quality.log"
    try:
        if args.home is None:
            seconds["history_simulate_and_dbt_build"] = seed_history(settings, args.today)
        landed = landed_days(settings)
        held_out = landed[-2]  # the last landed day matures its labels
        end_ds = held_out - dt.timedelta(days=1)
        train_first = end_ds - dt.timedelta(days=settings.training_days)
        result.update(
            train_days=[str(train_first), str(end_ds - dt.timedelta(days=1))],
            eval_day=str(end_ds),
            held_out_day=str(held_out),
        )

        try:
            seconds["pipeline_nodes"] = run_pipeline(settings, environ, PIPELINE, end_ds, log)
        except PipelineFailed as error:
            result["error"] = str(error)
            print(json.dumps(result, indent=1, default=str))
            return 1
        pushed = registry.records(settings, PIPELINE)[-1]
        result["pushed_model"] = {
            k: pushed.get(k) for k in ("version", "train_window", "eval_window", "metrics")
        }  # metrics: TFMA's on the eval day

        started = time.perf_counter()
        analysis = home / "held_out_analysis.json"
        code, _ = run_logged(
            [str(settings.tfx_python), str(Path(__file__).resolve()), "--analyze",
             str(held_out), str(train_first), str(end_ds - dt.timedelta(days=1)), TRUTH_SCHEMA,
             "--out", str(analysis)],
            tfx_environment(settings, environ),
            log,
        )  # fmt: skip
        seconds["analysis"] = round(time.perf_counter() - started, 1)
        if code:
            result["error"] = f"the analysis failed (exit {code}):\n{tail(log)}"
            print(json.dumps(result, indent=1, default=str))
            return 1
        analyzed = json.loads(analysis.read_text())
        result["held_out_sends"] = analyzed["held_out_sends"]
        result["train_rows"] = analyzed["train_rows"]
        seconds.update(analyzed["seconds"])
        by_slice = result["metrics"] = analyzed["metrics"]
    finally:
        if not args.keep and args.home is None:
            shutil.rmtree(home, ignore_errors=True)
        else:
            result["home"] = str(home)

    overall = by_slice["overall"]
    model, bound, regression = (overall[p] for p in PREDICTORS)
    worst_calibration = max(
        abs(m["model"]["calibration_vs_truth"] - 1) for s, m in by_slice.items() if s != "overall"
    )
    result["auc_share_of_bound"] = round(model["auc"] / bound["auc"], 4)
    result["log_loss_excess_over_bound"] = round(model["log_loss"] / bound["log_loss"] - 1, 4)
    result["worst_channel_calibration_error"] = round(worst_calibration, 4)
    result["targets_met"] = {
        f"auc >= {TARGET_AUC_SHARE} x bound": model["auc"] >= TARGET_AUC_SHARE * bound["auc"],
        "auc > logistic regression": model["auc"] > regression["auc"],
        f"log loss <= (1 + {TARGET_LOG_LOSS_EXCESS}) x bound": model["log_loss"]
        <= (1 + TARGET_LOG_LOSS_EXCESS) * bound["log_loss"],
        f"calibration within {TARGET_CALIBRATION_ERROR:.0%} on every channel": worst_calibration
        <= TARGET_CALIBRATION_ERROR,
    }
    print(json.dumps(result, indent=1, default=str))
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
