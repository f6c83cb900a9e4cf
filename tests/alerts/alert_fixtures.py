"""Workspaces with an [alerts] table, and runs recorded through the real state store, for the alerts' tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sync_core import RunCounts, StateStore, load_workspace
from test_config import BASE

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WEBHOOK_ENV, PASSWORD_ENV = "ALERTS_TEST_WEBHOOK_URL", "ALERTS_TEST_SMTP_PASSWORD"
# The part of a Slack webhook's URL that is its credential.
SECRET_PATH = "/services/T0SECRET1/B0SECRET2/xoxSecretToken42"

# test_config's workspace, its sync renamed and scheduled.
WORKSPACE = BASE.replace("[syncs.people-to-iterable]", "[syncs.people]").replace(
    'name = "People"', 'name = "People-Production"\nschedule = "every 24h"')
assert "[syncs.people]" in WORKSPACE and "every 24h" in WORKSPACE


def alerts_toml(*, webhook: bool = True, smtp_port: int | None = None, timeout: float | None = None,
                login: str | None = None, dashboard_url: str | None = "http://localhost:8501") -> str:
    """An [alerts] table: the webhook's URL from WEBHOOK_ENV, email to an SMTP server on loopback (no STARTTLS)."""
    text = "\n[alerts]\n"
    if dashboard_url:
        text += f'dashboard_url = "{dashboard_url}"\n'
    if webhook:
        text += f'[alerts.webhook]\nurl = "env:{WEBHOOK_ENV}"\n'
        if timeout is not None:
            text += f"timeout_seconds = {timeout}\n"
    if smtp_port is not None:
        text += (f'[alerts.email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nstarttls = false\n'
                 'from = "sync-core <alerts@example.com>"\nto = ["ops@example.com", "data@example.com"]\n')
        if login:
            text += f'username = "{login}"\npassword = "env:{PASSWORD_ENV}"\n'
    return text


def make_workspace(root: Path, alerts: str = ""):
    root.mkdir(parents=True, exist_ok=True)
    (root / "workspace.toml").write_text(WORKSPACE + alerts)
    return load_workspace(root)


def record_run(store: StateStore, status: str, *, sync_id: str = "people", error: str | None = None,
               run_type: str = "sync") -> int:
    """A run as the runner records one (start_run, finish_run), with the given ending."""
    run_id = store.start_run(sync_id, trigger="test", config_fingerprint="f", run_type=run_type)
    if status != "running":
        store.finish_run(run_id, status=status, counts=RunCounts(), phases={}, notes=[], error=error,
                         error_class="config" if error else None)
    return run_id


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
