"""Bar charts drawn as plain HTML (`st.html`), for charts that are a few bars: a run's phases, MQR against its limit,
MQR by sync, a reconciliation's funnel and field matches.

Not Vega-Lite: its embed is a 775 kB script that a new browser tab loads, compiles and runs before it draws, about
0.2 s of the browser's main thread and 0.4 s until drawn for one chart on this machine (bench/element_cost.py;
docs/benchmarks.md, "In a real browser"), whether the chart has five bars or five hundred. A few bars are a few styled boxes. Every bar
carries its figures as data attributes (`data-label`, `data-value`, a segment's `data-part`) and a tooltip, so
what is drawn can be read back from the HTML alone (tests/html_charts.py). Colours are mid tones or translucent,
read on the light and the dark theme alike; text takes the theme's colour."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape

ROOM = 1.45  # the scale past the longest bar: room for its text


@dataclass(frozen=True)
class Part:
    """One segment of a bar: its name (a legend entry), value and colour."""
    name: str
    value: float
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    parts: list[Part]
    text: str = ""  # written right of the bar
    value: float | None = None  # the figure the bar stands for, when it is not the parts' sum (a share)

    @property
    def total(self) -> float:
        return sum(p.value for p in self.parts)


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars in the given order, each with its text at its end; the scale runs from 0 to `domain_max`
    (default: the longest bar and room right of it for its text)."""
    name: str  # data-chart: which chart this is
    bars: list[Bar]
    title: str = ""
    domain_max: float | None = None
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, colour)
    label_width: int = 220  # px

    def html(self) -> str:
        longest = max((b.total for b in self.bars), default=0.0)
        top = self.domain_max or (longest * ROOM) or 1.0
        rows = "".join(self._row(bar, top) for bar in self.bars)
        return (f'<figure data-chart="{self.name}" role="img" aria-label="{escape(self._summary())}" '
                f'style="margin:0 0 0.5rem 0">{self._caption()}{legend(self.legend)}'
                f'<div style="display:grid;grid-template-columns:minmax(0,{self.label_width}px) 1fr;'
                f'gap:6px 10px;align-items:center">{rows}</div></figure>')

    def _row(self, bar: Bar, top: float) -> str:
        # The bar is its share of the scale, its text just right of it; its segments, their shares of the bar.
        value = bar.total if bar.value is None else bar.value
        width = share(bar.total, top)
        segments = "".join(
            f'<span data-part="{escape(p.name)}" data-value="{_number(p.value)}" title="{escape(p.name)}: '
            f'{_figure(p.value)}" style="display:inline-block;height:100%;width:{share(p.value, bar.total or 1)};'
            f'background:{p.colour}"></span>' for p in bar.parts)
        text = (f'<span style="position:absolute;left:calc({width} + 6px);white-space:nowrap">{escape(bar.text)}'
                '</span>' if bar.text else "")
        return (f'<div data-label="{escape(bar.label)}" data-value="{_number(value)}" style="overflow:hidden;'
                f'text-overflow:ellipsis;white-space:nowrap;font-size:0.875rem" title="{escape(bar.label)}">'
                f'{escape(bar.label)}</div><div style="position:relative;height:22px;line-height:22px;'
                f'font-size:0.875rem"><span style="position:absolute;left:0;top:3px;height:16px;width:{width};'
                f'display:flex">{segments}</span>{text}</div>')

    def _caption(self) -> str:
        return (f'<figcaption style="font-weight:600;font-size:0.875rem;margin-bottom:6px">{escape(self.title)}'
                '</figcaption>' if self.title else "")

    def _summary(self) -> str:
        return (self.title + ": " if self.title else "") + "; ".join(
            f"{b.label} {b.text or _figure(b.total)}" for b in self.bars)


def legend(entries: list[tuple[str, str]]) -> str:
    """A chart's legend: a swatch of each (name, colour) and its name, in a row."""
    if not entries:
        return ""
    return '<div style="display:flex;flex-wrap:wrap;gap:4px 14px;font-size:0.8rem;margin-bottom:6px">' + "".join(
        f'<span><span style="display:inline-block;width:10px;height:10px;margin-right:4px;background:{c}">'
        f'</span>{escape(name)}</span>' for name, c in entries) + "</div>"


def share(value: float, top: float) -> str:
    """`value`'s share of `top` as a CSS percentage, clamped to 0-100%."""
    return f"{max(0.0, min(1.0, value / top)) * 100:.3f}%"


def _number(value: float) -> str:
    """A figure as JSON (an int stays an int), for a data attribute read back exactly."""
    return json.dumps(value)


def _figure(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def short(n: float) -> str:
    """An axis label: 1500000 -> 1.5M, 2000 -> 2k."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def bullet(*, used: int, limit: int, budget: int, near: float, colour: str, bands: tuple[str, str],
           mark: str, name: str) -> str:
    """A value against a limit (MQR's gauge): the scale ends at the limit (or the value, if over); a band to
    `near` and one from there to the limit, the value as a bar, the budget as a mark; the figures above it and
    five ticks below."""
    top = max(limit, used) or 1
    shift = {0: 0, 4: 100}  # the end labels stay inside the scale; the others are centred on their tick
    ticks = "".join(f'<span style="position:absolute;left:{share(top * i / 4, top)};transform:translateX('
                    f'-{shift.get(i, 50)}%);font-size:0.75rem;opacity:0.75">{short(top * i / 4)}</span>'
                    for i in range(5))
    return (f'<figure data-chart="{name}" data-used="{used}" data-limit="{limit}" data-budget="{budget}" role="img" '
            f'aria-label="{used:,} of {limit:,}; budget {budget:,}" style="margin:0 0 0.5rem 0">'
            f'<div style="font-size:1.25rem;margin-bottom:4px">{used:,} of {limit:,}</div>'
            f'<div style="position:relative;height:44px">'
            f'<span style="position:absolute;left:0;top:4px;height:36px;width:{share(near, top)};'
            f'background:{bands[0]}"></span>'
            f'<span style="position:absolute;left:{share(near, top)};top:4px;height:36px;'
            f'width:{share(max(0, limit - near), top)};background:{bands[1]}"></span>'
            f'<span title="used: {used:,}" style="position:absolute;left:0;top:15px;height:14px;'
            f'width:{share(used, top)};background:{colour}"></span>'
            f'<span title="budget: {budget:,}" style="position:absolute;left:{share(budget, top)};top:0;'
            f'height:44px;width:3px;margin-left:-1px;background:{mark}"></span></div>'
            f'<div style="position:relative;height:1.1rem">{ticks}</div></figure>')
