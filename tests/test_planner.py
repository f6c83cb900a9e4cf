"""The planner's diff against the committed snapshot, with the count invariant."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from sync_core import StateStore, invariant_violations, load_workspace
from sync_core.outcomes import RowProblem
from sync_core.planner import build_plan
from sync_core.sources import open_source

from workspace_toml import duckdb_source, iterable, model, sync, workspace

WORKSPACE = workspace(duckdb_source(), iterable(api_key="env:UNUSED"), model("SELECT email, name, score FROM people"),
                      sync("people", mappings=[("name", "name"), ("score", "score")]))


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "workspace.toml").write_text(WORKSPACE)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("CREATE TABLE people (email VARCHAR, name VARCHAR, score INTEGER)")
        con.execute("INSERT INTO people VALUES ('a@x.io', 'A', 1), ('b@x.io', 'B', 2), ('c@x.io', 'C', 3), "
                    "('d@x.io', 'D', 4), (NULL, 'nobody', 0), ('dup@x.io', 'D1', 5), ('dup@x.io', 'D2', 6)")
    return load_workspace(tmp_path)


def sql(ws, statement):
    with duckdb.connect(str(ws.root / "wh.duckdb")) as con:
        con.execute(statement)


def plan(ws, **kwargs):
    store = StateStore(ws.state_path)
    sync = ws.sync("people")
    p = build_plan(ws, sync, open_source(ws.sources["wh"]), store, **kwargs)
    return store, p


def record(store, p, *, keys=(), problems=()):
    """Record a run in which the destination confirmed `keys` and refused with `problems`."""
    run_id = store.start_run("people", trigger="test", config_fingerprint=p.fingerprint)
    rows = [r for batch in p.rows() for r in batch if r.key in keys]
    store.commit_batch(run_id, "people", fingerprint=p.fingerprint, synced=[(r.key, r.row_hash) for r in rows],
                       problems=problems)
    store.finish_run(run_id, status="healthy", counts=p.counts, phases={}, notes=[])


def confirm(store, p, keys):
    record(store, p, keys=keys)


def ops(p):
    return {r.key: r.operation for batch in p.rows() for r in batch}


def test_first_plan_adds_every_valid_row_and_rejects_bad_keys(ws):
    store, p = plan(ws)
    c = p.counts.as_dict()
    assert invariant_violations(c) == []
    assert (c["queried"], c["invalid"], c["added"], c["unchanged"]) == (7, 3, 4, 0)
    assert set(ops(p)) == {"a@x.io", "b@x.io", "c@x.io", "d@x.io"}
    codes = sorted((pr.code, pr.key) for pr in p.invalid)
    assert codes == [("DuplicatePrimaryKey", "dup@x.io"), ("DuplicatePrimaryKey", "dup@x.io"),
                     ("NullPrimaryKey", None)]


def test_diff_against_the_snapshot(ws):
    store, p = plan(ws)
    confirm(store, p, {"a@x.io", "b@x.io", "c@x.io"})
    rejected = [r for batch in p.rows() for r in batch if r.key == "d@x.io"][0]
    record(store, p, problems=[
        RowProblem("d@x.io", "rejected", "NotFound", "No record was found with lookup for email:d@x.io",
                   "expected", rejected.row_hash)])
    p.close()
    sql(ws, "UPDATE people SET score = 20 WHERE email = 'b@x.io'")
    sql(ws, "DELETE FROM people WHERE email = 'c@x.io'")
    sql(ws, "INSERT INTO people VALUES ('e@x.io', 'E', 5)")

    store, p = plan(ws)
    c = p.counts.as_dict()
    assert invariant_violations(c) == []
    assert ops(p) == {"b@x.io": "changed", "d@x.io": "retried", "e@x.io": "added"}
    assert (c["unchanged"], c["removed"]) == (1, 1) and p.removed_keys == ["c@x.io"]


def test_a_retried_row_that_changed_is_planned_by_its_change(ws):
    store, p = plan(ws)
    row = [r for batch in p.rows() for r in batch if r.key == "d@x.io"][0]
    record(store, p, problems=[
        RowProblem("d@x.io", "failed", "Timeout", "no answer", "transient", row.row_hash)])
    sql(ws, "UPDATE people SET name = 'Dee' WHERE email = 'd@x.io'")
    store, p = plan(ws)
    assert ops(p)["d@x.io"] == "added"


def test_full_resync_sends_confirmed_rows_again(ws):
    store, p = plan(ws)
    confirm(store, p, {"a@x.io"})
    store, p = plan(ws, full_resync=True)
    assert ops(p)["a@x.io"] == "changed" and p.counts.unchanged == 0
    assert any("Full resync" in n for n in p.notes)


def test_a_mapping_change_says_how_many_rows_it_resends(ws):
    store, p = plan(ws)
    confirm(store, p, {"a@x.io", "b@x.io"})
    (ws.root / "workspace.toml").write_text(WORKSPACE.replace('field = "score"', 'field = "leadScore"'))
    ws2 = load_workspace(ws.root)
    store, p = plan(ws2)
    assert p.counts.operation("changed") == 2
    assert any("config changed" in n and "2 rows will be resent" in n for n in p.notes)


def test_mqr_digests_are_distinct_queried_keys(ws):
    _, p = plan(ws)
    assert len(p.key_digests()) == 5  # a, b, c, d, dup (counted once); the null key is no record


def test_mqr_digests_split_by_ledger_and_by_whether_the_row_is_unchanged(ws):
    store, p = plan(ws)
    confirm(store, p, {"a@x.io", "b@x.io"})
    sql(ws, "UPDATE people SET score = 20 WHERE email = 'b@x.io'")
    _, p = plan(ws)
    everyone = p.key_digests()
    digests = p.sync_digests()
    # a@x.io alone is unchanged; b (changed), c and d (added) and dup (invalid) are not: every digest once
    assert (len(digests.queried), len(digests.held)) == (4, 1)
    assert sorted(digests.queried.to_pylist() + digests.held.to_pylist()) == everyone.to_pylist()
    assert digests.queried.to_pylist() == sorted(digests.queried.to_pylist())
    # digests already counted in the ledger, or already seen by the sync, are left out of their lists only
    counted = everyone.slice(0, 2)
    assert p.key_digests(counted).to_pylist() == everyone.to_pylist()[2:]
    again = p.sync_digests(digests.held)
    assert (again.queried.to_pylist(), len(again.held)) == (digests.queried.to_pylist(), 0)
    assert p.key_digests(everyone).to_pylist() == []
    assert p.sync_digests(everyone) == (pa.array([], pa.int64()),) * 2


def test_a_source_read_through_arrow_batches_plans_the_same_as_the_attached_warehouse(ws):
    """scan_batches (any source, through Arrow) and DuckDB's attached scan give the same rows and hashes."""
    from sync_core.sources import scan_batches

    class ThroughBatches:
        def __init__(self, source):
            self.source = source
            self.schema, self.batches = source.schema, source.batches

        def scan(self, con, model):
            return scan_batches(self.source, con, model, rows_per_batch=2)  # several batches

    store = StateStore(ws.state_path)
    sync = ws.sync("people")
    attached = build_plan(ws, sync, open_source(ws.sources["wh"]), store)
    batched = build_plan(ws, sync, ThroughBatches(open_source(ws.sources["wh"])), store)
    rows = [sorted((r.key, r.operation, r.row_hash, tuple(r.values.items())) for b in p.rows() for r in b)
            for p in (attached, batched)]
    assert rows[0] == rows[1] and len(rows[0]) == 4
    assert [(p.key, p.code) for p in attached.invalid] == [(p.key, p.code) for p in batched.invalid]


class PartEncoder:
    """A destination reduced to its column-wise encoding (destinations.base.ColumnEncoding): its part names the
    row's key, identifier and values, so a part that strays from its row shows."""

    def part_sql(self, match, columns, key_sql):
        return " || '/' || ".join(f"coalesce(CAST({c} AS VARCHAR), '-')" for c, *_ in [(key_sql,), match, *columns])


def test_rows_with_encoded_parts_come_in_model_order_each_with_its_own_row(ws):
    sql(ws, "INSERT INTO people SELECT 'k' || ((i * 7919) % 5000) || '@x.io', 'N' || i, i FROM range(5000) t(i)")
    store, p = plan(ws)
    as_objects = [r for batch in p.rows(700) for r in batch]
    batches = list(p.rows(700, PartEncoder()))
    assert len(batches) > 1
    as_columns = [(r, part) for batch in batches for r, part in zip(batch, batch.parts)]
    assert [(r.key, r.operation, r.row_hash, r.match_value, r.prev_cause) for r, _ in as_columns] == \
           [(r.key, r.operation, r.row_hash, r.match_value, r.prev_cause) for r in as_objects]
    assert [part for _, part in as_columns] == ["/".join("-" if v is None else str(v) for v in
                                                         (r.key, r.match_value, *r.values.values())) for r in as_objects]
