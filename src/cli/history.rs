//! `volcv history`: list, show, export, remove and prune the recorded exchanges.

use super::{Cli, EXIT_INVALID, EXIT_OK};
use crate::store::{self, Entry, OutcomeKind, Query, Store, StoreError, Summary};
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum HistoryCmd {
    /// List entries, newest first.
    List(ListArgs),
    /// Print one entry's full envelope (secrets redacted; images as references).
    Show(ShowArgs),
    /// Write an entry's request.json, response.json and images into a directory.
    Export(ExportArgs),
    /// Delete entries (and image files no other entry uses).
    Rm(RmArgs),
    /// Delete entries older than a given age (starred and pending entries are kept) and every
    /// image file no entry uses; --dry-run lists what would go.
    Prune(PruneArgs),
    /// What the work cost: requests, outcomes, failures by code, retries, rate limiting,
    /// latency and images kept, in total and --by model, day or outcome.
    Stats(super::stats::StatsArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries whose prompt, rephraser_result or message contain all these words.
    #[arg(long, value_name = "Q")]
    pub search: Option<String>,
    /// Only entries with this outcome (repeatable).
    #[arg(long, value_enum, value_name = "O")]
    pub outcome: Vec<OutcomeKind>,
    /// Only entries with this req_key.
    #[arg(long, value_name = "KEY")]
    pub req_key: Option<String>,
    /// Only starred entries.
    #[arg(long)]
    pub starred: bool,
    /// Only entries created within this age, e.g. 12h, 7d, 2w.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub since: Option<Duration>,
    /// Only the cells of this sweep (see `volcv sweep list`).
    #[arg(long, value_name = "SWEEP_ID")]
    pub sweep: Option<String>,
    /// Only entries with an id below this one (the next page after ID).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// At most this many entries.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The entry's id (from `volcv history list`).
    pub id: i64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// After the entry, print its result images into the terminal (as `volcv send --print`).
    /// Without a terminal on stdout nothing more is printed (the image files are listed).
    #[arg(long, conflicts_with = "json")]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The entry's id.
    pub id: i64,
    /// The directory to write into (created if needed; existing files are never replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The ids of the entries to delete. Every id is checked first: when one is unknown,
    /// nothing is deleted.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<i64>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete entries created longer ago than this, e.g. 30d, 12h, 2w (units s, m, h, d, w).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Duration,
    /// List the entries that would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub use crate::store::age::parse_age;

/// Runs a `volcv history` subcommand.
pub fn run(cli: &Cli, cmd: &HistoryCmd) -> u8 {
    let dir = super::HistoryDir::of(cli);
    let opened = match cmd {
        HistoryCmd::List(_)
        | HistoryCmd::Show(_)
        | HistoryCmd::Export(_)
        | HistoryCmd::Stats(_) => dir.open_for_reading(),
        HistoryCmd::Rm(_) | HistoryCmd::Prune(_) => dir.open().map_err(|e| {
            // Say why nothing can be removed when the history can still be read.
            if crate::store::Store::open_read_only(&dir.path).is_ok() {
                crate::store::StoreError::Dir {
                    path: dir.path.clone(),
                    source: std::io::Error::other(format!(
                        "can only be read here, so nothing can be removed ({e})"
                    )),
                }
            } else {
                e
            }
        }),
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            // The message may quote a foreign database's table names: escaped, as `send` does.
            eprintln!("volcv: {}", escape_terminal(&e.to_string(), false));
            return EXIT_INVALID;
        }
    };
    let result = match cmd {
        HistoryCmd::List(a) => list(&store, a),
        HistoryCmd::Show(a) => show(&store, a),
        HistoryCmd::Export(a) => export(&store, a),
        HistoryCmd::Rm(a) => rm(&store, a),
        HistoryCmd::Prune(a) => prune(&store, a),
        HistoryCmd::Stats(a) => super::stats::stats(&store, a, &super::stats::prices(cli)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("volcv: {}", escape_terminal(&e.to_string(), false));
            EXIT_INVALID
        }
    }
}

/// `2026-11-24 16:20:05` (UTC) for a Unix-ms time.
pub(super) fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// RFC 3339 for a Unix-ms time.
pub(super) fn rfc3339(ms: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

fn summary_json(s: &Summary) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("created_at".into(), rfc3339(s.created_ms));
        obj.insert(
            "finished_at".into(),
            s.finished_ms.map_or(Value::Null, rfc3339),
        );
    }
    v
}

