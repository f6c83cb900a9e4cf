"""Golden test: Iterable users', events' and list subscribers' parts encoded column-wise in DuckDB SQL
(json_sql.py, the hot path) parse to exactly what the Python path (`entry`, `event`, `subscriber`: the reference
and the fallback) sends, type by type, events refused before sending are refused alike, and requests built from
them stay within 4 MB counted in bytes."""

from __future__ import annotations

import json

import duckdb
import pytest

from sync_core.config import DestinationConfig, Mapping, SyncConfig
from sync_core.destinations.base import WHITESPACE, Rejection
from sync_core.destinations.iterable.events import IterableEvents, event_id
from sync_core.destinations.iterable.lists import IterableLists
from sync_core.destinations.iterable.json_sql import identifier_json_sql
from sync_core.destinations.iterable.records import MAX_BODY_BYTES
from sync_core.destinations.iterable.users import IterableUsers
from sync_core.event_settings import EventSettings
from sync_core.hashing import quote
from sync_core.ratelimit import Limit, SharedRateLimits
from sync_core.rows import PART, PlannedRow, RowColumns
from sync_core.schedules import Schedule
from sync_core.secrets import SecretRef

# column -> (DuckDB type, values): every type a user's field takes, with the values that are easy to get wrong.
COLUMNS = {
    "txt": ("VARCHAR", ["plain", "é☃ 漢字 😀", 'quote " and \\ backslash', "ctrl \x01\x1f\x7f\n\t\r end", "", None,
                        "\u2028 line sep", "</script>"]),
    "i": ("BIGINT", [0, -1, 2 ** 62, -(2 ** 63), 7, None, 42, 1]),
    "ti": ("TINYINT", [-128, 127, 0, None, 1, 2, 3, 4]),
    "hi": ("HUGEINT", [2 ** 100, -(2 ** 90), 0, None, 5, 6, 7, 8]),
    "d": ("DOUBLE", [0.1, -0.0, 1e16, 1e-7, 333.33, 5.0, 1.7976931348623157e308, None]),
    "sub": ("DOUBLE", [5e-324, 123456789012345678.0, -2.5e-308, 1.5, 2.0 ** 53 + 2, 0.0, None, 1e22]),
    "f": ("FLOAT", [0.1, 1.5, -3.25, None, 16777217.0, 1e30, 0.0, 2.0]),
    "dec": ("DECIMAL(18,2)", ["12.00", "12.50", "-0.01", "0.00", "-3.00", None, "1234567890123456.78", "0.10"]),
    "big": ("DECIMAL(38,10)", ["1234567890123456789012345678.1234567891", "99999999999999999999999999.0000000000",
                               "0.0000000001", None, "-1.5", "3", "10000000000", "7.25"]),
    "b": ("BOOLEAN", [True, False, None, True, False, True, False, True]),
    "day": ("DATE", ["2026-01-05", "0999-03-04", "0001-01-01", "9999-12-31", None, "2000-02-29", "0099-12-31",
                     "1970-01-01"]),
    "ts": ("TIMESTAMP", ["2026-01-05 06:07:08.999999", "0099-01-02 03:04:05", "0001-01-01 00:00:00",
                         "9999-12-31 23:59:59.5", None, "1970-01-01 00:00:00", "2000-02-29 12:00:00", "2026-06-30 23:59:59"]),
    "ts_ns": ("TIMESTAMP_NS", ["2026-01-05 06:07:08.123456789", None, "1970-01-01 00:00:00", "2001-09-09 01:46:40",
                               "2020-02-02 02:02:02", "1999-12-31 23:59:59", "2010-10-10 10:10:10", "2030-01-01 00:00:01"]),
    "tz": ("TIMESTAMP WITH TIME ZONE", ["2026-01-05 08:00:00+02", "2026-01-05 00:30:00-05:30", None,
                                        "0999-06-01 12:00:00+00", "2026-03-29 01:30:00+01", "2000-01-01 00:00:00+14",
                                        "1969-12-31 23:59:59+00", "2026-12-31 23:00:00-01"]),
}
IDENTS = ["  padded@x.io \t", "a@x.io", "Bob@X.io", "é@x.io", "u\u00a0@x.io", "x@y.io\n", "q\"@x.io", "z@x.io"]


def destination(tmp_path, *, match="email", mode="upsert", nulls="omit", columns=COLUMNS) -> IterableUsers:
    config = DestinationConfig("iterable", "iterable", "http://127.0.0.1:9", SecretRef("env", "K", "ws.toml", "k"))
    mappings = tuple(Mapping(c, f"f_{c}", nulls) for c in columns)
    sync = SyncConfig("s", "S", "m", "iterable", "user", mode, match, "ident", mappings, Schedule("manual"), ())
    limits = SharedRateLimits(tmp_path / "limits.sqlite", "test", {"users/bulkUpdate": Limit(1000, 1.0),
                                                                   "export/data.json": Limit(1000, 1.0)})
    return IterableUsers(config, sync, "key", limits)


