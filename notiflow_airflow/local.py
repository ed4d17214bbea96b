"""A local Airflow 3 for the demo and the end-to-end tests.

Starts the real components (API server with UI, scheduler, DAG processor,
triggerer) as separate process groups on loopback, with SQLite and the
LocalExecutor, and talks to them through the REST API. Everything lives under
``$NOTIFLOW_HOME/airflow``; ``stop`` ends exactly the processes ``start`` began.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from notiflow_airflow.common import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, task_environment

API_HOST = "127.0.0.1"
ADMIN_USER = "admin"
TERMINAL_STATES = {"success", "failed"}


class AirflowError(RuntimeError):
    pass


def base_url(settings: Settings) -> str:
    return f"http://{API_HOST}:{settings.airflow_port}"


def components(settings: Settings) -> dict[str, list[str]]:
    """The Airflow commands to start. --skip-serve-logs: the log servers would bind every
    interface; with the LocalExecutor the API server reads task logs from local files anyway."""
    return {
        "api-server": ["api-server", "--host", API_HOST, "--port", str(settings.airflow_port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }


def airflow_environment(settings: Settings) -> dict[str, str]:
    home = settings.airflow_home
    inherited = dict(os.environ)
    return {
        **inherited,
        **task_environment(settings),
        # Airflow starts its own components by the bare name `airflow`.
        "PATH": os.pathsep.join(
            filter(None, [str(settings.orchestration_bin), inherited.get("PATH")])
        ),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # 2 cores: Airflow's default of 32 parallel tasks would thrash; 6 lets the day's
        # light dbt node tasks follow the build beside it (4 queued them up to 5 s).
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url(settings)}/execution/",
        "AIRFLOW__API__HOST": API_HOST,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": base_url(settings),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }


def _pid_file(settings: Settings) -> Path:
    return settings.airflow_home / "notiflow-processes.json"


def _airflow(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(settings.orchestration_bin / "airflow"), *args],
        env=airflow_environment(settings),
        check=True,
        capture_output=True,
        text=True,
    )


def _read_processes(settings: Settings) -> dict[str, Any]:
    """The pid file: each component's pid (the leader of its own process group) and the
    groups of components that died and were started again (their children may live on:
    a killed scheduler leaves its LocalExecutor workers behind)."""
    path = _pid_file(settings)
    if not path.exists():
        return {"components": {}, "replaced_groups": []}
    return json.loads(path.read_text())


def _write_processes(settings: Settings, processes: dict[str, Any]) -> None:
    _pid_file(settings).write_text(json.dumps(processes))


def running_pids(settings: Settings) -> dict[str, int]:
    components_ = _read_processes(settings)["components"]
    return {name: pid for name, pid in components_.items() if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        # a component that died as this process's child stays a zombie until reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not this process's child (started by another command)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(
    settings: Settings, *, timeout_s: float = 180.0, only: Iterable[str] | None = None
) -> None:
    """Parse the dbt project, migrate the metadata DB, create the pool, start every component.

    ``only`` starts a subset of :func:`components` (e.g. ``["api-server"]`` to serve the UI
    and the reports without running DAGs); the dbt project is parsed only when the DAG
    processor starts, since it is the one that renders the dbt task group.
    """
    selected = components(settings)
    if only is not None:
        unknown = set(only) - set(selected)
        if unknown:
            raise ValueError(
                f"unknown Airflow components {sorted(unknown)}; known: {list(selected)}"
            )
        selected = {name: args for name, args in selected.items() if name in set(only)}
    if running_pids(settings):
        raise AirflowError(
            f"Airflow of {settings.home} is already running (pids {running_pids(settings)}); "
            "stop it first with `make demo-stop`"
        )
    home = settings.airflow_home
    (home / "logs").mkdir(parents=True, exist_ok=True)
    # Cosmos renders the dbt task group from the manifest: parse before any DAG is.
    if "dag-processor" in selected:
        run_dbt(settings, ["parse", "--quiet"])
    _airflow(settings, "db", "migrate")
    _airflow(settings, "pools", "set", WAREHOUSE_POOL, "1", WAREHOUSE_POOL_DESCRIPTION)
    pids = {name: _spawn(settings, name, args) for name, args in selected.items()}
    _write_processes(settings, {"components": pids, "replaced_groups": []})
    wait_for_api(settings, timeout_s=timeout_s)


def _spawn(settings: Settings, name: str, args: Sequence[str]) -> int:
    log = open(settings.airflow_home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child's
    process = subprocess.Popen(
        [str(settings.orchestration_bin / "airflow"), *args],
        env=airflow_environment(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() ends its children too
    )
    return process.pid


def restart(settings: Settings, name: str) -> int:
    """Start component ``name`` again after its process died (a crash, a kill); the
    others keep running. Returns its new pid. The dead one's process group is kept for
    :func:`stop`: what it started (the scheduler's workers) outlives it."""
    alive = running_pids(settings)
    if name in alive:
        raise AirflowError(f"{name} of {settings.home} is still running (pid {alive[name]})")
    processes = _read_processes(settings)
    if name in processes["components"]:
        processes["replaced_groups"].append(processes["components"][name])
    processes["components"][name] = _spawn(settings, name, components(settings)[name])
    _write_processes(settings, processes)
    return processes["components"][name]


def stop(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Stop every process group started by :func:`start` and :func:`restart`, the groups
    of replaced components included; returns the components that were running."""
    processes = _read_processes(settings)
    stopped = sorted(running_pids(settings))
    # A replaced component's group holds only what it left: a killed scheduler's
    # LocalExecutor workers, which inherited its SIGTERM handler and wait for the poison
    # pill it can no longer send. Nothing in it can stop in order, so it is killed.
    for group in processes["replaced_groups"]:
        _signal_group(group, signal.SIGKILL)
    groups = [*processes["components"].values(), *processes["replaced_groups"]]
    for group in processes["components"].values():
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _live_groups(groups):
        time.sleep(0.5)
    for group in _live_groups(groups):
        _signal_group(group, signal.SIGKILL)
    _pid_file(settings).unlink(missing_ok=True)
    return stopped


def _live_groups(groups: Iterable[int]) -> list[int]:
    """The process groups that still hold a process (a dead leader of our own is reaped
    first: a zombie still counts as a member)."""
    live = []
    for group in groups:
        _alive(group)
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            continue
        live.append(group)
    return live


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def admin_password(settings: Settings) -> str:
    path = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    if not path.exists():
        raise AirflowError(f"{path} does not exist: has the API server started?")
    return json.loads(path.read_text())[ADMIN_USER]


def wait_for_api(settings: Settings, *, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url(settings)}/api/v2/monitor/health", timeout=5):
                if (
                    settings.airflow_home / "simple_auth_manager_passwords.json.generated"
                ).exists():
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise AirflowError(
        f"Airflow API did not answer on {base_url(settings)} within {timeout_s:.0f}s; "
        f"see {settings.airflow_home / 'logs' / 'api-server.log'}"
    )


class ApiClient:
    """A minimal client of Airflow's REST API (v2), authenticated with a JWT."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._token = self._request(
            "POST",
            "/auth/token",
            {"username": ADMIN_USER, "password": admin_password(settings)},
            auth=False,
        )["access_token"]

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            base_url(self.settings) + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise AirflowError(
                f"{method} {path}: HTTP {exc.code}: {exc.read().decode()[:500]}"
            ) from None
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def wait_for_dags(self, dag_ids: Iterable[str], *, timeout_s: float = 180.0) -> None:
        """Wait until the DAG processor has parsed every DAG; fail on import errors."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            errors = self.get("/api/v2/importErrors")["import_errors"]
            if errors:
                details = "; ".join(f"{e['filename']}: {e['stack_trace'][-400:]}" for e in errors)
                raise AirflowError(f"DAG import errors: {details}")
            found = {d["dag_id"] for d in self.get("/api/v2/dags?limit=100")["dags"]}
            if wanted <= found:
                return
            time.sleep(2)
        raise AirflowError(f"DAGs {sorted(wanted)} not parsed within {timeout_s:.0f}s")

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True})

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
        run = self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"logical_date": logical_date, "conf": conf or {}},
        )
        return run["dag_run_id"]

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a run (as "Clear" in the UI): the scheduler runs it again."""
        from urllib.parse import quote

        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/clear"
        self._request("POST", path, {"dry_run": False, "only_failed": False})

    def backfill(self, dag_id: str, from_date: str, to_date: str) -> dict:
        """Airflow's own backfill of the runs with logical dates in [from, to], oldest first,
        one at a time, executed by the scheduler."""
        body = {
            "dag_id": dag_id,
            "from_date": from_date,
            "to_date": to_date,
            "run_backwards": False,
            "max_active_runs": 1,
            "reprocess_behavior": "completed",
        }
        return self._request("POST", "/api/v2/backfills", body)

    def dag_runs(self, dag_id: str) -> list[dict]:
        """The latest 100 runs, oldest first (by creation: queued runs have no start date yet)."""
        newest_first = self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-id&limit=100")
        return newest_first["dag_runs"][::-1]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        from urllib.parse import quote

        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=200"
        return self.get(path)["task_instances"]

    def wait_for_run(
        self,
        dag_id: str,
        *,
        run_id: str | None = None,
        ignore: Iterable[str] = (),
        timeout_s: float = 900.0,
    ) -> dict:
        """Wait for a run to finish: the given one, or else a new one (not in ``ignore``)."""
        ignore = set(ignore)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = [
                r
                for r in self.dag_runs(dag_id)
                if (r["dag_run_id"] == run_id if run_id else r["dag_run_id"] not in ignore)
            ]
            if runs and runs[-1]["state"] in TERMINAL_STATES:
                return runs[-1]
            time.sleep(3)
        raise AirflowError(
            f"{dag_id} run {run_id or '(any)'} did not finish within {timeout_s:.0f}s"
        )
