"""Every knob of the ranking pipeline, in one place (the TFX template's ``configs.py``).

Plain constants on the core only (no TFX, no TensorFlow): the runner, the DAG factory
and the tests read it cheaply, and ``notiflow.pipelines`` finds the folder by this file.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from notiflow import domain
from notiflow.settings import Settings

# --- Names ------------------------------------------------------------------------

PIPELINE_NAME = "ranking"
# The served model: ``<serving_dir>/<MODEL_NAME>/<version>/`` and its registry records.
MODEL_NAME = "ranking"
SOURCE_TABLE = domain.mart_table(domain.RANKING_EXAMPLES)
# The columns that identify a row of SOURCE_TABLE: one row per item of a digest.
SOURCE_ROW_KEY: tuple[str, ...] = ("notification_id", "item_position")

# The curated schema; see schema/README.md.
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")

PREPROCESSING_FN = "tfx_pipelines.ranking.preprocessing.preprocessing_fn"
RUN_FN = "tfx_pipelines.ranking.model.run_fn"

# --- Node ids (the Airflow task ids) ----------------------------------------------

EXAMPLE_GEN = "ExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"  # an ImportSchemaGen of SCHEMA_FILE
PREVIOUS_STATISTICS_RESOLVER = "PreviousSpanStatisticsResolver"
EXAMPLE_VALIDATOR = "ExampleValidator"
TRANSFORM = "Transform"
TRAINER = "Trainer"
MODEL_RESOLVER = "LatestBlessedModelResolver"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

# --- Lists ------------------------------------------------------------------------

# A digest carries at most this many pins: the padded list length of the model.
MAX_LIST_SIZE = domain.EMAIL_DIGEST_ITEMS
# Only examples whose label had its full 24 h to arrive are read (both splits).
LABEL_MATURE_COLUMN = "is_label_mature"

# --- Training ---------------------------------------------------------------------

# Steps are batches of lists (not of examples); TRAIN_STEPS is the most per ensemble
# member, early stopping ends sooner: each member's held-out fold loss is checked every
# VALIDATION_EVERY_STEPS steps, and it stops after VALIDATION_PATIENCE checks without
# improvement (the best check's weights are kept). On the benchmark's 20k-user world
# that is 300-600 steps of 2,080 clicked lists per member.
TRAIN_STEPS = 2000
ENSEMBLE_FOLDS = 5
EVAL_STEPS = 20
TRAIN_LISTS_PER_BATCH = 32
EVAL_LISTS_PER_BATCH = 128
LEARNING_RATE = 1e-3
VALIDATION_EVERY_STEPS = 25
VALIDATION_PATIENCE = 8
EMBEDDING_DIM = 8
HIDDEN_UNITS: tuple[int, ...] = (32, 16)
# The position tower: an embedding of the logged position -> one bias on the logit.
POSITION_EMBEDDING_DIM = 4
RANDOM_SEED = 42

# --- Evaluation (TFMA, one query = one list) ---------------------------------------

NDCG_TOP_K = 3
NDCG_METRIC = f"ndcg_at_{NDCG_TOP_K}"
# Reported beside the gated NDCG@3 (a digest has 5 items: NDCG@5 ranks the whole list).
NDCG_REPORTED_TOP_K = 5
NDCG_REPORTED_METRIC = f"ndcg_at_{NDCG_REPORTED_TOP_K}"
# The push gate on the overall NDCG@3. Lists without a click are skipped by TFMA's NDCG
# (no ideal gain), so a random order of 5 items with one click scores
# E[1/log2(1+rank), rank<=3] ~= 0.42 on average (and less with several clicks); 0.5 asks
# for clearly better than random. The synthetic mart's clicks follow topic affinity and
# pin click rate, and the world simulator's do too, so a model that learns scores > 0.6.
NDCG_FLOOR = 0.5
# New NDCG@3 minus the last blessed model's may not be below this (a tie passes).
NDCG_CHANGE_THRESHOLD = -1e-10
MIN_LABEL_POSITION_METRIC = "min_label_position"
# Metrics are reported overall and by these (per-digest) features; the gate reads the
# overall slice only.
SLICE_KEYS: tuple[str, ...] = ("platform",)

# The popularity baseline: each digest's items ordered by this mart column (descending),
# scored with the same NDCG@3 on the same evaluation day (``baseline.py``). A model is
# pushed only if its overall NDCG@3 exceeds the baseline's by more than
# POPULARITY_MIN_LIFT (0: strictly better); checked after the Evaluator (hooks.py).
POPULARITY_FEATURE_KEY = "pin_popularity_28d"
POPULARITY_METRIC = f"popularity_{NDCG_METRIC}"
POPULARITY_MIN_LIFT = 0.0

# What the evaluation report prints and the registry record keeps (overall slice).
REPORTED_METRICS: tuple[str, ...] = (
    NDCG_METRIC,
    NDCG_REPORTED_METRIC,
    MIN_LABEL_POSITION_METRIC,
    "example_count",
)


def serving_model_dir(serving_dir: str | os.PathLike[str]) -> str:
    """Where Pusher writes versions: ``<serving_dir>/<MODEL_NAME>/<version>/``."""
    return os.path.join(os.fspath(serving_dir), MODEL_NAME)


def pipeline_args(settings: Settings, end_ds: datetime.date) -> dict[str, Any]:
    """Keyword arguments of ``create_pipeline`` for evaluation day ``end_ds``."""
    return {
        "pipeline_name": PIPELINE_NAME,
        "pipeline_root": str(settings.pipeline_root / PIPELINE_NAME),
        "warehouse_path": str(settings.warehouse_path),
        "end_ds": end_ds,
        "training_days": settings.training_days,
        "serving_dir": str(settings.serving_dir),
        "ndcg_floor": NDCG_FLOOR,
        "train_steps": TRAIN_STEPS,
        "eval_steps": EVAL_STEPS,
        "source_table": SOURCE_TABLE,
    }
