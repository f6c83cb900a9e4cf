"""One run of one sync, as explicit stages over a run context (run_context.py): connect, plan, guard, record,
look up, send, finish. The CLI and the worker (which runs what the dashboard asks for) call `run_sync`.

Whatever ends a run (its last stage, a guard, a cancel, an error the user must fix, a bug, Ctrl-C), its record
is finished in one place, once, with the status that says how it ended."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone

from .arrow_values import strings
from .clock import Clock, SystemClock
from .config import Workspace
from .credential_age import record_source_credential
from .destinations import TransientError
from .destinations.base import CallBudget, ExistenceExport, ExistenceLookup, Membership, TargetCheck
from .destinations.opening import open_destination
from .errors import INTERNAL, SyncCoreError
from .executor import Executor
from .guards import RunBlocked, check_change_guards
from .lookup import PendingLookup, look_up_planned, remember_confirmed
from .plan import Plan
from .planner import build_plan
from .progress import RunObserver, SilentObserver
from .rows import leaving_rows
from .run_context import CancelToken, RunCancelled, RunContext, RunEvents, RunRequest, count_outcome
from .run_mqr import RunMqr
from .secrets import redact
from .sources import open_source
from .state import RunRecord, StateStore
from .state.run_log import INTERRUPTED_ERROR
from .state.run_queue import CancelWatch

DEFAULT_CONCURRENCY = 2  # requests in flight when neither the workspace nor the destination object says
SEND_CHUNK_ROWS = 2_000  # rows turned into requests at a time: small, so the GIL is never held long
# (a long hold delays the senders after they took a rate-limit slot, and requests arrive bunched)
REFUSED_CHUNK_ROWS = 5_000  # refused rows recorded per transaction: a step short enough not to hold
# results back (0.1-0.2 s)


def run_sync(workspace: Workspace, sync_id: str, *, trigger: str = "cli", full_resync: bool = False,
             dry_run: bool = False, allow_removals: bool = False, retry_failed: bool = False,
             only_keys: list[str] | None = None,
             observer: RunObserver | None = None,
             clock: Clock | None = None, dated: Clock | None = None, cancel: CancelToken | None = None,
             events: RunEvents | None = None, requested_by: str | None = None) -> RunRecord:
    """Run a sync and return its record. Errors the user must fix are recorded on the run (status `failed`,
    with the error and its class) and returned, not raised; only an unknown sync id raises. A change guard
    (guards.py) records the run as `blocked` before anything changes; `allow_removals` accepts its change.
    `retry_failed` sends only the rows that failed or were rejected for a real reason; the other changes wait.
    `only_keys` sends only these keys' rows, unchanged or not (a reconciliation's resend); the others wait too.
    Setting `cancel`, or a cancel asked through the state store (`StateStore.request_cancel`, from any process),
    stops it between requests (`cancelled`); `events` hears of its start and its end. `requested_by`: who asked
    for it (a dashboard user's email, a user name), recorded on the run.

    `clock` is where rate limits, backoff and look-ups take their time: the destination's own (tests pass a
    scaled or manual one, shared with the sandbox). `dated` gives the time the run's records carry and the
    MQR period it counts in, when it is not `clock`'s (the demo's history runs on simulated days; its rate
    limits must still count in the sandbox's real time)."""
    request = RunRequest(sync_id, trigger, "dry_run" if dry_run else "sync", full_resync, allow_removals, retry_failed,
                         tuple(only_keys) if only_keys is not None else None)
    sync = workspace.sync(request.sync_id)
    clock = clock or SystemClock()
    events = events or RunEvents()
    with StateStore(workspace.state_path, clock=dated or clock) as store:
        run_id = store.start_run(sync.id, trigger=request.trigger, config_fingerprint=workspace.fingerprint(sync.id),
                                 run_type=request.run_type, full_resync=request.full_resync,
                                 retry_failed=request.retry_failed, resend=request.only_keys is not None)
        cancel = cancel or CancelToken()
        ctx = RunContext(store, run_id, sync, request, observer or SilentObserver(), cancel)
        stages = _Stages(workspace, ctx, clock, dated or clock)
        watch = None
        try:  # every branch decides the ending; `finally` records it
            if requested_by:
                store.set_requested_by(run_id, requested_by)
            events.announce_start(run_id)
            watch = CancelWatch(store.path, run_id, cancel.cancel)
            ending = _Ending(stages.run())
        except RunBlocked as exc:  # before anything was recorded: the run only reports its plan
            ending = _Ending("blocked", redact(str(exc)), exc.error_class)
        except RunCancelled as exc:
            ending = _Ending(exc.status, str(exc), exc.error_class)
        except (SyncCoreError, TransientError) as exc:  # may quote a vendor's or a proxy's answer
            ending = _Ending("failed", redact(str(exc)), getattr(exc, "error_class", "transient"))
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM where the caller turns it into one (`sync-core up`)
            ending = _Ending("interrupted", INTERRUPTED_ERROR, "transient")
            raise
        except BaseException as exc:
            ending = _Ending("failed", redact(f"internal error: {type(exc).__name__}: {exc}"), INTERNAL)
            raise
        finally:
            try:
                _end_stages(watch, stages)
            except BaseException as exc:  # a second Ctrl-C, or a bug, in the cleanup: the run still gets its ending
                if ending.status not in ("failed", "interrupted"):
                    ending = _ending_of_cleanup(exc)
                raise
            finally:
                store.finish_run(run_id, status=ending.status, counts=ctx.counts, phases=ctx.phases,
                                 notes=ctx.notes, error=ending.error, error_class=ending.error_class)
            events.announce_finish(store.get_run(run_id))
        return store.get_run(run_id)


