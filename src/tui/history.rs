//! The History pane's model: the rows it shows, newest first. Rows come from two places: the
//! requests sent in this run (in flight, then finished) and pages read from the history store
//! (`crate::store`), which the worker loads lazily (keyset paging) and keeps fresh by polling
//! the store's change counter. Everything here is pure; the worker does the disk work.

use crate::clock::now_ms;
use crate::store::{OutcomeKind, Query, Summary};
use crate::tui::view::ResponseView;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows asked for per page.
pub const PAGE: usize = 200;
/// A new page is asked for when the selection comes this close to the last loaded row.
pub const PAGE_AHEAD: usize = 50;
/// Recorded entries opened from the store whose views stay in memory (the requests of this run
/// always keep theirs).
pub const OPENED_KEPT: usize = 16;

/// Where a request stands.
#[derive(Debug, Clone)]
pub enum EntryState {
    /// Sent, no answer yet.
    InFlight {
        /// When it was sent.
        started: Instant,
        /// Cancel was asked for; the worker has not confirmed yet.
        cancelling: bool,
    },
    /// Finished (success, error or cancelled), with the view the Response pane shows.
    Done {
        /// What the Response pane shows.
        view: Arc<ResponseView>,
        /// How long it took, measured by the client.
        duration: Duration,
    },
    /// A recorded entry listed from the store, not opened (its summary is all we have).
    Stored {
        /// The worker is reading it.
        opening: bool,
    },
}

/// One row of the History pane.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique within the run (the UI's key for the row, its images and previews).
    pub id: u64,
    /// The row's id in the history store, once recorded.
    pub store_id: Option<i64>,
    /// When it was sent: `HH:MM:SS` today, `MM-DD HH:MM` before.
    pub time: String,
    /// The model.
    pub req_key: String,
    /// The prompt, on one line.
    pub prompt: String,
    /// The request body as sent (reference image included), once known: at once for a request
    /// of this run, after opening for a recorded one.
    pub request: Option<Arc<serde_json::Value>>,
    /// In flight, finished, or listed from the store.
    pub state: EntryState,
    /// The store's latest summary of the row (outcome, star, note, code).
    pub summary: Option<Summary>,
    /// Sent from this run (its view is never dropped from memory).
    pub local: bool,
    /// For an async request in flight: the task's latest status, in words.
    pub task: Option<String>,
    /// The sweep the entry is a cell of (known once opened).
    pub sweep_id: Option<String>,
    /// A request of this run whose history row is being written: its number (the store id)
    /// is not known yet, and it is called `#…` until it is.
    pub awaiting_id: bool,
}

impl Entry {
    /// Whether the request is still running in this process.
    pub fn in_flight(&self) -> bool {
        matches!(self.state, EntryState::InFlight { .. })
    }

    /// The finished view, if any.
    pub fn view(&self) -> Option<&Arc<ResponseView>> {
        match &self.state {
            EntryState::Done { view, .. } => Some(view),
            _ => None,
        }
    }

    /// How the row is named to the user, the same in the status bar, the Response title and
    /// dialogs: its store id (what `volcv history show` takes) once recorded; `#…` while its
    /// row is being written; its number in this run only when it is never recorded (no history
    /// store, or writing the row failed).
    pub fn label(&self) -> String {
        match self.store_id {
            Some(s) => format!("#{s}"),
            None if self.awaiting_id => "#…".to_owned(),
            None => format!("#{}", self.id),
        }
    }

    /// Starred in the store.
    pub fn star(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s.star)
    }

    /// The user's note.
    pub fn note(&self) -> Option<&str> {
        self.summary.as_ref().and_then(|s| s.note.as_deref())
    }

    /// A row for a recorded entry listed from the store at `now_ms` (its time label says
    /// the day only when it is not today's).
    pub fn from_summary(id: u64, s: Summary, now_ms: i64) -> Entry {
        Entry {
            id,
            store_id: Some(s.id),
            time: time_label(s.created_ms, now_ms),
            req_key: one_line(s.req_key.as_deref().unwrap_or_default()),
            prompt: one_line(s.prompt.as_deref().unwrap_or_default()),
            request: None,
            state: EntryState::Stored { opening: false },
            summary: Some(s),
            local: false,
            task: None,
            sweep_id: None,
            awaiting_id: false,
        }
    }
}

