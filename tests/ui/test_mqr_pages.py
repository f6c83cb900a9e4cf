"""The MQR page and the Overview (AppTest): the gauge shows what `sync-core mqr --json` says, a period without
data and a workspace without runs say what to do, and the Overview puts a failing sync first."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from sync_core import load_workspace
from sync_core.mqr import period_end, period_start
from html_charts import chart


def gauge_value(at) -> int:
    return chart(at.main, "mqr_gauge")["used"]


def mqr_json(root) -> dict:
    done = subprocess.run([sys.executable, "-m", "sync_core.cli", "-w", str(root), "mqr", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_gauge_shows_what_the_cli_reports(history, open_app, clean):
    at = open_app(history.root, "pages/mqr.py")
    clean(at)
    shown = mqr_json(history.root)
    assert shown["used"] > 0 and gauge_value(at) == shown["used"]
    text = " ".join(m.value for m in [*at.main.markdown, *at.main.caption])
    assert "Method:" in text and "demo scale" not in text  # `demo init` keeps the seed's plan: nothing scaled
    # Three days in one period, as `sync-core up` builds: a forecast, the CLI's figure, and a range around it
    forecast = shown["forecast"]
    assert forecast["reason"] is None and forecast["low"] <= forecast["expected"] <= forecast["high"]
    [expected] = [m for m in at.main.metric if m.label == "Expected at the period's end"]
    assert expected.value == f"{forecast['expected']:,}" and not at.main.info
    # One bar per sync, though the seed names two syncs alike: each its own figures
    bars = chart(at.main, "mqr_by_sync")["rows"]
    names = [bar["label"] for bar in bars if "reached the destination" in bar["parts"]]
    queried = {s["sync_id"]: s["queried"] for s in shown["by_sync"]}
    assert len(set(names)) == len(names) == len(queried) == 3, names
    assert sorted(sum(bar["parts"].values()) for bar in bars) == sorted(queried.values())  # each bar its own figures
    assert "Iterable - First Namespace Details Sync (iterable-first-namespace-events)" in names

    at = open_app(history.root, "pages/overview.py")
    clean(at)
    assert gauge_value(at) == shown["used"]
    assert any(m.value.startswith(f"Expected at the period's end: **{forecast['expected']:,}**") for m in at.main.markdown)
    # What bought nothing: the sync with the most, its own figures; never a sum of figures that overlap
    worst = max(shown["by_sync"], key=lambda s: s["unproductive"] or 0)
    assert worst["unproductive"] > 0
    [line] = [m.value for m in at.main.markdown if m.value.startswith("Most MQR that bought nothing")]
    assert f"`{worst['sync_id']}`" in line or load_workspace(history.root).syncs[worst["sync_id"]].name in line
    assert f"{worst['unproductive']:,} of the {worst['queried']:,} records" in line


def test_a_period_without_data_says_so(history, open_app):
    at = open_app(history.root, "pages/mqr.py")
    at.date_input(key="mqr_day").set_value(date(2025, 1, 15)).run()
    assert not at.exception
    start_day = history.workspace.mqr.billing_period_start_day  # the day the history began
    start = period_start(date(2025, 1, 15), start_day)
    period = f"{start:%Y-%m-%d} to {period_end(start, start_day):%Y-%m-%d}"
    assert any(f"No records were counted in the period {period}" in i.value for i in at.info)


def test_a_workspace_without_runs_says_what_to_do(demo, open_app):
    for page in ("pages/mqr.py", "pages/overview.py"):
        at = open_app(demo.root, page)
        assert not at.exception, [e.value for e in at.exception]
    at = open_app(demo.root, "pages/mqr.py")
    assert any("run a sync" in i.value for i in at.info)
    at = open_app(demo.root, "pages/overview.py")
    assert any("No sync has run yet" in i.value and "run iterable-production" in i.value for i in at.info)


def test_the_overview_puts_a_failing_sync_first(demo, open_app):
    demo.run("iterable-production")
    secrets = demo.root / ".streamlit" / "secrets.toml"
    secrets.write_text(secrets.read_text().replace("iterable_api_key = \"", "iterable_api_key = \"revoked-"))
    failed = demo.run("iterable-first-namespace")
    assert failed.status == "failed"
    at = open_app(demo.root, "pages/overview.py")
    assert not at.exception
    [first, *_] = at.main.error
    name = load_workspace(demo.root).syncs["iterable-first-namespace"].name
    assert name in first.value and "failed" in first.value
    syncs = [m.value for m in at.main.markdown if m.value.startswith("**") and "\n" in m.value]
    assert syncs[0].startswith(f"**{name}**"), syncs
    # The seed names two syncs alike: the Overview tells them apart by their ids
    assert sum(m.startswith(f"**{name}** `") for m in syncs) == 2, syncs


def test_the_demos_guard_stops_a_run_past_its_limit_and_both_pages_say_so(demo, open_app):
    """The demo's guard (block, 5% reserve) at a demo-scale limit below its contacts: the first run of the period
    is stopped before it writes or counts anything, and the Overview and the MQR page (which has nothing counted
    to show) both name the stopped run. Under "block" an update-only run's look-up of who exists waits for the
    budget check, so the sandbox receives no request at all."""
    demo.edit_workspace("limit = 1500000", "limit = 1000")
    mark = demo.sandbox.last_request_id()
    blocked = demo.run("iterable-production")
    assert blocked.status == "failed" and blocked.error_class == "config"
    assert "MQR budget: this run would count" in blocked.error and "less its reserve: a budget of 950 for the syncs" in blocked.error
    sent = demo.sandbox.requests(since_id=mark)
    assert sent == [], "the sandbox received no request"
    assert mqr_json(demo.root)["used"] == 0

    at = open_app(demo.root, "pages/overview.py")
    assert any(f"run {blocked.id} of iterable-production was stopped" in e.value for e in at.main.error)
    at = open_app(demo.root, "pages/mqr.py")
    assert any("No records were counted" in i.value for i in at.info)
    assert any("Runs the budget guard stopped" in h.value for h in at.main.subheader)
    assert any(link.label.startswith(f"Run {blocked.id} of iterable-production") for link in at.main.get("page_link"))
