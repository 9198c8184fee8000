//! `App`: the single owner of all UI state, and `update`, the only place it changes. `App` is
//! the router: focus, the overlay stack, the status bar and the clock live here; `apply` hands
//! each message to the feature it concerns (one submodule each: parameters, editor, response,
//! previews, history, requests, sweep, presets), and the overlay on top gets the keys.

mod editor;
mod history;
mod params;
mod presets;
mod previews;
mod requests;
mod response;
mod sweep;

pub use crate::tui::overlay::{PresetsView, SavePrompt, SaveWhat};
use history::HistoryPane;
use params::ParamsState;

use crate::api::schema::{self, Kind, SEED_MAX};
use crate::tui::doc::Doc;
use crate::tui::form::{Editing, Form, FormState, Reference, RowKind, line_input, takes_reference};
use crate::tui::history::{Entry, EntryState, HistoryList, PAGE_AHEAD, parse_search_at};
use crate::tui::keymap::{Action, Key, KeyMap, is_reserved};
use crate::tui::layout::{self, Areas};
use crate::tui::msg::{Cmd, EditTarget, HistoryCmd, ImageSource, Msg, Opened};
use crate::tui::overlay::{Overlay, OverlayKind, Overlays};
use crate::tui::preview::{ImageKey, Previews};
use crate::tui::theme::Theme;
use crate::tui::view::{ImageItem, ImageState, ResponseView};
use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Forms the undo stack keeps (each replacement of the form pushes the one it replaced).
pub const UNDO_DEPTH: usize = 20;

/// The first line of the header put over a request that could not be applied when the
/// editor is opened on it again; every header line starts with [`EDITOR_NOTE`].
pub const EDITOR_NOTE: &str = "// volcv: ";

pub use crate::tui::view::COPY_CAP;

/// The three panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The parameter form.
    Params,
    /// The answer of the selected request.
    Response,
    /// This run's requests.
    History,
}

impl Pane {
    const ORDER: [Pane; 3] = [Pane::Params, Pane::Response, Pane::History];

    fn step(self, by: isize) -> Pane {
        let i = Pane::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Pane::ORDER[(i + by).rem_euclid(3) as usize]
    }

    /// The title of the pane.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Params => "Parameters",
            Pane::Response => "Response",
            Pane::History => "History",
        }
    }
}

/// The tabs of the Response pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Result images and the reference.
    Images,
    /// The response body, pretty-printed.
    Body,
    /// The request as sent, secrets redacted.
    Request,
    /// Response headers and attempts.
    Headers,
}

impl Tab {
    /// Every tab in order.
    pub const ALL: [Tab; 4] = [Tab::Images, Tab::Body, Tab::Request, Tab::Headers];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Images => "Images",
            Tab::Body => "Body",
            Tab::Request => "Request",
            Tab::Headers => "Headers",
        }
    }

    fn step(self, by: isize) -> Tab {
        let i = Tab::ALL.iter().position(|t| *t == self).unwrap_or(0) as isize;
        Tab::ALL[(i + by).rem_euclid(4) as usize]
    }
}

/// A one-line message in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The message.
    pub text: String,
    /// Whether it reports a problem (shown in the error style).
    pub error: bool,
}

/// Fixed facts shown in the UI.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// The profile name (or `demo`).
    pub profile: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// The log file.
    pub log_path: String,
}

/// All UI state.
#[derive(Debug)]
pub struct App {
    /// The pane that gets the keys.
    pub focus: Pane,
    /// The parameter form.
    pub form: Form,
    /// The History pane's rows: this run's requests and pages of the history store.
    pub history: HistoryList,
    /// The History pane's selection, scroll, mark and comparison.
    pub(crate) history_pane: HistoryPane,
    /// The Response pane's tab.
    pub tab: Tab,
    /// First visible line of the tab.
    pub(crate) response_scroll: usize,
    /// Rows of that line scrolled past (long lines wrap: one can be taller than the pane).
    pub(crate) response_skip: usize,
    /// The live key map.
    pub keymap: KeyMap,
    /// The styles in use.
    pub theme: Theme,
    /// The terminal size.
    pub size: Rect,
    /// The time of the latest message (elapsed times are measured against it: neither
    /// `update` nor drawing reads a clock).
    pub(crate) clock: Instant,
    /// The wall-clock time of the latest message, in ms since the Unix epoch (UTC).
    now_ms: i64,
    /// Spinner frame, advanced by ticks.
    pub(crate) spinner: usize,
    /// The dialogs and overlays open over the panes; the top one gets the keys.
    pub(crate) overlays: Overlays,
    /// The status bar message.
    pub status: Option<Status>,
    /// The last error, kept in the status bar until the next one.
    pub(crate) last_error: Option<String>,
    /// The undo stack, the editor's kept text and the draft: the form's state beside it.
    pub(crate) params: ParamsState,
    /// Set when the loop should end.
    pub(crate) quit: bool,
    /// The signal that ended the UI (SIGTERM, SIGHUP, SIGINT, SIGQUIT), for the exit code.
    pub(crate) stopped_by: Option<&'static str>,
    /// Why nothing can be sent (no credentials: see `TuiOptions::send_blocked`).
    pub send_blocked: Option<String>,
    /// Profile, endpoint and log path.
    pub(crate) info: Info,
    /// Decoded and encoded image previews.
    pub previews: Previews,
    /// Bumped when the image protocol changes: encodings made for an older one are dropped.
    preview_generation: u64,
    /// The image picked with j/k in the Images tab (reference first, then the results);
    /// `None` until then, meaning the first result (see [`App::image_selection`]).
    image_selected: Option<usize>,
    /// The directory `s` and `o` offer by default (the working directory).
    pub save_dir: PathBuf,
    /// Whether requests go through the async API (submit, then poll) or one sync call.
    pub(crate) mode: crate::api::tasks::Mode,
    /// The sweep running or last shown, with its contact sheet.
    pub sweep: Option<crate::tui::sweep::SweepView>,
    next_sweep: u64,
    next_id: u64,
    /// Whether requests are written to a history store (their number is then the store id,
    /// `#…` until it comes back).
    pub(crate) records: bool,
}

/// Whether a key event is a plain press of this code.
fn is(ev: &KeyEvent, code: KeyCode) -> bool {
    Key::from_event(ev).is_some_and(|k| k.code == code && k.mods.is_empty())
}

impl App {
    /// A fresh app with the form started from `initial` values.
    pub fn new(initial: &Value, keymap: KeyMap, theme: Theme, info: Info, size: Rect) -> App {
        App {
            focus: Pane::Params,
            form: Form::new(schema::default_schema(), initial),
            history: HistoryList::default(),
            history_pane: HistoryPane::default(),
            tab: Tab::Images,
            response_scroll: 0,
            response_skip: 0,
            keymap,
            theme,
            size,
            clock: Instant::now(),
            now_ms: crate::clock::now_ms(),
            spinner: 0,
            overlays: Overlays::default(),
            status: None,
            last_error: None,
            params: ParamsState::default(),
            quit: false,
            stopped_by: None,
            send_blocked: None,
            info,
            previews: Previews::new(false),
            preview_generation: 0,
            image_selected: None,
            save_dir: PathBuf::from("."),
            mode: crate::api::tasks::Mode::Sync,
            sweep: None,
            next_sweep: 1,
            next_id: 1,
            records: false,
        }
    }

    /// Says that the worker writes every request to a history store, so that a request is
    /// called by its store id (`#…` until the row is written) everywhere.
    pub fn set_records(&mut self, on: bool) {
        self.records = on;
    }

    /// Whether the loop is to end.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// The time of the latest message (see [`App::update_at`]).
    pub fn clock(&self) -> Instant {
        self.clock
    }

    /// Request text from `Ctrl-e` that could not be applied and is kept for the next one.
    pub fn unapplied_request(&self) -> Option<&str> {
        self.params.unapplied_request.as_deref()
    }

    /// The first visible line of the Response pane's tab.
    pub fn response_scroll(&self) -> usize {
        self.response_scroll
    }

    /// Rows of the first visible line scrolled past (it wraps and is taller than the pane).
    pub fn response_skip(&self) -> usize {
        self.response_skip
    }

    /// Whether requests go through the async API or one sync call.
    pub fn mode(&self) -> crate::api::tasks::Mode {
        self.mode
    }

    /// Profile, endpoint and log path.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The last error, kept in the status bar until the next one.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The dialogs and overlays open over the panes, bottom first (the top one gets the keys).
    pub fn overlays(&self) -> &Overlays {
        &self.overlays
    }

    /// The pane areas for the current size.
    pub fn areas(&self) -> Areas {
        layout::areas(self.size)
    }

    /// The history entry the Response pane shows.
    pub fn shown(&self) -> Option<&Entry> {
        self.history.entries().get(self.history_pane.selected)
    }

    fn shown_view(&self) -> Option<&Arc<ResponseView>> {
        self.shown().and_then(Entry::view)
    }

    fn info_msg(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    pub(crate) fn error_msg(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.last_error = Some(text.clone());
        self.status = Some(Status { text, error: true });
    }

    /// [`App::update`] for a message that came at `now` (`now_ms` on the wall clock): the
    /// event loop's way in, which reads the clocks so that `update` does not.
    pub fn update_at(&mut self, msg: Msg, now: Instant, now_ms: i64) -> Vec<Cmd> {
        // Never backwards: a tick's time may be later than the loop's reading.
        self.clock = self.clock.max(now);
        self.now_ms = now_ms;
        self.update(msg)
    }

    /// Applies a message at the time last given (see [`App::update_at`]); returns the side
    /// effects to carry out (with the encodings of any image that became visible).
    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        let mut cmds = self.apply(msg);
        self.refresh_compare();
        cmds.extend(self.history_cmds());
        cmds.extend(self.preview_cmds());
        cmds.extend(self.draft_cmd());
        cmds
    }

