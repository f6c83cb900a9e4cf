"""Faults kept in the sandbox's state file, so a test or `sync-core sandbox --fault` in another process can add
or clear them while a server runs, and every server of the file counts the same request numbers."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from .database import SandboxDatabase, Schema
from .faults import Fault, FaultCatalog

FAULTS_SCHEMA = Schema("faults", (
    (
        # seen and hits count the requests a fault matched and answered since it was added
        """CREATE TABLE faults (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint TEXT NOT NULL,
            kind TEXT NOT NULL,
            after INTEGER NOT NULL,
            times INTEGER,
            probability REAL NOT NULL,
            seed INTEGER NOT NULL,
            params TEXT NOT NULL,
            seen INTEGER NOT NULL DEFAULT 0,
            hits INTEGER NOT NULL DEFAULT 0
        )""",
    ),
), legacy_versions={2: 1})

# Faults that can still answer a request of an endpoint, oldest first (the oldest wins).
_LIVE_FAULTS = (
    "SELECT * FROM faults WHERE endpoint IN (?, '*') AND (times IS NULL OR hits < times) ORDER BY id"
)


class FaultStore(SandboxDatabase):
    """Adding, listing and taking faults; the vendor's state class names its catalog."""

    FAULTS: FaultCatalog

    def add_fault(
        self,
        endpoint: str,
        kind: str,
        *,
        after: int = 0,
        times: int | None = None,
        probability: float = 1.0,
        seed: int = 0,
        **params: Any,
    ) -> int:
        """Inject a fault into requests of `endpoint` (or "*"); returns its id."""
        selection = {"after": after, "times": times, "probability": probability, "seed": seed}
        complete = self.FAULTS.validated_params(endpoint, kind, selection, params)
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO faults (endpoint, kind, after, times, probability, seed, params)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (endpoint, kind, after, times, probability, seed, json.dumps(complete)),
            )
        return cursor.lastrowid

    def clear_faults(self) -> None:
        with self._write() as db:
            db.execute("DELETE FROM faults")

    def faults(self) -> list[dict]:
        """Every fault with its counters (seen, hits), oldest first."""
        rows = self._read("SELECT * FROM faults ORDER BY id")
        return [asdict(_fault_from_row(row)) for row in rows]

    def take_fault(self, endpoint: str, body: bytes) -> Fault | None:
        """The fault that answers this request, if any, counting it for every fault it matches.

        Without live faults this is one small read; counting is one write transaction, so
        concurrent requests, and servers in other processes, never share a request number.
        """
        if not self._read(_LIVE_FAULTS, (endpoint,)):
            return None
        with self._write() as db:
            live = [_fault_from_row(row) for row in db.execute(_LIVE_FAULTS, (endpoint,))]
            matching = [fault for fault in live if self.FAULTS.matches(fault, body)]
            chosen = next((fault for fault in matching if fault.hits_next()), None)
            db.executemany(
                "UPDATE faults SET seen = seen + 1, hits = hits + ? WHERE id = ?",
                [(int(fault is chosen), fault.id) for fault in matching],
            )
        return chosen


def _fault_from_row(row: sqlite3.Row) -> Fault:
    return Fault(**{**dict(row), "params": json.loads(row["params"])})
