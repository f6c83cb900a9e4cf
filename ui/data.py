"""The dashboard's data access: sync_core.history and the state store's read methods, never SQL.

Answers are cached per change of the data they show (history.change_stamp: runs, their progress, bulk state),
so a finished run shows on the next rerun, while a worker's heartbeat (every 5 s) or an alert check, which
change the file but no report, leave every answer cached: a new tab re-queries nothing (on a year of history the
MQR report alone takes seconds). The stamp itself is read only when the SQLite file or its WAL changed (size
and mtime). The TTL bounds memory, and how long anything the stamp does not cover can stay stale. Cached
functions take the state file's path, not the Workspace, so that the cache key stays small and exact.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import streamlit as st

from sync_core import RejectionRecord, RunRecord, StateStore, Workspace, history, invariant_violations
from sync_core.credential_age import credential_ages
from sync_core.destinations.marketo.quota import DailyQuota, daily_quotas
from sync_core.mqr_report import MqrReport
from sync_core.mqr_report import mqr_report as reports_mqr

TTL_SECONDS = 60
ROWS_SHOWN = 500  # a cause's rows listed on the page; the CSV has them all


def state_version(workspace: Workspace) -> tuple[int, ...]:
    stamp: list[int] = []
    for suffix in ("", "-wal"):
        try:
            stat = Path(str(workspace.state_path) + suffix).stat()
            stamp += [stat.st_mtime_ns, stat.st_size]
        except FileNotFoundError:
            stamp += [0, 0]
    return tuple(stamp)


def _key(workspace: Workspace) -> tuple[str, tuple]:
    path = str(workspace.state_path)
    return path, _data_version(path, state_version(workspace))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _data_version(path: str, file_version: tuple[int, ...]) -> tuple:
    """The data's change stamp, read again only when the file changed; a missing file has none."""
    if not Path(path).exists():
        return file_version
    with StateStore(path, read_only=True) as store:
        return history.change_stamp(store)


# ---- runs ---------------------------------------------------------------------------------------------------


def facets(workspace: Workspace) -> history.Facets:
    return _facets(*_key(workspace))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _facets(path: str, version) -> history.Facets:
    with StateStore(path, read_only=True) as store:
        return history.facets(store)


def latest_runs(workspace: Workspace) -> dict[str, RunRecord]:
    return _latest_runs(*_key(workspace))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _latest_runs(path: str, version) -> dict[str, RunRecord]:
    with StateStore(path, read_only=True) as store:
        return history.latest_runs(store)


