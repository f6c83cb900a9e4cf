"""What one run carries from its first stage to its last: its id (known from the start), its request, the
bookkeeping (counts, phase timings, notes, the commit of each outcome), a cancel token, and the events a
caller or an alert can hang on. runner.py runs the stages over it."""

from __future__ import annotations

import copy
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

import pyarrow as pa

from .config import SyncConfig
from .counts import RunCounts
from .destinations import Rejection
from .destinations.base import REFUSALS
from .errors import SyncCoreError
from .outcomes import RowProblem, classify
from .progress import RunObserver
from .rows import PlannedRow, column_of, row_columns
from .state import RunRecord, StateStore
from .state.run_log import RunProgress

WITHDRAWN = "withdrawn"  # a member of a destination's set whose row is invalid now (destinations.base.Membership)
LEAVING = ("removed", WITHDRAWN)  # rows that leave the snapshot when their removal from the destination is confirmed
RUN_TYPES = ("sync", "dry_run")  # a dry run plans and records nothing else (a reconciliation is not a run)


@dataclass(frozen=True)
class RunRequest:
    """What to run, as a caller asks for it (the CLI, the dashboard, a schedule)."""
    sync_id: str
    trigger: str = "cli"
    run_type: str = "sync"
    full_resync: bool = False  # send every row again, whatever the snapshot says
    allow_removals: bool = False  # accept, this once, a change a guard would block
    retry_failed: bool = False  # send only the rows that failed or were rejected for a real reason
    only_keys: tuple[str, ...] | None = None  # send only these keys' rows, even unchanged (a reconciliation's resend)

    def __post_init__(self):
        if self.run_type not in RUN_TYPES:
            raise ValueError(f"run_type must be one of {RUN_TYPES}, not {self.run_type!r}")
        if self.full_resync and self.retry_failed:
            raise ValueError("a run is a full resync or a retry of failed rows, not both")
        if self.only_keys is not None and (self.full_resync or self.retry_failed):
            raise ValueError("a resend of chosen keys is neither a full resync nor a retry of failed rows")

    @property
    def limited(self) -> bool:
        """It sends only some rows (a retry of failed rows, a resend of chosen keys): the others wait."""
        return self.retry_failed or self.only_keys is not None

    @property
    def dry_run(self) -> bool:
        return self.run_type == "dry_run"


class CancelToken:
    """Set by whoever wants the run to stop: a user's cancel (the run ends `cancelled`), or a worker shutting
    down (`interrupted`, like Ctrl-C). The run checks it between stages, and the executor sends no new request
    once it is set; requests in flight are waited for and recorded."""

    def __init__(self):
        self.event = threading.Event()
        self.by: str | None = None
        self.shutdown = False

    def cancel(self, by: str | None = None) -> None:
        self.by = self.by or by
        self.event.set()

    def stop_for_shutdown(self) -> None:
        self.shutdown = True
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()


class RunCancelled(SyncCoreError):
    """The run's cancel token was set: it stopped between two requests, and what it had not sent is left for the
    next run."""
    error_class = "transient"

    def __init__(self, token: CancelToken):
        self.status = "interrupted" if token.shutdown else "cancelled"
        if token.shutdown:
            why = "the worker running it was asked to stop: it"
        else:
            why = f"cancelled{f' by {token.by}' if token.by else ''}: the run"
        super().__init__(f"{why} stopped after its requests in flight, before it had tried every row; rows it had "
                         "not confirmed are sent by the next run")


@dataclass
class RunEvents:
    """Callbacks a caller hangs on a run: `started(run_id)` as soon as the run is recorded (so a caller can link
    to it while it runs), `finished(record)` once its record is final, whatever its status."""
    started: list[Callable[[int], None]] = field(default_factory=list)
    finished: list[Callable[[RunRecord], None]] = field(default_factory=list)

    def announce_start(self, run_id: int) -> None:
        for callback in self.started:
            callback(run_id)

    def announce_finish(self, record: RunRecord) -> None:
        for callback in self.finished:
            callback(record)


