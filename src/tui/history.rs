//! This run's requests, newest first, behind a small trait so the persistent store (a later
//! issue) can replace the in-memory list without touching the UI.

use crate::tui::view::ResponseView;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Finished (success, error or cancelled).
    Done {
        /// What the Response pane shows.
        view: Arc<ResponseView>,
        /// How long it took, measured by the client.
        duration: Duration,
    },
}

/// One request in the history list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique within the run.
    pub id: u64,
    /// Local wall-clock time the request was sent, `HH:MM:SS`.
    pub time: String,
    /// The model.
    pub req_key: String,
    /// The prompt, for the one-line summary.
    pub prompt: String,
    /// The request body as sent (reference image included), to reuse its parameters.
    pub request: Arc<serde_json::Value>,
    /// In flight or finished.
    pub state: EntryState,
}

impl Entry {
    /// Whether the request is still running.
    pub fn in_flight(&self) -> bool {
        matches!(self.state, EntryState::InFlight { .. })
    }

    /// The finished view, if any.
    pub fn view(&self) -> Option<&Arc<ResponseView>> {
        match &self.state {
            EntryState::Done { view, .. } => Some(view),
            EntryState::InFlight { .. } => None,
        }
    }
}

/// A list of requests, newest first.
pub trait History: std::fmt::Debug + Send {
    /// Adds a new request at the front.
    fn push(&mut self, entry: Entry);
    /// All entries, newest first.
    fn entries(&self) -> &[Entry];
    /// The entry with this id.
    fn get_mut(&mut self, id: u64) -> Option<&mut Entry>;
}

/// The history of this run, in memory.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    entries: Vec<Entry>,
}

impl History for MemoryHistory {
    fn push(&mut self, entry: Entry) {
        self.entries.insert(0, entry);
    }

    fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id == id)
    }
}
