"""`sync-core up`'s history on a new demo: every sync runs once per simulated day, each run dated its day; the
Marketo runs go beside the Iterable ones after the day's first run, which still counts every person's MQR first,
and each run's line is printed once, the Marketo run's after the day's first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sync_core import StateStore, invariant_violations
from sync_core.launcher import _build_history
from sync_core.progress import SilentObserver

from demo_helpers import demo_workspace

DAYS = 2


class QuietObserver(SilentObserver):
    def close(self) -> None:
        pass


def test_each_day_runs_every_sync_and_the_first_run_counts_every_person_first(tmp_path, capsys):
    with demo_workspace(tmp_path, rate_limits=False, marketo=True) as demo:
        workspace = demo.workspace
        first = next(iter(workspace.syncs))

        _build_history(workspace, DAYS, QuietObserver)
        lines = capsys.readouterr().out.splitlines()

        with StateStore(workspace.state_path) as store:
            runs = sorted(store.list_runs(limit=100), key=lambda r: r.id)
        today = datetime.now(timezone.utc).date()
        for day in range(DAYS):
            dated = today - timedelta(days=DAYS - 1 - day)
            of_day = [r for r in runs if datetime.fromisoformat(r.started_at).date() == dated]
            assert sorted(r.sync_id for r in of_day) == sorted(workspace.syncs), dated
            for run in of_day:
                assert run.status in ("healthy", "warning"), (run.sync_id, run.error)
                assert invariant_violations(run.counts.as_dict()) == [], run.sync_id
            assert [r.sync_id for r in of_day][0] == first  # it ran alone, before the others started
            # the day's first run queried every contact: no person was counted first by a run beside it
            assert all(r.mqr_new == 0 for r in of_day if r.sync_id != first), [(r.sync_id, r.mqr_new) for r in of_day]
        marketo = [r for r in runs if r.sync_id == "marketo-activities"]
        assert len(marketo) == DAYS and marketo[0].counts.outcome("synced") > 0

        days = [i for i, line in enumerate(lines) if line.startswith("Day ")]
        assert len(days) == DAYS and lines[-1].startswith(f"History ready: {DAYS} days")
        for start, end in zip(days, days[1:] + [len(lines) - 1]):
            printed = [line.split(":")[0].strip() for line in lines[start + 1:end]]
            assert sorted(printed) == sorted(workspace.syncs)  # each run's line, once
            assert printed[0] == first and printed.index("marketo-activities") > 0
