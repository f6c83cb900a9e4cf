"""Marketo's tables in a sandbox's state file, prefixed `marketo_` beside Iterable's: instances (a Munchkin id and
its API credentials), access tokens, leads, custom activity types, activities, and the calls each instance made
each Marketo day (its daily quota)."""

from __future__ import annotations

from ..core import Schema

MARKETO_SCHEMA = Schema("marketo", (
    (
        """CREATE TABLE marketo_instances (
            name TEXT PRIMARY KEY,
            client_id TEXT NOT NULL UNIQUE,
            client_secret TEXT NOT NULL,
            rate_limits INTEGER NOT NULL DEFAULT 1,
            daily_quota INTEGER NOT NULL DEFAULT 50000
        )""",
        """CREATE TABLE marketo_tokens (
            token TEXT PRIMARY KEY,
            instance TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX marketo_tokens_by_instance ON marketo_tokens (instance, expires_at)",
        # Marketo allows several leads with one email (the cause of record code 1007), so no unique index.
        """CREATE TABLE marketo_leads (
            id INTEGER PRIMARY KEY,
            instance TEXT NOT NULL,
            email TEXT NOT NULL
        )""",
        "CREATE INDEX marketo_leads_by_email ON marketo_leads (instance, email COLLATE NOCASE)",
        # attributes: JSON list of {"apiName", "name", "dataType"}
        """CREATE TABLE marketo_activity_types (
            id INTEGER PRIMARY KEY,
            instance TEXT NOT NULL,
            api_name TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            primary_attribute TEXT NOT NULL,
            attributes TEXT NOT NULL,
            UNIQUE (instance, api_name)
        )""",
        # id order is the order activities.json scans them in; attributes: JSON list of {"apiName", "value"}
        """CREATE TABLE marketo_activities (
            id INTEGER PRIMARY KEY,
            instance TEXT NOT NULL,
            lead_id INTEGER NOT NULL,
            activity_type_id INTEGER NOT NULL,
            activity_date TEXT NOT NULL,
            primary_attribute_value TEXT NOT NULL,
            attributes TEXT NOT NULL,
            created_at REAL NOT NULL,
            request_id INTEGER
        )""",
        "CREATE INDEX marketo_activities_by_instance ON marketo_activities (instance, id)",
        "CREATE INDEX marketo_activities_by_time ON marketo_activities (instance, created_at)",
        # day: the Marketo day (US Central calendar date) the calls were made on
        """CREATE TABLE marketo_daily_calls (
            instance TEXT NOT NULL,
            day TEXT NOT NULL,
            calls INTEGER NOT NULL,
            PRIMARY KEY (instance, day)
        ) WITHOUT ROWID""",
    ),
),)
