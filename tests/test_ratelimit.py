"""Rate limits shared by threads and processes writing with one credential."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from sync_core.clock import ManualClock
from sync_core.ratelimit import WINDOW_MARGIN, Limit, SharedRateLimits


def busiest_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def acquire_from_threads(limits: SharedRateLimits, *, threads: int, each: int) -> list[float]:
    """When each acquisition was counted, `each` acquisitions from each of `threads` threads."""
    sent, lock = [], threading.Lock()

    def worker():
        for _ in range(each):
            counted_at = limits.acquire("write")
            with lock:
                sent.append(counted_at)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sent


def test_threads_never_exceed_the_limit_in_any_window(tmp_path):
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"write": Limit(5, 1.0)}, clock=clock)
    sent = acquire_from_threads(limits, threads=3, each=10)
    assert len(sent) == 30 and busiest_window(sent, 1.0) <= 5


def test_a_spaced_limit_sends_no_burst_even_from_many_threads(tmp_path):
    """5 a second means one every 0.21 s (the window with its margin, over 5), not 5 at once then a pause:
    a request that arrives a little late then cannot put 6 in the vendor's second."""
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"write": Limit(5, 1.0, spaced=True)}, clock=clock)
    sent = sorted(acquire_from_threads(limits, threads=4, each=5))
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert len(sent) == 20 and min(gaps) >= (1 + WINDOW_MARGIN) / 5 - 1e-9
    assert busiest_window(sent, 1.0) <= 5


def test_a_request_late_to_arrive_holds_its_slot_until_a_window_after_its_answer(tmp_path):
    """On a busy machine a request counted first can reach the vendor last. Counted from its send, its slot would
    free a window later, and the next request would land in the vendor's second with it and the four after it."""
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"write": Limit(5, 1.0, spaced=True)}, clock=clock)
    late = limits.acquire("write", answer_within=30)  # its sender stalls before the request leaves
    arrivals = []
    for _ in range(4):  # the others arrive as they are counted, and are answered at once
        arrivals.append(limits.acquire("write", answer_within=30))
        limits.answered("write", arrivals[-1])
    clock.advance(late + 1.04 - clock.now())  # it arrives 1.04 s after it was counted, and is answered
    arrivals.append(clock.now())
    limits.answered("write", late)
    arrivals.append(limits.acquire("write", answer_within=30))  # the next one, arriving at once
    assert busiest_window(arrivals, 1.0) <= 5
    assert arrivals[-1] - late > 1 + WINDOW_MARGIN  # counted from its send, it would have gone at 1.05 s: six


def test_a_request_never_answered_frees_its_slot_after_its_timeout(tmp_path):
    """A process that died with a request in flight does not hold the limit for ever."""
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"export": Limit(1, 60.0)}, clock=clock)
    first = limits.acquire("export", answer_within=30)
    second = limits.acquire("export", answer_within=30)
    assert second - first == pytest.approx(30 + 60 * (1 + WINDOW_MARGIN))


def test_a_slot_given_back_is_free_again(tmp_path):
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"export": Limit(1, 60.0)}, clock=clock)
    limits.release("export", limits.acquire("export"))  # e.g. the connection was refused: nothing reached the vendor
    limits.acquire("export")
    assert clock.now() == 1_700_000_000.0  # nobody waited


def test_a_reserve_leaves_part_of_the_limit_to_others(tmp_path):
    clock = ManualClock()
    limits = SharedRateLimits(tmp_path / "l.sqlite", "cred", {"write": Limit(10, 1.0)}, reserve=0.3, clock=clock)
    assert limits.allowed("write") == 7
    times = []
    for _ in range(21):
        limits.acquire("write")
        times.append(clock.now())
    assert busiest_window(times, 1.0) == 7
    # ...and it uses what it may: 21 requests at 7 per (1 + margin) s take two windows and a bit.
    assert times[-1] - times[0] == pytest.approx(2 * (1 + WINDOW_MARGIN))


def test_separate_credentials_do_not_share(tmp_path):
    clock = ManualClock()
    a = SharedRateLimits(tmp_path / "l.sqlite", "cred-a", {"write": Limit(2, 1.0)}, clock=clock)
    b = SharedRateLimits(tmp_path / "l.sqlite", "cred-b", {"write": Limit(2, 1.0)}, clock=clock)
    for limiter in (a, a, b, b):
        limiter.acquire("write")
    assert clock.now() == 1_700_000_000.0  # nobody waited


PROCESS = """
import sys, time
from sync_core.ratelimit import Limit, SharedRateLimits
limits = SharedRateLimits(sys.argv[1], "cred", {"write": Limit(5, 0.5)})
for _ in range(8):
    limits.acquire("write")
    print(time.time(), flush=True)
"""


def test_processes_share_one_limit(tmp_path):
    path = str(tmp_path / "l.sqlite")
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, path], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    times = sorted(float(line) for p in procs for line in p.communicate(timeout=60)[0].split())
    assert len(times) == 16 and busiest_window(times, 0.5) <= 5
