//! The parameter form: rows generated from the schema, the values being edited, inline
//! validation. No terminal I/O and no disk here: loading a reference image is a command the
//! worker runs.

use crate::api::schema::{self, Field, Group, Kind, Report, Schema, Severity};
use ratatui_textarea::TextArea;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A tiny valid PNG prefix, standing in for a loaded reference during validation so the
/// (already checked) megabytes of base64 are not decoded again on every keystroke.
const VALIDATION_STAND_IN: &str = "iVBORw0KGgo=";

/// What one form row edits.
#[derive(Debug, Clone, Copy)]
pub enum RowKind {
    /// A value fixed by the schema (`req_key`), shown read-only.
    Fixed(&'static Field),
    /// The reference image: one row for the schema's image-list fields (path or URL).
    Reference,
    /// The multi-line prompt.
    Prompt(&'static Field),
    /// Any other field.
    Field(&'static Field),
    /// A field the model does not know, brought in with a body (`Ctrl-e`, a paste, a replay):
    /// sent as it is, shown so that it can be seen and removed. Its name is the row's label.
    Unknown,
}

impl PartialEq for RowKind {
    /// Rows are the same when they edit the same field (fields are compared by name).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RowKind::Reference, RowKind::Reference) => true,
            (RowKind::Fixed(a), RowKind::Fixed(b))
            | (RowKind::Prompt(a), RowKind::Prompt(b))
            | (RowKind::Field(a), RowKind::Field(b)) => a.name == b.name,
            (RowKind::Unknown, RowKind::Unknown) => true,
            _ => false,
        }
    }
}

/// One selectable row of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What the row edits.
    pub kind: RowKind,
    /// The schema group it is listed under (`None`: a field the model does not know).
    pub group: Option<Group>,
    /// The path of a field the model does not know: the key, and the key inside it when the
    /// key is an object of the model (`logo_info.extra`).
    unknown: Option<(String, Option<String>, String)>,
}

impl Row {
    /// The label shown in the first column: the field's dotted name.
    pub fn label(&self) -> &str {
        match (self.kind, &self.unknown) {
            (RowKind::Fixed(f) | RowKind::Prompt(f) | RowKind::Field(f), _) => f.name,
            (RowKind::Reference, _) => "reference",
            (RowKind::Unknown, Some((_, _, dotted))) => dotted,
            (RowKind::Unknown, None) => "",
        }
    }

    /// The schema field, if the row edits one.
    pub fn field(&self) -> Option<&'static Field> {
        match self.kind {
            RowKind::Fixed(f) | RowKind::Prompt(f) | RowKind::Field(f) => Some(f),
            RowKind::Reference | RowKind::Unknown => None,
        }
    }
}

/// A line of the form as drawn: a group heading or a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormLine {
    /// A group heading.
    Heading(Group),
    /// The heading of the fields the model does not know.
    UnknownHeading,
    /// The row with this index.
    Row(usize),
}

/// A reference image that was checked and read by the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    /// Where it came from: a local path, or `None` for base64 given inline.
    pub path: Option<PathBuf>,
    /// Size of the file in bytes.
    pub bytes: usize,
    /// `JPEG` or `PNG`.
    pub format: &'static str,
    /// Width and height, when the header tells.
    pub dims: Option<(u32, u32)>,
    /// Bare base64, shared so sends do not copy it.
    pub base64: Arc<str>,
}

/// The state of the reference image row.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// Nothing chosen yet.
    Empty,
    /// The worker is reading this path.
    Loading(String),
    /// A local file or inline base64, sent as `binary_data_base64`.
    Image(LoadedImage),
    /// A URL, sent as `image_urls`.
    Url(String),
    /// The input could not be used.
    Failed {
        /// What the user typed.
        input: String,
        /// Why it cannot be used.
        error: String,
    },
}

