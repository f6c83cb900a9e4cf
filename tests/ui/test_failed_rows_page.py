"""Failed rows: expected versus real per run equal independent counts; causes, trends, a cause's rows, one record."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from sync_core import StateStore, history
from sync_core.clock import OffsetClock
from ui import data
from ui.failures import daily_trend
from small_workspace import small_workspace
from vega_charts import rows, specs


def open_charts(at):
    """Open the expander of the trends, as a click does (it reruns the page): its charts are drawn only then."""
    at.session_state["fr_charts"] = True
    return at.run()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


def number(text: str) -> int:
    return int(text.replace(",", ""))


def lines(spec: dict) -> dict[str, dict[str, int]]:
    """A trend chart's lines: rows per day (YYYY-MM-DD) of each cause, by the cause's label."""
    found: dict[str, dict[str, int]] = {}
    for row in rows(spec):
        found.setdefault(row["label"], {})[row["day"]] = row["rows"]
    return found


def test_expected_and_real_per_run_equal_independent_counts(history, open_app, clean):
    for run_id, independent in sorted(history.runs.items()):
        at = open_app(history.root, "pages/failed_rows.py", run=run_id)
        clean(at)
        shown = metrics(at)
        expected, real = number(shown[f"Expected (in run {run_id})"]), number(shown[f"Real problems (in run {run_id})"])

        # Expected: the warehouse's valid keys whose person the sandbox did not hold when the run started.
        assert expected == independent.expected > 0
        # ... and the sandbox's request log shows that none of them was sent: they were refused before any write.
        sent = {i for r in history.sandbox_requests(run_id, history.write_endpoint(run_id)) for i in r["identifiers"]}
        assert sent and not sent & independent.expected_identifiers
        # Real: by SQL over the state store, and (for the email-keyed sync) from the warehouse alone.
        [(by_sql,)] = history.state_sql("SELECT SUM(rc.rows) FROM run_causes rc JOIN causes c ON c.id = rc.cause_id "
                                        "WHERE rc.run_id = ? AND c.error_class != 'expected'", (run_id,))
        assert real == by_sql > 0
        if independent.real_from_warehouse is not None:
            assert real == independent.real_from_warehouse


KEYED = "c.code NOT IN ('NullPrimaryKey', 'DuplicatePrimaryKey')"  # the state of keys that can be synced


def test_now_shows_the_current_rejection_state_split_by_class(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py")
    by_class = dict(history.state_sql("SELECT c.error_class = 'expected', COUNT(*) FROM rejections r "
                                      f"JOIN causes c ON c.id = r.cause_id WHERE {KEYED} GROUP BY 1"))
    shown = metrics(at)
    assert number(shown["Expected (not synced now)"]) == by_class[1]
    # Keys that cannot be synced count as model rows, as the latest runs found them (a null key has no state).
    assert number(shown["Real problems (not synced now)"]) == by_class[0] + history.invalid_rows_now() > by_class[0]


def test_causes_are_grouped_by_template_with_class_and_kept_apart(history, open_app):
    run_id = max(history.runs)
    at = open_app(history.root, "pages/failed_rows.py", run=run_id)
    real, expected = at.dataframe[0].value, at.dataframe[1].value
    assert set(expected["class"]) == {"expected"} and "expected" not in set(real["class"])
    stored = history.state_sql("SELECT c.template, rc.rows FROM run_causes rc JOIN causes c "
                               "ON c.id = rc.cause_id WHERE rc.run_id = ?", (run_id,))
    shown = {(r["message"], r["rows"]) for frame in (real, expected) for _, r in frame.iterrows()}
    assert shown == set(stored)
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert ":red[" in headings[0] and "Real problems" in headings[0]
    assert ":gray[" in headings[1] and "Expected" in headings[1]


def test_each_cause_has_its_trend_over_the_days(history, open_app):
    at = open_charts(open_app(history.root, "pages/failed_rows.py"))
    expected_chart = specs(at)[1]
    per_day = history.state_sql(
        "SELECT c.code, c.template, r.started_at, rc.rows FROM run_causes rc JOIN runs r ON r.id = rc.run_id "
        "JOIN causes c ON c.id = rc.cause_id WHERE c.error_class = 'expected' ORDER BY r.id")
    table = at.dataframe[1].value.set_index("message")
    for label, drawn in lines(expected_chart).items():
        code, template = label.split(": ", 1)
        days: dict[str, int] = {}  # the syncs' rows of a day added together, as the chart adds them
        for c, t, at_, n in per_day:
            if c == code and t.startswith(template):
                day = datetime.fromisoformat(at_).astimezone().date().isoformat()
                days[day] = days.get(day, 0) + n
        assert drawn == days and len(days) == 3
        # The table says the same in numbers: each day's rows, oldest first, and the last day's change.
        [row] = [r for m, r in table.iterrows() if m.startswith(template)]
        by_day = [days[d] for d in sorted(days)]
        assert row["per day"] == " → ".join(f"{n:,}" for n in by_day)
        assert row["change"] == by_day[-1] - by_day[-2]
    # Read against zero: a fall of a few rows is drawn as one, not as a cliff.
    assert expected_chart["layer"][0]["encoding"]["y"]["scale"]["zero"] is True


def test_the_rows_of_a_cause_come_before_the_charts(history, open_app):
    """The charts are folded under the rows: picking a cause shows its rows right under the tables."""
    at = open_app(history.root, "pages/failed_rows.py", cause=history.state_sql(
        "SELECT id FROM causes WHERE code = 'NotFound' LIMIT 1")[0][0])
    [expander] = at.expander
    assert expander.label.startswith("Rows per day of each cause") and specs(expander) == []  # drawn once opened
    [expander] = open_charts(at).expander
    assert len(specs(expander)) == 2
    *tables, listed = at.main.dataframe
    assert [t.key for t in tables] == ["fr_real", "fr_expected"] and "key" in listed.value.columns
    assert list(at.main.children.values())[-1].type == "expander"  # the charts last, the rows above them


def test_a_cause_ticked_in_one_table_is_unticked_when_another_is_chosen(history, open_app):
    """One cause at a time: a tick follows the cause whose rows are listed, whichever way it was chosen."""
    run_id = max(r for r, e in history.runs.items() if e.sync_id == "iterable-production")
    at = open_app(history.root, "pages/failed_rows.py", run=run_id)
    real, expected = at.dataframe[0].value, at.dataframe[1].value
    assert at.selectbox(key="fr_cause").value is None

    at.session_state["fr_real"] = {"selection": {"rows": [1], "columns": [], "cells": []}}  # a tick in a table
    at.run()
    chosen = at.selectbox(key="fr_cause").value
    assert chosen is not None and real["message"].iloc[1] in at.selectbox(key="fr_cause").format_func(chosen)
    assert at.session_state["fr_real"]["selection"]["rows"] == [1]

    notfound = history.state_sql("SELECT id FROM causes WHERE code = 'NotFound' AND template = ?",
                                 (expected["message"].iloc[0],))[0][0]
    at.selectbox(key="fr_cause").select(notfound).run()  # then the dropdown: the other table's cause
    assert at.session_state["fr_real"]["selection"]["rows"] == []
    assert at.session_state["fr_expected"]["selection"]["rows"] == [0]
    assert any("not synced as they stand" in m.value or f"since run {run_id}" in m.value for m in at.markdown)

    at.selectbox(key="fr_cause").select(None).run()  # cleared: no tick anywhere, no rows
    assert at.session_state["fr_expected"]["selection"]["rows"] == [] and not at.get("download_button")


def test_a_run_shows_the_trend_of_its_own_sync_and_another_sync_leaves_it(history, open_app):
    run_id = max(r for r, e in history.runs.items() if e.sync_id == "iterable-production")
    at = open_charts(open_app(history.root, "pages/failed_rows.py", run=run_id))
    per_day = history.state_sql(
        "SELECT c.code, r.started_at, rc.rows FROM run_causes rc JOIN runs r ON r.id = rc.run_id "
        "JOIN causes c ON c.id = rc.cause_id WHERE c.error_class = 'data' AND r.sync_id = 'iterable-production'")
    real_chart = specs(at)[0]
    for label, drawn in lines(real_chart).items():
        code = label.split(": ", 1)[0]
        days = {datetime.fromisoformat(at_).astimezone().date().isoformat(): n for c, at_, n in per_day if c == code}
        assert drawn == days  # not the two syncs added together

    at.selectbox(key="fr_sync").select("iterable-first-namespace").run()
    assert at.selectbox(key="fr_run").value is None and "run" not in at.query_params


def test_filters_by_sync_class_and_dates(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py")
    at.selectbox(key="fr_sync").select("iterable-first-namespace").run()
    [(n,)] = history.state_sql("SELECT COUNT(*) FROM rejections r JOIN causes c ON c.id = r.cause_id "
                               "WHERE r.sync_id = 'iterable-first-namespace' AND c.error_class = 'expected'")
    assert number(metrics(at)["Expected (not synced now)"]) == n
    run_choices = at.selectbox(key="fr_run").options
    assert len(run_choices) == 1 + sum(1 for e in history.runs.values() if e.sync_id == "iterable-first-namespace")

    at.selectbox(key="fr_class").select("transient").run()
    assert "No rows of class transient are failing now" in at.info[0].value  # the sandbox answered every request

    at.selectbox(key="fr_sync").select(None).run()
    at.selectbox(key="fr_class").select("data").run()
    [(n,)] = history.state_sql("SELECT COUNT(*) FROM rejections r JOIN causes c ON c.id = r.cause_id "
                               f"WHERE c.error_class = 'data' AND {KEYED}")
    assert number(metrics(at)["Real problems (not synced now)"]) == n + history.invalid_rows_now() > n > 0
    assert number(metrics(at)["Expected (not synced now)"]) == 0
    assert any("None in this scope" in c.value for c in at.caption)

    first = min(history.state_sql("SELECT started_at FROM runs"))[0]
    day = datetime.fromisoformat(first).astimezone().date()
    at.date_input(key="fr_dates").set_value((day, day)).run()
    # "now" and each sync's run of that day
    assert len(at.selectbox(key="fr_run").options) == 1 + len(history.workspace.syncs)


def test_drill_into_a_cause_lists_its_rows_with_a_download(history, open_app):
    run_id = max(r for r, e in history.runs.items() if e.sync_id == "iterable-production")
    [(cause_id,)] = history.state_sql("SELECT rc.cause_id FROM run_causes rc JOIN causes c ON c.id = rc.cause_id "
                                      "WHERE rc.run_id = ? AND c.error_class = 'expected'", (run_id,))
    at = open_app(history.root, "pages/failed_rows.py", run=run_id, cause=cause_id)
    keys = {k for (k,) in history.state_sql(
        "SELECT key FROM rejection_state WHERE cause_id = ? AND sync_id = 'iterable-production' "
        "AND first_run_id <= ? AND last_run_id >= ?", (cause_id, run_id, run_id))}
    assert keys == history.runs[run_id].expected_keys  # the latest run: its rows are exactly the current ones
    rows = at.dataframe[2].value
    assert set(rows.columns) >= {"key", "message", "times seen"} and any("first seen" in c for c in rows.columns)
    assert set(rows["key"]) <= keys and len(rows) == min(len(keys), 500)
    assert (rows["message"].str.startswith("No record was found with lookup for email:")).all()
    [download] = at.get("download_button")
    assert download.proto.label == f"Download all {len(keys):,} rows as CSV (times in UTC)"
    assert at.query_params["cause"] == str(cause_id)


def test_a_cause_lists_the_rows_the_table_counts_whatever_the_dates(demo, open_app):
    """A sync whose last run is older than the default dates still has rows failing now: the table counts them
    and picking their cause lists them all."""
    demo.run("iterable-production", dated=OffsetClock(-40 * 86_400))
    demo.run("iterable-first-namespace")
    with StateStore(demo.workspace.state_path) as store:
        [cause] = [c for c in history.current_causes(store, sync_id="iterable-production") if c.error_class == "expected"]
    at = open_app(demo.root, "pages/failed_rows.py", cause=cause.cause_id)
    assert at.selectbox(key="fr_run").value is None  # "Now": the rows not synced as they stand
    assert len(at.selectbox(key="fr_run").options) == 2  # now, and the one run in the default dates
    [download] = at.get("download_button")
    assert download.proto.label == f"Download all {cause.rows:,} rows as CSV (times in UTC)"


def test_search_finds_a_record_across_runs_and_the_current_state(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py")
    last = max(r for r, e in history.runs.items() if e.sync_id == "iterable-production")
    missing = sorted(history.runs[last].expected_keys)[0]
    at.text_input(key="fr_term").set_value(missing).run()
    failing = at.dataframe[0].value.set_index("sync")  # one row per sync that has not synced it
    assert set(failing["key"]) == {missing} and set(failing["class"]) == {"expected"}
    assert failing.loc["iterable-production", "runs"].endswith(f"to {last}")
    assert set(failing.index) == {e.sync_id for r, e in history.runs.items()
                                  if missing in e.expected_keys and r > max(history.runs) - len(history.workspace.syncs)}

    [(synced, confirmed_by)] = history.state_sql(
        "SELECT key, run_id FROM snapshot WHERE sync_id = 'iterable-production' ORDER BY key LIMIT 1")
    at.text_input(key="fr_term").set_value(synced).run()
    confirmed = at.dataframe[0].value
    assert (confirmed["key"].iloc[0], confirmed["confirmed by run"].iloc[0]) == (synced, confirmed_by)

    first_ns = max(r for r, e in history.runs.items() if e.sync_id == "iterable-first-namespace")
    user_id = sorted(history.runs[first_ns].expected_identifiers)[0]
    at.text_input(key="fr_term").set_value(user_id).run()
    found = at.dataframe[0].value
    assert found["message"].iloc[0].endswith(f"userId:{user_id}")
    assert found["key"].iloc[0] in history.runs[first_ns].expected_keys

    at.text_input(key="fr_term").set_value("nobody@nowhere.example").run()
    assert "No sync has a trace" in at.info[0].value


def test_keys_that_cannot_be_synced_are_explained_not_listed_as_missing(history, open_app):
    [(null_cause,)] = history.state_sql("SELECT id FROM causes WHERE code = 'NullPrimaryKey'")
    at = open_app(history.root, "pages/failed_rows.py", sync="iterable-production", cause=null_cause)
    latest = max(r for r, e in history.runs.items() if e.sync_id == "iterable-production")
    [(nulls,)] = history.state_sql("SELECT rows FROM run_causes WHERE run_id = ? AND cause_id = ?", (latest, null_cause))
    assert any(f"**{nulls:,} rows** with a null or empty primary key in its latest run" in m.value
               for m in at.markdown)
    assert [i for i in at.info if "cannot be synced, listed or followed" in i.value]
    [query] = [c.value for c in at.code]  # the query to find them, in the warehouse's dialect: it finds them all
    with duckdb.connect(str(history.root / "warehouse.duckdb"), read_only=True) as warehouse:
        assert len(warehouse.execute(query).fetchall()) == nulls
    assert not at.get("download_button")

    [(dup_cause,)] = history.state_sql("SELECT id FROM causes WHERE code = 'DuplicatePrimaryKey'")
    at = open_app(history.root, "pages/failed_rows.py", sync="iterable-production", cause=dup_cause)
    [(keys,)] = history.state_sql("SELECT COUNT(*) FROM rejections WHERE sync_id = 'iterable-production' AND "
                                  "cause_id = ?", (dup_cause,))
    [download] = at.get("download_button")
    assert download.proto.label == f"Download all {keys:,} keys as CSV (times in UTC)"
    assert any("each of these keys is in several rows of the model" in c.value for c in at.caption)


def test_a_sync_run_several_times_a_day_counts_its_failing_rows_once_that_day():
    runs = pd.DataFrame({"run": [1, 2, 3, 4], "sync": ["a", "a", "b", "a"], "queried": [10, 10, 10, 0],
                         "started": ["2026-11-28T12:00:00+00:00", "2026-11-28T13:30:00+00:00",
                                     "2026-11-28T12:30:00+00:00", "2026-11-28T14:00:00+00:00"],  # one day anywhere
                         "retry": [False] * 4, "status": ["warning"] * 3 + ["failed"],
                         "error": [""] * 3 + ["the source's password expired"]})
    trend = pd.DataFrame({"run": [1, 2, 3], "sync": ["a", "a", "b"], "started": runs["started"][:3],
                          "cause_id": [7, 7, 7], "code": ["X"] * 3, "class": ["data"] * 3, "message": ["m"] * 3,
                          "outcome": ["rejected"] * 3, "rows": [40, 30, 5]})
    daily = daily_trend(trend, runs)  # run 4 failed before reading the model: a's day is run 2's
    assert daily["rows"].tolist() == [35]


def test_a_retry_or_a_dry_run_is_not_a_days_figure(tmp_path, monkeypatch):
    """A retry sends only the rows with real problems and leaves the expected rejections not attempted, and a dry
    run records no row: taken as the day's last run, every cause would read as a drop to 0 that day."""
    rows = [("ana@x.io", 1.0), ("bob@x.io", float("nan")), ("carl@x.io", 3.0)]
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score DOUBLE", rows=rows,
                         mappings=[("score", "score")]) as s:
        s.create_users("ana@x.io", "bob@x.io")  # carl is not in Iterable: an expected rejection
        s.run()
        retry = s.run(retry_failed=True)
        assert retry.counts.outcome("rejected_expected") == 0  # carl not attempted by the retry
        s.run(dry_run=True)
        daily = daily_trend(data.trend_frame(s.workspace, history.RunFilter(), None),
                            data.runs_frame(s.workspace, history.RunFilter()))
    by_code = {code: rows for code, rows in zip(daily["label"].str.split(":").str[0], daily["rows"])}
    assert by_code["NotFound"] == 1, "the day's figure is the full run's, not the retry's 0"


def test_a_link_to_an_unknown_sync_or_cause_says_so(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py", sync="nope", cause=999_999)
    assert any("names a sync `nope` that this workspace does not have" in e.value for e in at.error)
    assert at.selectbox(key="fr_sync").value is None  # all syncs
    assert any("names a cause `999999` that has no failed rows in this scope" in e.value for e in at.error)
