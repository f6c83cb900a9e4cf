"""What the executor sends and has not recorded yet, against the sandbox over real HTTP: never more than
`concurrency` requests (the duplicate window a kill can leave), and every one of them recorded whatever stops
the run. The sandbox's `hold` fault orders events; nothing depends on how fast the machine is."""

from __future__ import annotations

import pytest

from sync_core.config import DestinationConfig, Mapping, SyncConfig
from sync_core.destinations.iterable.users import IterableUsers
from sync_core.executor import Executor
from sync_core.ratelimit import Limit, SharedRateLimits
from sync_core.rows import PlannedRow
from sync_core.schedules import Schedule
from sync_core.sandbox import IterableSandbox
from sync_core.secrets import SecretRef

KEY = "in-flight-key"
CONCURRENCY = 2
BATCH = 5
# How long a test looks for a request the executor must not send. Only a broken executor sends one, and then
# within milliseconds; a correct one never does, so the wait decides nothing but how long a violation is sought.
LOOK_FOR = 3.0


@pytest.fixture
def server(tmp_path):
    with IterableSandbox(tmp_path / "sb.sqlite", port=0, rate_limits=False) as srv:
        srv.state.add_project("p", KEY, rate_limits=False)
        yield srv


def users(server) -> IterableUsers:
    config = DestinationConfig("iterable", "iterable", server.url, SecretRef("env", "K", "ws.toml", "k"),
                               timeout_seconds=30, batch_size=BATCH, concurrency=CONCURRENCY)
    sync = SyncConfig("s", "S", "m", "iterable", "user", "upsert", "email", "email", (Mapping("score", "score"),),
                      Schedule("manual"), ())
    limits = SharedRateLimits(server.state.path.parent / "limits.sqlite", "test",
                              {"users/bulkUpdate": Limit(1000, 1.0), "export/data.json": Limit(1000, 1.0)})
    return IterableUsers(config, sync, KEY, limits)


def batches(dest: IterableUsers, count: int):
    rows = [PlannedRow(f"u{i}@x.io", "added", "h", f"u{i}@x.io", {"score": i}) for i in range(count * BATCH)]
    return dest.batches(rows)


def reached(server) -> int:
    """bulkUpdate requests that reached the sandbox, answered or not (the endpoint is logged with the answer)."""
    return sum(1 for r in server.state.requests() if r["path"] == "/api/users/bulkUpdate")


def recorded_rows(results) -> set[str]:
    return {r.key for res in results for r in res.synced} | {r.row.key for res in results for r in res.rejected}


def test_requests_sent_and_not_recorded_never_exceed_the_concurrency(server):
    """While the first result is being committed (a slow disk, a long transaction), no further request goes out:
    a kill at that moment leaves at most `concurrency` requests stored and not recorded."""
    dest = users(server)
    server.state.add_fault("users/bulkUpdate", "hold", after=1)  # the first is answered; later ones wait
    results, outstanding = [], []

    def on_result(result):
        if not results:  # the commit of the first result takes as long as it takes
            server.wait_for_held(CONCURRENCY, timeout=LOOK_FOR)
        outstanding.append(reached(server) - len(results))  # sent, and not recorded (this one is not yet)
        if not results:
            server.state.clear_faults()
            server.release_held(drop=False)
        results.append(result)

    Executor(dest, concurrency=CONCURRENCY).deliver(batches(dest, 8), on_result)
    assert max(outstanding) <= CONCURRENCY, outstanding
    assert len(results) == reached(server) == 8
    assert recorded_rows(results) == server.state.stored_identifiers("p")


@pytest.mark.parametrize("failing", ["on_result", "meanwhile"])
def test_an_error_mid_delivery_still_records_every_request_that_went_out(server, failing):
    """A bug or a full disk in the caller's commit (or in its other work) stops the run; the requests already
    sending are waited for and passed on, so no stored write is left without a trace."""
    dest = users(server)
    results = []

    def stop_once_two_requests_reached_the_sandbox():
        assert server.wait_for_held(CONCURRENCY - len(results), timeout=60), "the requests never went out"
        server.state.clear_faults()
        server.release_held(drop=False)  # answered: stored by the destination
        raise RuntimeError("disk I/O error")

    def on_result(result):
        results.append(result)
        if failing == "on_result" and len(results) == 1:
            stop_once_two_requests_reached_the_sandbox()

    def meanwhile():
        stop_once_two_requests_reached_the_sandbox()
        yield

    if failing == "on_result":  # the first request is answered, the second is held while the first is recorded
        server.state.add_fault("users/bulkUpdate", "hold", after=1)
    else:  # both are held while the caller's own work runs
        server.state.add_fault("users/bulkUpdate", "hold")
    with pytest.raises(RuntimeError, match="disk I/O error"):
        Executor(dest, concurrency=CONCURRENCY).deliver(
            batches(dest, 6), on_result, meanwhile=meanwhile() if failing == "meanwhile" else None)
    stored = server.state.stored_identifiers("p")
    assert len(stored) >= CONCURRENCY * BATCH
    assert recorded_rows(results) == stored, "a request reached the destination and its outcome was dropped"
