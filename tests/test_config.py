"""workspace.toml validation: every error names the file, the key path and what is wrong."""

from __future__ import annotations

import pytest

from sync_core import ConfigError, Schedule, load_workspace

from workspace_toml import added_after, duckdb_source, iterable, model, removed, sync, workspace

BASE = workspace(duckdb_source(), iterable(), model("SELECT email, first_name FROM people"),
                 sync("people-to-iterable", name="People", mappings=[("first_name", "firstName")]))

# Lines of BASE and ALERTS that the errors' table adds keys after.
NAME, API_KEY, SMTP_HOST = 'name = "People"', 'api_key = "env:ITERABLE_API_KEY"', 'smtp_host = "smtp.example.com"'

# Alert settings, valid: every workspace in the errors' table has them.
ALERTS = '''
[alerts]
dashboard_url = "http://localhost:8501/"
[alerts.webhook]
url = "env:SLACK_WEBHOOK_URL"
[alerts.email]
smtp_host = "smtp.example.com"
username = "alerts@example.com"
password = "secrets:smtp.password"
from = "sync-core <alerts@example.com>"
to = ["ops@example.com"]
'''


def load(tmp_path, text):
    (tmp_path / "workspace.toml").write_text(text)
    return load_workspace(tmp_path)


def error(tmp_path, text) -> str:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    return str(err.value)


def test_a_valid_workspace_loads_with_defaults(tmp_path):
    ws = load(tmp_path, BASE)
    sync = ws.sync("people-to-iterable")
    assert sync.mappings[0].null == "omit" and sync.schedule.manual and sync.failure_threshold == 0.1
    assert ws.models["people"].entity == "people" and ws.mqr.limit == 1_500_000
    assert ws.destinations["iterable"].base_url == "https://api.iterable.com"


