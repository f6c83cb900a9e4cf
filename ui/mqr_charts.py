"""The MQR charts, as Vega-Lite specs (ui/charts.py says why not Plotly): used against the limit, the period's
cumulative series with its forecast, and each sync's records split into those that bought something and those that
did not."""

from __future__ import annotations

from datetime import timedelta

from sync_core.mqr_report import MqrReport, SyncLine
from ui.charts import colours

GOOD, NEAR, OVER = "#2E9E5B", "#E0A100", "#D64545"
NEAR_SHARE = 0.8  # from here on the bar turns amber


def gauge(report: MqrReport, *, height: int = 90) -> dict:
    """Used against the limit, as a bullet bar: the axis ends at the limit; bands under 80% and 80-100%; the
    budget (the limit less the reserve) is the red mark. Over the budget the bar turns red; the number is written
    above it."""
    limit, used = report.limit, report.used
    colour = OVER if used > report.budget else NEAR if used >= NEAR_SHARE * limit else GOOD
    x = {"type": "quantitative", "title": None, "scale": {"domain": [0, max(limit, used)], "nice": False},
         "axis": {"format": "~s", "tickCount": 5}}
    band = {"type": "bar", "height": 36}
    return {
        "height": height, "data": {"values": [{"used": used, "limit": limit, "budget": report.budget,
                                               "near": NEAR_SHARE * limit, "zero": 0}]},
        "layer": [
            {"mark": {"type": "text", "align": "left", "baseline": "bottom", "dy": -20, "fontSize": 20},
             "encoding": {"x": {"field": "zero", **x}, "text": {"value": f"{used:,} of {limit:,}"}}},
            {"mark": {**band, "color": "rgba(46,158,91,0.15)"},
             "encoding": {"x": {"field": "zero", **x}, "x2": {"field": "near"}}},
            {"mark": {**band, "color": "rgba(224,161,0,0.2)"},
             "encoding": {"x": {"field": "near", **x}, "x2": {"field": "limit"}}},
            {"mark": {"type": "bar", "height": 14, "color": colour},
             "encoding": {"x": {"field": "used", **x}, "tooltip": [{"field": "used", "format": ","}]}},
            {"mark": {"type": "tick", "thickness": 3, "size": 44, "color": OVER},
             "encoding": {"x": {"field": "budget", **x}, "tooltip": [{"field": "budget", "format": ","}]}},
        ]}


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


def by_sync(report: MqrReport) -> dict:
    """Per sync, the records it queried: those the destination held after a run of the period, and those it never
    held (they bought nothing)."""
    lines = [line for line in report.by_sync if line.queried is not None]
    parts = [("reached the destination", GOOD), ("bought nothing", OVER)]
    bars = []
    for line, name in zip(lines, sync_names(lines)):
        bars += [{"sync": name, "part": parts[0][0], "order": 0, "records": line.queried - line.unproductive},
                 {"sync": name, "part": parts[1][0], "order": 1, "records": line.unproductive}]
    return {"height": 50 * len(lines), "data": {"values": bars}, "mark": "bar", "encoding": {
        "y": {"field": "sync", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 420}},
        "x": {"field": "records", "type": "quantitative", "stack": "zero", "title": "records queried",
              "scale": {"zero": True}},
        "color": {"field": "part", "type": "nominal", "title": None, "scale": colours(parts),
                  "legend": {"orient": "top"}},
        "order": {"field": "order"},
        "tooltip": [{"field": "sync"}, {"field": "part"}, {"field": "records", "format": ","}]}}
