"""A team's own logs as the raw layer's source: files in a landing folder, loaded by day.

With ``source = "landing"`` the raw layer is fed by files a team exports from its
loggers, one folder per raw table of the contract (:data:`notiflow.contracts.RAW_TABLES`)::

    <landing_dir>/<table>/ds=YYYY-MM-DD/*.parquet   a day of a partitioned table (Hive layout)
    <landing_dir>/users/*.parquet                   a dimension table, whole (DIMENSION_TABLES)

``*.csv`` files (with a header row) are accepted beside Parquet. A file names its columns
as the contract does, in any order. A nullable column may be absent (a logger that never
recorded it, e.g. propensities): it loads as null. ``ds`` may be absent too: it is the
folder's day. ``experiment_assignments`` is optional: without files nobody is held out.

:func:`load_day` checks the day's files (every check is in :func:`_layout_problems` and
:func:`_file_problems`), then coerces them to the contract's types and writes them with
:func:`notiflow.warehouse.replace_tables`: the day's partitions replaced, the dimensions
replaced whole. When any check fails nothing is written and :class:`LandingError` lists
every problem, each naming the file, the column and what was expected.

:func:`write_tables` writes raw tables as landing files (one Parquet file per table and
day), for ``notiflow simulate --to-landing``: the simulator standing in for a team's loggers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb

from notiflow import warehouse
from notiflow.contracts import DIMENSION_TABLES, RAW_TABLES
from notiflow.settings import Settings

# The files a folder's data is read from; other files (_SUCCESS, .crc, ...) are ignored.
DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz")
# Tables that may have no files: loaded empty.
OPTIONAL_TABLES = ("experiment_assignments",)
# The column whose UTC day is the partition's day (DESIGN.md §3); pins are exempt: the
# catalog that existed before the first day lands on that day.
DAY_COLUMNS = {
    "engagement_events": "event_ts",
    "notifications": "sent_ts",
    "notification_events": "event_ts",
}
PARTITION = "ds"
# The file name write_tables gives a table's (day's) rows.
WRITTEN_FILE = "part-0.parquet"


class LandingError(ValueError):
    """Landed files that cannot be loaded; nothing was written. ``problems``: one line each."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @property
    def tables(self) -> list[str]:
        """The folders (tables) the problems are in: each problem starts with its path."""
        return sorted({problem.split("/", 1)[0] for problem in self.problems})


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool


def contract(table: str) -> list[Column]:
    """The columns of a raw table's contract, in order."""
    columns = []
    for ddl in RAW_TABLES[table].split(","):
        if ddl.strip():
            name, kind, *rest = ddl.split()
            columns.append(Column(name, kind.lower(), "not null" in " ".join(rest).lower()))
    return columns


def table_folder(landing_dir: Path, table: str, ds: dt.date | str | None = None) -> Path:
    """The folder of a dimension table, or of a day of a partitioned table."""
    folder = Path(landing_dir) / table
    return folder if ds is None else folder / f"{PARTITION}={_as_date(ds).isoformat()}"


def load_day(
    settings: Settings, ds: dt.date | str, *, landing_dir: Path | None = None
) -> dict[str, int]:
    """Load day ``ds`` from the landing folder (default: ``settings.landing_dir``) into the
    raw layer; returns the rows loaded per table. Raises :class:`LandingError` (nothing
    written) when the day's files do not follow the layout or the contract."""
    day = _as_date(ds)
    root = Path(landing_dir or settings.landing_dir)
    if not root.is_dir():
        raise LandingError(f"landing folder {root} does not exist")
    files = {
        table: _data_files(table_folder(root, table, _day_of(table, day))) for table in RAW_TABLES
    }
    problems = _layout_problems(root, day, files)
    rows = dict.fromkeys(RAW_TABLES, 0)
    with duckdb.connect() as scratch:
        scratch.execute("set TimeZone = 'UTC'")
        for table, paths in files.items():
            for path in paths:
                found, n = _file_problems(scratch, table, path, day)
                problems += [f"{path.relative_to(root)}: {problem}" for problem in found]
                rows[table] += n
    if problems:
        raise LandingError(
            f"cannot load {day} from {root}, nothing was loaded ({len(problems)} problems):\n  "
            + "\n  ".join(problems),
            problems,
        )
    with warehouse.connect(settings) as con:
        con.execute("set TimeZone = 'UTC'")
        frames = {table: _coerced(con, table, paths, day) for table, paths in files.items()}
        # one transaction: the day's partitions and the dimensions, whole
        warehouse.replace_tables(con, frames, ds=day.isoformat())
    return rows