/// Text from the store (possibly written by another program) made safe for one list line:
/// newlines become spaces, control characters and bidi overrides are shown escaped.
pub fn one_line(s: &str) -> String {
    crate::tui::doc::escape(&s.replace(['\n', '\r'], " "))
}

/// The glyph of a recorded outcome in the list.
pub fn outcome_glyph(o: OutcomeKind) -> &'static str {
    match o {
        OutcomeKind::Success => "✔",
        OutcomeKind::Pending => "…",
        OutcomeKind::Cancelled => "⊘",
        OutcomeKind::Interrupted => "⚠",
        _ => "✘",
    }
}

/// `HH:MM:SS` for a time on the same day as `now_ms`, else `MM-DD HH:MM` (the local offset
/// when known, else UTC).
pub fn time_label(ms: i64, now_ms: i64) -> String {
    let offset = crate::text::local_offset();
    let at = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset)
    };
    let (t, now) = (at(ms), at(now_ms));
    if t.date() == now.date() {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    } else {
        format!(
            "{:02}-{:02} {:02}:{:02}",
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    }
}

/// The words `is:` takes besides outcome names.
const IS_WORDS: &str = "starred, error, success, pending, interrupted, cancelled, service_error, \
    gateway_error, relay_error, non_json, transport_error";

/// Parses the History search line into a store query. Plain words must all occur in the
/// prompt, rephrased prompt or message; `is:starred`, `is:error` (any failure) or
/// `is:<outcome>`, `model:<req_key>` and `since:<age>` (`12h`, `7d`) filter. Errors name the token and what is allowed.
pub fn parse_search(text: &str) -> Result<Query, String> {
    parse_search_at(text, now_ms())
}

/// [`parse_search`] with `since:` counted back from `now_ms`.
pub fn parse_search_at(text: &str, now_ms: i64) -> Result<Query, String> {
    let mut q = Query::default();
    let mut words = Vec::new();
    for token in text.split_whitespace() {
        if let Some(what) = token.strip_prefix("is:") {
            match what {
                "starred" | "star" => q.starred = Some(true),
                "error" | "failed" => q.outcomes.extend(OutcomeKind::ALL.iter().filter(|o| {
                    !matches!(
                        o,
                        OutcomeKind::Success
                            | OutcomeKind::Pending
                            | OutcomeKind::Cancelled
                            | OutcomeKind::Interrupted
                    )
                })),
                other => match OutcomeKind::parse(other) {
                    Some(o) => q.outcomes.push(o),
                    None => {
                        return Err(format!("search: unknown {token:?}; is: takes {IS_WORDS}"));
                    }
                },
            }
        } else if let Some(age) = token.strip_prefix("since:") {
            let d = crate::store::age::parse_age(age).map_err(|e| format!("search: since: {e}"))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            q.since_ms = Some(now_ms.saturating_sub(ms));
        } else if let Some(key) = token.strip_prefix("model:") {
            if key.is_empty() {
                return Err("search: model: needs a req_key, e.g. model:high_aes_ip_v20".into());
            }
            q.req_key = Some(key.to_owned());
        } else {
            words.push(token);
        }
    }
    if !words.is_empty() {
        q.search = Some(words.join(" "));
    }
    Ok(q)
}

/// A word of the search line that looks like a filter being typed (`is`, `mod`, `since`):
/// what the filter takes, to show while nothing matches. `None` for plain words.
pub fn search_hint(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|token| {
        let word = token.to_ascii_lowercase();
        if word.len() < 2 || word.contains(':') {
            return None;
        }
        [
            ("is", format!("is: takes {IS_WORDS}")),
            (
                "model",
                "model: takes a req_key, e.g. model:high_aes_ip_v20".to_owned(),
            ),
            ("since", "since: takes an age, e.g. since:7d".to_owned()),
        ]
        .into_iter()
        .find(|(name, _)| name.starts_with(&word))
        .map(|(name, what)| {
            format!("{token:?} is searched as a word; the filter is {name}:, {what}")
        })
    })
}

