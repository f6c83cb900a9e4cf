"""Run history's timeline as plain HTML (`st.html`): per run, oldest left, its duration as a dot coloured by its
status, and under it what became of its rows as a stacked bar.

HTML, not Vega-Lite, for the reason ui/bars.py gives: the Vega-Lite timeline cost a new tab of Run history about
0.35 s of its browser's main thread, the HTML one 0.08 s (docs/benchmarks.md, "Stop 26: Run history's timeline
as HTML"). Runs are columns in run order, not points on a time axis: runs of several syncs minutes apart would
otherwise draw as hairlines. Each run's column carries its figures as data attributes (`data-run`, `data-sync`,
`data-status`, `data-duration`, a segment's `data-part` and `data-value`), read back by
the tests (tests/html_charts.py), and a tooltip with all of them."""

from __future__ import annotations

import json
import math
from html import escape

import pandas as pd

from ui.bars import legend, share, short
from ui.formatting import STATUS_COLOURS, local_times

# What became of a run's rows, in its owner's words (the run's view has the terms of the count invariant).
OUTCOME_BARS = [("synced", "synced", "#2E9E5B"), ("expected", "left out as expected", "#A9B0BF"),
                ("invalid", "key missing or repeated", "#F08A4B"),
                ("rejected_other", "refused: data problem", "#D64545"),
                ("failed", "not sent this time", "#8E2C8E"), ("not_attempted", "not sent: run stopped", "#E3E6ED")]
RUN_LABELS = 6  # runs named under the bars at most: each name is about 110 px wide, the plot 700-940
TICK = "font-size:0.7rem;opacity:0.75;white-space:nowrap;position:absolute"
AXIS = "rgba(128,128,128,0.55)"  # mid grey: seen on the light and the dark theme
STYLE = ("<style>.rt-plot{position:relative;display:flex;margin-left:44px;"
         f"border-left:1px solid {AXIS};border-bottom:1px solid {AXIS}}}"
         ".rt-col{flex:1 1 0;min-width:0;position:relative;display:flex;flex-direction:column-reverse;"
         "align-items:center}.rt-col>span{width:70%;max-width:26px;min-width:1px}"
         ".rt-dot{position:absolute;left:50%;width:9px;height:9px;margin:0 0 -4.5px -4.5px;border-radius:50%}"
         ".rt-line{position:absolute;left:0;right:0;border-top:1px solid rgba(128,128,128,0.18)}"
         ".rt-cap{font-weight:600;font-size:0.875rem;margin:4px 0 4px 0}"
         + "".join(f".rt-o{i}{{background:{colour}}}" for i, (_, _, colour) in enumerate(OUTCOME_BARS)) + "</style>")


