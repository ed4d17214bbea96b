"""Run dbt, which lives in its own environment (its protobuf cannot meet TFX's or Airflow's)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from notiflow.settings import Settings


def dbt_environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.dbt_environment()}


def run_dbt(
    settings: Settings, args: Sequence[str], *, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` on the project with notiflow's settings; output goes to ours."""
    if not settings.dbt_executable.exists():
        raise FileNotFoundError(
            f"dbt is not installed at {settings.dbt_executable}: run `make setup` first"
        )
    return subprocess.run(
        [str(settings.dbt_executable), *args, "--project-dir", str(settings.dbt_project_dir)],
        env=dbt_environment(settings),
        cwd=settings.dbt_project_dir,
        check=check,
    )
