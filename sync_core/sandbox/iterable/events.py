"""Iterable's custom events in the sandbox: `POST /api/events/trackBulk` with its documented answer and limits,
events stored by id (the same id replaces the event), `GET /api/events/{email}` and `/api/events/byUserId/{id}`,
and the export's `customEvent` lines, which carry each event's id.

Choices where Iterable's docs are silent (unconfirmed against a real project): `updateOnly: true` makes an
event for an unknown user a `failedUpdates.notFound*` entry, as bulkUpdate's does; without it an event for an
unknown email creates the user (an email-based project), and one for an unknown userId is not found. An event
without an id gets one. A project can refuse event names (answered in `disallowedEventNames`) and data fields
(dropped, answered in `filteredOutFields`): `block_event_name`, `filter_event_field`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any, Iterable, Iterator

from ..core import Call, Reply, json_reply
from .user_batch import UserBatch, UserUpdate

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_EVENT_ID_BYTES = 512
MAX_USER_ID_LENGTH = 512
EVENTS_LIMIT = (1, 200)  # GET /api/events/{email}?limit=
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_LOOKUP_CHUNK = 500
_EVENT_COLUMNS = "id, event_name, email, user_id, created_at, data_fields, stored_at, last_request_id"
_FAILED_LISTS = ("invalidEmails", "invalidUserIds", "notFoundEmails", "notFoundUserIds", "forgottenEmails",
                 "forgottenUserIds")


class EventRecords:
    """The events part of IterableState (a SandboxDatabase with Iterable's schema)."""

    def block_event_name(self, project: str, name: str) -> None:
        """The project refuses events of this name, as its event name settings would."""
        self._add_filter(project, "event_name", name)

    def filter_event_field(self, project: str, name: str) -> None:
        """The project drops this data field from events it stores."""
        self._add_filter(project, "field", name)

    def _add_filter(self, project: str, kind: str, name: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO event_filters (project, kind, name) VALUES (?, ?, ?)",
                       (project, kind, name))

    def track_events(self, project: str, events: list, *, now: float, update_only: bool,
                     request_id: int | None = None) -> tuple[dict, list[str]]:
        """Apply one trackBulk's events in one transaction: its answer, and the ids of the events stored."""
        answer = {"successCount": 0, "failCount": 0, "disallowedEventNames": [], "filteredOutFields": [],
                  "createdFields": [], "invalidEmails": [], "invalidUserIds": [],
                  "failedUpdates": {name: [] for name in _FAILED_LISTS}}
        failed, stored = answer["failedUpdates"], []
        with self._write() as db:
            blocked = {kind: set() for kind in ("event_name", "field")}
            for kind, name in db.execute("SELECT kind, name FROM event_filters WHERE project = ?", (project,)):
                blocked[kind].add(name)
            users = _Users(db, project, events)
            rows = []
            for index, event in enumerate(events):
                problem = _refusal(event)
                if problem is not None:
                    list_name, value = problem
                    if list_name:
                        failed[list_name].append(value)
                    continue
                name = event["eventName"]
                if name in blocked["event_name"]:
                    if name not in answer["disallowedEventNames"]:
                        answer["disallowedEventNames"].append(name)
                    continue
                email, user_id = event.get("email"), event.get("userId")
                user = users.find(email, user_id)
                if user is None and email is not None and not update_only:
                    user = users.create(email, now, request_id)
                if user is None:
                    failed["notFoundEmails" if email is not None else "notFoundUserIds"].append(
                        email if email is not None else user_id)
                    continue
                fields = {}
                for field, value in (event.get("dataFields") or {}).items():
                    if field in blocked["field"]:
                        if field not in answer["filteredOutFields"]:
                            answer["filteredOutFields"].append(field)
                    else:
                        fields[field] = value
                event_id = str(event.get("id") or f"sandbox-{request_id}-{index}")
                created_at = event.get("createdAt")
                rows.append((project, event_id, name, user["email"], user["user_id"],
                             float(created_at if created_at is not None else now),
                             json.dumps(fields, separators=(",", ":")), now, request_id))
                stored.append(event_id)
            db.executemany(
                f"INSERT INTO events (project, {_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (project, id) DO UPDATE SET event_name = excluded.event_name, email = excluded.email,"
                " user_id = excluded.user_id, created_at = excluded.created_at, data_fields = excluded.data_fields,"
                " stored_at = excluded.stored_at, last_request_id = excluded.last_request_id", rows)
        answer["successCount"] = len(stored)
        answer["failCount"] = len(events) - len(stored)
        answer["invalidEmails"], answer["invalidUserIds"] = failed["invalidEmails"], failed["invalidUserIds"]
        return answer, stored

    def events(self, project: str, *, email: str | None = None, user_id: str | None = None,
               limit: int | None = None) -> list[dict]:
        """A project's events (of one user, when given), newest first."""
        where, params = ["project = ?"], [project]
        if email is not None:
            where.append("email = ?")
            params.append(email.lower())
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY created_at DESC, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_event_from_row(row) for row in self._read(sql, tuple(params))]

    def iter_events(self, project: str, *, created_from: float | None = None, created_before: float | None = None,
                    page_size: int = 1000) -> Iterator[dict]:
        """Events with createdAt in [created_from, created_before), a page at a time, in id order."""
        where, params = "project = ?", [project]
        if created_from is not None:
            where, params = where + " AND created_at >= ?", params + [created_from]
        if created_before is not None:
            where, params = where + " AND created_at < ?", params + [created_before]
        last = ""
        while True:
            page = self._read(f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} AND id > ? ORDER BY id LIMIT ?",
                              (*params, last, page_size))
            yield from (_event_from_row(row) for row in page)
            if len(page) < page_size:
                return
            last = page[-1]["id"]

    def delete_event(self, project: str, event_id: str) -> bool:
        """Delete one event, as someone cleaning up the project by hand would (the API offers no such call)."""
        with self._write() as db:
            return db.execute("DELETE FROM events WHERE project = ? AND id = ?", (project, event_id)).rowcount > 0

    def event_count(self, project: str) -> int:
        return self._read("SELECT count(*) FROM events WHERE project = ?", (project,))[0][0]


