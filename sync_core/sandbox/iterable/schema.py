"""Iterable's tables in a sandbox's state file: projects (an API key each), users, the fields a project knows,
custom events with the event names and fields a project refuses, the scope of a project's key, and lists with
their members.

The tables keep the names they had before the sandbox had vendors (`projects`, `users`, `fields`), so state files
written then open as they are. A next vendor prefixes its tables with its name (`marketo_leads`).
"""

from __future__ import annotations

from ..core import Schema

ITERABLE_SCHEMA = Schema("iterable", (
    (
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
    ),
    (
        # Custom events, by id: a write with an id already stored replaces that event (Iterable's "same id
        # updates the same event"). email and user_id are the user's when the event was stored.
        """CREATE TABLE events (
            project TEXT NOT NULL,
            id TEXT NOT NULL,
            event_name TEXT NOT NULL,
            email TEXT,
            user_id TEXT,
            created_at REAL NOT NULL,
            data_fields TEXT NOT NULL,
            stored_at REAL NOT NULL,
            last_request_id INTEGER,
            PRIMARY KEY (project, id)
        )""",
        "CREATE INDEX events_by_email ON events (project, email)",
        "CREATE INDEX events_by_user_id ON events (project, user_id)",
        # What a project refuses of events: event names (answered in disallowedEventNames) and data fields
        # (dropped, answered in filteredOutFields), as the project's settings would.
        """CREATE TABLE event_filters (
            project TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('event_name', 'field')),
            name TEXT NOT NULL,
            PRIMARY KEY (project, kind, name)
        ) WITHOUT ROWID""",
    ),
    (
        # What a project's API key may do: `standard` (a server-side key: reads and writes) or `read_only`.
        "ALTER TABLE projects ADD COLUMN key_scope TEXT NOT NULL DEFAULT 'standard'"
        " CHECK (key_scope IN ('standard', 'read_only'))",
        # Lists (ids are unique across projects, as Iterable's are) and their members, by user: a user deleted
        # leaves every list (reads join users).
        """CREATE TABLE lists (
            id INTEGER PRIMARY KEY,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            list_type TEXT NOT NULL CHECK (list_type IN ('Standard', 'Dynamic', 'Suppression', 'Internal')),
            description TEXT,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX lists_by_project ON lists (project)",
        """CREATE TABLE list_members (
            list_id INTEGER NOT NULL,
            user_rowid INTEGER NOT NULL,
            subscribed_at REAL NOT NULL,
            last_request_id INTEGER,
            PRIMARY KEY (list_id, user_rowid)
        ) WITHOUT ROWID""",
    ),
), legacy_versions={1: 1, 2: 1})
