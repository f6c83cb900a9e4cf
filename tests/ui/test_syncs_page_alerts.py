"""A failed alert delivery is visible on the Syncs page, and changes no run: a webhook that answers 500."""

from __future__ import annotations

from sync_core import StateStore
from sync_core.worker import Worker
from alert_receivers import Webhook
from small_workspace import small_workspace

HOOK_ENV = "SYNCS_PAGE_TEST_HOOK"


def test_a_webhook_answering_500_changes_no_run_and_its_failed_delivery_shows(tmp_path, monkeypatch, open_app):
    with Webhook(answers=(500,)) as hook, small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE",
                                                          rows=[("ana@x.io", 1.0)], mappings=[("score", "score")]) as s:
        monkeypatch.setenv(HOOK_ENV, hook.url())
        with open(s.root / "workspace.toml", "a") as toml:
            toml.write(f'\n[alerts.webhook]\nurl = "env:{HOOK_ENV}"\n')
        monkeypatch.setenv("SMALL_ITERABLE_KEY", "revoked")
        failed = s.run()
        worker = Worker(s.root)
        try:
            worker.check_alerts()
        finally:
            worker.store.close()
        assert len(hook.bodies) == 1
        with StateStore(s.workspace.state_path, read_only=True) as store:
            assert store.get_run(failed.id).status == "failed"  # as it ended, whatever the webhook said
            [alert] = store.recent_alerts()
        [delivery] = alert.deliveries
        assert delivery.status == "pending" and delivery.attempts == 1 and "500" in delivery.last_error

        at = open_app(s.root, "pages/syncs.py")
        shown = " ".join(e.value for e in [*at.main.markdown, *at.main.caption])
        assert alert.subject in shown and "webhook" in shown and "500" in shown