fn list(store: &Store, a: &ListArgs) -> Result<u8, StoreError> {
    let since_ms = a.since.map(|d| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        i64::try_from(now).unwrap_or(i64::MAX) - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    });
    let q = Query {
        search: a.search.clone(),
        outcomes: a.outcome.clone(),
        req_key: a.req_key.clone(),
        starred: a.starred.then_some(true),
        since_ms,
        until_ms: None,
        before_id: a.before,
        limit: a.limit as usize,
        sweep_id: a.sweep.clone(),
    };
    let rows = store.list(&q)?;
    if a.json {
        let v: Vec<Value> = rows.iter().map(summary_json).collect();
        outln!("{}", json_for_terminal(&Value::Array(v)));
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        outln!("(no entries)");
        return Ok(EXIT_OK);
    }
    outln!(
        "{:>6}  {:<19}  {:<15} {:>6}  {:>7}  {:<16} PROMPT",
        "ID",
        "CREATED (UTC)",
        "OUTCOME",
        "CODE",
        "TIME",
        "REQ_KEY"
    );
    for r in &rows {
        let star = if r.star { "*" } else { " " };
        let took = r
            .duration_ms
            .map_or("-".to_owned(), |d| format!("{:.1}s", d / 1000.0));
        let code = r.code.map_or("-".to_owned(), |c| c.to_string());
        let prompt = r.prompt.as_deref().unwrap_or("");
        // A pending async task shows its status (`task generating`); a demo task whose
        // backend ended with its process, `task lost`.
        let outcome = match (&r.outcome, &r.task_status) {
            (OutcomeKind::Interrupted, Some(status)) if status == store::tasks::LOST_STATUS => {
                "task lost".to_owned()
            }
            (OutcomeKind::Pending, Some(status)) => {
                format!(
                    "task {}",
                    escape_terminal(&truncate_chars(status, 10), false)
                )
            }
            (o, _) => o.as_str().to_owned(),
        };
        let mut line = escape_terminal(&truncate_chars(prompt, 60), false);
        if let Some(n) = &r.note {
            line.push_str(&format!(
                "  [{}]",
                escape_terminal(&truncate_chars(n, 30), false)
            ));
        }
        outln!(
            "{:>5}{star}  {:<19}  {:<15} {:>6}  {:>7}  {:<16} {line}",
            r.id,
            when(r.created_ms),
            outcome,
            code,
            took,
            escape_terminal(
                &truncate_chars(r.req_key.as_deref().unwrap_or("-"), 16),
                false
            ),
        );
    }
    if rows.len() == a.limit as usize
        && let Some(last) = rows.last()
    {
        outln!("(more: --before {})", last.id);
    }
    Ok(EXIT_OK)
}

/// A stored body as JSON when it is JSON, else as (lossy) text.
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn entry_json(e: &Entry) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("created_at".into(), rfc3339(e.summary.created_ms));
        obj.insert(
            "finished_at".into(),
            e.summary.finished_ms.map_or(Value::Null, rfc3339),
        );
        obj.insert("request_body".into(), body_value(e.request_body.as_bytes()));
        obj.insert(
            "response_body".into(),
            e.response_body.as_deref().map_or(Value::Null, body_value),
        );
        obj.insert(
            "image_reference_prefix".into(),
            json!(store::blobs::REF_PREFIX),
        );
    }
    v
}

/// A body for the terminal: pretty JSON when it is JSON, else text; escaped either way.
fn body_text(bytes: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => serde_json::to_string_pretty(&v)
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned()),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    escape_terminal(&text, true)
}

fn show(store: &Store, a: &ShowArgs) -> Result<u8, StoreError> {
    let e = store.get(a.id)?.ok_or(StoreError::NotFound(a.id))?;
    if a.json {
        outln!("{}", json_for_terminal(&entry_json(&e)));
        return Ok(EXIT_OK);
    }
    let esc = |s: &str| escape_terminal(s, false);
    let s = &e.summary;
    let finished = s
        .finished_ms
        .map_or("-".to_owned(), |f| format!("{} UTC", when(f)));
    outln!(
        "entry {}  {}{}",
        s.id,
        s.outcome.as_str(),
        if s.star { "  (starred)" } else { "" }
    );
    outln!("created:   {} UTC", when(s.created_ms));
    outln!("finished:  {finished}");
    outln!("profile:   {}", esc(&s.profile));
    outln!(
        "request:   {} {}",
        esc(&e.method),
        esc(e.url.as_deref().unwrap_or(&e.endpoint))
    );
    if let Some(k) = &s.req_key {
        outln!("req_key:   {}", esc(k));
    }
    if let Some(p) = &s.prompt {
        outln!("prompt:    {}", esc(p));
    }
    if let Some(sum) = &s.summary {
        outln!("outcome:   {}", esc(sum));
    }
    if let Some(task) = &s.task_id {
        let mut line = format!(
            "task:      {} {}",
            esc(task),
            esc(s.task_status.as_deref().unwrap_or("-"))
        );
        for (label, ms) in [
            ("submitted", e.task_submitted_ms),
            ("last polled", e.task_checked_ms),
        ] {
            if let Some(ms) = ms {
                line.push_str(&format!(", {label} {} UTC", when(ms)));
            }
        }
        if s.outcome == OutcomeKind::Pending {
            line.push_str(&format!(" (collect it: volcv tasks resume {})", s.id));
        }
        outln!("{line}");
    }
    if let Some(c) = s.code {
        outln!("code:      {c}");
    }
    if let Some(r) = &s.request_id {
        outln!("request_id: {}", esc(r));
    }
    if let Some(r) = &e.data_request_id {
        outln!("data.request_id: {}", esc(r));
    }
    if let Some(r) = &e.rephraser_result {
        outln!("rephraser_result: {}", esc(r));
    }
    if let Some(t) = &e.time_elapsed {
        outln!("time_elapsed: {}", esc(t));
    }
    if let Some(d) = s.duration_ms {
        outln!(
            "duration:  {:.3}s over {} attempt(s)",
            d / 1000.0,
            e.attempts.as_array().map_or(0, Vec::len)
        );
    }
    if let Some(n) = &s.note {
        outln!("note:      {}", escape_terminal(n, true));
    }
    if !e.images.is_empty() {
        outln!("images:");
        for i in &e.images {
            let from = i
                .url
                .as_deref()
                .map(|u| format!(" from {}", esc(u)))
                .unwrap_or_default();
            let saved = i
                .saved_path
                .as_ref()
                .map(|p| format!(" (saved as {})", esc(&p.display().to_string())))
                .unwrap_or_default();
            outln!(
                "  {:<8} {} {} bytes{from}{saved}",
                format!("{:?}", i.part).to_lowercase(),
                i.file.display(),
                i.size
            );
        }
    }
    outln!("\n--- request headers");
    for (k, v) in &e.request_headers {
        outln!("{}: {}", esc(k), esc(v));
    }
    outln!(
        "--- request body (images as \"{}<hex>\")",
        store::blobs::REF_PREFIX
    );
    outln!("{}", body_text(e.request_body.as_bytes()));
    match s.http_status {
        Some(status) => outln!("--- response: HTTP {status}"),
        None => outln!("--- response: none"),
    }
    for (k, v) in &e.response_headers {
        outln!("{}: {}", esc(k), esc(v));
    }
    if let Some(body) = &e.response_body {
        outln!("--- response body");
        outln!("{}", body_text(body));
    }
    if a.print {
        // The results (not the reference), each image once, as `volcv send --print` shows them.
        let mut seen = std::collections::HashSet::new();
        let paths: Vec<PathBuf> = e
            .images
            .iter()
            .filter(|i| i.part != store::ImagePart::Request && seen.insert(i.sha256.clone()))
            .map(|i| i.file.clone())
            .collect();
        super::report::print_images(&paths);
    }
    Ok(EXIT_OK)
}

/// Writes a new file, refusing to replace one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn export(store: &Store, a: &ExportArgs) -> Result<u8, StoreError> {
    let entry = store.get(a.id)?.ok_or(StoreError::NotFound(a.id))?;
    let ex = store.export(a.id)?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![(a.out.join("request.json"), ex.request)];
    if let Some(resp) = ex.response {
        let name = if serde_json::from_slice::<serde::de::IgnoredAny>(&resp).is_ok() {
            "response.json"
        } else {
            "response.txt"
        };
        files.push((a.out.join(name), resp));
    }
    let meta = serde_json::to_vec_pretty(&entry_json(&entry)).unwrap_or_default();
    files.push((a.out.join("entry.json"), meta));
    let mut counters = std::collections::HashMap::new();
    for img in &ex.images {
        let part = format!("{:?}", img.part).to_lowercase();
        let n = counters.entry(part.clone()).or_insert(0);
        *n += 1;
        let bytes = std::fs::read(&img.file).map_err(|e| StoreError::Image {
            path: img.file.clone(),
            detail: e.to_string(),
        })?;
        files.push((a.out.join(format!("{part}-{n}.{}", img.ext)), bytes));
    }
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("volcv: cannot create {}: {e}", a.out.display());
        return Ok(EXIT_INVALID);
    }
    if let Some((p, _)) = files.iter().find(|(p, _)| p.exists()) {
        eprintln!(
            "volcv: {} already exists; export into an empty directory",
            p.display()
        );
        return Ok(EXIT_INVALID);
    }
    for (path, bytes) in &files {
        if let Err(e) = write_new(path, bytes) {
            eprintln!("volcv: {e}");
            return Ok(EXIT_INVALID);
        }
        outln!("wrote {}", path.display());
    }
    if entry.response_body.is_none() {
        outln!(
            "(entry {} has no response: {})",
            a.id,
            entry.summary.outcome.as_str()
        );
    }
    Ok(EXIT_OK)
}

