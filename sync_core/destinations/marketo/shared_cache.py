"""What one Marketo instance's runs share across processes of a workspace: the OAuth token per credential, and the
leads found by email. Both live in one SQLite file in the workspace's state folder (`.sync-state/`), readable by
its owner only: the token is a secret, so it is kept out of the run store, whose tables the dashboard shows.

The token is keyed by a digest of the base URL and client id (never the secret): a second process or run reuses a
valid token instead of calling the identity service again. Leads are keyed by a digest of the base URL (every
credential of an instance sees the same leads) and kept for LEAD_LIFETIME_SECONDS: a lead found by one sync is not
looked up again by another within that time. Only emails naming exactly one lead are kept: an email with no lead
may have one by the next look-up, and two leads sharing an email may be merged.

The known-identifiers cache of update-only syncs (state/known_identifiers.py) is not reused here: it holds which
identifiers exist, refreshed by exports of the whole list, while Marketo's look-up needs each email's lead id and an
age per email, learned a batch at a time."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from ...ratelimit import credential_digest

CACHE_FILE = "marketo-cache.sqlite"
# A lead id seldom changes (a merge or a delete does it, and the add then answers 1004: the row is re-looked-up by
# the next run); a day bounds how long a stale id can cost one rejection per row.
LEAD_LIFETIME_SECONDS = 86_400

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tokens (credential TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS leads (instance TEXT NOT NULL, email TEXT NOT NULL, lead_id INTEGER NOT NULL, "
    "found_at REAL NOT NULL, PRIMARY KEY (instance, email))",
)


class MarketoSharedCache:
    def __init__(self, state_dir: Path, base_url: str, client_id: str):
        self.path = Path(state_dir) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # created owner-only before SQLite opens it
        os.chmod(self.path, 0o600)
        self.credential = credential_digest(base_url, client_id)
        self.instance = credential_digest(base_url)
        self._local = threading.local()  # a connection per thread, as sqlite3 wants
        with self._db() as db:
            for statement in SCHEMA:
                db.execute(statement)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    # --- the token ------------------------------------------------------------------

    def token(self) -> tuple[str, float] | None:
        """The credential's token and when it expires (epoch seconds), if one was saved."""
        row = self._db().execute("SELECT token, expires_at FROM tokens WHERE credential = ?",
                                 (self.credential,)).fetchone()
        return (row[0], row[1]) if row else None

    def save_token(self, token: str, expires_at: float) -> None:
        with self._db() as db:
            db.execute("INSERT INTO tokens (credential, token, expires_at) VALUES (?, ?, ?) ON CONFLICT (credential) "
                       "DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at",
                       (self.credential, token, expires_at))

    # --- leads ----------------------------------------------------------------------

    def leads(self, emails: list[str], now: float) -> dict[str, int]:
        """The lead id of each email (as compared) found within the lead lifetime."""
        found: dict[str, int] = {}
        db = self._db()
        for start in range(0, len(emails), 500):  # SQLite's limit on bound values is 999 before 3.32
            chunk = emails[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(db.execute(f"SELECT email, lead_id FROM leads WHERE instance = ? AND found_at > ? AND email "
                                    f"IN ({marks})", (self.instance, now - LEAD_LIFETIME_SECONDS, *chunk)))
        return found

    def save_leads(self, leads: dict[str, int], now: float) -> None:
        with self._db() as db:
            db.executemany("INSERT INTO leads (instance, email, lead_id, found_at) VALUES (?, ?, ?, ?) ON CONFLICT "
                           "(instance, email) DO UPDATE SET lead_id = excluded.lead_id, found_at = excluded.found_at",
                           ((self.instance, email, lead_id, now) for email, lead_id in leads.items()))

    def forget_leads(self, emails: list[str]) -> None:
        """Emails whose lead Marketo no longer has (1004): looked up again next time."""
        with self._db() as db:
            db.executemany("DELETE FROM leads WHERE instance = ? AND email = ?",
                           ((self.instance, email) for email in emails))
