"""The state store's schema, as a list of migrations; `PRAGMA user_version` says how many have run."""

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
]
