"""The Snowflake source over the wire: a real Snowpark session and the real connector talking HTTP to the
fakesnow emulator on loopback (sync_core/demo/snowflake_emulator.py); config errors named by file and key; the
connector's credential errors turned into run failures that say what to do, end to end with the sandbox."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from small_workspace import small_workspace
from sync_core.demo.snowflake_emulator import EXPIRED_PASSWORD, snowflake_emulator
from sync_core import ConfigError, ModelError, load_workspace
from sync_core.config import ModelConfig
from sync_core.sources import open_source
from sync_core.sources.snowflake_errors import Login, SnowflakeAccessError, explain

PASSWORD_VAR = "SNOWFLAKE_TEST_PASSWORD"


@pytest.fixture(scope="module")
def emulator():
    with snowflake_emulator() as em:
        yield em


def source_toml(emulator, database: str, **extra: str) -> str:
    return emulator.source_line(database, password_env=PASSWORD_VAR, **extra)


def workspace_with(tmp_path, monkeypatch, source_line: str, model_sql: str = "SELECT * FROM people"):
    monkeypatch.setenv(PASSWORD_VAR, "any-password")
    (tmp_path / "workspace.toml").write_text(f'''{source_line}
[models.people]
source = "wh"
sql = "{model_sql}"
primary_key = "email"
''')
    return load_workspace(tmp_path)


def model(sql: str) -> ModelConfig:
    return ModelConfig(name="people", source="wh", primary_key="email", entity="person", sql=sql)


# -- reading ---------------------------------------------------------------------------------------------------

def test_rows_arrive_in_batches_with_normalised_types_and_lowercase_names(emulator, tmp_path, monkeypatch):
    db = emulator.database([
        "CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0), AMOUNT NUMBER(10,2), SEEN TIMESTAMP_NTZ, "
        "PREFS VARIANT, VIP BOOLEAN)",
        "INSERT INTO PEOPLE SELECT 'p' || SEQ4() || '@x.io', SEQ4(), 1.50, '2026-01-05 06:00:00.123456', "
        "PARSE_JSON('{\"a\": [1, 2]}'), TRUE FROM TABLE(GENERATOR(ROWCOUNT => 250))"])
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, db))
    source = open_source(ws.sources["wh"], sync_id="people", run_id=7)
    m = model("SELECT * FROM people")
    assert source.schema(m) == pa.schema({"email": pa.string(), "score": pa.decimal128(38, 0),
                                          "amount": pa.decimal128(10, 2), "seen": pa.timestamp("us"),
                                          "prefs": pa.string(), "vip": pa.bool_()})
    batches = list(source.batches(m, rows_per_batch=100))
    # The emulator answers with one result chunk; the source still hands it over 100 rows at a time.
    assert [b.num_rows for b in batches] == [100, 100, 50]
    assert batches[0].slice(0, 1).to_pylist()[0]["prefs"] == '{"a":[1,2]}'
    assert batches[0].slice(0, 1).to_pylist()[0]["seen"].microsecond == 123456


def test_every_login_carries_the_query_tag_and_the_statement_timeout(emulator, tmp_path, monkeypatch):
    """The emulator does not apply QUERY_TAG or STATEMENT_TIMEOUT_IN_SECONDS, so this shows them sent: they
    are session parameters of the login, which Snowflake applies to every statement of the session."""
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR)"])
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, db, statement_timeout_seconds=120))
    before = len(emulator.logins)
    open_source(ws.sources["wh"], sync_id="people", run_id=42).schema(model("SELECT email FROM people"))
    [login] = emulator.logins[before:]
    assert login["LOGIN_NAME"] == "sync_user"
    params = login["SESSION_PARAMETERS"]
    assert json.loads(params["QUERY_TAG"]) == {"app": "sync-core", "sync": "people", "run": 42}
    assert params["STATEMENT_TIMEOUT_IN_SECONDS"] == 120


def test_the_planner_reads_the_stream_once_as_it_builds_its_table(emulator, tmp_path, monkeypatch):
    import duckdb
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, V VARIANT)",
                            "INSERT INTO PEOPLE SELECT 'a@x.io', PARSE_JSON('{\"k\": 1}')"])
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, db))
    con = duckdb.connect()
    with open_source(ws.sources["wh"]).scan(con, model("SELECT * FROM people")) as rows:
        assert con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()[1][:2] == ("v", "JSON")
        con.execute(f"CREATE TABLE t AS SELECT * FROM {rows}")
    assert con.execute("SELECT email, CAST(v AS VARCHAR) FROM t").fetchall() == [("a@x.io", '{"k":1}')]


def test_a_query_snowflake_refuses_names_the_model(emulator, tmp_path, monkeypatch):
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR)"])
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, db))
    with pytest.raises(ModelError, match="(?i)model .people.*query failed in Snowflake.*nope"):
        open_source(ws.sources["wh"]).schema(model("SELECT nope FROM people"))
    with pytest.raises(SnowflakeAccessError, match="model 'people' reads an object that does not exist"):
        open_source(ws.sources["wh"]).schema(model("SELECT * FROM missing_table"))
    with pytest.raises(ModelError, match="must be a query"):
        open_source(ws.sources["wh"]).schema(model("DELETE FROM people"))


# -- config ----------------------------------------------------------------------------------------------------

def test_a_connection_of_connections_toml_is_used_and_an_unknown_one_is_named(emulator, tmp_path, monkeypatch):
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR)", "INSERT INTO PEOPLE VALUES ('a@x.io')"])
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text(
        f'[emulated]\naccount = "fakesnow"\nuser = "from_toml"\npassword = "toml-secret-pw"\nhost = "{emulator.host}"\n'
        f'port = {emulator.port}\nprotocol = "http"\ndatabase = "{db}"\nschema = "S"\n')
    (home / "connections.toml").chmod(0o600)  # as the connector asks (a readable one is warned about)
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    ws = workspace_with(tmp_path, monkeypatch, 'sources.wh = { type = "snowflake", connection = "emulated" }')
    before = len(emulator.logins)
    assert [b.num_rows for b in open_source(ws.sources["wh"]).batches(model("SELECT * FROM people"))] == [1]
    assert emulator.logins[before]["LOGIN_NAME"] == "from_toml"

    ws = workspace_with(tmp_path, monkeypatch, 'sources.wh = { type = "snowflake", connection = "prod" }')
    with pytest.raises(ConfigError) as err:
        open_source(ws.sources["wh"]).schema(model("SELECT * FROM people"))
    assert err.value.key == "sources.wh.connection" and err.value.file == str(tmp_path / "workspace.toml")
    assert "no connection 'prod'" in str(err.value) and "emulated" in str(err.value)


def test_an_unset_secret_is_named_by_its_key(emulator, tmp_path, monkeypatch):
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, "DB"))
    monkeypatch.delenv(PASSWORD_VAR)
    with pytest.raises(ConfigError) as err:
        open_source(ws.sources["wh"]).schema(model("SELECT 1 AS email"))
    assert err.value.key == "sources.wh.password" and PASSWORD_VAR in str(err.value)


@pytest.mark.parametrize("line, key, words", [
    ('sources.wh = { type = "snowflake", user = "u", password = "env:X" }', "sources.wh.account", "is required"),
    ('sources.wh = { type = "snowflake", account = "a", password = "env:X" }', "sources.wh.user", "is required"),
    ('sources.wh = { type = "snowflake", account = "a", user = "u" }', "sources.wh.password", "private_key_file"),
    ('sources.wh = { type = "snowflake", account = "a", user = "u", password = "hunter22" }', "sources.wh.password",
     "literal secret"),
    ('sources.wh = { type = "snowflake", account = "a", user = "u", password = "env:X", private_key = "env:K" }',
     "sources.wh.private_key", "one way to log in"),
    ('sources.wh = { type = "snowflake", account = "a", user = "u", password = "env:X", '
     'statement_timeout_seconds = 0 }', "sources.wh.statement_timeout_seconds", "at least 1"),
    ('sources.wh = { type = "snowflake", connection = "c", warehous = "w" }', "sources.wh.warehous", "warehouse"),
])
def test_bad_snowflake_settings_name_the_file_and_key(tmp_path, monkeypatch, line, key, words):
    with pytest.raises(ConfigError) as err:
        workspace_with(tmp_path, monkeypatch, line)
    assert err.value.key == key and words in str(err.value), str(err.value)
    assert "hunter22" not in str(err.value)


# -- credential health -----------------------------------------------------------------------------------------

LOGIN = Login("wh", "acme-prod", "SYNC_USER", "SYNC_ROLE", "SYNC_WH", "ANALYTICS",
              "the secret `env:SNOWFLAKE_PASSWORD`")


def connector_error(cls, errno: int, message: str, sqlstate: str = "08004"):
    """The connector's exception as it raises it for a refused login (its message prefix included)."""
    return cls(msg=f"Failed to connect to DB: acme-prod.snowflakecomputing.com:443. {message}", errno=errno,
               sqlstate=sqlstate)


