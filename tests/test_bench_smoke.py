"""A scaled-down run of the sync benchmark, so it keeps working (its figures are not judged here)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from bench_common import free_port, measured, stop, wait_for_http  # noqa: E402

BENCH = Path(__file__).parent.parent / "bench" / "sync_benchmark.py"


def test_sync_benchmark_runs_end_to_end_on_a_small_warehouse(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--contacts", "3000", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("the model's own query", "rerun with nothing changed / the model's query",
                 "rerun after 1% changed / the model's query", "peak RSS of the sync process",
                 "throughput under the real limit"):
        assert line in done.stdout
    assert "| full, limit off |" in done.stdout


RERUN_FLOOR = Path(__file__).parent.parent / "bench" / "rerun_floor.py"


def test_rerun_floor_benchmark_runs_each_variant_and_reports_both_ratios(tmp_path):
    """This checkout at the planner's bound and at another one; every rerun is a real `sync-core run` whose
    counts it reads, so a variant that fails stops the benchmark."""
    done = subprocess.run([sys.executable, str(RERUN_FLOOR), "--contacts", "3000", "--rounds", "1",
                           "--changed-rounds", "1", "--bounds", "1GB", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for row in ("| nothing changed | this checkout |", "| nothing changed | this checkout, planner bound 1GB |",
                "| 1% changed | this checkout |", "| 1% changed | this checkout, planner bound 1GB |"):
        assert row in done.stdout
    assert "the model's own query" in done.stdout


SNOWFLAKE_READ = Path(__file__).parent.parent / "bench" / "snowflake_read.py"


def test_snowflake_read_benchmark_runs_both_sources_on_a_small_warehouse(tmp_path):
    done = subprocess.run([sys.executable, str(SNOWFLAKE_READ), "--rows", "3000", "--runs", "1",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The model read, 3,000 rows" in done.stdout  # both sources read every row (else it exits non-zero)
    for line in ("| duckdb |", "| snowflake |", "Snowflake / DuckDB rows/s:", "Snowflake / DuckDB peak RSS:"):
        assert line in done.stdout


@pytest.mark.parametrize("script, edited, table_row", [
    ("reconcile_benchmark.py", "edited users the", "| sync run (full) |"),
    ("reconcile_events_benchmark.py", "edited events", "| events sync run (full) |"),
])
def test_reconcile_benchmarks_run_end_to_end_and_find_exactly_what_they_edited(tmp_path, script, edited, table_row):
    bench = Path(__file__).parent.parent / "bench" / script
    done = subprocess.run([sys.executable, str(bench), "--contacts", "2000", "--edited", "0.01", "--workdir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [found] = [line for line in done.stdout.splitlines() if line.startswith("- after the edits:")]
    differing, found_edited, edited_count = (int(n.replace(",", "")) for n in
                                             re.findall(rf"([\d,]+) (?:differing|of the|{edited})", found))
    assert differing == found_edited == edited_count > 0
    assert "clean: True" in done.stdout and table_row in done.stdout


PEER_BENCHMARK = Path(__file__).parent.parent / "bench" / "peer_benchmark.py"


def test_peer_benchmark_runs_sync_core_against_its_receiver_and_counts_every_row(tmp_path):
    """The peer benchmark without the peers (they need the network to install): sync-core's side, the
    receiver's count check and the measuring wrapper."""
    done = subprocess.run([sys.executable, str(PEER_BENCHMARK), "--rows", "2000", "--repeat", "1", "--tools",
                           "sync-core", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sync-core: " in done.stdout and "every row received once" in done.stdout
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| sync-core |")]
    assert row.split("|")[7].strip() == "2"  # 2,000 users in requests of 1,000


def test_key_state_apply_benchmark_reports_each_copy_it_made():
    done = subprocess.run([sys.executable, str(BENCH.parent / "key_state_apply.py"), "--refs", ".", "--keys", "3000",
                           "--rejected", "1000", "--rounds", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| . |")]
    assert row.rstrip(" |").endswith("2 of 2")


def test_peer_receiver_answers_bulk_update_as_iterable_and_counts_users():
    receiver = Path(__file__).parent.parent / "bench" / "peer_receiver.py"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, str(receiver), "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_for_http(f"{url}/_count", "the receiver", timeout=30, processes=[process], every=0.05)
        users = [{"email": "a@example.com", "dataFields": {"x": 1}}, {"email": "b@example.com"},
                 {"email": "a@example.com", "dataFields": {"x": 2}}]
        answer = requests.post(f"{url}/api/users/bulkUpdate", json={"users": users}, timeout=5)
        assert answer.status_code == 200
        body = answer.json()
        assert body["successCount"] == 3 and body["failCount"] == 0
        assert body["failedUpdates"]["notFoundEmails"] == [] and body["failedUpdates"]["invalidEmails"] == []
        refused = requests.post(f"{url}/api/users/bulkUpdate", data=b"not json", timeout=5)
        assert refused.status_code == 400 and refused.json()["code"] == "BadJsonBody"
        no_identifier = requests.post(f"{url}/api/users/bulkUpdate", json={"users": [{"dataFields": {}}]}, timeout=5)
        assert no_identifier.status_code == 400 and no_identifier.json()["code"] == "BadParams"
        assert requests.get(f"{url}/_count", timeout=5).json() == {"requests": 1, "users": 3, "distinct": 2}
        requests.post(f"{url}/_reset", timeout=5).raise_for_status()
        assert requests.get(f"{url}/_count", timeout=5).json() == {"requests": 0, "users": 0, "distinct": 0}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_measured_reports_the_childs_exit_code_output_and_its_own_peak_memory():
    """The wrapper measures the command, not the benchmark that starts it: a child holding 200 MB reports at
    least that, one holding nothing reports far less."""
    big = measured([sys.executable, "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
                    "print('held'); raise SystemExit(3)"], capture_output=True)
    small = measured([sys.executable, "-c", "pass"], capture_output=True)
    assert big.code == 3 and big.stdout.strip() == b"held"
    assert big.peak_mb >= 200 > small.peak_mb
    assert small.code == 0 and small.wall > 0


def test_waiting_for_a_server_stops_when_it_exits_and_stop_ends_a_process_that_ignores_the_signal():
    exits = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
    with pytest.raises(SystemExit, match="exited \\(code 5\\) before it answered"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", "the server", timeout=120, processes=[exits])
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                                 "while True: time.sleep(1)"], stdout=subprocess.PIPE, start_new_session=True)
    assert stubborn.stdout.readline().strip() == b"ready"  # its handler is in place
    stop(stubborn, sig=signal.SIGINT, timeout=1)
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()
