"""The dashboard, driven with Streamlit's AppTest: every page, populated and empty."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parent.parent / "app.py")


def app_for(monkeypatch, root) -> AppTest:
    monkeypatch.setenv("SYNC_CORE_WORKSPACE", str(root))
    return AppTest.from_file(APP, default_timeout=30).run()


def test_lists_runs_with_counts(demo, monkeypatch):
    record = demo.run("iterable-production")
    at = app_for(monkeypatch, demo.root)
    assert not at.exception
    frame = at.dataframe[0].value
    row = frame[frame["run"] == record.id].iloc[0]
    c = record.counts.as_dict()
    assert (row["synced"], row["expected rejections"]) == (c["synced"], c["rejected_expected"])
    assert bool(row["counts add up"])
    assert [m.value for m in at.metric][:1] == ["WARNING"]


def test_empty_workspace_says_what_to_do(demo, monkeypatch):
    at = app_for(monkeypatch, demo.root)
    assert not at.exception and "No runs yet" in at.info[0].value


def test_missing_workspace_is_an_error_with_a_next_step(tmp_path, monkeypatch):
    at = app_for(monkeypatch, tmp_path / "nowhere")
    assert not at.exception
    assert "could not be opened" in at.error[0].value and "sync-core up" in at.info[0].value
