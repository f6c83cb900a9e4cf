"""`sync-core model preview MODEL` and `sync-core model check MODEL`: a model's first rows, and its columns, row
count and keys, the way a user checks a model before its first sync. Thin over model_check.py."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa

from .config import chosen_workspace_dir, load_workspace
from .model_check import check, preview

CELL_WIDTH = 40  # a long value is cut in the table (--json has it whole)


def add_commands(sub) -> None:
    model = sub.add_parser("model", help="look at a model before its first sync: preview its rows, check its keys"
                           ).add_subparsers(dest="model_command", metavar="ACTION", required=True)
    p = model.add_parser("preview", help="the model's first rows, as a table")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="rows to show (default 10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_preview)
    p = model.add_parser("check", help="columns and types, row count, null and duplicate keys (exit 1 when a key "
                                       "is null or duplicated)")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check)


def cmd_preview(args) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    workspace = load_workspace(chosen_workspace_dir(args.workspace))
    table = preview(workspace, args.model, args.limit)
    rows = table.to_pylist()
    dbt = workspace.models[args.model].dbt
    if args.json:
        print(json.dumps({"model": args.model, **({"dbt": dbt.to_json()} if dbt else {}),
                          "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
                          "rows": rows}, indent=2, default=_json_value))
        return 0
    print_table(table.schema, rows)
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
          f"{f', the first {args.limit}' if len(rows) == args.limit else ''})")
    if dbt is not None:
        source = workspace.sources[workspace.models[args.model].source]
        print(f"Model {args.model}: {dbt.summary()}, read from {dbt.relation(source.type)}")
        if dbt.description:
            print(f"  {dbt.description}")
        print(f"  dbt tests: {', '.join(dbt.tests) or 'none'}")
    return 0


def cmd_check(args) -> int:
    result = check(load_workspace(chosen_workspace_dir(args.workspace)), args.model)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0 if result.ok else 1
    print(f"Model {result.model} (source {result.source}): {result.rows:,} rows, primary key {result.primary_key}")
    print("Columns:")
    for name, kind in result.columns:
        print(f"  {name:<30} {kind}")
    print(f"Null or empty keys: {result.null_keys:,}")
    print(f"Duplicate keys:     {result.duplicate_keys:,} key(s) in {result.duplicate_rows:,} rows"
          + (f" (e.g. {', '.join(result.duplicate_examples)})" if result.duplicate_examples else ""))
    for s in result.shared:
        print(f"Sync {s.sync}: {s.identifiers:,} destination record(s) named by several keys ({s.rows:,} rows; "
              f"compared {s.compared})" + (f", e.g. {', '.join(s.examples)}" if s.examples else ""))
    if result.ok:
        print("Keys are fine: every row has a key of its own.")
        return 0
    print("These rows would be rejected by a sync as invalid (class data) and never sent: fix the model's keys "
          "(filter out null keys, deduplicate) before the first sync.")
    return 1


def print_table(schema: pa.Schema, rows: list[dict]) -> None:
    names = schema.names
    cells = [[_cell(row[n]) for n in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _cell(value) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
