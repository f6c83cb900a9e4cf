"""What an alert says: the sync, its old -> new status, the run and its error, the rows and causes behind a failure,
and a link to the run's page in the dashboard. One subject line and a plain-text body, stored with the alert and
sent as they are (email) or as Slack text (webhook).

Every text is redacted (secrets.redact): a run's error was redacted by the process that ran it, but this one may
have resolved other secrets."""

from __future__ import annotations

from datetime import datetime

from ..history import is_expected
from ..secrets import redact
from ..state import CauseSummary, RunRecord
from ..state.alert_log import AlertState, NewAlert

TOP_CAUSES = 3  # the causes a failure's message names; Run details has them all


def failed(name: str, seen: AlertState, run: RunRecord, causes: list[CauseSummary], *, workspace: str,
           dashboard_url: str | None) -> NewAlert:
    """`Iterable-Production failed (run 42)`: the error, the rows, the leading causes."""
    verb = "was blocked" if run.status == "blocked" else "failed"
    lines = [f"{name}: {_before(seen)} → {run.status} (run {run.id}, {_ran(run)})."]
    if run.error:
        lines.append(f"Error: {run.error}")
    lines += _rows(run)
    real = [c for c in causes if not is_expected(c.error_class)][:TOP_CAUSES]
    if real:
        lines.append("Causes:")
        lines += [f"- {c.rows:,} {c.outcome}: {c.code} ({c.error_class}) {c.template}" for c in real]
    return _alert("failed", run.id, f"{name} {verb} (run {run.id})", lines, workspace,
                  _link(dashboard_url, run.id))


def recovered(name: str, seen: AlertState, run: RunRecord, *, workspace: str,
              dashboard_url: str | None) -> NewAlert:
    lines = [f"{name}: {_before(seen)} → {run.status} (run {run.id}, {_ran(run)})."]
    if run.status != "healthy":
        lines += _rows(run)
    return _alert("recovered", run.id, f"{name} recovered (run {run.id})", lines, workspace,
                  _link(dashboard_url, run.id))


def overdue(name: str, schedule: str, description: str, latest: RunRecord | None, *, workspace: str,
            dashboard_url: str | None) -> NewAlert:
    lines = [f"{name} is overdue: {description} (schedule: {schedule}).", _latest(latest)]
    run_id = latest.id if latest else None
    return _alert("overdue", run_id, f"{name} is overdue", lines, workspace, _link(dashboard_url, run_id))


def back_on_schedule(name: str, schedule: str, latest: RunRecord | None, *, workspace: str,
                     dashboard_url: str | None) -> NewAlert:
    lines = [f"{name} is no longer overdue (schedule: {schedule}).", _latest(latest)]
    run_id = latest.id if latest else None
    return _alert("back_on_schedule", run_id, f"{name} is back on schedule", lines, workspace,
                  _link(dashboard_url, run_id))


def slack_text(subject: str, message: str) -> str:
    """Slack's `text`: the subject in bold, then the body. Slack reads `<...>` as a link or a mention, and causes
    hold templates like `<email>`, so &, < and > are escaped as its docs ask."""
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"*{escape(subject)}*\n{escape(message)}"


def _alert(kind: str, run_id: int | None, subject: str, lines: list[str], workspace: str,
           link: str | None) -> NewAlert:
    if link:
        lines.append(f"Run details: {link}")
    lines.append(f"Workspace: {workspace}")
    return NewAlert(kind, run_id, redact(subject), redact("\n".join(lines)))


def _link(dashboard_url: str | None, run_id: int | None) -> str | None:
    """The dashboard's Run details page (pages/run.py, routed as /run, reads `?run=ID`); Run history without a run."""
    if not dashboard_url:
        return None
    return f"{dashboard_url}/run?run={run_id}" if run_id is not None else f"{dashboard_url}/runs"


def _before(seen: AlertState) -> str:
    return f"{seen.status} (run {seen.status_run_id})" if seen.status else "first run seen by alerts"


def _ran(run: RunRecord) -> str:
    return f"trigger {run.trigger}, finished {_when(run.finished_at)}"


def _when(stamp: str | None) -> str:
    return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC") if stamp else "-"


def _rows(run: RunRecord) -> list[str]:
    """The rows that need someone, when there are any (a fatal error may stop a run before any)."""
    c = run.counts
    if not c.real_rows:
        return []
    parts = [(c.outcome("rejected_other"), "rejected"), (c.outcome("failed"), "failed"),
             (c.invalid, "invalid"), (c.outcome("rejected_expected"), "rejected as expected"),
             (c.outcome("not_attempted"), "not attempted")]
    named = ", ".join(f"{n:,} {what}" for n, what in parts if n)
    return [f"Rows: {c.queried:,} queried, {c.planned:,} planned, {c.outcome('synced'):,} synced; {named}."]


def _latest(run: RunRecord | None) -> str:
    if run is None:
        return "It has no run yet."
    return f"Latest run: {run.id}, {run.status}, started {_when(run.started_at)}."
