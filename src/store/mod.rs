//! The persistent history: every exchange volcv sends, kept in SQLite with its full envelope.
//!
//! Layout of the data dir: `history.sqlite3` (WAL mode, so also `-wal` and `-shm` while in
//! use) and `images/<sha256>.<ext>`. Images never sit inside rows as base64: bodies are stored
//! with each inline image replaced by a reference (see [`blobs`]), and [`Store::export`] puts
//! the base64 back byte for byte.
//!
//! Life of an entry: [`Store::begin`] writes a `pending` row before the request goes out;
//! [`Store::complete`] fills in the answer. A process that dies in between (crash, `kill -9`,
//! SSH drop) leaves its row `pending`; the next [`Store::open`] (or [`Store::recover`]) turns
//! pending rows whose writer is gone into `interrupted`, while rows of a live concurrent
//! process are left alone (see [`owner`]).
//!
//! Every method is blocking (SQLite and file I/O): async callers run them on a blocking thread.
//! A [`Store`] is `Sync`; one connection is shared behind a mutex. Several processes may use
//! the same data dir at once: writes are `BEGIN IMMEDIATE` transactions under a busy timeout.
//!
//! For a UI that shows the list live: [`Store::change_seq`] is a cheap counter bumped by every
//! write (from any process), and [`Store::changed_since`] returns the rows written after a
//! given value; [`watch::DirWatch`] says when to look (a write in the data dir), so an idle UI
//! does not poll.
//!
//! The methods of [`Store`] live with their concern: `entries` writes (begin, complete,
//! recover, stars and notes), `queries` reads (pages, search, one entry, export), `gc` forgets
//! (delete, prune, unreferenced image files) and `redact` scrubs what is stored.
//!
//! Open a history, record one exchange (the pending row, then its answer) and list it:
//!
//! ```rust
//! use std::time::Duration;
//! use volcv::api::client::Exchange;
//! use volcv::api::response::parse_response;
//! use volcv::store::{NewEntry, OutcomeKind, Query, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let body = br#"{"req_key":"high_aes_general_v20","prompt":"a lighthouse at dusk"}"#;
//! let id = store.begin(&NewEntry {
//!     profile: "default",
//!     endpoint: "https://visual.volcengineapi.com/",
//!     action: "CVProcess",
//!     request_headers: &[],
//!     request_body: body,
//! })?;
//! assert_eq!(store.list(&Query::default())?[0].outcome, OutcomeKind::Pending);
//!
//! // The answer, as `api::client::Client::call` captures it.
//! let answer = br#"{"code":50412,"message":"Text Risk Not Pass","request_id":"r1","data":null}"#;
//! let exchange = Exchange {
//!     method: "POST".into(),
//!     url: "https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31".into(),
//!     action: "CVProcess".into(),
//!     request_headers: Vec::new(),
//!     request_body: String::from_utf8(body.to_vec())?,
//!     http_status: Some(400),
//!     response_headers: Vec::new(),
//!     response_bytes: answer.to_vec(),
//!     started_at: time::OffsetDateTime::now_utc(),
//!     duration: Duration::from_millis(120),
//!     attempts: Vec::new(),
//!     result: Ok(parse_response(400, Some("application/json"), answer)),
//!     scrubbed: 0,
//! };
//! store.complete(id, &exchange, &[])?;
//!
//! let rows = store.list(&Query { search: Some("lighthouse".into()), ..Query::default() })?;
//! assert_eq!(rows.len(), 1);
//! assert_eq!((rows[0].id, rows[0].outcome), (id, OutcomeKind::ServiceError));
//! assert_eq!((rows[0].code, rows[0].request_id.as_deref()), (Some(50412), Some("r1")));
//! # Ok(())
//! # }
//! ```

pub mod age;
pub mod blobs;
mod entries;
mod gc;
pub mod owner;
mod queries;
mod redact;
pub mod schema;
pub mod stats;
mod sweeps;
pub mod tasks;
pub mod watch;

pub(crate) use queries::attempts_from;
pub use sweeps::{NewSweep, SweepCell, SweepRecord, SweepStatus};

