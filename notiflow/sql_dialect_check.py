"""Parse compiled SQL files with sqlglot in a given dialect (runs in the dbt environment).

``python -m notiflow.sql_dialect_check --dialect bigquery DIR`` prints, as JSON, each
``.sql`` file under DIR with the parse error it raised (null when it parsed) and the
tables it reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(folder: Path, dialect: str) -> dict[str, dict]:
    import sqlglot
    from sqlglot import exp

    results = {}
    for path in sorted(folder.rglob("*.sql")):
        sql = path.read_text()
        try:
            statements = sqlglot.parse(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.SqlglotError as error:
            results[str(path.relative_to(folder))] = {"error": str(error), "tables": []}
            continue
        ctes = {cte.alias for s in statements if s for cte in s.find_all(exp.CTE)}
        tables = sorted(
            {
                ".".join(p for p in (t.catalog, t.db, t.name) if p)
                for s in statements
                if s
                for t in s.find_all(exp.Table)
                if t.name and t.name not in ctes
            }
        )
        results[str(path.relative_to(folder))] = {"error": None, "tables": tables}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dialect", required=True)
    args = parser.parse_args(argv)
    results = check(args.folder, args.dialect)
    json.dump(results, sys.stdout, indent=1)
    return 1 if any(r["error"] for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
