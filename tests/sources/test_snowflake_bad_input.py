"""Bad input on the Snowflake source: a column type the boundary does not normalise, a key that is NUMBER in
Snowflake and text in the snapshot, a model returning no rows, and a connections.toml others can read. Over the
real wire (Snowpark and the connector against the emulator on loopback) wherever the emulator can show it."""

from __future__ import annotations

import re
import warnings

import pytest
from snowflake.snowpark import types as T

from small_workspace import small_workspace
from sync_core import ModelError, load_workspace
from sync_core.config import ModelConfig
from sync_core.demo.snowflake_emulator import snowflake_emulator
from sync_core.sources import open_source
from sync_core.sources.snowflake_source import ConnectionsFileReadable
from sync_core.sources.snowflake_types import UnreadableType, shape

PASSWORD_VAR = "SNOWFLAKE_BAD_INPUT_PASSWORD"


@pytest.fixture(scope="module")
def emulator():
    with snowflake_emulator() as em:
        yield em


def point_at_snowflake(s, emulator, database: str, monkeypatch) -> None:
    """The small workspace's source `wh`, moved from its DuckDB file to the emulator's database."""
    monkeypatch.setenv(PASSWORD_VAR, "any-password")
    toml = s.root / "workspace.toml"
    line = (f'sources.wh = {{ type = "snowflake", account = "fakesnow", user = "u", password = "env:{PASSWORD_VAR}", '
            f'host = "{emulator.host}", port = {emulator.port}, protocol = "http", database = "{database}", '
            'schema = "S" }')
    toml.write_text(re.sub(r"^sources\.wh = .*$", line, toml.read_text(), flags=re.M))


# -- a column type the planner has never seen ------------------------------------------------------------------

@pytest.mark.parametrize("datatype, shown", [(T.VectorType(int, 3), "VECTOR"),
                                             (T.DayTimeIntervalType(), "INTERVAL"),
                                             (T.FileType(), "FILE")])
def test_a_type_the_boundary_does_not_normalise_is_refused_naming_the_column_and_the_cast(datatype, shown):
    struct = T.StructType([T.StructField("EMAIL", T.StringType()), T.StructField("EMBEDDING", datatype)])
    with pytest.raises(UnreadableType) as err:
        shape(struct)
    assert err.value.column == "embedding" and shown in str(err.value) and "TO_VARCHAR(embedding)" in str(err.value)


def test_a_model_returning_such_a_type_fails_as_a_model_error_naming_model_and_column(tmp_path, monkeypatch):
    """The emulator describes none of these types (it fails on VECTOR and INTERVAL itself), so the session here
    answers the description a Snowflake session would give; the rest is the source's own code."""
    monkeypatch.setenv(PASSWORD_VAR, "x")
    (tmp_path / "workspace.toml").write_text(
        f'sources.wh = {{ type = "snowflake", account = "a", user = "u", password = "env:{PASSWORD_VAR}" }}\n')
    source = open_source(load_workspace(tmp_path).sources["wh"])
    described = T.StructType([T.StructField("EMAIL", T.StringType()), T.StructField("EMBEDDING", T.VectorType(int, 3))])

    class DescribedSession:
        def sql(self, query):
            return type("Frame", (), {"schema": described})()

    model = ModelConfig(name="people", source="wh", primary_key="email", entity="person", sql="SELECT * FROM people")
    with pytest.raises(ModelError) as err:
        source._shape(DescribedSession(), model)
    assert "model 'people' (source 'wh')" in str(err.value) and "column 'embedding'" in str(err.value)
    assert "VECTOR" in str(err.value) and "cast it in the model's SQL" in str(err.value)


# -- a key that is NUMBER in Snowflake and text in the snapshot ------------------------------------------------

