"""A demo workspace with three simulated days of history (built once per session), and for each run the numbers
the dashboard must show, computed independently: from the warehouse and the sandbox as they stood at run time."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from sync_core import load_workspace, run_sync
from sync_core.clock import OffsetClock
from sync_core.demo.workspace import SANDBOX_PROJECT, advance_demo, history_period_start_day, init_demo
from sync_core.sandbox import IterableSandbox, IterableState

APP = str(Path(__file__).resolve().parents[2] / "app.py")
CONTACTS = 1_500
DAYS = 3
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CONTACTS_KEYS = """
    SELECT email FROM (
        SELECT c.email, c.user_id, c.first_name, c.last_name, c.company, c.job_title, c.country,
               c.lifecycle_stage, c.lead_score, c.annual_revenue, c.email_opt_in, c.created_at,
               c.lifecycle_stage = 'customer' AS is_customer, COUNT(DISTINCT m.namespace_id) AS namespace_count
        FROM marketing_contacts c LEFT JOIN namespace_members m ON m.user_id = c.user_id
        WHERE c.deleted_at IS NULL GROUP BY ALL)"""  # the contacts model's rows, one per contact
FIRST_NAMESPACE_KEYS = """
    SELECT c.email, c.user_id FROM marketing_contacts c JOIN namespaces n ON n.created_by_user_id = c.user_id
    WHERE c.deleted_at IS NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1"""


@dataclass
class Expectation:
    """What one run must show, from sources other than the state store's run record."""
    sync_id: str
    expected: int                      # valid keys whose person the sandbox did not hold at run time
    expected_keys: set[str]
    expected_identifiers: set[str]     # what the sync would have sent for them: emails, or user ids
    real_from_warehouse: int | None    # null and duplicate keys plus malformed emails (the email-keyed sync)
    first_request_id: int              # the sandbox's request log for this run: ids in (first, last]
    last_request_id: int = 0
    invalid_rows: int = 0              # model rows whose key is null, empty or duplicated


