"""The state store's schema, as a list of migrations; `PRAGMA user_version` says how many have run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import StateStoreError
from ..wal import write_transaction

MIGRATIONS = [
    # 1: runs, causes, current rejection state, snapshots, MQR ledger.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        sync_id TEXT NOT NULL,
        trigger TEXT NOT NULL,            -- 'cli', 'dashboard', 'schedule', 'test', ...
        status TEXT NOT NULL,             -- running | healthy | warning | failed | interrupted | planned (dry run)
        dry_run INTEGER NOT NULL DEFAULT 0,
        full_resync INTEGER NOT NULL DEFAULT 0,
        config_fingerprint TEXT NOT NULL,
        started_at TEXT NOT NULL,         -- UTC ISO-8601
        finished_at TEXT,
        pid INTEGER,
        counts TEXT NOT NULL DEFAULT '{}',      -- JSON: every term of the count invariant
        by_operation TEXT NOT NULL DEFAULT '{}',-- JSON: operation -> outcome -> rows
        phases TEXT NOT NULL DEFAULT '{}',      -- JSON: phase -> seconds
        notes TEXT NOT NULL DEFAULT '[]',       -- JSON: what the plan wants the user to know
        error TEXT,                              -- the fatal error of a failed run, if any
        error_class TEXT
    );
    CREATE INDEX runs_by_sync ON runs (sync_id, id);

    -- A cause is a templated message (emails, ids and numbers replaced) with its code and class,
    -- so 500k not-found rows are one cause.
    CREATE TABLE causes (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        error_class TEXT NOT NULL,        -- expected | data | config | transient
        template TEXT NOT NULL,
        UNIQUE (code, error_class, template)
    );

    CREATE TABLE run_causes (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        cause_id INTEGER NOT NULL REFERENCES causes(id),
        outcome TEXT NOT NULL,            -- invalid | rejected | failed
        rows INTEGER NOT NULL,
        example_keys TEXT NOT NULL,       -- JSON list, a few keys to look at
        PRIMARY KEY (run_id, cause_id, outcome)
    ) WITHOUT ROWID;

    -- The current rejection state: one row per sync and key that is not synced as it stands.
    -- Not one row per rejection per run (500k not-found rows a day would be 15M rows a month).
    CREATE TABLE rejections (
        sync_id TEXT NOT NULL,
        key TEXT NOT NULL,
        row_hash TEXT,                    -- the values that were refused (NULL for duplicate keys)
        outcome TEXT NOT NULL,            -- invalid | rejected | failed
        cause_id INTEGER NOT NULL REFERENCES causes(id),
        message TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        times_seen INTEGER NOT NULL,
        first_run_id INTEGER NOT NULL,
        last_run_id INTEGER NOT NULL,
        PRIMARY KEY (sync_id, key)
    );
    -- A rowid table: its cause index then grows at the end of each cause's run instead of at random places
    -- (half the cost per row at 500k rejections). Look-ups by key go through the primary key, sync by sync.
    CREATE INDEX rejections_by_cause ON rejections (cause_id);

    -- What the destination confirmed: only rows it accepted, committed batch by batch.
    CREATE TABLE snapshot (
        sync_id TEXT NOT NULL,
        key TEXT NOT NULL,
        row_hash TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (sync_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE snapshot_meta (
        sync_id TEXT PRIMARY KEY,
        config_fingerprint TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    -- MQR: distinct keys queried per billing period and entity (a 63-bit digest of the key).
    CREATE TABLE mqr_ledger (
        period_start TEXT NOT NULL,
        entity TEXT NOT NULL,
        key_digest INTEGER NOT NULL,
        first_run_id INTEGER NOT NULL,
        PRIMARY KEY (period_start, entity, key_digest)
    ) WITHOUT ROWID;
    """,
    # 2: identifiers known to exist in a destination (update-only look-ups), per credential and identifier kind.
    """
    CREATE TABLE known_identifiers (
        scope TEXT NOT NULL,              -- a digest of the credential, and 'email' or 'userId'; never the key
        ident TEXT NOT NULL,
        PRIMARY KEY (scope, ident)
    ) WITHOUT ROWID;

    CREATE TABLE known_identifier_scopes (
        scope TEXT PRIMARY KEY,
        full_export_at REAL NOT NULL,     -- when the last export of every identifier started (epoch seconds)
        last_export_at REAL NOT NULL      -- when the last export (full or of recent changes) started
    );
    """,
    # 3: sweeps (a run that refused rows again exactly as before records one row, instead of touching each of
    # them), and per-domain versions that tell a cached copy of bulk state whether it is still exact.
    """
    CREATE TABLE rejection_sweeps (
        sync_id TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        swept_at TEXT NOT NULL,           -- UTC ISO-8601
        seq INTEGER NOT NULL,             -- 1, 2, 3... per sync: the sweeps after a run are two look-ups away
        PRIMARY KEY (sync_id, run_id)
    ) WITHOUT ROWID;

    -- The rejection state as readers must see it: a row last written in run L was seen again by every sweep of
    -- its sync after L. last_seen and last_run_id come from the sync's latest sweep, joined (no per-row query, so
    -- counts filtered on them stay cheap); times_seen adds the latest sweep's seq less the seq of the last sweep
    -- up to L (one primary-key seek, only when selected).
    CREATE VIEW rejection_state AS
    SELECT r.sync_id, r.key, r.row_hash, r.outcome, r.cause_id, r.message, r.first_seen,
           CASE WHEN latest.run_id > r.last_run_id THEN latest.swept_at ELSE r.last_seen END AS last_seen,
           r.times_seen + coalesce(latest.seq, 0) - coalesce((SELECT s.seq FROM rejection_sweeps s
               WHERE s.sync_id = r.sync_id AND s.run_id <= r.last_run_id ORDER BY s.run_id DESC LIMIT 1), 0)
               AS times_seen,
           r.first_run_id,
           CASE WHEN latest.run_id > r.last_run_id THEN latest.run_id ELSE r.last_run_id END AS last_run_id
    FROM rejections r LEFT JOIN (
        -- with a lone MAX(), SQLite takes swept_at from the row holding the maximum
        SELECT sync_id, MAX(run_id) AS run_id, swept_at, seq FROM rejection_sweeps GROUP BY sync_id
    ) latest ON latest.sync_id = r.sync_id;

    CREATE TABLE state_versions (
        name TEXT PRIMARY KEY,            -- 'sync:<id>' (snapshot and rejection state), 'known:<scope>'
        version INTEGER NOT NULL          -- bumped by every transaction that changes that state
    ) WITHOUT ROWID;
    """,
    # 4: full resyncs in progress; standing rejections per run; rows the destination said it does not hold
    # leave the snapshot.
    """
    ALTER TABLE runs ADD COLUMN standing TEXT NOT NULL DEFAULT '{}';  -- JSON: rejections repeating an earlier run's

    -- A full resync outlives the run that started it: until a run has tried every row, rows of the snapshot
    -- last confirmed before `run_id` are sent again by the next runs.
    CREATE TABLE resync_intents (
        sync_id TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL,          -- the run that started the full resync
        started_at TEXT NOT NULL          -- UTC ISO-8601
    ) WITHOUT ROWID;

    -- Earlier releases kept a key in the snapshot after the destination answered that it holds no such record
    -- (Iterable's NotFound): the snapshot must only say what the destination holds.
    DELETE FROM snapshot WHERE EXISTS (
        SELECT 1 FROM rejections r JOIN causes c ON c.id = r.cause_id
        WHERE r.sync_id = snapshot.sync_id AND r.key = snapshot.key AND c.code = 'NotFound');
    UPDATE state_versions SET version = version + 1 WHERE name LIKE 'sync:%';
    """,
    # 5: a run's process is its pid and its start time (a pid can be reused by another process).
    """
    ALTER TABLE runs ADD COLUMN pid_started INTEGER;  -- the process's start time (clock ticks since boot)
    """,
    # 6: a running run holds a lease that it renews (run_log.py): any process, on any host, can tell a dead run.
    """
    ALTER TABLE runs ADD COLUMN host TEXT;              -- where its pid names its process (host, pid namespace)
    ALTER TABLE runs ADD COLUMN lease_expires_at TEXT;  -- UTC ISO-8601; NULL once released (and before leases)
    """,
    # 7: the store's identity: cached copies of its bulk state are used only for the store they were taken of.
    """
    CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row
        identity TEXT NOT NULL                  -- random, made with the store; each backup gets its own
    );
    INSERT INTO meta (id, identity) VALUES (1, lower(hex(randomblob(16))));
    """,
    # 8: a run's type (sync, dry_run; reconciliation next) instead of the dry_run flag, which stays written for
    # readers of the raw table.
    """
    ALTER TABLE runs ADD COLUMN run_type TEXT NOT NULL DEFAULT 'sync';
    UPDATE runs SET run_type = 'dry_run' WHERE dry_run = 1;
    """,
    # 9: runs asked for (the dashboard, `run --enqueue`, schedules) and the workers that run them (run_queue.py);
    # who asked for a run, its current phase and a cancel asked of it; schedules' marks and pauses.
    """
    CREATE TABLE run_requests (
        id INTEGER PRIMARY KEY,
        sync_id TEXT NOT NULL,
        run_type TEXT NOT NULL,           -- sync | dry_run
        full_resync INTEGER NOT NULL DEFAULT 0,
        retry_failed INTEGER NOT NULL DEFAULT 0,  -- only the rows failed or rejected for a real reason
        allow_removals INTEGER NOT NULL DEFAULT 0,  -- accept, this once, a change a guard would block
        trigger TEXT NOT NULL,            -- schedule | dashboard | cli
        requested_by TEXT NOT NULL,       -- an email (a signed-in dashboard user), 'dashboard', a user name, 'schedule'
        requested_at TEXT NOT NULL,       -- UTC ISO-8601, real time
        status TEXT NOT NULL,             -- queued | taken | done | withdrawn
        worker_id TEXT,                   -- the worker that took it
        taken_at TEXT,
        run_id INTEGER,                   -- the run it became (NULL until it started, or if it never could)
        ended_at TEXT,
        error TEXT                        -- why it never became a run, or was withdrawn
    );
    CREATE INDEX run_requests_open ON run_requests (status, sync_id);

    ALTER TABLE runs ADD COLUMN requested_by TEXT;
    ALTER TABLE runs ADD COLUMN phase TEXT;              -- the phase a running run is in
    ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT;  -- set while running: the run stops after its requests in flight
    ALTER TABLE runs ADD COLUMN mqr_new INTEGER;       -- keys new to the period's MQR (a dry run: that it would add)
    ALTER TABLE runs ADD COLUMN retry_failed INTEGER NOT NULL DEFAULT 0;  -- a retry of the failed rows only

    CREATE TABLE workers (
        id TEXT PRIMARY KEY,              -- host, pid and start: unique across restarts
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        concurrency INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,       -- UTC ISO-8601, real time; renewed every few seconds
        stopped_at TEXT
    );

    CREATE TABLE sync_schedules (
        sync_id TEXT PRIMARY KEY,
        last_fired TEXT,                  -- the slot the schedule last asked a run for
        paused_at TEXT,
        paused_by TEXT
    ) WITHOUT ROWID;

    CREATE TABLE maintenance (
        task TEXT PRIMARY KEY,            -- 'retention'
        done_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 10: alerts (alerts/ and state/alert_log.py): what the alerts last saw of each sync, the alerts raised on a
    # change, and their delivery per channel.
    """
    CREATE TABLE alert_state (
        sync_id TEXT PRIMARY KEY,
        health TEXT,                      -- ok (healthy, warning) | failed (failed, blocked); NULL until a run decides
        status TEXT,                      -- the status of the run that decided it, for messages ("healthy -> failed")
        status_run_id INTEGER,            -- that run
        overdue INTEGER NOT NULL DEFAULT 0,
        last_run_id INTEGER NOT NULL DEFAULT 0,  -- the last run looked at: observers compare-and-set it
        updated_at TEXT NOT NULL          -- UTC ISO-8601
    ) WITHOUT ROWID;

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        sync_id TEXT NOT NULL,
        kind TEXT NOT NULL,               -- failed | recovered | overdue | back_on_schedule
        run_id INTEGER,                   -- the run that changed the health; for overdue, the latest run (if any)
        subject TEXT NOT NULL,            -- one line: "Iterable-Production failed (run 42)"
        message TEXT NOT NULL,            -- plain text, secrets redacted
        created_at TEXT NOT NULL          -- UTC ISO-8601
    );
    CREATE INDEX alerts_by_sync ON alerts (sync_id, id);

    CREATE TABLE alert_deliveries (
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        channel TEXT NOT NULL,            -- webhook | email
        status TEXT NOT NULL,             -- pending | delivered | failed (gave up)
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,             -- UTC ISO-8601 while pending (a claimed attempt's retry time); else NULL
        last_error TEXT,                  -- the last failed attempt's, redacted
        delivered_at TEXT,
        PRIMARY KEY (alert_id, channel)
    ) WITHOUT ROWID;
    CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
    """,
    # 11: MQR per sync (mqr_ledger.py): the keys each sync queried in a period and whether the destination held
    # each at some run of it, and running totals so reports never count millions of rows.
    """
    CREATE TABLE mqr_sync_keys (
        period_start TEXT NOT NULL,
        sync_id TEXT NOT NULL,
        key_digest INTEGER NOT NULL,      -- the ledger's digest of the key
        held INTEGER NOT NULL DEFAULT 0,  -- 1 once the destination held the key's values after a run of the period
        PRIMARY KEY (period_start, sync_id, key_digest)
    ) WITHOUT ROWID;

    CREATE TABLE mqr_totals (
        period_start TEXT NOT NULL,
        entity TEXT NOT NULL,
        used INTEGER NOT NULL,            -- distinct keys the ledger holds for the period and entity
        PRIMARY KEY (period_start, entity)
    ) WITHOUT ROWID;
    INSERT INTO mqr_totals SELECT period_start, entity, COUNT(*) FROM mqr_ledger GROUP BY period_start, entity;

    CREATE TABLE mqr_sync_totals (
        period_start TEXT NOT NULL,
        sync_id TEXT NOT NULL,
        first_counted INTEGER NOT NULL DEFAULT 0,  -- keys this sync was the first to count in the period
        queried INTEGER,                  -- distinct keys it queried (NULL: periods before this was kept)
        held INTEGER,                     -- of them, keys the destination held after a run of the period
        PRIMARY KEY (period_start, sync_id)
    ) WITHOUT ROWID;
    INSERT INTO mqr_sync_totals (period_start, sync_id, first_counted)
        SELECT l.period_start, r.sync_id, COUNT(*) FROM mqr_ledger l JOIN runs r ON r.id = l.first_run_id
        GROUP BY l.period_start, r.sync_id;
    """,
    # 12: credential age (credential_age.py): when the workspace first saw each password credential, known by a keyed
    # fingerprint (an HMAC under a key kept outside this file, never the secret), and when Snowflake says it was set.
    """
    CREATE TABLE credential_seen (
        source TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        first_seen TEXT NOT NULL,         -- UTC ISO-8601: the clock of a new secret starts here
        last_seen TEXT NOT NULL,
        changed_at TEXT,                  -- PASSWORD_LAST_SET_TIME as Snowflake reported it, when the role may read it
        PRIMARY KEY (source, fingerprint)
    ) WITHOUT ROWID;
    """,
    # 13: the destination's own id of the record a snapshot row last wrote, when it gives one (Marketo's
    # marketoGUID of an activity), so the record can be found there later; NULL for destinations without one.
    """
    ALTER TABLE snapshot ADD COLUMN destination_id TEXT;
    """,
    # 14: reconciliations: each comparison of a sync's model with its destination's records, its progress while
    # it runs (one per sync at a time: the partial unique index), its summary, and the rows that did not match.
    """
    CREATE TABLE reconciliations (
        id INTEGER PRIMARY KEY,
        sync_id TEXT NOT NULL,
        status TEXT NOT NULL,            -- running | complete | partial | failed | interrupted
        requested_by TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        host TEXT, pid INTEGER, pid_started INTEGER,  -- the process doing it (state/process.py)
        phase TEXT,                      -- what it is doing now, for whoever watches
        summary TEXT,                    -- JSON: the report without its rows
        error TEXT
    );
    CREATE UNIQUE INDEX reconciliation_running ON reconciliations (sync_id) WHERE status = 'running';
    CREATE INDEX reconciliation_by_sync ON reconciliations (sync_id, id);
    CREATE TABLE reconciliation_rows (
        reconciliation_id INTEGER NOT NULL REFERENCES reconciliations (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,              -- differs | missing
        key TEXT NOT NULL,
        field TEXT,                      -- of a differing row
        model_value TEXT,
        destination_value TEXT,
        state TEXT                       -- changed_since_sent | not_yet_synced | synced_missing
    );
    CREATE INDEX reconciliation_rows_by_id ON reconciliation_rows (reconciliation_id);
    CREATE TABLE reconciliation_resends (  -- a queued run that resends a reconciliation's differing and missing rows
        request_id INTEGER PRIMARY KEY REFERENCES run_requests (id),
        reconciliation_id INTEGER NOT NULL
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;  -- it sent chosen keys only (a reconciliation's)
    """,
]


def check_version(db: sqlite3.Connection, path: Path) -> int:
    """The store's schema version; an error if a newer sync-core wrote it. Reading the header is also where
    SQLite first notices a file that is not a database."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StateStoreError(path, f"it was written by a newer sync-core (schema {version}, this one knows "
                                    f"{len(MIGRATIONS)})", "Upgrade sync-core.")
    return version


def identity(db: sqlite3.Connection) -> str | None:
    """The store's identity; None for a store an older sync-core wrote, read without migrating it."""
    try:
        return db.execute("SELECT identity FROM meta").fetchone()[0]
    except sqlite3.OperationalError:  # no such table
        return None


def new_identity(db: sqlite3.Connection) -> None:
    """Give a copy of a store an identity of its own (a backup: it lives on apart from the store)."""
    with write_transaction(db):
        db.execute("UPDATE meta SET identity = lower(hex(randomblob(16)))")


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Run the migrations the store has not had, in one write transaction (the connection is in autocommit)."""
    with write_transaction(db):
        version = check_version(db, path)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our open transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
