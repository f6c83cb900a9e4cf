"""The charts with many points, as Vega-Lite specs (drawn with `st.vega_lite_chart(spec=...)`): failed rows per day
and cause, and (ui/mqr_charts.py) MQR over the period. They take frames in UTC and show local time (the axis title
says which zone). A run's phases are HTML bars (ui/bars.py), and Run history's timeline HTML (ui/timeline.py).

Vega-Lite, not Plotly: a page with one Plotly chart took 1-2 s longer to be drawn in a new browser tab than the
same page without it (its 4.7 MB script, then the drawing), more than the page's whole script run; Streamlit's
Vega-Lite renderer is a sixth of that (docs/benchmarks.md, "In a real browser"). Each layer carries its rows
inline (`data.values`), so the spec alone says what is drawn."""

from __future__ import annotations

import pandas as pd

from ui.bars import Bar, BarChart, Part


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON-ready dicts (native numbers, no NaN): a layer's `data.values`."""
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def colours(pairs) -> dict:
    """A colour scale with a fixed colour per value: [(value, colour), ...]."""
    pairs = list(pairs)
    return {"domain": [v for v, _ in pairs], "range": [c for _, c in pairs]}


def phases(phase_seconds: dict[str, float]) -> str:
    """A run's phases as HTML bars (ui/bars.py), each with its seconds and share of the run."""
    total = sum(phase_seconds.values()) or 1.0
    return BarChart("phases", [Bar(name, [Part(name, s, "#5B47FB")], text=f"{s:.2f} s ({s / total:.0%})")
                               for name, s in phase_seconds.items()], label_width=90).html()


# Mid tones, read on a light background and on a dark one alike (the viewer's browser chooses the theme).
REAL_COLOURS = ["#D64545", "#F08A4B", "#B05CC8", "#E0A100", "#E0569E", "#E4572E"]
EXPECTED_COLOURS = ["#7C8AA5", "#A9B0BF", "#4C7BD9", "#8FA8D9", "#5E9EA0", "#9AA5B8"]


def cause_trend(daily: pd.DataFrame, zone: str, marked_day=None, *, real: bool) -> dict:
    """Rows per day and cause; `daily` has day, label and rows. Real causes in warm colours, expected in cool
    ones, so the two never read alike. A marked day (the chosen run's) is drawn."""
    palette = REAL_COLOURS if real else EXPECTED_COLOURS
    labels = list(dict.fromkeys(daily["label"]))
    points = daily.assign(day=pd.to_datetime(daily["day"]).dt.strftime("%Y-%m-%d"))[["day", "label", "rows"]]
    days = points["day"].nunique()
    lines = {"data": {"values": records(points)}, "mark": {"type": "line", "point": True},
             "encoding": {
                 "x": {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate",
                       "title": f"day ({zone})", "axis": {"format": "%b %d", **({"tickCount": {"interval": "day"}} if days <= 14 else {})}},  # whole days
                 "y": {"field": "rows", "type": "quantitative", "title": "rows", "scale": {"zero": True}},
                 "color": {"field": "label", "type": "nominal", "title": None, "legend": {"orient": "bottom",
                                                                                          "labelLimit": 400},
                           "scale": colours((label, palette[i % len(palette)]) for i, label in enumerate(labels))},
                 "tooltip": [{"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate",
                              "format": "%Y-%m-%d"}, {"field": "label"}, {"field": "rows", "format": ","}]}}
    layers = [lines]
    if marked_day is not None:
        layers.append({"data": {"values": [{"day": f"{marked_day:%Y-%m-%d}"}]},
                       "mark": {"type": "rule", "strokeDash": [2, 2], "color": "#5B47FB"},
                       "encoding": {"x": {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate"}}})
    return {"height": 240, "layer": layers}