impl Reference {
    /// The text the user typed for this reference (for editing it again).
    pub fn input_text(&self) -> String {
        match self {
            Reference::Empty => String::new(),
            Reference::Loading(s) | Reference::Url(s) => s.clone(),
            Reference::Failed { input, .. } => input.clone(),
            Reference::Image(img) => img
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }
}

/// Which row is being edited in place.
#[derive(Debug)]
pub struct Editing {
    /// The row being edited.
    pub row: usize,
    /// The single-line input.
    pub input: TextArea<'static>,
    /// Path completions offered by the last Tab (reference row only).
    pub completions: Vec<String>,
}

/// The parameter form.
#[derive(Debug)]
pub struct Form {
    /// The schema the rows come from.
    pub schema: &'static Schema,
    /// Every value except the prompt and the reference image, as it would go on the wire.
    pub body: Value,
    /// Text typed into a field that did not parse: field name -> (text, reason).
    pub raw: BTreeMap<&'static str, (String, String)>,
    /// Selectable rows, in form order.
    pub rows: Vec<Row>,
    /// Headings and rows as drawn.
    pub lines: Vec<FormLine>,
    /// The selected row.
    pub selected: usize,
    /// First visible line.
    pub scroll: usize,
    /// The row being edited in place.
    pub editing: Option<Editing>,
    /// The prompt editor; its text is the prompt.
    pub prompt: TextArea<'static>,
    /// Whether the prompt editor has the keyboard.
    pub prompt_active: bool,
    /// The reference image.
    pub reference: Reference,
    /// Findings of the last validation.
    pub report: Report,
}

/// Everything a form holds that the user made, without its widgets: what the undo stack and
/// the draft file keep, and what a form is rebuilt from.
#[derive(Debug, Clone)]
pub struct FormState {
    /// The model.
    pub schema: &'static Schema,
    /// The values other than the prompt and the reference.
    pub body: Value,
    /// Text typed into a field that did not parse: field name -> (text, reason).
    pub raw: BTreeMap<&'static str, (String, String)>,
    /// The prompt.
    pub prompt: String,
    /// The reference image.
    pub reference: Reference,
    /// The selected row.
    pub selected: usize,
}

impl PartialEq for FormState {
    /// Models are compared by `req_key`.
    fn eq(&self, o: &Self) -> bool {
        self.schema.req_key == o.schema.req_key
            && self.body == o.body
            && self.raw == o.raw
            && self.prompt == o.prompt
            && self.reference == o.reference
            && self.selected == o.selected
    }
}

/// Whether a model takes a reference image at all.
pub fn takes_reference(schema: &Schema) -> bool {
    schema
        .fields
        .iter()
        .any(|f| matches!(f.kind, Kind::ImageList(_)))
}

/// Why a request cannot be sent: the first bad row and its message, and every other problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The first bad row.
    pub row: usize,
    /// Why, naming the field.
    pub message: String,
    /// The other problems that block sending, in form order: the field and why.
    pub more: Vec<(String, String)>,
}

impl Blocked {
    /// The first problem and, when there are more, `(+N more: field, field)`: what the status
    /// line shows.
    pub fn summary(&self) -> String {
        if self.more.is_empty() {
            return self.message.clone();
        }
        let fields: Vec<&str> = self.more.iter().map(|(f, _)| f.as_str()).collect();
        format!(
            "{} (+{} more: {}; marked ✘ in the form)",
            self.message,
            self.more.len(),
            fields.join(", ")
        )
    }
}

/// `message` naming `field` once: validator messages start with the field's name already
/// (`height 900 is outside ...`); others (`over the service's limits`) get it in front.
pub fn naming(field: &str, message: &str) -> String {
    let named = message
        .strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ':', '[', ',']));
    if named || field.is_empty() {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    }
}

fn prompt_area(text: &str) -> TextArea<'static> {
    let lines: Vec<String> = if text.is_empty() {
        vec![String::new()]
    } else {
        text.split('\n').map(str::to_owned).collect()
    };
    let mut t = TextArea::new(lines);
    t.set_placeholder_text("What to generate (Enter to edit; Chinese or English)");
    t
}