@pytest.mark.parametrize("error, kind, words", [
    (connector_error(DatabaseError, 390106, EXPIRED_PASSWORD[1]), "password_expired",
     ["The Snowflake password of user SYNC_USER has expired (Snowflake changes it every 90 days). Log in as "
      "SYNC_USER in Snowsight, set a new password, then update the secret `env:SNOWFLAKE_PASSWORD`."]),
    # the same words under another code: matched on the message too
    (connector_error(DatabaseError, 250001, EXPIRED_PASSWORD[1]), "password_expired", ["has expired"]),
    (connector_error(DatabaseError, 390100, "Incorrect username or password was specified."), "wrong_password",
     ["refused the user name or password of user SYNC_USER", "env:SNOWFLAKE_PASSWORD", "lock"]),
    (connector_error(DatabaseError, 250001, "Your user account has been temporarily locked due to too many "
                                            "failed attempts."), "user_locked", ["locked user SYNC_USER",
                                                                                  "MINS_TO_UNLOCK"]),
    (connector_error(DatabaseError, 390144, "JWT token is invalid."), "key_refused",
     ["key-pair login of user SYNC_USER", "RSA_PUBLIC_KEY_FP"]),
    (connector_error(DatabaseError, 394304, "JWT token has expired."), "key_refused", ["key-pair"]),
    (connector_error(DatabaseError, 390318, "OAuth access token expired. [1234]"), "oauth_expired",
     ["OAuth token of user SYNC_USER", "expired"]),
    (OperationalError(msg="Could not connect to Snowflake backend after 2 attempt(s).Aborting", errno=250001),
     "unreachable", ["Cannot reach Snowflake account acme-prod", "account identifier"]),
    (ProgrammingError(msg="SQL compilation error:\nObject 'ANALYTICS.PUBLIC.PEOPLE' does not exist or not "
                          "authorized.", errno=2003, sqlstate="42S02"), "no_object",
     ["does not exist, or role SYNC_ROLE of user SYNC_USER may not read it", "GRANT SELECT"]),
    (ProgrammingError(msg="No active warehouse selected in the current session.  Select an active warehouse with "
                          "the 'use warehouse' command.", errno=606, sqlstate="57P03"), "no_warehouse",
     ["warehouse SYNC_WH does not exist", "GRANT USAGE ON WAREHOUSE"]),
    (connector_error(DatabaseError, 390201, "The requested database does not exist or not authorized."),
     "no_database", ["Database ANALYTICS does not exist", "GRANT USAGE ON DATABASE"]),
])
def test_the_connectors_errors_say_what_happened_and_what_to_do(error, kind, words):
    explained = explain(error, LOGIN)
    assert isinstance(explained, SnowflakeAccessError) and explained.error_class == "config"
    assert explained.kind == kind
    for w in words:
        assert w in str(explained), str(explained)


