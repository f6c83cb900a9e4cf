"""Matching a destination's records to the model's rows by the id the destination gave each record when the sync
wrote it (the snapshot's destination_id: Marketo's marketoGUID), for destinations whose records are many per person
(the ReadBackByRecordId capability). The identifier cannot do it there: a person's activities are several, and the
sync's own earlier ones (a changed row adds another; a resend, or a crash's duplicate window, repeats one) would
look like the row's.

The record the snapshot names for a row is the latest the sync wrote for it: that one is compared. Records read that
no valid row names are told apart: `duplicates`, those of a person whose named record was read (an earlier record
of the same row, which the destination keeps: Marketo never replaces an activity), and `unknown_to_model`, the rest
(added by someone else, or named by a row the model no longer returns)."""

from __future__ import annotations

import pyarrow as pa

from ..arrow_values import strings
from ..hashing import sql_string

JOIN_ON = "d._ident = p._key"  # compared_sql's join: `destination._ident` is the snapshot key naming the record


def load_destination(con, lines_sql: str, fields: list[str], ids: dict[str, str]) -> tuple[int, int, int]:
    """Create the table `destination` from the JSON lines at `lines_sql` (a quoted path): one row per record a
    snapshot row names, `_ident` its key, then the fields as JSON. `ids`: key -> the record's id. Returns
    (records read, of them unknown to the model, of them duplicates)."""
    columns = "{'_record': 'VARCHAR', '_owner': 'VARCHAR'" + "".join(
        f", {sql_string(f)}: 'JSON'" for f in fields) + "}"
    con.execute(f"""
        CREATE TABLE read_records AS
        SELECT * FROM read_json({lines_sql}, format = 'newline_delimited', columns = {columns})
        WHERE _record IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY _record) = 1""")
    named = pa.table({"key": strings(list(ids)), "record": strings(list(ids.values()))})
    con.register("named_view", named)
    try:
        con.execute("CREATE TABLE named_records AS SELECT n.key, n.record FROM named_view n "
                    "JOIN planned p ON p._key = n.key")  # named by a valid row of the model as it is now
    finally:
        con.unregister("named_view")
    con.execute("""
        CREATE TABLE destination AS
        SELECT n.key AS _ident, r.* EXCLUDE (_record, _owner)
        FROM read_records r JOIN named_records n ON n.record = r._record""")
    [(records, matched, duplicates)] = con.execute("""
        WITH owners AS (SELECT DISTINCT r._owner FROM read_records r JOIN named_records n ON n.record = r._record)
        SELECT COUNT(*), count_if(n.key IS NOT NULL),
               count_if(n.key IS NULL AND r._owner IN (SELECT _owner FROM owners))
        FROM read_records r LEFT JOIN named_records n ON n.record = r._record""").fetchall()
    return records, records - matched - duplicates, duplicates
