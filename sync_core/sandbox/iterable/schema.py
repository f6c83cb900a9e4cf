"""Iterable's tables in a sandbox's state file: projects (an API key each), users, and the fields a project knows.

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
), legacy_versions={1: 1, 2: 1})
