import duckdb
import pandas as pd
import pytest

from notiflow import warehouse


def _notifications(ds: str, ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "notification_id": ids,
            "user_id": "u1",
            "channel": "push",
            "notification_type": "pin_recommendation",
            "sent_ts": pd.Timestamp(ds),
            "policy": "test",
            "propensity": 0.5,
            "ds": pd.Timestamp(ds).date(),
        }
    )


def test_replacing_a_day_keeps_other_days(settings):
    with warehouse.connect(settings) as con:
        warehouse.replace_tables(
            con, {"notifications": _notifications("2026-10-01", ["a", "b"])}, ds="2026-10-01"
        )
        warehouse.replace_tables(
            con, {"notifications": _notifications("2026-10-02", ["c"])}, ds="2026-10-02"
        )
        warehouse.replace_tables(
            con, {"notifications": _notifications("2026-10-01", ["d"])}, ds="2026-10-01"
        )
        ids = [
            r[0]
            for r in con.execute(
                "select notification_id from raw.notifications order by 1"
            ).fetchall()
        ]
    assert ids == ["c", "d"]


def test_a_failed_load_leaves_the_previous_data(settings):
    with warehouse.connect(settings) as con:
        warehouse.replace_tables(
            con, {"notifications": _notifications("2026-10-01", ["a"])}, ds="2026-10-01"
        )
        broken = _notifications("2026-10-01", ["b"]).assign(sent_ts="not a time")
        with pytest.raises(duckdb.Error):
            warehouse.replace_tables(con, {"notifications": broken}, ds="2026-10-01")
        ids = [
            r[0] for r in con.execute("select notification_id from raw.notifications").fetchall()
        ]
    assert ids == ["a"]


def test_reading_a_missing_warehouse_says_what_to_do(settings):
    with pytest.raises(FileNotFoundError, match="simulate or load data first"):
        with warehouse.connect(settings, read_only=True):
            pass


def test_waits_for_a_lock_then_names_the_file(settings, tmp_path):
    import subprocess
    import sys
    import time

    settings.warehouse_path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(settings.warehouse_path)!r}); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(warehouse.WarehouseLockedError, match="stayed locked"):
            with warehouse.connect(settings, wait_s=2):
                pass
        assert time.monotonic() - started >= 2
    finally:
        holder.kill()
