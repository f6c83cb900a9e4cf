"""The request log: every request a sandbox answers (or leaves unanswered), in its state file, for tests to read.

A row is written when the request arrives, so the writes it makes can point at its id, and completed when it is
answered. `project` is the vendor's account the API key belongs to (an Iterable project); `identifiers` are the
records the request named, `stored` those whose write was stored.
"""

from __future__ import annotations

import json
from typing import Any

from .database import SandboxDatabase, Schema

REQUEST_LOG_SCHEMA = Schema("request_log", (
    (
        # status stays NULL while a request is in flight (or if it was never answered)
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            project TEXT,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            endpoint TEXT,
            status INTEGER,
            code TEXT,
            items INTEGER,
            identifiers TEXT,
            duration_ms REAL
        )""",
        "CREATE INDEX requests_by_endpoint ON requests (endpoint, id)",
    ),
    (
        # fault: the kind of fault that answered the request; stored: JSON list of the
        # identifiers whose write was stored (as the vendor matches them: Iterable emails lowercased)
        "ALTER TABLE requests ADD COLUMN fault TEXT",
        "ALTER TABLE requests ADD COLUMN stored TEXT",
    ),
), legacy_versions={1: 1, 2: 2})


class RequestLog(SandboxDatabase):
    """Writing and reading the request log."""

    WRITE_ENDPOINT: str | None = None  # the vendor's bulk write: what stored_identifiers reads unless told

    def begin_request(self, *, at: float, method: str, path: str) -> int:
        """Log a request as it arrives, so writes it makes can point at its id."""
        with self._write() as db:
            cursor = db.execute("INSERT INTO requests (at, method, path) VALUES (?, ?, ?)", (at, method, path))
        return cursor.lastrowid

    def finish_request(
        self,
        request_id: int,
        *,
        project: str | None,
        endpoint: str,
        status: int | None,
        code: str | None,
        items: int | None = None,
        identifiers: list[str] | None = None,
        stored: list[str] | None = None,
        fault: str | None = None,
        duration_ms: float,
    ) -> None:
        """Record the answer; status None means the connection was closed without one."""
        with self._write() as db:
            db.execute(
                "UPDATE requests SET project = ?, endpoint = ?, status = ?, code = ?, items = ?,"
                " identifiers = ?, stored = ?, fault = ?, duration_ms = ? WHERE id = ?",
                (project, endpoint, status, code, items, _json_or_none(identifiers), _json_or_none(stored), fault,
                 duration_ms, request_id),
            )

    def requests(self, *, endpoint: str | None = None, since_id: int = 0) -> list[dict]:
        """Logged requests with id > since_id, oldest first."""
        sql, params = "SELECT * FROM requests WHERE id > ?", [since_id]
        if endpoint is not None:
            sql += " AND endpoint = ?"
            params.append(endpoint)
        rows = self._read(sql + " ORDER BY id", tuple(params))
        return [
            {
                **dict(row),
                "identifiers": row["identifiers"] and json.loads(row["identifiers"]),
                "stored": row["stored"] and json.loads(row["stored"]),
            }
            for row in rows
        ]

    def last_request_id(self) -> int:
        return self._read("SELECT coalesce(max(id), 0) FROM requests")[0][0]

    def stored_identifiers(
        self, project: str, *, endpoint: str | None = None, since_id: int = 0
    ) -> set[str]:
        """Every identifier whose write a logged request (to WRITE_ENDPOINT unless told) stored."""
        endpoint = endpoint or self.WRITE_ENDPOINT
        rows = self._read(
            "SELECT stored FROM requests WHERE project = ? AND endpoint = ? AND id > ?"
            " AND stored IS NOT NULL",
            (project, endpoint, since_id),
        )
        return {identifier for row in rows for identifier in json.loads(row["stored"])}

    def busiest_second(self, project: str, *, endpoint: str | None = None, since_id: int = 0) -> int:
        """The most answered requests whose arrival times fit in any window [t, t + 1 s)."""
        sql = "SELECT at FROM requests WHERE project = ? AND id > ? AND status IS NOT NULL"
        params: list[Any] = [project, since_id]
        if endpoint is not None:
            sql += " AND endpoint = ?"
            params.append(endpoint)
        times = [row["at"] for row in self._read(sql + " ORDER BY at", tuple(params))]
        busiest, first = 0, 0
        for last, at in enumerate(times):
            while times[first] <= at - 1.0:
                first += 1
            busiest = max(busiest, last - first + 1)
        return busiest


def _json_or_none(value: list | None) -> str | None:
    return None if value is None else json.dumps(value)
