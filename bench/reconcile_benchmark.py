"""The reconciliation benchmark: Iterable-Production's users reconciled against the sandbox, side by side with the
sync run that sent them.

    python bench/reconcile_benchmark.py                     # 1,000,000 contacts, all of them Iterable users
    python bench/reconcile_benchmark.py --contacts 20000    # a quick look

The sandbox runs in its own process, rate limits off on both sides (the export's 4 a minute do not bound one
export). Measured, each in a process of its own: the full sync run; a reconciliation of the result (clean); and a
reconciliation after 0.1% of the users were edited directly in the sandbox (it must find exactly those). Printed:
wall time, API calls, peak RSS, and their ratios to the sync run's.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sync_benchmark import NO_LIMIT, PEAK_OF, SYNC, Sandbox, free_port  # noqa: E402  (the same sandbox and limits)

from sync_core import StateStore, load_workspace  # noqa: E402
from sync_core.demo.workspace import init_demo  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--edited", type=float, default=0.001, help="share of the synced users edited in the sandbox")
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp) / "bench-workspace"
        port = make_demo(root, args.contacts, NO_LIMIT)
        with Sandbox(root, port, rate_limits=False) as sandbox:
            run = measure(root, sandbox, "sync run (full)", ["run", SYNC, "--json"])
            clean = measure(root, sandbox, "reconciliation, nothing changed", ["reconcile", SYNC, "--json"])
            edited = edit_users(sandbox, args.edited)
            with StateStore(load_workspace(root).state_path, read_only=True) as store:
                held = {key.strip().lower() for key in store.snapshot_keys(SYNC)} & edited
            found = measure(root, sandbox, f"reconciliation, {len(edited):,} users edited",
                            ["reconcile", SYNC, "--json"])
        report(run, clean, found, edited, held)
    return 0


def make_demo(root: Path, contacts: int, limits: str) -> int:
    """A demo workspace whose people are all Iterable users, with the client's `limits` line; its sandbox port."""
    port = free_port()
    started = time.perf_counter()
    init_demo(root, contacts=contacts, sandbox_port=port, product_share=1.0)
    print(f"demo workspace: {contacts:,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
    toml = root / "workspace.toml"
    toml.write_text(toml.read_text().replace('api_key = "secrets:sandbox.iterable_api_key"\n',
                                             f'api_key = "secrets:sandbox.iterable_api_key"\n{limits}\n', 1))
    return port


def print_steps(steps: list[dict]) -> None:
    print()
    print("| step | wall s | API calls | exports | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for m in steps:
        print(f"| {m['label']} | {m['wall']:.1f} | {m['calls']:,} | {m['exports']} | {m['rss_mb']:,.0f} MB |")
    print()


def measure(root: Path, sandbox: Sandbox, label: str, command: list[str]) -> dict:
    mark = sandbox.state.last_request_id()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile("r") as peak:
        process = subprocess.Popen([sys.executable, "-c", PEAK_OF, peak.name, sys.executable, "-m", "sync_core.cli",
                                    "-w", str(root), *command], stdout=subprocess.PIPE, stderr=errors)
        output = process.stdout.read()
        status = process.wait()
        wall = time.perf_counter() - started
        rss_mb = int(peak.read() or 0) / 1024
        try:
            result = json.loads(output)
        except ValueError:
            errors.seek(0)
            raise SystemExit(f"{label}: failed (exit {status}):\n"
                             f"{output.decode()[:2000]}\n{errors.read().decode()[-3000:]}") from None
    calls = [r for r in sandbox.state.requests(since_id=mark) if r["status"] is not None]
    out = {"label": label, "wall": wall, "rss_mb": rss_mb, "calls": len(calls),
           "exports": sum(r["endpoint"] == "export/data.json" for r in calls), "result": result}
    print(f"{label}: {wall:.1f} s, {len(calls)} API calls, peak RSS {rss_mb:,.0f} MB, phases "
          f"{result.get('phases')}", flush=True)
    return out


def edit_users(sandbox: Sandbox, share: float) -> set[str]:
    """Change the jobTitle of `share` of the users directly in the sandbox's file, as someone editing them in
    Iterable would; returns their emails."""
    with sqlite3.connect(sandbox.state.path) as db:
        rows = db.execute("SELECT id, email, data_fields FROM users WHERE email IS NOT NULL AND id % ? = 0",
                          (max(1, round(1 / share)),)).fetchall()
        db.executemany("UPDATE users SET data_fields = ? WHERE id = ?",
                       [(json.dumps({**json.loads(fields), "jobTitle": "Edited by hand"}), rid)
                        for rid, _, fields in rows])
    return {email.lower() for _, email, _ in rows}


def report(run: dict, clean: dict, found: dict, edited: set[str], held: set[str]) -> None:
    funnel = clean["result"]["funnel"]
    differing = {d["key"].strip().lower() for d in found["result"]["differences"]}
    print_steps([run, clean, found])
    print(f"- synced users compared: {funnel['present']:,} present of {funnel['in_snapshot']:,} in the snapshot; "
          f"clean: {clean['result']['clean']}")
    print(f"- after the edits: {found['result']['differing_rows']:,} differing rows found, "
          f"{len(differing & held):,} of the {len(held):,} edited users the sync holds ({len(edited) - len(held)} "
          "other edited users are no synced row: their model rows are invalid)")
    print(f"- reconciliation phases (s): {clean['result']['phases']}")
    print(f"- reconciliation / full sync run, wall time: **{clean['wall'] / run['wall']:.1%}**")
    print(f"- reconciliation / full sync run, API calls: **{clean['calls']} / {run['calls']:,}**")
    print(f"- reconciliation / full sync run, peak RSS: **{clean['rss_mb'] / run['rss_mb']:.0%}** "
          f"({clean['rss_mb']:,.0f} MB / {run['rss_mb']:,.0f} MB)")
    print(f"- reconciliation throughput: {funnel['present'] / clean['wall']:,.0f} users/s")


if __name__ == "__main__":
    sys.exit(main())