class _Users:
    """The users one trackBulk names, loaded with a few IN queries; users it creates are written at once."""

    def __init__(self, db: sqlite3.Connection, project: str, events: list):
        self.db, self.project = db, project
        self.by_email: dict[str, dict] = {}
        self.by_user_id: dict[str, dict] = {}
        for column, values in (("email", {e["email"].lower() for e in events if _text(e, "email")}),
                               ("user_id", {e["userId"] for e in events if _text(e, "userId")})):
            values = sorted(values)
            for start in range(0, len(values), _LOOKUP_CHUNK):
                chunk = values[start:start + _LOOKUP_CHUNK]
                for row in db.execute(f"SELECT email, user_id FROM users WHERE project = ? AND {column} IN "
                                      f"({','.join('?' * len(chunk))})", (project, *chunk)):
                    self._remember(row["email"], row["user_id"])

    def _remember(self, email: str | None, user_id: str | None) -> dict:
        user = {"email": email, "user_id": user_id}
        if email:
            self.by_email[email] = user
        if user_id:
            self.by_user_id[user_id] = user
        return user

    def find(self, email: str | None, user_id: str | None) -> dict | None:
        return self.by_email.get(email.lower()) if email is not None else self.by_user_id.get(user_id)

    def create(self, email: str, now: float, request_id: int | None) -> dict:
        UserBatch(self.db, self.project, [UserUpdate(email, None, {})]).run(created_by="api", now=now,
                                                                          request_id=request_id)
        return self._remember(email.lower(), None)


def _text(event: Any, key: str) -> bool:
    return isinstance(event, dict) and isinstance(event.get(key), str)


def _refusal(event: Any) -> tuple[str | None, Any] | None:
    """Why an event cannot be stored: (failedUpdates list or None for failCount only, value), or None."""
    if not isinstance(event, dict) or not isinstance(event.get("dataFields") or {}, dict):
        return None, None
    if not isinstance(event.get("eventName"), str) or not event["eventName"].strip():
        return None, None
    email, user_id = event.get("email"), event.get("userId")
    if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
        return "invalidEmails", email
    if user_id is not None and not (isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID_LENGTH):
        return "invalidUserIds", user_id
    if email is None and user_id is None:
        return None, None
    event_id = event.get("id")
    if event_id is not None and not (isinstance(event_id, str) and len(event_id.encode()) <= MAX_EVENT_ID_BYTES):
        return None, None
    created_at = event.get("createdAt")
    if created_at is not None and (isinstance(created_at, bool) or not isinstance(created_at, (int, float))):
        return None, None
    return None


def _event_from_row(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "eventName": row["event_name"], "email": row["email"], "userId": row["user_id"],
            "createdAt": row["created_at"], "dataFields": json.loads(row["data_fields"]),
            "storedAt": row["stored_at"], "lastRequestId": row["last_request_id"]}


def public_event(event: dict) -> dict:
    """An event as Iterable's reads show it: identity, name, id, createdAt as Iterable writes times, dataFields."""
    out = {key: event[key] for key in ("email", "userId") if event[key] is not None}
    out.update(eventName=event["eventName"], id=event["id"], dataFields=event["dataFields"],
               createdAt=time.strftime("%Y-%m-%d %H:%M:%S +00:00", time.gmtime(event["createdAt"])))
    return out


# --- handlers (IterableApi's routes call them with the api and the call) ----------------------------------


def track_bulk(api, call: Call) -> Reply:
    if len(call.body) > MAX_BODY_BYTES:
        return api.error_reply(400, "BatchTooLarge", f"Body is {len(call.body)} bytes; limit {MAX_BODY_BYTES}")
    try:
        payload = json.loads(call.body)
    except ValueError as error:
        return api.error_reply(400, "BadJsonBody", f"Could not parse JSON body: {error}")
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        return api.error_reply(400, "BadParams", "events must be a list")
    answer, stored = api.state.track_events(call.project, events, now=api.clock.now(),
                                            update_only=payload.get("updateOnly") is True,
                                            request_id=call.request_id)
    carried = [e.get(k) for e in events if isinstance(e, dict) for k in ("email", "userId") if e.get(k) is not None]
    return json_reply(200, answer, items=len(events), identifiers=carried, stored=stored)


def user_events(api, call: Call, **identity: str) -> Reply:
    raw = (call.query.get("limit") or ["30"])[0]
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not EVENTS_LIMIT[0] <= limit <= EVENTS_LIMIT[1]:
        return api.error_reply(400, "BadParams", f"limit must be {EVENTS_LIMIT[0]} to {EVENTS_LIMIT[1]}, not {raw}")
    events = api.state.events(call.project, limit=limit, **identity)
    return json_reply(200, {"events": [public_event(e) for e in events]})


def json_line_chunks(objects: Iterable[dict], chunk: int = 1000) -> Iterator[bytes]:
    """An export's body: one JSON object per line, `chunk` lines at a time."""
    lines = []
    for obj in objects:
        lines.append(json.dumps(obj) + "\n")
        if len(lines) == chunk:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()