/// A single-line input holding `text` with the cursor at its end.
pub fn line_input(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.replace('\n', " ")]);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

impl Form {
    /// A form for `schema` starting from `initial` (the schema's defaults with the config's
    /// applied): the prompt and any reference image in it are taken over by their rows.
    pub fn new(schema: &'static Schema, initial: &Value) -> Form {
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (group, fields) in schema.grouped() {
            lines.push(FormLine::Heading(group));
            let mut reference_added = false;
            for f in fields {
                let kind = match f.kind {
                    _ if f.fixed => RowKind::Fixed(f),
                    Kind::ImageList(_) if reference_added => continue,
                    Kind::ImageList(_) => {
                        reference_added = true;
                        RowKind::Reference
                    }
                    Kind::Text => RowKind::Prompt(f),
                    _ => RowKind::Field(f),
                };
                lines.push(FormLine::Row(rows.len()));
                rows.push(Row {
                    kind,
                    group: Some(group),
                    unknown: None,
                });
            }
        }
        let mut form = Form {
            schema,
            body: Value::Object(Map::new()),
            raw: BTreeMap::new(),
            rows,
            lines,
            selected: 0,
            scroll: 0,
            editing: None,
            prompt: prompt_area(""),
            prompt_active: false,
            reference: Reference::Empty,
            report: Report::default(),
        };
        form.replace_values(initial);
        // Start on the first row that is not fixed.
        form.selected = form
            .rows
            .iter()
            .position(|r| !matches!(r.kind, RowKind::Fixed(_)))
            .unwrap_or(0);
        form.revalidate();
        form
    }

    /// What the user made in this form (cheap: the reference's bytes are shared).
    pub fn state(&self) -> FormState {
        FormState {
            schema: self.schema,
            body: self.body.clone(),
            raw: self.raw.clone(),
            prompt: self.prompt_text(),
            reference: self.reference.clone(),
            selected: self.selected,
        }
    }

    /// A form rebuilt from a [`FormState`] (an undo, a restored draft).
    pub fn from_state(s: &FormState) -> Form {
        let mut form = Form::new(s.schema, &Value::Object(Map::new()));
        form.body = s.body.clone();
        // Only fields of this model can hold typed text.
        form.raw = s
            .raw
            .iter()
            .filter_map(|(k, v)| s.schema.field(k).map(|f| (f.name, v.clone())))
            .collect();
        form.prompt = prompt_area(&s.prompt);
        form.reference = s.reference.clone();
        if !form.rows.is_empty() {
            form.selected = s.selected.min(form.rows.len() - 1);
        }
        form.revalidate();
        form
    }

