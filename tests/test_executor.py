"""The executor's retry, split and stop rules, driven by a scripted destination (the executor is under test)."""

from __future__ import annotations

import threading

import pytest

from sync_core.destinations.base import Batch, BatchRejected, SendResult, TransientError
from sync_core.errors import DestinationError
from sync_core.executor import Executor
from sync_core.rows import PlannedRow


def rows(n):
    return [PlannedRow(f"k{i}", "added", f"h{i}", f"k{i}@x.io", {}) for i in range(n)]


class Scripted:
    """Answers each send() from a script of exceptions, then accepts; refuses batches holding `poison`."""
    name = "scripted"

    def __init__(self, script=(), poison=None, fatal_after=None):
        self.script, self.poison, self.fatal_after = list(script), poison, fatal_after
        self.calls = []

    def send(self, batch):
        batch = batch.rows
        self.calls.append([r.key for r in batch])
        if self.fatal_after is not None and len(self.calls) > self.fatal_after:
            raise DestinationError(self.name, "HTTP 401 BadApiKey", "Invalid API key", "check the key")
        if self.script:
            raise self.script.pop(0)
        if self.poison and any(r.key == self.poison for r in batch):
            raise BatchRejected("BadParams", "one user has a malformed field")
        return SendResult(synced=list(batch))


def deliver(dest, batches, **kwargs):
    batches = [Batch(rows, [""] * len(rows)) for rows in batches]
    sleeps = []
    ex = Executor(dest, sleep=sleeps.append, seed=1, **kwargs)
    results = []
    ex.deliver(batches, results.append)
    synced = [r.key for res in results for r in res.synced]
    rejected = {r.row.key: r for res in results for r in res.rejected}
    return synced, rejected, sleeps


def test_transient_errors_are_retried_with_backoff_and_retry_after():
    dest = Scripted([TransientError("RateLimitExceeded", "slow down", retry_after=3),
                     TransientError("HTTP 503", "unavailable")])
    synced, rejected, sleeps = deliver(dest, [rows(3)], concurrency=1)
    assert synced == ["k0", "k1", "k2"] and not rejected
    assert 3 <= sleeps[0] <= 3.25  # Retry-After honoured (plus a little jitter)
    assert 0.25 <= sleeps[1] <= 1.0  # exponential backoff with jitter, second attempt


def test_after_the_last_attempt_rows_are_failed_transient_for_the_next_run():
    dest = Scripted([TransientError("Timeout", "no answer")] * 3)
    synced, rejected, _ = deliver(dest, [rows(2)], max_attempts=3, concurrency=1)
    assert synced == [] and {r.default_class for r in rejected.values()} == {"transient"}
    assert "gave up after 3 attempts" in rejected["k0"].message


def test_a_batch_refused_as_a_whole_is_split_to_isolate_the_bad_row():
    dest = Scripted(poison="k5")
    synced, rejected, _ = deliver(dest, [rows(8)], concurrency=1)
    assert sorted(synced) == sorted(f"k{i}" for i in range(8) if i != 5)
    assert list(rejected) == ["k5"] and rejected["k5"].default_class == "data"
    assert len(dest.calls) <= 1 + 2 * 3  # halves: log2(8) levels, two requests each at most


def test_a_fatal_error_stops_new_requests_and_is_raised():
    dest = Scripted(fatal_after=2)
    with pytest.raises(DestinationError, match="401"):
        deliver(dest, [rows(2) for _ in range(10)], concurrency=1)
    assert len(dest.calls) == 3


def test_the_rows_a_fatal_error_cut_short_are_kept_not_dropped():
    """A fatal error in the second half of a split batch keeps the first half's results; a request that went
    out once and is not retried because of it is left failed, as it may have been stored."""
    dest = Scripted(poison="k2", fatal_after=2)  # the whole batch is refused, its first half synced, then a 401
    results = []
    with pytest.raises(DestinationError, match="401"):
        Executor(dest, sleep=lambda s: None, concurrency=1).deliver([Batch(rows(4), [""] * 4)], results.append)
    [result] = results
    assert [r.key for r in result.synced] == ["k0", "k1"] and result.rejected == []  # k2, k3: not attempted

    class TimeoutThen401:
        name = "scripted"

        def send(self, batch):
            if batch.rows[0].key == "k0":
                raise TransientError("Timeout", "no answer")
            raise DestinationError(self.name, "HTTP 401 BadApiKey", "Invalid API key", "check the key")

    results = []
    executor = Executor(TimeoutThen401(), concurrency=2, sleep=lambda s: executor._stop.wait(10))
    with pytest.raises(DestinationError):
        executor.deliver([Batch(rows(2), [""] * 2), Batch(rows(4)[2:], [""] * 2)], results.append)
    failed = {r.row.key: r for res in results for r in res.rejected}
    assert sorted(failed) == ["k0", "k1"] and {r.default_class for r in failed.values()} == {"transient"}
    assert "the run stopped after 1 attempt; the next run sends it again" in failed["k0"].message


class Gated(Scripted):
    """Holds every request until `gate` opens."""
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()

    def send(self, batch):
        assert self.gate.wait(timeout=10), "the request was never let through"
        return super().send(batch)


def test_the_callers_work_runs_while_requests_are_in_flight():
    dest = Gated()
    log = []

    def work():  # three steps; the second opens the gate, so requests can only finish after it ran
        for step in range(3):
            log.append(f"step {step}")
            if step == 1:
                dest.gate.set()
            yield

    batches = [Batch(r, [""] * len(r)) for r in (rows(2), rows(2))]
    Executor(dest, concurrency=1).deliver(batches, lambda result: log.append("result"), meanwhile=work())
    assert log[:2] == ["step 0", "step 1"]
    assert log.count("result") == 2 and "step 2" in log


def test_the_callers_work_left_runs_even_after_a_fatal_error():
    dest = Scripted(fatal_after=0)
    done = []

    def work():
        for step in range(5):
            done.append(step)
            yield

    with pytest.raises(DestinationError, match="401"):
        Executor(dest, concurrency=1).deliver([Batch(rows(1), [""])], lambda result: None, meanwhile=work())
    assert done == [0, 1, 2, 3, 4]


def test_the_next_batch_is_made_while_the_requests_before_it_are_in_flight():
    """So it leaves as soon as a result is recorded. Here the first request is only answered once the second
    batch is made: made after that answer instead, as it used to be, the first request would never be let through."""
    dest = Gated()
    log = []

    def batches():
        for i in range(3):
            log.append(f"made {i}")
            if i == 1:
                dest.gate.set()
            yield Batch(rows(2), [""] * 2)

    Executor(dest, concurrency=1).deliver(batches(), lambda result: log.append("result"))
    assert log[:2] == ["made 0", "made 1"]
    assert log.count("result") == 3 and len(dest.calls) == 3
