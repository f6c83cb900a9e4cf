"""Iterable's lists in the sandbox's state: a project's lists (`GET /api/lists`), their members (subscribe,
unsubscribe, `GET /api/lists/getUsers`), and the scope of a project's API key (a read-only key writes nothing).
The routes that answer them are api.py's.

Choices where Iterable's docs are silent (docs/architecture.md, "Iterable lists"): `updateExistingUsersOnly` is
honoured for emails and userIds alike (Iterable documents it for userId-based and hybrid projects; an email-based
project creates the user); unsubscribing a user who is not a member succeeds; a user deleted leaves every list;
getUsers names a member by email, or by userId when the user has none (or `preferUserId` asks for it).
"""

from __future__ import annotations

import time

from .user_batch import Outcome, UpdateResult, UserBatch, UserUpdate

LIST_TYPES = ("Standard", "Dynamic", "Suppression", "Internal")  # only Standard (static) lists take subscribers
KEY_SCOPES = ("standard", "read_only")


class ListRecords:
    """The lists part of IterableState (a SandboxDatabase with Iterable's schema)."""

    # --- the key's scope ------------------------------------------------------------

    def set_key_scope(self, project: str, scope: str) -> None:
        """What the project's API key may do: `standard` (read and write) or `read_only`."""
        if scope not in KEY_SCOPES:
            raise ValueError(f"scope must be one of {KEY_SCOPES}, not {scope!r}")
        with self._write() as db:
            if db.execute("UPDATE projects SET key_scope = ? WHERE name = ?", (scope, project)).rowcount == 0:
                raise ValueError(f"unknown project {project!r}")

    def key_scope(self, project: str) -> str:
        rows = self._read("SELECT key_scope FROM projects WHERE name = ?", (project,))
        return rows[0]["key_scope"] if rows else "standard"

    # --- lists ----------------------------------------------------------------------

    def add_list(self, project: str, name: str, *, list_type: str = "Standard", description: str | None = None,
                 now: float | None = None) -> int:
        """Create a list as the project's users would in Iterable's app; returns its id."""
        if list_type not in LIST_TYPES:
            raise ValueError(f"list_type must be one of {LIST_TYPES}, not {list_type!r}")
        with self._write() as db:
            if not db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone():
                raise ValueError(f"unknown project {project!r}")
            cursor = db.execute("INSERT INTO lists (project, name, list_type, description, created_at) "
                                "VALUES (?, ?, ?, ?, ?)",
                                (project, name, list_type, description, time.time() if now is None else now))
        return cursor.lastrowid

    def lists(self, project: str) -> list[dict]:
        """The project's lists as GET /api/lists describes them (createdAt in epoch milliseconds)."""
        rows = self._read("SELECT id, name, list_type, description, created_at FROM lists WHERE project = ? "
                          "ORDER BY id", (project,))
        described = []
        for row in rows:
            entry = {"id": row["id"], "name": row["name"], "listType": row["list_type"],
                     "createdAt": int(row["created_at"] * 1000)}
            if row["description"] is not None:
                entry["description"] = row["description"]
            described.append(entry)
        return described

    def list_of(self, project: str, list_id: int) -> dict | None:
        return next((entry for entry in self.lists(project) if entry["id"] == list_id), None)

    # --- members --------------------------------------------------------------------

    def subscribe(self, project: str, list_id: int, updates: list[UserUpdate], *, now: float, update_only: bool,
                  request_id: int | None = None) -> UpdateResult:
        """One subscribe request, in one transaction: each subscriber's user is updated as bulkUpdate would (its
        dataFields), or created unless `update_only`; every user updated or created becomes a member."""
        with self._write() as db:
            result = UserBatch(db, project, updates).run(created_by="api", now=now, update_only=update_only,
                                                         request_id=request_id)
            members = [update for update, outcome in zip(updates, result.outcomes)
                       if outcome in (Outcome.CREATED, Outcome.UPDATED)]
            rowids = [_user_rowid(db, project, update.email, update.user_id) for update in members]
            db.executemany("INSERT INTO list_members (list_id, user_rowid, subscribed_at, last_request_id) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [(list_id, rowid, now, request_id) for rowid in rowids])
        return result

    def unsubscribe(self, project: str, list_id: int, identities: list[tuple[str | None, str | None]]) -> list[bool]:
        """One unsubscribe request, in one transaction: per (email, userId), whether the user exists (a user who
        exists and is not a member is unsubscribed all the same)."""
        found = []
        with self._write() as db:
            for email, user_id in identities:
                rowid = _user_rowid(db, project, email.lower() if email is not None else None, user_id)
                found.append(rowid is not None)
                if rowid is not None:
                    db.execute("DELETE FROM list_members WHERE list_id = ? AND user_rowid = ?", (list_id, rowid))
        return found

    def list_members(self, project: str, list_id: int, *, prefer_user_id: bool = False) -> list[str]:
        """The members as getUsers names them: the email, or the userId when the user has none or when asked."""
        first, second = ("u.user_id", "u.email") if prefer_user_id else ("u.email", "u.user_id")
        rows = self._read(f"SELECT coalesce({first}, {second}) AS ident FROM list_members m "
                          "JOIN users u ON u.id = m.user_rowid JOIN lists l ON l.id = m.list_id "
                          "WHERE m.list_id = ? AND l.project = ? AND u.project = ? ORDER BY u.id",
                          (list_id, project, project))
        return [row["ident"] for row in rows]


def _user_rowid(db, project: str, email: str | None, user_id: str | None) -> int | None:
    column, value = ("email", email) if email is not None else ("user_id", user_id)
    row = db.execute(f"SELECT id FROM users WHERE project = ? AND {column} = ?", (project, value)).fetchone()
    return row["id"] if row else None