    /// Replaces every value with those of a whole request body (from `$EDITOR` or a history
    /// entry). A body without `binary_data_base64` keeps a loaded reference image.
    pub fn replace_values(&mut self, body: &Value) {
        let mut rest = body.clone();
        let prompt_field = self
            .rows
            .iter()
            .find_map(|r| match r.kind {
                RowKind::Prompt(f) => Some(f.name),
                _ => None,
            })
            .unwrap_or("prompt");
        let prompt = schema::remove_path(&mut rest, prompt_field)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.prompt = prompt_area(&prompt);
        let b64 = schema::remove_path(&mut rest, schema::REFERENCE_BASE64);
        let urls = schema::remove_path(&mut rest, schema::REFERENCE_URL);
        let first = |v: &Option<Value>| {
            v.as_ref()
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if let Some(b) = first(&b64) {
            self.reference = inline_image(&b);
        } else if let Some(u) = first(&urls) {
            self.reference = Reference::Url(u);
        }
        self.body = rest;
        self.raw.clear();
        self.revalidate();
    }

    /// The prompt text.
    pub fn prompt_text(&self) -> String {
        self.prompt.lines().join("\n")
    }

    /// The body with prompt and reference; `stand_in` replaces image bytes with a tiny stand-in.
    fn assemble(&self, stand_in: bool) -> Value {
        let mut b = self.body.clone();
        if let Some(RowKind::Prompt(f)) = self
            .rows
            .iter()
            .map(|r| r.kind)
            .find(|k| matches!(k, RowKind::Prompt(_)))
        {
            schema::set_path(&mut b, f.name, Value::String(self.prompt_text()));
        }
        match &self.reference {
            Reference::Image(img) => {
                let s = if stand_in {
                    VALIDATION_STAND_IN.to_owned()
                } else {
                    img.base64.to_string()
                };
                schema::set_path(&mut b, schema::REFERENCE_BASE64, Value::from(vec![s]));
            }
            Reference::Url(u) => {
                schema::set_path(&mut b, schema::REFERENCE_URL, Value::from(vec![u.clone()]));
            }
            Reference::Empty | Reference::Loading(_) | Reference::Failed { .. } => {}
        }
        self.schema.normalize(&b)
    }

    /// The body as the external editor shows it: everything but the base64 of a loaded file.
    pub fn editable_json(&self) -> Value {
        let mut b = self.assemble(false);
        if matches!(self.reference, Reference::Image(_)) {
            schema::remove_path(&mut b, schema::REFERENCE_BASE64);
        }
        b
    }

    /// Re-runs validation (cheap: image bytes are replaced by a stand-in) and lists the
    /// fields the model does not know as rows of their own, after the schema's.
    pub fn revalidate(&mut self) {
        self.report = self.schema.validate(&self.assemble(true));
        self.sync_unknown_rows();
    }

    /// The fields of the body that the model does not know and that are sent as they are:
    /// (key, key inside it, dotted name), in the body's order.
    fn unknown_paths(&self) -> Vec<(String, Option<String>, String)> {
        let sent = self.schema.normalize(&self.body);
        let mut out = Vec::new();
        let Some(obj) = sent.as_object() else {
            return out;
        };
        for (k, v) in obj {
            if self.schema.field(k).is_some() {
                continue;
            }
            if self.schema.has_object(k) {
                // A non-object there is an error of its own, not an unknown field.
                if let Value::Object(inner) = v {
                    for ik in inner.keys() {
                        let dotted = format!("{k}.{ik}");
                        if self.schema.field(&dotted).is_none() {
                            out.push((k.clone(), Some(ik.clone()), dotted));
                        }
                    }
                }
                continue;
            }
            out.push((k.clone(), None, k.clone()));
        }
        out
    }

    fn sync_unknown_rows(&mut self) {
        let paths = self.unknown_paths();
        let known = self
            .rows
            .iter()
            .filter(|r| r.kind != RowKind::Unknown)
            .count();
        let current: Vec<&(String, Option<String>, String)> = self.rows[known..]
            .iter()
            .filter_map(|r| r.unknown.as_ref())
            .collect();
        if current.len() == paths.len() && current.iter().zip(&paths).all(|(a, b)| *a == b) {
            return;
        }
        self.rows.truncate(known);
        self.lines.retain(|l| {
            matches!(l, FormLine::Heading(_)) || matches!(l, FormLine::Row(i) if *i < known)
        });
        if !paths.is_empty() {
            self.lines.push(FormLine::UnknownHeading);
        }
        for p in paths {
            self.lines.push(FormLine::Row(self.rows.len()));
            self.rows.push(Row {
                kind: RowKind::Unknown,
                group: None,
                unknown: Some(p),
            });
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.editing = self.editing.take().filter(|e| e.row < self.rows.len());
    }

    /// The dotted names of the fields the model does not know that a send includes.
    pub fn unknown_fields(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.kind == RowKind::Unknown)
            .map(Row::label)
            .collect()
    }

    /// Removes the field the model does not know on `row` from the body; its name, or `None`
    /// when the row is not such a field.
    pub fn remove_unknown(&mut self, row: usize) -> Option<String> {
        let (key, inner, dotted) = self.rows.get(row)?.unknown.clone()?;
        let obj = self.body.as_object_mut()?;
        match inner {
            None => {
                obj.remove(&key);
            }
            Some(ik) => {
                if let Some(Value::Object(m)) = obj.get_mut(&key) {
                    m.remove(&ik);
                    if m.is_empty() {
                        obj.remove(&key);
                    }
                }
            }
        }
        self.revalidate();
        Some(dotted)
    }

    /// The row of a field name (image fields map to the reference row).
    pub fn row_of(&self, field: &str) -> Option<usize> {
        self.rows.iter().position(|r| match r.kind {
            RowKind::Reference => {
                field == schema::REFERENCE_BASE64 || field == schema::REFERENCE_URL
            }
            _ => r.label() == field,
        })
    }

    /// The error shown on a row, if any: a value that did not parse, a failed image, or the
    /// first validation error.
    pub fn row_error(&self, row: usize) -> Option<String> {
        let r = self.rows.get(row)?;
        if let Some(f) = r.field()
            && let Some((_, e)) = self.raw.get(f.name)
        {
            return Some(e.clone());
        }
        if r.kind == RowKind::Reference {
            if let Reference::Failed { error, .. } = &self.reference {
                return Some(error.clone());
            }
            if matches!(self.reference, Reference::Loading(_)) {
                return None;
            }
        }
        self.issue(row, Severity::Error)
    }

    /// The first warning of a row.
    pub fn row_warning(&self, row: usize) -> Option<String> {
        self.issue(row, Severity::Warning)
    }

    fn issue(&self, row: usize, severity: Severity) -> Option<String> {
        self.report
            .issues
            .iter()
            .find(|i| i.severity == severity && self.row_of(&i.field) == Some(row))
            .map(|i| i.message.clone())
    }

    /// Every problem that blocks sending, in form order: the row it is on (`None`: a field
    /// without a row, or the body as a whole), the field, and a sentence naming the field once.
    pub fn problems(&self) -> Vec<(Option<usize>, String, String)> {
        let mut out = Vec::new();
        if let Reference::Loading(p) = &self.reference {
            out.push((
                self.row_of(schema::REFERENCE_URL),
                "reference".to_owned(),
                format!("reference: the image {p} is still loading"),
            ));
        }
        for (i, r) in self.rows.iter().enumerate() {
            if let Some(e) = self.row_error(i) {
                out.push((Some(i), r.label().to_owned(), naming(r.label(), &e)));
            }
        }
        // Errors not tied to a row (a non-object body, an unknown field that must be an object).
        for issue in self.report.errors() {
            if self.row_of(&issue.field).is_none() {
                let field = if issue.field.is_empty() {
                    "body".to_owned()
                } else {
                    issue.field.clone()
                };
                out.push((None, field, naming(&issue.field, &issue.message)));
            }
        }
        out
    }

    /// The request to send, or what blocks it (the first bad row and every other problem).
    pub fn request(&self) -> Result<Value, Blocked> {
        let mut problems = self.problems().into_iter();
        if let Some((row, _, message)) = problems.next() {
            return Err(Blocked {
                row: row.unwrap_or(self.selected),
                message,
                more: problems.map(|(_, f, m)| (f, m)).collect(),
            });
        }
        Ok(self.assemble(false))
    }

    /// The current value of a field (its default when unset).
    pub fn value(&self, f: &Field) -> Option<Value> {
        schema::get_path(&self.body, f.name)
            .cloned()
            .or_else(|| f.default.map(schema::DefaultValue::to_value))
    }

    /// The value of a row as text, and whether it is a typed value that did not parse.
    pub fn display(&self, row: usize) -> (String, bool) {
        let Some(r) = self.rows.get(row) else {
            return (String::new(), false);
        };
        match r.kind {
            RowKind::Reference => (reference_summary(&self.reference), false),
            RowKind::Unknown => {
                let value = match &r.unknown {
                    Some((k, None, _)) => self.body.get(k),
                    Some((k, Some(ik), _)) => self.body.get(k).and_then(|v| v.get(ik)),
                    None => None,
                };
                (value.map(Value::to_string).unwrap_or_default(), false)
            }
            RowKind::Prompt(_) => {
                let t = self.prompt_text();
                if t.is_empty() {
                    ("(empty)".to_owned(), false)
                } else {
                    (t.replace('\n', " ⏎ "), false)
                }
            }
            RowKind::Fixed(f) | RowKind::Field(f) => {
                if let Some((text, _)) = self.raw.get(f.name) {
                    return (text.clone(), true);
                }
                match self.value(f) {
                    Some(v) => (f.display(&v), false),
                    None => ("(not sent)".to_owned(), false),
                }
            }
        }
    }

    /// Sets a field from typed text: a value that does not parse is kept as typed and shown
    /// as an error until fixed.
    pub fn commit_text(&mut self, f: &'static Field, text: &str) {
        match f.parse(text) {
            Ok(v) => {
                self.raw.remove(f.name);
                if text.trim().is_empty() && f.default.is_none() && !f.required {
                    schema::remove_path(&mut self.body, f.name);
                } else {
                    schema::set_path(&mut self.body, f.name, v);
                }
            }
            Err(e) => {
                self.raw.insert(f.name, (text.to_owned(), e));
            }
        }
        self.revalidate();
    }

    /// Nudges the selected row by `steps` (numbers by their step, clamped; bools toggle; enums
    /// cycle). Returns whether anything changed.
    pub fn nudge(&mut self, steps: i32) -> bool {
        let Some(RowKind::Field(f)) = self.rows.get(self.selected).map(|r| r.kind) else {
            return false;
        };
        let current = self.value(f);
        let Some(next) = f.nudge(current.as_ref(), steps) else {
            return false;
        };
        self.raw.remove(f.name);
        schema::set_path(&mut self.body, f.name, next);
        self.revalidate();
        true
    }

    /// Sets a field to a value directly.
    pub fn set(&mut self, name: &str, v: Value) {
        if let Some(f) = self.schema.field(name) {
            self.raw.remove(f.name);
        }
        schema::set_path(&mut self.body, name, v);
        self.revalidate();
    }

    /// Moves the selection, keeping it on screen in a viewport of `height` lines.
    pub fn select(&mut self, row: usize, height: usize) {
        if self.rows.is_empty() {
            return;
        }
        self.selected = row.min(self.rows.len() - 1);
        self.keep_visible(height);
    }

    /// Adjusts the scroll so the selected row (and its heading when possible) is visible.
    pub fn keep_visible(&mut self, height: usize) {
        let height = height.max(1);
        let Some(line) = self
            .lines
            .iter()
            .position(|l| *l == FormLine::Row(self.selected))
        else {
            return;
        };
        let want_top = if line > 0
            && matches!(
                self.lines[line - 1],
                FormLine::Heading(_) | FormLine::UnknownHeading
            ) {
            line - 1
        } else {
            line
        };
        if want_top < self.scroll {
            self.scroll = want_top;
        } else if line >= self.scroll + height {
            self.scroll = line + 1 - height;
        }
        self.scroll = self.scroll.min(self.lines.len().saturating_sub(height));
    }
}

/// A reference built from base64 given inline (config, `$EDITOR`, history).
pub fn inline_image(b64: &str) -> Reference {
    use base64::Engine as _;
    let head_len = b64.len().min(4096) / 4 * 4;
    let head = base64::engine::general_purpose::STANDARD
        .decode(&b64.as_bytes()[..head_len])
        .unwrap_or_default();
    let format = sniff(&head);
    Reference::Image(LoadedImage {
        path: None,
        bytes: b64.len() / 4 * 3,
        format: format.unwrap_or("?"),
        dims: None,
        base64: Arc::from(b64),
    })
}

/// `JPEG` or `PNG` from the magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("JPEG")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("PNG")
    } else {
        None
    }
}

