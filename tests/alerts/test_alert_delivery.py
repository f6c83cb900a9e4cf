"""Alerts received by a real webhook server and a real SMTP server on loopback: one per change of status, none for
a run with only expected rejections; a failed delivery is recorded and retried, and never touches the run."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from contextlib import closing

import pytest

from alert_fixtures import (PASSWORD_ENV, SECRET_PATH, T0, WEBHOOK_ENV, alerts_toml, make_workspace, minutes,
                            record_run)
from alert_receivers import Inbox, Webhook, closed_port
from small_workspace import small_workspace
from sync_core import Alerts, StateStore, load_workspace

TABLE = "email VARCHAR, first_name VARCHAR, score DOUBLE"
ROWS = [(f"user{i}@x.io", f"U{i}", float(i)) for i in range(10)]
MAPPINGS = [("first_name", "firstName"), ("score", "score")]


def with_alerts(s, alerts: str):
    """The small workspace with an [alerts] table added."""
    file = s.root / "workspace.toml"
    file.write_text(file.read_text() + alerts)
    return load_workspace(s.root)


def test_one_alert_per_status_change_by_webhook_and_email(tmp_path, monkeypatch):
    """Real runs: healthy, failed (rejected values), failed (a missing key), healthy, healthy -> 2 alerts each way."""
    with small_workspace(tmp_path, monkeypatch, table=TABLE, rows=ROWS, mappings=MAPPINGS, mode="upsert") as s, \
            Webhook() as hook, Inbox() as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = with_alerts(s, alerts_toml(smtp_port=inbox.port))
        statuses = []
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)

            def run_and_tick(minute: int):
                statuses.append(s.run().status)
                alerts.observe(T0 + minutes(minute))
                alerts.deliver(T0 + minutes(minute))

            run_and_tick(0)
            s.sql("UPDATE people SET score = 'NaN'::DOUBLE WHERE score < 5")  # 5 of 10 rows cannot be sent
            run_and_tick(1)
            monkeypatch.delenv("SMALL_ITERABLE_KEY")  # the next run stops at connect
            run_and_tick(2)
            monkeypatch.setenv("SMALL_ITERABLE_KEY", "small-test-key")
            s.sql("UPDATE people SET score = 1 WHERE isnan(score)")
            run_and_tick(3)
            run_and_tick(4)
            recent = store.recent_alerts()

        assert statuses == ["healthy", "failed", "failed", "healthy", "healthy"]
        assert [a.kind for a in recent] == ["recovered", "failed"]
        assert all(d.status == "delivered" and d.attempts == 1 for a in recent for d in a.deliveries)
        assert len(hook.bodies) == 2 and len(inbox.messages) == 2

        failed, recovered = hook.texts
        assert failed.startswith("*people failed (run 2)*\npeople: healthy (run 1) → failed (run 2, trigger test")
        assert "5 rejected" in failed and "UnsendableValue (data)" in failed
        assert "Run details: http://localhost:8501/run?run=2" in failed
        assert recovered.startswith("*people recovered (run 4)*\npeople: failed (run 3) → healthy (run 4")

        mail = inbox.messages[0]
        assert mail["Subject"] == "[sync-core] people failed (run 2)"
        assert mail["From"] == "sync-core <alerts@example.com>" and mail["To"] == "ops@example.com, data@example.com"
        assert inbox.envelopes[0] == ("alerts@example.com", ["ops@example.com", "data@example.com"])
        body = mail.get_content().replace("\r\n", "\n")
        assert "Causes:\n- 5 rejected: UnsendableValue (data) Field '<field>' holds <value>" in body and "Run details: http://localhost:8501/run?run=2" in body
        assert inbox.messages[1]["Subject"] == "[sync-core] people recovered (run 4)"


def test_a_run_with_only_expected_rejections_never_alerts(tmp_path, monkeypatch):
    """Update-only, NotFound declared expected: a real run whose users are missing is healthy, and nothing is sent."""
    with small_workspace(tmp_path, monkeypatch, table=TABLE, rows=ROWS[:5], mappings=MAPPINGS) as s, \
            Webhook() as hook, Inbox() as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = with_alerts(s, alerts_toml(smtp_port=inbox.port))
        s.create_users(*(email for email, *_ in ROWS[:5]))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            assert s.run().status == "healthy"
            assert alerts.observe(T0) == []
            s.sql("INSERT INTO people VALUES " + ", ".join(f"('{e}', '{n}', {v})" for e, n, v in ROWS[5:]))
            record = s.run()
            assert record.status == "healthy" and record.counts.outcome("rejected_expected") == 5
            assert alerts.observe(T0 + minutes(1)) == []
            alerts.deliver(T0 + minutes(1))
            assert store.recent_alerts() == []
        assert hook.bodies == [] and inbox.messages == []


def test_a_webhook_answering_500_is_retried_at_the_next_due_time_and_then_given_up(tmp_path, monkeypatch):
    with Webhook(answers=[500, 500, 200]) as hook, Inbox() as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=inbox.port))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            run_id = record_run(store, "failed", error="Snowflake password expired")
            [alert] = alerts.observe(T0)
            alerts.deliver(T0)  # the run is recorded already; this cannot change it
            assert store.get_run(run_id).status == "failed"

            def webhook_delivery():
                [recent] = store.recent_alerts()
                return next(d for d in recent.deliveries if d.channel == "webhook")

            first = webhook_delivery()
            assert (first.status, first.attempts) == ("pending", 1)
            assert first.last_error == "the webhook (env:ALERTS_TEST_WEBHOOK_URL) answered HTTP 500: ok"
            assert first.next_attempt_at == "2026-03-02T09:01:00+00:00"
            assert [d.status for d in store.recent_alerts()[0].deliveries] == ["delivered", "pending"]  # email

            alerts.deliver(T0 + minutes(0.9))  # not due yet
            assert len(hook.bodies) == 1
            alerts.deliver(T0 + minutes(1))
            second = webhook_delivery()
            assert (second.attempts, second.next_attempt_at) == (2, "2026-03-02T09:06:00+00:00")
            alerts.deliver(T0 + minutes(6))
            third = webhook_delivery()
            assert (third.status, third.attempts, third.delivered_at) == ("delivered", 3, "2026-03-02T09:06:00+00:00")
            assert len(hook.bodies) == 3 and len(inbox.messages) == 1 and alert.id == store.recent_alerts()[0].id

        # A webhook that never takes it: four attempts (after 1, 5 and 15 minutes), then given up, recorded.
        hook.answers = [503]
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            record_run(store, "healthy")
            [recovered] = alerts.observe(T0 + minutes(30))
            for minute in (30, 31, 36, 51, 52, 200):
                alerts.deliver(T0 + minutes(minute))
            [webhook] = [d for d in store.recent_alerts()[0].deliveries if d.channel == "webhook"]
        assert (webhook.status, webhook.attempts, webhook.next_attempt_at) == ("failed", 4, None)
        assert "answered HTTP 503" in webhook.last_error and len(hook.bodies) == 3 + 4


def test_a_webhook_that_never_answers_is_a_recorded_attempt_and_raises_nothing(tmp_path, monkeypatch):
    with Webhook(hang=True) as hook:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = make_workspace(tmp_path / "ws", alerts_toml(timeout=0.5))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            run_id = record_run(store, "failed", error="boom")
            alerts.observe(T0)
            alerts.deliver(T0)
            [delivery] = store.recent_alerts()[0].deliveries
            assert store.get_run(run_id).status == "failed"
        assert len(hook.bodies) == 1  # it got the request, and never answered
        assert (delivery.channel, delivery.status, delivery.attempts) == ("webhook", "pending", 1)
        assert delivery.last_error == "the webhook (env:ALERTS_TEST_WEBHOOK_URL) did not answer within 0.5 s"
        assert delivery.next_attempt_at == "2026-03-02T09:01:00+00:00"


def test_secrets_never_reach_the_store_the_log_or_the_alerts(tmp_path, monkeypatch, caplog):
    """The webhook's URL (its path is Slack's credential) and the SMTP password, through every failure: a server
    echoing the URL's path, a refused connection, a refused login."""
    password = "smtp-Pa55word-secret"
    monkeypatch.setenv(PASSWORD_ENV, password)
    caplog.set_level(logging.WARNING)
    with Webhook(answers=[500], echo_path=True) as hook, Inbox(login=("alerts", "other-password")) as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url(SECRET_PATH))
        ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=inbox.port, login="alerts"))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            record_run(store, "failed", error="boom")
            alerts.observe(T0)
            alerts.deliver(T0)
            [echoed] = [d.last_error for d in store.recent_alerts()[0].deliveries if d.channel == "webhook"]
            monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{closed_port()}{SECRET_PATH}")
            alerts.deliver(T0 + minutes(1))
            [alert] = store.recent_alerts()
        assert hook.bodies and not inbox.messages

    email, webhook = alert.deliveries
    assert email.last_error.startswith(f"the SMTP server 127.0.0.1:{inbox.port} answered 535")
    assert webhook.attempts == 2 and webhook.last_error == (
        "could not connect to the webhook (env:ALERTS_TEST_WEBHOOK_URL): Connection refused")
    with closing(sqlite3.connect(ws.state_path)) as db:
        stored = "\n".join(db.iterdump())
    assert echoed == "the webhook (env:ALERTS_TEST_WEBHOOK_URL) answered HTTP 500: no_service at <redacted>"
    shown = json.dumps([echoed, alert.__dict__, [d.__dict__ for d in alert.deliveries]], default=str)
    for secret in ("T0SECRET1", "B0SECRET2", "xoxSecretToken42", password):
        assert secret not in stored and secret not in shown and secret not in caplog.text