    fn apply(&mut self, msg: Msg) -> Vec<Cmd> {
        match msg {
            Msg::Key(ev) => self.on_key(&ev),
            Msg::Paste(text) => {
                // The one way in for pasted text: CR, LF and CRLF are one new line from here.
                self.on_paste(&crate::tui::line_edit::newlines(&text))
            }
            Msg::Mouse(ev) => {
                self.on_mouse(&ev);
                Vec::new()
            }
            Msg::Resize(w, h) => {
                self.size = Rect::new(0, 0, w, h);
                self.keep_visible();
                Vec::new()
            }
            Msg::Tick(now) => {
                self.clock = now;
                self.spinner = self.spinner.wrapping_add(1);
                Vec::new()
            }
            Msg::Finished { id, view, duration } => {
                self.on_finished(id, view, duration);
                Vec::new()
            }
            Msg::ImageSaved {
                id,
                index,
                state,
                facts,
            } => {
                self.on_image_saved(id, index, state, facts);
                Vec::new()
            }
            Msg::PreviewDecoded { key, result } => {
                self.on_preview_decoded(key, result);
                Vec::new()
            }
            Msg::ProtocolDetected(setup) => self.on_protocol_detected(setup),
            Msg::PreviewEncoded {
                key,
                generation,
                width,
                height,
                result,
            } => {
                self.on_preview_encoded(key, generation, (width, height), result);
                Vec::new()
            }
            Msg::Saved { text, error } => {
                if error {
                    self.error_msg(text);
                } else {
                    self.info_msg(text);
                }
                Vec::new()
            }
            Msg::ReferenceOverLimits { input, problems } => {
                self.on_reference_over_limits(input, problems);
                Vec::new()
            }
            Msg::ReferenceLoaded { input, result } => {
                self.on_reference_loaded(input, result);
                Vec::new()
            }
            Msg::Completed { input, candidates } => {
                self.on_completed(&input, candidates);
                Vec::new()
            }
            Msg::EditorClosed { target, result } => {
                let result = result.map(|t| crate::tui::line_edit::newlines(&t).into_owned());
                self.on_editor_closed(target, result)
            }
            Msg::Terminate(why) => {
                tracing::info!("terminating on {why}");
                if let Some(text) = self.params.editor_retry.take() {
                    // Kept in the draft: the next start's Ctrl-e opens it again.
                    self.params.unapplied_request = Some(text);
                }
                self.quit = true;
                self.stopped_by = Some(why);
                Vec::new()
            }
            Msg::TaskStatus { id, text } => {
                if let Some(e) = self.history.get_mut(id) {
                    e.task = Some(text);
                }
                Vec::new()
            }
            Msg::SweepPrepared(result) => self.on_sweep_prepared(result),
            Msg::Sweep { n, event } => {
                self.on_sweep(n, event);
                Vec::new()
            }
            Msg::PresetsListed(result) => {
                self.on_presets_listed(result);
                Vec::new()
            }
            Msg::PresetApplied { name, result } => {
                self.on_preset_applied(&name, result);
                Vec::new()
            }
            Msg::PresetsChanged { text, error } => self.on_presets_changed(text, error),
            Msg::CurlReady(result) => self.on_curl_ready(result),
            Msg::HistoryLoaded {
                generation,
                append,
                result,
            } => {
                self.on_history_loaded(generation, append, result);
                Vec::new()
            }
            Msg::HistoryChanged(rows) => {
                self.on_history_changed(rows);
                Vec::new()
            }
            Msg::Recorded { id, result } => {
                self.on_recorded(id, result);
                Vec::new()
            }
            Msg::EntryOpened { id, result } => {
                self.on_entry_opened(id, result);
                Vec::new()
            }
            Msg::HistoryEdited {
                store_id,
                what,
                result,
            } => {
                self.on_history_edited(store_id, what, result);
                Vec::new()
            }
            Msg::HistoryDeleted { store_id, result } => {
                self.on_history_deleted(store_id, result);
                Vec::new()
            }
        }
    }

