"""Everything the sandbox knows, in one SQLite file shared with other processes.

The file is opened in WAL mode with a 10 s busy timeout and every write is one short
`BEGIN IMMEDIATE` transaction, so a demo script can create users while a server runs.
Within a process one connection is shared behind a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from ..wal import use_wal, write_transaction
from .faults import Fault, validated_params

# One list of statements per schema version; a file at version N gets the lists after N.
_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE projects (
            name TEXT PRIMARY KEY,
            api_key TEXT NOT NULL UNIQUE,
            rate_limits INTEGER NOT NULL DEFAULT 1
        )""",
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            project TEXT NOT NULL,
            email TEXT,
            user_id TEXT,
            data_fields TEXT NOT NULL,
            profile_updated_at REAL NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL CHECK (created_by IN ('api', 'product')),
            last_request_id INTEGER,
            CHECK (email IS NOT NULL OR user_id IS NOT NULL)
        )""",
        # SQLite treats NULLs as distinct, so users without an email or userId do not collide.
        "CREATE UNIQUE INDEX users_by_email ON users (project, email)",
        "CREATE UNIQUE INDEX users_by_user_id ON users (project, user_id)",
        # (project, rowid) order: lets paged reads seek instead of sorting a whole project
        "CREATE INDEX users_by_project ON users (project)",
        # category stays NULL until the field is first given a non-null value
        """CREATE TABLE fields (
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            category TEXT,
            PRIMARY KEY (project, name)
        ) WITHOUT ROWID""",
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
    ],
    [
        # fault: the kind of fault that answered the request; stored: JSON list of the
        # identifiers whose update was stored (emails lowercased)
        "ALTER TABLE requests ADD COLUMN fault TEXT",
        "ALTER TABLE requests ADD COLUMN stored TEXT",
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
    ],
]
SCHEMA_VERSION = len(_MIGRATIONS)

_LOOKUP_CHUNK = 500  # stays well under SQLite's bound-parameter limit
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
# Faults that can still answer a request of an endpoint, oldest first (the oldest wins).
_LIVE_FAULTS = (
    "SELECT * FROM faults WHERE endpoint IN (?, '*') AND (times IS NULL OR hits < times)"
    " ORDER BY id"
)


class Outcome(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    NOT_FOUND = "not_found"
    TYPE_MISMATCH = "type_mismatch"
    CONFLICT = "conflict"  # the userId already belongs to another user


@dataclass
class UserUpdate:
    email: str | None
    user_id: str | None
    data_fields: dict[str, Any]
    merge_nested: bool = False

    def __post_init__(self) -> None:
        if self.email is not None:
            self.email = self.email.lower()  # emails are matched case-insensitively


@dataclass
class UpdateResult:
    outcomes: list[Outcome]  # one per update, in order
    created_fields: list[str] = field(default_factory=list)
    filtered_out_fields: list[str] = field(default_factory=list)


def field_category(value: Any) -> str:
    """The JSON type category a project remembers for a field (dates are strings)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class SandboxState:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 10000")
        use_wal(self._db)
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; skips fsyncs
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_transaction(self._db) as db:
            yield db

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}; this code knows {SCHEMA_VERSION}"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
            result = _UserBatch(db, project, updates).run(
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
            return _UserBatch(db, project, updates).run(
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

    # --- request log ----------------------------------------------------------------

    def begin_request(self, *, at: float, method: str, path: str) -> int:
        """Log a request as it arrives, so writes it makes can point at its id."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO requests (at, method, path) VALUES (?, ?, ?)", (at, method, path)
            )
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
                (
                    project,
                    endpoint,
                    status,
                    code,
                    items,
                    _json_or_none(identifiers),
                    _json_or_none(stored),
                    fault,
                    duration_ms,
                    request_id,
                ),
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
        self, project: str, *, endpoint: str = "users/bulkUpdate", since_id: int = 0
    ) -> set[str]:
        """Every identifier whose update a logged request stored (emails lowercased)."""
        rows = self._read(
            "SELECT stored FROM requests WHERE project = ? AND endpoint = ? AND id > ?"
            " AND stored IS NOT NULL",
            (project, endpoint, since_id),
        )
        return {identifier for row in rows for identifier in json.loads(row["stored"])}

    def busiest_second(
        self, project: str, *, endpoint: str | None = None, since_id: int = 0
    ) -> int:
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

    # --- faults ---------------------------------------------------------------------

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
        complete = validated_params(endpoint, kind, selection, params)
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
            matching = [fault for fault in live if fault.matches(body)]
            chosen = next((fault for fault in matching if fault.hits_next()), None)
            db.executemany(
                "UPDATE faults SET seen = seen + 1, hits = hits + ? WHERE id = ?",
                [(int(fault is chosen), fault.id) for fault in matching],
            )
        return chosen


def _json_or_none(value: list | None) -> str | None:
    return None if value is None else json.dumps(value)


def _fault_from_row(row: sqlite3.Row) -> Fault:
    return Fault(**{**dict(row), "params": json.loads(row["params"])})


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


def _merge(current: dict, changes: dict, *, nested: bool) -> dict:
    merged = dict(current)
    for key, value in changes.items():
        if nested and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, nested=True)
        else:
            merged[key] = value
    return merged


class _UserBatch:
    """One batch of updates inside an open transaction.

    Loads every user the batch names with a few IN queries, applies the updates in memory
    (so a user named twice sees its first update), then writes back with executemany.
    """

    def __init__(self, db: sqlite3.Connection, project: str, updates: list[UserUpdate]) -> None:
        self.db, self.project, self.updates = db, project, updates
        self.by_email: dict[str, dict] = {}
        self.by_user_id: dict[str, dict] = {}
        self.touched: dict[int, dict] = {}  # id(record) -> record
        self.field_categories: dict[str, str | None] = dict(
            db.execute("SELECT name, category FROM fields WHERE project = ?", (project,))
        )
        self.changed_fields: dict[str, str | None] = {}
        self._load_existing()

    def _load_existing(self) -> None:
        for column, values in (
            ("email", {u.email for u in self.updates if u.email}),
            ("user_id", {u.user_id for u in self.updates if u.user_id}),
        ):
            values = list(values)
            for start in range(0, len(values), _LOOKUP_CHUNK):
                chunk = values[start : start + _LOOKUP_CHUNK]
                rows = self.db.execute(
                    "SELECT id, email, user_id, data_fields, created_at FROM users"
                    f" WHERE project = ? AND {column} IN ({','.join('?' * len(chunk))})",
                    (self.project, *chunk),
                )
                for row in rows:
                    if row["email"] in self.by_email or row["user_id"] in self.by_user_id:
                        continue  # already loaded through its other identifier
                    self._remember(
                        {
                            "rowid": row["id"],
                            "email": row["email"],
                            "user_id": row["user_id"],
                            "data": json.loads(row["data_fields"]),
                            "created_at": row["created_at"],
                        }
                    )

    def _remember(self, record: dict) -> None:
        if record["email"]:
            self.by_email[record["email"]] = record
        if record["user_id"]:
            self.by_user_id[record["user_id"]] = record

    def run(
        self,
        *,
        created_by: str,
        now: float,
        update_only: bool = False,
        create_new_fields: bool = True,
        request_id: int | None = None,
    ) -> UpdateResult:
        result = UpdateResult(outcomes=[])
        for update in self.updates:
            result.outcomes.append(self._apply(update, now, update_only, create_new_fields, result))
        self._write(created_by, now, request_id)
        return result

    def _apply(
        self,
        update: UserUpdate,
        now: float,
        update_only: bool,
        create_new_fields: bool,
        result: UpdateResult,
    ) -> Outcome:
        if update.email:
            record = self.by_email.get(update.email)
        else:
            record = self.by_user_id.get(update.user_id)
        if record is None and update_only:
            return Outcome.NOT_FOUND
        # An email-identified update may give a user its userId, unless another user holds it.
        claims_user_id = bool(
            update.email and update.user_id and (record is None or record["user_id"] is None)
        )
        if claims_user_id and update.user_id in self.by_user_id:
            return Outcome.CONFLICT

        changes = update.data_fields
        if not create_new_fields:
            changes = self._drop_new_fields(changes, result)
        if not self._types_match(changes):
            return Outcome.TYPE_MISMATCH
        self._register_fields(changes, result)

        outcome = Outcome.UPDATED
        if record is None:
            outcome = Outcome.CREATED
            record = {"rowid": None, "email": update.email, "user_id": update.user_id, "data": {},
                      "created_at": now}
        if claims_user_id:
            record["user_id"] = update.user_id
        record["data"] = _merge(record["data"], changes, nested=update.merge_nested)
        self._remember(record)
        self.touched[id(record)] = record
        return outcome

    def _drop_new_fields(self, changes: dict, result: UpdateResult) -> dict:
        kept = {}
        for name, value in changes.items():
            if name in self.field_categories:
                kept[name] = value
            elif name not in result.filtered_out_fields:
                result.filtered_out_fields.append(name)
        return kept

    def _types_match(self, changes: dict) -> bool:
        for name, value in changes.items():
            known = self.field_categories.get(name)
            if value is not None and known is not None and known != field_category(value):
                return False
        return True

    def _register_fields(self, changes: dict, result: UpdateResult) -> None:
        for name, value in changes.items():
            category = None if value is None else field_category(value)
            is_new = name not in self.field_categories
            if is_new:
                result.created_fields.append(name)
            if is_new or (self.field_categories[name] is None and category is not None):
                self.field_categories[name] = category
                self.changed_fields[name] = category

    def _write(self, created_by: str, now: float, request_id: int | None) -> None:
        inserts, updates = [], []
        for record in self.touched.values():
            data = json.dumps(record["data"], separators=(",", ":"))
            if record["rowid"] is None:
                inserts.append(
                    (self.project, record["email"], record["user_id"], data, now,
                     record["created_at"], created_by, request_id)
                )
            else:
                updates.append((record["user_id"], data, now, request_id, record["rowid"]))
        self.db.executemany(
            "INSERT INTO users (project, email, user_id, data_fields, profile_updated_at,"
            " created_at, created_by, last_request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        self.db.executemany(
            "UPDATE users SET user_id = ?, data_fields = ?, profile_updated_at = ?,"
            " last_request_id = ? WHERE id = ?",
            updates,
        )
        self.db.executemany(
            "INSERT INTO fields (project, name, category) VALUES (?, ?, ?)"
            " ON CONFLICT (project, name) DO UPDATE SET category = excluded.category",
            [(self.project, name, category) for name, category in self.changed_fields.items()],
        )