def test_a_number_key_matches_the_snapshot_written_from_duckdb_and_from_snowflake(emulator, tmp_path, monkeypatch):
    """The snapshot keeps keys as text. A NUMBER(38,0) key from Snowflake must give the text a BIGINT key gave on
    DuckDB ("7", never "7.0" or "0007"): else every row would be sent again as added and the old ones removed."""
    rows = [(7, "a@x.io", 10), (9007199254740993, "b@x.io", 20)]
    with small_workspace(tmp_path, monkeypatch, table="uid BIGINT, email VARCHAR, score BIGINT", rows=rows,
                         mappings=[("score", "score")], mode="upsert", primary_key="uid") as s:
        first = s.run()
        assert first.counts.outcome("synced") == 2
        snapshot = s.snapshot()
        assert sorted(snapshot) == ["7", "9007199254740993"]
        db = emulator.database(["CREATE TABLE PEOPLE (UID NUMBER(38,0), EMAIL VARCHAR, SCORE NUMBER(38,0))",
                                "INSERT INTO PEOPLE VALUES (7, 'a@x.io', 10), (9007199254740993, 'b@x.io', 20)"])
        point_at_snowflake(s, emulator, db, monkeypatch)
        last_request = s.sandbox.requests()[-1]["id"]

        again = s.run()
        c = again.counts
        assert (c.unchanged, c.operation("added"), c.operation("removed"), c.operation("changed")) == (2, 0, 0, 0)
        assert s.snapshot() == snapshot and s.writes_since(last_request) == []

        emulator.sql(db, "UPDATE PEOPLE SET SCORE = 11 WHERE UID = 7")
        changed = s.run()
        assert changed.counts.operation("changed") == 1 and changed.counts.operation("added") == 0
        assert s.user("a@x.io")["dataFields"]["score"] == 11


# -- no rows ---------------------------------------------------------------------------------------------------

def test_a_model_returning_no_rows_is_blocked_by_the_guard_and_changes_nothing(emulator, tmp_path, monkeypatch):
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0))",
                            "INSERT INTO PEOPLE VALUES ('a@x.io', 1), ('b@x.io', 2)"])
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=[], mode="upsert",
                         mappings=[("score", "score")]) as s:
        point_at_snowflake(s, emulator, db, monkeypatch)
        assert s.run().counts.outcome("synced") == 2
        snapshot, last_request = s.snapshot(), s.sandbox.requests()[-1]["id"]

        emulator.sql(db, "DELETE FROM PEOPLE")
        blocked = s.run()
        assert blocked.status == "blocked" and "the model returned no rows" in blocked.error
        assert "Nothing was sent or recorded" in blocked.error and "--allow-removals" in blocked.error
        assert s.snapshot() == snapshot and s.writes_since(last_request) == []

        accepted = s.run(allow_removals=True)  # the user says the empty model is right
        assert accepted.counts.queried == 0 and accepted.counts.operation("removed") == 2
        assert s.snapshot() == {} and s.writes_since(last_request) == []  # nothing is deleted in Iterable


def test_a_first_run_on_an_empty_model_reads_its_columns_and_sends_nothing(emulator, tmp_path, monkeypatch):
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0))"])
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=[], mode="upsert",
                         mappings=[("score", "score")]) as s:
        point_at_snowflake(s, emulator, db, monkeypatch)
        record = s.run()
        assert record.error is None and record.counts.queried == 0 and record.counts.planned == 0
        assert s.sandbox.requests(endpoint="users/bulkUpdate") == []


# -- a connections.toml readable by others ---------------------------------------------------------------------

def test_a_connections_toml_readable_by_others_is_warned_about_with_the_chmod(emulator, tmp_path, monkeypatch):
    home = tmp_path / "sfhome"
    home.mkdir()
    path = home / "connections.toml"
    path.write_text(f'[emulated]\naccount = "fakesnow"\nuser = "u"\npassword = "toml-secret-pw"\n'
                    f'host = "{emulator.host}"\nport = {emulator.port}\nprotocol = "http"\n')
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    (tmp_path / "workspace.toml").write_text('sources.wh = { type = "snowflake", connection = "emulated" }\n')
    source = open_source(load_workspace(tmp_path).sources["wh"])

    path.chmod(0o644)
    with pytest.warns(ConnectionsFileReadable) as caught:
        options, _ = source.session_options()
    message = str(caught[0].message)
    assert str(path) in message and f"chmod 0600 {path}" in message and "'emulated'" in message
    assert "toml-secret-pw" not in message and options["password"] == "toml-secret-pw"

    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectionsFileReadable)
        source.session_options()
