"""The dashboard's frame, driven with Streamlit's AppTest: navigation, the workspace header, errors with a next step.
The pages themselves are tested in tests/ui/, populated and empty."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from streamlit.testing.v1 import AppTest

from sync_core import StateStore
from sync_core.mqr import current_period_start

APP = Path(__file__).parent.parent / "app.py"


def app_for(monkeypatch, root, page: str | None = None) -> AppTest:
    monkeypatch.setenv("SYNC_CORE_WORKSPACE", str(root))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_every_page_is_registered_under_its_file_stem(demo, monkeypatch):
    """switch_page falls back to the default page when a url_path differs from the file stem: each title proves
    the page itself ran."""
    titles = {}
    for page in sorted((APP.parent / "pages").glob("*.py")):
        titles[page.stem] = app_for(monkeypatch, demo.root, f"pages/{page.name}").title[0].value
    assert titles == {"failed_rows": "Failed rows", "mqr": "MQR", "overview": "Overview", "run": "Run details",
                      "reconciliation": "Reconciliation", "runs": "Run history", "syncs": "Syncs"}


def test_header_names_the_workspace_and_how_it_was_chosen(demo, monkeypatch):
    at = app_for(monkeypatch, demo.root)
    assert at.sidebar.markdown[0].value == f"### {demo.workspace.name}"
    assert any(str(demo.root) in c.value and "$SYNC_CORE_WORKSPACE" in c.value for c in at.sidebar.caption)


def test_mqr_figure_is_this_periods_usage_and_says_demo_scale_only_where_the_limit_was_scaled(demo, monkeypatch):
    demo.run("iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        used = sum(store.mqr_usage(current_period_start(1, datetime.now(timezone.utc)).isoformat()).values())
    at = app_for(monkeypatch, demo.root)  # `demo init`'s workspace: the seed's plan, 1.5M
    [mqr] = at.sidebar.metric
    assert (mqr.label, mqr.value) == ("MQR this period", f"{used:,}") and used > 0
    limit = demo.workspace.mqr.limit
    assert at.sidebar.get("progress")[0].proto.text == f"{used / limit:.0%} of {limit:,}"
    assert not any("scales the demo's MQR limit" in c.value for c in at.sidebar.caption)

    toml = demo.root / "workspace.toml"  # scaled to the demo's size, as `sync-core up` writes it
    toml.write_text(toml.read_text().replace(f"limit = {limit}", "limit = 15000", 1))
    at = app_for(monkeypatch, demo.root)
    [mqr] = at.sidebar.metric
    assert (mqr.label, mqr.value) == ("MQR this period (demo scale)", f"{used:,}")
    assert at.sidebar.get("progress")[0].proto.text == f"{used / 15000:.0%} of 15,000"
    assert any("Demo workspace" in c.value and "scales the demo's MQR limit" in c.value for c in at.sidebar.caption)


def test_missing_workspace_is_an_error_with_a_next_step(tmp_path, monkeypatch):
    at = app_for(monkeypatch, tmp_path / "nowhere")
    assert "could not be opened" in at.error[0].value and "sync-core up" in at.info[0].value


def test_a_workspace_toml_with_a_mistake_says_to_fix_it_not_to_create_one(demo, monkeypatch):
    demo.edit_workspace('mode = "update"', 'mode = "updat"')
    at = app_for(monkeypatch, demo.root)
    assert "workspace.toml: syncs.iterable-production.mode" in at.error[0].value
    assert "Fix workspace.toml" in at.info[0].value and "sync-core up" not in at.info[0].value
    assert any("could not be opened" in c.value for c in at.sidebar.caption)


def test_a_broken_state_store_is_an_error_with_a_next_step_not_a_traceback(demo, monkeypatch):
    state = demo.workspace.state_path
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"this is not a SQLite database" * 100)
    for page in ("pages/runs.py", "pages/run.py", "pages/failed_rows.py"):
        at = app_for(monkeypatch, demo.root, page)
        assert "This page failed" in at.error[0].value and "not a database" in at.error[0].value
        assert "Next step" in at.info[0].value and f"sync-core -w {demo.root} runs" in at.info[0].value