@pytest.mark.parametrize("old, new, key, problem", [
    ('mode = "update"', 'mode = "delete"', "syncs.people-to-iterable.mode", "must be one of upsert, update"),
    ('mappings = [', 'mapings = [', "syncs.people-to-iterable.mapings", "did you mean 'mappings'"),
    ('field = "firstName"', 'field = "firstName", null = "zero"', "syncs.people-to-iterable.mappings[0].null",
     "must be one of omit, clear"),
    ('model = "people"', 'model = "persons"', "syncs.people-to-iterable.model", "unknown model 'persons'"),
    ('source = "wh"', 'source = "warehouse"', "models.people.source", "unknown source 'warehouse'"),
    (*removed('primary_key = "email"'), "models.people.primary_key", "is required"),
    ('[syncs.people-to-iterable]', '[syncs."People Sync"]', 'syncs.People Sync', "must be a slug"),
    ('object = "user"', 'object = "segment"', "syncs.people-to-iterable.object", "must be one of user, event, list"),
    ('field = "email", column', 'field = "phone", column', "syncs.people-to-iterable.match.field",
     "must be one of email, userId"),
    (*added_after(NAME, 'schedule = "daily-ish"'), "syncs.people-to-iterable.schedule", "'every N'"),
    (*added_after(NAME, 'schedule = "every 0h"'), "syncs.people-to-iterable.schedule", "at least 1h"),
    (*added_after(NAME, 'schedule = "every 24h"', 'cron = "0 6 * * *"'), "syncs.people-to-iterable.cron",
     "give `schedule` or `cron`, not both"),
    (*added_after(NAME, 'cron = "0 25 * * *"'), "syncs.people-to-iterable.cron",
     "'0 25 * * *' is not a valid cron expression: bad hour"),
    (*added_after(NAME, 'cron = "6am"'), "syncs.people-to-iterable.cron", "has 1 field(s)"),
    (*added_after(NAME, 'cron = "0 6 * * *"', 'timezone = "Europe/Pari"'), "syncs.people-to-iterable.timezone",
     "unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)"),
    (*added_after(NAME, 'schedule = "every 24h"', 'timezone = "Europe/Paris"'), "syncs.people-to-iterable.timezone",
     "applies only to a `cron` schedule"),
    (*added_after(NAME, 'failure_threshold = 2'), "syncs.people-to-iterable.failure_threshold", "between 0 and 1"),
    (*added_after(API_KEY, 'timeout_seconds = 0'), "destinations.iterable.timeout_seconds", "above 0"),
    (*added_after(API_KEY, 'max_attempts = 0'), "destinations.iterable.max_attempts", "at least 1"),
    (*added_after(API_KEY, 'concurrency = -2'), "destinations.iterable.concurrency", "at least 1"),
    (*added_after(API_KEY, 'batch_size = 5000'), "destinations.iterable.batch_size",
     "at most 1,000"),  # Iterable's bulkUpdate maximum: refused, not capped
    ('[{ column = "first_name", field = "firstName" }]',
     '[{ column = "first_name", field = "firstName" }, { column = "x", field = "firstName" }]',
     "syncs.people-to-iterable.mappings", "mapped more than once"),
    (*added_after('[alerts]', 'slack = "x"'), "alerts.slack", "unknown key"),
    ('dashboard_url = "http://localhost:8501/"', 'dashboard_url = "localhost:8501"', "alerts.dashboard_url",
     "must start with http"),
    ('url = "env:SLACK_WEBHOOK_URL"', 'url = "https://hooks.slack.com/services/T0/B0/c0ffee4711"',
     "alerts.webhook.url", "literal secret"),
    ('url = "env:SLACK_WEBHOOK_URL"', 'urll = "env:SLACK_WEBHOOK_URL"', "alerts.webhook.urll", "did you mean 'url'"),
    (*added_after('url = "env:SLACK_WEBHOOK_URL"', 'timeout_seconds = 0'), "alerts.webhook.timeout_seconds",
     "above 0"),
    (*removed(SMTP_HOST), "alerts.email.smtp_host", "is required"),
    (*added_after(SMTP_HOST, 'smtp_port = 70000'), "alerts.email.smtp_port", "port number"),
    (*added_after(SMTP_HOST, 'starttls = "yes"'), "alerts.email.starttls", "must be bool"),
    ('password = "secrets:smtp.password"', 'password = "hunter2hunter2"', "alerts.email.password", "literal secret"),
    (*removed('password = "secrets:smtp.password"'), "alerts.email.password", "is required with `username`"),
    ('from = "sync-core <alerts@example.com>"', 'from = "sync-core"', "alerts.email.from", "email address"),
    ('to = ["ops@example.com"]', 'to = []', "alerts.email.to", "at least one address"),
    ('to = ["ops@example.com"]', 'to = ["ops@example.com", "ops"]', "alerts.email.to[1]", "email address"),
    ('[alerts.email]', '[alerts.e-mail]', "alerts.e-mail", "did you mean 'email'"),
])
def test_errors_name_file_key_and_problem(tmp_path, old, new, key, problem):
    text = BASE + ALERTS
    assert old in text
    message = error(tmp_path, text.replace(old, new, 1))
    assert f"workspace.toml: {key}" in message
    assert problem in message
    assert "c0ffee4711" not in message and "hunter2" not in message  # literal secrets are never echoed


def test_a_cron_schedule_loads_in_its_time_zone(tmp_path):
    ws = load(tmp_path, BASE.replace('name = "People"',
                                     'name = "People"\ncron = " 0  6 * * * "\ntimezone = "Europe/Paris"'))
    schedule = ws.sync("people-to-iterable").schedule
    assert schedule == Schedule("cron", cron="0 6 * * *", timezone="Europe/Paris")
    assert schedule.describe() == "cron 0 6 * * * (Europe/Paris)"
    utc = load(tmp_path, BASE.replace('name = "People"', 'name = "People"\ncron = "0 6 * * *"'))
    assert utc.sync("people-to-iterable").schedule.timezone == "UTC"


