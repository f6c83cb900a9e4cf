"""The first screens speak to the sync's business owner: Run history (its tiles, chart and table) and the
Failed rows headers carry no bookkeeping terms. Those stay complete in the run's details."""

from __future__ import annotations

import re
from html import unescape

from vega_charts import chart_words, specs

JARGON = ("queried", "planned", "retried", "fingerprint", "invariant", "transient", "not attempted", "invalid",
          "since then", " = ", "add up")


def words_on_screen(at) -> str:
    """Everything the page says in its own words: text, headings, labels and their help, the tables' headers
    and charts' titles, legends and tooltips (not the values of the tables, which quote the destination)."""
    said = [e.value for kind in ("title", "subheader", "markdown", "caption", "info") for e in getattr(at.main, kind)]
    said += [f"{m.label} {m.proto.help}" for m in at.main.metric]
    said += [" ".join(map(str, d.value.columns)) for d in at.main.dataframe]
    for spec in specs(at):  # chart titles, axis titles and the legends' entries
        said += chart_words(spec)
    for element in at.main.get("html"):  # HTML charts: their text and their tooltips
        body = re.sub(r"<style>.*?</style>", "", element.proto.body, flags=re.S)
        said += [unescape(re.sub(r"<[^>]+>", " ", body))] + [unescape(t) for t in re.findall(r'title="([^"]*)"', body)]
    return "\n".join(said)


def test_run_history_speaks_plainly(history, open_app):
    text = words_on_screen(open_app(history.root))
    assert "with data problems" in text  # the tiles say what is wrong...
    assert not [word for word in JARGON if word in text], text  # ...in words their reader uses


def test_failed_rows_headers_speak_plainly(history, open_app):
    at = open_app(history.root, "pages/failed_rows.py", run=max(history.runs))
    headers = [at.title[0].value, *[f"{m.label} {m.proto.help}" for m in at.main.metric],
               *[m.value for m in at.markdown if m.value.startswith("#### ")],
               *[" ".join(d.value.columns) for d in at.dataframe[:2]],
               *[c for d in at.dataframe[:2] for c in d.value["class"]]]
    text = "\n".join(headers)
    assert "Real problems" in text and "Expected" in text
    assert not [word for word in JARGON if word in text], text


def test_the_run_details_keep_every_term(history, open_app):
    """What left the first screens is in the run's view: the identities, the retried rows, the config
    fingerprint and the planner's notes."""
    run_id = max(history.runs)
    at = open_app(history.root, "pages/run.py", run=run_id)
    text = "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)
    assert all(term in text for term in ("queried", "planned", "retried", "not attempted", "fingerprint"))
    assert any("existing records" in c.value for c in at.caption)  # the look-up's note (its own, or one reused)