use crate::api::client::TransportError;
use crate::api::response::Outcome;
use blobs::ImageDir;
use owner::Owner;
use rusqlite::Connection;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The database file's name inside the data dir.
pub const DB_FILE: &str = "history.sqlite3";
/// The image directory's name inside the data dir.
pub const IMAGES_DIR: &str = "images";
/// How long a write waits for another process's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest page [`Store::list`] returns.
pub const MAX_PAGE: usize = 10_000;

/// What went wrong in the history store. Messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir or image dir cannot be created or read.
    #[error("history directory {path}: {source}")]
    Dir {
        /// The directory that could not be created or read.
        path: PathBuf,
        /// The operating system's error (permission denied, not a directory, disk full...).
        source: std::io::Error,
    },
    /// The file is not a SQLite database, is damaged, or is some other program's database.
    #[error(
        "{path} is not a usable volcv history ({detail}); it was left untouched: move it away \
         to start a new history, or point --data-dir / VOLCV_DATA_DIR elsewhere"
    )]
    Corrupt {
        /// The database file, left as it was.
        path: PathBuf,
        /// What SQLite or the schema check found wrong.
        detail: String,
    },
    /// Written by a newer volcv.
    #[error(
        "{path} has history schema version {found}, newer than this volcv reads (up to \
         {supported}); it was left untouched: upgrade volcv, or point --data-dir / \
         VOLCV_DATA_DIR elsewhere"
    )]
    Newer {
        /// The database file, left as it was.
        path: PathBuf,
        /// The schema version in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build reads ([`schema::current_version`]).
        supported: i64,
    },
    /// Any other SQLite failure (a lock held longer than the busy timeout, a full disk...).
    #[error("history database {path}: {source}")]
    Sql {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// No entry has this id.
    #[error("no history entry with id {0}")]
    NotFound(i64),
    /// An image file cannot be written or read.
    #[error("history image {path}: {detail}")]
    Image {
        /// The image file (under `images/`).
        path: PathBuf,
        /// What failed: the I/O error, or why the bytes are not the image expected.
        detail: String,
    },
    /// An entry's stored data does not fit together.
    #[error("history entry {id} is damaged: {detail}")]
    Damaged {
        /// The entry's id.
        id: i64,
        /// What does not fit (e.g. an image reference in a stored body whose file is missing).
        detail: String,
    },
    /// An argument is out of range.
    #[error("invalid {field}: {detail}")]
    Invalid {
        /// The argument at fault, e.g. `older_than` or `sweep id`.
        field: &'static str,
        /// What is wrong with it and, where it helps, what is allowed.
        detail: String,
    },
    /// A history that can only be read was written by an older volcv and needs the schema
    /// upgrade that only a writable copy can take.
    #[error(
        "{path} can only be read here and was written by an older volcv (schema version \
         {found}, this one reads {supported}): open it once where it can be written, or copy it"
    )]
    ReadOnlyOld {
        /// The database file, left as it was.
        path: PathBuf,
        /// The schema version in the file, older than this build's.
        found: i64,
        /// The schema version this build writes ([`schema::current_version`]).
        supported: i64,
    },
}

/// What an entry amounted to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Written before sending; no answer recorded yet.
    Pending,
    /// Code 10000.
    Success,
    /// A service envelope with another code.
    ServiceError,
    /// A gateway error (`ResponseMetadata.Error`).
    GatewayError,
    /// JSON in another shape (a relay's error).
    RelayError,
    /// A body that is not JSON.
    NonJson,
    /// No usable HTTP answer (connect, timeout, I/O, body too large).
    TransportError,
    /// Cancelled by the user.
    Cancelled,
    /// The process ended before the answer was recorded.
    Interrupted,
}

impl OutcomeKind {
    /// Every kind, in display order.
    pub const ALL: [OutcomeKind; 9] = [
        OutcomeKind::Pending,
        OutcomeKind::Success,
        OutcomeKind::ServiceError,
        OutcomeKind::GatewayError,
        OutcomeKind::RelayError,
        OutcomeKind::NonJson,
        OutcomeKind::TransportError,
        OutcomeKind::Cancelled,
        OutcomeKind::Interrupted,
    ];

