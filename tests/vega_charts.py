"""The dashboard's charts as an AppTest sees them: Vega-Lite specs (ui/charts.py) with their rows.

Streamlit moves a spec's top-level `data.values` into Arrow beside it; `specs` puts them back, so a test reads
what is drawn from the spec alone, like a layer's inline rows."""

from __future__ import annotations

import json

from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df


def specs(node) -> list[dict]:
    """Every Vega-Lite chart under `node` (an AppTest or a container), in page order."""
    found = []
    for chart in node.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if chart.proto.data.data:
            frame = convert_arrow_bytes_to_pandas_df(chart.proto.data.data)
            spec["data"] = {"values": frame.astype(object).to_dict("records")}
        found.append(spec)
    return found


def rows(spec: dict) -> list[dict]:
    """A chart's rows: its own, or its first layer's or concatenated view's that has some."""
    if "data" in spec:
        return spec["data"]["values"]
    for part in spec.get("layer", []) + spec.get("vconcat", []):
        if "data" in part:
            return part["data"]["values"]
    return []


def chart_words(spec: dict) -> list[str]:
    """What a chart says in words: its titles (the chart's, its views', its axes') and its legends' entries."""
    words: list[str] = []
    title = spec.get("title")
    if title:
        words.append(title if isinstance(title, str) else title.get("text", ""))
    for name, channel in spec.get("encoding", {}).items():
        if isinstance(channel, dict):
            words += [channel["title"]] if isinstance(channel.get("title"), str) else []
            if name == "color" and channel.get("legend", {}) is not None:
                words += [str(v) for v in (channel.get("scale") or {}).get("domain", [])]
    for part in spec.get("layer", []) + spec.get("vconcat", []):
        words += chart_words(part)
    return words