@dataclass
class History:
    root: Path
    runs: dict[int, Expectation] = field(default_factory=dict)

    @property
    def workspace(self):
        return load_workspace(self.root)

    def state_sql(self, sql: str, args=()) -> list[tuple]:
        """Independent SQL over the state store (read-only)."""
        with sqlite3.connect(f"file:{self.root / '.sync-state' / 'state.sqlite'}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()

    def invalid_rows_now(self, sync_id: str | None = None) -> int:
        """Null, empty and duplicated keys in each sync's latest run, from the warehouse as it stood then."""
        latest = {e.sync_id: e for _, e in sorted(self.runs.items())}
        return sum(e.invalid_rows for s, e in latest.items() if sync_id in (None, s))

    def new_problems(self, run_id: int) -> int | None:
        """Rows with data problems a run found beyond the sync's previous run (None for its first), by SQL:
        rejections not repeated for the same cause, and invalid keys beyond the previous run's, cause by cause."""
        [(sync_id, counts, standing)] = self.state_sql("SELECT sync_id, counts, standing FROM runs WHERE id = ?",
                                                       (run_id,))
        [(previous,)] = self.state_sql("SELECT MAX(id) FROM runs WHERE sync_id = ? AND id < ?", (sync_id, run_id))
        if previous is None:
            return None
        invalid = {r: dict(self.state_sql("SELECT cause_id, rows FROM run_causes WHERE run_id = ? AND "
                                          "outcome = 'invalid'", (r,))) for r in (run_id, previous)}
        beyond = sum(max(0, n - invalid[previous].get(cause, 0)) for cause, n in invalid[run_id].items())
        return json.loads(counts)["rejected_other"] - json.loads(standing)["repeated_other"] + beyond

    def write_endpoint(self, run_id: int) -> str:
        """The sandbox endpoint a run's sync writes to: trackBulk for the events sync, else bulkUpdate."""
        return "events/trackBulk" if self.workspace.syncs[self.runs[run_id].sync_id].object == "event" \
            else "users/bulkUpdate"

    def sandbox_requests(self, run_id: int, endpoint: str) -> list[dict]:
        e = self.runs[run_id]
        return [r for r in IterableState(self.root / "sandbox" / "iterable.sqlite").requests(
            endpoint=endpoint, since_id=e.first_request_id) if r["id"] <= e.last_request_id]


def _warehouse(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _expectation(root: Path, sync_id: str, sandbox: IterableState) -> Expectation:
    users = sandbox.users(SANDBOX_PROJECT)
    mark = sandbox.last_request_id()
    if sync_id == "iterable-production":
        emails = [e for (e,) in _warehouse(root, CONTACTS_KEYS)]
        counts: dict = {}
        for e in emails:
            counts[e] = counts.get(e, 0) + 1
        unique = {e for e, n in counts.items() if e and e.strip() and n == 1}
        valid = {e for e in unique if re.match(EMAIL, e)}
        known = {u["email"] for u in users}
        missing = valid - known
        nulls = sum(1 for e in emails if e is None or not e.strip())
        duplicate_rows = sum(n for e, n in counts.items() if e and e.strip() and n > 1)
        return Expectation(sync_id, len(missing), missing, missing, nulls + duplicate_rows + len(unique - valid), mark,
                           invalid_rows=nulls + duplicate_rows)
    rows = _warehouse(root, FIRST_NAMESPACE_KEYS)
    counts = {}
    for email, _ in rows:
        counts[email] = counts.get(email, 0) + 1
    known_ids = {u["userId"] for u in users}
    missing = {(email, uid) for email, uid in rows if email and counts[email] == 1 and uid not in known_ids}
    invalid = sum(n for e, n in counts.items() if not (e and e.strip()) or n > 1)
    return Expectation(sync_id, len(missing), {e for e, _ in missing}, {u for _, u in missing}, None, mark,
                       invalid_rows=invalid)


@pytest.fixture(scope="session")
def history(tmp_path_factory) -> History:
    """Three simulated days (ending today) of the demo's three syncs, against a sandbox without rate limits: the
    dashboard is under test here, not the limits."""
    root = tmp_path_factory.mktemp("history") / "ws"
    state_file = root / "sandbox" / "iterable.sqlite"
    state_file.parent.mkdir(parents=True)
    built = History(root)
    with IterableSandbox(state_file, port=0, rate_limits=False) as server:
        # The seed's Iterable syncs (not the segment's list: the tests count each sync's data problems); its billing
        # period starts on the history's first day, as `sync-core up` has it, so the MQR forecast has every day
        init_demo(root, contacts=CONTACTS, sandbox_port=server.port, marketo=False, segment=False,
                  billing_period_start_day=history_period_start_day(DAYS))
        workspace = load_workspace(root)
        sandbox = IterableState(state_file)
        for day in range(DAYS):
            if day:
                advance_demo(workspace)
            clock = OffsetClock(-(DAYS - 1 - day) * 86_400)
            for sync_id in workspace.syncs:
                expectation = _expectation(root, sync_id, sandbox)
                record = run_sync(workspace, sync_id, trigger="test", dated=clock)
                expectation.last_request_id = sandbox.last_request_id()
                built.runs[record.id] = expectation
    return built


@pytest.fixture
def open_app(monkeypatch):
    """open_app(root, page=None, **query): the app on `root`, on a page (a file under pages/; Run history by
    default), with query parameters as a deep link sets them."""
    def open_(root, page: str | None = None, **query) -> AppTest:
        monkeypatch.setenv("SYNC_CORE_WORKSPACE", str(root))
        at = AppTest.from_file(APP, default_timeout=60).run()
        for name, value in query.items():
            at.query_params[name] = str(value)
        at.switch_page(page or "pages/runs.py").run()  # Run history unless asked (the app opens on Overview)
        assert not at.exception, [e.value for e in at.exception]
        return at
    return open_


def assert_clean(at: AppTest) -> None:
    """No exception element and no error box: the page rendered as intended."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def clean():
    return assert_clean
