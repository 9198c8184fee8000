//! Writing entries: a pending row before the request goes out, its completion (with the
//! images it names), recovery of rows whose writer is gone, stars and notes.

use super::blobs::{self, Found, Reduced};
use super::owner::{self, Liveness};
use crate::api::client::Exchange;
use crate::api::response::Outcome;
use crate::clock::now_ms;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Transaction, TransactionBehavior, params};

use super::redact::{headers_json, sanitize_url};
use super::{ImagePart, NewEntry, OutcomeKind, ResultFile, Store, StoreError};

/// `req_key` and `prompt` of a (reduced) request body.
fn request_fields(reduced: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(reduced) else {
        return (None, None);
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    (s("req_key"), s("prompt"))
}

/// Columns of a completed exchange.
pub(super) struct Completion {
    url: String,
    request_headers: String,
    request: Reduced,
    req_key: Option<String>,
    prompt: Option<String>,
    http_status: Option<u16>,
    response_headers: String,
    response: Option<Reduced>,
    pub(super) code: Option<i64>,
    pub(super) message: Option<String>,
    pub(super) summary: String,
    request_id: Option<String>,
    data_request_id: Option<String>,
    rephraser_result: Option<String>,
    time_elapsed: Option<String>,
    duration_ms: f64,
    attempts: String,
    pub(super) outcome: OutcomeKind,
    results: Vec<(usize, Found, Option<String>, Option<String>)>,
}

impl Completion {
    pub(super) fn new(ex: &Exchange, results: &[ResultFile<'_>]) -> Completion {
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
    pub(super) fn images(&self) -> impl Iterator<Item = &Found> + Clone {
        self.request
            .images
            .iter()
            .chain(self.response.iter().flat_map(|r| r.images.iter()))
            .chain(self.results.iter().map(|(_, f, _, _)| f))
    }
}

impl Store {
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
    pub(super) fn write<'a, T>(
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

    pub(super) fn insert_pending(
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

    pub(super) fn apply_completion(
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
    /// row. Completing an entry again replaces what was recorded. An image file that cannot
    /// be written (a full disk) does not keep the answer out: see [`Store::complete_noting`].
    pub fn complete(
        &self,
        id: i64,
        exchange: &Exchange,
        results: &[ResultFile<'_>],
    ) -> Result<(), StoreError> {
        self.complete_noting(id, exchange, results).map(drop)
    }

    /// [`Store::complete`], returning what could not be stored. When an image file cannot be
    /// written (a full disk, a file size limit), the answer is recorded all the same: a result
    /// image without its file, an image inside a body kept inline as base64 in that body, and
    /// the entry's note says which image was not stored and why (one line each, after the
    /// note already there; the same lines are returned).
    pub fn complete_noting(
        &self,
        id: i64,
        exchange: &Exchange,
        results: &[ResultFile<'_>],
    ) -> Result<Vec<String>, StoreError> {
        let c = Completion::new(exchange, results);
        match self.write(c.images(), |tx, seq| {
            self.apply_completion(tx, seq, id, &c, now_ms())
        }) {
            Err(StoreError::Image { .. }) => {}
            other => return other.map(|()| Vec::new()),
        }
        let (c, notes) = self.without_unwritable(c);
        self.write(c.images(), |tx, seq| {
            self.apply_completion(tx, seq, id, &c, now_ms())?;
            self.append_note(tx, id, &notes.join("\n"))
        })?;
        Ok(notes)
    }

    /// `c` without the image files that cannot be written, and a line for each of them.
    fn without_unwritable(&self, mut c: Completion) -> (Completion, Vec<String>) {
        let mut notes = Vec::new();
        if let Some(r) = self.inline_unwritable(&c.request, "request", &mut notes) {
            c.request = r;
        }
        if let Some(resp) = &c.response
            && let Some(r) = self.inline_unwritable(resp, "response", &mut notes)
        {
            c.response = Some(r);
        }
        c.results.retain(|(index, f, _, _)| {
            let what = format!("result image {} not stored in the history", index + 1);
            self.writable(f, what, &mut notes)
        });
        (c, notes)
    }

    /// Writes `f`'s file; when it cannot, says so in `notes` after `what`.
    fn writable(&self, f: &Found, what: String, notes: &mut Vec<String>) -> bool {
        match self.images.put(&f.sha256, f.ext, &f.bytes) {
            Ok(_) => true,
            Err(e) => {
                let path = self.images.path(&f.sha256, f.ext);
                notes.push(format!("{what}: cannot write {}: {e}", path.display()));
                false
            }
        }
    }

    /// `r` with the images whose files cannot be written back inline, if there are any.
    fn inline_unwritable(
        &self,
        r: &Reduced,
        part: &str,
        notes: &mut Vec<String>,
    ) -> Option<Reduced> {
        let mut bad = Vec::new();
        for (n, f) in r.images.iter().enumerate() {
            let what = format!("{part} image {} kept inline in the {part} body", n + 1);
            if !self.writable(f, what, notes) {
                bad.push(f.sha256.clone());
            }
        }
        (!bad.is_empty()).then(|| blobs::inline_some(r, |f| bad.contains(&f.sha256)))
    }

    /// Adds `text` as a line of entry `id`'s note.
    fn append_note(&self, tx: &Transaction<'_>, id: i64, text: &str) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE entries SET note = CASE WHEN note IS NULL OR note = '' THEN ?2 \
             ELSE note || char(10) || ?2 END WHERE id = ?1",
            params![id, text],
        )
        .map_err(|e| self.sql(e))?;
        Ok(())
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
}
