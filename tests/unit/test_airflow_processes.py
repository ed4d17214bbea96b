"""The local Airflow's process bookkeeping: `stop` ends everything `start` and `restart`
began, the children of a component that was killed and started again included (a
SIGKILLed scheduler leaves its LocalExecutor workers running in its process group).

Components are stand-ins here (a shell that starts a child, as the scheduler starts its
workers): what is tested is the bookkeeping of real process groups, not Airflow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from notiflow.settings import Settings
from notiflow_airflow import local


@pytest.fixture
def settings(tmp_path, monkeypatch):
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path)})
    settings.airflow_home.mkdir(parents=True, exist_ok=True)

    def spawn_with_a_worker(settings, name, args):
        # as the scheduler's LocalExecutor workers: the worker ignores SIGTERM, and its
        # component ends it when it is itself stopped in order
        process = subprocess.Popen(
            ["bash", "-c", "trap 'kill -KILL $worker; exit 0' TERM; "
             "(trap '' TERM; exec sleep 300) & worker=$!; wait"],
            start_new_session=True,
        )  # fmt: skip
        return process.pid

    monkeypatch.setattr(local, "_spawn", spawn_with_a_worker)
    monkeypatch.setattr(local, "components", lambda settings: {"scheduler": [], "api-server": []})
    return settings


def _group_members(group: int) -> int:
    found = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True)
    return len(found.stdout.split())


def _wait_until(probe, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(settings: Settings) -> dict[str, int]:
    pids = {name: local._spawn(settings, name, []) for name in local.components(settings)}
    local._write_processes(settings, {"components": pids, "replaced_groups": []})
    for pid in pids.values():
        _wait_until(lambda pid=pid: _group_members(pid) == 2)  # the shell and its worker
    return pids


def test_restart_refuses_a_live_component(settings):
    pids = _start(settings)
    try:
        with pytest.raises(local.AirflowError, match=r"scheduler .* still running"):
            local.restart(settings, "scheduler")
    finally:
        local.stop(settings)
    assert all(_group_members(pid) == 0 for pid in pids.values())


def test_stop_ends_the_workers_a_killed_and_restarted_component_left(settings):
    pids = _start(settings)
    os.kill(pids["scheduler"], signal.SIGKILL)
    _wait_until(lambda: "scheduler" not in local.running_pids(settings))
    assert _group_members(pids["scheduler"]) == 1  # its worker lives on

    new_scheduler = local.restart(settings, "scheduler")
    assert new_scheduler != pids["scheduler"]
    assert local.running_pids(settings) == {
        "scheduler": new_scheduler,
        "api-server": pids["api-server"],
    }

    started = time.monotonic()
    assert local.stop(settings, timeout_s=120) == ["api-server", "scheduler"]
    # the orphaned worker is killed at once, not after the components' timeout
    assert time.monotonic() - started < 60
    for group in (pids["scheduler"], new_scheduler, pids["api-server"]):
        assert _group_members(group) == 0, group
    assert local.running_pids(settings) == {}
