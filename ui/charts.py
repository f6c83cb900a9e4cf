"""The run charts, as Vega-Lite specs (drawn with `st.vega_lite_chart(spec=...)`). They take frames in UTC and show
local time (the axis title says which zone).

Vega-Lite, not Plotly: a page with one Plotly chart took 1-2 s longer to be drawn in a new browser tab than the
same page without it (its 4.7 MB script, then the drawing), more than the page's whole script run; Streamlit's
Vega-Lite renderer is a sixth of that (docs/benchmarks.md, "In a real browser"). Each layer carries its rows
inline (`data.values`), so the spec alone says what is drawn."""

from __future__ import annotations

import pandas as pd

from ui.bars import Bar, BarChart, Part
from ui.formatting import STATUS_COLOURS, local_times

# What became of a run's rows, in its owner's words (the run's view has the terms of the count invariant).
OUTCOME_BARS = [("synced", "synced", "#2E9E5B"), ("expected", "left out as expected", "#A9B0BF"),
                ("invalid", "key missing or repeated", "#F08A4B"),
                ("rejected_other", "refused: data problem", "#D64545"),
                ("failed", "not sent this time", "#8E2C8E"), ("not_attempted", "not sent: run stopped", "#E3E6ED")]


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON-ready dicts (native numbers, no NaN): a layer's `data.values`."""
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def colours(pairs) -> dict:
    """A colour scale with a fixed colour per value: [(value, colour), ...]."""
    pairs = list(pairs)
    return {"domain": [v for v, _ in pairs], "range": [c for _, c in pairs]}


def runs_timeline(frame: pd.DataFrame, zone: str) -> dict:
    """Per run, oldest left: its duration coloured by status, and what became of its rows.

    Runs are categories in time order (the label says when): runs of several syncs minutes apart would
    otherwise draw as hairlines on a time axis."""
    runs = frame.sort_values("run").assign(when=lambda f: local_times(f["started"]).dt.strftime("%m-%d %H:%M"))
    runs = runs.assign(label=[f"#{r} · {w}" for r, w in zip(runs["run"], runs["when"])])
    order = list(runs["label"])  # a category axis in run order
    x = {"field": "label", "type": "ordinal", "sort": order, "title": None,
         "axis": {"labelOverlap": "greedy", "labelAngle": -45}}
    durations = runs[["run", "label", "sync", "status", "duration_s"]]
    outcomes = runs.melt(id_vars=["run", "label", "sync"], value_vars=[c for c, _, _ in OUTCOME_BARS],
                         var_name="column", value_name="rows")
    names = {c: label for c, label, _ in OUTCOME_BARS}
    outcomes = outcomes.assign(outcome=outcomes["column"].map(names), order=outcomes["column"].map(
        {c: i for i, (c, _, _) in enumerate(OUTCOME_BARS)}))[["run", "label", "sync", "outcome", "order", "rows"]]
    status_scale = colours((s, c) for s, c in STATUS_COLOURS.items() if s in set(runs["status"]))
    return {
        "vconcat": [
            {"title": "Duration (s), coloured by status", "height": 150, "data": {"values": records(durations)},
             "mark": {"type": "point", "filled": True, "size": 70},
             "encoding": {"x": {**x, "axis": {"labels": False, "ticks": False}},
                          "y": {"field": "duration_s", "type": "quantitative", "title": "seconds",
                                "scale": {"zero": True}},
                          "color": {"field": "status", "type": "nominal", "scale": status_scale, "title": "status"},
                          "tooltip": [{"field": "run"}, {"field": "sync"}, {"field": "status"},
                                      {"field": "duration_s", "title": "seconds", "format": ".2f"}]}},
            {"title": "Rows each run sent or could not send, by what became of them", "height": 260,
             "data": {"values": records(outcomes)}, "mark": "bar",
             "encoding": {"x": {**x, "title": f"run · start ({zone})"},
                          "y": {"field": "rows", "type": "quantitative", "stack": "zero", "title": "rows",
                                "scale": {"zero": True}},
                          "color": {"field": "outcome", "type": "nominal", "title": "rows",
                                    "scale": colours((label, c) for _, label, c in OUTCOME_BARS)},
                          "order": {"field": "order"},
                          "tooltip": [{"field": "run"}, {"field": "sync"}, {"field": "outcome"},
                                      {"field": "rows", "format": ","}]}},
        ],
        "resolve": {"scale": {"color": "independent"}},
    }


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
