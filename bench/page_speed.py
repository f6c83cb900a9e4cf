"""Page speed: how long each dashboard page's script run takes on a year of history.

    python bench/page_speed.py                                   # 1M contacts, 365 days, 4 syncs, 7 runs a page
    python bench/page_speed.py --contacts 20000 --days 30 --runs 3   # a quick look

The state store is generated through the StateStore's own API, day by day, the way the runner writes it: a run
record per sync and day, the day's new rejections and confirmed rows with `commit_batch`, the backlog rejected
again as before with `count_repeats` and `sweep_rejections`, the MQR ledger with `record_queried`. Four syncs
(the seed's), a contact base that grows from --contacts by 0.03% a day, a not-found backlog the product slowly
works off, a few invalid keys and emails a day, an occasional transient failure, and the Snowflake password
expiring every 91 days (a failed run of every sync). Timestamps come from a ManualClock; phase timings are
synthetic. The store is kept in --workdir and reused while the parameters are the same.

Each page then runs in AppTest --runs times with Streamlit's data cache cleared first ("cold": every query
runs; SQLite's file is in the OS cache) and --runs times with the cache kept ("warm"). Printed: the median and
the slowest run of each, and the size of each table.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from bench_common import ROOT, generated_once

sys.path.insert(0, str(ROOT))
from sync_core import RunCounts, StateStore  # noqa: E402
from sync_core.clock import ManualClock  # noqa: E402
from sync_core.mqr import period_start  # noqa: E402
from sync_core.outcomes import RowProblem  # noqa: E402

NEW_PER_DAY = 0.0003         # new contacts a day, as a share of the starting base
CHANGED_PER_MILLE = 3        # synced people whose values change on a day
RESOLVE_OVER_DAYS = 1095     # the product creates each missing person within three years
PASSWORD_EXPIRY_DAYS = 91    # Snowflake: every run fails on the day the password expires
BAD_EMAIL_EVERY = 997        # one contact in 997 has an email the destination refuses
NOT_FOUND_EMAIL = "No record was found with lookup for email:<email>"
NOT_FOUND_USER = "No record was found with lookup for userId:<userId>"


@dataclass(frozen=True)
class SyncModel:
    id: str
    members_in_ten: int      # contact i belongs to the model when i % 10 < members_in_ten
    missing_per_mille: int   # people the destination does not hold at first
    code: str
    template: str
    by_user_id: bool


SYNCS = [
    SyncModel("iterable-production", 10, 450, "NotFound", NOT_FOUND_EMAIL, False),
    SyncModel("iterable-first-namespace", 8, 400, "NotFound", NOT_FOUND_USER, True),
    SyncModel("iterable-first-namespace-events", 8, 400, "NotFound", NOT_FOUND_USER, True),
    SyncModel("marketo-activities", 8, 350, "1004", "Lead not found", False),
]


def email(i: int) -> str:
    return f"person{i:07d}@example.com"


def user_id(i: int) -> str:
    return f"usr_{i:07d}"


def not_found(model: SyncModel, i: int) -> RowProblem:
    if model.template == "Lead not found":
        message = "Lead not found"
    elif model.by_user_id:
        message = f"No record was found with lookup for userId:{user_id(i)}"
    else:
        message = f"No record was found with lookup for email:{email(i)}"
    return RowProblem(email(i), "rejected", model.code, message, "expected", f"h{i}", known_template=model.template)


def bad_email(i: int) -> RowProblem:
    return RowProblem(email(i), "rejected", "InvalidEmailAddressError", f"Invalid email address: '{email(i)}'",
                      "data", f"h{i}", known_template="Invalid email address: '<value>'")


# ---- generation ------------------------------------------------------------------------------------------------


class Generator:
    def __init__(self, store: StateStore, clock: ManualClock, contacts: int, days: int):
        self.store, self.clock, self.contacts, self.days = store, clock, contacts, days
        self.new_per_day = max(1, int(contacts * NEW_PER_DAY))
        top = contacts + self.new_per_day * days
        ids = np.arange(top, dtype=np.int64)
        self.ids = ids
        self.created_day = (ids * 104_729 + 7) % RESOLVE_OVER_DAYS  # the day the product creates a missing person
        self.bad = ids % BAD_EMAIL_EVERY == 5
        self.duplicated = ids % 100_003 == 11  # keys that two rows of every model share: refused every run
        self.failed_yesterday: dict[str, list[int]] = {}  # a transient failure is retried the next day
        self.periods: set[str] = set()

    def present(self, day: int) -> np.ndarray:
        return self.ids < self.contacts + day * self.new_per_day

    def missing(self, model: SyncModel, day: int) -> np.ndarray:
        flagged = (self.ids * 2_654_435_761 + len(model.id)) % 1000 < model.missing_per_mille
        return flagged & (self.created_day > day)

    def run_day(self, day: int, start: datetime) -> None:
        for index, model in enumerate(SYNCS):
            self.clock.advance(start.timestamp() + index * 300 - self.clock.now())
            if day % PASSWORD_EXPIRY_DAYS == PASSWORD_EXPIRY_DAYS // 2:
                self.failed_run(model)
            else:
                self.run(model, index, day)

    def failed_run(self, model: SyncModel) -> None:
        run_id = self.store.start_run(model.id, trigger="schedule", config_fingerprint="bench")
        self.clock.advance(2)
        self.store.finish_run(run_id, status="failed", counts=RunCounts(), phases={"query": 1.8}, notes=[],
                              error="source 'warehouse' (Snowflake): 390106 (08001): Specified password has expired. "
                                    "Change the password of the sync's Snowflake user, then update the secret",
                              error_class="config")

    def run(self, model: SyncModel, index: int, day: int) -> None:
        in_model = (self.ids % 10 < model.members_in_ten) & self.present(day)
        duplicates = [int(i) for i in self.ids[in_model & self.duplicated]]
        members = in_model & ~self.duplicated
        new = members & ~self.present(day - 1) if day else members
        missing, missing_before = self.missing(model, day), self.missing(model, day - 1)
        resolved = members & ~new & missing_before & ~missing & ~self.bad
        backlog = members & ~new & (missing | self.bad)
        changed = members & ~new & ~missing & ~self.bad & ~resolved & \
            ((self.ids * 31 + day * 17) % 1000 < CHANGED_PER_MILLE)
        transient = (day * 7 + index) % 29 == 0

        run_id = self.store.start_run(model.id, trigger="schedule" if day else "cli", config_fingerprint="bench")
        counts = RunCounts()
        retry_failed = self.failed_yesterday.pop(model.id, [])
        changed &= ~np.isin(self.ids, retry_failed)
        nulls = 20 + day % 7
        counts.queried = int(members.sum()) + nulls + 2 * len(duplicates)  # a duplicated key is two rows
        counts.invalid = nulls + 2 * len(duplicates)
        planned = {"added": self.ids[new], "changed": self.ids[changed],
                   "retried": np.concatenate([self.ids[resolved | backlog], retry_failed]).astype(np.int64)}
        for operation, ids in planned.items():
            counts.plan(operation, len(ids))
        counts.unchanged = counts.queried - counts.invalid - sum(len(v) for v in planned.values())

        invalid = [RowProblem(None, "invalid", "NullPrimaryKey", "Primary key email is null or empty", "data")
                   for _ in range(nulls)]
        invalid += [RowProblem(email(i), "invalid", "DuplicatePrimaryKey",
                               f"Duplicate primary key: email '{email(i)}' appears in 2 rows of the model", "data",
                               known_template="Duplicate primary key: email '<value>' appears in <n> rows of the "
                                              "model") for i in duplicates]
        self.record_mqr(model, day, members, new, run_id)
        self.store.commit_batch(run_id, model.id, fingerprint="bench", problems=invalid)

        # the day's new rows: confirmed, not found, or refused
        added = self.ids[new]
        synced = [(email(int(i)), f"h{i}") for i in added if not (missing[i] or self.bad[i])]
        problems = [bad_email(int(i)) if self.bad[i] else not_found(model, int(i)) for i in added
                    if missing[i] or self.bad[i]]
        self.store.commit_batch(run_id, model.id, fingerprint="bench", synced=synced, problems=problems)
        counts.settle("added", "synced", len(synced))
        counts.settle("added", "rejected_expected", sum(1 for p in problems if p.error_class == "expected"))
        counts.settle("added", "rejected_other", sum(1 for p in problems if p.error_class == "data"))

        # changed rows (a transient outage fails some of them) and people the product created since
        changed_ids = [int(i) for i in self.ids[changed]]
        failing = changed_ids[:500] if transient else []
        self.store.commit_batch(run_id, model.id, fingerprint="bench",
                                synced=[(email(i), f"h{i}-{day}") for i in changed_ids[len(failing):]],
                                problems=[RowProblem(email(i), "failed", "HTTP 503", "Service unavailable (HTTP 503)",
                                                     "transient", f"h{i}-{day}") for i in failing])
        counts.settle("changed", "synced", len(changed_ids) - len(failing))
        counts.settle("changed", "failed", len(failing))
        self.failed_yesterday[model.id] = failing
        retried_ids = [int(i) for i in self.ids[resolved]] + retry_failed
        self.store.commit_batch(run_id, model.id, fingerprint="bench",
                                synced=[(email(i), f"h{i}") for i in retried_ids])
        counts.settle("retried", "synced", len(retried_ids))

        # the backlog, refused again exactly as before: counted per cause, swept once at the end
        if day:
            for problem_of, mask in ((lambda i: not_found(model, i), backlog & missing & ~self.bad),
                                     (bad_email, backlog & self.bad)):
                ids = self.ids[mask]
                if len(ids):
                    example = problem_of(int(ids[0]))
                    cause = self.store.cause_id(example.code, example.error_class, example.template)
                    self.store.count_repeats(run_id, cause, "rejected", len(ids), [email(int(i)) for i in ids[:5]])
                    counts.settle("retried", "rejected_expected" if example.error_class == "expected"
                                  else "rejected_other", len(ids))
            self.store.sweep_rejections(model.id, run_id)

        phases = {"query": round(counts.queried / 250_000 + 0.4, 3), "record": round(counts.queried / 2e6, 3),
                  "lookup": round(2 + counts.queried / 400_000, 3), "sync": round(counts.planned / 4_000, 3),
                  "finish": 0.2}
        self.clock.advance(sum(phases.values()))
        status = "warning" if counts.real_rows else "healthy"
        self.store.finish_run(run_id, status=status, counts=counts, phases=phases, notes=[])

    def record_mqr(self, model: SyncModel, day: int, members, new, run_id: int) -> None:
        """Every sync keys people (entity `person`): a period's first run records all of them, later ones the new."""
        period = period_start(datetime.fromtimestamp(self.clock.now(), timezone.utc).date(), 1).isoformat()
        first_of_period = period not in self.periods
        self.periods.add(period)
        ids = self.ids[members] if first_of_period or not day else self.ids[new]
        self.store.record_queried(period, "person", (int(i) for i in ids), run_id)


