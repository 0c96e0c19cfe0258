"""Shared pytest fixtures: the repository root and per-test ROS isolation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def ros_env(worker_domain_id: int) -> dict[str, str]:
    """Environment for ROS child processes: a domain of their own, localhost only."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(worker_domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


_next_domain = iter(range(40, 100))


@pytest.fixture()
def worker_domain_id() -> int:
    """A fresh ROS domain id per test, so tests never hear each other's topics."""
    return next(_next_domain)


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable
