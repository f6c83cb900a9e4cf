"""What each kind of Streamlit element costs a new browser tab: a minimal app draws a title and one kind of element
(chosen by the URL, `?kind=grid`), and headless Chromium opens it in new tabs, the kinds interleaved.

    python bench/element_cost.py                       # every kind, 5 loads each, the browser's cache kept
    python bench/element_cost.py --loads 7 --kinds floor,vega,html_bars

Per kind, medians over the loads: the time until drawn (bench/page_draw.py's rule: the last change to the DOM once
the script stopped and nothing changed for 1.5 s), the browser's main-thread busy time (Chromium's TaskDuration,
from the DevTools protocol: every task, not only the long ones), the script's bytes fetched, and each one less the
floor (a title alone) of the same run. Main-thread time is the steady figure on a loaded machine: the wall time
waits for the other processes on the cores too.

A new tab of a browser that keeps its cache, as a user's does (Streamlit serves its bundles as immutable), is the
default; --empty-cache opens each load in a new browser context instead (a first visit). Every kind is loaded once
before the measured loads, so its scripts are in the cache.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench_common import ROOT, free_port, print_table, stop, wait_for_http
from page_draw import CHROMIUM, FLAGS, VIEWPORT, load

# The app: one element per kind, with data of the size our pages draw (a month of a sync's runs, a few causes).
APP = '''
from datetime import date

import pandas as pd
import streamlit as st

kind = st.query_params.get("kind", "floor")
st.title("Element cost")
runs = pd.DataFrame({"run": range(1, 31), "sync": ["iterable-production"] * 30, "status": ["healthy", "warning"] * 15,
                     "duration (s)": [1.5 + i / 10 for i in range(30)], "synced": [1000 + i for i in range(30)],
                     "expected": [40 - i for i in range(30)], "real": [i % 4 for i in range(30)],
                     "trigger": ["schedule"] * 30})
bars = [{"label": f"stage {i}", "value": 100 - 7 * i} for i in range(6)]
spec = {"height": 200, "data": {"values": bars}, "mark": "bar",
        "encoding": {"y": {"field": "label", "type": "nominal", "sort": None},
                     "x": {"field": "value", "type": "quantitative"}}}
if kind == "markdown":
    for i in range(6):
        st.markdown(f"**Line {i}**: :green[healthy] · 1,234 rows synced, `code` and *emphasis*.")
elif kind == "html_bars":
    st.html("".join(f'<div style="display:flex;gap:8px;align-items:center"><span style="width:90px">{b["label"]}'
                    f'</span><span style="background:#4C7BD9;height:14px;width:{b["value"] * 4}px"></span>'
                    f'<span>{b["value"]}</span></div>' for b in bars))
elif kind == "html_table":
    st.html(runs.head(10).to_html(index=False))
elif kind == "grid":
    st.dataframe(runs, hide_index=True)
elif kind == "grid_select":
    st.dataframe(runs, hide_index=True, on_select="rerun", selection_mode="single-row", key="grid")
elif kind == "table":
    st.table(runs.head(10), hide_index=True)
elif kind == "vega":
    st.vega_lite_chart(spec=spec, width="stretch")
elif kind == "vega_in_expander":
    with st.expander("A chart"):
        st.vega_lite_chart(spec=spec, width="stretch")
elif kind == "metric":
    for column, value in zip(st.columns(3), (1, 2, 3)):
        column.metric(f"tile {value}", f"{value * 1000:,}")
elif kind == "progress":
    st.progress(0.4, text="40% of 2,000")
elif kind == "selectbox":
    st.selectbox("Sync", ["a", "b", "c"])
elif kind == "multiselect":
    st.multiselect("Syncs", ["a", "b", "c"], placeholder="All syncs")
elif kind == "date_input":
    st.date_input("Dates", value=(date(2026, 11, 1), date(2026, 11, 30)))
elif kind == "text_input":
    st.text_input("Find a record", placeholder="an email")
elif kind == "expander":
    with st.expander("Details"):
        st.markdown("Inside.")
elif kind == "tabs":
    for tab, text in zip(st.tabs(["One", "Two"]), ("one", "two")):
        tab.markdown(text)
elif kind == "containers":
    for i in range(4):
        with st.container(border=True):
            a, b = st.columns(2)
            a.markdown(f"**Sync {i}**")
            b.markdown("healthy")
elif kind == "alerts":
    st.error("Something failed.", icon=":material/error:")
    st.info("Something to know.", icon=":material/info:")
elif kind == "button":
    st.button("Run now", icon=":material/play_arrow:")
elif kind == "download":
    st.download_button("Download as CSV", data="a,b\\n1,2\\n", file_name="x.csv")
elif kind == "page_link":
    st.page_link("https://example.invalid/", label="Open", icon=":material/arrow_forward:")
'''
KINDS = ["floor", "markdown", "html_bars", "html_table", "grid", "grid_select", "table", "vega", "vega_in_expander",
         "metric", "progress", "selectbox", "multiselect", "date_input", "text_input", "expander", "tabs", "containers",
         "alerts", "button", "download", "page_link"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated; floor is always measured")
    parser.add_argument("--empty-cache", action="store_true", help="each load in a new browser context")
    parser.add_argument("--seed", type=int, default=1, help="of the order the kinds are taken in each round")
    args = parser.parse_args(argv)
    kinds = ["floor"] + [k for k in args.kinds.split(",") if k and k != "floor"]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown kinds {sorted(unknown)}: choose among {', '.join(KINDS)}")

    script = Path(tempfile.mkdtemp(prefix="element-cost-")) / "elements.py"
    script.write_text(APP)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # from the project's folder: its .streamlit/config.toml applies
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    try:
        wait_for_http(f"{url}/_stcore/health", "Streamlit", timeout=120, processes=[server])
        start_load = os.getloadavg()[0]
        order = random.Random(args.seed)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            kept = browser.new_context(viewport=VIEWPORT)
            for kind in kinds:  # every kind's scripts into the kept cache
                load(kept, f"{url}/?kind={kind}")
            for _ in range(args.loads):
                shuffled = kinds[:]
                order.shuffle(shuffled)
                for kind in shuffled:
                    drawn, _, main_thread, scripts = load(browser if args.empty_cache else kept, f"{url}/?kind={kind}")
                    results[kind].append((drawn, main_thread, scripts))
            browser.close()
    finally:
        stop(server)
    print(f"Streamlit elements in a new tab ({'empty cache' if args.empty_cache else 'cache kept'}), medians of "
          f"{args.loads} loads, kinds interleaved; load average {start_load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end\n")
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in results.items()}
    floor = med["floor"]
    print_table(["element", "drawn (s)", "less the floor (s)", "main thread (s)", "less the floor (s)",
                 "scripts (kB)", "more than the floor (kB)"],
                [[k, f"{m[0]:.2f}", f"{m[0] - floor[0]:+.2f}", f"{m[1]:.2f}", f"{m[1] - floor[1]:+.2f}",
                  f"{m[2]:,.0f}", f"{m[2] - floor[2]:+,.0f}"] for k, m in sorted(med.items(), key=lambda i: i[1][1])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