    /// The name stored in the database and printed by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Pending => "pending",
            OutcomeKind::Success => "success",
            OutcomeKind::ServiceError => "service_error",
            OutcomeKind::GatewayError => "gateway_error",
            OutcomeKind::RelayError => "relay_error",
            OutcomeKind::NonJson => "non_json",
            OutcomeKind::TransportError => "transport_error",
            OutcomeKind::Cancelled => "cancelled",
            OutcomeKind::Interrupted => "interrupted",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<OutcomeKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an exchange's result.
    pub fn of(result: &Result<Outcome, TransportError>) -> OutcomeKind {
        match result {
            Ok(Outcome::Success(_)) => OutcomeKind::Success,
            Ok(Outcome::Service(_)) => OutcomeKind::ServiceError,
            Ok(Outcome::Gateway(_)) => OutcomeKind::GatewayError,
            Ok(Outcome::Relay(_)) => OutcomeKind::RelayError,
            Ok(Outcome::NonJson(_)) => OutcomeKind::NonJson,
            Err(TransportError::Cancelled) => OutcomeKind::Cancelled,
            Err(_) => OutcomeKind::TransportError,
        }
    }
}

/// A request about to be sent, for [`Store::begin`].
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The config profile used.
    pub profile: &'a str,
    /// The endpoint URL (without Action/Version).
    pub endpoint: &'a str,
    /// The `Action` (e.g. `CVProcess`).
    pub action: &'a str,
    /// The request headers, redacted (any unredacted secret is redacted again here).
    pub request_headers: &'a [(String, String)],
    /// The exact body bytes to be sent.
    pub request_body: &'a [u8],
}

/// A result image the caller decoded or downloaded and saved, for [`Store::complete`].
/// Base64 results are also found in the response body itself; passing them here records where
/// they were saved. URL results are kept only through this (the URLs expire).
#[derive(Debug, Clone, Copy)]
pub struct ResultFile<'a> {
    /// Position among the answer's result images (0-based).
    pub index: usize,
    /// The image's bytes.
    pub bytes: &'a [u8],
    /// The URL it was downloaded from, for URL results.
    pub url: Option<&'a str>,
    /// Where the caller saved a copy, if anywhere.
    pub saved_path: Option<&'a Path>,
}

/// Filters and paging for [`Store::list`]. The default lists the newest 100 entries.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Words that must all occur (as substrings, case-insensitive for ASCII) in the prompt,
    /// the rephraser_result or the message.
    pub search: Option<String>,
    /// Only these outcomes (any when empty).
    pub outcomes: Vec<OutcomeKind>,
    /// Only this req_key.
    pub req_key: Option<String>,
    /// Only starred (`Some(true)`) or unstarred (`Some(false)`) entries.
    pub starred: Option<bool>,
    /// Only entries created at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only entries created before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Keyset paging: only ids below this one (pass the last id of the previous page).
    pub before_id: Option<i64>,
    /// At most this many rows (0 means 100; capped at [`MAX_PAGE`]).
    pub limit: usize,
    /// Only the cells of this sweep (see [`Store::begin_cell`]).
    pub sweep_id: Option<String>,
}

