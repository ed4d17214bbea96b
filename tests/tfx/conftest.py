"""Fixtures of the TFX tests (run with the TFX environment: .venvs/tfx)."""

from __future__ import annotations

import os
from pathlib import Path

# TFX 1.16 needs tf.keras to be tf-keras; TensorFlow reads this once, at import, so
# it is set before any test module imports TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest  # noqa: E402
from synthetic_mart import END_DS, days_before, synthetic_examples, write_warehouse  # noqa: E402


@pytest.fixture
def tiny_warehouse(tmp_path: Path) -> Path:
    """A DuckDB file with 3 training days and the evaluation day END_DS, 40 rows a day."""
    path = tmp_path / "tiny.duckdb"
    write_warehouse(path, synthetic_examples(days_before(END_DS, 3) + [END_DS], 40, seed=1))
    return path
