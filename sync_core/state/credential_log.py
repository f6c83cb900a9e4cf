"""When the workspace first saw each password credential, by keyed fingerprint (credential_age.py makes it; the
secret itself never reaches this file), and when Snowflake says the password was set.

A part of StateStore (a mixin over its connection and write transactions)."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple


class CredentialSeen(NamedTuple):
    first_seen: str  # UTC ISO-8601
    last_seen: str
    changed_at: str | None  # as Snowflake reported it; None when it could not be read


class CredentialLog:
    def credential_seen(self, source: str, fingerprint: str) -> CredentialSeen | None:
        """What is known of this credential of `source`; None if the workspace never saw it."""
        try:
            row = self._db.execute("SELECT first_seen, last_seen, changed_at FROM credential_seen "
                                   "WHERE source = ? AND fingerprint = ?", (source, fingerprint)).fetchone()
        except sqlite3.OperationalError as exc:  # a store read without migrating it, from before this table
            if "no such table" in str(exc):
                return None
            raise
        return CredentialSeen(*row) if row else None

    def record_credential_seen(self, source: str, fingerprint: str, seen_at: str,
                               changed_at: str | None = None) -> CredentialSeen:
        """The credential is in use now (`seen_at`); `changed_at`, when given, is when Snowflake says it was set."""
        with self._write() as db:
            db.execute("INSERT INTO credential_seen (source, fingerprint, first_seen, last_seen, changed_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, fingerprint) DO UPDATE SET "
                       "last_seen = excluded.last_seen, changed_at = COALESCE(excluded.changed_at, changed_at)",
                       (source, fingerprint, seen_at, seen_at, changed_at))
            # Older secrets of the source are history: only the one in use is kept.
            db.execute("DELETE FROM credential_seen WHERE source = ? AND fingerprint <> ?", (source, fingerprint))
        seen = self.credential_seen(source, fingerprint)
        assert seen is not None
        return seen
