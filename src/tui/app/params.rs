//! The Parameters pane: the form, its edits, the reference, model switches, undo, the draft and imports.

use super::*;

/// The Parameters feature's state beside the form itself.
#[derive(Debug, Default)]
pub(crate) struct ParamsState {
    /// Forms replaced by a replay, paste, load, editor, model switch or preset, newest last,
    /// each with what replaced it (at most [`UNDO_DEPTH`]).
    pub(crate) undo: Vec<(FormState, String)>,
    /// The request text from `Ctrl-e` that is being edited again because it could not be
    /// applied (the editor was reopened on it with the error on top).
    pub(crate) editor_retry: Option<String>,
    /// Request text from `Ctrl-e` that could not be applied and that the user left as it was:
    /// the next `Ctrl-e` on the request opens it again (never discarded).
    pub(crate) unapplied_request: Option<String>,
    /// Whether the form is kept in the draft file (a [`Cmd::SaveDraft`] when it changes).
    pub(crate) drafts: bool,
    /// The form as last handed to the worker for the draft (a cheap fingerprint).
    pub(crate) draft_seen: Option<String>,
    /// Commands the loop runs once at start (reading a restored draft's reference again).
    pub(crate) start_cmds: Vec<Cmd>,
    /// The prompt as it was when the prompt editor opened (`Esc` puts it back).
    pub(crate) prompt_before: Option<TextArea<'static>>,
}

impl App {
    pub(super) fn form_height(&self) -> usize {
        layout::form_rows(
            &self.areas(),
            self.form.prompt_active,
            self.params_preview(),
        )
    }

    /// A [`Cmd::SaveDraft`] when the form changed since the draft was last handed over.
    pub(super) fn draft_cmd(&mut self) -> Option<Cmd> {
        if !self.params.drafts {
            return None;
        }
        let state = self.form.state();
        let unapplied = self.params.unapplied_request.as_deref();
        let fp = crate::tui::draft::fingerprint(&state, unapplied);
        if self.params.draft_seen.as_deref() == Some(fp.as_str()) {
            return None;
        }
        self.params.draft_seen = Some(fp);
        Some(Cmd::SaveDraft(crate::tui::draft::to_text(
            &state, unapplied,
        )))
    }

    /// Takes the current form as the one the draft file already holds (after a restore).
    pub fn draft_saved(&mut self) {
        self.params.draft_seen = Some(crate::tui::draft::fingerprint(
            &self.form.state(),
            self.params.unapplied_request.as_deref(),
        ));
    }

    /// The commands to run once when the loop starts (taken: a second call has none).
    pub fn take_start_cmds(&mut self) -> Vec<Cmd> {
        std::mem::take(&mut self.params.start_cmds)
    }

    /// Puts a restored draft in the form: the form it replaces (the defaults, or the
    /// config's) can be undone; a reference loaded from a file is read again from its path.
    pub fn restore_draft(&mut self, draft: crate::tui::draft::Draft) {
        self.push_undo("the restored draft");
        let h = self.form_height();
        self.form = Form::from_state(&draft.state);
        self.form.keep_visible(h);
        if let Reference::Loading(input) = &self.form.reference {
            self.params
                .start_cmds
                .push(Cmd::LoadReference(input.clone()));
        }
        self.params.unapplied_request = draft.unapplied_request;
        self.draft_saved();
    }

    /// Pushes the form about to be replaced on the undo stack; `by` says what replaces it.
    pub(super) fn push_undo(&mut self, by: impl Into<String>) {
        if self.params.undo.len() >= UNDO_DEPTH {
            self.params.undo.remove(0);
        }
        self.params.undo.push((self.form.state(), by.into()));
    }

