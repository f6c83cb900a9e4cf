"""Marketo in `sync-core doctor` and `sync-core syncs`, against the real Marketo sandbox on loopback: the demo with
its Marketo sync passes; a wrong client secret fails naming its reference (never the secret); a used-up daily quota
fails naming the reset; a quota into the reserve warns; `syncs` shows the quota used today, left and the reset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from sync_core.demo.workspace import MARKETO_ACTIVITY_TYPE, MARKETO_INSTANCE
from sync_core.doctor import diagnose
from sync_core.marketo_day import reset_time_text
from sync_core.sandbox import ManualClock, MarketoState
from sync_core.secrets import SECRETS_FILE

from demo_helpers import demo_workspace
from marketo_workspace import INSTANCE, marketo_workspace

TARGET = "destination marketo"


def cli(root, *args):
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), *args], capture_output=True,
                          text=True, timeout=180, env=dict(os.environ))
    assert "Traceback" not in done.stderr, done.stderr
    return done


def marketo_lines(report: dict) -> dict[str, dict]:
    return {c["check"]: c for c in report["checks"] if c["target"] == TARGET}


def marketo_state(root) -> MarketoState:
    return MarketoState(root / "sandbox" / "marketo.sqlite")


def test_doctor_passes_the_demo_with_marketo_and_syncs_shows_the_quota_used_today(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as demo:
        done = cli(demo.root, "doctor", "--json")

        assert done.returncode == 0, done.stdout
        checks = marketo_lines(json.loads(done.stdout))
        assert {name: c["status"] for name, c in checks.items()} == {
            "rate limit": "ok", "reachable": "ok", "authenticated": "ok",
            f"activity type {MARKETO_ACTIVITY_TYPE}": "ok", "daily quota": "ok"}
        assert "of 50,000 calls used today" in checks["daily quota"]["found"]

        state = marketo_state(demo.root)
        try:
            used_before = state.daily_calls(MARKETO_INSTANCE, time.time())
            listed = json.loads(cli(demo.root, "syncs", "--json").stdout)
            used_after = state.daily_calls(MARKETO_INSTANCE, time.time())
        finally:
            state.close()
        [row] = [r for r in listed if r["id"] == "marketo-activities"]
        quota = row["daily_quota"]
        # the usage call counts itself: what syncs shows is the sandbox's count with that call
        assert quota["used"] == used_before + 1 == used_after
        assert quota["limit"] == 50_000 and quota["left"] == 50_000 - quota["used"]
        assert quota["reserve_calls"] == 10_000 and quota["state"] == "ok"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00-0[56]:00", quota["resets_at"])  # midnight US Central
        assert all("daily_quota" not in r for r in listed if r["destination"] != "marketo")

        text = cli(demo.root, "syncs").stdout
        assert f"destination marketo: daily quota {used_after + 1:,} of 50,000 calls used today" in text


def test_a_wrong_client_secret_fails_doctor_naming_the_reference_never_the_secret(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as demo:
        demo.run("marketo-activities")  # leaves a valid token in the shared cache: doctor must not lean on it
        secrets_file = demo.root / SECRETS_FILE
        text = secrets_file.read_text()
        right = re.search(r'marketo_client_secret = "([^"]+)"', text).group(1)
        wrong = "f" * 32 if right != "f" * 32 else "e" * 32
        secrets_file.write_text(text.replace(f'marketo_client_secret = "{right}"',
                                             f'marketo_client_secret = "{wrong}"'))

        done = cli(demo.root, "doctor", "--json")

        assert done.returncode == 1, done.stdout
        checks = marketo_lines(json.loads(done.stdout))
        assert checks["reachable"]["status"] == "ok"
        assert checks["authenticated"]["status"] == "fail"
        assert "secrets:sandbox.marketo_client_secret" in checks["authenticated"]["next_step"]
        assert wrong not in done.stdout and right not in done.stdout
        assert "daily quota" not in checks  # nothing past a refused token is tried


def test_a_used_up_daily_quota_fails_doctor_naming_the_reset(tmp_path):
    with demo_workspace(tmp_path, marketo=True) as demo:
        state = marketo_state(demo.root)
        try:
            state.use_up_quota(MARKETO_INSTANCE, time.time())
        finally:
            state.close()
        before = reset_time_text(time.time())

        done = cli(demo.root, "doctor")

        after = reset_time_text(time.time())
        assert done.returncode == 1, done.stdout
        [line] = [ln for ln in done.stdout.splitlines() if "daily quota" in ln and "used up" in ln]
        assert "fail" in line.lower()
        assert before in done.stdout or after in done.stdout  # the reset, US Central midnight


def test_a_quota_into_the_reserve_warns_without_failing(tmp_path, monkeypatch):
    clock = ManualClock(1_700_000_000.0)
    # 4 calls a day, half kept for other integrations; doctor makes two REST calls (usage, then types)
    settings = "daily_quota = 4\ndaily_quota_reserve = 0.5"
    with marketo_workspace(tmp_path, monkeypatch, destination_settings=settings, clock=clock) as marketo:
        first = {c.check: c for c in diagnose(marketo.workspace, clock=clock).checks if c.target == TARGET}
        assert first["daily quota"].status == "ok"  # 1 used (the usage call), 3 left
        assert marketo.sandbox.daily_calls(INSTANCE, clock.now()) == 2

        second = diagnose(marketo.workspace, clock=clock)

        quota = next(c for c in second.checks if c.check == "daily quota")
        assert quota.status == "warn" and "3 of 4 calls used today, 1 left" in quota.found
        assert "2023-11-15T00:00:00-06:00" in quota.next_step
        assert not second.failed


def test_an_activity_type_marketo_lacks_fails_doctor_naming_the_sync_key(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch, activity_type="noSuchType_c") as marketo:
        report = diagnose(marketo.workspace)

        [line] = [c for c in report.checks if c.check == "activity type noSuchType_c"]
        assert line.status == "fail" and "no custom activity type with the API name 'noSuchType_c'" in line.found
        assert "syncs.activities.activity_type" in line.next_step
        assert next(c for c in report.checks if c.check == "daily quota").status == "ok"