def runs_timeline(frame: pd.DataFrame, zone: str) -> str:
    """The runs of `frame` (data.runs_frame's columns, times in UTC) drawn in local time, `zone` naming it."""
    runs = frame.sort_values("run")
    when = list(local_times(runs["started"]).dt.strftime("%m-%d %H:%M"))
    names = [f"#{run} · {at}" for run, at in zip(runs["run"], when)]
    totals = runs[[column for column, _, _ in OUTCOME_BARS]].sum(axis=1)
    rows_top, rows_ticks = ticks(float(totals.max()))
    seconds_top, seconds_ticks = ticks(float(runs["duration_s"].max(skipna=True) or 0))
    dots, bars = [], []
    for name, run, total in zip(names, runs.to_dict("records"), totals):
        duration = run["duration_s"] if _known(run["duration_s"]) else None  # a run still going has none yet
        tip = _tooltip(run, name, duration, zone)
        if duration is None:
            dots.append('<div class="rt-col"></div>')
        else:
            dots.append(f'<div class="rt-col" title="{tip[0]}"><i class="rt-dot" style="bottom:'
                        f'{share(duration, seconds_top)};background:{STATUS_COLOURS.get(run["status"], "#7A7F8C")}">'
                        '</i></div>')
        segments = "".join(
            f'<span data-part="{escape(label)}" data-value="{int(run[column])}" class="rt-o{i}" style="height:'
            f'{share(run[column], rows_top)}"></span>'
            for i, (column, label, _) in enumerate(OUTCOME_BARS) if run[column])  # a zero is not drawn
        bars.append(f'<div class="rt-col" data-label="{escape(name)}" data-value="{int(total)}" '
                    f'data-run="{int(run["run"])}" data-sync="{escape(run["sync"])}" '
                    f'data-status="{escape(run["status"])}" data-duration="{_number(duration)}" '
                    f'title="{"&#10;".join(tip)}">{segments}</div>')
    statuses = [(s, c) for s, c in STATUS_COLOURS.items() if s in set(runs["status"])]
    summary = (f"{len(runs):,} runs, #{runs['run'].iloc[0]} to #{runs['run'].iloc[-1]}: "
               f"{int(runs['synced'].sum()):,} rows synced, {int(runs['expected'].sum()):,} left out as expected")
    return (f'{STYLE}<figure data-chart="runs_timeline" role="img" aria-label="{escape(summary)}" '
            f'style="margin:0 0 0.5rem 0">'
            f'<div class="rt-cap">Duration (s), coloured by status</div>{legend(statuses)}'
            f'{_panel(dots, seconds_top, seconds_ticks, 110)}'
            f'<div class="rt-cap" style="margin-top:14px">Rows each run sent or could not send, by what became of '
            f'them</div>{legend([(label, colour) for _, label, colour in OUTCOME_BARS])}'
            f'{_panel(bars, rows_top, rows_ticks, 200)}{_run_names(names, zone)}</figure>')


def ticks(top: float) -> tuple[float, list[float]]:
    """A scale from 0 to a round number at or above `top`, and its 3-6 ticks (steps of 1, 2, 2.5 or 5 times a
    power of ten)."""
    if not top > 0:
        return 1.0, [0.0, 1.0]
    rough = top / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    end = step * math.ceil(top / step - 1e-9)
    return end, [i * step for i in range(round(end / step) + 1)]


def _panel(columns: list[str], top: float, marks: list[float], height: int) -> str:
    lines = "".join(f'<div class="rt-line" style="bottom:{share(v, top)}"></div>'
                    f'<span style="{TICK};right:calc(100% + 5px);bottom:{share(v, top)};transform:translateY(50%)">'
                    f'{short(v)}</span>' for v in marks)
    return f'<div class="rt-plot" style="height:{height}px">{lines}{"".join(columns)}</div>'


def _run_names(names: list[str], zone: str) -> str:
    """Some runs' names under the bars, evenly spread, the first and the last among them."""
    n = len(names)
    shown = sorted({round(i * (n - 1) / (min(n, RUN_LABELS) - 1)) for i in range(min(n, RUN_LABELS))}) if n > 1 else [0]
    spans = "".join(
        f'<span style="{TICK};top:3px;left:{(i + 0.5) / n * 100:.3f}%;transform:translateX('
        f'-{0 if i == 0 and n > 1 else 100 if i == n - 1 and n > 1 else 50}%)">{escape(names[i])}</span>'
        for i in shown)
    return (f'<div style="position:relative;margin-left:44px;height:1.3rem">{spans}</div>'
            f'<div style="{TICK.replace("position:absolute", "")};text-align:center;margin-left:44px">'
            f'run · start ({escape(zone)})</div>')


def _tooltip(run: dict, name: str, duration: float | None, zone: str) -> list[str]:
    """A run's tooltip as escaped lines (the dot's is the first; the bar's all, joined by a newline's reference)."""
    took = "still running" if duration is None else f"{duration:,.2f} s"
    lines = [f"Run {name} ({zone}): {run['sync']} · {run['status']} · {took}"]
    lines += [f"{label}: {int(run[column]):,}" for column, label, _ in OUTCOME_BARS if run[column]]
    return [escape(line) for line in lines]


def _known(value) -> bool:
    return value is not None and value == value  # not None, not NaN


def _number(value: float | None) -> str:
    return "null" if value is None else json.dumps(round(float(value), 3))
