//! `App`: the single owner of all UI state, and `update`, the only place it changes.

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

/// Why a row cannot be starred, noted or deleted yet.
const NOT_RECORDED: &str = "not in the history store (not recorded yet, or no store)";

/// Forms the undo stack keeps (each replacement of the form pushes the one it replaced).
pub const UNDO_DEPTH: usize = 20;

/// The first line of the header put over a request that could not be applied when the
/// editor is opened on it again; every header line starts with [`EDITOR_NOTE`].
pub const EDITOR_NOTE: &str = "// volcv: ";

/// Largest text `y` copies (OSC 52 payloads beyond this are refused by many terminals).
pub const COPY_CAP: usize = 100_000;

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

/// What the save prompt saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveWhat {
    /// One image, to the file typed.
    One(ImageSource),
    /// Every image of the shown request, into the directory typed, under these stems.
    All(Vec<(ImageSource, String)>),
}

/// The path prompt of `s` (save the selected image) and `o` (save all).
#[derive(Debug, Clone)]
pub struct SavePrompt {
    /// What is saved.
    pub what: SaveWhat,
    /// The path being typed.
    pub input: TextArea<'static>,
}

/// The presets overlay (`p`).
#[derive(Debug, Clone, Default)]
pub struct PresetsView {
    /// The presets, as listed (empty until the worker answers).
    pub items: Vec<crate::presets::PresetInfo>,
    /// The highlighted one.
    pub selected: usize,
    /// The list is being read.
    pub loading: bool,
    /// The name being typed for "save the form as".
    pub naming: Option<TextArea<'static>>,
    /// `d` was pressed once: the next `y` deletes the highlighted preset.
    pub confirm_delete: bool,
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
    /// Selected history row (also the exchange the Response pane shows).
    pub history_selected: usize,
    /// First visible history row.
    pub history_scroll: usize,
    /// The Response pane's tab.
    pub tab: Tab,
    /// First visible line of the tab.
    pub response_scroll: usize,
    /// The live key map.
    pub keymap: KeyMap,
    /// The styles in use.
    pub theme: Theme,
    /// The terminal size.
    pub size: Rect,
    /// The time of the latest message (elapsed times are measured against it: neither
    /// `update` nor drawing reads a clock).
    pub clock: Instant,
    /// The wall-clock time of the latest message, in ms since the Unix epoch (UTC).
    pub now_ms: i64,
    /// Spinner frame, advanced by ticks.
    pub spinner: usize,
    /// The dialogs and overlays open over the panes; the top one gets the keys.
    pub overlays: Overlays,
    /// The status bar message.
    pub status: Option<Status>,
    /// The last error, kept in the status bar until the next one.
    pub last_error: Option<String>,
    /// Forms replaced by a replay, paste, load, editor, model switch or preset, newest last,
    /// each with what replaced it (at most [`UNDO_DEPTH`]).
    pub undo: Vec<(FormState, String)>,
    /// The request text from `Ctrl-e` that is being edited again because it could not be
    /// applied (the editor was reopened on it with the error on top).
    editor_retry: Option<String>,
    /// Request text from `Ctrl-e` that could not be applied and that the user left as it was:
    /// the next `Ctrl-e` on the request opens it again (never discarded).
    pub unapplied_request: Option<String>,
    /// Whether the form is kept in the draft file (a [`Cmd::SaveDraft`] when it changes).
    pub drafts: bool,
    /// The form as last handed to the worker for the draft (a cheap fingerprint).
    draft_seen: Option<String>,
    /// Commands the loop runs once at start (reading a restored draft's reference again).
    start_cmds: Vec<Cmd>,
    /// Set when the loop should end.
    pub quit: bool,
    /// Profile, endpoint and log path.
    pub info: Info,
    /// Decoded and encoded image previews.
    pub previews: Previews,
    /// Bumped when the image protocol changes: encodings made for an older one are dropped.
    pub preview_generation: u64,
    /// The image picked with j/k in the Images tab (reference first, then the results);
    /// `None` until then, meaning the first result (see [`App::image_selection`]).
    pub image_selected: Option<usize>,
    /// The directory `s` and `o` offer by default (the working directory).
    pub save_dir: PathBuf,
    /// The row marked with `m`, to compare with.
    pub marked: Option<u64>,
    /// The comparison's rows, computed once both requests are in memory (not every frame:
    /// describing a base64 reference hashes it).
    pub compare_rows: Option<Vec<crate::tui::compare::DiffRow>>,
    /// A row whose parameters go into the form as soon as it is read from the store.
    replay_pending: Option<u64>,
    /// Whether requests go through the async API (submit, then poll) or one sync call.
    pub mode: crate::api::tasks::Mode,
    /// The sweep running or last shown, with its contact sheet.
    pub sweep: Option<crate::tui::sweep::SweepView>,
    next_sweep: u64,
    next_id: u64,
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
            history_selected: 0,
            history_scroll: 0,
            tab: Tab::Images,
            response_scroll: 0,
            keymap,
            theme,
            size,
            clock: Instant::now(),
            now_ms: crate::clock::now_ms(),
            spinner: 0,
            overlays: Overlays::default(),
            status: None,
            last_error: None,
            undo: Vec::new(),
            editor_retry: None,
            unapplied_request: None,
            drafts: false,
            draft_seen: None,
            start_cmds: Vec::new(),
            quit: false,
            info,
            previews: Previews::new(false),
            preview_generation: 0,
            image_selected: None,
            save_dir: PathBuf::from("."),
            marked: None,
            compare_rows: None,
            replay_pending: None,
            mode: crate::api::tasks::Mode::Sync,
            sweep: None,
            next_sweep: 1,
            next_id: 1,
        }
    }

    /// The images of the shown request in the Images tab's order: the reference first, then
    /// every result. Empty while it is in flight or when it failed.
    pub fn tab_images(&self) -> Vec<(ImageKey, &ImageItem)> {
        let Some(e) = self.shown() else {
            return Vec::new();
        };
        let Some(v) = e.view() else {
            return Vec::new();
        };
        let mut out: Vec<(ImageKey, &ImageItem)> = v
            .images
            .iter()
            .filter(|i| i.state == ImageState::Reference)
            .map(|i| (ImageKey::Reference { id: e.id }, i))
            .collect();
        out.extend(
            v.images
                .iter()
                .enumerate()
                .filter(|(_, i)| i.state != ImageState::Reference)
                .map(|(index, i)| (ImageKey::Result { id: e.id, index }, i)),
        );
        out
    }

    /// The selected image's index in [`App::tab_images`]: the one picked, else the first
    /// result (what the user came for), else the reference.
    pub fn image_selection(&self) -> usize {
        let imgs = self.tab_images();
        let first_result = imgs
            .iter()
            .position(|(k, _)| matches!(k, ImageKey::Result { .. }))
            .unwrap_or(0);
        self.image_selected
            .unwrap_or(first_result)
            .min(imgs.len().saturating_sub(1))
    }

    /// The reference loaded in the form, as a preview key (local files only).
    pub fn form_preview_key(&self) -> Option<ImageKey> {
        match &self.form.reference {
            Reference::Image(img) => img
                .path
                .as_ref()
                .map(|p| ImageKey::Form(p.display().to_string())),
            _ => None,
        }
    }

    /// Whether the Parameters pane shows the reference preview.
    pub fn params_preview(&self) -> bool {
        self.previews.enabled && self.form_preview_key().is_some()
    }

    /// The image the History pane shows beside the list: the selected request's first result,
    /// once decoded.
    pub fn history_thumb(&self) -> Option<ImageKey> {
        if !self.previews.enabled {
            return None;
        }
        let key = ImageKey::Result {
            id: self.shown()?.id,
            index: 0,
        };
        matches!(self.previews.decoded.get(&key), Some(Ok(_))).then_some(key)
    }

    fn form_height(&self) -> usize {
        layout::form_rows(
            &self.areas(),
            self.form.prompt_active,
            self.params_preview(),
        )
    }

    /// Every image on screen now with the area it is drawn in: what the renderer will look up
    /// in the preview cache.
    pub fn visible_previews(&self) -> Vec<(ImageKey, Rect)> {
        if layout::too_small(self.size) {
            return Vec::new();
        }
        // The topmost overlay that covers the panes decides what is under it.
        let cover = self
            .overlays
            .iter()
            .rev()
            .find(|o| matches!(o, Overlay::Fullscreen(_)) || self.sheet_shown(o));
        if let Some(Overlay::Fullscreen(k)) = cover {
            return vec![(k.clone(), layout::fullscreen_picture(self.size))];
        }
        if let Some(v) = self.sweep.as_ref().filter(|_| cover.is_some()) {
            // The contact sheet covers the panes: only its tiles are on screen.
            let a = crate::tui::sweep::sheet_area(v, self.size);
            return a
                .tiles
                .iter()
                .filter(|(_, p, _)| p.width >= 2 && p.height >= 1)
                .map(|(cell, p, _)| {
                    (
                        ImageKey::Cell {
                            sweep: v.n,
                            cell: *cell,
                        },
                        *p,
                    )
                })
                .collect();
        }
        let a = self.areas();
        let mut out = Vec::new();
        if let Some(k) = self.form_preview_key()
            && self.previews.enabled
        {
            let [_, _, preview, _] = layout::params_parts(&a, self.form.prompt_active, true);
            out.push((k, preview));
        }
        if let Some(k) = self.history_thumb() {
            let [_, thumb] = layout::history_parts(a.history, true);
            out.push((k, thumb));
        }
        if self.tab == Tab::Images
            && let Some(v) = self.shown_view()
        {
            let [_, _, body] = layout::response_parts(&a, v.summary.len());
            let imgs = self.tab_images();
            for ((k, _), cell) in imgs.iter().zip(layout::image_cells(body, imgs.len())) {
                out.push((k.clone(), layout::cell_picture(cell)));
            }
        }
        out
    }

    /// Asks the worker to encode what is on screen and not cached at its size yet.
    fn preview_cmds(&mut self) -> Vec<Cmd> {
        let wanted = self.visible_previews();
        let mut cmds: Vec<Cmd> = Vec::new();
        // The History pane's thumbnail of the selected request is wanted even when the
        // Images tab is not on screen.
        let thumb = self
            .shown()
            .map(|e| ImageKey::Result { id: e.id, index: 0 });
        let decode: Vec<ImageKey> = wanted
            .iter()
            .map(|(k, _)| k.clone())
            .chain(thumb.filter(|_| self.previews.enabled))
            .collect();
        // Images dropped from memory (or read back from the store) are decoded from their
        // bytes when shown.
        for key in &decode {
            if self.previews.evicted.contains(key)
                && !self.previews.decoding.contains(key)
                && let Some(source) = self.preview_source(key)
            {
                self.previews.decoding.insert(key.clone());
                cmds.push(Cmd::DecodePreview {
                    key: key.clone(),
                    source,
                });
            }
        }
        let generation = self.preview_generation;
        cmds.extend(self.previews.missing(&wanted).into_iter().map(
            |(key, image, width, height)| Cmd::EncodePreview {
                key,
                generation,
                image,
                width,
                height,
            },
        ));
        cmds
    }

    /// Where the bytes of a previewed image are now.
    fn preview_source(&self, key: &ImageKey) -> Option<ImageSource> {
        match key {
            ImageKey::Form(path) => Some(ImageSource::File(PathBuf::from(path))),
            ImageKey::Result { id, index } => {
                let e = self.history.entries().iter().find(|e| e.id == *id)?;
                match &e.view()?.images.get(*index)?.state {
                    ImageState::Saved(p) => Some(ImageSource::File(p.clone())),
                    _ => None,
                }
            }
            ImageKey::Cell { sweep, cell } => {
                let v = self.sweep.as_ref().filter(|v| v.n == *sweep)?;
                v.cells.get(*cell)?.image.clone().map(ImageSource::File)
            }
            ImageKey::Reference { id } => {
                let e = self.history.entries().iter().find(|e| e.id == *id)?;
                let b64 = e
                    .request
                    .as_ref()?
                    .get("binary_data_base64")?
                    .as_array()?
                    .first()?
                    .as_str()?;
                Some(ImageSource::Base64(Arc::from(b64)))
            }
        }
    }

    /// Whether `o` is the contact sheet of a sweep there is (a sheet without one is not drawn).
    fn sheet_shown(&self, o: &Overlay) -> bool {
        matches!(o, Overlay::Sheet) && self.sweep.is_some()
    }

    /// Whether the contact sheet of the current sweep is open.
    pub fn sheet_open(&self) -> bool {
        self.sweep.is_some() && self.overlays.has(OverlayKind::Sheet)
    }

    /// Opens (on top) or closes the contact sheet of the current sweep.
    pub fn show_sheet(&mut self, open: bool) {
        if open {
            self.overlays.open(Overlay::Sheet);
        } else {
            self.overlays.close(OverlayKind::Sheet);
        }
    }

    /// The two rows of the open comparison.
    fn compared(&self) -> Option<(u64, u64)> {
        match self.overlays.get(OverlayKind::Compare) {
            Some(Overlay::Compare { a, b, .. }) => Some((*a, *b)),
            _ => None,
        }
    }

    /// The pane areas for the current size.
    pub fn areas(&self) -> Areas {
        layout::areas(self.size)
    }

    /// Whether any request is in flight (the tick runs only then).
    pub fn busy(&self) -> bool {
        self.history.entries().iter().any(Entry::in_flight)
    }

    /// How many requests are in flight (a running sweep counts as one).
    pub fn in_flight(&self) -> usize {
        self.history
            .entries()
            .iter()
            .filter(|e| e.in_flight())
            .count()
            + usize::from(self.sweep.as_ref().is_some_and(|v| v.running))
    }

    /// The history entry the Response pane shows.
    pub fn shown(&self) -> Option<&Entry> {
        self.history.entries().get(self.history_selected)
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

    fn error_msg(&mut self, text: impl Into<String>) {
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

    /// A [`Cmd::SaveDraft`] when the form changed since the draft was last handed over.
    fn draft_cmd(&mut self) -> Option<Cmd> {
        if !self.drafts {
            return None;
        }
        let state = self.form.state();
        let unapplied = self.unapplied_request.as_deref();
        let fp = crate::tui::draft::fingerprint(&state, unapplied);
        if self.draft_seen.as_deref() == Some(fp.as_str()) {
            return None;
        }
        self.draft_seen = Some(fp);
        Some(Cmd::SaveDraft(crate::tui::draft::to_text(
            &state, unapplied,
        )))
    }

    /// Takes the current form as the one the draft file already holds (after a restore).
    pub fn draft_saved(&mut self) {
        self.draft_seen = Some(crate::tui::draft::fingerprint(
            &self.form.state(),
            self.unapplied_request.as_deref(),
        ));
    }

    /// The commands to run once when the loop starts (taken: a second call has none).
    pub fn take_start_cmds(&mut self) -> Vec<Cmd> {
        std::mem::take(&mut self.start_cmds)
    }

    /// Puts a restored draft in the form: the form it replaces (the defaults, or the
    /// config's) can be undone; a reference loaded from a file is read again from its path.
    pub fn restore_draft(&mut self, draft: crate::tui::draft::Draft) {
        self.push_undo("the restored draft");
        let h = self.form_height();
        self.form = Form::from_state(&draft.state);
        self.form.keep_visible(h);
        if let Reference::Loading(input) = &self.form.reference {
            self.start_cmds.push(Cmd::LoadReference(input.clone()));
        }
        self.unapplied_request = draft.unapplied_request;
        self.draft_saved();
    }

    /// Pushes the form about to be replaced on the undo stack; `by` says what replaces it.
    fn push_undo(&mut self, by: impl Into<String>) {
        if self.undo.len() >= UNDO_DEPTH {
            self.undo.remove(0);
        }
        self.undo.push((self.form.state(), by.into()));
    }

    /// `u`: the form as it was before the last replacement.
    fn undo_form(&mut self) {
        let Some((state, by)) = self.undo.pop() else {
            self.info_msg("nothing to undo");
            return;
        };
        let h = self.form_height();
        self.form = Form::from_state(&state);
        self.form.keep_visible(h);
        let more = self.undo.len();
        self.info_msg(format!(
            "undone: {by} ({more} more to undo; {} undoes)",
            self.keymap.label(Action::Undo)
        ));
    }

    /// Replaces the whole form with a request body (replay, paste, `--load`, `Ctrl-e`): the
    /// form moves to the body's `req_key` as `volcv send` does with a file (no `req_key`: the
    /// form's model). A body without a reference keeps the form's (the editor leaves a loaded
    /// file's base64 out) when the model takes one. The replaced form can be undone. An
    /// unknown `req_key` changes nothing.
    pub fn replace_form(&mut self, body: &Value, by: &str) -> Result<(), String> {
        let schema = match body.get("req_key") {
            None | Some(Value::Null) => self.form.schema,
            Some(Value::String(k)) => schema::schema_for(k).ok_or_else(|| {
                format!(
                    "req_key {k:?} is not a model volcv knows (known: {}); form unchanged",
                    schema::known_req_keys()
                )
            })?,
            Some(v) => {
                return Err(format!(
                    "req_key must be a string, got {}; form unchanged",
                    schema::json_type(v)
                ));
            }
        };
        let mut form = Form::new(schema, body);
        if form.reference == Reference::Empty && takes_reference(schema) {
            form.reference = self.form.reference.clone();
            form.revalidate();
        }
        let h = self.form_height();
        form.select(self.form.selected.min(form.rows.len().saturating_sub(1)), h);
        self.push_undo(by);
        self.form = form;
        Ok(())
    }

    /// Computes the comparison's rows once both requests are known; drops them when it closes.
    fn refresh_compare(&mut self) {
        let Some((a, b)) = self.compared() else {
            self.compare_rows = None;
            return;
        };
        if self.compare_rows.is_some() {
            return;
        }
        let body = |id: u64| self.history.get(id).and_then(|e| e.request.clone());
        if let (Some(ra), Some(rb)) = (body(a), body(b)) {
            self.compare_rows = Some(crate::tui::compare::diff_rows(&ra, &rb));
        }
    }

    /// The commands to run once at start: read the first page of the history store.
    pub fn start(&mut self) -> Vec<Cmd> {
        self.reload_history()
    }

    /// Reads the first page for the current search line, replacing the rows when it comes.
    fn reload_history(&mut self) -> Vec<Cmd> {
        self.history.generation += 1;
        self.history.loading = true;
        self.history.exhausted = false;
        vec![Cmd::History(HistoryCmd::Load {
            generation: self.history.generation,
            filter: self.history.filter.clone(),
            before: None,
        })]
    }

    /// What the history rows on screen need from the store: the selected recorded entry read
    /// (the Response pane shows it), the rows of an open comparison, and the next page when
    /// the selection nears the last loaded row.
    fn history_cmds(&mut self) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        let mut want: Vec<u64> = self.shown().map(|e| e.id).into_iter().collect();
        if let Some((a, b)) = self.compared() {
            want.extend([a, b]);
        }
        for id in want {
            if let Some(e) = self.history.get_mut(id)
                && let EntryState::Stored { opening } = &mut e.state
                && !*opening
                && let Some(store_id) = e.store_id
            {
                *opening = true;
                cmds.push(Cmd::History(HistoryCmd::Open { id, store_id }));
            }
        }
        let n = self.history.entries().len();
        if self.history.stored
            && !self.history.loading
            && !self.history.exhausted
            && self.history_selected + PAGE_AHEAD >= n
            && let Some(before) = self.history.oldest_store_id()
        {
            self.history.loading = true;
            cmds.push(Cmd::History(HistoryCmd::Load {
                generation: self.history.generation,
                filter: self.history.filter.clone(),
                before: Some(before),
            }));
        }
        cmds
    }

    fn on_history_loaded(
        &mut self,
        generation: u64,
        append: bool,
        result: Result<(Vec<crate::store::Summary>, Option<u64>), String>,
    ) {
        if generation != self.history.generation {
            return;
        }
        self.history.loading = false;
        match result {
            Err(e) => {
                self.history.exhausted = true;
                self.error_msg(format!("history: {e}"));
            }
            Ok((rows, total)) => {
                self.history.stored = true;
                self.history.exhausted = rows.len() < crate::tui::history::PAGE;
                if append {
                    self.history.append(rows, &mut self.next_id, self.now_ms);
                } else {
                    let shown = self.shown().map(|e| e.id);
                    self.history.replace(rows, &mut self.next_id, self.now_ms);
                    self.history.total = total;
                    // Keep the row that was shown selected when it is still listed.
                    let at = shown
                        .and_then(|id| self.history.entries().iter().position(|e| e.id == id))
                        .unwrap_or(0);
                    self.history_selected = usize::MAX;
                    self.select_history(at);
                }
            }
        }
    }

    fn on_history_changed(&mut self, rows: Vec<crate::store::Summary>) {
        if !self.history.stored {
            return;
        }
        let insert = self.history.filter.trim().is_empty();
        let had_rows = !self.history.entries().is_empty();
        let shifted = self.history.apply_changes(
            rows,
            insert,
            self.history_selected,
            &mut self.next_id,
            self.now_ms,
        );
        if shifted > 0 && had_rows {
            // Rows from another volcv arrived above: keep the same row selected.
            self.history_selected += shifted;
            self.history_scroll += shifted;
        }
        let n = self.history.entries().len();
        self.history_selected = self.history_selected.min(n.saturating_sub(1));
        self.history_scroll = self.history_scroll.min(self.history_selected);
        self.keep_visible();
    }

    fn on_entry_opened(&mut self, id: u64, result: Result<Opened, String>) {
        let shown = self.shown().map(|e| e.id);
        let Some(e) = self.history.get_mut(id) else {
            return;
        };
        match result {
            Ok(o) => {
                let error_view = !o.view.verdict.is_ok();
                e.request = Some(o.request);
                e.sweep_id = o.sweep_id;
                e.state = EntryState::Done {
                    view: Arc::from(o.view),
                    duration: o.duration,
                };
                if let EntryState::Done { view, .. } = &e.state {
                    for (index, img) in view.images.iter().enumerate() {
                        let key = match img.state {
                            ImageState::Saved(_) => ImageKey::Result { id, index },
                            ImageState::Reference => ImageKey::Reference { id },
                            _ => continue,
                        };
                        self.previews.on_demand(key);
                    }
                }
                for dropped in self.history.opened(id, shown) {
                    self.previews.forget_request(dropped);
                }
                if shown == Some(id) && error_view && self.tab == Tab::Images {
                    self.tab = Tab::Body;
                }
                if self.replay_pending == Some(id) {
                    self.replay_pending = None;
                    self.replay(id);
                }
            }
            Err(err) => {
                let label = e
                    .store_id
                    .map_or_else(|| format!("#{id}"), |s| format!("#{s}"));
                // Shown in the Response pane; not retried by itself.
                e.state = EntryState::Done {
                    view: Arc::new(ResponseView::transport(
                        crate::tui::view::Verdict::Transport,
                        &format!("cannot read history entry {label}: {err}"),
                        crate::tui::doc::Doc::default(),
                        "-",
                    )),
                    duration: std::time::Duration::ZERO,
                };
                if self.replay_pending == Some(id) {
                    self.replay_pending = None;
                }
                self.error_msg(format!("history entry {label}: {err}"));
            }
        }
    }

    fn apply(&mut self, msg: Msg) -> Vec<Cmd> {
        match msg {
            Msg::Key(ev) => self.on_key(&ev),
            Msg::Paste(text) => {
                self.on_paste(&text);
                Vec::new()
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
                let verdict = view.verdict;
                let shown = self.shown().map(|e| e.id) == Some(id);
                if shown && !verdict.is_ok() && self.tab == Tab::Images {
                    // An error has no images: show what the server said instead.
                    self.tab = Tab::Body;
                    self.response_scroll = 0;
                }
                // The first summary line says how it ended: `✔ 10000 success`, `✘ 50411 ...`.
                let headline: String = view
                    .summary
                    .first()
                    .map(|l| l.iter().map(|(_, t)| t.as_str()).collect())
                    .unwrap_or_default();
                let label = self
                    .history
                    .get(id)
                    .map_or_else(|| format!("#{id}"), Entry::label);
                let text = format!(
                    "{label}: {headline} ({})",
                    crate::tui::view::fmt_duration(duration)
                );
                match verdict {
                    crate::tui::view::Verdict::Success | crate::tui::view::Verdict::Cancelled => {
                        self.info_msg(text);
                    }
                    _ => self.error_msg(text),
                }
                if let Some(e) = self.history.get_mut(id) {
                    e.state = EntryState::Done {
                        view: Arc::from(view),
                        duration,
                    };
                }
                Vec::new()
            }
            Msg::ImageSaved {
                id,
                index,
                state,
                facts,
            } => {
                if let Some(e) = self.history.get_mut(id)
                    && let EntryState::Done { view, .. } = &mut e.state
                    && let Some(item) = Arc::make_mut(view).images.get_mut(index)
                {
                    item.state = state;
                    if let Some(f) = facts {
                        item.format = f.format;
                        item.dims = f.dims;
                        item.bytes = Some(f.bytes);
                    }
                }
                Vec::new()
            }
            Msg::PreviewDecoded { key, result } => {
                if let Err(e) = &result {
                    tracing::warn!(?key, "no preview: {e}");
                }
                // A new decode of the same key (a reloaded reference) invalidates encodings.
                let visible = self.visible_previews();
                self.previews.insert_decoded(key, result, &visible);
                Vec::new()
            }
            Msg::ProtocolDetected(setup) => {
                // Previews are switched, never blocked on: what was encoded for the old
                // protocol goes, and what is on screen is encoded again.
                self.preview_generation += 1;
                self.previews.enabled = setup.0.protocol != crate::tui::preview::Protocol::None;
                self.previews.encoded.clear();
                self.previews.pending.clear();
                vec![Cmd::UsePreviews(setup)]
            }
            Msg::PreviewEncoded {
                key,
                generation,
                width,
                height,
                result,
            } => {
                if generation != self.preview_generation {
                    return Vec::new();
                }
                let k = (key, width, height);
                self.previews.pending.remove(&k);
                if self.previews.decoded.contains_key(&k.0) {
                    self.previews.encoded.insert(k, result);
                }
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
                if self.form.reference == Reference::Loading(input.clone()) {
                    self.form.reference = Reference::Failed {
                        input: input.clone(),
                        error: format!("over the service's limits: {}", problems.join("; ")),
                    };
                    self.form.revalidate();
                    self.overlays.open(Overlay::ConfirmFit { input, problems });
                }
                Vec::new()
            }
            Msg::ReferenceLoaded { input, result } => {
                // Only the latest input counts.
                if self.form.reference == Reference::Loading(input.clone()) {
                    self.form.reference = match result {
                        Ok(img) => Reference::Image(img),
                        Err(error) => Reference::Failed { input, error },
                    };
                    self.form.revalidate();
                }
                Vec::new()
            }
            Msg::Completed { input, candidates } => {
                self.on_completed(&input, candidates);
                Vec::new()
            }
            Msg::EditorClosed { target, result } => self.on_editor_closed(target, result),
            Msg::Terminate(why) => {
                tracing::info!("terminating on {why}");
                if let Some(text) = self.editor_retry.take() {
                    // Kept in the draft: the next start's Ctrl-e opens it again.
                    self.unapplied_request = Some(text);
                }
                self.quit = true;
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
                match (result, self.overlays.get_mut(OverlayKind::Presets)) {
                    (Ok(items), Some(Overlay::Presets(p))) => {
                        p.loading = false;
                        p.selected = p.selected.min(items.len().saturating_sub(1));
                        p.items = items;
                    }
                    (Err(e), _) => {
                        self.overlays.close(OverlayKind::Presets);
                        self.error_msg(format!("presets: {e}"));
                    }
                    (Ok(_), _) => {}
                }
                Vec::new()
            }
            Msg::PresetApplied { name, result } => {
                match result {
                    Ok(sw) => {
                        let n = sw.dropped.len();
                        self.push_undo(format!("preset {name:?}"));
                        self.use_switched(sw);
                        self.info_msg(if n == 0 {
                            format!("preset {name:?} applied")
                        } else {
                            format!("preset {name:?} applied; {n} field(s) the model does not take dropped")
                        });
                    }
                    Err(e) => self.error_msg(e),
                }
                Vec::new()
            }
            Msg::PresetsChanged { text, error } => {
                if error {
                    self.error_msg(text);
                } else {
                    self.info_msg(text);
                }
                if self.overlays.has(OverlayKind::Presets) {
                    return vec![Cmd::Presets(crate::tui::msg::PresetCmd::List)];
                }
                Vec::new()
            }
            Msg::CurlReady(result) => match result {
                Err(e) => {
                    self.error_msg(format!("no curl command: {e}"));
                    Vec::new()
                }
                Ok(text) if text.len() <= COPY_CAP => {
                    self.info_msg(format!(
                        "curl command copied ({} bytes; secrets as $VOLCV_API_KEY / \
                         $VOLC_ACCESSKEY references, signature valid 15 min)",
                        text.len()
                    ));
                    vec![Cmd::Copy(text)]
                }
                Ok(text) => {
                    let stamp = local_time(self.now_ms).replace(':', "");
                    let path = self.save_dir.join(format!("volcv-curl-{stamp}.sh"));
                    // A script (the body in its here-document) ends with a line break.
                    let text = format!("{text}\n");
                    vec![Cmd::WriteText { text, path }]
                }
            },
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
                match result {
                    Ok(store_id) => {
                        if let Some(e) = self.history.get_mut(id) {
                            e.store_id = Some(store_id);
                        }
                    }
                    Err(e) => self.error_msg(format!("#{id} not recorded in the history: {e}")),
                }
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
                match result {
                    Ok(summary) => {
                        let text = format!("#{store_id} {what}");
                        self.history.apply_changes(
                            vec![summary],
                            false,
                            0,
                            &mut self.next_id,
                            self.now_ms,
                        );
                        self.info_msg(text);
                    }
                    Err(e) => self.error_msg(format!("history #{store_id}: {e}")),
                }
                Vec::new()
            }
            Msg::HistoryDeleted { store_id, result } => {
                match result {
                    Ok(files) => {
                        if let Some(e) = self.history.remove_store_id(store_id) {
                            self.previews.forget_request(e.id);
                            if self.marked == Some(e.id) {
                                self.marked = None;
                            }
                        }
                        let n = self.history.entries().len();
                        let at = self.history_selected.min(n.saturating_sub(1));
                        self.history_selected = usize::MAX;
                        self.select_history(at);
                        self.info_msg(format!(
                            "#{store_id} deleted ({files} image file(s) no longer used removed)"
                        ));
                    }
                    Err(e) => self.error_msg(format!("#{store_id} not deleted: {e}")),
                }
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
                // cancels a request (a reflexive second Esc after closing an edit).
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
            Overlay::ConfirmCancel(id) => {
                if yes {
                    return (None, self.cancel_now(id));
                }
                self.info_msg(format!("request #{id} not cancelled: it goes on"));
                (None, Vec::new())
            }
            Overlay::Help => {
                let close = is(ev, KeyCode::Esc)
                    || matches!(
                        self.keymap.action(key),
                        Some(Action::Help | Action::Cancel | Action::Quit)
                    );
                (if close { None } else { Some(Overlay::Help) }, Vec::new())
            }
        }
    }

    fn on_prompt_key(&mut self, ev: &KeyEvent, action: Option<Action>) -> Vec<Cmd> {
        match action {
            _ if is(ev, KeyCode::Esc) => {
                self.form.prompt_active = false;
                self.form.revalidate();
                Vec::new()
            }
            Some(Action::Send) => self.send(),
            Some(Action::ExternalEditor) => vec![Cmd::OpenEditor {
                target: EditTarget::Prompt,
                text: self.form.prompt_text(),
            }],
            _ => {
                if self.form.prompt.input(*ev) {
                    self.form.revalidate();
                }
                Vec::new()
            }
        }
    }

    fn on_edit_key(&mut self, ev: &KeyEvent) -> Vec<Cmd> {
        let Some(editing) = self.form.editing.as_mut() else {
            return Vec::new();
        };
        let row = editing.row;
        let kind = self.form.rows.get(row).map(|r| r.kind);
        if is(ev, KeyCode::Esc) {
            self.form.editing = None;
            self.info_msg("edit discarded");
            return Vec::new();
        }
        if is(ev, KeyCode::Tab) && kind == Some(RowKind::Reference) {
            let text = editing.input.lines().join("");
            return vec![Cmd::Complete(text)];
        }
        if is(ev, KeyCode::Enter) {
            return self.commit_edit();
        }
        if let Some(Action::Send) = Key::from_event(ev).and_then(|k| self.keymap.action(k)) {
            // Sending from an edit commits it first, so what is sent is what is shown.
            let mut cmds = self.commit_edit();
            cmds.extend(self.send());
            return cmds;
        }
        if Key::from_event(ev).is_some_and(|k| {
            k.code == KeyCode::Char('u')
                && k.mods == ratatui::crossterm::event::KeyModifiers::CONTROL
        }) {
            // Readline's Ctrl-u: clear to the start of the line (the textarea would undo).
            editing.input.delete_line_by_head();
            editing.completions.clear();
            return Vec::new();
        }
        if matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) {
            // Single-line input: no newlines or tabs.
            return Vec::new();
        }
        editing.input.input(*ev);
        editing.completions.clear();
        Vec::new()
    }

    /// `f` full screen, `s` save the selected image, `o` save all (Images tab).
    fn image_key(&mut self, c: char) {
        let imgs: Vec<(ImageKey, ImageItem)> = self
            .tab_images()
            .into_iter()
            .map(|(k, i)| (k, i.clone()))
            .collect();
        let Some((key, item)) = imgs.get(self.image_selection()) else {
            self.info_msg("no image to show or save");
            return;
        };
        match c {
            'f' => {
                if self.previews.enabled {
                    self.overlays.open(Overlay::Fullscreen(key.clone()));
                } else {
                    self.info_msg("previews are off (--image-protocol none)");
                }
            }
            's' => match self.image_source(key, item) {
                Some((source, name)) => {
                    let path = self.save_dir.join(name);
                    self.overlays.open(Overlay::Save(SavePrompt {
                        what: SaveWhat::One(source),
                        input: line_input(&path.display().to_string()),
                    }));
                }
                None => self.info_msg(format!("{}: nothing to save yet", item.label)),
            },
            _ => {
                let items: Vec<(ImageSource, String)> = imgs
                    .iter()
                    .filter_map(|(k, i)| self.image_source(k, i))
                    .map(|(src, name)| {
                        let stem = name
                            .rsplit_once('.')
                            .map_or(name.as_str(), |(s, _)| s)
                            .to_owned();
                        (src, stem)
                    })
                    .collect();
                if items.is_empty() {
                    self.info_msg("nothing to save yet");
                    return;
                }
                let id = self.shown().map_or(0, |e| e.id);
                let dir = self.save_dir.join(format!("volcv-{id}"));
                self.overlays.open(Overlay::Save(SavePrompt {
                    what: SaveWhat::All(items),
                    input: line_input(&dir.display().to_string()),
                }));
            }
        }
    }

    /// Where an image's bytes are, and a file name for it.
    fn image_source(&self, key: &ImageKey, item: &ImageItem) -> Option<(ImageSource, String)> {
        match (&item.state, key) {
            (ImageState::Saved(p), _) => Some((
                ImageSource::File(p.clone()),
                p.file_name()?.to_string_lossy().into_owned(),
            )),
            (ImageState::Reference, ImageKey::Reference { id }) => {
                let b64 = self
                    .shown()?
                    .request
                    .as_ref()?
                    .get("binary_data_base64")?
                    .as_array()?
                    .first()?
                    .as_str()?;
                let ext = if item.format.eq_ignore_ascii_case("png") {
                    "png"
                } else {
                    "jpg"
                };
                Some((
                    ImageSource::Base64(Arc::from(b64)),
                    format!("volcv-{id}-reference.{ext}"),
                ))
            }
            _ => None,
        }
    }

    fn on_save_prompt_key(
        &mut self,
        mut prompt: SavePrompt,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        if is(ev, KeyCode::Esc) {
            self.info_msg("not saved");
            return (None, Vec::new());
        }
        if is(ev, KeyCode::Enter) {
            let text = prompt.input.lines().join("").trim().to_owned();
            if text.is_empty() {
                self.info_msg("not saved: no path");
                return (None, Vec::new());
            }
            self.info_msg("saving…");
            let path = PathBuf::from(text);
            return (
                None,
                vec![match prompt.what {
                    SaveWhat::One(source) => Cmd::SaveImage { source, path },
                    SaveWhat::All(items) => Cmd::SaveAll { items, dir: path },
                }],
            );
        }
        if Key::from_event(ev).is_some_and(|k| {
            k.code == KeyCode::Char('u')
                && k.mods == ratatui::crossterm::event::KeyModifiers::CONTROL
        }) {
            prompt.input.delete_line_by_head();
        } else if !matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) {
            prompt.input.input(*ev);
        }
        (Some(Overlay::Save(prompt)), Vec::new())
    }

    fn commit_edit(&mut self) -> Vec<Cmd> {
        let Some(editing) = self.form.editing.take() else {
            return Vec::new();
        };
        let text = editing.input.lines().join("");
        match self.form.rows.get(editing.row).map(|r| r.kind) {
            Some(RowKind::Reference) => {
                let t = text.trim().to_owned();
                if t.is_empty() {
                    self.form.reference = Reference::Empty;
                    self.form.revalidate();
                    Vec::new()
                } else if t.starts_with("http://") || t.starts_with("https://") {
                    self.form.reference = Reference::Url(t);
                    self.form.revalidate();
                    Vec::new()
                } else {
                    self.form.reference = Reference::Loading(t.clone());
                    self.form.revalidate();
                    vec![Cmd::LoadReference(t)]
                }
            }
            Some(RowKind::Field(f)) => {
                self.form.commit_text(f, &text);
                if let Some(e) = self.form.row_error(editing.row) {
                    self.error_msg(e);
                } else {
                    self.status = None;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_completed(&mut self, input: &str, candidates: Vec<String>) {
        let Some(editing) = self.form.editing.as_mut() else {
            return;
        };
        if editing.input.lines().join("") != input {
            return; // The user typed on; this answer is stale.
        }
        let prefix = common_prefix(&candidates);
        if prefix.len() > input.len() {
            editing.input = line_input(&prefix);
        }
        if candidates.len() == 1 || candidates.is_empty() {
            editing.completions.clear();
            if candidates.is_empty() {
                self.info_msg("no matching path");
            }
        } else {
            editing.completions = candidates;
        }
    }

    fn on_editor_closed(&mut self, target: EditTarget, result: Result<String, String>) -> Vec<Cmd> {
        let text = match result {
            Ok(t) => t,
            Err(e) => {
                match (target, self.editor_retry.take()) {
                    (EditTarget::Request, Some(kept)) => {
                        // The user's text is never thrown away.
                        self.unapplied_request = Some(kept);
                        self.error_msg(format!(
                            "editor: {e}; your request text is kept: {} opens it again",
                            self.keymap.label(Action::ExternalEditor)
                        ));
                    }
                    _ => self.error_msg(format!("editor: {e}")),
                }
                return Vec::new();
            }
        };
        match target {
            EditTarget::Prompt => {
                let text = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                let mut body = self.form.editable_json();
                schema::set_path(&mut body, "prompt", Value::String(text));
                self.form.replace_values(&body);
                self.info_msg("prompt updated from the editor");
                Vec::new()
            }
            EditTarget::Request => self.on_request_edited(&strip_editor_note(&text)),
        }
    }

    /// The whole request came back from `$EDITOR`: applied, or (not valid JSON, not an
    /// object, an unknown model) the editor opens again on the same text with the error on
    /// top. Text left unchanged is kept for the next `Ctrl-e` instead of looping.
    fn on_request_edited(&mut self, text: &str) -> Vec<Cmd> {
        let retry = self.editor_retry.take();
        if text.trim().is_empty() {
            self.info_msg("the edited request is empty: nothing changed");
            return Vec::new();
        }
        let problem = if text.trim_start().starts_with("curl") {
            if self.import(text, "the edited text") {
                return Vec::new();
            }
            self.status.as_ref().map_or_else(
                || "not a usable curl command".to_owned(),
                |s| s.text.clone(),
            )
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(v) if v.is_object() => match self.replace_form(&v, "the edited request") {
                    Ok(()) => {
                        let n = self.form.report.errors().count();
                        let undo = self.keymap.label(Action::Undo);
                        if n == 0 {
                            self.info_msg(format!(
                                "request updated from the editor; {undo} undoes"
                            ));
                        } else {
                            self.error_msg(format!(
                                "request updated from the editor; {n} problem(s) to fix; {undo} undoes"
                            ));
                        }
                        return Vec::new();
                    }
                    Err(e) => e,
                },
                Ok(v) => format!(
                    "the edited request must be a JSON object, got {}",
                    schema::json_type(&v)
                ),
                Err(e) => format!("the edited request is not valid JSON: {e}"),
            }
        };
        if retry.as_deref() == Some(text) {
            // Closed again without a change: stop asking, keep the text.
            self.unapplied_request = Some(text.to_owned());
            self.error_msg(format!(
                "{problem}; previous values kept, your text too: {} opens it again",
                self.keymap.label(Action::ExternalEditor)
            ));
            return Vec::new();
        }
        self.editor_retry = Some(text.to_owned());
        self.error_msg(format!(
            "{problem}; previous values kept; fix it in the editor"
        ));
        vec![Cmd::OpenEditor {
            target: EditTarget::Request,
            text: format!(
                "{EDITOR_NOTE}{}\n{EDITOR_NOTE}Fix it and save, or save it unchanged to keep it for later \
                 (an empty file discards it). Lines starting with {:?} are removed.\n{text}",
                problem.replace('\n', " "),
                EDITOR_NOTE.trim_end()
            ),
        }]
    }

    fn on_paste(&mut self, text: &str) {
        if self.form.prompt_active {
            self.form.prompt.insert_str(text);
            self.form.revalidate();
        } else if let Some(e) = self.form.editing.as_mut() {
            e.input.insert_str(text.replace(['\n', '\r'], " "));
        } else if let Some(Overlay::Note { input, .. }) = self.overlays.get_mut(OverlayKind::Note) {
            input.insert_str(text.replace(['\n', '\r'], " "));
        } else if !self.overlays.has(OverlayKind::Search) {
            // A pasted curl command or JSON body fills the form.
            self.import(text, "the paste");
        }
    }

    /// Fills the form from a curl command or a JSON request body; reports what was ignored
    /// and fields the model does not know. Nothing changes when the text is neither.
    pub fn import(&mut self, text: &str, from: &str) -> bool {
        let t = text.trim();
        let (body, what, mut notes) = if t.starts_with("curl ") || t.starts_with("curl\t") {
            match crate::api::curl::parse_curl(t) {
                Ok(imp) => {
                    let mut notes = Vec::new();
                    if !imp.ignored.is_empty() {
                        notes.push(format!("ignored {}", imp.ignored.join(" ")));
                    }
                    (imp.body, "a curl command", notes)
                }
                Err(e) => {
                    self.error_msg(format!("{from} is not a usable curl command: {e}"));
                    return false;
                }
            }
        } else if t.starts_with('{') {
            match serde_json::from_str::<Value>(t) {
                Ok(v) => (v, "a JSON body", Vec::new()),
                Err(e) => {
                    self.error_msg(format!("{from} is not valid JSON ({e}); form unchanged"));
                    return false;
                }
            }
        } else {
            self.info_msg(format!(
                "{from} is neither a curl command nor a JSON body; select a field to paste into it"
            ));
            return false;
        };
        if !body.is_object() {
            self.error_msg(format!(
                "{from}: the body must be a JSON object, got {}; form unchanged",
                schema::json_type(&body)
            ));
            return false;
        }
        if let Err(e) = self.replace_form(&body, &format!("the form filled from {from}")) {
            self.error_msg(format!("{from}: {e}"));
            return false;
        }
        notes.push(format!("model {}", self.form.schema.req_key));
        let unknown: Vec<String> = self
            .form
            .report
            .warnings()
            .filter(|i| i.message.contains("is not a field of"))
            .map(|i| i.field.clone())
            .collect();
        if !unknown.is_empty() {
            notes.push(format!("unknown fields kept: {}", unknown.join(", ")));
        }
        let errors = self.form.report.errors().count();
        if errors > 0 {
            notes.push(format!("{errors} problem(s) to fix"));
        }
        notes.push(format!("{} undoes", self.keymap.label(Action::Undo)));
        let text = format!("form filled from {what}; {}", notes.join("; "));
        if errors > 0 || !unknown.is_empty() {
            self.error_msg(text);
        } else {
            self.info_msg(text);
        }
        self.focus = Pane::Params;
        true
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
            Action::Help => self.overlays.open(Overlay::Help),
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
                Err(b) => self.error_msg(format!("no curl command: {}", b.message)),
            },
            Action::Search => {
                // Searching works from any pane: it moves to the History pane.
                self.focus = Pane::History;
                return self.history_action(a);
            }
            Action::ExternalEditor => return self.external_editor(),
            _ => match self.focus {
                Pane::Params => return self.params_action(a),
                Pane::Response => self.response_action(a),
                Pane::History => return self.history_action(a),
            },
        }
        Vec::new()
    }

    fn params_action(&mut self, a: Action) -> Vec<Cmd> {
        let height = self.form_height();
        let n = self.form.rows.len();
        let sel = self.form.selected;
        match a {
            Action::Down => self.form.select((sel + 1).min(n.saturating_sub(1)), height),
            Action::Up => self.form.select(sel.saturating_sub(1), height),
            Action::PageDown => self.form.select(sel + height, height),
            Action::PageUp => self.form.select(sel.saturating_sub(height), height),
            Action::Top => self.form.select(0, height),
            Action::Bottom => self.form.select(n.saturating_sub(1), height),
            Action::Decrease => self.nudge(-1),
            Action::Increase => self.nudge(1),
            Action::DecreaseMore => self.nudge(-10),
            Action::IncreaseMore => self.nudge(10),
            Action::Toggle => {
                let is_bool = matches!(
                    self.form.rows.get(sel).map(|r| r.kind),
                    Some(RowKind::Field(f)) if matches!(f.kind, Kind::Bool | Kind::Enum(_))
                );
                if is_bool {
                    self.nudge(1);
                }
            }
            Action::RandomSeed => {
                let seed = i64::from(rand::random::<u32>()).min(SEED_MAX);
                self.form.set("seed", Value::from(seed));
                self.info_msg(format!("seed = {seed}"));
            }
            Action::ResetSeed => {
                self.form.set("seed", Value::from(-1));
                self.info_msg("seed = -1 (random on the server)");
            }
            Action::Edit => return self.start_edit(),
            Action::Undo => self.undo_form(),
            Action::Presets => {
                self.overlays.open(Overlay::Presets(PresetsView {
                    loading: true,
                    ..PresetsView::default()
                }));
                return vec![Cmd::Presets(crate::tui::msg::PresetCmd::List)];
            }
            Action::ToggleMode => {
                use crate::api::tasks::Mode;
                self.mode = match self.mode {
                    Mode::Sync => Mode::Async,
                    Mode::Async => Mode::Sync,
                };
                self.info_msg(match self.mode {
                    Mode::Async => {
                        "async: requests are submitted as tasks and polled (they survive a restart)"
                    }
                    Mode::Sync => "sync: one CVProcess call per request",
                });
            }
            _ => {}
        }
        Vec::new()
    }

    fn nudge(&mut self, steps: i32) {
        if let Some(RowKind::Fixed(f)) = self.form.rows.get(self.form.selected).map(|r| r.kind)
            && f.name == "req_key"
        {
            self.switch_model(steps);
            return;
        }
        if self.form.nudge(steps) {
            let row = self.form.selected;
            match self.form.row_error(row) {
                Some(e) => self.error_msg(e),
                None => self.status = None,
            }
        }
    }

    /// h/l on the model row: the next or previous model; the form follows its schema, fields
    /// it does not take are dropped (and named), the prompt and reference stay (a loaded or
    /// fitted reference too, between two models that take one). The switch can be undone.
    fn switch_model(&mut self, steps: i32) {
        let all = schema::SCHEMAS;
        let n = all.len() as i64;
        let at = all
            .iter()
            .position(|s| s.req_key == self.form.schema.req_key)
            .unwrap_or(0) as i64;
        let to = all[(at + i64::from(steps)).rem_euclid(n) as usize];
        // The reference is carried over as it is (its bytes, its path, a fit), not through
        // the body, which leaves a loaded file's base64 out.
        let mut body = self.form.editable_json();
        schema::remove_path(&mut body, "binary_data_base64");
        schema::remove_path(&mut body, "image_urls");
        let sw = schema::switch_schema(&body, to);
        let mut dropped: Vec<String> = sw.dropped.iter().map(|(k, _)| k.clone()).collect();
        let reference = self.form.reference.clone();
        let raw = self.form.raw.clone();
        self.push_undo(format!("the switch to {}", to.req_key));
        self.use_switched(sw);
        if takes_reference(to) {
            self.form.reference = reference;
        } else if reference != Reference::Empty {
            let what = reference.input_text();
            dropped.push(if what.is_empty() {
                "reference (inline image)".to_owned()
            } else {
                format!("reference ({what})")
            });
            self.form.reference = Reference::Empty;
        }
        for (k, v) in raw {
            match to.field(k) {
                Some(f) if !f.fixed => {
                    self.form.raw.insert(f.name, v);
                }
                _ => dropped.push(k.to_owned()),
            }
        }
        self.form.revalidate();
        let mut text = format!("model: {} ({})", to.req_key, to.title);
        if !dropped.is_empty() {
            text.push_str(&format!("; dropped: {}", dropped.join(", ")));
        }
        text.push_str(&format!("; {} undoes", self.keymap.label(Action::Undo)));
        self.info_msg(text);
    }

    /// Rebuilds the form for a switched body's model, keeping the selected row where it can
    /// and the reference when the body has none and the model takes one.
    fn use_switched(&mut self, sw: schema::Switched) {
        let to = sw
            .body
            .get("req_key")
            .and_then(Value::as_str)
            .and_then(schema::schema_for)
            .unwrap_or_else(schema::default_schema);
        let selected = self.form.selected;
        let mut form = crate::tui::form::Form::new(to, &sw.body);
        if form.reference == Reference::Empty && takes_reference(to) {
            form.reference = self.form.reference.clone();
            form.revalidate();
        }
        let h = self.form_height();
        form.select(selected.min(form.rows.len().saturating_sub(1)), h);
        self.form = form;
    }

    /// `S`: in the History pane, reopens the selected entry's sweep; elsewhere shows the
    /// current sweep's sheet, or opens the sweep dialog on the selected parameter.
    fn sweep_key(&mut self) -> Vec<Cmd> {
        if self.focus == Pane::History {
            let Some(e) = self.shown() else {
                return Vec::new();
            };
            return match e.sweep_id.clone() {
                Some(id) => {
                    if self.sweep.as_ref().is_some_and(|v| v.id == id) {
                        self.show_sheet(true);
                        return Vec::new();
                    }
                    if self.sweep.as_ref().is_some_and(|v| v.running) {
                        self.info_msg("a sweep is running: S in the Parameters pane shows it");
                        return Vec::new();
                    }
                    let n = self.next_sweep;
                    self.next_sweep += 1;
                    self.info_msg(format!("reading sweep {id}…"));
                    vec![Cmd::OpenSweep { n, id }]
                }
                None if matches!(e.state, EntryState::Stored { .. }) => {
                    self.info_msg("reading the entry…");
                    Vec::new()
                }
                None => {
                    self.info_msg(format!("{} is not part of a sweep", e.label()));
                    Vec::new()
                }
            };
        }
        if self.sweep.as_ref().is_some_and(|v| v.running) {
            self.show_sheet(true);
            return Vec::new();
        }
        let field = match self.form.rows.get(self.form.selected).map(|r| r.kind) {
            Some(RowKind::Field(f)) => f.name,
            _ => "seed",
        };
        let mut input = line_input(&format!("{field}="));
        input.move_cursor(ratatui_textarea::CursorMove::End);
        self.overlays.open(Overlay::SweepInput(input));
        Vec::new()
    }

    fn on_sweep_input_key(
        &mut self,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        if is(ev, KeyCode::Esc) {
            self.info_msg("no sweep");
            return (None, Vec::new());
        }
        if !is(ev, KeyCode::Enter) {
            if !matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) {
                input.input(*ev);
            }
            return (Some(Overlay::SweepInput(input)), Vec::new());
        }
        let line = input.lines().join(" ");
        let keep = Some(Overlay::SweepInput(input));
        let args = crate::tui::sweep::vary_args(&line);
        if args.is_empty() {
            self.error_msg("sweep: give FIELD=VALUES, e.g. seed=1..4 scale=2.5,3.5");
            return (keep, Vec::new());
        }
        self.form.revalidate();
        let base = match self.form.request() {
            Ok(b) => b,
            Err(b) => {
                self.error_msg(format!("cannot sweep: {}", b.message));
                return (keep, Vec::new());
            }
        };
        self.info_msg("checking the sweep's cells…");
        (keep, vec![Cmd::PrepareSweep { base, args }])
    }

    /// The worker checked the dialog's sweep: run it, or keep the dialog open with the problem.
    fn on_sweep_prepared(
        &mut self,
        result: Result<Box<crate::sweep::Prepared>, Vec<String>>,
    ) -> Vec<Cmd> {
        if !self.overlays.has(OverlayKind::SweepInput) {
            return Vec::new(); // The dialog was closed meanwhile.
        }
        match result {
            Err(errors) => {
                let more = if errors.len() > 1 {
                    format!(" (+{} more)", errors.len() - 1)
                } else {
                    String::new()
                };
                self.error_msg(format!(
                    "sweep: {}{more}",
                    errors.first().map_or("invalid", String::as_str)
                ));
                Vec::new()
            }
            Ok(p) => {
                if self.sweep.as_ref().is_some_and(|v| v.running) {
                    self.error_msg("a sweep is already running: x on its sheet stops it");
                    return Vec::new();
                }
                self.overlays.close(OverlayKind::SweepInput);
                let n = self.next_sweep;
                self.next_sweep += 1;
                let cells = p.plan.grid.len();
                self.sweep = Some(crate::tui::sweep::SweepView::new(n, &p.plan));
                self.show_sheet(true);
                let mut text = format!("sweep {} started: {cells} cells", p.plan.id);
                if let Some(w) = p.warnings.first() {
                    text.push_str(&format!("; warning: {w}"));
                }
                self.info_msg(text);
                vec![Cmd::Sweep {
                    n,
                    plan: crate::tui::msg::PlanRef(Arc::new(p.plan)),
                }]
            }
        }
    }

    fn on_sheet_key(&mut self, ev: &KeyEvent) -> (Option<Overlay>, Vec<Cmd>) {
        let keep = Some(Overlay::Sheet);
        let Some(key) = Key::from_event(ev) else {
            return (keep, Vec::new());
        };
        let action = self.keymap.action(key);
        let Some(v) = self.sweep.as_mut() else {
            return (None, Vec::new());
        };
        match (key.code, action) {
            (_, Some(Action::Down)) => v.step(1, 0),
            (_, Some(Action::Up)) => v.step(-1, 0),
            (_, Some(Action::Decrease)) => v.step(0, -1),
            (_, Some(Action::Increase)) => v.step(0, 1),
            (_, Some(Action::PageDown)) => v.turn(1),
            (_, Some(Action::PageUp)) => v.turn(-1),
            (KeyCode::Char('f'), _) => {
                let key = ImageKey::Cell {
                    sweep: v.n,
                    cell: v.selected,
                };
                if self.previews.decoded.get(&key).is_some_and(Result::is_ok) {
                    self.overlays.open(Overlay::Fullscreen(key));
                } else {
                    self.info_msg("no image for this cell (yet)");
                }
            }
            (KeyCode::Enter, _) => {
                let id = v.cells.get(v.selected).and_then(|c| c.history_id);
                self.focus = Pane::History;
                match id.and_then(|id| self.history.position_of_store_id(id)) {
                    Some(i) => self.select_history(i),
                    None => self.info_msg(match id {
                        Some(id) => format!("#{id} is not listed (a search is on?)"),
                        None => "this cell has no history entry".to_owned(),
                    }),
                }
                return (None, Vec::new());
            }
            (_, Some(Action::Cancel)) if key.code != KeyCode::Esc && v.running => {
                let abort = v.stopping;
                v.stopping = true;
                let n = v.n;
                self.info_msg(if abort {
                    "sweep: cutting off the cells in flight (recorded as cancelled)"
                } else {
                    "sweep: no more cells start; those in flight finish (x again cuts them off)"
                });
                return (keep, vec![Cmd::StopSweep { n, abort }]);
            }
            (_, Some(Action::Quit)) if !v.running => self.quit = true,
            _ => return (None, Vec::new()),
        }
        (keep, Vec::new())
    }

    fn on_sweep(&mut self, n: u64, event: crate::tui::msg::SweepMsg) {
        use crate::tui::msg::SweepMsg;
        use crate::tui::sweep::CellState;
        if let SweepMsg::Opened(result) = event {
            match result {
                Ok(o) => {
                    let mut v = crate::tui::sweep::SweepView::reopened(n, o.id, o.grid);
                    for c in o.cells {
                        if let Some(i) = c.cell {
                            if c.first_image.is_some() {
                                self.previews
                                    .on_demand(ImageKey::Cell { sweep: n, cell: i });
                            }
                            v.recorded(
                                i,
                                c.summary.outcome,
                                c.summary.code,
                                c.summary.id,
                                c.first_image,
                            );
                        }
                    }
                    let text = format!("sweep {}: {}", v.id, v.summary());
                    self.sweep = Some(v);
                    self.show_sheet(true);
                    self.info_msg(text);
                }
                Err(e) => self.error_msg(format!("sweep: {e}")),
            }
            return;
        }
        let Some(v) = self.sweep.as_mut().filter(|v| v.n == n) else {
            return;
        };
        match event {
            SweepMsg::Started { cell, history_id } => {
                if let Some(c) = v.cells.get_mut(cell) {
                    c.state = CellState::Running;
                    c.history_id = history_id;
                }
            }
            SweepMsg::RateLimited { cell } => {
                if let Some(c) = v.cells.get_mut(cell) {
                    c.state = CellState::RateLimited;
                }
            }
            SweepMsg::CellDone { report, image } => v.finished(&report, image),
            SweepMsg::Progress(p) => v.progress = Some(p),
            SweepMsg::Warning(w) => self.error_msg(format!("sweep: {w}")),
            SweepMsg::Done { text, .. } => {
                v.running = false;
                for c in &mut v.cells {
                    if matches!(c.state, CellState::Waiting) {
                        c.state = CellState::Failed("not run".into());
                    }
                }
                self.info_msg(text);
            }
            SweepMsg::Opened(_) => {}
        }
    }

    fn on_presets_key(&mut self, mut p: PresetsView, ev: &KeyEvent) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::msg::PresetCmd;
        if let Some(input) = p.naming.as_mut() {
            if is(ev, KeyCode::Esc) {
                p.naming = None;
            } else if is(ev, KeyCode::Enter) {
                let name = input.lines().join("").trim().to_owned();
                p.naming = None;
                if let Err(e) = crate::presets::check_name(&name) {
                    self.error_msg(e.to_string());
                    return (Some(Overlay::Presets(p)), Vec::new());
                }
                let body = self.form.editable_json();
                return (
                    Some(Overlay::Presets(p)),
                    vec![Cmd::Presets(PresetCmd::Save { name, body })],
                );
            } else if !matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) {
                input.input(*ev);
            }
            return (Some(Overlay::Presets(p)), Vec::new());
        }
        let Some(key) = Key::from_event(ev) else {
            return (Some(Overlay::Presets(p)), Vec::new());
        };
        let name = p.items.get(p.selected).map(|i| i.name.clone());
        if p.confirm_delete {
            p.confirm_delete = false;
            if matches!(key.code, KeyCode::Char('y' | 'Y'))
                && let Some(name) = name
            {
                return (
                    Some(Overlay::Presets(p)),
                    vec![Cmd::Presets(PresetCmd::Delete { name })],
                );
            }
            self.info_msg("preset kept");
            return (Some(Overlay::Presets(p)), Vec::new());
        }
        match (key.code, self.keymap.action(key)) {
            (_, Some(Action::Down)) => {
                p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1))
            }
            (_, Some(Action::Up)) => p.selected = p.selected.saturating_sub(1),
            (KeyCode::Enter, _) => {
                if let Some(name) = name {
                    let body = self.form.editable_json();
                    return (None, vec![Cmd::Presets(PresetCmd::Apply { name, body })]);
                }
            }
            (KeyCode::Char('s'), _) => {
                let mut input = line_input(name.as_deref().unwrap_or(""));
                input.move_cursor(ratatui_textarea::CursorMove::End);
                p.naming = Some(input);
            }
            (KeyCode::Char('d'), _) | (KeyCode::Delete, _) => {
                if name.is_some() {
                    p.confirm_delete = true;
                }
            }
            _ => return (None, Vec::new()),
        }
        (Some(Overlay::Presets(p)), Vec::new())
    }

    fn start_edit(&mut self) -> Vec<Cmd> {
        let row = self.form.selected;
        let Some(kind) = self.form.rows.get(row).map(|r| r.kind) else {
            return Vec::new();
        };
        let text = match kind {
            RowKind::Fixed(f) if f.name == "req_key" => {
                self.info_msg("h/l switches the model (fields it does not take are dropped)");
                return Vec::new();
            }
            RowKind::Fixed(f) => {
                self.info_msg(format!("{} is fixed by the schema", f.name));
                return Vec::new();
            }
            RowKind::Prompt(_) => {
                self.form.prompt_active = true;
                return Vec::new();
            }
            RowKind::Reference => self.form.reference.input_text(),
            RowKind::Field(f) if f.kind == Kind::Bool => {
                self.nudge(1);
                return Vec::new();
            }
            RowKind::Field(f) => match self.form.raw.get(f.name) {
                Some((t, _)) => t.clone(),
                None => match (f.kind, self.form.value(f)) {
                    (Kind::Enum(values), Some(v)) => values
                        .iter()
                        .find(|e| v.as_i64() == Some(e.value))
                        .map(|e| e.label.to_owned())
                        .unwrap_or_else(|| v.to_string()),
                    (_, Some(Value::String(s))) => s,
                    (_, Some(v)) => v.to_string(),
                    (_, None) => String::new(),
                },
            },
        };
        self.form.editing = Some(Editing {
            row,
            input: line_input(&text),
            completions: Vec::new(),
        });
        Vec::new()
    }

    fn response_action(&mut self, a: Action) {
        if self.tab == Tab::Images
            && matches!(a, Action::Down | Action::Up | Action::Top | Action::Bottom)
        {
            let n = self.tab_images().len();
            let s = self.image_selection();
            self.image_selected = Some(match a {
                Action::Down => (s + 1).min(n.saturating_sub(1)),
                Action::Up => s.saturating_sub(1),
                Action::Top => 0,
                _ => n.saturating_sub(1),
            });
            return;
        }
        let summary = self.shown_view().map_or(0, |v| v.summary.len());
        let height = layout::response_rows(&self.areas(), summary);
        let total = self.tab_len();
        let max = total.saturating_sub(height);
        let s = self.response_scroll;
        self.response_scroll = match a {
            Action::Decrease => {
                self.tab = self.tab.step(-1);
                0
            }
            Action::Increase => {
                self.tab = self.tab.step(1);
                0
            }
            Action::Down => (s + 1).min(max),
            Action::Up => s.saturating_sub(1),
            Action::PageDown => (s + height).min(max),
            Action::PageUp => s.saturating_sub(height),
            Action::Top => 0,
            Action::Bottom => max,
            _ => s,
        };
    }

    /// Lines in the current tab.
    pub fn tab_len(&self) -> usize {
        self.shown_view().map_or(0, |v| match self.tab {
            Tab::Images => v.images.len() + 1,
            Tab::Body => v.body.len(),
            Tab::Request => v.request.len(),
            Tab::Headers => v.headers.len(),
        })
    }

    fn history_action(&mut self, a: Action) -> Vec<Cmd> {
        let n = self.history.entries().len();
        let height = layout::history_rows(&self.areas());
        let s = self.history_selected;
        let next = match a {
            Action::Down => (s + 1).min(n.saturating_sub(1)),
            Action::Up => s.saturating_sub(1),
            Action::PageDown => (s + height).min(n.saturating_sub(1)),
            Action::PageUp => s.saturating_sub(height),
            Action::Top => 0,
            Action::Bottom => n.saturating_sub(1),
            Action::Edit => {
                // Enter: the entry in the Response pane (read from the store if needed).
                if self.shown().is_some() {
                    self.focus = Pane::Response;
                }
                s
            }
            Action::Replay => {
                if let Some(id) = self.shown().map(|e| e.id) {
                    self.replay(id);
                }
                s
            }
            Action::Search => {
                let mut input = line_input(&self.history.filter);
                input.move_cursor(ratatui_textarea::CursorMove::End);
                self.overlays.open(Overlay::Search(input));
                s
            }
            Action::Star => return self.star(),
            Action::Note => {
                match self
                    .shown()
                    .map(|e| (e.id, e.store_id, e.note().unwrap_or("").to_owned()))
                {
                    Some((id, Some(_), note)) => {
                        let mut input = line_input(&note);
                        input.move_cursor(ratatui_textarea::CursorMove::End);
                        self.overlays.open(Overlay::Note { id, input });
                    }
                    Some((_, None, _)) => self.info_msg(NOT_RECORDED),
                    None => self.info_msg("no entry selected"),
                }
                s
            }
            Action::Delete => {
                match self.shown() {
                    Some(e) if e.in_flight() => {
                        self.info_msg("still in flight: cancel it first");
                    }
                    Some(e) if e.store_id.is_none() => self.info_msg(NOT_RECORDED),
                    Some(e) => {
                        let id = e.id;
                        self.overlays.open(Overlay::ConfirmDelete(id));
                    }
                    None => self.info_msg("no entry selected"),
                }
                s
            }
            Action::Mark => {
                if let Some(e) = self.shown() {
                    let (id, label) = (e.id, e.label());
                    if self.marked == Some(id) {
                        self.marked = None;
                        self.info_msg(format!("{label} unmarked"));
                    } else {
                        self.marked = Some(id);
                        self.info_msg(format!(
                            "{label} marked: select another entry and press {} to compare",
                            self.keymap.label(Action::Compare)
                        ));
                    }
                }
                s
            }
            Action::Compare => {
                match (self.marked, self.shown().map(|e| e.id)) {
                    (Some(m), Some(sel)) if m != sel && self.history.get(m).is_some() => {
                        self.overlays.open(Overlay::Compare {
                            a: m,
                            b: sel,
                            scroll: 0,
                        });
                        self.compare_rows = None;
                    }
                    (Some(m), Some(sel)) if m == sel => {
                        self.info_msg("select another entry than the marked one to compare");
                    }
                    _ => self.info_msg(format!(
                        "mark an entry with {} first, then select another and press {}",
                        self.keymap.label(Action::Mark),
                        self.keymap.label(Action::Compare)
                    )),
                }
                s
            }
            _ => s,
        };
        self.select_history(next);
        Vec::new()
    }

    /// Puts entry `id`'s parameters (reference image included) into the form, reading the
    /// entry from the store first when needed.
    fn replay(&mut self, id: u64) {
        let Some(e) = self.history.get(id) else {
            return;
        };
        let label = e.label();
        match &e.request {
            Some(body) => {
                let body = Arc::clone(body);
                match self.replace_form(&body, &format!("the replay of {label}")) {
                    Ok(()) => {
                        self.focus = Pane::Params;
                        self.info_msg(format!(
                            "parameters of {label} loaded ({}); {} undoes",
                            self.form.schema.req_key,
                            self.keymap.label(Action::Undo)
                        ));
                    }
                    Err(e) => self.error_msg(format!("{label}: {e}")),
                }
            }
            None => {
                self.replay_pending = Some(id);
                self.info_msg(format!("reading {label} from the history…"));
            }
        }
    }

    fn star(&mut self) -> Vec<Cmd> {
        match self.shown() {
            Some(e) => match e.store_id {
                Some(store_id) => vec![Cmd::History(HistoryCmd::Star {
                    store_id,
                    star: !e.star(),
                })],
                None => {
                    self.info_msg(NOT_RECORDED);
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    }

    fn on_search_key(
        &mut self,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        if is(ev, KeyCode::Esc) {
            // Esc clears the search and lists everything again.
            if self.history.filter.is_empty() {
                return (None, Vec::new());
            }
            self.history.filter.clear();
            return (None, self.reload_history());
        }
        if is(ev, KeyCode::Enter) {
            return (None, Vec::new());
        }
        if matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) || !input.input(*ev)
        {
            return (Some(Overlay::Search(input)), Vec::new());
        }
        let text = input.lines().join(" ");
        let cmds = match parse_search_at(&text, self.now_ms) {
            Ok(_) => {
                self.status = None;
                self.history.filter = text;
                if self.history.stored {
                    self.reload_history()
                } else {
                    self.error_msg("search needs the history store, which is not available");
                    Vec::new()
                }
            }
            Err(e) => {
                self.error_msg(e);
                Vec::new()
            }
        };
        (Some(Overlay::Search(input)), cmds)
    }

    fn on_note_key(
        &mut self,
        id: u64,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        if is(ev, KeyCode::Esc) {
            self.info_msg("note not changed");
            return (None, Vec::new());
        }
        if is(ev, KeyCode::Enter) {
            let note = input.lines().join(" ").trim().to_owned();
            return match self.history.get(id).and_then(|e| e.store_id) {
                Some(store_id) => (
                    None,
                    vec![Cmd::History(HistoryCmd::Note { store_id, note })],
                ),
                None => (None, Vec::new()),
            };
        }
        if !matches!(ev.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab) {
            input.input(*ev);
        }
        (Some(Overlay::Note { id, input }), Vec::new())
    }

    fn on_compare_key(&mut self, a: u64, b: u64, mut scroll: usize, key: Key) -> Option<Overlay> {
        match self.keymap.action(key) {
            Some(Action::Down) => scroll += 1,
            Some(Action::Up) => scroll = scroll.saturating_sub(1),
            Some(Action::PageDown) => scroll += 10,
            Some(Action::PageUp) => scroll = scroll.saturating_sub(10),
            Some(Action::Top) => scroll = 0,
            _ => return None,
        }
        Some(Overlay::Compare { a, b, scroll })
    }

    fn select_history(&mut self, i: usize) {
        if i != self.history_selected {
            self.response_scroll = 0;
            self.image_selected = None;
        }
        self.history_selected = i;
        self.keep_visible();
    }

    fn keep_visible(&mut self) {
        let a = self.areas();
        let h = layout::history_rows(&a);
        if self.history_selected < self.history_scroll {
            self.history_scroll = self.history_selected;
        } else if self.history_selected >= self.history_scroll + h {
            self.history_scroll = self.history_selected + 1 - h;
        }
        let fh = self.form_height();
        self.form.keep_visible(fh);
    }

    /// Validates and hands the request to the worker, or says what blocks it.
    pub fn send(&mut self) -> Vec<Cmd> {
        self.form.revalidate();
        match self.form.request() {
            Err(b) => {
                self.focus = Pane::Params;
                let h = self.form_height();
                self.form.select(b.row, h);
                self.error_msg(format!("cannot send: {}", b.message));
                Vec::new()
            }
            Ok(body) => {
                let id = self.next_id;
                self.next_id += 1;
                let req_key = body
                    .get("req_key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                // Elapsed times count from the time of this message.
                let now = self.clock;
                self.history.push(Entry {
                    id,
                    store_id: None,
                    time: local_time(self.now_ms),
                    req_key,
                    prompt: self.form.prompt_text().replace('\n', " "),
                    request: Some(Arc::new(body.clone())),
                    state: EntryState::InFlight {
                        started: now,
                        cancelling: false,
                    },
                    summary: None,
                    local: true,
                    task: None,
                    sweep_id: None,
                });
                self.select_history(0);
                if self.mode == crate::api::tasks::Mode::Async {
                    self.info_msg(format!("request #{id} submitted as an async task"));
                    vec![Cmd::SendAsync { id, body }]
                } else {
                    self.info_msg(format!("request #{id} sent"));
                    vec![Cmd::Send { id, body }]
                }
            }
        }
    }

    fn cancel(&mut self) -> Vec<Cmd> {
        let entries = self.history.entries();
        let target = entries
            .get(self.history_selected)
            .filter(|e| e.in_flight())
            .or_else(|| entries.iter().find(|e| e.in_flight()))
            .map(|e| e.id);
        let Some(id) = target else {
            self.info_msg("nothing in flight to cancel");
            return Vec::new();
        };
        let task = self.history.get(id).is_some_and(|e| e.task.is_some());
        // Every request in flight is already on the wire: cancelling stops waiting, not the
        // service, so it is asked for once more.
        self.overlays.open(Overlay::ConfirmCancel(id));
        self.info_msg(if task {
            format!(
                "stop polling request #{id}? Its task stays on the service and may still be billed. \
                 y stops, any other key keeps it"
            )
        } else {
            format!(
                "cancel request #{id}? It is already sent: the service may still run and bill it. \
                 y cancels, any other key keeps it"
            )
        });
        Vec::new()
    }

    /// Cancels request `id` (confirmed), if it is still in flight.
    fn cancel_now(&mut self, id: u64) -> Vec<Cmd> {
        let Some(e) = self.history.get(id).filter(|e| e.in_flight()) else {
            self.info_msg(format!("request #{id} is no longer in flight"));
            return Vec::new();
        };
        let task = e.task.is_some();
        if let Some(e) = self.history.get_mut(id)
            && let EntryState::InFlight { cancelling, .. } = &mut e.state
        {
            *cancelling = true;
        }
        self.info_msg(if task {
            format!("stopped polling request #{id}; its task may still run and be billed")
        } else {
            format!("cancelling request #{id} (it was sent: it may still be billed)")
        });
        vec![Cmd::Cancel(id)]
    }

    fn copy(&mut self) -> Vec<Cmd> {
        let text = match self.focus {
            Pane::Params => {
                let row = self.form.selected;
                match self.form.rows.get(row).map(|r| r.kind) {
                    Some(RowKind::Prompt(_)) => self.form.prompt_text(),
                    _ => self.form.display(row).0,
                }
            }
            Pane::Response => match (self.shown_view(), self.tab) {
                (None, _) => String::new(),
                (Some(v), Tab::Images) => v
                    .images
                    .iter()
                    .filter_map(|i| match &i.state {
                        crate::tui::view::ImageState::Saved(p) => Some(p.display().to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                (Some(v), Tab::Body) => v.body.to_text(),
                (Some(v), Tab::Request) => v.request.to_text(),
                (Some(v), Tab::Headers) => v.headers.to_text(),
            },
            Pane::History => self
                .shown_view()
                .and_then(|v| v.request_id.clone())
                .unwrap_or_default(),
        };
        if text.is_empty() {
            self.info_msg("nothing to copy");
            Vec::new()
        } else if text.len() > COPY_CAP {
            self.error_msg(format!(
                "not copied: {} bytes is over the {COPY_CAP} byte clipboard cap",
                text.len()
            ));
            Vec::new()
        } else {
            self.info_msg(format!("copied {} bytes (OSC 52)", text.len()));
            vec![Cmd::Copy(text)]
        }
    }

    fn external_editor(&mut self) -> Vec<Cmd> {
        let on_prompt = self.focus == Pane::Params
            && matches!(
                self.form.rows.get(self.form.selected).map(|r| r.kind),
                Some(RowKind::Prompt(_))
            );
        if on_prompt {
            vec![Cmd::OpenEditor {
                target: EditTarget::Prompt,
                text: self.form.prompt_text(),
            }]
        } else if let Some(kept) = self.unapplied_request.take() {
            // The text that could not be applied last time, as the user left it.
            self.editor_retry = Some(kept.clone());
            vec![Cmd::OpenEditor {
                target: EditTarget::Request,
                text: kept,
            }]
        } else {
            let text = serde_json::to_string_pretty(&self.form.editable_json())
                .unwrap_or_else(|_| "{}".to_owned());
            vec![Cmd::OpenEditor {
                target: EditTarget::Request,
                text: format!("{text}\n"),
            }]
        }
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
                        let i = self.history_scroll + line;
                        if i < self.history.entries().len() {
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

    /// Seconds since an instant, measured against the last tick.
    pub fn elapsed_since(&self, t: Instant) -> f64 {
        self.clock.saturating_duration_since(t).as_secs_f64()
    }

    /// The body text of the shown exchange, for tests and copying.
    pub fn shown_body(&self) -> Option<&Doc> {
        self.shown_view().map(|v| &v.body)
    }
}

/// The request text without the lines [`App`] put on top when it reopened the editor.
fn strip_editor_note(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(EDITOR_NOTE.trim_end()) {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_owned()
}

fn common_prefix(items: &[String]) -> String {
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut end = first.len();
    for s in &items[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(s.chars())
                .find(|((_, a), b)| a != b)
                .map_or(first.len().min(s.len()), |((i, _), _)| i),
        );
    }
    first[..end].to_owned()
}

/// The local time of `ms` (since the Unix epoch) as `HH:MM:SS` (UTC when the offset is
/// unknown).
fn local_time(ms: i64) -> String {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(crate::text::local_offset());
    format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_of_paths() {
        let v = vec!["/tmp/abc/".to_owned(), "/tmp/abd.png".to_owned()];
        assert_eq!(common_prefix(&v), "/tmp/ab");
        assert_eq!(common_prefix(&["x".to_owned()]), "x");
        assert_eq!(common_prefix(&[]), "");
    }
}
