"""Shared fixtures: a real Iterable sandbox on loopback and demo workspaces wired to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo_helpers import demo_workspace


@pytest.fixture
def demo(tmp_path: Path):
    """A fresh demo workspace and its sandbox, serving on a free port (rate limits on, as in real life)."""
    with demo_workspace(tmp_path) as d:
        yield d


