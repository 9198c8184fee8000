//! Reading the history: pages of summaries (filters, full-text search, keyset paging), the
//! change counter for live lists, and one whole entry, its export and its exchange (attempts
//! and transport errors rebuilt from their stored form).

use super::blobs::{self, Ref};
use crate::api::client::{Attempt, Exchange, TransportError};
use crate::api::response::{parse_go_duration, parse_response};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension as _, params};
use std::path::PathBuf;
use std::time::Duration;

use super::{
    Entry, EntryImage, Export, ImagePart, MAX_PAGE, OutcomeKind, Query, Store, StoreError, Summary,
};

pub(super) const SUMMARY_COLUMNS: &str = "e.id, e.created_ms, e.finished_ms, e.profile, e.outcome, e.req_key, \
    e.prompt, e.http_status, e.code, e.summary, e.request_id, e.duration_ms, e.star, e.note, \
    (SELECT count(DISTINCT i.sha256) FROM entry_images i WHERE i.entry_id = e.id \
     AND i.part != 'request'), e.updated_seq, e.task_id, e.task_status, e.sweep_id, e.tag";

/// How many columns [`SUMMARY_COLUMNS`] selects (queries that select more start there).
pub(crate) const SUMMARY_LEN: usize = 20;

pub(super) fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    let outcome: String = r.get(4)?;
    let tag: Option<String> = r.get(19)?;
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
        sweep: r.get::<_, Option<String>>(18)?.map(|sweep_id| {
            let values = tag
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|t| t.get("values").cloned())
                .filter(serde_json::Value::is_object)
                .unwrap_or(serde_json::Value::Null);
            Box::new(super::CellOf { sweep_id, values })
        }),
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

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
