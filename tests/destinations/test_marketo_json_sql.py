"""Golden test: Marketo custom activities encoded column-wise in DuckDB SQL (marketo/json_sql.py, the hot path)
parse to exactly what the Python path (`activity`: the reference and the fallback) sends, type by type, nulls
omitted or cleared; types SQL does not encode take the Python path; and requests cut from SQL parts stay within
Marketo's 1 MB counted in bytes, end to end against the sandbox."""

from __future__ import annotations

import json

import duckdb
import pytest

from sync_core.config import DestinationConfig, Mapping, SyncConfig
from sync_core.destinations.marketo import ACTIVITY_DATE, PRIMARY_ATTRIBUTE
from sync_core.destinations.marketo.activities import MAX_BODY_BYTES, MarketoActivities
from sync_core.hashing import quote
from sync_core.ratelimit import SharedRateLimits
from sync_core.rows import PART, PlannedRow, RowColumns
from sync_core.schedules import Schedule
from sync_core.secrets import SecretRef

from marketo_workspace import INSTANCE, marketo_workspace
from test_iterable_json_sql import COLUMNS, model, typed

# activityDate as text: trimmed, and otherwise sent as it is for Marketo to judge (a wrong format is its 1001)
WHEN_TEXT = ("VARCHAR", [" 2026-11-30T10:00:00+01:00 ", "30/11/2026 10:00", "\t2026-01-01\n", "", None,
                         "2026-11-30T10:00:00Z", "é", "2026-11-30"])


def activities(tmp_path, when: str, primary: str, nulls: str, columns: dict) -> MarketoActivities:
    """A sync dating each activity by column `when`, its primary attribute from column `primary`, and every
    other column an attribute named a_<column>."""
    config = DestinationConfig("marketo", "marketo", "http://127.0.0.1:9", SecretRef("env", "S", "ws.toml", "s"),
                               client_id=SecretRef("env", "I", "ws.toml", "i"),
                               settings={"daily_quota": 50_000, "daily_quota_reserve": 0.2})
    fields = {when: ACTIVITY_DATE, primary: PRIMARY_ATTRIBUTE}
    mappings = tuple(Mapping(c, fields.get(c, f"a_{c}"), nulls) for c in columns)
    sync = SyncConfig("s", "S", "m", "marketo", "activity", "insert", "email", "ident", mappings, Schedule("manual"),
                      (), options={"activity_type": "t_c"})
    return MarketoActivities(config, sync, ("id", "secret"), SharedRateLimits(tmp_path / "limits.sqlite", "test", {}))


def column_rows(dest: MarketoActivities, con) -> RowColumns:
    """The model's rows as the plan hands them over on the column-wise path (planner.LocalPlan.rows)."""
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE m)").fetchall())
    part = dest.part_sql(("m.ident", "VARCHAR"), [(f"m.{quote(c)}", types[c], f) for c, f in dest.sync.sent_columns],
                         "m.ident")
    assert part is not None
    return RowColumns(con.sql(f"SELECT rowid::VARCHAR AS key, 'added' AS operation, 'h' AS row_hash, "
                              f"ident AS match_value, NULL::INTEGER AS prev_cause, {part} AS {PART} FROM m "
                              f"ORDER BY rowid").to_arrow_table().combine_chunks().to_batches()[0])


def python_rows(dest: MarketoActivities, con) -> list[PlannedRow]:
    return [PlannedRow(str(i), "added", "h", r["ident"], {f: r[c] for c, f in dest.sync.sent_columns})
            for i, r in enumerate(con.sql("SELECT * FROM m ORDER BY rowid").to_arrow_table().to_pylist())]


def sent(dest: MarketoActivities, rows) -> list:
    """Each activity the batches of `rows` carry, parsed with its types spelled out, and the rows per batch."""
    batches = dest.batches(rows)
    return [typed(json.loads(part)) for batch in batches for part in batch.parts], [len(b.rows) for b in batches]


@pytest.mark.parametrize("when, primary, nulls", [
    ("ts", "txt", "omit"), ("tz", "dec", "clear"), ("day", "ts", "omit"), ("ts_ns", "b", "clear"),
    ("when_txt", "hi", "omit"), ("when_txt", "day", "clear")])
def test_sql_activities_parse_to_what_the_python_path_sends(tmp_path, when, primary, nulls):
    """Times in UTC with a Z (a zone converted, nanoseconds cut, years before 1000 with four digits), a DATE at
    midnight, decimals as integers or doubles, floats, booleans, large integers, non-ASCII and control characters;
    a null omitted (no member, no attribute) or cleared (null)."""
    columns = {**COLUMNS, "when_txt": WHEN_TEXT}
    dest = activities(tmp_path, when, primary, nulls, columns)
    con = model(columns)
    python, sql = sent(dest, python_rows(dest, con)), sent(dest, column_rows(dest, con))
    assert sql == python
    activity = [json.loads(part) for batch in dest.batches(column_rows(dest, con)) for part in batch.parts]
    # what the test covers, spelled out
    assert len(activity) == 8 and all(list(a)[-1] == "attributes" for a in activity)
    attributes = [{a["apiName"]: a["value"] for a in act["attributes"]} for act in activity]
    assert ACTIVITY_DATE not in {name for names in attributes for name in names}
    assert ("a_txt" in attributes[5]) == (nulls == "clear") and (ACTIVITY_DATE in activity[4]) == (nulls == "clear")
    if when == "tz":
        assert activity[0][ACTIVITY_DATE] == "2026-01-05T06:00:00Z"
        assert activity[3][ACTIVITY_DATE] == "0999-06-01T12:00:00Z"
    if when == "ts":
        assert activity[1][ACTIVITY_DATE] == "0099-01-02T03:04:05Z"
    if when == "when_txt":
        assert activity[0][ACTIVITY_DATE] == "2026-11-30T10:00:00+01:00" and activity[6][ACTIVITY_DATE] == "é"
    if "a_day" in attributes[0]:
        assert attributes[0]["a_day"] == "2026-01-05T00:00:00Z"
    if "a_dec" in attributes[1]:
        assert typed(attributes[0]["a_dec"]) == ("int", 12) and typed(attributes[1]["a_dec"]) == ("float", 12.5)
    if "a_hi" in attributes[0]:
        assert attributes[0]["a_hi"] == 2 ** 100


def test_a_sync_without_attributes_sends_an_empty_list(tmp_path):
    columns = {"ts": COLUMNS["ts"], "txt": COLUMNS["txt"]}
    dest = activities(tmp_path, "ts", "txt", "omit", columns)
    con = model(columns)
    python, sql = sent(dest, python_rows(dest, con)), sent(dest, column_rows(dest, con))
    assert sql == python and all(a["attributes"] == [] for a in sql[0])


@pytest.mark.parametrize("column_type, field", [
    ("VARCHAR[]", "a_x"), ("STRUCT(a INTEGER)", "a_x"), ("JSON", "a_x"), ("TIME", "a_x"), ("UUID", "a_x"),
    ("BIGINT", ACTIVITY_DATE), ("DECIMAL(18,2)", ACTIVITY_DATE), ("BOOLEAN", ACTIVITY_DATE)])
def test_types_not_encoded_in_sql_take_the_python_path(tmp_path, column_type, field):
    """json.dumps(default=str) spells these its own way (and a number as a date is Marketo's to refuse)."""
    dest = activities(tmp_path, "ts", "txt", "omit", {"ts": COLUMNS["ts"], "txt": COLUMNS["txt"]})
    assert dest.part_sql(("m.ident", "VARCHAR"), [("m.x", column_type, field)], "m.ident") is None


def test_requests_from_sql_parts_stay_within_1_mb_counted_in_bytes(tmp_path, monkeypatch):
    """300 activities of 2,000 two-byte characters each: 300 by count, but over 1 MB in UTF-8 (under it counted
    in characters), so they go in two adds, and every one is added with its text whole."""
    with marketo_workspace(tmp_path, monkeypatch) as marketo:
        emails = [f"p{i:03d}@x.io" for i in range(300)]
        marketo.sandbox.add_leads(INSTANCE, emails)
        marketo.add_people([(e, "2026-11-30T10:00:00Z", f"ns-{e}", "é" * 2000) for e in emails])

        run = marketo.run()
        adds = marketo.sandbox.requests(endpoint="activities/external")

        assert run.status == "healthy", run.error
        assert run.counts.outcome("synced") == 300
        assert [r["code"] for r in adds] == ["Success", "Success"] and sum(r["items"] for r in adds) == 300
        activities_read = marketo.read_back()
        assert marketo.emails_of(activities_read) == emails
        assert {a["attributes"][0]["value"] for a in activities_read} == {"é" * 2000}


def test_both_paths_cut_the_same_requests_where_every_character_is_one_byte(tmp_path):
    """ASCII text: a part's characters are its bytes, so both paths cut requests at the same rows."""
    columns = {"ts": COLUMNS["ts"], "txt": ("VARCHAR", None)}
    dest = activities(tmp_path, "ts", "txt", "omit", columns)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE m AS SELECT 'p' || i || '@x.io' AS ident, TIMESTAMP '2026-01-01' + to_seconds(i) AS ts, "
                "repeat('x', 9000 + i) AS txt FROM range(700) t(i)")
    python, sql = sent(dest, python_rows(dest, con)), sent(dest, column_rows(dest, con))
    assert sql == python and len(sql[1]) > 3 and max(sql[1]) < 300
    # each part with room for its lead and type (under 64 bytes) within the body's limit
    for batch in dest.batches(column_rows(dest, con)):
        assert sum(len(part.encode()) + 64 for part in batch.parts) <= MAX_BODY_BYTES