    fn on_key(&mut self, ev: &KeyEvent) -> Vec<Cmd> {
        let Some(key) = Key::from_event(ev) else {
            return Vec::new();
        };
        if is_reserved(key) {
            self.quit = true;
            return Vec::new();
        }
        if self.sweep.is_none() {
            // A sheet whose sweep is gone is not on screen: it takes no key.
            self.overlays.close(OverlayKind::Sheet);
        }
        if let Some(top) = self.overlays.pop() {
            // The overlay on top (the one drawn over the rest) answers the key; it goes back
            // where it was when it stays open, under anything the key opened.
            let depth = self.overlays.len();
            let (keep, cmds) = self.on_overlay_key(top, ev, key);
            if let Some(o) = keep {
                self.overlays.put_back(depth, o);
            }
            return cmds;
        }
        let action = self.keymap.action(key);
        if self.form.prompt_active {
            return self.on_prompt_key(ev, action);
        }
        if self.form.editing.is_some() {
            return self.on_edit_key(ev);
        }
        if self.focus == Pane::Response
            && self.tab == Tab::Images
            && key.mods.is_empty()
            && let KeyCode::Char(c @ ('f' | 's' | 'o')) = key.code
        {
            self.image_key(c);
            return Vec::new();
        }
        match action {
            Some(a) => self.on_action(a),
            None if is(ev, KeyCode::Esc) => {
                // Esc only closes things; with nothing open it does nothing, and never
                // cancels a request (a reflexive second Esc after closing an edit). In the
                // History pane it drops a kept search.
                if self.focus == Pane::History && !self.history.filter.is_empty() {
                    return self.clear_search();
                }
                if self.busy() {
                    self.info_msg(format!(
                        "Esc closes things; {} cancels a request",
                        self.keymap.label(Action::Cancel)
                    ));
                }
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// A key for the overlay on top, taken off the stack: returns it (changed) when it stays
    /// open.
    fn on_overlay_key(
        &mut self,
        top: Overlay,
        ev: &KeyEvent,
        key: Key,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        match top {
            // Any key returns from the full-screen image.
            Overlay::Fullscreen(_) => (None, Vec::new()),
            Overlay::ConfirmFit { input, .. } => {
                if yes {
                    self.form.reference = Reference::Loading(input.clone());
                    self.form.revalidate();
                    self.info_msg("fitting the reference to the limits…");
                    return (None, vec![Cmd::FitReference(input)]);
                }
                self.info_msg("reference not changed (and not usable as it is)");
                (None, Vec::new())
            }
            Overlay::Save(prompt) => self.on_save_prompt_key(prompt, ev),
            Overlay::ConfirmDelete(id) => {
                if yes && let Some(store_id) = self.history.get(id).and_then(|e| e.store_id) {
                    return (None, vec![Cmd::History(HistoryCmd::Delete { store_id })]);
                }
                self.info_msg("nothing deleted");
                (None, Vec::new())
            }
            Overlay::Note { id, input } => self.on_note_key(id, input, ev),
            Overlay::Search(input) => self.on_search_key(input, ev),
            Overlay::Compare { a, b, scroll } => {
                (self.on_compare_key(a, b, scroll, key), Vec::new())
            }
            Overlay::Presets(p) => self.on_presets_key(p, ev),
            Overlay::SweepInput(input) => self.on_sweep_input_key(input, ev),
            Overlay::Sheet => self.on_sheet_key(ev),
            Overlay::ConfirmQuit => {
                if yes {
                    self.quit = true;
                } else {
                    self.info_msg("quit cancelled");
                }
                (None, Vec::new())
            }
            Overlay::ConfirmCancel { id, .. } => {
                if yes {
                    return (None, self.cancel_now(id));
                }
                let label = self.label_of(id);
                self.info_msg(format!("request {label} not cancelled: it goes on"));
                (None, Vec::new())
            }
            Overlay::Help { scroll } => {
                // The moving keys scroll it; Esc, ?, x and q close it; any other key does
                // nothing (it stays open).
                let action = self.keymap.action(key);
                if is(ev, KeyCode::Esc)
                    || matches!(action, Some(Action::Help | Action::Cancel | Action::Quit))
                {
                    return (None, Vec::new());
                }
                let l =
                    crate::tui::overlay::help_layout(&self.keymap, &self.info.log_path, self.size);
                let (max, page) = (l.max_scroll(), l.visible.max(1));
                let scroll = scroll.min(max);
                let scroll = match action {
                    Some(Action::Down) => scroll + 1,
                    Some(Action::Up) => scroll.saturating_sub(1),
                    Some(Action::PageDown) => scroll + page,
                    Some(Action::PageUp) => scroll.saturating_sub(page),
                    Some(Action::Top) => 0,
                    Some(Action::Bottom) => max,
                    _ => scroll,
                };
                (
                    Some(Overlay::Help {
                        scroll: scroll.min(max),
                    }),
                    Vec::new(),
                )
            }
        }
    }

    fn on_action(&mut self, a: Action) -> Vec<Cmd> {
        match a {
            Action::Send => return self.send(),
            Action::Cancel => return self.cancel(),
            Action::Quit => {
                let n = self.in_flight();
                if n > 0 {
                    self.overlays.open(Overlay::ConfirmQuit);
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.overlays.open(Overlay::Help { scroll: 0 }),
            Action::NextPane => self.focus = self.focus.step(1),
            Action::PrevPane => self.focus = self.focus.step(-1),
            Action::FocusParams => self.focus = Pane::Params,
            Action::FocusResponse => self.focus = Pane::Response,
            Action::FocusHistory => self.focus = Pane::History,
            Action::Copy => return self.copy(),
            Action::Sweep => return self.sweep_key(),
            Action::Curl => match self.form.request() {
                Ok(body) => {
                    self.info_msg("building the curl command…");
                    return vec![Cmd::Curl(body)];
                }
                Err(b) => self.error_msg(format!("no curl command: {}", b.summary())),
            },
            Action::Search => {
                // Searching works from any pane: it moves to the History pane.
                self.focus = Pane::History;
                return self.history_action(a);
            }
            Action::ExternalEditor => return self.external_editor(),
            _ => match self.focus {
                Pane::Params => return self.params_action(a),
                // The Response pane shows the selected History entry: the keys that act on
                // an entry act on it there too, by the same code path.
                Pane::Response
                    if matches!(
                        a,
                        Action::Star | Action::Note | Action::Delete | Action::Replay
                    ) =>
                {
                    return self.history_action(a);
                }
                Pane::Response => self.response_action(a),
                Pane::History => return self.history_action(a),
            },
        }
        Vec::new()
    }

    fn on_mouse(&mut self, ev: &MouseEvent) {
        if self.overlays.iter().any(Overlay::blocks_mouse) || layout::too_small(self.size) {
            return;
        }
        let a = self.areas();
        let pos = Position::new(ev.column, ev.row);
        let pane = [
            (Pane::Params, a.params),
            (Pane::Response, a.response),
            (Pane::History, a.history),
        ]
        .into_iter()
        .find(|(_, r)| r.contains(pos))
        .map(|(p, _)| p);
        let Some(pane) = pane else { return };
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                let inner = layout::inner(match pane {
                    Pane::Params => a.params,
                    Pane::Response => a.response,
                    Pane::History => a.history,
                });
                if !inner.contains(pos) {
                    return;
                }
                let line = usize::from(pos.y - inner.y);
                match pane {
                    Pane::Params if self.form.editing.is_none() && !self.form.prompt_active => {
                        if let Some(crate::tui::form::FormLine::Row(r)) =
                            self.form.lines.get(self.form.scroll + line)
                        {
                            let h = self.form_height();
                            self.form.select(*r, h);
                        }
                    }
                    Pane::History => {
                        let i = self.history_pane.scroll + line;
                        if i < self.history.entries().len() {
                            // A row picked by hand: `G` no longer follows the pages.
                            self.history_pane.to_bottom = false;
                            self.select_history(i);
                        }
                    }
                    Pane::Response => {
                        let summary = self.shown_view().map_or(0, |v| v.summary.len());
                        if line == usize::from(layout::summary_height(summary)) {
                            // The tab bar: each title takes its length plus a separator.
                            let mut x = inner.x;
                            for t in Tab::ALL {
                                let w = t.title().len() as u16 + 3;
                                if pos.x >= x && pos.x < x + w {
                                    self.tab = t;
                                    self.response_scroll = 0;
                                    self.response_skip = 0;
                                }
                                x += w;
                            }
                        }
                    }
                    _ => {}
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = ev.kind == MouseEventKind::ScrollDown;
                let action = if down { Action::Down } else { Action::Up };
                match pane {
                    Pane::Params => {
                        let h = self.form_height();
                        let max = self.form.lines.len().saturating_sub(h);
                        self.form.scroll = if down {
                            (self.form.scroll + 3).min(max)
                        } else {
                            self.form.scroll.saturating_sub(3)
                        };
                    }
                    Pane::Response => {
                        for _ in 0..3 {
                            self.response_action(action);
                        }
                    }
                    Pane::History => {
                        self.history_action(action);
                    }
                }
            }
            _ => {}
        }
    }
}