/// The rows of the History pane and how they were loaded.
#[derive(Debug, Default)]
pub struct HistoryList {
    rows: Vec<Entry>,
    /// The search line the rows match (empty: everything).
    pub filter: String,
    /// Bumped whenever the rows are replaced, so late pages of an older query are dropped.
    pub generation: u64,
    /// A page is being read.
    pub loading: bool,
    /// The store has no more rows for this filter.
    pub exhausted: bool,
    /// How many rows the store holds for the filter (from the first page).
    pub total: Option<u64>,
    /// Whether a history store backs the list (set once the first page arrives).
    pub stored: bool,
    /// Recorded entries opened, oldest first (their views are dropped beyond [`OPENED_KEPT`]).
    opened: Vec<u64>,
}

impl HistoryList {
    /// Adds a request of this run at the top.
    pub fn push(&mut self, entry: Entry) {
        self.rows.insert(0, entry);
        if let Some(t) = &mut self.total {
            *t += 1;
        }
    }

    /// Every row, newest first.
    pub fn entries(&self) -> &[Entry] {
        &self.rows
    }

    /// The row with this UI id.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.rows.iter_mut().find(|e| e.id == id)
    }

    /// The row with this UI id.
    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.rows.iter().find(|e| e.id == id)
    }

    /// The position of the row recorded as `store_id`.
    pub fn position_of_store_id(&self, store_id: i64) -> Option<usize> {
        self.rows.iter().position(|e| e.store_id == Some(store_id))
    }

    /// The oldest store id loaded (where the next page starts).
    pub fn oldest_store_id(&self) -> Option<i64> {
        self.rows
            .iter()
            .filter(|e| !e.local || e.summary.is_some())
            .filter_map(|e| e.store_id)
            .min()
    }

    /// Replaces the rows with a first page. Requests of this run that are in flight or not
    /// recorded yet stay on top; a row already shown keeps its opened view. `next_id` hands
    /// out UI ids for new rows.
    pub fn replace(&mut self, page: Vec<Summary>, next_id: &mut u64, now_ms: i64) {
        let mut old: Vec<Entry> = std::mem::take(&mut self.rows);
        let mut rows: Vec<Entry> = Vec::new();
        old.retain(|e| {
            if e.in_flight() || (e.local && e.store_id.is_none()) {
                rows.push(e.clone());
                false
            } else {
                true
            }
        });
        for s in page {
            if rows.iter().any(|e| e.store_id == Some(s.id)) {
                continue;
            }
            match old.iter().position(|e| e.store_id == Some(s.id)) {
                Some(i) => {
                    let mut e = old.swap_remove(i);
                    e.summary = Some(s);
                    rows.push(e);
                }
                None => {
                    rows.push(Entry::from_summary(*next_id, s, now_ms));
                    *next_id += 1;
                }
            }
        }
        let kept: std::collections::HashSet<u64> = rows.iter().map(|e| e.id).collect();
        self.opened.retain(|id| kept.contains(id));
        self.rows = rows;
    }

    /// Appends a further page (rows already listed are skipped).
    pub fn append(&mut self, page: Vec<Summary>, next_id: &mut u64, now_ms: i64) {
        for s in page {
            if self.position_of_store_id(s.id).is_none() {
                self.rows.push(Entry::from_summary(*next_id, s, now_ms));
                *next_id += 1;
            }
        }
    }

    /// Applies rows the store reports as changed (by this or another process). Known rows get
    /// the new summary; when `insert_new`, rows not listed yet and newer than every listed row
    /// are inserted in order. Returns how many rows were inserted at or above `selected` (so
    /// the caller can keep the same row selected).
    pub fn apply_changes(
        &mut self,
        changed: Vec<Summary>,
        insert_new: bool,
        selected: usize,
        next_id: &mut u64,
        now_ms: i64,
    ) -> usize {
        let mut shifted = 0;
        let mut sel = selected;
        for s in changed {
            if let Some(i) = self.position_of_store_id(s.id) {
                let e = &mut self.rows[i];
                let was_final = e
                    .summary
                    .as_ref()
                    .is_some_and(|old| old.outcome != OutcomeKind::Pending);
                let now_final = s.outcome != OutcomeKind::Pending;
                if !e.local && !was_final && now_final {
                    // A row another process was still sending has finished: drop the stale
                    // "pending" view so opening it shows the answer.
                    if matches!(e.state, EntryState::Done { .. }) {
                        e.state = EntryState::Stored { opening: false };
                        e.request = None;
                    }
                }
                if let Some(p) = s.prompt.as_deref() {
                    e.prompt = one_line(p);
                }
                e.summary = Some(s);
                continue;
            }
            let oldest = self.oldest_store_id();
            if !insert_new || !(self.exhausted || oldest.is_none_or(|o| s.id > o)) {
                // Beyond the pages read: it shows up when its page is read.
                continue;
            }
            // Keep store ids descending below the rows of this run not recorded yet.
            let at = self
                .rows
                .iter()
                .position(|e| e.store_id.is_some_and(|id| id < s.id))
                .unwrap_or(self.rows.len());
            if at <= sel {
                sel += 1;
                shifted += 1;
            }
            self.rows
                .insert(at, Entry::from_summary(*next_id, s, now_ms));
            *next_id += 1;
            if let Some(t) = &mut self.total {
                *t += 1;
            }
        }
        shifted
    }

    /// Removes the row recorded as `store_id`.
    pub fn remove_store_id(&mut self, store_id: i64) -> Option<Entry> {
        let i = self.position_of_store_id(store_id)?;
        if let Some(t) = &mut self.total {
            *t = t.saturating_sub(1);
        }
        let e = self.rows.remove(i);
        self.opened.retain(|id| *id != e.id);
        Some(e)
    }

    /// Notes that a recorded entry was opened; returns the ids whose views were dropped to keep
    /// at most [`OPENED_KEPT`] in memory (never `keep`, the one on screen).
    pub fn opened(&mut self, id: u64, keep: Option<u64>) -> Vec<u64> {
        self.opened.retain(|x| *x != id);
        self.opened.push(id);
        let mut dropped = Vec::new();
        while self.opened.len() > OPENED_KEPT {
            let Some(pos) = self.opened.iter().position(|x| Some(*x) != keep) else {
                break;
            };
            let old = self.opened.remove(pos);
            if let Some(e) = self.get_mut(old)
                && !e.local
            {
                e.state = EntryState::Stored { opening: false };
                e.request = None;
                dropped.push(old);
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: i64) -> Summary {
        Summary {
            id,
            created_ms: 1_700_000_000_000 + id,
            finished_ms: Some(1_700_000_000_500 + id),
            profile: "default".into(),
            outcome: OutcomeKind::Success,
            req_key: Some("high_aes_ip_v20".into()),
            prompt: Some(format!("prompt {id}")),
            http_status: Some(200),
            code: Some(10000),
            summary: None,
            request_id: None,
            duration_ms: Some(12.0),
            star: false,
            note: None,
            result_images: 1,
            updated_seq: id,
            task_id: None,
            task_status: None,
            sweep: None,
        }
    }

    fn ids(h: &HistoryList) -> Vec<Option<i64>> {
        h.entries().iter().map(|e| e.store_id).collect()
    }

    #[test]
    fn search_words_and_filters() {
        let q = parse_search("corgi  is:starred model:high_aes_ip_v20 moon").expect("ok");
        assert_eq!(q.search.as_deref(), Some("corgi moon"));
        assert_eq!(q.starred, Some(true));
        assert_eq!(q.req_key.as_deref(), Some("high_aes_ip_v20"));
        let q = parse_search("is:error").expect("ok");
        assert!(q.outcomes.contains(&OutcomeKind::ServiceError));
        assert!(!q.outcomes.contains(&OutcomeKind::Success));
        assert_eq!(
            parse_search("is:interrupted").expect("ok").outcomes,
            vec![OutcomeKind::Interrupted]
        );
        let e = parse_search("is:shiny").expect_err("unknown");
        assert!(e.contains("\"is:shiny\"") && e.contains("starred"), "{e}");
        assert!(parse_search("model:").is_err());
        let q = parse_search("since:2d").expect("ok");
        let two_days = now_ms() - 2 * 86_400_000;
        assert!(q.since_ms.is_some_and(|t| (t - two_days).abs() < 60_000));
        assert!(parse_search("since:2y").is_err_and(|e| e.contains("since:")));
        assert_eq!(parse_search("  ").expect("ok").search, None);
    }

    #[test]
    fn pages_append_and_replace_keep_opened_rows_and_local_ones() {
        let mut next = 1;
        let mut h = HistoryList::default();
        h.replace((90..100).rev().map(summary).collect(), &mut next, now_ms());
        h.append((80..92).rev().map(summary).collect(), &mut next, now_ms());
        assert_eq!(h.entries().len(), 20);
        assert_eq!(h.oldest_store_id(), Some(80));
        // A request of this run in flight stays on top through a new query.
        h.push(Entry {
            id: 999,
            store_id: None,
            time: "12:00:00".into(),
            req_key: "k".into(),
            prompt: "p".into(),
            request: None,
            state: EntryState::InFlight {
                started: Instant::now(),
                cancelling: false,
            },
            summary: None,
            local: true,
            task: None,
            sweep_id: None,
            awaiting_id: false,
        });
        let opened_id = h.entries()[3].id;
        if let Some(e) = h.get_mut(opened_id) {
            e.state = EntryState::Stored { opening: true };
        }
        h.replace(vec![summary(97), summary(50)], &mut next, now_ms());
        assert_eq!(ids(&h), vec![None, Some(97), Some(50)]);
        assert_eq!(h.entries()[1].id, opened_id, "row 97 keeps its UI id");
        assert!(matches!(
            h.entries()[1].state,
            EntryState::Stored { opening: true }
        ));
    }

    #[test]
    fn changes_update_known_rows_and_insert_newer_ones_in_order() {
        let mut next = 1;
        let mut h = HistoryList::default();
        h.replace(vec![summary(10), summary(8)], &mut next, now_ms());
        let mut starred = summary(8);
        starred.star = true;
        starred.note = Some("keep".into());
        let shifted = h.apply_changes(
            vec![starred, summary(12), summary(11)],
            true,
            0,
            &mut next,
            now_ms(),
        );
        assert_eq!(ids(&h), vec![Some(12), Some(11), Some(10), Some(8)]);
        assert_eq!(shifted, 2);
        assert!(h.entries()[3].star());
        assert_eq!(h.entries()[3].note(), Some("keep"));
        // An old row not listed is left to paging; with a search on, nothing is inserted.
        h.apply_changes(vec![summary(3)], true, 0, &mut next, now_ms());
        h.apply_changes(vec![summary(20)], false, 0, &mut next, now_ms());
        assert_eq!(h.entries().len(), 4);
        assert!(h.remove_store_id(11).is_some());
        assert_eq!(ids(&h), vec![Some(12), Some(10), Some(8)]);
    }

    #[test]
    fn opened_views_beyond_the_cap_are_dropped_but_not_the_shown_one() {
        let mut next = 1;
        let mut h = HistoryList::default();
        h.replace((0..30).rev().map(summary).collect(), &mut next, now_ms());
        let all: Vec<u64> = h.entries().iter().map(|e| e.id).collect();
        let mut dropped = Vec::new();
        for id in &all {
            if let Some(e) = h.get_mut(*id) {
                e.request = Some(Arc::new(serde_json::json!({})));
            }
            dropped.extend(h.opened(*id, Some(all[0])));
        }
        assert_eq!(dropped.len(), all.len() - OPENED_KEPT);
        assert!(!dropped.contains(&all[0]));
    }

    #[test]
    fn stored_text_is_one_escaped_line() {
        assert_eq!(one_line("a\u{202E}b\nc\u{1b}[2J"), "a\\u{202e}b c\\x1b[2J");
        let mut s = summary(1);
        s.prompt = Some("evil\u{2066}\r\nline".into());
        s.req_key = Some("k\u{7}".into());
        let e = Entry::from_summary(1, s, now_ms());
        assert_eq!(e.prompt, "evil\\u{2066}  line");
        assert_eq!(e.req_key, "k\\x07");
    }

    #[test]
    fn time_labels_today_and_before() {
        let day = 86_400_000;
        let now = 1_700_000_000_000;
        assert_eq!(time_label(now, now).len(), 8);
        assert_eq!(time_label(now - 3 * day, now).len(), 11);
    }
}
