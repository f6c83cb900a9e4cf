"""One run of one sync: plan, look up, send, record. The CLI and the dashboard both call `run_sync`."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone

from .clock import Clock, SystemClock
from .config import SyncConfig, Workspace
from .counts import RunCounts
from .destinations import Rejection, TransientError
from .destinations.opening import open_destination
from .destinations.base import REFUSALS, ExistenceExport
from .errors import INTERNAL, SyncCoreError
from .executor import Executor
from .guards import RunBlocked, check_change_guards
from .lookup import PendingLookup
from .mqr import current_period_start
from .outcomes import RowProblem, classify
from .planner import Plan, build_plan
from .rows import PlannedRow
from .progress import RunObserver, SilentObserver
from .sources import open_source
from .secrets import redact
from .state import RunRecord, StateStore
from .state.store import INTERRUPTED_ERROR
from .state.key_state import KeyStateChanges

SEND_CHUNK_ROWS = 2_000  # rows turned into requests at a time: small, so the GIL is never held long
# (a long hold delays the senders after they took a rate-limit slot, and requests arrive bunched)
REFUSED_CHUNK_ROWS = 5_000  # refused rows recorded per transaction: a step short enough not to hold
# results back (0.1-0.2 s)


class _Run:
    """The bookkeeping of one run: counts, phase timings, notes, and the commit of each outcome."""

    def __init__(self, store: StateStore, run_id: int, sync: SyncConfig, observer: RunObserver):
        self.store, self.run_id, self.sync, self.observer = store, run_id, sync, observer
        self.counts = RunCounts()
        self.phases: dict[str, float] = {}
        self.notes: list[str] = []
        self.fingerprint = ""
        self.changes = KeyStateChanges()  # what this run commits to the sync's key state, for its cached copy
        self._cause_ids: dict[tuple[str, str, str], int] = {}

    @contextmanager
    def phase(self, name: str):
        self.observer.phase(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - started, 3)

    def problem(self, rejection: Rejection) -> RowProblem:
        error_class = classify(rejection.code, rejection.message, rejection.default_class, self.sync.expected_errors)
        outcome = "failed" if error_class == "transient" else "rejected"
        return RowProblem(rejection.row.key, outcome, rejection.code, rejection.message, error_class,
                          rejection.row.row_hash, rejection.template)

    def commit(self, synced: list[PlannedRow], rejected: list[Rejection]) -> None:
        """Record one batch's outcomes: confirmed rows enter the snapshot in the same transaction, and rows
        whose record the destination does not hold leave it."""
        problems = [self.problem(r) for r in rejected]
        self.commit_changes(synced=[(r.key, r.row_hash) for r in synced], problems=problems,
                            removed=[r.row.key for r in rejected if r.record_missing])
        for row in synced:
            self.counts.settle(row.operation, "synced")
        for rejection, p in zip(rejected, problems):
            outcome = _count_outcome(p)
            self.counts.settle(rejection.row.operation, outcome)
            if rejection.row.operation == "retried" and rejection.row.prev_cause == self._cause_id(p):
                self.counts.repeat(outcome)
        self.save_progress()

    def save_progress(self) -> None:
        """The counts so far, on the run's record (what a killed run leaves) and to the observer."""
        self.store.save_progress(self.run_id, self.counts, self.phases, self.notes)
        settled = self.counts.planned - self.counts.outcome("not_attempted")
        self.observer.progress(settled, self.counts.planned)

    def commit_changes(self, *, synced: list[tuple[str, str]] = (), problems: list[RowProblem] = (),
                       removed: list[str] = (), forgotten: list[str] = ()) -> None:
        """Commit to the state store, and note the change to the sync's key state."""
        self.store.commit_batch(self.run_id, self.sync.id, fingerprint=self.fingerprint, synced=synced,
                                removed=removed, problems=problems)
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

    def status(self) -> str:
        return self.counts.status(self.sync.failure_threshold)