def test_invalid_toml_names_the_file(tmp_path):
    assert "workspace.toml: not valid TOML" in error(tmp_path, BASE + "\n[broken\n")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    (tmp_path / "workspace.toml").write_bytes(BASE.encode() + b"\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="workspace.toml: not UTF-8 text"):
        load_workspace(tmp_path)


@pytest.mark.parametrize("toml, key, problem", [
    ("[workspace]\nretention_days = 0\n", "workspace.retention_days", "at least 1"),
    ('[dashboard]\noperators = ["ana"]\n', "dashboard.operators[0]", "an email (ana@example.com) or a domain"),
    ('[dashboard]\noperator = ["ana@example.com"]\n', "dashboard.operator", "did you mean 'operators'"),
])
def test_the_worker_and_dashboard_settings_name_their_key(tmp_path, toml, key, problem):
    message = error(tmp_path, toml + BASE)
    assert f"workspace.toml: {key}" in message and problem in message


def test_operators_are_emails_or_whole_domains(tmp_path):
    ws = load(tmp_path, '[dashboard]\noperators = ["ana@example.com", "@ops.example.org"]\n' + BASE)
    assert ws.is_operator("Ana@Example.com") and ws.is_operator("bob@ops.example.org")
    assert not ws.is_operator("bob@example.com") and not ws.is_operator("eve@evil-ops.example.org.net")
    assert not ws.is_operator(None)
    assert not load(tmp_path, BASE).is_operator("ana@example.com"), "none listed: nobody signed in may run"


def test_a_missing_workspace_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="sync-core demo init"):
        load_workspace(tmp_path / "nowhere")


def test_literal_secret_is_refused(tmp_path):
    message = error(tmp_path, BASE.replace('"env:ITERABLE_API_KEY"', '"c0ffee4711"'))
    assert "destinations.iterable.api_key" in message and "c0ffee4711" not in message


