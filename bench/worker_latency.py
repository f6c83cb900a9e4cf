"""One-click runs: how long from the click to the run's start, and how fast pages draw while a run writes.

    python bench/worker_latency.py                      # 20 requests; pages 5 times idle and 5 times under a run
    python bench/worker_latency.py --requests 50 --contacts 50000

1. Pick-up latency. A demo workspace (its sandbox in this process, rate limits off) and a real `sync-core worker`
   process. Each request is asked the way the dashboard's Confirm button asks it (`control.ask_for_run`, a dry
   run, so every run does the same work), and timed from just before the ask until a reader polling the state
   store every 5 ms sees the run recorded as started. The next request waits for the previous run to end.
2. Page script time under a writing run. The Syncs and Run history pages run in AppTest (Streamlit's cache
   cleared first, so every query runs) while the store is idle, then while full resyncs of the demo write their
   batches back to back (each batch is a write transaction), side by side in one run of this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_common import ROOT, stop, wait_until

sys.path.insert(0, str(ROOT))
import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from sync_core import StateStore, load_workspace, run_sync  # noqa: E402
from sync_core.control import ask_for_run  # noqa: E402
from sync_core.demo.workspace import init_demo  # noqa: E402
from sync_core.sandbox import IterableSandbox  # noqa: E402

SYNC = "iterable-production"
PAGES = ("pages/syncs.py", "pages/runs.py")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def pick_up_latency(root: Path, requests: int) -> list[float]:
    workspace = load_workspace(root)
    worker = subprocess.Popen([sys.executable, "-m", "sync_core.cli", "-w", str(root), "worker"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _store(workspace, lambda s: any(w.alive for w in s.workers())), "the worker to start")
        seen = []
        for _ in range(requests):
            before = _store(workspace, lambda s: max((r.id for r in s.list_runs(limit=1)), default=0))
            asked = time.perf_counter()
            ask_for_run(workspace, SYNC, "dry_run", trigger="dashboard", requested_by="bench")
            _wait(lambda: _store(workspace, lambda s: max((r.id for r in s.list_runs(limit=1)), default=0)) > before,
                  "the run to start", every=0.005)
            seen.append(time.perf_counter() - asked)
            _wait(lambda: _store(workspace, lambda s: not s.running_runs() and not s.open_requests()),
                  "the run to end")
        return seen
    finally:
        stop(worker, timeout=60)


def _store(workspace, read):
    with StateStore(workspace.state_path, read_only=True) as store:
        return read(store)


def _wait(predicate, what: str, every: float = 0.05) -> None:
    wait_until(predicate, what, timeout=300, every=every)


def page_times(root: Path, runs: int) -> dict[str, list[float]]:
    os.environ["SYNC_CORE_WORKSPACE"] = str(root)
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(runs):
        for page in PAGES:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.run()
            st.cache_data.clear()
            started = time.perf_counter()
            at.switch_page(page).run()
            times[page].append(time.perf_counter() - started)
            assert not at.exception, [e.value for e in at.exception]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--page-runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        state_file = root / "sandbox" / "iterable.sqlite"
        state_file.parent.mkdir(parents=True)
        with IterableSandbox(state_file, port=0, rate_limits=False) as server:
            init_demo(root, contacts=args.contacts, sandbox_port=server.port)
            toml = root / "workspace.toml"
            toml.write_text(toml.read_text().replace('schedule = "every 24h"', 'schedule = "manual"'))
            workspace = load_workspace(root)
            run_sync(workspace, SYNC, trigger="bench")  # a history, and the snapshot a full resync rewrites

            latency = pick_up_latency(root, args.requests)
            print(f"pick-up latency over {len(latency)} requests (ask -> run recorded as started): "
                  f"median {statistics.median(latency) * 1000:.0f} ms, p95 {percentile(latency, 0.95) * 1000:.0f} ms, "
                  f"max {max(latency) * 1000:.0f} ms")

            idle = page_times(root, args.page_runs)
            stop, resyncs = threading.Event(), []

            def write_until_stopped() -> None:  # full resyncs back to back: a run writes all along
                while not stop.is_set():
                    resyncs.append(run_sync(workspace, SYNC, full_resync=True, trigger="bench").status)
            writing = threading.Thread(target=write_until_stopped)
            writing.start()
            _wait(lambda: _store(workspace, lambda s: bool(s.running_runs())), "the writing run to start")
            busy = page_times(root, args.page_runs)
            stop.set()
            writing.join()
            print(f"page script time, cache cleared, median of {args.page_runs} (idle store | while full resyncs of "
                  f"{args.contacts:,} contacts write, {len(resyncs)} of them back to back):")
            for page in PAGES:
                a, b = statistics.median(idle[page]), statistics.median(busy[page])
                print(f"  {page:<18} {a:6.3f} s | {b:6.3f} s   ratio {b / a:4.2f}")


if __name__ == "__main__":
    main()
