"""Every knob of the engagement pipeline, in one place (the TFX template's ``configs.py``).

Names, the source table, node ids, module paths of the user code, training steps and
the model's hyperparameters; and :func:`pipeline_args`, which turns notiflow's
:class:`~notiflow.settings.Settings` and the evaluation day into the keyword arguments
of :func:`tfx_pipelines.engagement.pipeline.create_pipeline`.

Plain constants on the core only (no TFX, no TensorFlow): the runner, the serving
check and the tests read it cheaply, and ``notiflow.pipelines`` finds a pipeline
folder by this file.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from notiflow import domain
from notiflow.settings import Settings

# --- Names ------------------------------------------------------------------------

PIPELINE_NAME = "engagement"
# The served model: ``<serving_dir>/<MODEL_NAME>/<version>/`` and its registry records.
MODEL_NAME = "engagement"
SOURCE_TABLE = domain.mart_table(domain.ENGAGEMENT_EXAMPLES)
# The columns that identify a row of SOURCE_TABLE: one row per notification.
SOURCE_ROW_KEY: tuple[str, ...] = ("notification_id",)

# The curated schema (types, domains, ranges, environments, drift and skew thresholds);
# see schema/README.md for how it was derived and how to change it.
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")

# User code, referenced by module path (Transform and Trainer import it themselves).
PREPROCESSING_FN = "tfx_pipelines.engagement.preprocessing.preprocessing_fn"
RUN_FN = "tfx_pipelines.engagement.model.run_fn"

# --- Node ids ---------------------------------------------------------------------
# The Airflow task ids. Fixed here, not derived from class names, so that swapping
# DuckDB for BigQuery keeps the graph and the MLMD history of each node.

EXAMPLE_GEN = "ExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"  # an ImportSchemaGen of SCHEMA_FILE; the id is kept for Airflow
PREVIOUS_STATISTICS_RESOLVER = "PreviousSpanStatisticsResolver"
EXAMPLE_VALIDATOR = "ExampleValidator"
TRANSFORM = "Transform"
TRAINER = "Trainer"
MODEL_RESOLVER = "LatestBlessedModelResolver"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

# --- Training ---------------------------------------------------------------------

# 0: the training length follows the data (model.training_schedule: epochs over the
# window, early stopping on the eval split); a positive value caps the steps (tests).
TRAIN_STEPS = 0
EVAL_STEPS = 0
TRAIN_EPOCHS = 10  # passes over the training window, at most
CHECKS_PER_EPOCH = 2  # evaluations on the eval split per epoch, for early stopping
MIN_STEPS_PER_CHECK = 50
EARLY_STOPPING_PATIENCE = 4  # checks without a lower eval loss before stopping
# A check lowers the eval loss only by more than this (log loss is ~0.28 here): smaller
# steps are noise, and training on them costs time at scale.
MIN_LOSS_IMPROVEMENT = 1e-4

# --- The push gate (eval_config and hooks.py), besides the settings' auc_floor --------

# Overall AUC minus the last blessed model's may not be below this. A tie passes
# (retraining on the same data must not block the pipeline); any loss in AUC fails.
AUC_CHANGE_THRESHOLD = -1e-10
# The slices gated one by one: each channel (notiflow.domain.CHANNELS) must reach the
# AUC floor and may not lose more than CHANNEL_AUC_TOLERANCE of AUC against the last
# blessed model on the same evaluation day (a channel's AUC moves more by chance than
# the overall one).
GATED_SLICE_KEY = "channel"
CHANNEL_AUC_TOLERANCE = 0.01
# Each channel's calibration (mean prediction / mean label) must lie within these
# bounds, unless its distance to them is within CALIBRATION_Z standard errors of the
# mean label (hooks.py: a small channel's mean label is too noisy to refuse on).
CALIBRATION_BOUNDS = (0.9, 1.1)
CALIBRATION_Z = 3.0

# --- Model hyperparameters (model.py) ---------------------------------------------

TRAIN_BATCH_SIZE = 512
# The training rows are shuffled through a buffer of the whole window, up to this many:
# a buffered row costs ~5 KiB (a dict of tensors), and 1.4M of them took the Trainer
# to 8.5 GiB peak RSS at 100k users.
SHUFFLE_BUFFER_ROWS = 500_000
EVAL_BATCH_SIZE = 2048
LEARNING_RATE = 1e-3
# The learning rate is multiplied by this after LEARNING_RATE_PATIENCE checks without a
# lower eval loss.
LEARNING_RATE_DECAY = 0.3
LEARNING_RATE_PATIENCE = 1
EMBEDDING_DIM = 4
CROSS_LAYERS = 2
CROSS_L2 = 1e-4
DEEP_HIDDEN_UNITS: tuple[int, ...] = (64, 32)
DROPOUT_RATE = 0.1

# Seeds the model's initialisation and input shuffling so that reruns on the same
# data give comparable models.
RANDOM_SEED = 42


def serving_model_dir(serving_dir: str | os.PathLike[str]) -> str:
    """Where Pusher writes versions: ``<serving_dir>/<MODEL_NAME>/<version>/``."""
    return os.path.join(os.fspath(serving_dir), MODEL_NAME)


def pipeline_args(settings: Settings, end_ds: datetime.date) -> dict[str, Any]:
    """Keyword arguments of ``create_pipeline`` for evaluation day ``end_ds``.

    The runner adds what it owns (metadata connection, Beam arguments).
    """
    return {
        "pipeline_name": PIPELINE_NAME,
        "pipeline_root": str(settings.pipeline_root / PIPELINE_NAME),
        "warehouse_path": str(settings.warehouse_path),
        "end_ds": end_ds,
        "training_days": settings.training_days,
        "serving_dir": str(settings.serving_dir),
        "auc_floor": settings.auc_floor,
        "train_steps": TRAIN_STEPS,
        "eval_steps": EVAL_STEPS,
        "source_table": SOURCE_TABLE,
    }