def generate(workdir: Path, contacts: int, days: int) -> Path:
    """A demo workspace (for its workspace.toml) whose state store holds the generated year; reused if present."""
    return generated_once(workdir / f"ws-{contacts}-{days}", {"contacts": contacts, "days": days},
                          lambda root: write_year(root, contacts, days))


def write_year(root: Path, contacts: int, days: int) -> None:
    today = datetime.now(timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    clock = ManualClock(first.timestamp())
    started = time.monotonic()
    with StateStore(root / ".sync-state" / "state.sqlite", clock=clock) as store:
        generator = Generator(store, clock, contacts, days)
        for day in range(days):
            generator.run_day(day, first + timedelta(days=day))
            if day % 30 == 0 or day == days - 1:
                print(f"  generated day {day + 1} of {days} ({time.monotonic() - started:.0f} s)", flush=True)


# ---- measurement ------------------------------------------------------------------------------------------------


def cases(root: Path) -> list[tuple[str, str, dict]]:
    with sqlite3.connect(root / ".sync-state" / "state.sqlite") as db:
        last = db.execute("SELECT MAX(id) FROM runs WHERE sync_id = 'iterable-production'").fetchone()[0]
        cause = db.execute("SELECT cause_id FROM run_causes WHERE run_id = ? ORDER BY rows DESC LIMIT 1",
                           (last,)).fetchone()[0]
    return [  # (label, page, query parameters, the title the page must show)
        ("Overview", "pages/overview.py", {}, "Overview"),
        ("Run history", "pages/runs.py", {}, "Run history"),
        ("Syncs", "pages/syncs.py", {}, "Syncs"),
        ("MQR", "pages/mqr.py", {}, "MQR"),
        ("Run details, deep link", "pages/run.py", {"run": last}, f"Run {last}:"),
        ("Failed rows, now", "pages/failed_rows.py", {}, "Failed rows"),
        ("Failed rows, one run", "pages/failed_rows.py", {"run": last}, "Failed rows"),
        ("Failed rows, a cause's rows", "pages/failed_rows.py", {"run": last, "cause": cause}, "Failed rows"),
        ("Failed rows, find a record by email", "pages/failed_rows.py", {"key": email(12)}, "Failed rows"),
        ("Failed rows, find a record by user id", "pages/failed_rows.py", {"key": user_id(13)}, "Failed rows"),
    ]


def time_page(root: Path, page: str, query: dict, title: str, *, cold: bool) -> float:
    import streamlit as st
    import streamlit.logger
    from streamlit.testing.v1 import AppTest

    # AppTest outside a server warns on every run; Streamlit sets each of its loggers' level itself
    streamlit.logger.set_log_level(logging.ERROR)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()  # a first run, as switch_page needs
    for name, value in query.items():
        at.query_params[name] = str(value)
    if cold:
        st.cache_data.clear()
    started = time.perf_counter()
    at.switch_page(page).run()
    elapsed = time.perf_counter() - started
    if at.exception or at.error:
        raise SystemExit(f"{page} {query} failed: {[e.value for e in [*at.exception, *at.error]]}")
    if not at.title or not at.title[0].value.startswith(title):  # the page itself ran, not a fallback
        raise SystemExit(f"{page} {query} showed {[t.value for t in at.title]}, not {title!r}")
    return elapsed


def measure(root: Path, runs: int) -> list[tuple[str, list[float], list[float]]]:
    os.environ["SYNC_CORE_WORKSPACE"] = str(root)
    results = []
    for label, page, query, title in cases(root):
        time_page(root, page, query, title, cold=True)  # imports and the OS file cache, not measured
        cold = [time_page(root, page, query, title, cold=True) for _ in range(runs)]
        warm = [time_page(root, page, query, title, cold=False) for _ in range(runs)]
        results.append((label, cold, warm))
        print(f"  {label:<40} cold {statistics.median(cold):6.3f} s   warm {statistics.median(warm):6.3f} s",
              flush=True)
    return results


def table_sizes(root: Path) -> dict[str, int]:
    with sqlite3.connect(root / ".sync-state" / "state.sqlite") as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "run_causes", "causes", "rejections", "snapshot", "mqr_ledger")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=7, help="AppTest runs per page and mode (the median is reported)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sync-core-page-speed")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds a page's median may take")
    args = parser.parse_args(argv)

    print(f"State store: {args.days} days of 4 syncs over {args.contacts:,} contacts, in {args.workdir}", flush=True)
    root = generate(args.workdir, args.contacts, args.days)
    state = root / ".sync-state" / "state.sqlite"
    sizes = table_sizes(root)
    print("  " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()) +
          f"; {state.stat().st_size / 2**20:,.0f} MiB", flush=True)
    print(f"Pages: median of {args.runs} AppTest runs, cold (data cache cleared) and warm", flush=True)
    results = measure(root, args.runs)
    slow = [label for label, cold, warm in results if statistics.median(cold) >= args.budget]
    print("\n| page | cold median (s) | cold max (s) | warm median (s) |\n|---|---:|---:|---:|")
    for label, cold, warm in results:
        print(f"| {label} | {statistics.median(cold):.3f} | {max(cold):.3f} | {statistics.median(warm):.3f} |")
    print(f"\nEvery page under {args.budget:g} s (cold median): {'yes' if not slow else 'NO: ' + ', '.join(slow)}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
