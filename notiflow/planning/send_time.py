"""When a planned send goes out: a local hour of the user, on the plan's UTC day.

A plan for day ``ds`` holds sends whose UTC time lies inside ``ds`` (the sender and the
plan gate refuse others). A user ``tz`` hours ahead of UTC sees local hour ``h`` of
that UTC day on local date ``ds + k``, with ``k = -floor((h - tz) / 24)``: east of
UTC early local hours fall on the local day after, west of it late hours on the day
before.
The scorer needs that local date for the engagement model's ``day_of_week`` (as the
training examples compute it from the send's local time), the plan for ``send_ts``:
both come from here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

SECONDS_PER_HOUR = 3600
HOURS_PER_DAY = 24


def local_day_offset(local_hour: np.ndarray, tz_offset_hours: np.ndarray) -> np.ndarray:
    """Days from the plan's UTC day to the local date of each send (-1, 0 or 1)."""
    return -np.floor_divide(np.asarray(local_hour) - np.asarray(tz_offset_hours), HOURS_PER_DAY)


def local_day_of_week(
    ds: dt.date, local_hour: np.ndarray, tz_offset_hours: np.ndarray
) -> np.ndarray:
    """Day of week of each send's local date, 0 = Sunday (DuckDB's ``dow``, the
    ``day_of_week`` macro of the dbt project)."""
    sunday_based = ds.isoweekday() % 7
    return (sunday_based + local_day_offset(local_hour, tz_offset_hours)) % 7


def send_seconds(
    local_hour: np.ndarray, tz_offset_hours: np.ndarray, second_in_hour: np.ndarray
) -> np.ndarray:
    """Seconds after the plan day's UTC midnight of each send, in [0, 86400)."""
    local_s = np.asarray(local_hour) * SECONDS_PER_HOUR + np.asarray(second_in_hour)
    utc_s = local_s - np.asarray(tz_offset_hours) * SECONDS_PER_HOUR
    return utc_s + local_day_offset(local_hour, tz_offset_hours) * HOURS_PER_DAY * SECONDS_PER_HOUR
