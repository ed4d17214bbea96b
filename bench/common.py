"""What the benchmarks share: a simulated home, child processes with their logs and peak
RSS, and a TFX pipeline run node by node as the Airflow tasks run it.

Standard library only at the top: a benchmark's scoring step runs this file's callers
under the TFX interpreter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The day the history ends before (seed_history lands up to today - 2): fixed, so that a
# rerun simulates the same world.
DEFAULT_TODAY = dt.date(2026, 2, 15)
RUN_ID = "bench"


class PipelineFailed(RuntimeError):
    """A node of a benchmark's pipeline run failed or pushed nothing; the message says which."""


def world_environment(home: Path, users: int, pins: int | None = None) -> dict[str, str]:
    """This process's environment with a notiflow home of ``users`` simulated users (and
    ``users / 5`` initial pins unless given)."""
    return {
        **os.environ,
        "NOTIFLOW_HOME": str(home),
        "NOTIFLOW_SIM_USERS": str(users),
        "NOTIFLOW_SIM_PINS": str(pins or max(users // 5, 100)),
    }


def run_logged(argv: list[str], env: dict[str, str], log: Path) -> tuple[int, int]:
    """Runs ``argv`` with its output appended to ``log``; returns its exit code and its peak
    RSS in bytes (of that process, from ``wait4``)."""
    with log.open("ab") as f:
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024  # Linux reports KiB


@contextlib.contextmanager
def stdout_to_stderr():
    """Sends what is printed (progress, dbt's log) to stderr: stdout is the benchmark's JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def seed_history(settings, today: dt.date) -> float:
    """Simulates and builds the history (``notiflow.cli.seed_history``), its output on
    stderr; returns its seconds."""
    from notiflow import cli

    started = time.perf_counter()
    with stdout_to_stderr():  # its progress and dbt's log; stdout is the JSON
        cli.seed_history(settings, today)
    return round(time.perf_counter() - started, 1)


def landed_days(settings) -> list[dt.date]:
    """The days of the raw layer, in order."""
    from notiflow import domain, warehouse

    with warehouse.connect(settings, read_only=True) as con:
        rows = con.execute(
            f"select distinct ds from {domain.RAW_SCHEMA}.notifications order by 1"
        ).fetchall()
    return [day for (day,) in rows]


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def tfx_environment(settings, environ: dict[str, str]) -> dict[str, str]:
    """The environment of a TFX child process for ``settings``."""
    from notiflow_airflow.common import task_environment

    return {**environ, **task_environment(settings)}


def run_pipeline(
    settings, environ: dict[str, str], pipeline: str, end_ds: dt.date, log: Path
) -> dict[str, dict[str, float]]:
    """``pipeline`` once for evaluation day ``end_ds``, task by task
    (``tfx_pipelines.run_component``, as the Airflow tasks run it); per task its seconds
    and peak RSS in GiB. Raises PipelineFailed when a node fails or nothing is pushed."""
    from notiflow import domain, pipelines

    env = tfx_environment(settings, environ)
    nodes: dict[str, dict[str, float]] = {}
    for node in pipelines.tasks(pipelines.load_graph(pipeline)):
        started = time.perf_counter()
        code, peak_rss = run_logged(
            [str(settings.tfx_python), "-m", "tfx_pipelines.run_component", "--pipeline",
             pipeline, "--node", node["id"], "--run-id", RUN_ID, "--end-ds", str(end_ds)],
            env,
            log,
        )  # fmt: skip
        nodes[node["id"]] = {
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_gib": round(peak_rss / 2**30, 2),
        }
        if code == domain.TFX_NOT_PUSHED_EXIT_CODE:
            raise PipelineFailed(
                f"{pipeline}/{node['id']}: the model was not blessed, nothing pushed:\n{tail(log)}"
            )
        if code:
            raise PipelineFailed(f"{pipeline}/{node['id']} failed (exit {code}):\n{tail(log)}")
    return nodes