    /// `u`: the form as it was before the last replacement.
    pub(super) fn undo_form(&mut self) {
        let Some((state, by)) = self.params.undo.pop() else {
            self.info_msg("nothing to undo");
            return;
        };
        let h = self.form_height();
        self.form = Form::from_state(&state);
        self.form.keep_visible(h);
        let more = self.params.undo.len();
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

    /// The reference being loaded is over the service's limits: the user is asked to fit it.
    pub(super) fn on_reference_over_limits(&mut self, input: String, problems: Vec<String>) {
        if self.form.reference == Reference::Loading(input.clone()) {
            self.form.reference = Reference::Failed {
                input: input.clone(),
                error: format!("over the service's limits: {}", problems.join("; ")),
            };
            self.form.revalidate();
            self.overlays.open(Overlay::ConfirmFit { input, problems });
        }
    }

    /// The reference being loaded was read (or could not be).
    pub(super) fn on_reference_loaded(
        &mut self,
        input: String,
        result: Result<crate::tui::form::LoadedImage, String>,
    ) {
        // Only the latest input counts.
        if self.form.reference == Reference::Loading(input.clone()) {
            self.form.reference = match result {
                Ok(img) => Reference::Image(img),
                Err(error) => Reference::Failed { input, error },
            };
            self.form.revalidate();
        }
    }

    /// A key for the prompt editor: `Tab` keeps the text, `Esc` puts back the prompt from
    /// before the edit, sending commits first; the rest edits (see [`crate::tui::line_edit`]).
    pub(super) fn on_prompt_key(&mut self, ev: &KeyEvent, action: Option<Action>) -> Vec<Cmd> {
        use crate::tui::line_edit::{Outcome, text_key};
        match action {
            _ if is(ev, KeyCode::Esc) || is(ev, KeyCode::Tab) => {}
            Some(Action::Send) => {
                self.end_prompt_edit(true);
                return self.send();
            }
            Some(Action::ExternalEditor) => {
                return vec![Cmd::OpenEditor {
                    target: EditTarget::Prompt,
                    text: self.form.prompt_text(),
                }];
            }
            _ => {}
        }
        match text_key(&mut self.form.prompt, ev) {
            Outcome::Commit => self.end_prompt_edit(true),
            Outcome::Discard => self.end_prompt_edit(false),
            Outcome::Changed => self.form.revalidate(),
            Outcome::Tab | Outcome::Unchanged => {}
        }
        Vec::new()
    }

    /// Leaves the prompt editor, keeping the text or putting back the one from before.
    pub(super) fn end_prompt_edit(&mut self, keep: bool) {
        let before = self.params.prompt_before.take();
        if !self.form.prompt_active {
            return;
        }
        self.form.prompt_active = false;
        if !keep && let Some(before) = before {
            let changed = before.lines() != self.form.prompt.lines();
            self.form.prompt = before;
            if changed {
                self.info_msg("prompt edit discarded");
            }
        }
        self.form.revalidate();
    }

    pub(super) fn on_edit_key(&mut self, ev: &KeyEvent) -> Vec<Cmd> {
        use crate::tui::line_edit::{Outcome, line_key};
        let Some(editing) = self.form.editing.as_mut() else {
            return Vec::new();
        };
        let kind = self.form.rows.get(editing.row).map(|r| r.kind);
        if let Some(Action::Send) = Key::from_event(ev).and_then(|k| self.keymap.action(k)) {
            // Sending from an edit commits it first, so what is sent is what is shown.
            let mut cmds = self.commit_edit();
            cmds.extend(self.send());
            return cmds;
        }
        match line_key(&mut editing.input, ev) {
            Outcome::Discard => {
                self.form.editing = None;
                self.info_msg("edit discarded");
                Vec::new()
            }
            Outcome::Commit => self.commit_edit(),
            Outcome::Tab if kind == Some(RowKind::Reference) => {
                vec![Cmd::Complete(editing.input.lines().join(""))]
            }
            Outcome::Changed => {
                editing.completions.clear();
                Vec::new()
            }
            Outcome::Tab | Outcome::Unchanged => Vec::new(),
        }
    }

    pub(super) fn commit_edit(&mut self) -> Vec<Cmd> {
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
                    self.field_now_valid(editing.row);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn on_completed(&mut self, input: &str, candidates: Vec<String>) {
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

    /// Pasted text (line endings already made one, see [`App::update`]) goes to the input
    /// that has the keyboard: the dialog on top, the prompt editor, the field being edited;
    /// with none, a curl command or a JSON body fills the form.
    pub(super) fn on_paste(&mut self, text: &str) -> Vec<Cmd> {
        use crate::tui::line_edit::paste_line;
        if self.sweep.is_none() {
            // A sheet whose sweep is gone is not on screen (as for keys).
            self.overlays.close(OverlayKind::Sheet);
        }
        if let Some(top) = self.overlays.pop() {
            let depth = self.overlays.len();
            let mut top = top;
            let mut search = None;
            match &mut top {
                Overlay::Save(p) => {
                    paste_line(&mut p.input, text);
                }
                Overlay::Note { input, .. } => {
                    paste_line(input, text);
                }
                Overlay::Presets(p) => match p.naming.as_mut() {
                    Some(input) => {
                        paste_line(input, text);
                    }
                    None => self.info_msg("paste ignored: close the dialog on top first"),
                },
                Overlay::SweepInput(input) => {
                    if paste_line(input, text) {
                        Self::replace_prefill(input);
                    }
                }
                Overlay::Search(input) => {
                    if paste_line(input, text) {
                        search = Some(input.lines().join(" "));
                    }
                }
                _ => self.info_msg("paste ignored: close the dialog on top first"),
            }
            self.overlays.put_back(depth, top);
            return search.map_or_else(Vec::new, |text| self.search_typed(text));
        }
        if self.form.prompt_active {
            self.form.prompt.insert_str(text);
            self.form.revalidate();
        } else if let Some(e) = self.form.editing.as_mut() {
            paste_line(&mut e.input, text);
            e.completions.clear();
        } else {
            // A pasted curl command or JSON body fills the form.
            self.import(text, "the paste");
        }
        Vec::new()
    }

    /// Fills the form from a curl command or a JSON request body; reports what was ignored
    /// and fields the model does not know. Nothing changes when the text is neither.
    pub fn import(&mut self, text: &str, from: &str) -> bool {
        let text = crate::tui::line_edit::newlines(text);
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

    pub(super) fn params_action(&mut self, a: Action) -> Vec<Cmd> {
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
                self.refresh_last_error("seed");
                self.info_msg(format!("seed = {seed}"));
            }
            Action::ResetSeed => {
                self.form.set("seed", Value::from(-1));
                self.refresh_last_error("seed");
                self.info_msg("seed = -1 (random on the server)");
            }
            Action::Edit => return self.start_edit(),
            Action::Delete => self.remove_unknown(),
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

    /// The field on `row` became valid: its problem leaves the status bar, and a kept
    /// `last error:` that names it is brought up to date (what still blocks sending, or
    /// nothing), so that a fixed field is not reported after the fix.
    fn field_now_valid(&mut self, row: usize) {
        self.status = None;
        if let Some(label) = self.form.rows.get(row).map(|r| r.label().to_owned()) {
            self.refresh_last_error(&label);
        }
    }

    /// A kept `last error:` that names `field` (now valid) says what still blocks sending.
    fn refresh_last_error(&mut self, field: &str) {
        if self
            .last_error
            .as_deref()
            .is_some_and(|e| names_field(e, field))
        {
            self.last_error = self
                .form
                .request()
                .err()
                .map(|b| format!("cannot send: {}", b.summary()));
        }
    }

    /// `d` on the row of a field the model does not know: it is no longer sent (undoable).
    pub(super) fn remove_unknown(&mut self) {
        let row = self.form.selected;
        let Some(name) = self
            .form
            .rows
            .get(row)
            .filter(|r| r.kind == RowKind::Unknown)
            .map(|r| r.label().to_owned())
        else {
            return;
        };
        self.push_undo(format!("the removal of {name}"));
        self.form.remove_unknown(row);
        let h = self.form_height();
        self.form.keep_visible(h);
        self.info_msg(format!(
            "{name} removed: it is not sent; {} undoes",
            self.keymap.label(Action::Undo)
        ));
    }

    pub(super) fn nudge(&mut self, steps: i32) {
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
                None => self.field_now_valid(row),
            }
        }
    }

    /// h/l on the model row: the next or previous model; the form follows its schema, fields
    /// it does not take are dropped (and named), the prompt and reference stay (a loaded or
    /// fitted reference too, between two models that take one). The switch can be undone.
    pub(super) fn switch_model(&mut self, steps: i32) {
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
        schema::remove_path(&mut body, schema::REFERENCE_BASE64);
        schema::remove_path(&mut body, schema::REFERENCE_URL);
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
    pub(super) fn use_switched(&mut self, sw: schema::Switched) {
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

    pub(super) fn start_edit(&mut self) -> Vec<Cmd> {
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
                // Kept for Esc, which puts it back.
                self.params.prompt_before = Some(self.form.prompt.clone());
                self.form.prompt_active = true;
                return Vec::new();
            }
            RowKind::Reference => self.form.reference.input_text(),
            RowKind::Unknown => {
                let name = self.form.rows[row].label().to_owned();
                self.info_msg(format!(
                    "{name} is not a field of {}: it is sent as it is; {} removes it, {} edits \
                     it in the whole request",
                    self.form.schema.req_key,
                    self.keymap.label(Action::Delete),
                    self.keymap.label(Action::ExternalEditor)
                ));
                return Vec::new();
            }
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
}

/// Whether `text` names `field` as a whole word (`scale`, not the end of `cfg_rescale`).
fn names_field(text: &str, field: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    text.match_indices(field).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + field.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_named_as_a_whole_word() {
        assert!(names_field(
            "cannot send: scale 12.0 is outside 1..10",
            "scale"
        ));
        assert!(names_field(
            "(+1 more: logo_info.opacity; marked)",
            "logo_info.opacity"
        ));
        assert!(!names_field("cfg_rescale 2.0 is outside 0..1", "scale"));
        assert!(!names_field("seeds are fine", "seed"));
    }

    #[test]
    fn common_prefix_of_paths() {
        let v = vec!["/tmp/abc/".to_owned(), "/tmp/abd.png".to_owned()];
        assert_eq!(common_prefix(&v), "/tmp/ab");
        assert_eq!(common_prefix(&["x".to_owned()]), "x");
        assert_eq!(common_prefix(&[]), "");
    }
}
