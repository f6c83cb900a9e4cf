"""Iterable events encoded column-wise (`IterableEvents.part_sql`, the plan's hot path) against a row at a time
in Python (`IterableEvents.event`, the fallback and what every events sync used before), on the same rows, in one
process, interleaved: CPU time from the model's rows to the cut requests (`batches`), fetch included. With
`--object activity`, the same for Marketo custom activities (`MarketoActivities.part_sql` against `activity`).

    python bench/event_encoding_benchmark.py                   # 200,000 events, 5 rounds
    python bench/event_encoding_benchmark.py --rows 20000 --repeat 3
    python bench/event_encoding_benchmark.py --object activity # 200,000 Marketo activities
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from sync_core.config import DestinationConfig, Mapping, SyncConfig
from sync_core.destinations.iterable.events import IterableEvents
from sync_core.destinations.marketo.activities import MarketoActivities
from sync_core.event_settings import EventSettings
from sync_core.ratelimit import SharedRateLimits
from sync_core.rows import PART, PlannedRow, RowColumns
from sync_core.schedules import Schedule
from sync_core.secrets import SecretRef

# The seed's events sync: a namespace's fields, the event dated by a column.
MODEL = ("SELECT 'person' || i || '@example.com' AS email, 'ns-' || i AS k, 'namespace ' || i AS namespace_name, "
         "CASE i % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'team' ELSE 'enterprise' END AS plan, i % 50 AS seats, "
         "i % 7 = 0 AS trial, TIMESTAMP '2025-01-01' + to_seconds(i) AS created_at FROM range({rows}) t(i)")
FIELDS = ("namespace_name", "plan", "seats", "trial")
# The seed's activities sync: a namespace created, dated by a column, with its plan, seats and trial as attributes.
ACTIVITY_MODEL = ("SELECT 'person' || i || '@example.com' AS email, 'ns-' || i AS k, "
                  "TIMESTAMP '2025-01-01' + to_seconds(i) AS created_at, 'namespace ' || i AS namespace, "
                  "CASE i % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'team' ELSE 'enterprise' END AS plan, i % 50 AS seats, "
                  "i % 7 = 0 AS trial FROM range({rows}) t(i)")
ACTIVITY_MAPPINGS = (("created_at", "activityDate"), ("namespace", "primaryAttributeValue"), ("plan", "plan"),
                     ("seats", "seats"), ("trial", "trial"))


def events(tmp: str) -> IterableEvents:
    config = DestinationConfig("iterable", "iterable", "http://127.0.0.1:9", SecretRef("env", "K", "ws.toml", "k"))
    settings = EventSettings("syncs.events", name="First Namespace Created", created_at_column="created_at")
    sync = SyncConfig("events", "Events", "m", "iterable", "event", "update", "email", "email",
                      tuple(Mapping(f, f) for f in FIELDS), Schedule("manual"), (), event=settings)
    return IterableEvents(config, sync, "key", SharedRateLimits(Path(tmp) / "limits.sqlite", "bench", {}))


def activities(tmp: str) -> MarketoActivities:
    config = DestinationConfig("marketo", "marketo", "http://127.0.0.1:9", SecretRef("env", "S", "ws.toml", "s"),
                               client_id=SecretRef("env", "I", "ws.toml", "i"))
    sync = SyncConfig("activities", "Activities", "m", "marketo", "activity", "insert", "email", "email",
                      tuple(Mapping(c, f) for c, f in ACTIVITY_MAPPINGS), Schedule("manual"), (),
                      options={"activity_type": "benchActivity_c"})
    return MarketoActivities(config, sync, ("id", "secret"), SharedRateLimits(Path(tmp) / "limits.sqlite", "bench", {}))


def column_wise(con, dest: IterableEvents | MarketoActivities) -> int:
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE m)").fetchall())
    part = dest.part_sql(("m.email", types["email"]), [(f"m.{c}", types[c], f) for c, f in dest.sync.sent_columns],
                         "m.k")
    reader = con.sql(f"SELECT k AS key, 'added' AS operation, 'h' AS row_hash, email AS match_value, "
                     f"NULL::INTEGER AS prev_cause, {part} AS {PART} FROM m").to_arrow_reader(2000)
    return sum(len(b.rows) for batch in reader for b in dest.batches(RowColumns(batch)))


def row_at_a_time(con, dest: IterableEvents | MarketoActivities) -> int:
    sent = dest.sync.sent_columns
    out = 0
    for batch in con.sql("SELECT * FROM m").to_arrow_reader(2000):
        rows = [PlannedRow(r["k"], "added", "h", r["email"], {f: r[c] for c, f in sent}) for r in batch.to_pylist()]
        out += sum(len(b.rows) for b in dest.batches(rows))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--object", choices=("event", "activity"), default="event")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        dest = events(tmp) if args.object == "event" else activities(tmp)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")  # as the plan's connection
        con.execute(f"CREATE TABLE m AS {(MODEL if args.object == 'event' else ACTIVITY_MODEL).format(rows=args.rows)}")
        cpu = {"column-wise (part_sql)": [], f"row at a time ({args.object})": []}
        for i in range(args.repeat):
            ways = list(zip(cpu, (column_wise, row_at_a_time)))
            for label, way in ways if i % 2 == 0 else ways[::-1]:
                started = time.process_time()
                assert way(con, dest) == args.rows
                cpu[label].append(time.process_time() - started)
    medians = {label: statistics.median(times) for label, times in cpu.items()}
    print(f"Command: `python bench/event_encoding_benchmark.py --rows {args.rows} --repeat {args.repeat} "
          f"--object {args.object}`; load "
          f"average {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after")
    print()
    print(f"| path | CPU s, median | CPU s, each round | {'events' if args.object == 'event' else 'activities'}/s "
          "of CPU |")
    print("|---|---:|---|---:|")
    for label, times in cpu.items():
        print(f"| {label} | {medians[label]:.2f} | {', '.join(f'{t:.2f}' for t in times)} "
              f"| {args.rows / medians[label]:,.0f} |")
    column, python = medians.values()
    print(f"\n- column-wise / row at a time: CPU **{column / python:.2f}x**")
    return 0


if __name__ == "__main__":
    sys.exit(main())