def test_email_logs_in_with_the_password_it_references(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "smtp-Pa55word-secret")
    with Inbox(login=("alerts", "smtp-Pa55word-secret")) as inbox:
        ws = make_workspace(tmp_path / "ws", alerts_toml(webhook=False, smtp_port=inbox.port, login="alerts"))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            record_run(store, "failed", error="Snowflake password expired")
            alerts.observe(T0)
            alerts.deliver(T0)
            [delivery] = store.recent_alerts()[0].deliveries
    assert (delivery.channel, delivery.status, delivery.delivered_at) == ("email", "delivered", "2026-03-02T09:00:00+00:00")
    [mail] = inbox.messages
    assert "Error: Snowflake password expired" in mail.get_content()


def test_a_refused_email_is_recorded_and_the_webhook_still_delivers(tmp_path, monkeypatch):
    with Webhook() as hook, Inbox(refuse="554 5.7.1 relaying denied") as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=inbox.port))
        with StateStore(ws.state_path) as store:
            alerts = Alerts(ws, store)
            record_run(store, "blocked", error="the model returned no rows")
            [alert] = alerts.observe(T0)
            alerts.deliver(T0)
            email, webhook = store.recent_alerts()[0].deliveries
    assert alert.subject == "People-Production was blocked (run 1)"
    assert email.status == "pending" and email.last_error == (
        f"the SMTP server 127.0.0.1:{inbox.port} answered 554: 5.7.1 relaying denied")
    assert webhook.status == "delivered" and len(hook.bodies) == 1


