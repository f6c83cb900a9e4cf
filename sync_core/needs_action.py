"""What needs someone's action now, in the order to act on it: the Overview's first list.

A judgement over what the caller has read (each sync's status, the live workers, the MQR report, the passwords'
ages, the Marketo quotas), so the dashboard reads through its cache and the rules can be tested without it. The
rules: a sync whose last run failed or was blocked; a sync whose last run found data problems its previous run did
not have (problems already standing are shown with the sync, not here: nobody can act on them twice); a sync
overdue on its schedule; schedules with no worker to run them; a run the MQR budget stopped, or a period over
budget; a Snowflake password expired or about to; a Marketo daily quota running out. Lines that inform without
asking anything (a quota that is fine, a password whose age cannot be told here) come with them, not counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .destinations.marketo.quota import OK as QUOTA_OK, USED_UP, DailyQuota
from .history import RunProblems
from .mqr_report import MqrReport
from .state import RunRecord
from .sync_status import SyncStatus, schedules_wait_for_a_worker

ERROR, WARNING, INFO = "error", "warning", "info"
# Runs by how soon to look at them: a failure first, a healthy run last
_URGENCY = {"failed": 0, "blocked": 0, "warning": 1, "interrupted": 2, "cancelled": 2, "healthy": 3}


@dataclass(frozen=True)
class Action:
    kind: str  # run, data_problems, overdue, no_worker, mqr_blocked, mqr_over_budget, password, quota
    severity: str  # ERROR, WARNING, or INFO (told, not counted as an action)
    subject: str  # what it is about: a sync's name, "MQR budget", "Snowflake password", "Marketo"
    text: str  # the sentence after the subject
    sync_id: str | None = None
    run_id: int | None = None


def by_urgency(statuses: list[SyncStatus]) -> list[SyncStatus]:
    """Failed and blocked syncs first, then warnings, then the rest; overdue before on time; then by name."""
    def urgency(status: SyncStatus) -> tuple:
        run = status.last_run
        return _URGENCY.get(run.status, 2) if run else 2, status.overdue_by is None, status.sync.name, status.sync.id
    return sorted(statuses, key=urgency)


def needs_action(statuses: list[SyncStatus], workers: list, report: MqrReport, *,
                 problems_of: Callable[[RunRecord], RunProblems], passwords: list[tuple[str, str]],
                 quotas: list[tuple[str, DailyQuota | str]], when: Callable[[str], str],
                 worker_command: str = "sync-core worker") -> list[Action]:
    """`passwords`: (status, sentence) of each Snowflake password not "ok"; `quotas`: each Marketo destination's
    quota, or why it could not be read; `when` writes a run's ISO time for the reader."""
    actions = []
    shared = {n for n, count in Counter(s.sync.name for s in statuses).items() if count > 1}
    for s in by_urgency(statuses):
        named = f"{s.sync.name} ({s.sync.id})" if s.sync.name in shared else s.sync.name  # two syncs, one name
        actions += _sync_actions(s, named, problems_of, when)
    if schedules_wait_for_a_worker(statuses, workers):
        actions.append(Action("no_worker", WARNING, "No worker is running",
                              f"scheduled syncs do not run. Start one: `{worker_command}`."))
    for run in report.blocked_runs:
        actions.append(Action("mqr_blocked", ERROR, "MQR budget",
                              f"run {run.id} of {run.sync_id} was stopped before it counted anything.",
                              run.sync_id, run.id))
    if report.used > report.budget:
        actions.append(Action("mqr_over_budget", ERROR, "MQR", f"{report.used:,} records counted this period, "
                                                               f"over the budget of {report.budget:,}."))
    for status, sentence in passwords:
        # This dashboard's host may lack a secret the worker's has: worth a note, not an alarm
        severity = INFO if status == "unknown" else ERROR if status == "expired" else WARNING
        actions.append(Action("password", severity, "Snowflake password", sentence))
    for destination, quota in quotas:
        actions.append(_quota_action(destination, quota, when))
    return actions


def _sync_actions(s: SyncStatus, named: str, problems_of, when) -> list[Action]:
    found = []
    run = s.last_run
    if run is not None and run.status in ("failed", "blocked"):
        reason = _first_line(run.error) if run.error else f"{run.counts.real_rows:,} rows with real problems"
        found.append(Action("run", ERROR, named,
                            f"last run {run.status} ({when(run.finished_at or run.started_at)}): {reason}",
                            s.sync.id, run.id))
    whole = s.last_whole_run  # a retry of failed rows meets them again: it does not make them standing
    if whole is not None and whole.status == "warning":
        problems = problems_of(whole)
        new = problems.new
        if run is not None and run.id != whole.id and run.partial and run.status in ("healthy", "warning"):
            new = min(new, problems_of(run).data)  # a retry since meets at most that many again (none: fixed)
        if new and problems.compared_with is not None:
            found.append(Action("data_problems", WARNING, named,
                                f"{new:,} row{'' if new == 1 else 's'} with data problems new since its previous "
                                f"run ({problems.data:,} in all).", s.sync.id, whole.id))
    if s.overdue_by is not None:
        found.append(Action("overdue", ERROR, named, s.overdue_text(), s.sync.id))
    return found


def _first_line(text: str, limit: int = 200) -> str:
    """An error's first line, cut at a word within `limit` characters (the run's page has it whole)."""
    line = text.splitlines()[0]
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _quota_action(destination: str, quota: DailyQuota | str, when: Callable[[str], str]) -> Action:
    named = "Marketo" if destination.lower() == "marketo" else f"Marketo {destination}"  # not "Marketo marketo"
    if isinstance(quota, str):  # could not be read
        return Action("quota", INFO, named, quota)
    if quota.state == QUOTA_OK:
        return Action("quota", INFO, named, f"{quota.describe(when)}.")
    return Action("quota", ERROR if quota.state == USED_UP else WARNING, named,
                  f"{quota.state}: {quota.describe(when)}. Runs send "
                  f"{'nothing' if quota.state == USED_UP else 'only what is left above the reserve'} until the reset.")