/// One row of a listing: what a list shows, without the bodies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The entry's id (grows with time; newest is largest).
    pub id: i64,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms; `None` while pending or when interrupted.
    pub finished_ms: Option<i64>,
    /// The config profile used.
    pub profile: String,
    /// What the exchange amounted to.
    pub outcome: OutcomeKind,
    /// The request body's `req_key`.
    pub req_key: Option<String>,
    /// The request body's `prompt`.
    pub prompt: Option<String>,
    /// The HTTP status of the last attempt, when an answer came.
    pub http_status: Option<u16>,
    /// The business code, or the gateway's `CodeN`.
    pub code: Option<i64>,
    /// One line for humans (the outcome's summary).
    pub summary: Option<String>,
    /// The request id to quote in a support ticket.
    pub request_id: Option<String>,
    /// The client-side duration of the whole exchange, retries included.
    pub duration_ms: Option<f64>,
    /// Starred by the user.
    pub star: bool,
    /// The user's note.
    pub note: Option<String>,
    /// Distinct result images kept for the entry.
    pub result_images: u32,
    /// The change counter's value at the row's last write.
    pub updated_seq: i64,
    /// The async task this entry submitted (`data.task_id`), if any.
    pub task_id: Option<String>,
    /// The task's last known status: `submitted`, `in_queue`, `generating`, `done`,
    /// `not_found` or `expired`.
    pub task_status: Option<String>,
    /// The parameter sweep this entry is a cell of, if any (not in `history list --json`).
    #[serde(skip)]
    pub sweep: Option<Box<CellOf>>,
}

/// The sweep an entry is a cell of, as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CellOf {
    /// The sweep's id.
    pub sweep_id: String,
    /// The cell's varied values (`{"seed": 3}`); `Null` when its tag could not be read.
    pub values: serde_json::Value,
}

/// Which part of an entry an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImagePart {
    /// Inline base64 in the request body (the reference image).
    Request,
    /// Inline base64 in the response body (a result).
    Response,
    /// A result image the caller saved (downloaded URL results, or saved copies of base64
    /// results).
    Result,
}

impl ImagePart {
    fn as_str(self) -> &'static str {
        match self {
            ImagePart::Request => "request",
            ImagePart::Response => "response",
            ImagePart::Result => "result",
        }
    }

    fn parse(s: &str) -> ImagePart {
        match s {
            "request" => ImagePart::Request,
            "response" => ImagePart::Response,
            _ => ImagePart::Result,
        }
    }
}

/// An image an entry uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryImage {
    /// Where in the entry the image belongs.
    pub part: ImagePart,
    /// Byte offset of the reference in the stored body (request/response), or the index among
    /// the result images (result).
    pub pos: usize,
    /// Lowercase hex SHA-256 of the image (its file name).
    pub sha256: String,
    /// The file's extension (`jpg`, `png`, ...; `bin` when not recognised).
    pub ext: String,
    /// Size in bytes.
    pub size: u64,
    /// The URL a result was downloaded from.
    pub url: Option<String>,
    /// Where the caller saved a copy when it was recorded.
    pub saved_path: Option<PathBuf>,
    /// The file in the store's image dir.
    pub file: PathBuf,
    #[serde(skip)]
    slash_escaped: bool,
}

/// A whole entry. Bodies are as stored: inline images are references (see [`blobs`]); use
/// [`Store::export`] for the bodies with base64 restored.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The listing fields.
    #[serde(flatten)]
    pub summary: Summary,
    /// The endpoint (credentials in the URL redacted).
    pub endpoint: String,
    /// The `Action` called (`CVProcess`, or `CVSync2AsyncSubmitTask` for an async request).
    pub action: String,
    /// The HTTP method (`POST`).
    pub method: String,
    /// The full URL as sent (with Action and Version), once completed.
    pub url: Option<String>,
    /// The request headers, redacted.
    pub request_headers: Vec<(String, String)>,
    /// The request body with inline images as references.
    pub request_body: String,
    /// The response headers (cookies redacted).
    pub response_headers: Vec<(String, String)>,
    /// The response body as stored (may be any bytes for a non-JSON answer).
    #[serde(skip)]
    pub response_body: Option<Vec<u8>>,
    /// The answer's message (or the transport error, or why an entry was interrupted).
    pub message: Option<String>,
    /// `data.request_id` of a success.
    pub data_request_id: Option<String>,
    /// `data.rephraser_result` of a success.
    pub rephraser_result: Option<String>,
    /// `time_elapsed` exactly as the service sent it.
    pub time_elapsed: Option<String>,
    /// Every attempt (`at`, `duration`, `http_status`, `result`), as JSON.
    pub attempts: serde_json::Value,
    /// The process that wrote the row.
    pub owner_pid: Option<u32>,
    /// The parameter sweep this entry is a cell of (see [`Store::begin_cell`]).
    pub sweep_id: Option<String>,
    /// A sweep cell's position and varied values: `{"cell": N, "values": {...}}` as JSON.
    pub tag: Option<String>,
    /// When the async task was submitted (Unix ms).
    pub task_submitted_ms: Option<i64>,
    /// When the async task is taken as expired at the latest (Unix ms).
    pub task_expires_ms: Option<i64>,
    /// When the async task was last polled (Unix ms).
    pub task_checked_ms: Option<i64>,
    /// The images the entry uses: request images first, then results.
    pub images: Vec<EntryImage>,
}

