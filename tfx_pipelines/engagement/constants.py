"""Hyperparameters of the engagement model (one place, referenced by model.py)."""

from __future__ import annotations

TRAIN_BATCH_SIZE = 128
EVAL_BATCH_SIZE = 256
LEARNING_RATE = 3e-3

# Default steps when the pipeline does not override them; small because the local
# simulator produces thousands, not millions, of examples per day.
TRAIN_STEPS = 200
EVAL_STEPS = 20

EMBEDDING_DIM = 8
DEEP_HIDDEN_UNITS: tuple[int, ...] = (64, 32)
DROPOUT_RATE = 0.1

# Seeds the model's initialisation and input shuffling so that reruns on the same
# data give comparable models.
RANDOM_SEED = 42