def run_sync(workspace: Workspace, sync_id: str, *, trigger: str = "cli", full_resync: bool = False,
             dry_run: bool = False, allow_removals: bool = False, observer: RunObserver | None = None,
             clock: Clock | None = None, dated: Clock | None = None) -> RunRecord:
    """Run a sync and return its record. Errors the user must fix are recorded on the run (status `failed`,
    with the error and its class) and returned, not raised; only an unknown sync id raises. A change guard
    (guards.py) records the run as `blocked` before anything changes; `allow_removals` accepts its change.

    `clock` is where rate limits, backoff and look-ups take their time: the destination's own (tests pass a
    scaled or manual one, shared with the sandbox). `dated` gives the time the run's records carry and the
    MQR period it counts in, when it is not `clock`'s (the demo's history runs on simulated days; its rate
    limits must still count in the sandbox's real time)."""
    sync = workspace.sync(sync_id)
    clock = clock or SystemClock()
    dated = dated or clock
    observer = observer or SilentObserver()
    with StateStore(workspace.state_path, clock=dated) as store:
        run = _Run(store, store.start_run(sync.id, trigger=trigger, config_fingerprint=workspace.fingerprint(sync.id),
                                          dry_run=dry_run, full_resync=full_resync), sync, observer)
        plan: Plan | None = None
        try:
            destination = open_destination(workspace, sync, clock=clock)  # secrets first: a config error before any query
            config = workspace.destinations[sync.destination]
            executor = Executor(destination, max_attempts=config.max_attempts, concurrency=config.concurrency,
                                sleep=clock.sleep, on_retry=observer.note)
            lookup: PendingLookup | None = None

            def start_lookup() -> None:  # update-only: learn who exists while the model is queried
                nonlocal lookup
                if needs_lookup(destination) and not dry_run:
                    lookup = PendingLookup(store, destination, executor, clock, full=full_resync)

            with run.phase("query"):
                key_state = store.key_state(sync.id)
                resync_from = store.resync_in_progress(sync.id)
                resend = store.confirmed_before(sync.id, resync_from) if resync_from and not full_resync else None
                plan = build_plan(workspace, sync, open_source(workspace.sources[workspace.models[sync.model].source]),
                                  store, key_state, full_resync=full_resync, resend=resend, destination=destination,
                                  columns_checked=start_lookup)
            run.counts, run.notes, run.fingerprint = plan.counts, plan.notes, plan.fingerprint
            if resend is not None:
                run.notes.append(f"Continuing the full resync started by run {resync_from}, which did not finish: "
                                 f"{len(resend):,} rows confirmed before it are sent again.")
            for note in run.notes:
                observer.note(note)
            try:
                check_change_guards(sync.id, plan.counts, key_state.snapshot.num_rows, sync.max_removal_share,
                                    allow_removals=allow_removals)
            except RunBlocked as exc:
                if not dry_run:
                    raise
                run.notes.append(f"A run would be blocked. {exc}")
            if dry_run:
                store.finish_run(run.run_id, status="planned", counts=run.counts, phases=run.phases, notes=run.notes)
                return store.get_run(run.run_id)
            if full_resync:  # owed until a run has tried every row: an interrupted one is continued by the next
                store.start_resync(sync.id, run.run_id)
            with run.phase("record"):
                model = workspace.models[sync.model]
                period = current_period_start(workspace.mqr.billing_period_start_day,
                                              datetime.fromtimestamp(dated.now(), timezone.utc)).isoformat()
                counted = store.mqr_digests(period, model.entity)
                store.record_queried(period, model.entity, plan.key_digests(counted.digests), run.run_id, counted)
                run.commit_changes(problems=plan.invalid, removed=plan.invalid_synced_keys)
            existing = None
            if lookup is not None:
                with run.phase("lookup"):  # the wait for the export, if it is still running
                    existing, note = lookup.result()
                run.notes.append(note)
            with run.phase("sync"):
                _send(run, plan, destination, executor, existing)
            with run.phase("finish"):
                run.commit_changes(removed=plan.removed_keys, forgotten=plan.rejections_not_in_model)
                run.counts.settle("removed", "synced", len(plan.removed_keys))
                store.sweep_rejections(sync.id, run.run_id)  # every planned row was tried: see the method
                if resync_from or full_resync:
                    store.finish_resync(sync.id)
                store.save_key_state(key_state, run.changes)
            store.finish_run(run.run_id, status=run.status(), counts=run.counts, phases=run.phases, notes=run.notes)
        except RunBlocked as exc:  # before anything was recorded: the run only reports its plan
            store.finish_run(run.run_id, status="blocked", counts=run.counts, phases=run.phases, notes=run.notes,
                             error=str(exc), error_class=exc.error_class)
        except (SyncCoreError, TransientError) as exc:
            store.finish_run(run.run_id, status="failed", counts=run.counts, phases=run.phases, notes=run.notes,
                             error=str(exc), error_class=getattr(exc, "error_class", "transient"))
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM where the caller turns it into one (`sync-core up`)
            store.finish_run(run.run_id, status="interrupted", counts=run.counts, phases=run.phases, notes=run.notes,
                             error=INTERRUPTED_ERROR, error_class="transient")
            raise
        except BaseException as exc:
            store.finish_run(run.run_id, status="failed", counts=run.counts, phases=run.phases, notes=run.notes,
                             error=redact(f"internal error: {type(exc).__name__}: {exc}"), error_class=INTERNAL)
            raise
        finally:
            if plan is not None:
                plan.close()
        return store.get_run(run.run_id)


def _send(run: _Run, plan: Plan, destination, executor: Executor, existing) -> None:
    """Refuse, without a call, rows whose identifier is empty, malformed or unknown; then send the rest."""
    plan.check_rows(destination, existing)
    causes = run.refusal_causes(destination)
    for kind, (rows, examples) in plan.repeated_refusals({k: c for k, (c, _) in causes.items()}).items():
        cause_id, sample = causes[kind]
        run.store.count_repeats(run.run_id, cause_id, sample.outcome, rows, examples)
        run.counts.settle("retried", _count_outcome(sample), rows)
        run.counts.repeat(_count_outcome(sample), rows)
    run.save_progress()  # before any request: a run killed from here on shows what it had not attempted
    # One stream of requests over every chunk, so the pipeline never drains between chunks; the refused rows
    # are recorded while requests are in flight (500k new refusals take 18 s of SQLite writes here).
    batches = (batch for chunk in plan.rows(SEND_CHUNK_ROWS) for batch in destination.batches(chunk))
    refusals = (run.commit([], [destination.refusal(kind, row) for kind, row in chunk])
                for chunk in plan.refused(REFUSED_CHUNK_ROWS))
    executor.deliver(batches, lambda result: _record(run, destination, result), meanwhile=refusals)


def _record(run: _Run, destination, result) -> None:
    run.commit(result.synced, result.rejected)
    # Records the destination says it does not hold (deleted since the look-up) leave the known identifiers.
    missing = [r.row.match_value for r in result.rejected if r.record_missing]
    if missing and needs_lookup(destination):
        run.store.forget_known_identifiers(destination.lookup_scope, [destination.normalize(v) for v in missing])


def _count_outcome(problem: RowProblem) -> str:
    """Where a problem row counts in the invariant's outcomes."""
    if problem.outcome == "failed":
        return "failed"
    return "rejected_expected" if problem.error_class == "expected" else "rejected_other"


def needs_lookup(destination) -> bool:
    """The sync writes only to existing records, and the destination can list them (ExistenceExport)."""
    return isinstance(destination, ExistenceExport) and destination.lookup_scope is not None
