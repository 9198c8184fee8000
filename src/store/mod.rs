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

pub mod age;
pub mod blobs;
pub mod owner;
pub mod schema;
mod sweeps;
pub mod tasks;

pub use sweeps::{NewSweep, SweepCell, SweepRecord, SweepStatus};
pub mod watch;

use crate::api::client::{Attempt, Exchange, TransportError, redact_header};
use crate::api::response::{Outcome, parse_go_duration, parse_response};
use crate::api::secret::REDACTED;
use crate::clock::now_ms;
use blobs::{Found, ImageDir, Reduced, Ref};
use owner::{Liveness, Owner};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};
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
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a SQLite database, is damaged, or is some other program's database.
    #[error(
        "{path} is not a usable volcv history ({detail}); it was left untouched: move it away \
         to start a new history, or point --data-dir / VOLCV_DATA_DIR elsewhere"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// Written by a newer volcv.
    #[error(
        "{path} has history schema version {found}, newer than this volcv reads (up to \
         {supported}); it was left untouched: upgrade volcv, or point --data-dir / \
         VOLCV_DATA_DIR elsewhere"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Any other SQLite failure (a lock held longer than the busy timeout, a full disk...).
    #[error("history database {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// No entry has this id.
    #[error("no history entry with id {0}")]
    NotFound(i64),
    /// An image file cannot be written or read.
    #[error("history image {path}: {detail}")]
    Image { path: PathBuf, detail: String },
    /// An entry's stored data does not fit together.
    #[error("history entry {id} is damaged: {detail}")]
    Damaged { id: i64, detail: String },
    /// An argument is out of range.
    #[error("invalid {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
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
    /// The `Action`.
    pub action: String,
    /// The HTTP method.
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

/// The entries a prune deletes (`?1`: the cutoff in Unix ms): older, not starred, not pending.
const PRUNABLE: &str = "e.created_ms < ?1 AND e.star = 0 AND e.outcome != 'pending'";

/// Temporary image files older than this are debris of a crashed writer.
const TEMP_GRACE: Duration = Duration::from_secs(3600);

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

/// Header values that must never be stored as they are.
fn sanitize_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let value = if lower == "set-cookie" {
                REDACTED.to_owned()
            } else {
                // Idempotent on already-redacted values; redacts anything that slipped through.
                let redacted = redact_header(k, v);
                if redacted != *v {
                    tracing::warn!(header = %k, "an unredacted secret header reached the history store; redacted");
                }
                redacted
            };
            (k.clone(), value)
        })
        .collect()
}

/// A URL without credentials: user info and secret-looking query values are redacted.
fn sanitize_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    let secretish = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["key", "token", "secret", "signature", "password", "auth"]
            .iter()
            .any(|s| k.contains(s))
    };
    if url.query_pairs().any(|(k, _)| secretish(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secretish(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(&sanitize_headers(headers)).unwrap_or_else(|_| "[]".to_owned())
}

/// `req_key` and `prompt` of a (reduced) request body.
fn request_fields(reduced: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(reduced) else {
        return (None, None);
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    (s("req_key"), s("prompt"))
}

/// Columns of a completed exchange.
struct Completion {
    url: String,
    request_headers: String,
    request: Reduced,
    req_key: Option<String>,
    prompt: Option<String>,
    http_status: Option<u16>,
    response_headers: String,
    response: Option<Reduced>,
    code: Option<i64>,
    message: Option<String>,
    summary: String,
    request_id: Option<String>,
    data_request_id: Option<String>,
    rephraser_result: Option<String>,
    time_elapsed: Option<String>,
    duration_ms: f64,
    attempts: String,
    outcome: OutcomeKind,
    results: Vec<(usize, Found, Option<String>, Option<String>)>,
}

impl Completion {
    fn new(ex: &Exchange, results: &[ResultFile<'_>]) -> Completion {
        let request = blobs::reduce(ex.request_body.as_bytes());
        let (req_key, prompt) = request_fields(&request.text);
        let outcome = OutcomeKind::of(&ex.result);
        let (message, summary, time_elapsed, rephraser_result, data_request_id) = match &ex.result {
            Ok(o) => {
                let (message, te) = match o {
                    Outcome::Success(s) => (s.message.clone(), s.time_elapsed_raw.clone()),
                    Outcome::Service(e) => (e.message.clone(), e.time_elapsed_raw.clone()),
                    Outcome::Gateway(e) => (e.message.clone(), None),
                    Outcome::Relay(e) => (e.message.clone(), None),
                    Outcome::NonJson(e) => (e.reason.clone(), None),
                };
                let (rephrased, data_rid) = match o {
                    Outcome::Success(s) => (s.rephraser_result.clone(), s.data_request_id.clone()),
                    _ => (None, None),
                };
                (Some(message), o.summary(), te, rephrased, data_rid)
            }
            Err(e) => (Some(e.to_string()), e.to_string(), None, None, None),
        };
        let response = match &ex.result {
            Ok(_) => Some(blobs::reduce(&ex.response_bytes)),
            Err(_) => None,
        };
        let results = results
            .iter()
            .map(|r| {
                let sha256 = blobs::sha256_hex(r.bytes);
                let found = Found {
                    pos: r.index,
                    bytes: r.bytes.to_vec(),
                    ext: blobs::extension(r.bytes),
                    sha256,
                    slash_escaped: false,
                };
                (
                    r.index,
                    found,
                    // Result URLs are the service's signed links (also verbatim in the
                    // response body), not the user's credentials: kept as they are.
                    r.url.map(str::to_owned),
                    r.saved_path.map(|p| p.display().to_string()),
                )
            })
            .collect();
        Completion {
            url: sanitize_url(&ex.url),
            request_headers: headers_json(&ex.request_headers),
            request,
            req_key,
            prompt,
            http_status: ex.http_status,
            response_headers: headers_json(&ex.response_headers),
            response,
            code: ex.outcome().and_then(Outcome::code),
            message: message.filter(|m| !m.is_empty()),
            summary,
            request_id: ex
                .outcome()
                .and_then(Outcome::request_id)
                .map(str::to_owned),
            data_request_id,
            rephraser_result,
            time_elapsed,
            duration_ms: (ex.duration.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            attempts: serde_json::to_string(&ex.attempts).unwrap_or_else(|_| "[]".to_owned()),
            outcome,
            results,
        }
    }

    /// Every image to write, with its part.
    fn images(&self) -> impl Iterator<Item = &Found> + Clone {
        self.request
            .images
            .iter()
            .chain(self.response.iter().flat_map(|r| r.images.iter()))
            .chain(self.results.iter().map(|(_, f, _, _)| f))
    }
}

/// Rebuilds a transport error from its stored message (its `Display` text).
fn transport_error_from(message: &str) -> TransportError {
    if message == "cancelled" {
        return TransportError::Cancelled;
    }
    if let Some(rest) = message.strip_prefix("could not connect: ") {
        return TransportError::Connect(rest.to_owned());
    }
    if let Some(rest) = message.strip_prefix("connection failed: ") {
        return TransportError::Io(rest.to_owned());
    }
    if let Some(d) = message
        .strip_prefix("no complete answer within ")
        .and_then(parse_go_duration)
    {
        return TransportError::Timeout(d);
    }
    if let Some(n) = message
        .strip_prefix("response body larger than the ")
        .and_then(|r| r.strip_suffix(" byte cap"))
        .and_then(|n| n.parse().ok())
    {
        return TransportError::TooLarge(n);
    }
    TransportError::Io(message.to_owned())
}

/// Attempts from their stored JSON.
pub(crate) fn attempts_from(v: &serde_json::Value) -> Vec<Attempt> {
    let ms = |a: &serde_json::Value, k: &str| {
        Duration::try_from_secs_f64(
            a.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0) / 1000.0,
        )
        .unwrap_or_default()
    };
    v.as_array()
        .map(|list| {
            list.iter()
                .map(|a| Attempt {
                    at: ms(a, "at"),
                    duration: ms(a, "duration"),
                    http_status: a
                        .get("http_status")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|s| u16::try_from(s).ok()),
                    result: a
                        .get("result")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

const SUMMARY_COLUMNS: &str = "e.id, e.created_ms, e.finished_ms, e.profile, e.outcome, e.req_key, \
    e.prompt, e.http_status, e.code, e.summary, e.request_id, e.duration_ms, e.star, e.note, \
    (SELECT count(DISTINCT i.sha256) FROM entry_images i WHERE i.entry_id = e.id \
     AND i.part != 'request'), e.updated_seq, e.task_id, e.task_status";

/// How many columns [`SUMMARY_COLUMNS`] selects (queries that select more start there).
pub(crate) const SUMMARY_LEN: usize = 18;

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    let outcome: String = r.get(4)?;
    Ok(Summary {
        id: r.get(0)?,
        created_ms: r.get(1)?,
        finished_ms: r.get(2)?,
        profile: r.get(3)?,
        outcome: OutcomeKind::parse(&outcome).unwrap_or(OutcomeKind::Interrupted),
        req_key: r.get(5)?,
        prompt: r.get(6)?,
        http_status: r.get(7)?,
        code: r.get(8)?,
        summary: r.get(9)?,
        request_id: r.get(10)?,
        duration_ms: r.get(11)?,
        star: r.get(12)?,
        note: r.get(13)?,
        result_images: r.get(14)?,
        updated_seq: r.get(15)?,
        task_id: r.get(16)?,
        task_status: r.get(17)?,
    })
}

/// Turns a search text into SQL: terms of 3+ characters go through the FTS5 trigram index
/// (quoted, so no FTS syntax is interpreted); shorter terms (trigrams cannot index them, and
/// Chinese words are often two characters) are matched with LIKE.
fn search_clause(text: &str, sql: &mut Vec<String>, args: &mut Vec<SqlValue>) {
    let mut phrases = Vec::new();
    for term in text.split_whitespace() {
        if term.chars().count() >= 3 {
            phrases.push(format!("\"{}\"", term.replace('"', "\"\"")));
        } else {
            let pattern = format!(
                "%{}%",
                term.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            sql.push(
                "(e.prompt LIKE ?1 ESCAPE '\\' OR e.rephraser_result LIKE ?1 ESCAPE '\\' \
                 OR e.message LIKE ?1 ESCAPE '\\')"
                    .replace("?1", &format!("?{}", args.len() + 1)),
            );
            args.push(SqlValue::Text(pattern));
        }
    }
    if !phrases.is_empty() {
        sql.push(format!(
            "e.id IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?{})",
            args.len() + 1
        ));
        args.push(SqlValue::Text(phrases.join(" AND ")));
    }
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

    fn write_images<'a>(&self, images: impl Iterator<Item = &'a Found>) -> Result<(), StoreError> {
        for f in images {
            self.images
                .put(&f.sha256, f.ext, &f.bytes)
                .map_err(|e| StoreError::Image {
                    path: self.images.path(&f.sha256, f.ext),
                    detail: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction with the next change-counter value. Image
    /// files in `ensure` are checked (and rewritten if a concurrent prune removed them) inside
    /// the transaction, after the write lock is held, so a committed row never names a
    /// missing file.
    fn write<'a, T>(
        &self,
        ensure: impl Iterator<Item = &'a Found> + Clone,
        f: impl FnOnce(&Transaction<'_>, i64) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Files first, outside the lock; then again under it (cheap: a stat each).
        self.write_images(ensure.clone())?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        self.write_images(ensure)?;
        let seq: i64 = tx
            .query_row(
                "UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        let out = f(&tx, seq)?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    fn insert_links(
        &self,
        tx: &Transaction<'_>,
        id: i64,
        part: ImagePart,
        found: &[Found],
    ) -> Result<(), StoreError> {
        let mut st = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO entry_images \
                 (entry_id, part, pos, sha256, ext, size, slash_escaped) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| self.sql(e))?;
        for f in found {
            st.execute(params![
                id,
                part.as_str(),
                f.pos as i64,
                f.sha256,
                f.ext,
                f.bytes.len() as i64,
                f.slash_escaped
            ])
            .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    fn insert_pending(
        &self,
        tx: &Transaction<'_>,
        seq: i64,
        entry: &NewEntry<'_>,
        request: &Reduced,
        created_ms: i64,
    ) -> Result<i64, StoreError> {
        let (req_key, prompt) = request_fields(&request.text);
        let body = String::from_utf8_lossy(&request.text);
        tx.execute(
            "INSERT INTO entries (created_ms, profile, endpoint, action, req_key, prompt, \
             request_headers, request_body, outcome, owner_pid, owner_token, updated_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11)",
            params![
                created_ms,
                entry.profile,
                sanitize_url(entry.endpoint),
                entry.action,
                req_key,
                prompt,
                headers_json(entry.request_headers),
                body,
                self.owner.pid,
                self.owner.token,
                seq
            ],
        )
        .map_err(|e| self.sql(e))?;
        let id = tx.last_insert_rowid();
        self.insert_links(tx, id, ImagePart::Request, &request.images)?;
        Ok(id)
    }

    /// Records a request about to be sent as `pending` and returns its id. Its images are
    /// written to files before the row that names them.
    pub fn begin(&self, entry: &NewEntry<'_>) -> Result<i64, StoreError> {
        let request = blobs::reduce(entry.request_body);
        self.write(request.images.iter(), |tx, seq| {
            self.insert_pending(tx, seq, entry, &request, now_ms())
        })
    }

    fn apply_completion(
        &self,
        tx: &Transaction<'_>,
        seq: i64,
        id: i64,
        c: &Completion,
        finished_ms: i64,
    ) -> Result<(), StoreError> {
        let changed = tx
            .execute(
                "UPDATE entries SET finished_ms = ?2, url = ?3, req_key = ?4, prompt = ?5, \
                 request_headers = ?6, request_body = ?7, http_status = ?8, \
                 response_headers = ?9, response_body = ?10, code = ?11, message = ?12, \
                 summary = ?13, request_id = ?14, data_request_id = ?15, rephraser_result = ?16, \
                 time_elapsed = ?17, duration_ms = ?18, attempts = ?19, outcome = ?20, \
                 updated_seq = ?21 WHERE id = ?1",
                params![
                    id,
                    finished_ms,
                    c.url,
                    c.req_key,
                    c.prompt,
                    c.request_headers,
                    String::from_utf8_lossy(&c.request.text),
                    c.http_status,
                    c.response_headers,
                    c.response.as_ref().map(|r| &r.text),
                    c.code,
                    c.message,
                    c.summary,
                    c.request_id,
                    c.data_request_id,
                    c.rephraser_result,
                    c.time_elapsed,
                    c.duration_ms,
                    c.attempts,
                    c.outcome.as_str(),
                    seq
                ],
            )
            .map_err(|e| self.sql(e))?;
        if changed == 0 {
            return Err(StoreError::NotFound(id));
        }
        tx.execute("DELETE FROM entry_images WHERE entry_id = ?1", [id])
            .map_err(|e| self.sql(e))?;
        self.insert_links(tx, id, ImagePart::Request, &c.request.images)?;
        if let Some(r) = &c.response {
            self.insert_links(tx, id, ImagePart::Response, &r.images)?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO entry_images \
                 (entry_id, part, pos, sha256, ext, size, url, saved_path) \
                 VALUES (?1, 'result', ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| self.sql(e))?;
        for (index, f, url, saved) in &c.results {
            st.execute(params![
                id,
                *index as i64,
                f.sha256,
                f.ext,
                f.bytes.len() as i64,
                url,
                saved
            ])
            .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    /// Completes entry `id` with the exchange (request as finally sent, response, timings,
    /// outcome) and the result images the caller saved. Image files are written before the
    /// row. Completing an entry again replaces what was recorded.
    pub fn complete(
        &self,
        id: i64,
        exchange: &Exchange,
        results: &[ResultFile<'_>],
    ) -> Result<(), StoreError> {
        let c = Completion::new(exchange, results);
        self.write(c.images(), |tx, seq| {
            self.apply_completion(tx, seq, id, &c, now_ms())
        })
    }

    /// [`Store::begin`] and [`Store::complete`] in one transaction, for an exchange that is
    /// already over (imports, tests, benchmarks). Returns the new id.
    pub fn record(
        &self,
        entry: &NewEntry<'_>,
        exchange: &Exchange,
        results: &[ResultFile<'_>],
    ) -> Result<i64, StoreError> {
        let c = Completion::new(exchange, results);
        let created = i64::try_from(exchange.started_at.unix_timestamp_nanos() / 1_000_000)
            .unwrap_or_else(|_| now_ms());
        let finished = created.saturating_add(c.duration_ms as i64);
        self.write(c.images(), |tx, seq| {
            let id = self.insert_pending(tx, seq, entry, &c.request, created)?;
            self.apply_completion(tx, seq, id, &c, finished)?;
            Ok(id)
        })
    }

    /// Marks a pending entry `cancelled` (for a caller that gives up before any exchange
    /// exists). Returns whether it was still pending.
    pub fn mark_cancelled(&self, id: i64) -> Result<bool, StoreError> {
        self.write(std::iter::empty(), |tx, seq| {
            let n = tx
                .execute(
                    "UPDATE entries SET outcome = 'cancelled', finished_ms = ?2, \
                     message = 'cancelled before an answer came', \
                     summary = 'cancelled before an answer came', updated_seq = ?3 \
                     WHERE id = ?1 AND outcome = 'pending'",
                    params![id, now_ms(), seq],
                )
                .map_err(|e| self.sql(e))?;
            Ok(n > 0)
        })
    }

    /// Turns pending entries whose writing process is gone into `interrupted` and returns
    /// their ids. Entries of a live process (this one or another) are left alone; entries
    /// whose writer cannot be checked (another host, no `/proc`) only after
    /// [`owner::STALE_AFTER_MS`]. Entries with a submitted async task stay pending whoever
    /// wrote them: the task can still be collected ([`Store::pending_tasks`]). Runs on every
    /// [`Store::open`].
    pub fn recover(&self) -> Result<Vec<i64>, StoreError> {
        let pending: Vec<(i64, Option<u32>, Option<String>, i64)> = {
            let conn = self.conn();
            let mut st = conn
                .prepare(
                    "SELECT id, owner_pid, owner_token, created_ms FROM entries \
                     WHERE outcome = 'pending' AND task_id IS NULL",
                )
                .map_err(|e| self.sql(e))?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(|e| self.sql(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.sql(e))?
        };
        let now = now_ms();
        let gone: Vec<(i64, Option<u32>)> = pending
            .into_iter()
            .filter(|(_, pid, token, created)| {
                let live = match (pid, token) {
                    (Some(pid), Some(token)) => self.owner.liveness(*pid, token),
                    _ => Liveness::Unknown,
                };
                match live {
                    Liveness::Alive => false,
                    Liveness::Gone => true,
                    Liveness::Unknown => now.saturating_sub(*created) > owner::STALE_AFTER_MS,
                }
            })
            .map(|(id, pid, _, _)| (id, pid))
            .collect();
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        self.write(std::iter::empty(), |tx, seq| {
            let mut done = Vec::new();
            for (id, pid) in &gone {
                let msg = match pid {
                    Some(p) => format!(
                        "interrupted: the volcv process (pid {p}) ended before the answer was recorded"
                    ),
                    None => "interrupted: the writer ended before the answer was recorded".into(),
                };
                let n = tx
                    .execute(
                        "UPDATE entries SET outcome = 'interrupted', message = ?2, summary = ?2, \
                         updated_seq = ?3 WHERE id = ?1 AND outcome = 'pending' \
                         AND task_id IS NULL",
                        params![id, msg, seq],
                    )
                    .map_err(|e| self.sql(e))?;
                if n > 0 {
                    done.push(*id);
                }
            }
            Ok(done)
        })
    }

    /// A page of entries, newest first. Keyset paging: pass the last id of a page as
    /// [`Query::before_id`] for the next one, so every page costs the same.
    pub fn list(&self, q: &Query) -> Result<Vec<Summary>, StoreError> {
        let (where_sql, mut args) = Self::where_clause(q);
        let limit = match q.limit {
            0 => 100,
            n => n.min(MAX_PAGE),
        };
        args.push(SqlValue::Integer(limit as i64));
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM entries e {where_sql} ORDER BY e.id DESC LIMIT ?{}",
            args.len()
        );
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        st.query_map(rusqlite::params_from_iter(args), summary_from_row)
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))
    }

    /// How many entries match `q` (its paging fields are ignored).
    pub fn count(&self, q: &Query) -> Result<u64, StoreError> {
        let q = Query {
            before_id: None,
            ..q.clone()
        };
        let (where_sql, args) = Self::where_clause(&q);
        let sql = format!("SELECT count(*) FROM entries e {where_sql}");
        let conn = self.conn();
        let n: i64 = conn
            .query_row(&sql, rusqlite::params_from_iter(args), |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn where_clause(q: &Query) -> (String, Vec<SqlValue>) {
        let mut sql = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let mut arg = |sql: &mut Vec<String>, clause: &str, v: SqlValue| {
            args.push(v);
            sql.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if !q.outcomes.is_empty() {
            let list = q
                .outcomes
                .iter()
                .map(|o| format!("'{}'", o.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push(format!("e.outcome IN ({list})"));
        }
        if let Some(k) = &q.req_key {
            arg(&mut sql, "e.req_key = ?", SqlValue::Text(k.clone()));
        }
        if let Some(s) = q.starred {
            arg(&mut sql, "e.star = ?", SqlValue::Integer(i64::from(s)));
        }
        if let Some(t) = q.since_ms {
            arg(&mut sql, "e.created_ms >= ?", SqlValue::Integer(t));
        }
        if let Some(t) = q.until_ms {
            arg(&mut sql, "e.created_ms < ?", SqlValue::Integer(t));
        }
        if let Some(b) = q.before_id {
            arg(&mut sql, "e.id < ?", SqlValue::Integer(b));
        }
        if let Some(s) = &q.sweep_id {
            arg(&mut sql, "e.sweep_id = ?", SqlValue::Text(s.clone()));
        }
        if let Some(text) = q.search.as_deref().filter(|t| !t.trim().is_empty()) {
            search_clause(text, &mut sql, &mut args);
        }
        if sql.is_empty() {
            (String::new(), args)
        } else {
            (format!("WHERE {}", sql.join(" AND ")), args)
        }
    }

    /// The change counter: bumped by every write to the history (from any process). Poll it
    /// and call [`Store::changed_since`] when it moved; a deletion moves it too, so reload
    /// when rows you show are gone.
    pub fn change_seq(&self) -> Result<i64, StoreError> {
        self.conn()
            .query_row("SELECT value FROM change_seq WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sql(e))
    }

    /// Entries written (created, completed, starred, noted, interrupted) after change-counter
    /// value `seq`, oldest change first, at most `limit`.
    pub fn changed_since(&self, seq: i64, limit: usize) -> Result<Vec<Summary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM entries e WHERE e.updated_seq > ?1 \
             ORDER BY e.updated_seq LIMIT ?2"
        );
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        st.query_map(params![seq, limit.min(MAX_PAGE) as i64], summary_from_row)
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))
    }

    /// One whole entry, or `None`.
    pub fn get(&self, id: i64) -> Result<Option<Entry>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, e.endpoint, e.action, e.method, e.url, \
             e.request_headers, e.request_body, e.response_headers, e.response_body, e.message, \
             e.data_request_id, e.rephraser_result, e.time_elapsed, e.attempts, e.owner_pid, \
             e.sweep_id, e.tag, e.task_submitted_ms, e.task_expires_ms, e.task_checked_ms \
             FROM entries e WHERE e.id = ?1"
        );
        const S: usize = SUMMARY_LEN;
        let row = conn
            .query_row(&sql, [id], |r| {
                let headers = |i: usize| -> rusqlite::Result<Vec<(String, String)>> {
                    let text: String = r.get(i)?;
                    Ok(serde_json::from_str(&text).unwrap_or_default())
                };
                let attempts: String = r.get(S + 12)?;
                Ok(Entry {
                    summary: summary_from_row(r)?,
                    endpoint: r.get(S)?,
                    action: r.get(S + 1)?,
                    method: r.get(S + 2)?,
                    url: r.get(S + 3)?,
                    request_headers: headers(S + 4)?,
                    request_body: r.get(S + 5)?,
                    response_headers: headers(S + 6)?,
                    response_body: r.get(S + 7)?,
                    message: r.get(S + 8)?,
                    data_request_id: r.get(S + 9)?,
                    rephraser_result: r.get(S + 10)?,
                    time_elapsed: r.get(S + 11)?,
                    attempts: serde_json::from_str(&attempts).unwrap_or_default(),
                    owner_pid: r.get(S + 13)?,
                    sweep_id: r.get(S + 14)?,
                    tag: r.get(S + 15)?,
                    task_submitted_ms: r.get(S + 16)?,
                    task_expires_ms: r.get(S + 17)?,
                    task_checked_ms: r.get(S + 18)?,
                    images: Vec::new(),
                })
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(mut entry) = row else {
            return Ok(None);
        };
        let mut st = conn
            .prepare_cached(
                "SELECT part, pos, sha256, ext, size, url, saved_path, slash_escaped \
                 FROM entry_images WHERE entry_id = ?1 ORDER BY part = 'result', part, pos",
            )
            .map_err(|e| self.sql(e))?;
        entry.images = st
            .query_map([id], |r| {
                let part: String = r.get(0)?;
                let sha256: String = r.get(2)?;
                let ext: String = r.get(3)?;
                let pos: i64 = r.get(1)?;
                let size: i64 = r.get(4)?;
                Ok(EntryImage {
                    part: ImagePart::parse(&part),
                    pos: usize::try_from(pos).unwrap_or(0),
                    file: self.images.path(&sha256, &ext),
                    sha256,
                    ext,
                    size: u64::try_from(size).unwrap_or(0),
                    url: r.get(5)?,
                    saved_path: r.get::<_, Option<String>>(6)?.map(PathBuf::from),
                    slash_escaped: r.get(7)?,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))?;
        Ok(Some(entry))
    }

    /// The entry with its bodies restored exactly (base64 back in place) and its images.
    pub fn export(&self, id: i64) -> Result<Export, StoreError> {
        let entry = self.get(id)?.ok_or(StoreError::NotFound(id))?;
        let refs = |part: ImagePart| -> Vec<Ref> {
            entry
                .images
                .iter()
                .filter(|i| i.part == part)
                .map(|i| Ref {
                    pos: i.pos,
                    sha256: i.sha256.clone(),
                    slash_escaped: i.slash_escaped,
                })
                .collect()
        };
        let load = |sha: &str| -> Result<Vec<u8>, String> {
            let img = entry
                .images
                .iter()
                .find(|i| i.sha256 == sha)
                .ok_or_else(|| "not linked to the entry".to_owned())?;
            std::fs::read(&img.file).map_err(|e| format!("{}: {e}", img.file.display()))
        };
        let damaged = |e: blobs::RestoreError| StoreError::Damaged {
            id,
            detail: e.to_string(),
        };
        let request = blobs::restore(
            entry.request_body.as_bytes(),
            &refs(ImagePart::Request),
            load,
        )
        .map_err(damaged)?;
        let response = match &entry.response_body {
            Some(body) => {
                Some(blobs::restore(body, &refs(ImagePart::Response), load).map_err(damaged)?)
            }
            None => None,
        };
        let mut seen = std::collections::HashSet::new();
        let images = entry
            .images
            .iter()
            .filter(|i| seen.insert(i.sha256.clone()))
            .cloned()
            .collect();
        Ok(Export {
            request,
            response,
            images,
        })
    }

    /// The entry as the [`Exchange`] the client returned, with the bodies restored, so a UI
    /// can show a recorded entry exactly like a fresh response (the outcome is parsed again
    /// from the stored response). `None` for `pending` and `interrupted` entries, which never
    /// got an exchange.
    pub fn exchange(&self, id: i64) -> Result<Option<Exchange>, StoreError> {
        let entry = self.get(id)?.ok_or(StoreError::NotFound(id))?;
        if matches!(
            entry.summary.outcome,
            OutcomeKind::Pending | OutcomeKind::Interrupted
        ) {
            return Ok(None);
        }
        let export = self.export(id)?;
        let result = match (export.response.as_deref(), entry.summary.http_status) {
            (Some(bytes), Some(status)) => {
                let content_type = entry
                    .response_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.as_str());
                Ok(parse_response(status, content_type, bytes))
            }
            _ if entry.summary.outcome == OutcomeKind::Cancelled => Err(TransportError::Cancelled),
            _ => Err(transport_error_from(entry.message.as_deref().unwrap_or(""))),
        };
        let started_at = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(entry.summary.created_ms) * 1_000_000,
        )
        .map_err(|e| StoreError::Damaged {
            id,
            detail: format!("created_ms: {e}"),
        })?;
        Ok(Some(Exchange {
            method: entry.method,
            url: entry.url.unwrap_or(entry.endpoint),
            action: entry.action,
            request_headers: entry.request_headers,
            request_body: String::from_utf8_lossy(&export.request).into_owned(),
            http_status: entry.summary.http_status,
            response_headers: entry.response_headers,
            response_bytes: export.response.unwrap_or_default(),
            started_at,
            duration: Duration::try_from_secs_f64(
                entry.summary.duration_ms.unwrap_or(0.0) / 1000.0,
            )
            .unwrap_or_default(),
            attempts: attempts_from(&entry.attempts),
            result,
            // Stored answers were scrubbed when they came (their attempts say so).
            scrubbed: 0,
        }))
    }

    fn touch(&self, id: i64, set: &str, value: SqlValue) -> Result<(), StoreError> {
        self.write(std::iter::empty(), |tx, seq| {
            let n = tx
                .execute(
                    &format!("UPDATE entries SET {set} = ?2, updated_seq = ?3 WHERE id = ?1"),
                    params![id, value, seq],
                )
                .map_err(|e| self.sql(e))?;
            if n == 0 {
                Err(StoreError::NotFound(id))
            } else {
                Ok(())
            }
        })
    }

    /// Stars or unstars an entry.
    pub fn set_star(&self, id: i64, star: bool) -> Result<(), StoreError> {
        self.touch(id, "star", SqlValue::Integer(i64::from(star)))
    }

    /// Sets (or with `None` or an empty text, clears) an entry's note.
    pub fn set_note(&self, id: i64, note: Option<&str>) -> Result<(), StoreError> {
        let v = match note.filter(|n| !n.is_empty()) {
            Some(n) => SqlValue::Text(n.to_owned()),
            None => SqlValue::Null,
        };
        self.touch(id, "note", v)
    }

    /// Removes image files no entry references any more, among `candidates` (or all files in
    /// the image dir when `None`). Runs inside a write transaction so no writer can link a
    /// file between the check and the removal (writers re-check their files under the lock).
    fn collect_garbage(
        &self,
        tx: &Transaction<'_>,
        candidates: Option<&[String]>,
    ) -> Result<(usize, u64), StoreError> {
        let mut files: Vec<PathBuf> = Vec::new();
        match candidates {
            Some(shas) => {
                for sha in shas {
                    let mut st = tx
                        .prepare_cached("SELECT 1 FROM entry_images WHERE sha256 = ?1 LIMIT 1")
                        .map_err(|e| self.sql(e))?;
                    let used: bool = st.exists([sha]).map_err(|e| self.sql(e))?;
                    if !used {
                        files.extend(self.files_of(sha)?);
                    }
                }
            }
            None => {
                let rd = std::fs::read_dir(self.images.dir()).map_err(|e| StoreError::Dir {
                    path: self.images.dir().to_path_buf(),
                    source: e,
                })?;
                let mut st = tx
                    .prepare_cached("SELECT 1 FROM entry_images WHERE sha256 = ?1 LIMIT 1")
                    .map_err(|e| self.sql(e))?;
                for ent in rd.filter_map(Result::ok) {
                    let name = ent.file_name().to_string_lossy().into_owned();
                    let path = ent.path();
                    if name.starts_with('.') && name.ends_with(".tmp") {
                        let old = ent
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > TEMP_GRACE);
                        if old {
                            files.push(path);
                        }
                        continue;
                    }
                    let Some((sha, _)) = name.split_once('.') else {
                        continue;
                    };
                    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                        continue;
                    }
                    if !st.exists([sha]).map_err(|e| self.sql(e))? {
                        files.push(path);
                    }
                }
            }
        }
        let mut removed = 0;
        let mut bytes = 0;
        for f in files {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(&f).is_ok() {
                removed += 1;
                bytes += size;
            }
        }
        Ok((removed, bytes))
    }

    /// The files in the image dir named after `sha` (whatever their extension).
    fn files_of(&self, sha: &str) -> Result<Vec<PathBuf>, StoreError> {
        let rd = std::fs::read_dir(self.images.dir()).map_err(|e| StoreError::Dir {
            path: self.images.dir().to_path_buf(),
            source: e,
        })?;
        let prefix = format!("{sha}.");
        Ok(rd
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect())
    }

    /// Deletes entries, and the image files only they used.
    pub fn delete(&self, ids: &[i64]) -> Result<DeleteReport, StoreError> {
        self.write(std::iter::empty(), |tx, _seq| {
            let mut report = DeleteReport::default();
            let mut shas = Vec::new();
            for &id in ids {
                {
                    let mut st = tx
                        .prepare_cached(
                            "SELECT DISTINCT sha256 FROM entry_images WHERE entry_id = ?1",
                        )
                        .map_err(|e| self.sql(e))?;
                    let found: Vec<String> = st
                        .query_map([id], |r| r.get(0))
                        .map_err(|e| self.sql(e))?
                        .collect::<rusqlite::Result<_>>()
                        .map_err(|e| self.sql(e))?;
                    shas.extend(found);
                }
                let n = tx
                    .execute("DELETE FROM entries WHERE id = ?1", [id])
                    .map_err(|e| self.sql(e))?;
                if n > 0 {
                    report.removed.push(id);
                } else {
                    report.missing.push(id);
                }
            }
            shas.sort();
            shas.dedup();
            report.files_removed = self.collect_garbage(tx, Some(&shas))?.0;
            Ok(report)
        })
    }

    /// Which of `ids` no entry has, in the order given.
    pub fn missing(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT 1 FROM entries WHERE id = ?1")
            .map_err(|e| self.sql(e))?;
        let mut missing = Vec::new();
        for &id in ids {
            if !st.exists([id]).map_err(|e| self.sql(e))? {
                missing.push(id);
            }
        }
        Ok(missing)
    }

    /// The oldest creation time (Unix ms) an entry may have to survive a prune of
    /// `older_than`.
    fn prune_cutoff(older_than: Duration) -> Result<i64, StoreError> {
        let age = i64::try_from(older_than.as_millis()).map_err(|_| StoreError::Invalid {
            field: "older_than",
            detail: format!("{older_than:?} is too long"),
        })?;
        Ok(now_ms().saturating_sub(age))
    }

    /// The entries [`Store::prune`] would delete now, oldest first (for a dry run).
    pub fn prunable(&self, older_than: Duration) -> Result<Vec<Summary>, StoreError> {
        let cutoff = Self::prune_cutoff(older_than)?;
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM entries e WHERE {PRUNABLE} ORDER BY e.id");
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        st.query_map([cutoff], summary_from_row)
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))
    }

    /// Deletes entries created more than `older_than` ago (starred and pending entries are
    /// kept), then every image file no entry references and temporary files left by crashed
    /// writers.
    pub fn prune(&self, older_than: Duration) -> Result<PruneReport, StoreError> {
        let cutoff = Self::prune_cutoff(older_than)?;
        self.write(std::iter::empty(), |tx, _seq| {
            let mut removed: Vec<i64> = {
                let mut st = tx
                    .prepare(&format!(
                        "DELETE FROM entries AS e WHERE {PRUNABLE} RETURNING id"
                    ))
                    .map_err(|e| self.sql(e))?;
                st.query_map([cutoff], |r| r.get(0))
                    .map_err(|e| self.sql(e))?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(|e| self.sql(e))?
            };
            removed.sort_unstable();
            let (files_removed, bytes_freed) = self.collect_garbage(tx, None)?;
            Ok(PruneReport {
                entries_removed: removed.len(),
                removed,
                files_removed,
                bytes_freed,
            })
        })
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

    #[test]
    fn urls_and_headers_lose_their_secrets() {
        assert_eq!(
            sanitize_url("https://u:pw@relay.example/v1?Action=CVProcess&api_key=sk-1"),
            "https://relay.example/v1?Action=CVProcess&api_key=%3Credacted%3E"
        );
        let h = sanitize_headers(&[
            ("Authorization".into(), "Bearer sk-raw".into()),
            ("authorization".into(), "Bearer <redacted>".into()),
            ("Set-Cookie".into(), "sid=1".into()),
            ("Content-Type".into(), "application/json".into()),
        ]);
        assert_eq!(h[0].1, "Bearer <redacted>");
        assert_eq!(h[1].1, "Bearer <redacted>");
        assert_eq!(h[2].1, REDACTED);
        assert_eq!(h[3].1, "application/json");
    }

    #[test]
    fn transport_errors_come_back_from_their_messages() {
        for e in [
            TransportError::Connect("tcp connect error: Connection refused".into()),
            TransportError::Timeout(Duration::from_secs(60)),
            TransportError::Timeout(Duration::from_millis(1500)),
            TransportError::Cancelled,
            TransportError::TooLarge(64 * 1024 * 1024),
            TransportError::Io("connection reset".into()),
        ] {
            assert_eq!(transport_error_from(&e.to_string()), e);
        }
        assert_eq!(
            transport_error_from("something else"),
            TransportError::Io("something else".into())
        );
    }

    #[test]
    fn search_terms_are_quoted_and_short_ones_use_like() {
        let mut sql = Vec::new();
        let mut args = Vec::new();
        search_clause("猫 light\"house NOT", &mut sql, &mut args);
        assert_eq!(sql.len(), 2, "{sql:?}");
        assert!(sql[0].contains("LIKE ?1"), "{sql:?}");
        assert_eq!(args[0], SqlValue::Text("%猫%".into()));
        assert_eq!(
            args[1],
            SqlValue::Text("\"light\"\"house\" AND \"NOT\"".into())
        );
    }
}