def run_problems(workspace: Workspace, run: RunRecord) -> history.RunProblems:
    """The run's data problems, new against the sync's previous run, and standing."""
    return _run_problems(*_key(workspace), run.id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _run_problems(path: str, version, run_id: int) -> history.RunProblems:
    with StateStore(path, read_only=True) as store:
        return history.run_problems(store, store.get_run(run_id))


def runs_frame(workspace: Workspace, where: history.RunFilter) -> pd.DataFrame:
    """One row per run, newest first, with the counts the table and the chart show (times in UTC)."""
    return _runs_frame(*_key(workspace), where)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _runs_frame(path: str, version, where: history.RunFilter) -> pd.DataFrame:
    with StateStore(path, read_only=True) as store:
        found = history.runs(store, where)
    return pd.DataFrame([_run_row(r) for r in found], columns=RUN_COLUMNS)


RUN_COLUMNS = ["run", "sync", "status", "trigger", "started", "finished", "duration_s", "queried", "planned",
               "synced", "expected", "real", "invalid", "rejected_other", "failed", "not_attempted", "adds_up", "error",
               "retry"]


def _run_row(r: RunRecord) -> dict:
    c = r.counts.as_dict()
    adds_up = not invariant_violations(c)
    return {"run": r.id, "sync": r.sync_id, "status": r.status, "trigger": r.trigger, "started": r.started_at,
            "finished": r.finished_at, "duration_s": r.duration_seconds, "queried": c.get("queried", 0),
            "planned": c.get("planned", 0), "synced": c.get("synced", 0), "expected": c.get("rejected_expected", 0),
            "real": r.counts.real_rows, "invalid": c.get("invalid", 0), "rejected_other": c.get("rejected_other", 0),
            "failed": c.get("failed", 0), "not_attempted": c.get("not_attempted", 0), "adds_up": adds_up,
            "error": r.error or "", "retry": r.retry_failed}


def run_detail(workspace: Workspace, run_id: int):
    """(RunRecord or None, its causes)."""
    return _run_detail(*_key(workspace), run_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _run_detail(path: str, version, run_id: int):
    with StateStore(path, read_only=True) as store:
        record = store.get_run(run_id)
        return record, (store.run_causes(run_id) if record else [])


# ---- failed rows ------------------------------------------------------------------------------------------------

CAUSE_COLUMNS = ["cause_id", "code", "class", "outcome", "message", "rows", "examples"]


def causes_frame(workspace: Workspace, *, sync_id: str | None, run_id: int | None,
                 error_class: str | None) -> pd.DataFrame:
    """Causes of one run, or of the rows not synced now (optionally of one sync), largest first."""
    return _causes_frame(*_key(workspace), sync_id, run_id, error_class)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _causes_frame(path: str, version, sync_id, run_id, error_class) -> pd.DataFrame:
    with StateStore(path, read_only=True) as store:
        if run_id is not None:
            causes = history.run_causes(store, run_id, error_class=error_class)
        else:
            causes = history.current_causes(store, sync_id=sync_id, error_class=error_class)
    return pd.DataFrame([{"cause_id": c.cause_id, "code": c.code, "class": c.error_class, "outcome": c.outcome,
                          "message": c.template, "rows": c.rows, "examples": ", ".join(c.example_keys)}
                         for c in causes], columns=CAUSE_COLUMNS)


TREND_COLUMNS = ["run", "sync", "started", "cause_id", "code", "class", "message", "outcome", "rows"]


def trend_frame(workspace: Workspace, where: history.RunFilter, error_class: str | None) -> pd.DataFrame:
    return _trend_frame(*_key(workspace), where, error_class)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _trend_frame(path: str, version, where: history.RunFilter, error_class) -> pd.DataFrame:
    with StateStore(path, read_only=True) as store:
        points = history.cause_trend(store, where, error_class=error_class)
    return pd.DataFrame([(p.run_id, p.sync_id, p.started_at, p.cause_id, p.code, p.error_class, p.template,
                          p.outcome, p.rows) for p in points], columns=TREND_COLUMNS)


ROW_COLUMNS = ["sync", "key", "outcome", "code", "class", "message", "first_seen", "last_seen", "times_seen",
               "first_run", "last_run"]


def cause_rows(workspace: Workspace, scope: history.RowScope) -> tuple[pd.DataFrame, int]:
    """The first ROWS_SHOWN rows of a cause in scope, and how many there are."""
    return _cause_rows(*_key(workspace), scope)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _cause_rows(path: str, version, scope: history.RowScope) -> tuple[pd.DataFrame, int]:
    with StateStore(path, read_only=True) as store:
        found = history.cause_rows(store, scope, limit=ROWS_SHOWN)
        total = len(found) if len(found) < ROWS_SHOWN else history.count_cause_rows(store, scope)
    return _rows_frame(found), total


def _rows_frame(found: list[RejectionRecord]) -> pd.DataFrame:
    return pd.DataFrame([(r.sync_id, r.key, r.outcome, r.code, r.error_class, r.message, r.first_seen, r.last_seen,
                          r.times_seen, r.first_run_id, r.last_run_id) for r in found], columns=ROW_COLUMNS)


def cause_rows_csv(state_path: str, scope: history.RowScope) -> bytes:
    """Every row of a cause in scope as CSV (times in UTC), built when the download is clicked."""
    with StateStore(state_path, read_only=True) as store:
        found = history.cause_rows(store, scope)
    buffer = io.StringIO()
    _rows_frame(found).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def record_story(workspace: Workspace, term: str) -> history.RecordStory:
    return _record_story(*_key(workspace), term)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=100)
def _record_story(path: str, version, term: str) -> history.RecordStory:
    with StateStore(path, read_only=True) as store:
        return history.find_record(store, term)


def mqr_usage(workspace: Workspace) -> history.MqrUsage:
    return _mqr_usage(*_key(workspace), workspace)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, hash_funcs={Workspace: lambda w: (str(w.root), w.mqr)})
def _mqr_usage(path: str, version, workspace: Workspace) -> history.MqrUsage:
    with StateStore(path, read_only=True) as store:
        return history.mqr_usage(store, workspace)


def mqr_report(workspace: Workspace, day: date | None = None) -> MqrReport:
    """The MQR report of the period holding `day` (default today's)."""
    return _mqr_report(*_key(workspace), workspace, day, datetime.now(timezone.utc).date())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, hash_funcs={Workspace: lambda w: (str(w.root), w.mqr)})
def _mqr_report(path: str, version, workspace: Workspace, day: date | None, today: date) -> MqrReport:
    with StateStore(path, read_only=True) as store:
        return reports_mqr(workspace, store, day, today=today)


# ---- credentials ----------------------------------------------------------------------------------------------


def password_warnings(workspace: Workspace) -> list[tuple[str, str]]:
    """(status, sentence) of each Snowflake password that has expired, is about to, or whose age cannot be told.
    Read now, not cached: the secret may have changed, and so has the day."""
    if not any(s.type == "snowflake" for s in workspace.sources.values()):
        return []
    now = datetime.now(timezone.utc)
    with StateStore(workspace.state_path, read_only=True) as store:
        ages = credential_ages(workspace, store, now)
    return [(age.status(now), age.sentence(now)) for age in ages if age.status(now) != "ok"]


# Reading the quota costs a call of the quota itself: at most one read per 5 minutes per dashboard, however many
# viewers and reruns (other integrations use the quota too, so a longer cache would hide their use).
QUOTA_TTL_SECONDS = 300


@st.cache_data(ttl=QUOTA_TTL_SECONDS, show_spinner=False, hash_funcs={Workspace: lambda w: str(w.root)})
def marketo_quotas(workspace: Workspace) -> list[tuple[str, DailyQuota | str]]:
    """Each Marketo destination's daily quota today (or why it cannot be read), read at most every 5 minutes."""
    return daily_quotas(workspace)
