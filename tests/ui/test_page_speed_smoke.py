"""bench/page_speed.py, scaled down: its generator writes a consistent history through the store's API, and every
page it times renders that history (the full benchmark is not part of CI; see docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

from sync_core import invariant_violations

BENCH = Path(__file__).resolve().parents[2] / "bench" / "page_speed.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("page_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["page_speed"] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_page_speed_benchmark_at_small_scale(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))  # as `python bench/page_speed.py` has it: bench_common
    bench = load_bench()
    assert bench.main(["--contacts", "3000", "--days", "100", "--runs", "1", "--budget", "2",
                       "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Every page under 2 s (cold median): yes" in out and out.count("| Failed rows") == 5

    with sqlite3.connect(tmp_path / "ws-3000-100" / ".sync-state" / "state.sqlite") as db:
        runs = db.execute("SELECT sync_id, status, counts FROM runs").fetchall()
        assert len(runs) == 4 * 100 and {s for s, *_ in runs} == {m.id for m in bench.SYNCS}
        assert {st for _, st, _ in runs} == {"warning", "failed"}  # the password expired on day 45
        assert all(invariant_violations(json.loads(c)) == [] for _, st, c in runs if st != "failed")
        # the rejection state matches the last run of each sync: its not-found count per cause
        for sync_id, in_state, in_run in db.execute(
                "SELECT r.sync_id, COUNT(*), (SELECT rc.rows FROM run_causes rc WHERE rc.cause_id = r.cause_id AND "
                "rc.run_id = (SELECT MAX(id) FROM runs WHERE sync_id = r.sync_id)) FROM rejections r JOIN causes c "
                "ON c.id = r.cause_id WHERE c.error_class = 'expected' GROUP BY r.sync_id, r.cause_id"):
            assert in_state == in_run, sync_id
