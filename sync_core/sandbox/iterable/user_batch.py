"""One bulkUpdate's worth of user writes, applied as Iterable applies them, inside an open transaction.

Iterable matches emails case-insensitively, lets an email-identified update give a user its userId (unless
another user holds it), remembers each field's type per project and refuses a user whose value has another
type, and merges dataFields (nested objects too, when asked).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

_LOOKUP_CHUNK = 500  # stays well under SQLite's bound-parameter limit


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


def _merge(current: dict, changes: dict, *, nested: bool) -> dict:
    merged = dict(current)
    for key, value in changes.items():
        if nested and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, nested=True)
        else:
            merged[key] = value
    return merged


class UserBatch:
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