/// An entry with everything restored: the exact request and response bodies and its images.
#[derive(Debug, Clone)]
pub struct Export {
    /// The request body exactly as sent.
    pub request: Vec<u8>,
    /// The response body exactly as received (`None` when no answer came).
    pub response: Option<Vec<u8>>,
    /// Each distinct image once: request images first, then results.
    pub images: Vec<EntryImage>,
}

/// What [`Store::delete`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// Ids deleted.
    pub removed: Vec<i64>,
    /// Ids that did not exist.
    pub missing: Vec<i64>,
    /// Image files no entry uses any more, removed.
    pub files_removed: usize,
}

/// What [`Store::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Entries deleted.
    pub entries_removed: usize,
    /// Their ids, ascending.
    pub removed: Vec<i64>,
    /// Image files (and stale temporary files) deleted.
    pub files_removed: usize,
    /// Bytes those files held.
    pub bytes_freed: u64,
}

/// The history store of one data dir.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    db_path: PathBuf,
    images: ImageDir,
    owner: Owner,
}
/// Creates an empty `path` readable only by the owner (0600) unless it exists. SQLite takes an
/// empty file as a new database, and gives its `-wal` and `-shm` files the database's mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(f) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            drop(f);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

impl Store {
    /// Opens (creating if needed) the history in `data_dir`: `history.sqlite3` and `images/`.
    /// Migrates an older schema, refuses a newer one or a damaged file (never replacing or
    /// deleting it), and marks pending rows of processes that are gone as interrupted.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dir_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Dir { path, source }
        };
        // Prompts, reference photos and answers: the owner's only (0700 / 0600, whatever
        // the umask). Existing directories and files keep the mode they have.
        crate::images::staged::create_private_dir_all(data_dir).map_err(dir_err(data_dir))?;
        let images = ImageDir::new(data_dir.join(IMAGES_DIR));
        images.create().map_err(dir_err(images.dir()))?;
        let db_path = data_dir.join(DB_FILE);
        if let Ok(meta) = std::fs::metadata(&db_path)
            && !meta.is_file()
        {
            return Err(StoreError::Corrupt {
                path: db_path,
                detail: "not a regular file".into(),
            });
        }
        create_private_file(&db_path).map_err(dir_err(&db_path))?;
        let mut conn = Connection::open(&db_path).map_err(|source| StoreError::Sql {
            path: db_path.clone(),
            source,
        })?;
        let fail = |source: rusqlite::Error| {
            if is_corruption(&source) {
                StoreError::Corrupt {
                    path: db_path.clone(),
                    detail: source.to_string(),
                }
            } else {
                StoreError::Sql {
                    path: db_path.clone(),
                    source,
                }
            }
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        let refused = |e: schema::MigrateError| match e {
            schema::MigrateError::Newer { found, supported } => StoreError::Newer {
                path: db_path.clone(),
                found,
                supported,
            },
            schema::MigrateError::Foreign(what) => StoreError::Corrupt {
                path: db_path.clone(),
                detail: format!("schema version 0 but it already holds {what}"),
            },
            schema::MigrateError::Sql(e) => fail(e),
        };
        // Read before anything can write: a non-database, a newer schema or another program's
        // database is refused here, untouched (switching to WAL rewrites the header).
        schema::check(&conn, schema::MIGRATIONS).map_err(refused)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "history database is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(fail)?;
        schema::migrate(&mut conn, schema::MIGRATIONS).map_err(refused)?;
        let store = Store {
            conn: Mutex::new(conn),
            db_path,
            images,
            owner: Owner::current(),
        };
        store.recover()?;
        Ok(store)
    }

    /// Opens an existing history for reading only, writing nothing at all (no migration, no
    /// recovery of pending rows, no journal switch): for a history on a read-only mount or in
    /// a directory the user may only read. Listing, showing and exporting work; a write is
    /// refused by SQLite. A history that needs a schema upgrade is refused with
    /// [`StoreError::ReadOnlyOld`].
    pub fn open_read_only(data_dir: &Path) -> Result<Store, StoreError> {
        use rusqlite::OpenFlags;
        let db_path = data_dir.join(DB_FILE);
        let meta = std::fs::metadata(&db_path).map_err(|source| StoreError::Dir {
            path: db_path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(StoreError::Corrupt {
                path: db_path,
                detail: "not a regular file".into(),
            });
        }
        let sql = |source| StoreError::Sql {
            path: db_path.clone(),
            source,
        };
        let open = |uri: String| {
            let conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // Reading the schema is what fails when the WAL index cannot be opened.
            schema::version(&conn)?;
            Ok::<_, rusqlite::Error>(conn)
        };
        let path_uri = url::Url::from_file_path(&db_path)
            .map(|u| u.to_string())
            .map_err(|()| StoreError::Dir {
                path: db_path.clone(),
                source: std::io::Error::other("not an absolute path"),
            })?;
        // A clean read-only open first; on a read-only file system where SQLite cannot make
        // the WAL index, as an immutable file (nobody can be writing it there).
        let conn = match open(format!("{path_uri}?mode=ro")) {
            Ok(c) => c,
            Err(_) => open(format!("{path_uri}?mode=ro&immutable=1")).map_err(sql)?,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        schema::check(&conn, schema::MIGRATIONS).map_err(|e| match e {
            schema::MigrateError::Newer { found, supported } => StoreError::Newer {
                path: db_path.clone(),
                found,
                supported,
            },
            schema::MigrateError::Foreign(what) => StoreError::Corrupt {
                path: db_path.clone(),
                detail: format!("schema version 0 but it already holds {what}"),
            },
            schema::MigrateError::Sql(e) => sql(e),
        })?;
        let found = schema::version(&conn).map_err(sql)?;
        let supported = schema::MIGRATIONS.len() as i64;
        if found < supported {
            return Err(StoreError::ReadOnlyOld {
                path: db_path,
                found,
                supported,
            });
        }
        Ok(Store {
            conn: Mutex::new(conn),
            db_path,
            images: ImageDir::new(data_dir.join(IMAGES_DIR)),
            owner: Owner::current(),
        })
    }

    /// Opens the demo store (`<data dir>/demo/`, where every `--demo` run records) as
    /// [`Store::open`] does, then marks the async tasks whose in-process demo backend is gone
    /// as lost ([`Store::lose_demo_tasks`]) and returns them with the store.
    pub fn open_demo(data_dir: &Path) -> Result<(Store, Vec<tasks::LostTask>), StoreError> {
        let store = Store::open(data_dir)?;
        let lost = store.lose_demo_tasks()?;
        Ok((store, lost))
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The image directory.
    pub fn images_dir(&self) -> &Path {
        self.images.dir()
    }

    /// Whether this store was opened with [`Store::open_read_only`] (nothing can be written).
    pub fn is_read_only(&self) -> bool {
        self.conn().is_readonly(rusqlite::MAIN_DB).unwrap_or(false)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection itself usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        if is_corruption(&source) {
            StoreError::Corrupt {
                path: self.db_path.clone(),
                detail: source.to_string(),
            }
        } else {
            StoreError::Sql {
                path: self.db_path.clone(),
                source,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_sqlite_has_fts5_and_trigram() {
        let conn = Connection::open_in_memory().expect("open");
        let fts5: bool = conn
            .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
                r.get(0)
            })
            .expect("query");
        assert!(fts5);
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'trigram')")
            .expect("trigram tokenizer");
    }
}
