"""One run's view: reached by deep link; its counts satisfy the invariant; its phases and causes are the stored ones."""

from __future__ import annotations

import json
import re

from sync_core import OPERATIONS, OUTCOMES, invariant_violations
from html_charts import html_charts

TERM = re.compile(r"([a-z][a-z ]*?) ([\d,]+)")


def page_counts(at) -> dict[str, int]:
    """Every term of the three identities, read back from the page's text."""
    lines = [m.value for m in at.markdown if m.value.startswith((":green[✓]", ":red[✗]"))]
    assert len(lines) == 3 and all(line.startswith(":green[✓]") for line in lines), lines
    counts: dict[str, int] = {}
    for line in lines:
        body = line.split("** ", 1)[1].replace("−", "-")
        head, rest = body.split(" = ", 1)
        counts[re.search(r"\*\*(\w+)", line).group(1)] = int(head.replace(",", ""))
        for name, number in TERM.findall(rest):
            counts[name.strip().replace(" ", "_")] = int(number.replace(",", ""))
    return counts


def test_deep_link_opens_that_run(history, open_app, clean):
    run_id = sorted(history.runs)[2]
    at = open_app(history.root, "pages/run.py", run=run_id)
    clean(at)
    assert at.title[0].value.startswith(f"Run {run_id}:")
    assert at.selectbox(key="run_pick").value == run_id
    assert at.query_params["run"] == str(run_id)


def test_counts_on_the_page_satisfy_the_invariant_and_match_the_store(history, open_app):
    for run_id in sorted(history.runs):
        at = open_app(history.root, "pages/run.py", run=run_id)
        [(stored,)] = history.state_sql("SELECT counts FROM runs WHERE id = ?", (run_id,))
        shown = page_counts(at)
        assert shown == json.loads(stored)
        assert invariant_violations(shown) == []

        matrix = at.table[-1].value  # operation x outcome, with totals: after the run's causes
        [(by_operation,)] = history.state_sql("SELECT by_operation FROM runs WHERE id = ?", (run_id,))
        by_operation = json.loads(by_operation)
        for op in OPERATIONS:
            assert [matrix.loc[op, o.replace("_", " ")] for o in OUTCOMES] == [by_operation[op][o] for o in OUTCOMES]
        assert matrix.loc["total", "total"] == shown["planned"]
        assert [matrix.loc["total", o.replace("_", " ")] for o in OUTCOMES] == [shown[o] for o in OUTCOMES]


def test_phases_and_causes_are_the_runs_own(history, open_app):
    run_id = max(history.runs)
    at = open_app(history.root, "pages/run.py", run=run_id)
    [(phases,)] = history.state_sql("SELECT phases FROM runs WHERE id = ?", (run_id,))
    [figure] = html_charts(at)
    assert figure["chart"] == "phases" and {r["label"]: r["value"] for r in figure["rows"]} == json.loads(phases)

    causes = history.state_sql("SELECT c.error_class, rc.rows FROM run_causes rc JOIN causes c ON c.id = rc.cause_id "
                               "WHERE rc.run_id = ?", (run_id,))
    real = sum(n for cls, n in causes if cls != "expected")
    expected = sum(n for cls, n in causes if cls == "expected")
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(headings) == 2
    assert "Real problems" in headings[0] and headings[0].endswith(f": {real:,} row{'s' * (real != 1)}")
    assert "Expected" in headings[1] and headings[1].endswith(f": {expected:,} row{'s' * (expected != 1)}")
    assert sum(at.table[0].value["rows"]) == real and sum(at.table[1].value["rows"]) == expected
    keys = [k for table in at.table[:2] for cell in table.value["example keys"] for k in cell.split(", ") if cell]
    assert keys and all(k.startswith("`") and k.endswith("`") for k in keys)  # code, never made a mailto: link
    [link] = [p.proto for p in at.get("page_link") if p.proto.page == "failed_rows"]
    assert link.query_string == f"run={run_id}&sync={history.runs[run_id].sync_id}"


def test_the_run_says_what_it_found_first_and_keeps_its_technical_details_below(history, open_app):
    """A business owner reads the sentence at the top; the trigger, the config fingerprint and the planner's
    notes are all still there, under Technical details, after the counts."""
    run_id = max(history.runs)
    at = open_app(history.root, "pages/run.py", run=run_id)
    [(status, fingerprint, notes, counts)] = history.state_sql(
        "SELECT status, config_fingerprint, notes, counts FROM runs WHERE id = ?", (run_id,))
    first = at.markdown[0].value
    assert first.startswith(f":orange-badge[{status}]") and "with data problems" in first
    assert "fingerprint" not in first and "retried" not in first
    subheaders = [h.value for h in at.subheader]
    assert subheaders.index("Failed rows") < subheaders.index("Counts") < subheaders.index("Technical details")
    assert any(f"config fingerprint `{fingerprint}`" in m.value for m in at.markdown)
    shown_notes = [c.value for c in at.caption if ":material/lightbulb:" in c.value]
    assert json.loads(notes) and [n.split(" ", 1)[1] for n in shown_notes] == json.loads(notes)


def test_unknown_run_says_so_and_shows_the_latest(history, open_app):
    at = open_app(history.root, "pages/run.py", run=99999)
    assert "no run `99999`" in at.error[0].value and "Pick a run" in at.info[0].value
    assert at.title[0].value.startswith(f"Run {max(history.runs)}:")


def test_a_failed_run_shows_its_error_with_a_next_step(demo, open_app):
    demo.edit_workspace('api_key = "secrets:sandbox.iterable_api_key"', 'api_key = "env:NO_SUCH_KEY_VARIABLE"')
    record = demo.run("iterable-production")
    assert record.status == "failed" and record.error_class == "config"

    at = open_app(demo.root, "pages/run.py", run=record.id)
    assert f"Run {record.id} stopped" in at.error[0].value and "NO_SUCH_KEY_VARIABLE" in at.error[0].value
    assert not any("Open it" in m.value for m in at.markdown)  # the reader is on it: the error is above
    assert "Fix the setup" in at.info[0].value and "sync-core" in at.info[0].value
    assert any("stopped before planning" in i.value for i in at.info)


def test_a_run_stopped_before_sending_does_not_claim_its_rows_were_synced(demo, open_app):
    demo.edit_warehouse(  # no bad keys: nothing refused while planning
        "DELETE FROM marketing_contacts WHERE email IS NULL OR NOT regexp_full_match(email, '[^@ ]+@[^@ ]+[.][^@ ]+') "
        "OR email IN (SELECT email FROM marketing_contacts GROUP BY email HAVING COUNT(*) > 1)")
    demo.sandbox.add_fault("export/data.json", "unauthorized")
    record = demo.run("iterable-production")
    unsent = record.counts.as_dict()["not_attempted"]
    assert record.status == "failed" and unsent > 0 and record.counts.as_dict()["synced"] == 0

    at = open_app(demo.root, "pages/run.py", run=record.id)
    texts = [i.value for i in at.info]
    assert not any("every planned row was synced" in t for t in texts)
    assert any(f"{unsent:,} planned rows were not attempted: it stopped before sending them" in t for t in texts)
    assert any("once the error above is fixed" in t for t in texts)
