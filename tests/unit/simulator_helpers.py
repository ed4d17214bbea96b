"""Helpers shared by the simulator's tests: fingerprints of the warehouse and the truth store."""

from __future__ import annotations

import hashlib

import pandas as pd

from notiflow import contracts, warehouse
from notiflow.settings import Settings
from notiflow.simulator.truth import SCHEMA, TABLES, TruthStore


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).values.tobytes()
        + ",".join(frame.columns).encode()
    ).hexdigest()


def raw_hashes(settings: Settings, where: str = "true") -> dict[str, str]:
    """One hash per raw table (rows matching ``where``, e.g. a day), independent of row order."""
    with warehouse.connect(settings, read_only=True) as con:
        return {
            table: _digest(
                con.execute(f"select * from raw.{table} where {where} order by all").fetchdf()
            )
            for table in contracts.RAW_TABLES
            if table not in contracts.DIMENSION_TABLES or where == "true"
        }


def truth_hashes(settings: Settings) -> dict[str, str]:
    with TruthStore.open(settings, read_only=True) as store:
        return {
            table: _digest(
                store.con.execute(f"select * from {SCHEMA}.{table} order by all").fetchdf()
            )
            for table in TABLES
        }


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
