"""Shared pytest fixtures: the repository root and per-test ROS isolation."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tests run next to node processes they start themselves; two torch threads per process on a
# two-core machine oversubscribes the cores and can make a step 10-100x slower.
torch.set_num_threads(1)


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


_domain_counter = itertools.count()


@pytest.fixture()
def worker_domain_id() -> int:
    """A fresh ROS domain id per test (1..200, offset by the pytest process id), so tests and
    concurrent pytest runs on one machine never hear each other's topics."""
    return 1 + (os.getpid() * 37 + next(_domain_counter)) % 200


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable
