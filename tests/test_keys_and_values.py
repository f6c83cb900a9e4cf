"""What one row's key or value does to a run, against the sandbox: keys are compared as the destination
compares them, and a value the destination cannot take is a row-level `data` rejection naming the field,
never a silent null and never the end of the run."""

from __future__ import annotations

import pytest

from small_workspace import small_workspace
from sync_core import StateStore

FILLER = [(f"user{i}@x.io", f"U{i}", i) for i in range(30)]  # rows that sync, so a few bad ones stay a warning


def people(tmp_path, monkeypatch, rows, *, mode="upsert", table="email VARCHAR, first_name VARCHAR, score INTEGER",
           mappings=(("first_name", "firstName"), ("score", "score")), **kwargs):
    return small_workspace(tmp_path, monkeypatch, table=table, rows=rows, mappings=list(mappings), mode=mode, **kwargs)


@pytest.mark.parametrize("mode", ["upsert", "update"])
def test_two_keys_naming_one_user_are_a_data_cause_not_two_synced_rows(tmp_path, monkeypatch, mode):
    rows = FILLER + [("Bob@Case.com", "Bob", 10), ("bob@case.com", "bob", 20)]
    with people(tmp_path, monkeypatch, rows, mode=mode) as s:
        s.create_users(*(r[0] for r in FILLER), "bob@case.com", firstName="product", score=1)
        record = s.run()
        assert record.status == "warning"
        assert record.counts.invalid == 2 and record.counts.outcome("synced") == 30
        rejections = s.rejections()
        assert rejections["Bob@Case.com"] == rejections["bob@case.com"] == "SharedIdentifier"
        assert "Bob@Case.com" not in s.snapshot() and "bob@case.com" not in s.snapshot()
        # Neither row's values reached the one user: nothing claims a write that the other would overwrite.
        assert s.user("bob@case.com")["dataFields"] == {"firstName": "product", "score": 1}
        with StateStore(s.workspace.state_path) as store:  # the cause says why, naming both keys
            [cause] = [c for c in store.run_causes(record.id) if c.code == "SharedIdentifier"]
            [row] = store.rejections(sync_id="people", key="bob@case.com")
        assert cause.error_class == "data" and cause.rows == 2
        assert "'Bob@Case.com', 'bob@case.com'" in row.message and "email 'bob@case.com'" in row.message

        # Once one row names the user, it is sent and synced; the rerun does not call the pair unchanged forever.
        s.sql("DELETE FROM people WHERE email = 'Bob@Case.com'")
        again = s.run()
        assert again.counts.invalid == 0 and s.user("bob@case.com")["dataFields"]["firstName"] == "bob"
        assert "bob@case.com" in s.snapshot() and s.rejections() == {}


def test_keys_that_become_one_users_leave_the_snapshot(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, FILLER + [("bob@case.com", "bob", 20)]) as s:
        s.run()
        assert "bob@case.com" in s.snapshot()
        s.sql("INSERT INTO people VALUES ('BOB@case.com', 'Bob', 10)")
        s.run()
        # The snapshot no longer claims the user holds one row's values: when one row is left, it is sent.
        assert "bob@case.com" not in s.snapshot()
        s.sql("DELETE FROM people WHERE email = 'BOB@case.com'")
        mark = s.sandbox.last_request_id()
        s.run()
        [write] = s.writes_since(mark)
        assert write["identifiers"] == ["bob@case.com"]


def test_a_key_that_becomes_duplicated_leaves_the_snapshot(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, FILLER) as s:
        s.run()
        s.sql("INSERT INTO people VALUES ('user3@x.io', 'Again', 99)")
        record = s.run()
        assert record.counts.invalid == 2 and s.rejections()["user3@x.io"] == "DuplicatePrimaryKey"
        assert "user3@x.io" not in s.snapshot()


@pytest.mark.parametrize("bad", ["'NaN'", "'Infinity'", "'-Infinity'"])
def test_a_non_finite_number_is_a_data_rejection_and_never_clears_the_users_value(tmp_path, monkeypatch, bad):
    with people(tmp_path, monkeypatch, FILLER, table="email VARCHAR, first_name VARCHAR, score DOUBLE") as s:
        s.run()
        s.sql("UPDATE people SET first_name = 'Changed'")
        s.sql(f"UPDATE people SET score = {bad}::DOUBLE WHERE email = 'user7@x.io'")
        record = s.run()
        assert record.status == "warning" and record.counts.outcome("rejected_other") == 1
        assert s.user("user7@x.io")["dataFields"] == {"firstName": "U7", "score": 7}  # nothing of the row sent
        assert s.rejections() == {"user7@x.io": "UnsendableValue"}
        with StateStore(s.workspace.state_path) as store:
            [row] = store.rejections(sync_id="people")
        assert row.error_class == "data" and "Field 'score' holds" in row.message and "NULLIF" in row.message


def test_a_null_still_keeps_the_users_value(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, FILLER, table="email VARCHAR, first_name VARCHAR, score DOUBLE") as s:
        s.run()
        s.sql("UPDATE people SET score = NULL, first_name = 'Changed' WHERE email = 'user7@x.io'")
        assert s.run().status == "healthy"
        assert s.user("user7@x.io")["dataFields"] == {"firstName": "Changed", "score": 7}


@pytest.mark.parametrize("column, bad", [("seen", "'infinity'::TIMESTAMP"), ("seen", "'-infinity'::TIMESTAMP"),
                                         ("day", "'0044-03-15 (BC)'::DATE"), ("day", "'infinity'::DATE"),
                                         ("seen", "CAST('0044-03-15 (BC)'::DATE AS TIMESTAMP)")])
def test_a_date_no_destination_can_take_rejects_its_row_only(tmp_path, monkeypatch, column, bad):
    rows = [(f"user{i}@x.io", "2026-01-05 06:07:08", "2026-01-05") for i in range(30)]
    with people(tmp_path, monkeypatch, rows, table="email VARCHAR, seen TIMESTAMP, day DATE",
                mappings=(("seen", "seen"), ("day", "day"))) as s:
        s.sql(f"UPDATE people SET {column} = {bad} WHERE email = 'user4@x.io'")
        record = s.run()
        assert record.error is None and record.status == "warning"
        assert record.counts.outcome("synced") == 29 and s.rejections() == {"user4@x.io": "UnsendableValue"}
        assert s.user("user4@x.io") is None  # upsert: the row was not sent at all


def test_dates_at_the_edges_are_sent_with_four_digit_years(tmp_path, monkeypatch):
    rows = [("early@x.io", "0001-01-01 00:00:00", "0001-01-01"), ("late@x.io", "9999-12-31 23:59:59", "0999-03-04")]
    with people(tmp_path, monkeypatch, rows, table="email VARCHAR, seen TIMESTAMP, day DATE",
                mappings=(("seen", "seen"), ("day", "day"))) as s:
        assert s.run().status == "healthy"
        assert s.user("early@x.io")["dataFields"] == {"seen": "0001-01-01 00:00:00 +00:00", "day": "0001-01-01"}
        assert s.user("late@x.io")["dataFields"] == {"seen": "9999-12-31 23:59:59 +00:00", "day": "0999-03-04"}


@pytest.mark.parametrize("column_type, value, named", [("MAP(VARCHAR, INTEGER)", "MAP {'k': 1}", "MAP"),
                                                       ("BLOB", "'\\xAA\\x00'::BLOB", "BLOB"),
                                                       ("INTERVAL", "INTERVAL 3 DAY", "INTERVAL")])
def test_a_column_type_no_destination_takes_is_refused_naming_the_mapping(tmp_path, monkeypatch, column_type,
                                                                          value, named):
    with people(tmp_path, monkeypatch, [], table=f"email VARCHAR, extra {column_type}",
                mappings=(("extra", "extra"),)) as s:
        s.sql(f"INSERT INTO people VALUES ('a@x.io', {value})")
        mark = s.sandbox.last_request_id()
        record = s.run()
        assert record.status == "failed" and record.error_class == "config"
        assert "workspace.toml: syncs.people.mappings[0].column" in record.error
        assert f"is a {named}" in record.error and "convert it in the model" in record.error
        assert s.writes_since(mark) == []


@pytest.mark.parametrize("padding", ["\t", " ", "\t \n"])
def test_keys_and_emails_are_trimmed_of_tabs_and_line_breaks_as_of_spaces(tmp_path, monkeypatch, padding):
    with people(tmp_path, monkeypatch, [(f"{padding}al@x.io{padding}", "Al", 1)]) as s:
        record = s.run()
        assert record.status == "healthy" and record.counts.outcome("synced") == 1
        assert s.user("al@x.io")["dataFields"] == {"firstName": "Al", "score": 1}
        assert list(s.snapshot()) == ["al@x.io"]


def test_rows_with_other_keys_naming_one_user_by_email_are_a_data_cause(tmp_path, monkeypatch):
    """The key is a contact id, the match an email: two contacts with one email (in two spellings) are one user."""
    rows = [(i, f"user{i}@x.io", f"U{i}") for i in range(30)] + [(100, "Bob@Case.com", "Bob"), (101, " bob@case.com", "b")]
    with people(tmp_path, monkeypatch, rows, table="id INTEGER, email VARCHAR, first_name VARCHAR", primary_key="id",
                mappings=(("first_name", "firstName"),)) as s:
        record = s.run()
        assert record.counts.invalid == 2 and record.counts.outcome("synced") == 30
        assert s.rejections() == {"100": "SharedIdentifier", "101": "SharedIdentifier"}
        assert s.user("bob@case.com") is None  # upsert: neither row created the user


def test_keys_one_user_in_other_scripts_are_refused_together(tmp_path, monkeypatch):
    """Python and the JVM lower a final Σ to ς, DuckDB to σ: the two keys may be one user, so neither is sent."""
    with people(tmp_path, monkeypatch, FILLER + [("XΣ@x.io", "A", 1), ("xς@x.io", "B", 2)]) as s:
        record = s.run()
        assert record.counts.invalid == 2 and record.counts.outcome("synced") == 30
        assert s.rejections() == {"XΣ@x.io": "SharedIdentifier", "xς@x.io": "SharedIdentifier"}


def test_an_existing_user_spelled_in_another_script_is_found(tmp_path, monkeypatch):
    with people(tmp_path, monkeypatch, FILLER + [("XΣ@x.io", "A", 1)], mode="update") as s:
        s.create_users(*(r[0] for r in FILLER), "XΣ@x.io", firstName="p")
        record = s.run()
        assert record.status == "healthy" and s.rejections() == {}
        assert s.user("XΣ@x.io")["dataFields"]["firstName"] == "A"
