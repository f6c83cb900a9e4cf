"""Client-side rate limiting: keep under a vendor's requests-per-second limit instead of bouncing off it."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Spaces requests evenly at `rate` per second.

    Vendors count requests in sliding windows, so a burst allowance would let a window hold more than the
    limit; even spacing (a token bucket of capacity 1) cannot. `headroom` keeps us slightly below the limit
    because network jitter can bring requests closer together on arrival than they were sent."""

    def __init__(self, rate: float, *, headroom: float = 0.97, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / (rate * headroom)
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
