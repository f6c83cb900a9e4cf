"""The server's work for a page left open in a tab: the Streamlit process's CPU seconds per minute while a tab
sits on each page, nothing clicked (a live panel still redraws itself: the Syncs page's run panel, the
Reconciliation page's progress).

    python bench/idle_tab.py                          # the demo, as `sync-core up` builds it (its worker runs)
    python bench/idle_tab.py --base /tmp/base         # also a baseline checkout's dashboard, at the same time

Every page is opened in a tab of its own (one headless Chromium), in this checkout's dashboard and, with --base,
in the baseline's, served by a second Streamlit on the same workspace (bench/page_draw.py's setup); once every
tab is drawn, each server's CPU time is read over --seconds, per page in turn, the pages of both dashboards open
at once so that both see the same machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench_common import free_port, print_table
from page_draw import CHROMIUM, FLAGS, OBSERVE, Served, cpu_seconds, settled, tab

PAGES = {"Syncs": "/syncs", "Reconciliation": "/reconciliation", "Overview": "/overview"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long each page is left open")
    parser.add_argument("--base", type=Path, help="a checkout of another commit, measured at the same time")
    args = parser.parse_args(argv)

    served = Served(Path(tempfile.mkdtemp(prefix="idle-tab-")) / "demo-workspace", demo=True)
    try:
        served.wait(timeout=900)
        urls = {"this": served.url}
        if args.base:
            urls["base"] = served.dashboard(args.base.resolve(), free_port())
            served.wait(timeout=300, url=urls["base"])
        pids = {name: served.streamlit_pid(url) for name, url in urls.items()}
        per_minute: dict[str, dict[str, float]] = {label: {} for label in PAGES}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for label, path in PAGES.items():
                tabs = []
                for name, url in urls.items():
                    page = tab(browser)
                    page.add_init_script(OBSERVE)
                    page.goto(url + path)
                    settled(page, f"{label} ({name})")
                    tabs.append(page)
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                time.sleep(args.seconds)
                for name, pid in pids.items():
                    per_minute[label][name] = (cpu_seconds(pid) - before[name]) * 60 / args.seconds
                for page in tabs:
                    page.close()
                print(f"  {label}: " + "; ".join(f"{name} {cpu:.2f} s a minute"
                                                 for name, cpu in per_minute[label].items())
                      + f" (load average {os.getloadavg()[0]:.1f})", flush=True)
            browser.close()
    finally:
        served.stop()
    print(f"\nThe server's CPU seconds per minute with one tab open on the page, left alone ({args.seconds:g} s "
          "each):\n")
    names = list(urls)
    print_table(["page", *(f"{name} (s/min)" for name in names), *(["ratio"] if args.base else [])],
                [[label, *(f"{cpu[name]:.2f}" for name in names),
                  *([f"{cpu['this'] / cpu['base']:.2f}"] if args.base else [])] for label, cpu in per_minute.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
