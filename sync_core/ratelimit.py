"""Client-side rate limits, shared by every thread and process that writes with the same credential.

Vendors limit per project (Iterable: bulkUpdate 5 req/s, export 4 req/min), whoever sends. Two syncs to one
project, or a sync and a look-up, must share that budget, so the limiter's memory is a small SQLite file in
the workspace's state folder: a sliding-window log of the requests sent per key, where the key is a digest
of the credential (never the credential) and the endpoint. A `reserve` leaves part of the limit to other
integrations that use the same key.

The vendor counts a request when it arrives, which is some time after the client counted it: on a busy machine
a sender can be descheduled between the two, and requests counted 0.2 s apart arrive together (six in one of
the vendor's seconds, and a 429). Only one moment is known to follow the arrival: the answer. So a request
stays in the log's window until a window after its answer came back (`answered`), and while it is in flight
it holds its slot. Then, whatever the delays, any requests that arrive within one vendor window were all in
the log when the last of them was sent, so they are at most the limit. The cost is the round trip: each slot
is held one window plus its latency, a few percent of the rate on loopback, more when the machine is busy
(where it is what keeps the margin).

A limit counted per second is also spaced: consecutive requests leave at least window/allowed apart (spacing,
not bursts). A request that never reached the vendor (the connection was refused) gives its slot back.
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

# A slightly longer window than the vendor's: its window may start when it has read a request, a little after
# the arrival, and its clock's second may be a little shorter than ours.
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
        # Set up once, before any thread. `until`: when the request leaves the window (see the module's doc);
        # `answered` is NULL while it is in flight.
        db = self._db()
        use_wal(db)
        db.execute("CREATE TABLE IF NOT EXISTS slots (key TEXT NOT NULL, at REAL NOT NULL, until REAL NOT NULL, "
                   "answered REAL)")
        db.execute("CREATE INDEX IF NOT EXISTS slots_by_key ON slots (key, until)")

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

    def window(self, endpoint: str) -> float:
        return self.limits[endpoint].per_seconds * (1 + WINDOW_MARGIN)

    def acquire(self, endpoint: str, *, answer_within: float | None = None) -> float:
        """Wait until a request to `endpoint` fits in the shared window (and, for a spaced limit, is far enough
        from the previous one), count it, and return when it was counted. With `answer_within` (the request's
        timeout), the slot is held until the caller reports the answer (`answered`), at most that long; without
        it, the request counts from now, as if answered at once."""
        limit = self.limits[endpoint]
        window = self.window(endpoint)
        allowed = self.allowed(endpoint)
        spacing = window / allowed if limit.spaced else 0.0
        key = self._key(endpoint)
        db = self._db()
        while True:
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock.now()
                db.execute("DELETE FROM slots WHERE key = ? AND until <= ?", (key, now))
                untils = [u for (u,) in db.execute("SELECT until FROM slots WHERE key = ? ORDER BY until", (key,))]
                # With `allowed` requests in the window, the first to leave it frees a slot.
                wait = untils[len(untils) - allowed] - now if len(untils) >= allowed else 0.0
                (last,) = db.execute("SELECT max(at) FROM slots WHERE key = ?", (key,)).fetchone()
                if last is not None:
                    wait = max(wait, last + spacing - now)
                if wait <= 0:
                    db.execute("INSERT INTO slots (key, at, until, answered) VALUES (?, ?, ?, ?)",
                               (key, now, now + (answer_within or 0.0) + window,
                                None if answer_within else now))
                    db.execute("COMMIT")
                    return now
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.clock.sleep(max(0.001, wait))

    def answered(self, endpoint: str, counted_at: float) -> None:
        """The request counted at `counted_at` got its answer (or gave up waiting): it has reached the vendor,
        if it ever will, so it leaves the window a window from now."""
        now = self.clock.now()
        self._db().execute(
            "UPDATE slots SET answered = ?, until = ? WHERE rowid = (SELECT rowid FROM slots WHERE key = ? AND at = ? "
            "AND answered IS NULL LIMIT 1)", (now, now + self.window(endpoint), self._key(endpoint), counted_at))

    def in_window(self, endpoint: str) -> int:
        """Requests to `endpoint` in its current window (in flight, or answered within a window), by every process
        sharing this credential: what is left of the limit now is `allowed(endpoint)` less this."""
        (count,) = self._db().execute("SELECT COUNT(*) FROM slots WHERE key = ? AND until > ?",
                                      (self._key(endpoint), self.clock.now())).fetchone()
        return count

    def release(self, endpoint: str, counted_at: float) -> None:
        """Give back the slot a request counted at `counted_at` took: it never reached the vendor."""
        key = self._key(endpoint)
        self._db().execute("DELETE FROM slots WHERE rowid = (SELECT rowid FROM slots WHERE key = ? AND at = ? "
                           "ORDER BY answered IS NULL DESC LIMIT 1)", (key, counted_at))

    def _key(self, endpoint: str) -> str:
        return f"{self.credential}:{endpoint}"
