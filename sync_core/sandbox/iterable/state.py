"""What an Iterable sandbox knows: projects with their API keys, their users, events (events.py) and lists
(lists.py), in the sandbox's state file (with the request log and faults every sandbox has).

Within a process one connection is shared behind a lock; another process (a demo script creating users) may
write while a server runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Iterator

from ..core import SandboxStore
from .events import EventRecords
from .faults import FAULTS
from .lists import ListRecords
from .schema import ITERABLE_SCHEMA
from .user_batch import Outcome, UpdateResult, UserBatch, UserUpdate

_USER_COLUMNS = (
    "id, email, user_id, data_fields, profile_updated_at, created_at, created_by, last_request_id"
)
# A member of an exported line, per identity field: NULL (left out) when the user has no such value.
_IDENTITY_JSON = {
    "email": """CASE WHEN email IS NOT NULL THEN '"email": ' || json_quote(email) END""",
    "userId": """CASE WHEN user_id IS NOT NULL THEN '"userId": ' || json_quote(user_id) END""",
    "profileUpdatedAt": """'"profileUpdatedAt": ' ||"""
    """ json_quote(strftime('%Y-%m-%d %H:%M:%S +00:00', profile_updated_at, 'unixepoch'))""",
}


class IterableState(ListRecords, EventRecords, SandboxStore):
    SCHEMAS = SandboxStore.CORE_SCHEMAS + (ITERABLE_SCHEMA,)
    FAULTS = FAULTS
    WRITE_ENDPOINT = "users/bulkUpdate"

    # --- projects -------------------------------------------------------------------

    def add_project(self, name: str, api_key: str, *, rate_limits: bool = True) -> None:
        """Create the project, or give an existing one this key (rate_limits apply on creation)."""
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO projects (name, api_key, rate_limits) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET api_key = excluded.api_key",
                    (name, api_key, int(rate_limits)),
                )
        except sqlite3.IntegrityError as error:
            raise ValueError(f"API key already belongs to another project: {error}") from None

    def project_for_key(self, api_key: str) -> str | None:
        rows = self._read("SELECT name FROM projects WHERE api_key = ?", (api_key,))
        return rows[0]["name"] if rows else None

    def set_rate_limits(self, project: str, enabled: bool) -> None:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE projects SET rate_limits = ? WHERE name = ?", (int(enabled), project)
            )
        if cursor.rowcount == 0:
            raise ValueError(f"unknown project {project!r}")

    def rate_limits_enabled(self, project: str) -> bool:
        rows = self._read("SELECT rate_limits FROM projects WHERE name = ?", (project,))
        return bool(rows and rows[0]["rate_limits"])

    # --- users ----------------------------------------------------------------------

    def upsert_users(
        self,
        project: str,
        users: list[dict],
        *,
        created_by: str = "product",
        now: float | None = None,
    ) -> None:
        """Write users as the product would, bypassing the HTTP API; all or nothing."""
        updates = [
            UserUpdate(user.get("email"), user.get("userId"), user.get("dataFields") or {})
            for user in users
        ]
        if any(not (update.email or update.user_id) for update in updates):
            raise ValueError("every user needs an email or a userId")
        with self._write() as db:
            if not db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone():
                raise ValueError(f"unknown project {project!r}")
            result = UserBatch(db, project, updates).run(
                created_by=created_by, now=time.time() if now is None else now
            )
            refused = [
                (update.email or update.user_id, outcome.value)
                for update, outcome in zip(updates, result.outcomes)
                if outcome not in (Outcome.CREATED, Outcome.UPDATED)
            ]
            if refused:
                raise ValueError(f"users refused: {refused}")

    def apply_user_updates(
        self,
        project: str,
        updates: list[UserUpdate],
        *,
        now: float,
        update_only: bool = False,
        create_new_fields: bool = True,
        request_id: int | None = None,
    ) -> UpdateResult:
        """Apply one API request's updates in one transaction; refused users are skipped."""
        with self._write() as db:
            return UserBatch(db, project, updates).run(
                created_by="api",
                now=now,
                update_only=update_only,
                create_new_fields=create_new_fields,
                request_id=request_id,
            )

    def get_user(
        self, project: str, *, email: str | None = None, user_id: str | None = None
    ) -> dict | None:
        column, value = _identity(email, user_id)
        rows = self._read(
            f"SELECT {_USER_COLUMNS} FROM users WHERE project = ? AND {column} = ?",
            (project, value),
        )
        return _user_from_row(rows[0]) if rows else None

    def users(self, project: str) -> list[dict]:
        return list(self.iter_users(project))

    def iter_users(
        self,
        project: str,
        *,
        updated_from: float | None = None,
        updated_before: float | None = None,
        page_size: int = 1000,
    ) -> Iterator[dict]:
        """Users in creation order, read a page at a time so huge projects stream."""
        where, params = _updated_between(project, updated_from, updated_before)
        sql = (
            f"SELECT {_USER_COLUMNS} FROM users WHERE {where} AND id > ? ORDER BY id LIMIT ?"
        )
        last_id = 0
        while True:
            page = self._read(sql, (*params, last_id, page_size))
            yield from (_user_from_row(row) for row in page)
            if len(page) < page_size:
                return
            last_id = page[-1]["id"]

    def identity_lines(
        self,
        project: str,
        fields: list[str],
        *,
        updated_from: float | None = None,
        updated_before: float | None = None,
        page_size: int = 10_000,
    ) -> Iterator[bytes]:
        """JSON lines holding only `fields` (of email, userId, profileUpdatedAt; a user lacking one leaves it
        out), in creation order, a page at a time. SQLite writes the lines: an export of 500k identifiers is
        a fraction of a second, not seconds of Python (as Iterable's own servers would not compete with the
        client for its CPU)."""
        where, params = _updated_between(project, updated_from, updated_before)
        members = " || ".join(f"coalesce(', ' || {_IDENTITY_JSON[name]}, '')" for name in fields) or "''"
        sql = (
            "SELECT group_concat(line, char(10)) || char(10), MAX(id), COUNT(*) FROM ("
            f"SELECT id, '{{' || substr({members}, 3) || '}}' AS line FROM users"
            f" WHERE {where} AND id > ? ORDER BY id LIMIT ?)"
        )
        last_id = 0
        while True:
            text, last_id, count = self._read(sql, (*params, last_id, page_size))[0]
            if count:
                yield text.encode()
            if count < page_size:
                return

    def delete_user(
        self, project: str, *, email: str | None = None, user_id: str | None = None
    ) -> bool:
        column, value = _identity(email, user_id)
        with self._write() as db:
            cursor = db.execute(
                f"DELETE FROM users WHERE project = ? AND {column} = ?", (project, value)
            )
        return cursor.rowcount > 0

    def user_count(self, project: str) -> int:
        return self._read("SELECT count(*) FROM users WHERE project = ?", (project,))[0][0]


def _identity(email: str | None, user_id: str | None) -> tuple[str, str]:
    if (email is None) == (user_id is None):
        raise ValueError("give exactly one of email or user_id")
    return ("email", email.lower()) if email is not None else ("user_id", user_id)


def _updated_between(project: str, updated_from: float | None, updated_before: float | None) -> tuple[str, list]:
    """A WHERE clause (and its parameters) for a project's users updated in [updated_from, updated_before)."""
    conditions, params = ["project = ?"], [project]
    if updated_from is not None:
        conditions.append("profile_updated_at >= ?")
        params.append(updated_from)
    if updated_before is not None:
        conditions.append("profile_updated_at < ?")
        params.append(updated_before)
    return " AND ".join(conditions), params


def _user_from_row(row: sqlite3.Row) -> dict:
    return {
        "email": row["email"],
        "userId": row["user_id"],
        "dataFields": json.loads(row["data_fields"]),
        "profileUpdatedAt": row["profile_updated_at"],
        "createdAt": row["created_at"],
        "createdBy": row["created_by"],
        "lastRequestId": row["last_request_id"],
    }
