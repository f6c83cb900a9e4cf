"""Client-side rate limits, shared by every thread and process that writes with the same credential.

Vendors limit per project (Iterable: bulkUpdate 5 req/s, export 4 req/min), whoever sends. Two syncs to one
project, or a sync and a look-up, must share that budget, so the limiter's memory is a small SQLite file in
the workspace's state folder: a sliding-window log of the requests sent per key, where the key is a digest
of the credential (never the credential) and the endpoint. A `reserve` leaves part of the limit to other
integrations that use the same key.

A limit counted per second is also spaced: consecutive requests leave at least window/allowed apart, so the
requests of any vendor window stay within the limit even when some arrive later than they were counted (a
burst of 5 counted at once, one of them delayed, then the next burst: 6 arrive within one second). A request
that never reached the vendor (the connection was refused) gives its slot back.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from .clock import Clock, SystemClock
from .wal import use_wal

# Requests are counted when sent but the vendor counts them when they arrive; a slightly longer window
# than the vendor's absorbs the jitter between the two.
WINDOW_MARGIN = 0.05


# Limits over windows up to this long are spaced (see above); over a minute, the margin (3 s) dwarfs any jitter,
# and spacing would only delay back-to-back runs.
SPACED_WINDOWS_UP_TO = 1.0


@dataclass(frozen=True)
class Limit:
    requests: int
    per_seconds: float
    spaced: bool = False  # consecutive requests at least window/allowed apart


def vendor_limit(requests: int, per_seconds: float) -> Limit:
    """A vendor's published limit, spaced if its window is short."""
    return Limit(requests, per_seconds, spaced=per_seconds <= SPACED_WINDOWS_UP_TO)


def credential_digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class SharedRateLimits:
    def __init__(self, path: str | Path, credential: str, limits: dict[str, Limit], *, reserve: float = 0.0,
                 clock: Clock | None = None):
        if not 0 <= reserve < 1:
            raise ValueError("reserve must be a share in [0, 1)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.credential = credential
        self.limits = limits
        self.reserve = reserve
        self.clock = clock or SystemClock()
        self._local = threading.local()
        # Set up once, before any thread.
        db = self._db()
        use_wal(db)
        db.execute("CREATE TABLE IF NOT EXISTS sent (key TEXT NOT NULL, at REAL NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS sent_by_key ON sent (key, at)")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def allowed(self, endpoint: str) -> int:
        """Requests per window this client may send: the vendor's limit less the reserve, at least one."""
        return max(1, math.floor(self.limits[endpoint].requests * (1 - self.reserve)))

    def acquire(self, endpoint: str) -> float:
        """Wait until a request to `endpoint` fits in the shared window (and, for a spaced limit, is far enough
        from the previous one), count it, and return when it was counted."""
        limit = self.limits[endpoint]
        window = limit.per_seconds * (1 + WINDOW_MARGIN)
        allowed = self.allowed(endpoint)
        spacing = window / allowed if limit.spaced else 0.0
        key = self._key(endpoint)
        db = self._db()
        while True:
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock.now()
                db.execute("DELETE FROM sent WHERE key = ? AND at <= ?", (key, now - window))
                recent = [at for (at,) in db.execute("SELECT at FROM sent WHERE key = ? ORDER BY at", (key,))]
                # The oldest request in the window leaves it at recent[-allowed] + window.
                wait = recent[-allowed] + window - now if len(recent) >= allowed else 0.0
                if recent:
                    wait = max(wait, recent[-1] + spacing - now)
                if wait <= 0:
                    db.execute("INSERT INTO sent (key, at) VALUES (?, ?)", (key, now))
                    db.execute("COMMIT")
                    return now
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.clock.sleep(max(0.001, wait))

    def in_window(self, endpoint: str) -> int:
        """Requests to `endpoint` counted in its current window, by every process sharing this credential: what
        is left of the limit now is `allowed(endpoint)` less this."""
        window = self.limits[endpoint].per_seconds * (1 + WINDOW_MARGIN)
        (count,) = self._db().execute("SELECT COUNT(*) FROM sent WHERE key = ? AND at > ?",
                                      (self._key(endpoint), self.clock.now() - window)).fetchone()
        return count

    def release(self, endpoint: str, counted_at: float) -> None:
        """Give back the slot a request counted at `counted_at` took: it never reached the vendor."""
        key = self._key(endpoint)
        self._db().execute("DELETE FROM sent WHERE rowid = (SELECT rowid FROM sent WHERE key = ? AND at = ? LIMIT 1)",
                           (key, counted_at))

    def _key(self, endpoint: str) -> str:
        return f"{self.credential}:{endpoint}"
