"""Peak RSS of the bulk-state steps of a 1M-row sync, alone, each in a process of its own: a checkout beside a
baseline checkout, interleaved, so that the two are compared in one run.

    python bench/state_rss.py --rows 1000000 --repeat 2 --baseline /tmp/base    # a worktree of main

Steps (the kernel's peak, VmHWM, after each; the process starts at about 100 MB of imports):
  - read: a sync's key state of --rows snapshot keys read from SQLite (its cached copy missing), as a run does
    when another process wrote the state since its copy;
  - apply: the run's end, the key state plus --rows keys the run confirmed (added a thousand at a time, as a
    run commits them), written as the next run's cached copy (`StateStore.save_key_state`);
  - export: an update-only look-up's export of --rows users (email and userId, JSON lines, served from a file
    as the HTTP body would arrive), parsed and normalized into the identifiers per scope (`existing`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, folder: Path) -> None:
    """One step, in this process; prints the peak RSS after it (MB)."""
    from sync_core.state import StateStore
    from sync_core.state.key_state import KeyStateChanges

    if step == "export":
        from sync_core.destinations.iterable.client import IterableClient
        from sync_core.destinations.iterable.records import IDENTIFIER_RULES, IterableRecords

        class Body:  # the client's HTTP stream, from the file
            get_columns = IterableClient.get_columns

            def stream_to(self, path, params, sink) -> None:
                with open(folder / "export.jsonl", "rb") as source:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)

        class Records:
            client = Body()
            lookup_scopes = {label: label for label in IDENTIFIER_RULES}

        found = IterableRecords.existing(Records(), None)
        print(json.dumps({"export": peak_mb(), "identifiers": len(found["email"])}))
        return
    with StateStore(folder / "state.sqlite") as store:
        store._cache.drop("snapshot:s")
        state = store.key_state("s")
        read = peak_mb()
        changes = KeyStateChanges()
        rows = state.snapshot.num_rows
        for start in range(0, rows, 1000):
            changes.synced((f"new{i}@example.com", "0" * 16) for i in range(start, start + 1000))
        with store._write() as db:  # the run's commits bump the version, as a run's do
            store._bump(db, "sync:s")
        assert store.save_key_state(state, changes)
        print(json.dumps({"read": read, "apply": peak_mb()}))


def setup(folder: Path, rows: int) -> None:
    from sync_core.state import StateStore

    with StateStore(folder / "state.sqlite") as store, store._write() as db:
        db.executemany("INSERT INTO snapshot (sync_id, key, row_hash, run_id) VALUES ('s', ?, ?, 1)",
                       ((f"user{i}@example.com", f"{i:016x}") for i in range(rows)))
    with open(folder / "export.jsonl", "w") as export:
        for i in range(rows):
            export.write(json.dumps({"email": f"User{i}@Example.com", "userId": f"u{i:08d}"}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", required=True, help="another checkout, e.g. a worktree of main")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, folder = args.child[0], Path(args.child[1])
        setup(folder, args.rows) if step == "setup" else child(step, folder)
        return
    here = str(Path(__file__).resolve().parents[1])
    checkouts = {"baseline": str(Path(args.baseline).resolve()), "this": here}
    peaks: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="state-rss-") as tmp:
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--baseline", here, "--child", "setup",
                        tmp], check=True, env={**os.environ, "PYTHONPATH": here})
        for _ in range(args.repeat):
            for name, checkout in checkouts.items():  # interleaved
                for step in ("keys", "export"):
                    out = subprocess.run([sys.executable, __file__, "--baseline", checkout, "--child", step, tmp],
                                         check=True, capture_output=True, text=True,
                                         env={**os.environ, "PYTHONPATH": checkout}).stdout
                    for key, value in json.loads(out.splitlines()[-1]).items():
                        if key != "identifiers":
                            peaks.setdefault((name, key), []).append(value)
    print(f"{args.rows:,} rows, load average {os.getloadavg()[0]:.1f}; peak RSS after each step, MB (median)")
    for step in ("read", "apply", "export"):
        base, this = (statistics.median(peaks[(name, step)]) for name in checkouts)
        print(f"  {step:7} baseline {base:6.0f}  this {this:6.0f}  ratio {this / base:.2f}")


if __name__ == "__main__":
    main()
