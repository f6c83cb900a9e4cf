"""The MQR charts: used against the limit and each sync's records split into those that bought something and those
that did not, as HTML bars (ui/bars.py: a few bars need no chart library); the period's cumulative series with its
forecast, a Vega-Lite spec (ui/charts.py says why not Plotly)."""

from __future__ import annotations

from datetime import timedelta

from sync_core.mqr_report import MqrReport, SyncLine
from ui.bars import Bar, BarChart, Part, bullet
from ui.charts import colours

GOOD, NEAR, OVER = "#2E9E5B", "#E0A100", "#D64545"
NEAR_SHARE = 0.8  # from here on the bar turns amber


def gauge(report: MqrReport) -> str:
    """Used against the limit, as a bullet bar (HTML: ui/bars.py): the scale ends at the limit; bands under 80% and
    80-100%; the budget (the limit less the reserve) is the red mark. Over the budget the bar turns red; the
    number is written above it."""
    limit, used = report.limit, report.used
    colour = OVER if used > report.budget else NEAR if used >= NEAR_SHARE * limit else GOOD
    return bullet(used=used, limit=limit, budget=report.budget, near=NEAR_SHARE * limit, colour=colour,
                  bands=("rgba(46,158,91,0.15)", "rgba(224,161,0,0.2)"), mark=OVER, name="mqr_gauge")


def cumulative(report: MqrReport) -> dict:
    """Records counted so far in the period, day by day, against the limit and the budget; the forecast to the
    period's end and its range, when there is one."""
    day = "%Y-%m-%d"
    last_day = f"{report.period_end - timedelta(days=1):{day}}"
    counted = [{"day": f"{p.day:{day}}", "records": p.cumulative, "series": "counted"} for p in report.daily]
    lines = list(counted)
    f = report.forecast
    forecast = report.current and f.expected is not None and f.reason is None and report.daily
    if forecast:
        start = {"day": counted[-1]["day"], "records": report.used}
        for y, name in ((f.high, "fastest"), (f.expected, "forecast"), (f.low, "slowest")):
            lines += [{**start, "series": name}, {"day": last_day, "records": y, "series": name}]
    for y, name in ((report.limit, "limit"), (report.budget, "budget")):
        if name == "budget" and report.budget == report.limit:
            continue
        lines += [{"day": f"{report.period_start:{day}}", "records": y, "series": name},
                  {"day": last_day, "records": y, "series": name}]
    series = [("counted", "#4C7BD9"), ("fastest", "#7A7F8C"), ("forecast", "#7A7F8C"), ("slowest", "#7A7F8C"),
              ("limit", OVER), ("budget", NEAR)]
    shown = [(name, c) for name, c in series if any(p["series"] == name for p in lines)]
    x = {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate", "title": None,
         "scale": {"domain": [f"{report.period_start:{day}}", last_day]}, "axis": {"format": "%b %d"}}
    y = {"field": "records", "type": "quantitative", "title": "records", "scale": {"zero": True}}
    layers = []
    if forecast:  # the range between the slowest and the fastest rate, shaded
        layers.append({"data": {"values": [{"day": start["day"], "low": report.used, "high": report.used},
                                           {"day": last_day, "low": f.low, "high": f.high}]},
                       "mark": {"type": "area", "color": "rgba(122,127,140,0.12)"},
                       "encoding": {"x": x, "y": {**y, "field": "low"}, "y2": {"field": "high"}}})
    layers.append({"data": {"values": lines}, "mark": {"type": "line", "point": False},
                   "encoding": {
                       "x": x, "y": y,
                       "color": {"field": "series", "type": "nominal", "title": None, "scale": colours(shown),
                                 "legend": {"orient": "top"}},
                       "strokeDash": {"field": "series", "type": "nominal", "legend": None, "scale": {
                           "domain": [n for n, _ in shown],
                           "range": [[4, 3] if n == "forecast" else [1, 3] if n in ("fastest", "slowest") else [1, 0]
                                     for n, _ in shown]}},
                       "tooltip": [{"field": "series"}, {"field": "day", "type": "temporal",
                                                         "timeUnit": "utcyearmonthdate", "format": "%Y-%m-%d"},
                                   {"field": "records", "format": ",.0f"}]}})
    layers.append({"data": {"values": counted}, "mark": {"type": "point", "filled": True, "color": "#4C7BD9"},
                   "encoding": {"x": x, "y": y}})
    return {"height": 300, "layer": layers}


def sync_names(lines: list[SyncLine]) -> list[str]:
    """Each line's sync name, with its id where syncs share a name (the seed has two): one bar per sync."""
    names = [line.name for line in lines]
    return [f"{name} ({line.sync_id})" if names.count(name) > 1 else name for name, line in zip(names, lines)]


def by_sync(report: MqrReport) -> str:
    """Per sync, the records it queried: those the destination held after a run of the period, and those it never
    held (they bought nothing). HTML bars (ui/bars.py)."""
    lines = [line for line in report.by_sync if line.queried is not None]
    parts = [("reached the destination", GOOD), ("bought nothing", OVER)]
    bars = [Bar(name, [Part(parts[0][0], line.queried - line.unproductive, GOOD),
                       Part(parts[1][0], line.unproductive, OVER)], text=f"{line.queried:,}")
            for line, name in zip(lines, sync_names(lines))]
    return BarChart("mqr_by_sync", bars, title="Records queried", legend=parts, label_width=420).html()
