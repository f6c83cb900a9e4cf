"""The Marketo benchmark: custom activities under Marketo's real limit (100 calls per 20 s per instance, enforced by
the sandbox and kept by the client), counting the lead look-ups.

    python bench/marketo_benchmark.py                   # 100,000 rows (about 3 minutes at the limit)
    python bench/marketo_benchmark.py --rows 10000      # a quick look
    python bench/marketo_benchmark.py --reconcile       # then reconcile what it sent, side by side

The Marketo sandbox runs in-process on loopback with its limits on; every row's email has a lead, so each 300 rows
cost two calls (a look-up, made before the adds, and an add). At 100 calls per 20 s that allows 100 / 20 / 2 * 300 = 750
activities per second. Printed, from one run: activities per second and that as a share of the 750 (of what the
limit allows, counting the look-ups), the calls by endpoint, and calls and daily quota used per 1,000 rows. With
`--reconcile`, a reconciliation of the activities sent follows under the same limit (a paging token, then a page
per 300 activities): its wall time, calls and quota beside the run's, and that it found them all, clean.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb

from bench_common import ROOT, load_average

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # workspace_toml: the tests' workspace.toml builder, standard library only
from sync_core import load_workspace, run_sync  # noqa: E402
from sync_core.reconcile import reconcile  # noqa: E402
from sync_core.sandbox import MarketoSandbox  # noqa: E402
from workspace_toml import inline_source, marketo, model, sync, workspace  # noqa: E402

INSTANCE, CLIENT_ID, CLIENT_SECRET = "123-BEN-456", "bench-client", "bench-secret"
LIMIT_CALLS, LIMIT_SECONDS, PER_CALL = 100, 20.0, 300


def workspace_toml(url: str, reserve: float, concurrency: int) -> str:
    """People in DuckDB; one sync adding a benchActivity_c activity per person, matched by email."""
    return workspace(
        inline_source(),
        marketo(base_url=url, extra=f"rate_limit_reserve = {reserve}\nconcurrency = {concurrency}"),
        model("SELECT * FROM people"),
        sync("activities", destination="marketo", object="activity", mode="insert", activity_type="benchActivity_c",
             mappings=[("created_at", "activityDate"), ("namespace", "primaryAttributeValue"), ("plan", "plan")]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reserve", type=float, default=0.0, help="rate_limit_reserve (Marketo's default: 0.2)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--reconcile", action="store_true", help="then reconcile the activities sent")
    parser.add_argument("--workdir", help="keep the workspace here (default: a temporary folder, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.workdir or scratch) / "marketo-bench"
        root.mkdir(parents=True, exist_ok=False)
        return bench(root, args)


def bench(root: Path, args) -> int:
    os.environ["MARKETO_CLIENT_ID"], os.environ["MARKETO_CLIENT_SECRET"] = CLIENT_ID, CLIENT_SECRET  # this process
    emails = [f"person{i:07d}@example.com" for i in range(args.rows)]
    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.execute("CREATE TABLE people AS SELECT 'person' || lpad(CAST(i AS VARCHAR), 7, '0') || '@example.com'"
                    " AS email, '2026-11-30T10:00:00Z' AS created_at, 'ns-' || CAST(i AS VARCHAR) AS namespace,"
                    " CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END AS plan FROM range(?) t(i)", [args.rows])
    with MarketoSandbox(root / "sandbox.sqlite", port=0) as server:
        server.state.add_instance(INSTANCE, CLIENT_ID, CLIENT_SECRET)
        server.state.add_activity_type(INSTANCE, "benchActivity_c", primary_attribute="namespace", attributes=["plan"])
        server.state.add_leads(INSTANCE, emails)
        (root / "workspace.toml").write_text(workspace_toml(server.url, args.reserve, args.concurrency))
        started = time.monotonic()
        record = run_sync(load_workspace(root), "activities", trigger="bench")
        elapsed = time.monotonic() - started
        calls = Counter(r["endpoint"] for r in server.state.requests())
        quota = server.state.daily_calls(INSTANCE, time.time())
        stored = len(server.state.activities(INSTANCE))
        rest = sum(n for endpoint, n in calls.items() if endpoint != "identity/oauth/token")
        checked, lines = bench_reconcile(root, server, elapsed, rest, quota) if args.reconcile else (True, [])
    # the look-ups of the rows' emails come first, in phase "lookup", then the adds: the two phases send the rows
    sync_seconds = record.phases.get("lookup", 0.0) + record.phases.get("sync", elapsed)
    allowed = LIMIT_CALLS / LIMIT_SECONDS / 2 * PER_CALL  # activities/s the limit allows, a look-up per add
    rate = record.counts.outcome("synced") / sync_seconds
    print(f"rows {args.rows:,}, status {record.status}, synced {record.counts.outcome('synced'):,}, "
          f"activities stored {stored:,}")
    print(f"look-up and sync phases {sync_seconds:.1f} s (run {elapsed:.1f} s); reserve {args.reserve:g}, "
          f"concurrency {args.concurrency}")
    print(f"activities/s {rate:,.0f}; the limit allows {allowed:,.0f}/s counting look-ups: {rate / allowed:.1%} of it"
          f" ({rate / (allowed * (1 - args.reserve)):.1%} of the share left after the reserve)")
    print("calls: " + ", ".join(f"{endpoint} {n:,}" for endpoint, n in sorted(calls.items())))
    print(f"per 1,000 rows: {rest / args.rows * 1000:.2f} API calls, {quota / args.rows * 1000:.2f} daily quota "
          f"({quota:,} of 50,000 for the run)")
    print("\n".join(lines))
    print(load_average())
    return 0 if record.counts.outcome("synced") == args.rows and checked else 1


def bench_reconcile(root: Path, server, run_seconds: float, run_calls: int, run_quota: int) -> tuple[bool, list]:
    """Reconcile what the run sent, under the same limit: whether it is clean and found every activity, and the
    lines to print beside the run's figures (REST calls: the identity service is not counted)."""
    mark = server.state.requests()[-1]["id"]
    started = time.monotonic()
    report = reconcile(load_workspace(root), "activities", requested_by="bench")
    elapsed = time.monotonic() - started
    calls = Counter(r["endpoint"] for r in server.state.requests(since_id=mark))
    calls.pop("identity/oauth/token", None)
    quota = server.state.daily_calls(INSTANCE, time.time()) - run_quota
    lines = [f"reconciliation: {report.status}, clean {report.clean}, {report.funnel.present:,} activities present of "
             f"{report.funnel.in_snapshot:,} synced; {elapsed:.1f} s ({report.funnel.present / elapsed:,.0f} "
             f"activities/s), phases {report.phases}",
             "reconciliation calls: " + ", ".join(f"{endpoint} {n:,}" for endpoint, n in sorted(calls.items())),
             f"reconciliation / sync run: wall time {elapsed / run_seconds:.1%}, REST calls {sum(calls.values()):,} "
             f"/ {run_calls:,}, daily quota {quota:,} / {run_quota:,}"]
    return report.clean and report.funnel.present == report.funnel.in_snapshot, lines


if __name__ == "__main__":
    sys.exit(main())