def test_an_unreachable_smtp_server_and_an_unset_webhook_secret_are_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    port = closed_port()
    ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=port))
    with StateStore(ws.state_path) as store:
        alerts = Alerts(ws, store)
        record_run(store, "failed")
        alerts.observe(T0)
        alerts.deliver(T0)
        email, webhook = store.recent_alerts()[0].deliveries
    assert email.last_error == f"could not reach the SMTP server 127.0.0.1:{port}: Connection refused"
    assert f"environment variable {WEBHOOK_ENV} is not set" in webhook.last_error
    assert "alerts.webhook.url" in webhook.last_error


def test_two_workers_delivering_at_once_send_each_alert_once(tmp_path, monkeypatch):
    with Webhook() as hook, Inbox() as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url())
        ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=inbox.port))
        with StateStore(ws.state_path) as store:
            record_run(store, "failed")
            Alerts(ws, store).observe(T0)
        start = threading.Barrier(2)

        def worker():
            with StateStore(ws.state_path) as store:
                alerts = Alerts(ws, store)
                start.wait()
                alerts.deliver(T0)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(hook.bodies) == 1 and len(inbox.messages) == 1


@pytest.mark.parametrize("channel", ["webhook", "email"])
def test_a_channel_removed_from_the_config_fails_its_pending_delivery_with_the_reason(tmp_path, monkeypatch, channel):
    with Inbox() as inbox:
        monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/hook")
        ws = make_workspace(tmp_path / "ws", alerts_toml(smtp_port=inbox.port))
        with StateStore(ws.state_path) as store:
            record_run(store, "failed")
            Alerts(ws, store).observe(T0)
        kept = alerts_toml(webhook=channel == "email", smtp_port=inbox.port if channel == "webhook" else None)
        ws = make_workspace(tmp_path / "ws", kept)
        with StateStore(ws.state_path) as store:
            Alerts(ws, store).deliver(T0)
            [gone] = [d for d in store.recent_alerts()[0].deliveries if d.channel == channel]
    assert gone.status == "pending" and f"the {channel} channel is no longer configured" in gone.last_error