def test_an_expired_password_fails_the_run_sends_nothing_and_the_next_run_after_the_fix_proceeds(
        emulator, tmp_path, monkeypatch):
    """The emulator refuses the login as Snowflake does (its code and message, over HTTP): the real connector
    raises its own exception, and the run records it."""
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR, SCORE NUMBER(38,0))",
                            "INSERT INTO PEOPLE VALUES ('a@x.io', 1), ('b@x.io', 2)"])
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "old-password-1")
    with small_workspace(tmp_path, monkeypatch, table="email VARCHAR, score BIGINT", rows=[], mode="upsert",
                         mappings=[("score", "score")]) as s:
        toml = s.root / "workspace.toml"
        line = source_toml(emulator, db, password="env:SNOWFLAKE_PASSWORD", user="SYNC_USER")
        toml.write_text(re.sub(r"^sources\.wh = .*$", line, toml.read_text(), flags=re.M))
        first = s.run()
        assert first.status == "healthy" and first.counts.outcome("synced") == 2
        snapshot = s.snapshot()
        emulator.sql(db, "UPDATE PEOPLE SET SCORE = 5 WHERE EMAIL = 'a@x.io'")
        last_request = s.sandbox.requests()[-1]["id"]

        with emulator.refuse_logins(*EXPIRED_PASSWORD):
            failed = s.run()
        assert failed.status == "failed" and failed.error_class == "config"
        assert ("The Snowflake password of user SYNC_USER has expired (Snowflake changes it every 90 days). Log in "
                "as SYNC_USER in Snowsight, set a new password, then update the secret `env:SNOWFLAKE_PASSWORD`."
                in failed.error)
        assert "old-password-1" not in failed.error
        assert s.writes_since(last_request) == [] and s.snapshot() == snapshot

        monkeypatch.setenv("SNOWFLAKE_PASSWORD", "new-password-2")  # the fix: a new password in the secret
        fixed = s.run()
        assert fixed.status == "healthy" and fixed.error is None
        assert fixed.counts.operation("changed") == 1 and fixed.counts.outcome("synced") == 1
        assert s.user("a@x.io")["dataFields"]["score"] == 5


def test_a_snowflake_that_stops_answering_fails_the_read_naming_it_instead_of_hanging(emulator, tmp_path,
                                                                                     monkeypatch):
    """The connector retries an unanswered request for ever unless given a network timeout: without one, a run
    (and at exit its process) waited on a vanished Snowflake with no end."""
    db = emulator.database(["CREATE TABLE PEOPLE (EMAIL VARCHAR)"])
    ws = workspace_with(tmp_path, monkeypatch, source_toml(emulator, db, network_timeout_seconds=2))
    with emulator.unanswering(), pytest.raises(SnowflakeAccessError) as failed:
        open_source(ws.sources["wh"]).schema(model("SELECT email FROM people"))
    assert failed.value.error_class == "transient"
    assert "server error (290503: HTTP 503: Service Unavailable)" in str(failed.value)
    assert "The next run tries again." in str(failed.value)
