"""Plotly figures. They take frames in UTC and show local time (the axis title says which zone)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.formatting import STATUS_COLOURS, local_times

# What became of a run's rows, in its owner's words (the run's view has the terms of the count invariant).
OUTCOME_BARS = [("synced", "synced", "#2E9E5B"), ("expected", "left out as expected", "#A9B0BF"),
                ("invalid", "key missing or repeated", "#F08A4B"),
                ("rejected_other", "refused: data problem", "#D64545"),
                ("failed", "not sent this time", "#8E2C8E"), ("not_attempted", "not sent: run stopped", "#E3E6ED")]


def runs_timeline(frame: pd.DataFrame, zone: str) -> go.Figure:
    """Per run, oldest left: its duration coloured by status, and what became of its rows.

    Runs are categories in time order (the label says when): runs of several syncs minutes apart would
    otherwise draw as hairlines on a time axis."""
    runs = frame.sort_values("run").assign(when=lambda f: local_times(f["started"]).dt.strftime("%m-%d %H:%M"))
    x = [f"#{r} · {w}" for r, w in zip(runs["run"], runs["when"])]
    hover = [f"run {r} · {s}" for r, s in zip(runs["run"], runs["sync"])]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.35, 0.65],
                        subplot_titles=("Duration (s), coloured by status",
                                        "Rows each run sent or could not send, by what became of them"))
    for status, colour in STATUS_COLOURS.items():
        mask = (runs["status"] == status).to_numpy()
        if mask.any():
            fig.add_trace(go.Scatter(
                x=[v for v, m in zip(x, mask) if m], y=runs.loc[mask, "duration_s"], mode="markers", name=status,
                marker={"color": colour, "size": 9}, legendgroup="status", legendgrouptitle_text="status",
                text=[v for v, m in zip(hover, mask) if m], hovertemplate="%{text}<br>%{y:.2f} s<extra></extra>"),
                row=1, col=1)
    for column, label, colour in OUTCOME_BARS:
        fig.add_trace(go.Bar(x=x, y=runs[column], name=label, marker_color=colour, legendgroup="outcome",
                             legendgrouptitle_text="rows", text=hover, textposition="none",
                             hovertemplate="%{text}<br>%{y:,} rows: " + label + "<extra></extra>"), row=2, col=1)
    fig.update_layout(barmode="stack", height=520, margin={"t": 40, "b": 10, "l": 10, "r": 10},
                      legend={"groupclick": "toggleitem"})
    fig.update_xaxes(type="category", nticks=24)  # a month of four daily syncs is 120 runs: label every fifth
    fig.update_xaxes(title_text=f"run · start ({zone})", row=2, col=1)
    fig.update_yaxes(title_text="seconds", row=1, col=1)
    fig.update_yaxes(title_text="rows", row=2, col=1)
    fig.update_yaxes(rangemode="tozero")  # a height is read against zero: 7,133 against 7,881 is not a cliff
    return fig


def phases(phase_seconds: dict[str, float]) -> go.Figure:
    names = list(phase_seconds)
    seconds = [phase_seconds[n] for n in names]
    total = sum(seconds) or 1.0
    fig = go.Figure(go.Bar(x=seconds, y=names, orientation="h", marker_color="#5B47FB",
                           text=[f"{s:.2f} s ({s / total:.0%})" for s in seconds], textposition="auto",
                           hovertemplate="%{y}: %{x:.3f} s<extra></extra>"))
    fig.update_layout(height=60 + 40 * len(names), margin={"t": 10, "b": 10, "l": 10, "r": 10},
                      xaxis_title="seconds", yaxis={"autorange": "reversed"})
    return fig


# Mid tones, read on a light background and on a dark one alike (the viewer's browser chooses the theme).
REAL_COLOURS = ["#D64545", "#F08A4B", "#B05CC8", "#E0A100", "#E0569E", "#E4572E"]
EXPECTED_COLOURS = ["#7C8AA5", "#A9B0BF", "#4C7BD9", "#8FA8D9", "#5E9EA0", "#9AA5B8"]


def cause_trend(daily: pd.DataFrame, zone: str, marked_day=None, *, real: bool) -> go.Figure:
    """Rows per day and cause; `daily` has day, label and rows. Real causes in warm colours, expected in cool
    ones, so the two never read alike. A marked day (the chosen run's) is drawn."""
    fig = go.Figure()
    colours = REAL_COLOURS if real else EXPECTED_COLOURS
    for index, (label, points) in enumerate(daily.groupby("label", sort=False)):
        fig.add_trace(go.Scatter(x=points["day"], y=points["rows"], mode="lines+markers", name=label,
                                 line_color=colours[index % len(colours)],
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:,} rows<extra>" + label[:60] + "</extra>"))
    if marked_day is not None:
        fig.add_vline(x=pd.Timestamp(marked_day).timestamp() * 1000, line_dash="dot", line_color="#5B47FB")
    fig.update_layout(height=280, margin={"t": 10, "b": 10, "l": 10, "r": 10}, xaxis_title=f"day ({zone})",
                      yaxis_title="rows", legend={"orientation": "h", "y": -0.3})
    days = daily["day"].nunique()
    fig.update_xaxes(tickformat="%b %d", dtick=86_400_000 if days <= 14 else None)  # whole days, never hours
    fig.update_yaxes(rangemode="tozero")  # a fall from 586 to 540 rows is a small one, and looks it
    return fig
