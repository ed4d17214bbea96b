"""Run dbt, which lives in its own environment (its protobuf cannot meet TFX's or Airflow's)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from notiflow import domain
from notiflow.settings import Settings

PROFILE = "notiflow"


def dbt_environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.dbt_environment()}


def project_vars(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The vars of every dbt invocation: the domain facts the models read
    (:func:`notiflow.domain.dbt_vars`), then ``extra`` (e.g. ``ds``; its keys win).

    dbt_project.yml does not repeat the domain facts, so dbt run without these fails
    naming the missing var. Cosmos passes them too (the ``daily_features`` DAG).
    """
    return {**domain.dbt_vars(), **(extra or {})}


def parse_vars(text: str) -> dict[str, Any]:
    """A ``--vars`` value as dbt reads it: a YAML (or JSON) mapping."""
    parsed = yaml.safe_load(text)
    if not isinstance(parsed, dict):
        raise ValueError(f"dbt --vars takes a YAML mapping, e.g. '{{ds: 2026-11-20}}': {text!r}")
    return parsed


def dbt_command(settings: Settings, args: Sequence[str]) -> list[str]:
    """The command line of ``dbt <args>`` on the project, its ``--vars`` (the last one,
    as dbt takes it; ``--vars X`` or ``--vars=X``) merged into :func:`project_vars`."""
    rest: list[str] = []
    given: dict[str, Any] = {}
    remaining = iter(args)
    for arg in remaining:
        if arg == "--vars":
            text = next(remaining, None)
            if text is None:
                raise ValueError("dbt --vars needs a value")
        elif arg.startswith("--vars="):
            text = arg.removeprefix("--vars=")
        else:
            rest.append(arg)
            continue
        given = parse_vars(text)
    # YAML, not JSON: a date the caller wrote unquoted (`{ds: 2026-11-20}`) reaches dbt as
    # the date it parses to, exactly as if the caller's text had been passed on.
    merged = yaml.safe_dump(
        project_vars(given), default_flow_style=True, sort_keys=False, width=float("inf")
    ).strip()
    return [
        str(settings.dbt_executable),
        *rest,
        "--vars",
        merged,
        "--project-dir",
        str(settings.dbt_project_dir),
    ]


def run_dbt(
    settings: Settings,
    args: Sequence[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` on the project with notiflow's settings and the project vars
    (:func:`dbt_command`); output goes to ours."""
    if not settings.dbt_executable.exists():
        raise FileNotFoundError(
            f"dbt is not installed at {settings.dbt_executable}: run `make setup` first"
        )
    return subprocess.run(
        dbt_command(settings, args),
        env={**dbt_environment(settings), **(env or {})},
        cwd=settings.dbt_project_dir,
        check=check,
        capture_output=capture,
        text=capture,
    )


def compile_offline(
    settings: Settings, target: str, target_dir: Path, dbt_vars: dict[str, Any] | None = None
) -> Path:
    """Compile every model for ``target`` without reaching the warehouse; return the folder
    of compiled SQL. ``dbt_vars`` (e.g. ``ds``) go on top of the project vars.

    The target's output in profiles.yml is used as checked in, except its credentials: a
    placeholder OAuth token lets the adapter build its client offline, and introspection
    and the relation cache are off, so no query is ever sent.
    """
    profiles = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text())
    output = dict(profiles[PROFILE]["outputs"][target])
    if output["type"] == "bigquery":
        output.update(method="oauth-secrets", token="offline-compile-only")
    with tempfile.TemporaryDirectory() as profiles_dir:
        profile = {PROFILE: {"target": target, "outputs": {target: output}}}
        (Path(profiles_dir) / "profiles.yml").write_text(yaml.safe_dump(profile))
        args = [
            "compile", "--target", target, "--no-introspect", "--no-populate-cache",
            "--select", "resource_type:model", "--indirect-selection", "empty", "--quiet",
        ]  # fmt: skip
        if dbt_vars:
            args += ["--vars", json.dumps(dbt_vars)]
        run_dbt(
            settings,
            args,
            env={
                "DBT_PROFILES_DIR": profiles_dir,
                "DBT_TARGET_PATH": str(target_dir),
                "NOTIFLOW_WAREHOUSE_TARGET": target,
                "NOTIFLOW_BIGQUERY_PROJECT": settings.bigquery_project or "notiflow-offline",
            },
        )
    return target_dir / "compiled" / PROFILE / "models"


def publish_docs(settings: Settings) -> Path:
    """Generate dbt docs (with the warehouse's catalog) as one self-contained page and put
    it in the reports folder, replacing the previous one only once the new one is complete.
    """
    docs_dir = settings.reports_dir / "dbt-docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=docs_dir) as target:
        run_dbt(
            settings, ["docs", "generate", "--static", "--quiet"], env={"DBT_TARGET_PATH": target}
        )
        page = Path(target) / "static_index.html"
        page.replace(docs_dir / "index.html")
    return docs_dir / "index.html"
