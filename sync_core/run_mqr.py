"""A run's MQR (mqr.py): the keys it queried counted in the billing period's ledger and in the sync's own keys,
and at its end the keys the destination holds marked held.

Each is a few hundred thousand rows of SQLite and DuckDB work at 100k keys, which mostly releases the GIL, so
both run on a thread of their own (beside.Beside) on a connection of their own (StateStore.sibling), beside
the run's other work instead of before or after it:

- the budget check comes first, in the run's thread: under `[mqr] policy = "block"` it stops the run before
  anything is counted, written or asked of the destination, and a warning is noted in the run's order;
- the ledger's writes then run beside the look-up's wait and `check_rows`, and are joined before the first
  request (`before_sending`): nothing reaches the destination uncounted, as when they came first; a failure
  there fails the run, as it did;
- the held marks need the keys the run confirmed, final once every request is recorded: they run beside the
  finish stage (the key state's copy), and whatever ends the run they are joined (or, if never started, made)
  before its record is finished (`settle`)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from .beside import Beside
from .clock import Clock
from .config import Workspace
from .guards import MqrBudgetExceeded, mqr_over_budget
from .mqr import current_period_start
from .plan import Plan
from .run_context import RunContext
from .secrets import redact
from .state import StateStore
from .state.mqr_ledger import CountedKeys

log = logging.getLogger(__name__)


class RunMqr:
    def __init__(self, workspace: Workspace, ctx: RunContext, plan: Plan, dated: Clock):
        self.workspace, self.ctx, self.plan, self.dated = workspace, ctx, plan, dated
        self.period: str | None = None  # set once this run's keys are counted in a period's MQR
        self._ledger: Beside[str] | None = None  # the ledger's writes, until joined
        self._held: Beside[None] | None = None  # the held marks, until joined

    def check(self, *, record: bool) -> tuple[str, pa.Array, CountedKeys]:
        """The keys queried that are new to this billing period's MQR, checked against its budget: the period,
        them, and the ledger as read. A dry run (`record` false) notes what a run would meet and records how
        many it would count; under policy "block" a run over the budget stops here (MqrBudgetExceeded)."""
        ctx, store, sync, mqr = self.ctx, self.ctx.store, self.ctx.sync, self.workspace.mqr
        entity = self.workspace.models[sync.model].entity
        now = datetime.fromtimestamp(self.dated.now(), timezone.utc)
        period = current_period_start(mqr.billing_period_start_day, now)
        counted = store.mqr_digests(period.isoformat(), entity)
        new = self.plan.key_digests(counted.digests)
        over = mqr_over_budget(mqr, used=sum(store.mqr_usage(period.isoformat()).values()), new=len(new), period=period)
        if over and not record:
            ctx.note(f"A run would be {'blocked' if mqr.policy == 'block' else 'warned'}. {over}")
        elif over and mqr.policy == "block":
            store.set_mqr_new(ctx.run_id, 0)
            raise MqrBudgetExceeded(f"{over} Nothing was sent, and nothing counted. Raise [mqr] limit in "
                                    f"{self.workspace.file.name} if the plan allows more, restrict model "
                                    f"'{sync.model}' to fewer records, or wait for the next billing period; with "
                                    '[mqr] policy = "warn" the run goes ahead and records a warning.')
        elif over:
            ctx.note(f"Warning: {over} The run went ahead ([mqr] policy = \"warn\").")
        if not record:
            store.set_mqr_new(ctx.run_id, len(new))
        return period.isoformat(), new, counted

    def record_beside(self, period: str, new: pa.Array, counted: CountedKeys) -> None:
        """Start adding the keys (`check`'s) to the period's ledger and to the sync's own keys."""
        self._ledger = Beside("mqr-ledger", lambda: self._record(period, new, counted))

    def _record(self, period: str, new: pa.Array, counted: CountedKeys) -> str:
        ctx, sync = self.ctx, self.ctx.sync
        with ctx.store.sibling() as store:
            # The sync's keys first (reads and DuckDB): the run's thread writes its phase meanwhile, unblocked
            seen = store.sync_keys(period, sync.id)
            queried, held = self.plan.sync_digests(seen.digests)
            added = store.record_queried(period, self.workspace.models[sync.model].entity, new, ctx.run_id, counted,
                                         sync_id=sync.id)
            store.record_sync_queried(period, sync.id, queried, seen, held=held)
            store.set_mqr_new(ctx.run_id, added)
        return period

    def before_sending(self) -> None:
        """Wait for the ledger's writes; raises what stopped them."""
        if self._ledger is not None:
            try:
                self.period = self._ledger.join()
            finally:  # kept while it runs (a Ctrl-C during the wait): `settle` joins it before the plan is freed
                if not self._ledger.running:
                    self._ledger = None

    def count_held_beside(self) -> None:
        """Start marking held the keys the destination holds after the run (unchanged, or confirmed by it): the
        sync's MQR that bought something this period. Call once every request is recorded."""
        if self.period is None:
            return
        try:
            synced = self.ctx.changes.synced_keys()  # opened here: the spool's writer is this thread
        except OSError:  # the spool lost changes: `settle` meets it again, and logs it
            return
        self._held = Beside("mqr-held", lambda: self._count_held(synced))

    def _count_held(self, synced_keys: pa.RecordBatchReader) -> None:
        with self.ctx.store.sibling() as store:
            self._mark_held(synced_keys, store)

    def _mark_held(self, synced_keys: pa.RecordBatchReader, store: StateStore) -> None:
        seen = store.sync_keys(self.period, self.ctx.sync.id)
        held = self.plan.held_digests(synced_keys, pc.filter(seen.digests, seen.held))
        store.mark_held(self.period, self.ctx.sync.id, held, seen)

    def settle(self) -> None:
        """For the end of every run, whatever ended it: the ledger's writes joined, and the held marks made (or
        joined). A failure here is logged, never the run's ending (the held marks only attribute MQR, and the
        next run of the period marks the same keys); one of the ledger's that the run did not meet yet (it
        ended before sending) left the period uncounted, as when the ledger came first and failed."""
        try:
            self.before_sending()
            if self._held is not None:
                self._held.join()
                self._held = None
            elif self.period is not None:  # the run ended before its finish stage: rows it synced count
                self._mark_held(self.ctx.changes.synced_keys(), self.ctx.store)
        except Exception as exc:
            log.warning("run %s: the keys it queried or left held were not all counted in the sync's MQR: %s",
                        self.ctx.run_id, redact(str(exc)))
