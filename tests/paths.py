"""Paths of the checkout the tests run from (the code itself never uses its checkout's path)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
