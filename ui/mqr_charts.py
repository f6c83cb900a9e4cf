"""The MQR figures: a gauge of used against the limit, the period's cumulative series with its forecast, and each
sync's records split into those that bought something and those that did not."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go

from sync_core.mqr_report import MqrReport, SyncLine

GOOD, NEAR, OVER = "#2E9E5B", "#E0A100", "#D64545"
NEAR_SHARE = 0.8  # from here on the gauge turns amber


def gauge(report: MqrReport, *, height: int = 260) -> go.Figure:
    """Used against the limit: the axis ends at the limit; bands under 80%, 80-100%; the budget (the limit less
    the reserve) is the threshold line. Over the limit, the bar turns red and the number says so."""
    limit, used = report.limit, report.used
    colour = OVER if used > report.budget else NEAR if used >= NEAR_SHARE * limit else GOOD
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=used, number={"valueformat": ",d", "suffix": f" of {limit:,}"},
        gauge={"axis": {"range": [0, limit], "tickformat": "~s"},
               "bar": {"color": colour, "thickness": 0.35},
               "steps": [{"range": [0, NEAR_SHARE * limit], "color": "rgba(46,158,91,0.15)"},
                         {"range": [NEAR_SHARE * limit, limit], "color": "rgba(224,161,0,0.2)"}],
               "threshold": {"line": {"color": OVER, "width": 3}, "thickness": 0.9, "value": report.budget}}))
    fig.update_layout(height=height, margin={"t": 30, "b": 10, "l": 30, "r": 30})
    return fig


def cumulative(report: MqrReport) -> go.Figure:
    """Records counted so far in the period, day by day, against the limit and the budget; the forecast to the
    period's end and its range, when there is one."""
    fig = go.Figure()
    days = [p.day for p in report.daily]
    fig.add_trace(go.Scatter(x=days, y=[p.cumulative for p in report.daily], mode="lines+markers", name="counted",
                             line={"color": "#4C7BD9"}, hovertemplate="%{x|%Y-%m-%d}: %{y:,}<extra></extra>"))
    last_day = report.period_end - timedelta(days=1)
    f = report.forecast
    if report.current and f.expected is not None and f.reason is None and days:
        start = (days[-1], report.used)
        for y, name, dash in ((f.high, "fastest", "dot"), (f.expected, "forecast", "dash"), (f.low, "slowest", "dot")):
            fig.add_trace(go.Scatter(x=[start[0], last_day], y=[start[1], y], mode="lines", name=name,
                                     line={"color": "#7A7F8C", "dash": dash},
                                     fill="tonexty" if name == "slowest" else None,
                                     fillcolor="rgba(122,127,140,0.12)",
                                     hovertemplate=f"{name}: %{{y:,.0f}}<extra></extra>"))
    for y, name, colour in ((report.limit, "limit", OVER), (report.budget, "budget", NEAR)):
        if name == "budget" and report.budget == report.limit:
            continue
        fig.add_trace(go.Scatter(x=[report.period_start, last_day], y=[y, y], mode="lines", name=name,
                                 line={"color": colour, "width": 1}, hovertemplate=f"{name}: %{{y:,}}<extra></extra>"))
    fig.update_layout(height=340, margin={"t": 20, "b": 10, "l": 10, "r": 10}, legend={"orientation": "h"},
                      yaxis={"rangemode": "tozero", "title": "records"},
                      xaxis={"range": [report.period_start, last_day], "title": None})
    return fig


def sync_names(lines: list[SyncLine]) -> list[str]:
    """Each line's sync name, with its id where syncs share a name (the seed has two): one bar per sync."""
    names = [line.name for line in lines]
    return [f"{name} ({line.sync_id})" if names.count(name) > 1 else name for name, line in zip(names, lines)]


def by_sync(report: MqrReport) -> go.Figure:
    """Per sync, the records it queried: those the destination held after a run of the period, and those it never
    held (they bought nothing)."""
    lines = [line for line in report.by_sync if line.queried is not None]
    names = sync_names(lines)
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=[line.queried - line.unproductive for line in lines], orientation="h",
                         name="reached the destination", marker_color=GOOD,
                         hovertemplate="%{y}: %{x:,} reached the destination<extra></extra>"))
    fig.add_trace(go.Bar(y=names, x=[line.unproductive for line in lines], orientation="h", name="bought nothing",
                         marker_color=OVER, hovertemplate="%{y}: %{x:,} never reached it<extra></extra>"))
    fig.update_layout(barmode="stack", height=140 + 50 * len(lines), margin={"t": 40, "b": 10, "l": 10, "r": 10},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
                      xaxis={"rangemode": "tozero", "title": "records queried"})
    return fig