class RunContext:
    """The bookkeeping of one run: counts, phase timings, notes, and the commit of each outcome."""

    def __init__(self, store: StateStore, run_id: int, sync: SyncConfig, request: RunRequest, observer: RunObserver,
                 cancel: CancelToken):
        self.store, self.run_id, self.sync, self.request = store, run_id, sync, request
        self.observer, self.cancel = observer, cancel
        self.counts = RunCounts()
        self.phases: dict[str, float] = {}
        self.notes: list[str] = []
        self.fingerprint = ""
        self.changes = store.key_state_changes()  # what this run commits to the sync's key state, for its copy
        self._cause_ids: dict[tuple[str, str, str], int] = {}

    @contextmanager
    def phase(self, name: str):
        # Arrow's allocator keeps what it freed for reuse; a phase's start hands back what the ones before it
        # (the query's batches, the look-up's export) no longer use, so it is not counted again in the next one.
        pa.default_memory_pool().release_unused()
        self.observer.phase(name)
        self.store.set_phase(self.run_id, name)  # what the dashboard shows of a run in progress
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - started, 3)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.observer.note(text)

    def check_cancel(self) -> None:
        if self.cancel.cancelled:
            raise RunCancelled(self.cancel)

    def problem(self, rejection: Rejection) -> RowProblem:
        error_class = classify(rejection.code, rejection.message, rejection.default_class, self.sync.expected_errors)
        outcome = "failed" if error_class == "transient" else "rejected"
        return RowProblem(rejection.row.key, outcome, rejection.code, rejection.message, error_class,
                          rejection.row.row_hash, rejection.template)

    def commit(self, synced: Sequence[PlannedRow], rejected: list[Rejection],
               destination_ids: dict[str, str] | None = None) -> None:
        """Record one batch's outcomes: confirmed rows enter the snapshot in the same transaction (with the
        destination's ids of their records, when it gives them), and rows whose record the destination does not
        hold leave it. Confirmed rows are read as columns and counted per operation, not row by row."""
        keys, hashes, per_operation = row_columns(synced)
        # A member withdrawn from a destination's set (its row is invalid now: counted, with its rejection, when
        # planned) only leaves the snapshot once confirmed, or when there is nothing to withdraw; one not
        # confirmed stays, and is withdrawn next run.
        if per_operation.keys() & set(LEAVING):
            operations = column_of(synced, "operation")
            entering = [(k, h) for k, h, operation in zip(keys, hashes, operations) if operation not in LEAVING]
            gone = [k for k, operation in zip(keys, operations) if operation in LEAVING]
        else:
            entering, gone = list(zip(keys, hashes)), []
        gone += [r.row.key for r in rejected if r.row.operation == WITHDRAWN and r.record_missing]
        rejected = [r for r in rejected if r.row.operation != WITHDRAWN]
        problems = [self.problem(r) for r in rejected]
        counts = self._settled(per_operation, rejected, problems)
        # Only rows planned against the snapshot can be in it: an added row never is (500k not-found rows of a
        # first run would otherwise be 500k deletes of nothing). A removed row confirmed (a list's member
        # unsubscribed) leaves it. The counts with this batch settled are written in the batch's transaction (and
        # only then adopted: a fenced batch, RunFenced, counts nothing).
        self.commit_changes(synced=entering, problems=problems,
                            removed=[r.row.key for r in rejected if r.record_missing and r.row.operation != "added"]
                            + gone,
                            destination_ids=destination_ids, progress=counts)
        self.counts = counts  # adopted only now that its transaction committed
        self._progressed()

    def _settled(self, per_operation, rejected: list[Rejection], problems: list[RowProblem]) -> RunCounts:
        """A copy of the run's counts with one batch's outcomes settled."""
        counts = copy.deepcopy(self.counts)
        for operation, rows in per_operation.items():
            if operation != WITHDRAWN:
                counts.settle(operation, "synced", rows)
        for rejection, p in zip(rejected, problems):
            outcome = count_outcome(p)
            counts.settle(rejection.row.operation, outcome)
            if rejection.row.operation == "retried" and rejection.row.prev_cause == self._cause_id(p):
                counts.repeat(outcome)
        return counts

    def save_progress(self) -> None:
        """The counts so far, on the run's record (what a killed run leaves) and to the observer."""
        self.store.save_progress(self.run_id, self.counts, self.phases, self.notes)
        self._progressed()

    def _progressed(self) -> None:
        settled = self.counts.planned - self.counts.outcome("not_attempted")
        self.observer.progress(settled, self.counts.planned)

    def commit_changes(self, *, synced: list[tuple[str, str]] = (), problems: list[RowProblem] = (),
                       removed: list[str] = (), forgotten: list[str] = (),
                       destination_ids: dict[str, str] | None = None, progress: RunCounts | None = None) -> None:
        """Commit to the state store, and note the change to the sync's key state. `progress`: the run's counts
        to record with it, in the same transaction."""
        self.store.commit_batch(self.run_id, self.sync.id, fingerprint=self.fingerprint, synced=synced,
                                removed=removed, problems=problems, destination_ids=destination_ids,
                                progress=None if progress is None else RunProgress(progress, self.phases, self.notes))
        if forgotten:
            self.store.forget_rejections(self.sync.id, forgotten)
        self.changes.synced(synced)
        self.changes.rejected((p.key, p.row_hash, self._cause_id(p)) for p in problems if p.key is not None)
        self.changes.removed(removed)
        self.changes.forgotten(forgotten)

    def _cause_id(self, p: RowProblem) -> int:
        ident = (p.code, p.error_class, p.template)
        if ident not in self._cause_ids:
            self._cause_ids[ident] = self.store.cause_id(*ident)
        return self._cause_ids[ident]

    def refusal_causes(self, destination) -> dict[str, tuple[int, RowProblem]]:
        """Per refusal kind, the cause (id, and a sample problem) it always gets in this sync. Empty when a
        rule matches on message text: then each row's message must be classified on its own."""
        if any(rule.message is not None for rule in self.sync.expected_errors):
            return {}
        causes = {}
        for kind in REFUSALS:
            sample = self.problem(destination.refusal(kind, PlannedRow("", "retried", "", "x", {"<field>": "<value>"})))
            causes[kind] = (self.store.cause_id(sample.code, sample.error_class, sample.template), sample)
        return causes


def count_outcome(problem: RowProblem) -> str:
    """Where a problem row counts in the invariant's outcomes."""
    if problem.outcome == "failed":
        return "failed"
    return "rejected_expected" if problem.error_class == "expected" else "rejected_other"