def model(columns=COLUMNS, idents=IDENTS) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as the plan's connection (planner.build_plan)
    typed_columns = [("ident", "VARCHAR"), *((c, t) for c, (t, _) in columns.items())]
    con.execute(f"CREATE TABLE m ({', '.join(f'{quote(n)} {t}' for n, t in typed_columns)})")
    rows = [[idents[i], *(vals[i] for _, vals in columns.values())] for i in range(len(idents))]
    con.executemany(f"INSERT INTO m VALUES ({', '.join('?' for _ in typed_columns)})", rows)
    return con


def typed(value):
    """A parsed JSON value with its types spelled out: 1, 1.0 and true must not compare equal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def both_paths(dest: IterableUsers, con, columns=COLUMNS) -> tuple[list, list]:
    """Each row's part as the Python path writes it, and as the SQL path does, parsed."""
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE m)").fetchall())
    part = dest.part_sql(("m.ident", types["ident"]), [(f"m.{quote(c)}", types[c], f"f_{c}") for c in columns], "m.ident")
    assert part is not None
    python = [json.loads(dest.entry(PlannedRow(str(i), "added", "h", r["ident"], {f"f_{c}": r[c] for c in columns})))
              for i, r in enumerate(con.sql("SELECT * FROM m").to_arrow_table().to_pylist())]
    sql = [json.loads(p) for (p,) in con.execute(f"SELECT {part} FROM m").fetchall()]
    return python, sql


@pytest.mark.parametrize("match, nulls", [("email", "omit"), ("email", "clear"), ("userId", "omit")])
def test_sql_parts_parse_to_what_the_python_path_sends(tmp_path, match, nulls):
    dest = destination(tmp_path, match=match, nulls=nulls)
    python, sql = both_paths(dest, model())
    assert [typed(p) for p in sql] == [typed(p) for p in python]
    # what the test covers, spelled out: trimmed identifier, omitted or cleared nulls, formats and number kinds
    first = sql[0]
    assert first.get("email", first.get("userId")) == "padded@x.io"
    assert ("preferUserId" in first) == (match == "userId")
    fields = sql[3]["dataFields"]
    assert ("f_txt" in sql[5]["dataFields"]) == (nulls == "clear")
    assert sql[1]["dataFields"]["f_day"] == "0999-03-04" and sql[1]["dataFields"]["f_ts"] == "0099-01-02 03:04:05 +00:00"
    assert sql[0]["dataFields"]["f_tz"] == "2026-01-05 06:00:00 +00:00"
    assert typed(sql[0]["dataFields"]["f_dec"]) == ("int", 12) and typed(sql[1]["dataFields"]["f_dec"]) == ("float", 12.5)
    assert typed(sql[5]["dataFields"]["f_d"]) == ("float", 5.0) and fields["f_b"] is True


def test_requests_from_sql_parts_are_the_python_requests_within_4_mb_in_bytes(tmp_path):
    """Whole bodies (updateOnly included), cut by byte size: non-ASCII text is 3 bytes a character in UTF-8."""
    columns = {"txt": ("VARCHAR", None)}
    dest = destination(tmp_path, mode="update", columns=columns)
    con = duckdb.connect()
    con.execute("CREATE TABLE m AS SELECT 'p' || i || '@x.io' AS ident, repeat('漢', 200000 + i) AS txt FROM range(40) t(i)")
    part = dest.part_sql(("m.ident", "VARCHAR"), [("m.txt", "VARCHAR", "f_txt")], "m.ident")
    [batch] = con.sql(f"SELECT ident AS key, 'added' AS operation, 'h' AS row_hash, ident AS match_value, "
                      f"NULL::INTEGER AS prev_cause, {part} AS {PART} FROM m").to_arrow_table().to_batches()
    sql_batches = dest.batches(RowColumns(batch))
    python_rows = [PlannedRow(k, "added", "h", k, {"f_txt": t}) for k, t in con.execute("SELECT * FROM m").fetchall()]
    python_bodies = [json.loads(dest.body(b)) for b in dest.batches(python_rows)]
    sql_bodies = [json.loads(dest.body(b)) for b in sql_batches]
    assert all(len(dest.body(b)) <= MAX_BODY_BYTES for b in sql_batches)
    assert len(sql_batches) > 1 and all(body["updateOnly"] is True for body in sql_bodies)
    assert [u for body in sql_bodies for u in body["users"]] == [u for body in python_bodies for u in body["users"]]


@pytest.mark.parametrize("column_type", ["VARCHAR[]", "STRUCT(a INTEGER)", "JSON", "TIME", "UUID"])
def test_types_not_encoded_in_sql_take_the_python_path(tmp_path, column_type):
    dest = destination(tmp_path, columns={"x": (column_type, None)})
    assert dest.part_sql(("m.ident", "VARCHAR"), [("m.x", column_type, "f_x")], "m.ident") is None
    assert dest.part_sql(("m.ident", "DOUBLE"), [], "m.ident") is None  # an identifier whose text Python may spell otherwise


def test_trimming_agrees_with_the_python_rule():
    text = WHITESPACE + "a b" + WHITESPACE
    [(part,)] = duckdb.connect().execute(f"SELECT {identifier_json_sql('CAST(? AS VARCHAR)', 'VARCHAR')}", [text]).fetchall()
    assert json.loads(part) == text.strip(WHITESPACE)


# ---- events and lists: the same value rules, their own entries ----

def object_sync(tmp_path, obj: str, *, match="email", nulls="omit", columns=COLUMNS, event=None, options=None):
    config = DestinationConfig("iterable", "iterable", "http://127.0.0.1:9", SecretRef("env", "K", "ws.toml", "k"))
    mappings = tuple(Mapping(c, f"f_{c}", nulls) for c in columns)
    sync = SyncConfig("s-ü", "S", "m", "iterable", obj, "update", match, "ident", mappings, Schedule("manual"), (),
                      event=event, options=options or {})
    limits = SharedRateLimits(tmp_path / "limits.sqlite", "test", {})
    return (IterableEvents if obj == "event" else IterableLists)(config, sync, "key", limits)


def column_rows(dest, con) -> RowColumns:
    """The model's rows as the plan hands them over on the column-wise path (planner.LocalPlan.rows)."""
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE m)").fetchall())
    sent = dest.sync.sent_columns
    part = dest.part_sql(("m.ident", types["ident"]), [(f"m.{quote(c)}", types[c], f) for c, f in sent], "m.k")
    assert part is not None
    return RowColumns(con.sql(f"SELECT k AS key, 'added' AS operation, 'h' AS row_hash, ident AS match_value, "
                              f"NULL::INTEGER AS prev_cause, {part} AS {PART} FROM m ORDER BY k").to_arrow_table()
                      .combine_chunks().to_batches()[0])


def python_rows(dest, con) -> list[PlannedRow]:
    return [PlannedRow(r["k"], "added", "h", r["ident"], {f: r[c] for c, f in dest.sync.sent_columns})
            for r in con.sql("SELECT * FROM m ORDER BY k").to_arrow_table().to_pylist()]


def sent_and_refused(dest, rows) -> tuple[list, list]:
    """What the batches of `rows` send (each record, parsed and typed) and refuse (key, code, message, class)."""
    sent, refused = [], []
    for batch in dest.batches(rows):
        if isinstance(batch.parts[0], Rejection):
            refused += [(r.row.key, r.code, r.message, r.default_class, r.template) for r in batch.parts]
        else:
            sent += [typed(json.loads(part)) for part in batch.parts]
    return sent, refused


def event_model(extra: dict, columns=COLUMNS) -> duckdb.DuckDBPyConnection:
    con = model({**columns, **extra})
    con.execute("ALTER TABLE m ADD COLUMN k VARCHAR")
    con.execute("UPDATE m SET k = 'kéy ' || rowid || ' 漢'")  # the event id hashes the key's UTF-8
    return con


NAMES = ("nm", ("VARCHAR", ["Signed Up", "é vent ☃", ' padded "q" ', "x", "\\back", "漢字", "a\tb", "z"]))
TIMES = {"TIMESTAMP": ["2026-01-05 06:07:08.999999", "1970-01-01 00:00:00", "2001-09-09 01:46:40.5",
                       "1969-12-31 23:59:59.5", "2026-06-30 23:59:59", "2000-02-29 12:00:00", "1999-12-31 23:59:59",
                       "2010-10-10 10:10:10"],
         "TIMESTAMP WITH TIME ZONE": ["2026-01-05 08:00:00+02", "2026-01-05 00:30:00-05:30", "1970-01-01 01:00:00+01",
                                      "2000-01-01 00:00:00+14", "2026-03-29 01:30:00+01", "1970-01-01 00:00:00.9+00",
                                      "2020-02-02 02:02:02+00", "2011-01-01 00:00:00-01"],
         "DATE": ["2026-01-05", "1970-01-01", "2000-02-29", "2026-06-30", "1999-12-31", "2001-01-01", "2010-10-10",
                  "1980-05-05"]}


@pytest.mark.parametrize("match, nulls, named_by, created", [
    ("email", "omit", "column", "TIMESTAMP"), ("email", "clear", "fixed", "TIMESTAMP WITH TIME ZONE"),
    ("userId", "omit", "column", "DATE"), ("email", "omit", "fixed", None)])
def test_event_parts_from_sql_are_the_python_events(tmp_path, match, nulls, named_by, created):
    """Every type a field takes, nulls omitted or cleared, non-ASCII names and keys, userId mode; the event id
    byte-identical (reconciliation reads events back by it), createdAt in Unix seconds cut toward zero."""
    extra = {"nm": NAMES[1]} if named_by == "column" else {}
    if created:
        extra["at"] = (created, TIMES[created])
    settings = EventSettings("syncs.s-ü", name="Fixed é" if named_by == "fixed" else None,
                             name_column="nm" if named_by == "column" else None,
                             created_at_column="at" if created else None)
    dest = object_sync(tmp_path, "event", match=match, nulls=nulls, event=settings)
    con = event_model(extra)
    python, sql = sent_and_refused(dest, python_rows(dest, con)), sent_and_refused(dest, column_rows(dest, con))
    assert sql == python and not sql[1] and len(sql[0]) == 8
    ids = [("str", event_id("s-ü", f"kéy {i} 漢")) for i in range(8)]
    assert sorted(e["id"] for e in sql[0]) == sorted(ids)
    if created == "TIMESTAMP":
        assert [e["createdAt"] for e in sql[0]][3] == ("int", 0)  # 1969-12-31 23:59:59.5: -0.5 s, cut to 0


@pytest.mark.parametrize("created", ["TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "DATE"])
def test_events_refused_before_sending_are_refused_alike(tmp_path, created):
    """A missing or blank name, a null, future or pre-1970 time, an event over 4 MB: the same rejections, word
    for word, from either path, and no request for them."""
    times = {"TIMESTAMP": [None, "2999-01-01 00:00:00", "1969-12-31 23:59:58", "0999-03-04 05:06:07"],
             "TIMESTAMP WITH TIME ZONE": [None, "2999-01-01 00:00:00+00", "1970-01-01 00:59:58+01",
                                          "0999-03-04 05:06:07+00"],
             "DATE": [None, "2999-01-01", "1969-12-31", "0999-03-04"]}[created]
    columns = {"txt": ("VARCHAR", ["ok", "ok", "ok", "ok", "ok", "ok", "x" * (MAX_BODY_BYTES - 100), "ok"])}
    extra = {"nm": ("VARCHAR", [None, " \t", "n", "n", "n", "n", "n", "n"]),
             "at": (created, ["2020-01-01" if created == "DATE" else "2020-01-01 00:00:00", "2020-01-01", *times,
                              "2020-01-01", "2020-01-01"])}
    settings = EventSettings("syncs.s-ü", name_column="nm", created_at_column="at")
    dest = object_sync(tmp_path, "event", columns=columns, event=settings)
    con = event_model(extra, columns)
    python, sql = sent_and_refused(dest, python_rows(dest, con)), sent_and_refused(dest, column_rows(dest, con))
    assert sql == python
    codes = [code for _, code, *_ in sql[1]]
    assert codes == ["MissingEventName", "MissingEventName", "MissingCreatedAt", "FutureCreatedAt",
                     "InvalidCreatedAt", "InvalidCreatedAt", "EventTooLarge"]
    assert "is 999-03-04, before 1970" in sql[1][5][2] and len(sql[0]) == 1


@pytest.mark.parametrize("match, nulls, columns", [("email", "omit", COLUMNS), ("email", "clear", COLUMNS),
                                                   ("userId", "omit", COLUMNS), ("email", "omit", {})])
def test_list_subscribers_from_sql_are_the_python_subscribers(tmp_path, match, nulls, columns):
    """A row whose every field is null and omitted subscribes without dataFields, as the Python path does."""
    dest = object_sync(tmp_path, "list", match=match, nulls=nulls, columns=columns, options={"list_id": "1"})
    con = event_model({}, columns)
    con.execute("INSERT INTO m (ident, k) VALUES ('all-null@x.io', 'kz')")
    python, sql = sent_and_refused(dest, python_rows(dest, con)), sent_and_refused(dest, column_rows(dest, con))
    assert sql == python and len(sql[0]) == 9 and not sql[1]
    by_ident = {record.get("email", record.get("userId"))[1]: record for record in sql[0]}
    assert ("dataFields" in by_ident["all-null@x.io"]) == (nulls == "clear")
    assert ("preferUserId" in by_ident["a@x.io"]) == (match == "userId")