def load_days(
    settings: Settings,
    start: dt.date,
    days: int,
    *,
    landing_dir: Path | None = None,
    progress: Callable[[dt.date, dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Load ``days`` days from ``start``, each in its own transaction; returns the rows loaded
    per table (the dimensions' last count). A failing day stops the backfill: the days
    before it stay loaded. ``progress(day, rows)`` is called after each day."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    total: dict[str, int] = {}
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        rows = load_day(settings, day, landing_dir=landing_dir)
        for table, n in rows.items():
            total[table] = n if table in DIMENSION_TABLES else total.get(table, 0) + n
        if progress is not None:
            progress(day, rows)
    return total


# ---- The checks: the layout of the landing folder, then every file's content. ----


def _layout_problems(root: Path, day: dt.date, files: dict[str, list[Path]]) -> list[str]:
    problems = [
        f"{path.name}/: a folder for table {path.name!r}, which the raw contract does not "
        f"know (its tables: {', '.join(RAW_TABLES)})"
        for path in sorted(root.iterdir())
        if path.is_dir() and path.name not in RAW_TABLES and not path.name.startswith((".", "_"))
    ]
    for table, paths in files.items():
        folder = table_folder(root, table, _day_of(table, day))
        where = folder.relative_to(root)
        if not paths and table not in OPTIONAL_TABLES:
            state = "is empty" if folder.is_dir() else "does not exist"
            what = "the whole table" if table in DIMENSION_TABLES else f"the day {day}"
            problems.append(
                f"{where}/: {state}; expected {what} of required table {table} "
                "as *.parquet or *.csv files"
            )
        seen: dict[str, Path] = {}
        for path in paths:
            digest = _sha256(path)
            if digest in seen:
                problems.append(
                    f"{path.relative_to(root)}: the same content as {seen[digest].name} "
                    f"(sha256 {digest[:12]}): the file landed twice; remove one"
                )
            seen.setdefault(digest, path)
    return problems


def _file_problems(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, day: dt.date
) -> tuple[list[str], int]:
    """What is wrong with one landed file's columns and values, and its row count."""
    columns = contract(table)
    key = columns[0].name
    try:
        con.execute(f"create or replace temp table _landed as select * from {_reader(path)}")
        present = {name.lower() for name in con.table("_landed").columns}
        total = con.execute("select count(*) from _landed").fetchone()[0]
    except duckdb.Error as exc:
        return [f"cannot be read as {_kind(path)}: {str(exc).splitlines()[0]}"], 0

    known = [c.name for c in columns]
    unknown = sorted(present - set(known))
    missing = [
        c.name
        for c in columns
        if c.not_null
        and c.name not in present
        and not (c.name == PARTITION and table not in DIMENSION_TABLES)
    ]
    problems = [
        f"missing column {name}: required (not null) by the contract of raw.{table}"
        for name in missing
    ]
    problems += [
        f"column {name} is not in the contract of raw.{table} (a renamed column?); "
        f"its columns: {', '.join(known)}"
        for name in unknown
    ]
    if problems:
        return problems, total

    def rows(n: int) -> str:
        return f"{n} row{'s' if n != 1 else ''}"

    def found(column: str, where: str) -> str | None:
        """How many rows match ``where`` and the first one, as a message fragment."""
        row = con.execute(
            f'select count(*) over (), "{column}"::varchar, "{key}"::varchar '
            f"from _landed where {where} limit 1"
        ).fetchone()
        if row is None:
            return None
        n, value, key_value = row
        example = f"{column}={value!r}" + (f" where {key}={key_value!r}" if column != key else "")
        return f"{rows(n)}{f' of {total}' if n > 1 else ''}, e.g. {example}"

    start, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    for c in (c for c in columns if c.name in present):
        value = _cast(c, try_=True)
        checks = {
            f"not a valid {c.type}": f'"{c.name}" is not null and {value} is null',
            f"null, but the contract says {c.name} {c.type} not null": (
                f'"{c.name}" is null' if c.not_null else None
            ),
            f"not the folder's day {start}": (
                f"{value} <> date '{start}'" if c.name == PARTITION else None
            ),
        }
        for what, where in checks.items():
            if where is not None and (bad := found(c.name, where)):
                problems.append(f"column {c.name}: {what} in {bad}")
        # A few rows outside the day are late data, for the raw GX suite to measure; most
        # of the file outside it is a file of another day.
        if DAY_COLUMNS.get(table) == c.name:
            outside = f"({value} < timestamp '{start}' or {value} >= timestamp '{end}')"
            n = con.execute(f"select count(*) from _landed where {outside}").fetchone()[0]
            if 2 * n > total:
                problems.append(
                    f"column {c.name}: outside [{start}, {end}) in {found(c.name, outside)}: "
                    "a file of another day?"
                )
    return problems, total


# ---- Reading and coercing (after the checks passed). ----


def _coerced(
    con: duckdb.DuckDBPyConnection, table: str, paths: list[Path], day: dt.date
) -> duckdb.DuckDBPyRelation:
    """The rows of a table's files in the contract's columns and types (a lazy relation)."""
    columns = contract(table)
    if not paths:
        return con.sql(
            "select " + ", ".join(f'null::{c.type} as "{c.name}"' for c in columns) + " where false"
        )
    selects = []
    for path in paths:
        present = {name.lower() for name in con.sql(f"select * from {_reader(path)}").columns}
        selects.append(
            "select "
            + ", ".join(f'{_value(c, present, day)} as "{c.name}"' for c in columns)
            + f" from {_reader(path)}"
        )
    return con.sql(" union all ".join(selects))


def _value(column: Column, present: set[str], day: dt.date) -> str:
    if column.name in present:
        return _cast(column, try_=False)
    if column.name == PARTITION:
        return f"date '{day.isoformat()}'"
    return f"null::{column.type}"


def _cast(column: Column, *, try_: bool) -> str:
    """SQL coercing a landed column to its contract type. Timestamps with a time zone (or an
    offset in the text) become UTC; naive ones are taken as UTC (the session time zone)."""
    cast = "try_cast" if try_ else "cast"
    if column.type == "timestamp":
        return f'{cast}({cast}("{column.name}" as timestamptz) as timestamp)'
    return f'{cast}("{column.name}" as {column.type})'


def _reader(path: Path) -> str:
    literal = warehouse.sql_string(path)
    # Not DuckDB's Hive partitioning: ds is checked against, or taken from, the folder here.
    if path.name.endswith(".parquet"):
        return f"read_parquet({literal}, hive_partitioning = false)"
    return f"read_csv({literal}, header = true, all_varchar = true, hive_partitioning = false)"


def _kind(path: Path) -> str:
    return "Parquet" if path.name.endswith(".parquet") else "CSV"


def _data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.name.endswith(DATA_SUFFIXES)
        and not path.name.startswith((".", "_"))
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _day_of(table: str, day: dt.date) -> dt.date | None:
    return None if table in DIMENSION_TABLES else day


def _as_date(ds: dt.date | str) -> dt.date:
    return ds if isinstance(ds, dt.date) else dt.date.fromisoformat(ds)


# ---- Writing landing files (the simulator as a team's loggers). ----


def write_tables(landing_dir: Path, frames: dict[str, Any], *, ds: str | None = None) -> None:
    """Write raw tables as landing files: one Parquet file per table, the day ``ds``'s
    partition of partitioned tables, or the whole of dimension tables (without ``ds``),
    replacing the data files the folder held. Columns are written as logged (``ds`` is the
    folder): the contract's in its types, any others as they are, for the loader to refuse.
    Frames are pandas data frames."""
    with duckdb.connect() as con:
        for table, frame in frames.items():
            if table not in RAW_TABLES:
                raise KeyError(f"unknown raw table {table!r}; expected one of {sorted(RAW_TABLES)}")
            if (table in DIMENSION_TABLES) != (ds is None):
                raise ValueError(
                    f"{table}: a {'dimension' if table in DIMENSION_TABLES else 'partitioned'} "
                    f"table is written {'without' if table in DIMENSION_TABLES else 'with'} a ds"
                )
            types = {c.name: c.type for c in contract(table)}
            select = ", ".join(
                f'cast("{name}" as {types[name]}) as "{name}"' if name in types else f'"{name}"'
                for name in map(str, frame.columns)
                if name != PARTITION
            )
            folder = table_folder(landing_dir, table, ds)
            folder.mkdir(parents=True, exist_ok=True)
            staged, target = folder / f".{WRITTEN_FILE}.tmp", folder / WRITTEN_FILE
            con.register("_frame", frame)
            try:
                con.execute(
                    f"copy (select {select} from _frame) to {warehouse.sql_string(staged)} "
                    "(format parquet)"
                )
            finally:
                con.unregister("_frame")
            for old in _data_files(folder):
                if old != target:
                    old.unlink()
            os.replace(staged, target)
