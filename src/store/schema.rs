//! The database layout and the migration runner.
//!
//! `PRAGMA user_version` is the number of migrations applied. [`MIGRATIONS`] lists them in
//! order; migration `n` (1-based) takes a database from version `n - 1` to `n`. To change the
//! layout, append a migration; never edit one that has shipped. Each migration runs in its own
//! `BEGIN IMMEDIATE` transaction that re-reads the version first, so two processes opening an
//! old database at once migrate it exactly once.

use rusqlite::{Connection, TransactionBehavior};

/// Migration 1: entries, their image links, full-text search and the change counter.
///
/// * `entries`: one row per exchange. Times are Unix milliseconds (UTC). Bodies are stored with
///   every inline base64 image replaced by the string `"$volcv_image:sha256:<hex>"` (see
///   `store::blobs`); `response_body` is a BLOB because a server may answer with invalid UTF-8.
///   `owner_pid`/`owner_token` identify the process that wrote a `pending` row (recovery).
///   `updated_seq` is the change counter's value at the row's last write.
/// * `entry_images`: which image files an entry uses. `part` is `request` or `response` (an
///   inline base64 image; `pos` is the byte offset of its reference in the stored body) or
///   `result` (a result image the caller saved, e.g. downloaded from a URL; `pos` is its index
///   among the result images).
/// * `entries_fts`: FTS5 over prompt, rephraser_result and message (trigram tokenizer, so
///   substrings and Chinese text without spaces are found), kept in sync by triggers.
/// * `change_seq`: one row counting every write, so readers can poll for changes cheaply.
pub const V1: &str = "
CREATE TABLE entries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms       INTEGER NOT NULL,
    finished_ms      INTEGER,
    profile          TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    action           TEXT NOT NULL,
    method           TEXT NOT NULL DEFAULT 'POST',
    url              TEXT,
    req_key          TEXT,
    prompt           TEXT,
    request_headers  TEXT NOT NULL DEFAULT '[]',
    request_body     TEXT NOT NULL,
    http_status      INTEGER,
    response_headers TEXT NOT NULL DEFAULT '[]',
    response_body    BLOB,
    code             INTEGER,
    message          TEXT,
    summary          TEXT,
    request_id       TEXT,
    data_request_id  TEXT,
    rephraser_result TEXT,
    time_elapsed     TEXT,
    duration_ms      REAL,
    attempts         TEXT NOT NULL DEFAULT '[]',
    outcome          TEXT NOT NULL CHECK (outcome IN ('pending', 'success', 'service_error',
                         'gateway_error', 'relay_error', 'non_json', 'transport_error',
                         'cancelled', 'interrupted')),
    star             INTEGER NOT NULL DEFAULT 0 CHECK (star IN (0, 1)),
    note             TEXT,
    sweep_id         TEXT,
    tag              TEXT,
    owner_pid        INTEGER,
    owner_token      TEXT,
    updated_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX entries_outcome ON entries (outcome, id);
CREATE INDEX entries_req_key ON entries (req_key, id);
CREATE INDEX entries_star ON entries (star, id) WHERE star = 1;
CREATE INDEX entries_created ON entries (created_ms);
CREATE INDEX entries_updated_seq ON entries (updated_seq);

CREATE TABLE entry_images (
    entry_id   INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    part       TEXT NOT NULL CHECK (part IN ('request', 'response', 'result')),
    pos        INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    ext        TEXT NOT NULL,
    size       INTEGER NOT NULL,
    slash_escaped INTEGER NOT NULL DEFAULT 0,
    url        TEXT,
    saved_path TEXT,
    PRIMARY KEY (entry_id, part, pos)
) WITHOUT ROWID;
CREATE INDEX entry_images_sha256 ON entry_images (sha256);

CREATE VIRTUAL TABLE entries_fts USING fts5 (
    prompt, rephraser_result, message,
    content = 'entries', content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0'
);
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, prompt, rephraser_result, message)
    VALUES (new.id, new.prompt, new.rephraser_result, new.message);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, prompt, rephraser_result, message)
    VALUES ('delete', old.id, old.prompt, old.rephraser_result, old.message);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF prompt, rephraser_result, message ON entries
BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, prompt, rephraser_result, message)
    VALUES ('delete', old.id, old.prompt, old.rephraser_result, old.message);
    INSERT INTO entries_fts (rowid, prompt, rephraser_result, message)
    VALUES (new.id, new.prompt, new.rephraser_result, new.message);
END;

CREATE TABLE change_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO change_seq (id, value) VALUES (1, 0);
";

/// Migration "async tasks": the task an async request submitted, kept so that its result can
/// be collected after the process that submitted it is gone.
///
/// * `task_id`: `data.task_id` of `CVSync2AsyncSubmitTask`, written as soon as the submit
///   answers. A `pending` row with a task id is resumable: recovery leaves it pending.
/// * `task_status`: `submitted`, then the last `data.status` a poll reported (`in_queue`,
///   `generating`, `done`, `not_found`, `expired`).
/// * `task_submitted_ms`, `task_expires_ms`: when the submit answered, and when the task is
///   taken as expired at the latest (the service keeps tasks 12-24 h). Unix ms.
/// * `task_checked_ms`: the last poll (a heartbeat of the process polling it).
pub const ASYNC_TASKS: &str = "
ALTER TABLE entries ADD COLUMN task_id TEXT;
ALTER TABLE entries ADD COLUMN task_status TEXT;
ALTER TABLE entries ADD COLUMN task_submitted_ms INTEGER;
ALTER TABLE entries ADD COLUMN task_expires_ms INTEGER;
ALTER TABLE entries ADD COLUMN task_checked_ms INTEGER;
CREATE INDEX entries_pending_tasks ON entries (id)
    WHERE outcome = 'pending' AND task_id IS NOT NULL;
";

/// Migration "sweeps" (parameter sweeps, `crate::sweep`): one row per sweep in `sweeps`, and
/// an index to load a sweep's cells. Cells are ordinary `entries` rows whose `sweep_id` names
/// the sweep and whose `tag` holds `{"cell": N, "values": {FIELD: VALUE...}}`.
///
/// * `sweeps`: `grid` is the JSON of the sweep's axes (`crate::sweep::Grid`); `cells` the
///   number of cells planned; `status` is `running` until the sweep ends (`done`, or
///   `cancelled` when stopped early). A `running` row whose writer (`owner_pid`/`owner_token`,
///   as for pending entries) is gone is shown as interrupted.
pub const SWEEPS: &str = "
CREATE TABLE sweeps (
    id          TEXT PRIMARY KEY,
    created_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    profile     TEXT NOT NULL,
    req_key     TEXT,
    prompt      TEXT,
    grid        TEXT NOT NULL,
    cells       INTEGER NOT NULL,
    qps         REAL,
    concurrency INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'cancelled')),
    owner_pid   INTEGER,
    owner_token TEXT
);
CREATE INDEX sweeps_created ON sweeps (created_ms);
CREATE INDEX entries_sweep ON entries (sweep_id, id) WHERE sweep_id IS NOT NULL;
";

/// Every migration, in order. The schema version this build writes is `MIGRATIONS.len()`.
pub const MIGRATIONS: &[&str] = &[V1, ASYNC_TASKS, SWEEPS];

/// The schema version this build reads and writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Why a database cannot be brought to the current version.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Written by a newer volcv.
    #[error("schema version {found} is newer than this volcv understands (at most {supported})")]
    Newer {
        /// The database's `user_version`.
        found: i64,
        /// The number of migrations this build knows.
        supported: i64,
    },
    /// Version 0 but already holding tables: some other program's database.
    #[error("it is not a volcv history: schema version 0 but it already holds {0}")]
    Foreign(String),
    /// SQLite refused.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// The database's `user_version`.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Refuses, without writing anything, a database this build must not touch: one with a newer
/// version than `list` knows, or one at version 0 that already holds tables (another
/// program's). Run it before anything that writes, such as switching the journal mode.
pub fn check(conn: &Connection, list: &[&str]) -> Result<(), MigrateError> {
    let found = version(conn)?;
    let supported = list.len() as i64;
    if found > supported {
        return Err(MigrateError::Newer { found, supported });
    }
    if found == 0 {
        let objects: Vec<String> = {
            let mut st = conn.prepare(
                "SELECT type || ' ' || name FROM sqlite_schema \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 3",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        if !objects.is_empty() {
            return Err(MigrateError::Foreign(objects.join(", ")));
        }
    }
    Ok(())
}

/// Applies the migrations of `list` the database lacks. Returns the versions applied.
pub fn migrate(conn: &mut Connection, list: &[&str]) -> Result<Vec<i64>, MigrateError> {
    let supported = list.len() as i64;
    let mut applied = Vec::new();
    loop {
        let found = version(conn)?;
        if found > supported {
            return Err(MigrateError::Newer { found, supported });
        }
        if found == supported {
            return Ok(applied);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while this one waited for the lock.
        check(&tx, list)?;
        let found = version(&tx)?;
        if found < supported {
            let index = usize::try_from(found).unwrap_or(0);
            if let Some(sql) = list.get(index) {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", found + 1)?;
            applied.push(found + 1);
        }
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .expect("prepare");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn from_empty_to_current() {
        let mut conn = Connection::open_in_memory().expect("open");
        assert_eq!(
            migrate(&mut conn, MIGRATIONS).expect("migrate"),
            (1..=current_version()).collect::<Vec<_>>()
        );
        assert_eq!(version(&conn).expect("version"), current_version());
        let t = tables(&conn);
        for name in [
            "entries",
            "entry_images",
            "entries_fts",
            "change_seq",
            "sweeps",
        ] {
            assert!(t.iter().any(|x| x == name), "{name} missing: {t:?}");
        }
        // At the current version nothing more happens.
        assert!(migrate(&mut conn, MIGRATIONS).expect("again").is_empty());
    }

    #[test]
    fn from_the_previous_schema_keeps_the_rows() {
        // A database at version 1 with a row, then a build that knows a version 2.
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, &[V1]).expect("v1");
        conn.execute(
            "INSERT INTO entries (created_ms, profile, endpoint, action, request_body, outcome, \
             prompt) VALUES (1, 'p', 'e', 'CVProcess', '{}', 'success', 'a red kite')",
            [],
        )
        .expect("insert");
        let v2 = "ALTER TABLE entries ADD COLUMN rating INTEGER; \
                  UPDATE entries SET rating = 5;";
        assert_eq!(migrate(&mut conn, &[V1, v2]).expect("v2"), vec![2]);
        assert_eq!(version(&conn).expect("version"), 2);
        let (prompt, rating): (String, i64) = conn
            .query_row("SELECT prompt, rating FROM entries", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert_eq!((prompt.as_str(), rating), ("a red kite", 5));
        // The search index survived the migration.
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH '\"red\"'",
                [],
                |r| r.get(0),
            )
            .expect("fts");
        assert_eq!(hits, 1);
    }

    #[test]
    fn async_tasks_migration_keeps_version_1_rows() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, &[V1]).expect("v1");
        conn.execute(
            "INSERT INTO entries (created_ms, profile, endpoint, action, request_body, outcome) \
             VALUES (1, 'p', 'e', 'CVProcess', '{}', 'pending')",
            [],
        )
        .expect("insert");
        assert_eq!(migrate(&mut conn, &[V1, ASYNC_TASKS]).expect("v2"), vec![2]);
        let (outcome, task): (String, Option<String>) = conn
            .query_row("SELECT outcome, task_id FROM entries", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert_eq!((outcome.as_str(), task), ("pending", None));
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, &[V1]).expect("v1");
        let broken = "ALTER TABLE entries ADD COLUMN x INTEGER; SELECT * FROM no_such_table;";
        assert!(migrate(&mut conn, &[V1, broken]).is_err());
        assert_eq!(version(&conn).expect("version"), 1);
        let has_x = conn
            .prepare("SELECT x FROM entries")
            .map(|_| true)
            .unwrap_or(false);
        assert!(!has_x, "the half-applied migration was rolled back");
    }

    #[test]
    fn newer_and_foreign_databases_are_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 7).expect("set");
        match migrate(&mut conn, MIGRATIONS) {
            Err(MigrateError::Newer {
                found: 7,
                supported,
            }) => {
                assert_eq!(supported, current_version());
            }
            other => panic!("expected Newer, got {other:?}"),
        }
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE notes (x)")
            .expect("create");
        assert!(matches!(
            migrate(&mut conn, MIGRATIONS),
            Err(MigrateError::Foreign(w)) if w.contains("notes")
        ));
        assert_eq!(tables(&conn), vec!["notes".to_owned()]);
    }
}