/// Ids as short ranges, ascending: `1-3, 7, 9-10`.
fn id_ranges(ids: &[i64]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

fn rm(store: &Store, a: &RmArgs) -> Result<u8, StoreError> {
    let mut ids = a.ids.clone();
    ids.sort_unstable();
    ids.dedup();
    // Every id first: a typo among them must not cost the others.
    let missing = store.missing(&ids)?;
    if !missing.is_empty() {
        eprintln!(
            "volcv: no history entry with id {}; nothing was removed",
            id_ranges(&missing)
        );
        return Ok(EXIT_INVALID);
    }
    let r = store.delete(&ids)?;
    for id in &r.removed {
        outln!("removed entry {id}");
    }
    if r.files_removed > 0 {
        outln!(
            "removed {} no other entry uses",
            crate::text::count(r.files_removed as u64, "image file")
        );
    }
    if r.missing.is_empty() {
        return Ok(EXIT_OK);
    }
    // Another process removed some in the meantime.
    eprintln!(
        "volcv: entr{} {} no longer existed (removed meanwhile by another volcv)",
        if r.missing.len() == 1 { "y" } else { "ies" },
        id_ranges(&r.missing)
    );
    Ok(EXIT_INVALID)
}

fn entries(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

fn prune(store: &Store, a: &PruneArgs) -> Result<u8, StoreError> {
    if a.dry_run {
        let rows = store.prunable(a.older_than)?;
        if rows.is_empty() {
            outln!(
                "(dry run) nothing to remove: no entry is that old (starred and pending entries are kept)"
            );
            return Ok(EXIT_OK);
        }
        outln!(
            "{:>6}  {:<19}  {:<15} {:<16} PROMPT",
            "ID",
            "CREATED (UTC)",
            "OUTCOME",
            "REQ_KEY"
        );
        for r in &rows {
            outln!(
                "{:>6}  {:<19}  {:<15} {:<16} {}",
                r.id,
                when(r.created_ms),
                r.outcome.as_str(),
                escape_terminal(
                    &truncate_chars(r.req_key.as_deref().unwrap_or("-"), 16),
                    false
                ),
                escape_terminal(
                    &truncate_chars(r.prompt.as_deref().unwrap_or(""), 60),
                    false
                )
            );
        }
        outln!(
            "(dry run) would remove {} (ids {}) and the image files only they use; nothing was \
             removed",
            entries(rows.len()),
            id_ranges(&rows.iter().map(|r| r.id).collect::<Vec<_>>())
        );
        return Ok(EXIT_OK);
    }
    let r = store.prune(a.older_than)?;
    let files = if r.files_removed == 0 {
        "no image file (none was theirs alone)".to_owned()
    } else {
        format!(
            "{} ({})",
            crate::text::count(r.files_removed as u64, "image file"),
            crate::text::human_size(r.bytes_freed)
        )
    };
    outln!(
        "removed {} and {files}{}",
        entries(r.entries_removed),
        if r.removed.is_empty() {
            String::new()
        } else {
            format!(": ids {}", id_ranges(&r.removed))
        }
    );
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_short_ranges() {
        assert_eq!(id_ranges(&[]), "");
        assert_eq!(id_ranges(&[7]), "7");
        assert_eq!(id_ranges(&[3, 1, 2, 2, 7, 9, 10]), "1-3, 7, 9-10");
    }

    #[test]
    fn ages_parse_with_units_and_refuse_others() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_age("30").is_err_and(|e| e.contains("allowed: s, m, h, d, w")));
        assert!(parse_age("d").is_err());
        assert!(parse_age("5y").is_err_and(|e| e.contains("\"y\"")));
        assert!(parse_age("99999999999999999999w").is_err());
    }
}
