"""How long work reports progress: an observer passed in by the caller.

The CLI passes a terminal progress bar, the dashboard its own widgets; sync_core never draws anything."""

from __future__ import annotations

from typing import Protocol


class RunObserver(Protocol):
    def phase(self, name: str) -> None:
        """A new phase started: a run's query, record, lookup, sync, finish (runner.run_sync); a reconciliation's
        query, read, compare (reconcile/service.py)."""

    def progress(self, done: int, total: int) -> None:
        """Rows settled so far in the current phase, out of total."""

    def note(self, text: str) -> None:
        """Something the user should read (a config change, a retry)."""


class SilentObserver:
    def phase(self, name: str) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass
