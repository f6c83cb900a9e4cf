"""The dashboard's HTML bar charts (ui/bars.py) as an AppTest sees them: each chart's figures, read back from the
data attributes every bar carries, so a test reads what is drawn from the HTML alone."""

from __future__ import annotations

import json
from html.parser import HTMLParser


class _Figures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-chart" in attrs:
            self.charts.append({"chart": attrs["data-chart"], "rows": [], **{
                k[5:]: json.loads(v) for k, v in attrs.items() if k.startswith("data-") and k != "data-chart"}})
        elif "data-label" in attrs:
            self.charts[-1]["rows"].append({"label": attrs["data-label"], "value": json.loads(attrs["data-value"]),
                                            "parts": {}, "title": attrs.get("title"), **{
                                                k[5:]: _value(v) for k, v in attrs.items()
                                                if k.startswith("data-") and k not in ("data-label", "data-value")}})
        elif "data-part" in attrs:
            self.charts[-1]["rows"][-1]["parts"][attrs["data-part"]] = json.loads(attrs["data-value"])


def _value(text: str):
    """A data attribute's figure (JSON: a number, null), or its text (a sync's id, a status)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def html_charts(node) -> list[dict]:
    """Every HTML chart under `node` (an AppTest or a container), in page order: {"chart": its name, "rows":
    [{"label", "value", "parts": {name: value}, "title": its tooltip, and its other data attributes by name}], and
    the figure's own figures (a gauge's used, limit, budget)}."""
    return [figure for element in node.get("html") for figure in figures(element.proto.body)]


def figures(html: str) -> list[dict]:
    """The charts in one piece of HTML, as html_charts gives them."""
    parser = _Figures()
    parser.feed(html)
    return parser.charts


def chart(node, name: str) -> dict:
    [found] = [c for c in html_charts(node) if c["chart"] == name]
    return found
