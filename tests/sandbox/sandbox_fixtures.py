"""Fixtures shared by the sandbox's tests: a server on a free port with a manual clock, and an HTTP session."""

from __future__ import annotations

import pytest
import requests

from sync_core.sandbox import ManualClock, IterableSandbox

PROJECT = "demo"
API_KEY = "demo-key"
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "sandbox.db"


@pytest.fixture
def server(state_path, clock):
    with IterableSandbox(state_path, clock=clock) as running:
        running.state.add_project(PROJECT, API_KEY)
        yield running


@pytest.fixture
def http():
    with requests.Session() as session:
        session.headers["Api-Key"] = API_KEY
        yield session