def test_secrets_resolve_from_env_and_secrets_file(tmp_path, monkeypatch):
    ws = load(tmp_path, BASE)
    ref = ws.destinations["iterable"].api_key
    monkeypatch.setenv("ITERABLE_API_KEY", "from-env")
    assert ref.resolve(tmp_path) == "from-env" and "from-env" not in repr(ref)
    ws = load(tmp_path, BASE.replace("env:ITERABLE_API_KEY", "secrets:iterable.key"))
    ref = ws.destinations["iterable"].api_key
    with pytest.raises(ConfigError, match="does not exist"):
        ref.resolve(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[iterable]\nkey = "from-file"\n')
    assert ref.resolve(tmp_path) == "from-file"


def test_fingerprint_changes_with_mappings_not_with_display_name(tmp_path):
    before = load(tmp_path, BASE).fingerprint("people-to-iterable")
    renamed = load(tmp_path, BASE.replace('name = "People"', 'name = "People (renamed)"'))
    assert renamed.fingerprint("people-to-iterable") == before
    remapped = load(tmp_path, BASE.replace('"firstName"', '"givenName"'))
    assert remapped.fingerprint("people-to-iterable") != before
    # When a sync runs does not decide what it sends: a new schedule resends nothing.
    rescheduled = load(tmp_path, BASE.replace('name = "People"', 'name = "People"\ncron = "0 6 * * *"'))
    assert rescheduled.fingerprint("people-to-iterable") == before


def test_rate_limits_can_be_raised_per_endpoint(tmp_path):
    ws = load(tmp_path, BASE.replace('api_key = "env:ITERABLE_API_KEY"',
                                     'api_key = "env:ITERABLE_API_KEY"\nrate_limits = { "users/bulkUpdate" = "50/s", '
                                     '"export/data.json" = "10/min" }'))
    assert ws.destinations["iterable"].rate_limits == {"users/bulkUpdate": (50, 1.0), "export/data.json": (10, 60.0)}
    message = error(tmp_path, BASE.replace('api_key = "env:ITERABLE_API_KEY"',
                                           'api_key = "env:ITERABLE_API_KEY"\nrate_limits = { "users/bulkUpdate" = "fast" }'))
    assert "destinations.iterable.rate_limits.users/bulkUpdate" in message and '"5/s"' in message


# --- sandboxes -------------------------------------------------------------------------------

SANDBOX = '\n[sandbox]\nstate = "sandbox/iterable.sqlite"\nport = 8765\napi_key = "env:SANDBOX_KEY"\n'
SANDBOXES = ('\n[sandboxes.iterable]\nvendor = "iterable"\nstate = "sandbox/iterable.sqlite"\nport = 8765\n'
             'api_key = "env:SANDBOX_KEY"\n')


def test_sandbox_is_the_iterable_sandbox_as_before(tmp_path):
    ws = load(tmp_path, BASE + SANDBOX)

    assert list(ws.sandboxes) == ["iterable"] and ws.sandbox is ws.sandboxes["iterable"]
    assert (ws.sandbox.vendor, ws.sandbox.port, ws.sandbox.project, ws.sandbox.key) == (
        "iterable", 8765, "demo", "sandbox")
    assert ws.sandbox.state == (tmp_path / "sandbox" / "iterable.sqlite").resolve()


def test_sandboxes_are_declared_by_name_each_naming_its_vendor(tmp_path):
    ws = load(tmp_path, BASE + SANDBOXES.replace("[sandboxes.iterable]", "[sandboxes.local-iterable]"))

    assert list(ws.sandboxes) == ["local-iterable"] and ws.sandbox is ws.sandboxes["local-iterable"]
    assert (ws.sandbox.name, ws.sandbox.vendor, ws.sandbox.key) == (
        "local-iterable", "iterable", "sandboxes.local-iterable")


def test_a_workspace_without_sandboxes_has_none(tmp_path):
    ws = load(tmp_path, BASE)

    assert ws.sandboxes == {} and ws.sandbox is None


@pytest.mark.parametrize("text, key, problem", [
    (SANDBOXES.replace('vendor = "iterable"', 'vendor = "braze"'), "sandboxes.iterable.vendor",
     "must be one of iterable, marketo, not 'braze'"),
    (SANDBOXES.replace('vendor = "iterable"\n', ''), "sandboxes.iterable.vendor", "is required"),
    (SANDBOXES.replace("port = 8765", 'prot = 8765'), "sandboxes.iterable.prot", "did you mean 'port'"),
    (SANDBOXES + SANDBOX, "sandbox", "declares the Iterable sandbox a second time"),
    (SANDBOXES + SANDBOXES.replace("[sandboxes.iterable]", "[sandboxes.second]"), "sandboxes.second.port",
     "port 8765 is also the port of [sandboxes.iterable]"),
    (SANDBOXES.replace("[sandboxes.iterable]", "[sandboxes.Iterable]"), "sandboxes.Iterable",
     "must be a slug"),
    (SANDBOX.replace("port = 8765", 'vendor = "iterable"'), "sandbox.vendor", "unknown key"),
])
def test_sandbox_errors_name_the_file_and_key(tmp_path, text, key, problem):
    message = error(tmp_path, BASE + text)

    assert str(tmp_path / "workspace.toml") in message and key in message and problem in message


def test_config_knows_every_sandbox_vendor():
    from sync_core.sandbox_settings import SANDBOX_VENDORS
    from sync_core.sandbox import VENDORS

    assert set(SANDBOX_VENDORS) == set(VENDORS)


# --- alerts ----------------------------------------------------------------------------------

def test_alerts_load_with_defaults_and_secrets_by_reference(tmp_path):
    assert load(tmp_path, BASE).alerts is None
    alerts = load(tmp_path, BASE + ALERTS).alerts
    assert alerts.dashboard_url == "http://localhost:8501" and alerts.channels == ("webhook", "email")
    assert alerts.webhook.url.describe() == "env:SLACK_WEBHOOK_URL" and alerts.webhook.timeout_seconds == 10
    email = alerts.email
    assert (email.smtp_port, email.starttls, email.timeout_seconds) == (587, True, 10)
    assert email.password.describe() == "secrets:smtp.password" and email.recipients == ("ops@example.com",)
    only_email = load(tmp_path, BASE + ALERTS.replace('[alerts.webhook]\nurl = "env:SLACK_WEBHOOK_URL"\n', '')
                      .replace('to = ["ops@example.com"]', 'to = "ops@example.com"'))
    assert only_email.alerts.channels == ("email",) and only_email.alerts.email.recipients == ("ops@example.com",)