/// A size in human units ([`crate::text::human_size`]).
pub fn human_size(n: usize) -> String {
    crate::text::human_size(n as u64)
}

/// One line describing the reference image.
pub fn reference_summary(r: &Reference) -> String {
    match r {
        Reference::Empty => "(none: Enter a path or URL)".to_owned(),
        Reference::Loading(p) => format!("{p} (loading...)"),
        Reference::Url(u) => format!("URL {u}"),
        Reference::Failed { input, .. } => input.clone(),
        Reference::Image(img) => {
            let dims = img
                .dims
                .map(|(w, h)| format!(" {w}x{h}"))
                .unwrap_or_default();
            let src = img
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "inline base64".to_owned());
            format!("{}{dims} {} · {src}", img.format, human_size(img.bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> Form {
        Form::new(
            schema::default_schema(),
            &schema::default_schema().default_body(),
        )
    }

    #[test]
    fn rows_come_from_the_schema_with_one_reference_row() {
        let f = form();
        let labels: Vec<&str> = f.rows.iter().map(Row::label).collect();
        assert_eq!(labels.iter().filter(|l| **l == "reference").count(), 1);
        assert!(!labels.contains(&"image_urls"));
        for field in schema::default_schema().fields {
            if !matches!(field.kind, Kind::ImageList(_)) {
                assert!(labels.contains(&field.name), "{}", field.name);
            }
        }
        assert_eq!(f.rows[f.selected].label(), "reference");
    }

    #[test]
    fn blocked_until_prompt_and_reference_are_set() {
        let mut f = form();
        let b = f.request().expect_err("blocked");
        assert_eq!(f.rows[b.row].label(), "reference");
        f.reference = Reference::Url("https://example.com/a.jpg".into());
        f.revalidate();
        let b = f.request().expect_err("blocked");
        assert_eq!(f.rows[b.row].label(), "prompt");
        f.prompt = prompt_area("一只猫\nin the snow");
        f.revalidate();
        let body = f.request().expect("ok");
        assert_eq!(body["prompt"], json!("一只猫\nin the snow"));
        assert_eq!(body["image_urls"], json!(["https://example.com/a.jpg"]));
        // Normalized: req_key first, as in the sample.
        assert_eq!(
            body.as_object()
                .and_then(|o| o.keys().next())
                .map(String::as_str),
            Some("req_key")
        );
    }

    #[test]
    fn unparsable_text_is_kept_and_blocks() {
        let mut f = form();
        let width = schema::default_schema().field("width").expect("width");
        f.commit_text(width, "wide");
        let row = f.row_of("width").expect("row");
        assert_eq!(f.display(row), ("wide".to_owned(), true));
        assert!(f.row_error(row).expect("error").contains("whole number"));
        f.commit_text(width, "600");
        assert_eq!(f.row_error(row), None);
        assert_eq!(f.body["width"], json!(600));
    }

    #[test]
    fn editable_json_round_trips_without_losing_a_loaded_image() {
        let mut f = form();
        f.reference = Reference::Image(LoadedImage {
            path: Some("/tmp/a.png".into()),
            bytes: 8,
            format: "PNG",
            dims: None,
            base64: Arc::from(VALIDATION_STAND_IN),
        });
        let mut j = f.editable_json();
        assert!(j.get("binary_data_base64").is_none());
        j["seed"] = json!(7);
        f.replace_values(&j);
        assert!(matches!(f.reference, Reference::Image(_)));
        assert_eq!(f.body["seed"], json!(7));
    }
}