def _end_stages(watch: CancelWatch | None, stages: _Stages) -> None:
    """The cancel watch stopped, the MQR's work joined, the plan and the key-state changes closed, whatever the
    step before raised."""
    try:
        if watch is not None:
            watch.stop()
        stages.settle_mqr()
    finally:
        stages.close()


def _ending_of_cleanup(exc: BaseException) -> _Ending:
    if isinstance(exc, KeyboardInterrupt):
        return _Ending("interrupted", INTERRUPTED_ERROR, "transient")
    return _Ending("failed", redact(f"internal error at the run's end: {type(exc).__name__}: {exc}"), INTERNAL)


@dataclass(frozen=True)
class _Ending:
    status: str
    error: str | None = None
    error_class: str | None = None


class _Stages:
    """The stages of one run, in order; each takes what the earlier ones left on this object."""

    def __init__(self, workspace: Workspace, ctx: RunContext, clock: Clock, dated: Clock):
        self.workspace, self.ctx, self.clock, self.dated = workspace, ctx, clock, dated
        self.plan: Plan | None = None
        self.mqr: RunMqr | None = None  # the run's MQR, once there is a plan
        self.lookup: PendingLookup | None = None
        # Under [mqr] policy = "block" the look-up waits for the budget check instead of overlapping the query
        self.lookup_deferred = False
        self.budget_checked = False  # CallBudget.before_sending ran: once, before the run's first counted call

    def run(self) -> str:
        """The stages; returns the run's status (`planned` for a dry run)."""
        ctx = self.ctx
        self.connect()
        with ctx.phase("query"):
            self.query()
        ctx.save_progress()  # the plan's counts, for whoever watches the run (the dashboard)
        self.guard()
        if ctx.request.dry_run:
            self.mqr.check(record=False)  # what the run would add to this period's MQR
            return "planned"
        ctx.check_cancel()
        if ctx.request.full_resync:  # owed until a run has tried every row: an interrupted one is continued
            ctx.store.start_resync(ctx.sync.id, ctx.run_id)
        with ctx.phase("record"):
            self.record()
        ctx.check_cancel()
        if self.lookup is None and self.lookup_deferred:  # the budget passed: only now may the destination be asked
            self.start_lookup()
        existing = None
        if self.lookup is not None:
            with ctx.phase("lookup"):  # the wait for the export, if it is still running
                existing, note = self.lookup.result()
            ctx.notes.append(note)
        elif isinstance(self.destination, ExistenceLookup):
            with ctx.phase("lookup"):  # who exists among the rows to send, asked before any is sent
                self.check_budget()
                existing = look_up_planned(self.plan, self.destination, self.executor, ctx.check_cancel)
        with ctx.phase("sync"):
            self.send(existing)
        ctx.check_cancel()  # a cancel during the sends left rows unsent: the run has not tried every row
        with ctx.phase("finish"):
            self.mqr.count_held_beside()  # the held marks beside the finish's own writes
            self.finish()
        return ctx.counts.status(ctx.sync.failure_threshold)

    def connect(self) -> None:
        """The destination, with its secret resolved: a config error before any query."""
        ctx, sync = self.ctx, self.ctx.sync
        self.destination = open_destination(self.workspace, sync, clock=self.clock)
        config = self.workspace.destinations[sync.destination]
        # Requests in flight, also the duplicate window after a crash: the object may widen it (events, whose
        # resends update in place) unless the workspace sets it.
        concurrency = config.concurrency or getattr(self.destination, "DEFAULT_CONCURRENCY", DEFAULT_CONCURRENCY)
        self.executor = Executor(self.destination, max_attempts=config.max_attempts, concurrency=concurrency,
                                 sleep=self.clock.sleep, on_retry=ctx.observer.note, cancel=ctx.cancel.event,
                                 max_retry_after=config.max_retry_after_seconds)
        if isinstance(self.destination, TargetCheck):  # what the sync writes into (a list) exists and takes writes
            self.executor.call(self.destination.check_target, f"{self.destination.name}: what {sync.id} writes into")

    def query(self) -> None:
        """The model's rows, diffed against the sync's key state. An update-only look-up of who exists starts
        as soon as the model's columns are known good, so the destination works while the model is queried
        (under an MQR budget that blocks, once the budget check has passed instead)."""
        ctx, store, sync, request = self.ctx, self.ctx.store, self.ctx.sync, self.ctx.request

        def start_lookup() -> None:
            if not needs_lookup(self.destination) or request.dry_run:
                return
            if self.workspace.mqr.policy == "block":  # a run the budget stops must ask the destination nothing
                self.lookup_deferred = True
            else:
                self.start_lookup()

        self.key_state = store.key_state(sync.id)
        self.resync_from = store.resync_in_progress(sync.id)
        resend = (store.confirmed_before(sync.id, self.resync_from)
                  if self.resync_from and not request.full_resync else None)
        model = self.workspace.models[sync.model]
        source_config = self.workspace.sources[model.source]
        # The password this run logs in with starts its age's clock, if this workspace never saw it (credential_age)
        record_source_credential(self.workspace, source_config, store,
                                 datetime.fromtimestamp(self.dated.now(), timezone.utc))
        source = open_source(source_config, sync_id=sync.id, run_id=ctx.run_id)
        retry_only = store.real_problem_keys(sync.id) if request.retry_failed else None
        if request.only_keys is not None:  # sent again even if unchanged: the destination may have lost them
            resend = retry_only = strings(list(request.only_keys))
        self.plan = build_plan(self.workspace, sync, source, store,
                               self.key_state, full_resync=request.full_resync, resend=resend,
                               retry_only=retry_only, destination=self.destination, columns_checked=start_lookup)
        ctx.counts, ctx.fingerprint = self.plan.counts, self.plan.fingerprint
        self.mqr = RunMqr(self.workspace, ctx, self.plan, self.dated)
        for note in self.plan.notes:
            ctx.note(note)
        if resend is not None and request.only_keys is None:
            ctx.note(f"Continuing the full resync started by run {self.resync_from}, which did not finish: "
                     f"{len(resend):,} rows confirmed before it are sent again.")

    def start_lookup(self) -> None:
        ctx = self.ctx
        self.lookup = PendingLookup(ctx.store, self.destination, self.executor, self.clock, sync_id=ctx.sync.id,
                                    run_id=ctx.run_id, full=ctx.request.full_resync)

    def guard(self) -> None:
        """Change guards, on the plan's counts alone: a run is blocked before anything is recorded; a dry run
        says it would be."""
        ctx = self.ctx
        try:
            check_change_guards(ctx.sync.id, ctx.counts, self.key_state.snapshot.num_rows,
                                ctx.sync.max_removal_share, allow_removals=ctx.request.allow_removals)
        except RunBlocked as exc:
            if not ctx.request.dry_run:
                raise
            ctx.note(f"A run would be blocked. {exc}")

    def record(self) -> None:
        """The MQR budget checked; invalid rows get their rejection state and leave the snapshot; the ledger counts
        the keys queried, beside the run's work until the first request (run_mqr.py)."""
        counting = self.mqr.check(record=True)
        # A member of a destination's set whose row is invalid now leaves the set first (send), then the snapshot.
        withdrawn = isinstance(self.destination, Membership)
        self.ctx.commit_changes(problems=self.plan.invalid, removed=[] if withdrawn else self.plan.invalid_synced_keys)
        self.mqr.record_beside(*counting)

    def settle_mqr(self) -> None:
        """For the end of every run: the MQR's work beside it joined, the held marks made (run_mqr.RunMqr.settle)."""
        if self.mqr is not None:
            self.mqr.settle()

    def send(self, existing) -> None:
        """Refuse, without a call, rows whose identifier is empty, malformed or unknown, or whose values the
        destination cannot take; then send the rest."""
        ctx, plan, destination = self.ctx, self.plan, self.destination
        plan.check_rows(destination, existing)
        # One stream of requests over every chunk, so the pipeline never drains between chunks; the refused rows
        # are recorded while requests are in flight (500k new refusals take 18 s of SQLite writes here).
        batches = (batch for chunk in plan.rows(SEND_CHUNK_ROWS, destination) for batch in destination.batches(chunk))
        if isinstance(destination, Membership):  # rows that left the model leave the destination's set too
            destination.track_members(ctx.store.destination_ids(ctx.sync.id),
                                      plan.identifiers(destination.identifier_rule()))
            batches = itertools.chain(batches, self._removals())
        # The first batch is made (the rows' sort, in DuckDB) while the MQR ledger is written beside, and before
        # this thread's own writes below, which would wait for the ledger's.
        first = next(batches, None)
        # A retry records each refused row again (a handful); the count-only fast path and the sweep below
        # assume every planned row was tried, which a retry's plan does not.
        causes = {} if ctx.request.limited else ctx.refusal_causes(destination)
        for kind, (rows, examples) in plan.repeated_refusals({k: c for k, (c, _) in causes.items()}).items():
            cause_id, sample = causes[kind]
            ctx.store.count_repeats(ctx.run_id, cause_id, sample.outcome, rows, examples)
            ctx.counts.settle("retried", count_outcome(sample), rows)
            ctx.counts.repeat(count_outcome(sample), rows)
        ctx.save_progress()  # before any request: a run killed from here on shows what it had not attempted
        self.check_budget()
        self.mqr.before_sending()  # nothing reaches the destination uncounted
        refusals = (ctx.commit([], [destination.refusal(kind, row) for kind, row in chunk])
                    for chunk in plan.refused(REFUSED_CHUNK_ROWS))
        self.executor.deliver(itertools.chain([first] if first is not None else [], batches), self._record,
                              meanwhile=refusals)

    def check_budget(self) -> None:
        """A destination whose calls a day are counted is told, once and before the run's first counted call, how
        many rows are still to try; its note says when the budget left does not cover them."""
        ctx, destination = self.ctx, self.destination
        if not isinstance(destination, CallBudget) or self.budget_checked:
            return
        self.budget_checked = True
        note = self.executor.call(lambda: destination.before_sending(ctx.counts.outcome("not_attempted")),
                                  f"{destination.name}: the daily quota left")
        if note:
            ctx.note(note)

    def _removals(self):
        """Each removed key as a row of operation `removed`, and each member whose row is invalid now as one of
        operation `withdrawn` (counted invalid already), in batches: they leave the snapshot once confirmed."""
        removed, withdrawn = self.plan.removed_keys, self.plan.invalid_synced_keys
        leaving = leaving_rows(removed + withdrawn, ["removed"] * len(removed) + ["withdrawn"] * len(withdrawn))
        for start in range(0, len(leaving), SEND_CHUNK_ROWS):
            yield from self.destination.batches(leaving[start:start + SEND_CHUNK_ROWS])

    def _record(self, result) -> None:
        self.ctx.commit(result.synced, result.rejected, result.destination_ids)
        for note in result.notes:
            if note not in self.ctx.notes:
                self.ctx.note(note)
        # Records the destination says it does not hold (deleted since the look-up) leave the known identifiers.
        missing = [r.row.match_value for r in result.rejected if r.record_missing]
        if missing and needs_lookup(self.destination):
            self.ctx.store.forget_known_identifiers(self.destination.lookup_scope,
                                                    [self.destination.normalize(v) for v in missing])
        if isinstance(self.destination, ExistenceExport):  # records a sync that may create them wrote exist now
            remember_confirmed(self.ctx.store, self.destination, result.synced)

    def finish(self) -> None:
        """Every planned row was tried: removed keys leave the snapshot, the rejections counted as repeats are
        swept as seen, a full resync in progress is done, and the next run's copy of the key state is written."""
        ctx, store, plan = self.ctx, self.ctx.store, self.plan
        if isinstance(self.destination, Membership):  # removals were sent, and committed as confirmed
            ctx.commit_changes(forgotten=plan.rejections_not_in_model)
        else:  # nothing is deleted in the destination: removed keys leave the snapshot
            ctx.commit_changes(removed=plan.removed_keys, forgotten=plan.rejections_not_in_model)
            ctx.counts.settle("removed", "synced", len(plan.removed_keys))
        if not ctx.request.limited:  # a retry did not try the rows it left: they were not seen again
            store.sweep_rejections(ctx.sync.id, ctx.run_id)  # see the method
        if (self.resync_from or ctx.request.full_resync) and not ctx.request.limited:  # a retry tried a few
            store.finish_resync(ctx.sync.id)
        store.save_key_state(self.key_state, ctx.changes)

    def close(self) -> None:
        self.ctx.changes.close()
        if self.plan is not None:
            self.plan.close()


def needs_lookup(destination) -> bool:
    """The sync writes only to existing records, and the destination can list them (ExistenceExport)."""
    return isinstance(destination, ExistenceExport) and destination.lookup_scope is not None
