"""A link that names what is not there (a typo, a run from another workspace) is never dropped without a word:
every page says what the link named, what it shows instead, and what to do next."""

from __future__ import annotations

import pytest


def said(at) -> tuple[str, str]:
    """The page's first error and the next step under it."""
    assert at.error and at.info, "the link's problem is not said"
    return at.error[0].value, at.info[0].value


@pytest.mark.parametrize("raw, what", [
    ("99999", "There is no run `99999` in this workspace's history."),
    ("abc", "This link names a run `abc`, which is not a run number."),
])
def test_failed_rows_says_a_linked_run_is_not_there(history, open_app, raw, what):
    at = open_app(history.root, "pages/failed_rows.py", run=raw)
    error, next_step = said(at)
    assert error == what
    assert "Next step" in next_step and "rows not synced now" in next_step and "Run history" in next_step
    assert at.selectbox(key="fr_run").value is None  # it shows the rows not synced now
    assert at.dataframe, "the page goes on under the message"


def test_failed_rows_says_a_linked_run_is_of_another_sync(history, open_app):
    other = min(r for r, e in history.runs.items() if e.sync_id == "iterable-first-namespace")
    at = open_app(history.root, "pages/failed_rows.py", run=other, sync="iterable-production")
    error, _ = said(at)
    assert error.startswith(f"Run {other} is a run of Iterable - First Namespace Details Sync")
    assert at.selectbox(key="fr_sync").value == "iterable-production" and at.selectbox(key="fr_run").value is None


@pytest.mark.parametrize("raw", ["zzz", "999999"])
def test_failed_rows_says_a_linked_cause_is_not_there(history, open_app, raw):
    at = open_app(history.root, "pages/failed_rows.py", cause=raw)
    error, next_step = said(at)
    assert error == f"This link names a cause `{raw}` that has no failed rows in this scope."
    assert "Rows of a cause" in next_step
    assert at.selectbox(key="fr_cause").value is None and "cause" not in at.query_params


def test_failed_rows_says_a_linked_sync_is_not_there(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py", sync="nope")
    error, next_step = said(at)
    assert error == "This link names a sync `nope` that this workspace does not have."
    assert "Showing all syncs" in next_step and at.selectbox(key="fr_sync").value is None


def test_run_details_says_a_run_number_is_not_one(history, open_app):
    at = open_app(history.root, "pages/run.py", run="abc")
    error, next_step = said(at)
    assert "no run `abc`" in error and "Pick a run" in next_step
    assert at.title[0].value.startswith(f"Run {max(history.runs)}:")


def test_syncs_says_a_linked_sync_is_not_there(history, open_app):
    at = open_app(history.root, "pages/syncs.py", sync="nope")
    error, next_step = said(at)
    assert error == "This link names a sync `nope` that this workspace does not have."
    first = history.workspace.syncs["iterable-production"].name
    assert f"Showing {first}" in next_step and "workspace.toml" in next_step
    assert at.selectbox(key="syncs_sync").value == "iterable-production"


def test_good_links_say_nothing_of_the_kind(history, open_app, clean):
    run_id = max(history.runs)
    for page, query in (("pages/failed_rows.py", {"run": run_id}), ("pages/run.py", {"run": run_id}),
                        ("pages/syncs.py", {"sync": "iterable-production"})):
        clean(open_app(history.root, page, **query))
