"""Shared fixtures: every test gets its own NOTIFLOW_HOME."""

from __future__ import annotations

import datetime as dt

import pytest

from notiflow.settings import Settings

# A small, fixed window for tests.
START = dt.date(2026, 10, 1)


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("NOTIFLOW_HOME", str(tmp_path / "home"))
    return Settings.load()


@pytest.fixture
def small_world_settings(settings, monkeypatch) -> Settings:
    """Settings with a world small enough for unit tests."""
    monkeypatch.setenv("NOTIFLOW_SIM_USERS", "300")
    monkeypatch.setenv("NOTIFLOW_SIM_PINS", "60")
    return Settings.load()
