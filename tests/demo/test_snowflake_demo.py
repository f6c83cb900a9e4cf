"""The Snowflake demo path: `demo init --source snowflake` writes a workspace whose models read the demo warehouse
through Snowpark from the local emulator, and its syncs run end to end into the Iterable sandbox with the same
counts and snapshot as the DuckDB demo over the same warehouse, a simulated day later too. Without the emulator
installed, the Snowflake demo says how to install it and the DuckDB demo still works."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from demo_helpers import sandbox_port
from sync_core import StateStore, load_workspace, run_sync
from sync_core.demo.snowflake_emulator import snowflake_emulator
from sync_core.demo.workspace import advance_demo, init_demo
from sync_core.sandbox import IterableSandbox
from sync_core.secrets import SECRETS_FILE

CONTACTS = 1_500
SYNCS = ("iterable-production", "iterable-first-namespace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def demo(root: Path, **init):
    """A demo workspace and its sandbox on a free port (its own key, so its exports count apart)."""
    (root / "sandbox").mkdir(parents=True)
    with IterableSandbox(root / "sandbox" / "iterable.sqlite", port=0, rate_limits=False) as server:
        init_demo(root, contacts=CONTACTS, sandbox_port=server.port, **init)
        yield load_workspace(root)


def snapshot(workspace, sync_id: str) -> dict[str, str]:
    with StateStore(workspace.state_path) as store:
        return {r["key"]: r["row_hash"] for r in store.snapshot_table(sync_id).to_pylist()}


def run_all(workspace) -> dict[str, tuple]:
    """Each sync once: its status, counts and snapshot (key -> row hash)."""
    out = {}
    for sync_id in SYNCS:
        record = run_sync(workspace, sync_id, trigger="test")
        assert record.error is None, record.error
        out[sync_id] = (record.status, record.counts.as_dict(), snapshot(workspace, sync_id))
    return out


def test_the_snowflake_demo_syncs_through_snowpark_as_the_duckdb_demo_does(tmp_path):
    with demo(tmp_path / "duck") as on_duckdb:
        duckdb_days = [run_all(on_duckdb)]
        advance_demo(on_duckdb)
        duckdb_days.append(run_all(on_duckdb))

    port = free_port()
    with demo(tmp_path / "snow", source="snowflake", emulator_port=port) as on_snowflake:
        settings = on_snowflake.snowflake_emulator
        assert on_snowflake.sources["warehouse"].type == "snowflake"
        assert (settings.source, settings.port, settings.database, settings.schema) == \
            ("warehouse", port, "DEMO", "MARKETING")
        text = (tmp_path / "snow" / "workspace.toml").read_text()
        assert 'password = "secrets:snowflake.password"' in text  # the password itself is in secrets.toml only
        password = settings.password.resolve(on_snowflake.root)
        assert password not in text and password in (tmp_path / "snow" / SECRETS_FILE).read_text()

        with snowflake_emulator(password=password, port=port) as emulator:
            counts = emulator.load(settings.load, settings.database, settings.schema)
            assert counts["MARKETING_CONTACTS"] == CONTACTS
            logins = len(emulator.logins)
            snowflake_days = [run_all(on_snowflake)]
            advance_demo(on_snowflake)  # the warehouse file moves a day; the emulator is asked to load it again
            snowflake_days.append(run_all(on_snowflake))
            # Every run read through Snowpark over the wire, as user SYNC_CORE, its query tagged with the sync.
            tags = [json.loads(login["SESSION_PARAMETERS"]["QUERY_TAG"]) for login in emulator.logins[logins:]]
            assert {t["sync"] for t in tags} == set(SYNCS)
            assert {login["LOGIN_NAME"] for login in emulator.logins[logins:]} == {"SYNC_CORE"}

            # The emulator checks the demo's password, so the secret reference is really used.
            secrets_file = tmp_path / "snow" / SECRETS_FILE
            secrets_file.write_text(secrets_file.read_text().replace(password, "not-the-password"))
            refused = run_sync(on_snowflake, "iterable-production", trigger="test")
            assert refused.status == "failed" and refused.error_class == "config"
            assert "refused the user name or password of user SYNC_CORE" in refused.error
            assert "secrets:snowflake.password" in refused.error

    for day, (duck, snow) in enumerate(zip(duckdb_days, snowflake_days)):
        for sync_id in SYNCS:
            assert snow[sync_id] == duck[sync_id], (day, sync_id)
    # Not trivially equal: rows were synced, and the second day changed some.
    first, second = snowflake_days
    assert first["iterable-production"][1]["synced"] > 500 and second["iterable-production"][1]["changed"] > 0
    assert len(first["iterable-first-namespace"][2]) > 500


BLOCKED = ("import sys; sys.modules['fakesnow'] = None; from sync_core.cli import main; "
           "sys.exit(main(sys.argv[1:]))")  # a Python in which fakesnow is not installed


def cli_without_fakesnow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True, text=True, timeout=120)


def test_without_the_emulator_the_snowflake_demo_says_how_to_install_it_and_the_duckdb_demo_works(tmp_path):
    done = cli_without_fakesnow("demo", "init", str(tmp_path / "snow"), "--source", "snowflake")
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'pip install -e ".[snowflake-demo]"' in done.stderr and "Snowflake demo" in done.stderr
    assert not (tmp_path / "snow" / "workspace.toml").exists()

    done = cli_without_fakesnow("-w", str(tmp_path / "up"), "up", "--snowflake", "--port", str(free_port()),
                                "--sandbox-port", str(sandbox_port()), "--snowflake-port", str(free_port()))
    assert done.returncode == 2 and 'pip install -e ".[snowflake-demo]"' in done.stderr, done.stderr
    assert not (tmp_path / "up" / "workspace.toml").exists()

    done = cli_without_fakesnow("demo", "init", str(tmp_path / "duck"), "--contacts", "200")
    assert done.returncode == 0, done.stderr
    assert load_workspace(tmp_path / "duck").sources["warehouse"].type == "duckdb"


def test_the_default_demo_never_imports_the_emulator_nor_snowpark():
    """`sync-core up` on DuckDB starts as fast as before: neither is imported by the CLI or the launcher."""
    code = ("import sys, sync_core.cli, sync_core.launcher, sync_core.demo.workspace; "
            "print(sorted(m for m in ('fakesnow', 'snowflake.snowpark', 'uvicorn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("line, words", [
    ('[snowflake_emulator]\nsource = "nope"\nload = "w.duckdb"', 'must name a source of type "snowflake"'),
    ('[snowflake_emulator]\nsource = "wh"\nload = "w.duckdb"\nport = 1', "unknown key"),
])
def test_a_bad_emulator_section_names_the_file_and_key(tmp_path, line, words):
    from sync_core import ConfigError
    (tmp_path / "workspace.toml").write_text(
        'sources.wh = { type = "snowflake", account = "a", user = "u", password = "env:X", host = "127.0.0.1", '
        'port = 9, protocol = "http", database = "D", schema = "S" }\n' + line + "\n")
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert err.value.file == str(tmp_path / "workspace.toml") and err.value.key.startswith("snowflake_emulator.")
    assert words in str(err.value)
