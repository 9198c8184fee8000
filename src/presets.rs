//! Named user presets of parameter values, kept in `<config dir>/presets.toml` as TOML a person
//! can edit: one table per preset, named by its header, holding the model (`req_key`) and the
//! parameter values by their dotted request names.
//!
//! ```toml
//! version = 1
//!
//! # Soft light, strong likeness.
//! [portrait]
//! req_key = "high_aes_ip_v20"
//! scale = 4.5
//! ref_id_weight = 0.3
//! logo_info.add_logo = true
//! ```
//!
//! What a preset holds: the parameters of its model ([`Field::in_preset`]) that differ from the
//! model's defaults (so a preset reads as what it changes, and a parameter it leaves out takes
//! the default when it is applied), never the prompt
//! (the text being generated), never a reference image (content, not a setting: base64 would be
//! megabytes, and a signed URL can carry credentials), and never anything that is not a field
//! of the model's schema (so nothing but typed parameter values can reach the file: no keys,
//! no headers, no unknown request fields).
//!
//! Saving keeps the file's comments and layout ([`toml_edit`]) and writes atomically (a
//! temporary file beside it, then a rename), so a crash never leaves half a file. A file that
//! does not parse is never written over. Loading checks a preset against its model's schema;
//! every problem names the file, the line, the preset and the field.
//!
//! The library API the CLI and the TUI share: [`PresetStore::list`],
//! [`PresetStore::load`] (a [`Preset`], applied to a body with [`Preset::apply`]),
//! [`PresetStore::save`], [`PresetStore::delete`] and [`PresetStore::rename`].

use crate::api::schema::{
    self, Field, Kind, SCHEMAS, Schema, Switched, float_value, get_path, remove_path, set_path,
    switch_schema,
};
use crate::config::Paths;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, TableLike};

/// The presets file's name in the config dir.
pub const FILE_NAME: &str = "presets.toml";

/// The presets file format this build reads and writes (`version = 1` at the top; optional).
pub const FORMAT_VERSION: i64 = 1;

/// Longest preset name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The text a new presets file starts with.
const NEW_FILE: &str = "\
# volcv presets: one table per preset, named by its header. Edit freely: volcv keeps your
# comments, and checks every value against the model's schema when a preset is loaded.
# Fields are the request's dotted names (see `volcv schema --req-key KEY`); a parameter a
# preset leaves out takes the model's default. The prompt and the reference image are never
# part of a preset.
version = 1
";

/// One problem in a preset, at a line of the presets file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line in the presets file.
    pub line: usize,
    /// The dotted field, when the problem is about one.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, field {field}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Why a presets operation failed. Every message names the presets file.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("cannot read presets file {}: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    /// The file is not valid TOML (nothing is written over such a file).
    #[error("presets file {}, line {line}, column {column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file is TOML but not shaped like a presets file.
    #[error("presets file {}, line {line}: {message}", path.display())]
    Structure {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A preset does not fit its model's schema: every problem at once.
    #[error("{}", invalid_message(path, preset, problems))]
    Invalid {
        path: PathBuf,
        preset: String,
        problems: Vec<Problem>,
    },
    #[error("no preset {name:?} in {}; {}", path.display(), known_list(known))]
    NotFound {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
    #[error("preset {name:?} already exists in {}", path.display())]
    Exists { path: PathBuf, name: String },
    #[error("{0}")]
    Name(String),
    /// The body to save has problems (nothing was written).
    #[error("cannot save preset {name:?}: {}", problems.join("; "))]
    Body { name: String, problems: Vec<String> },
    #[error("cannot write presets file {}: {err}", path.display())]
    Write { path: PathBuf, err: std::io::Error },
}

fn invalid_message(path: &Path, preset: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match &p.field {
            Some(field) => format!(
                "{}:{}: preset {preset:?}, field {field}: {}",
                path.display(),
                p.line,
                p.message
            ),
            None => format!(
                "{}:{}: preset {preset:?}: {}",
                path.display(),
                p.line,
                p.message
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "no presets are saved yet".to_owned()
    } else {
        format!("presets: {}", known.join(", "))
    }
}

/// A preset as `list` shows it; `problems` is empty when it loads cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresetInfo {
    pub name: String,
    /// The `req_key` as written (possibly not a known model: see `problems`).
    pub req_key: Option<String>,
    /// The line of its header.
    pub line: usize,
    /// How many parameter values it sets.
    pub values: usize,
    pub problems: Vec<String>,
}

/// A loaded, validated preset: the patch a body gets with [`Preset::apply`].
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub schema: &'static Schema,
    /// Parameter values by dotted field name, in the schema's order, typed as the schema says.
    pub values: Map<String, Value>,
    /// Values inside their range but outside the recommended one (`line N: ...`).
    pub warnings: Vec<String>,
}

impl Preset {
    /// The preset as a (nested) request body fragment: `req_key` and its values.
    pub fn patch(&self) -> Value {
        let mut body = Value::Object(Map::new());
        set_path(
            &mut body,
            "req_key",
            Value::String(self.schema.req_key.to_owned()),
        );
        for (name, v) in &self.values {
            set_path(&mut body, name, v.clone());
        }
        body
    }

    /// Applies the preset to `body`: switches it to the preset's model ([`switch_schema`]:
    /// fields the model does not take are dropped and reported), then sets every parameter of
    /// the model: the preset's value, else the value in `defaults` (the model's defaults as the
    /// user configured them: `config::Loaded::default_body(preset.schema)`, or
    /// `preset.schema.default_body()`), else none. The prompt, the reference image and fields no
    /// model knows are left as they are.
    pub fn apply(&self, body: &Value, defaults: &Value) -> Switched {
        let mut switched = switch_schema(body, self.schema);
        for f in self.schema.fields.iter().filter(|f| f.in_preset()) {
            let value = self
                .values
                .get(f.name)
                .or_else(|| get_path(defaults, f.name).filter(|v| !v.is_null()));
            match value {
                Some(v) => set_path(&mut switched.body, f.name, v.clone()),
                None => {
                    remove_path(&mut switched.body, f.name);
                }
            }
        }
        switched.body = self.schema.normalize(&switched.body);
        switched
    }
}

/// What [`PresetStore::save`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Saved {
    /// A preset of that name was replaced.
    pub replaced: bool,
    pub req_key: &'static str,
    /// The fields stored, in schema order.
    pub stored: Vec<&'static str>,
    /// Fields of the body that are not stored, other than parameters equal to their default:
    /// the prompt, reference images, fields other models take, fields no model knows.
    pub left_out: Vec<String>,
}

/// The presets file.
#[derive(Debug, Clone)]
pub struct PresetStore {
    path: PathBuf,
}

impl PresetStore {
    /// The presets file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `presets.toml` in the config dir (the directory of the config file, so `--config` and
    /// `VOLCV_CONFIG` move it too).
    pub fn for_paths(paths: &Paths) -> Self {
        Self::new(paths.config_dir().join(FILE_NAME))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every preset in file order, each with the problems loading it would report. A missing
    /// file is an empty list.
    pub fn list(&self) -> Result<Vec<PresetInfo>, PresetError> {
        let Some(text) = self.read()? else {
            return Ok(Vec::new());
        };
        let raws = parse(&self.path, &text)?;
        Ok(raws
            .iter()
            .map(|raw| PresetInfo {
                name: raw.name.clone(),
                req_key: raw
                    .entries
                    .iter()
                    .find(|e| e.path == "req_key")
                    .and_then(|e| e.value.as_ref().ok())
                    .and_then(toml_edit::Value::as_str)
                    .map(str::to_owned),
                line: raw.line,
                values: raw.entries.iter().filter(|e| e.path != "req_key").count(),
                problems: match check(raw) {
                    Ok(_) => Vec::new(),
                    Err(problems) => problems.iter().map(Problem::to_string).collect(),
                },
            })
            .collect())
    }

    /// The names of every preset, in file order.
    pub fn names(&self) -> Result<Vec<String>, PresetError> {
        Ok(self.list()?.into_iter().map(|p| p.name).collect())
    }

    /// The preset `name`, checked against its model's schema.
    pub fn load(&self, name: &str) -> Result<Preset, PresetError> {
        let text = self.read()?.unwrap_or_default();
        let raws = parse(&self.path, &text)?;
        let Some(raw) = raws.iter().find(|r| r.name == name) else {
            return Err(PresetError::NotFound {
                path: self.path.clone(),
                name: name.to_owned(),
                known: raws.iter().map(|r| r.name.clone()).collect(),
            });
        };
        check(raw).map_err(|problems| PresetError::Invalid {
            path: self.path.clone(),
            preset: name.to_owned(),
            problems,
        })
    }

    /// Saves the parameters of `body` (a request body whose `req_key` names a known model) as
    /// the preset `name`, replacing a preset of that name. Only [`Field::in_preset`] fields of
    /// the model are stored, and only those whose value differs from `defaults`: the model's
    /// defaults the preset is relative to, the same body [`Preset::apply`] gets
    /// (`config::Loaded::default_body(schema)`, or `schema.default_body()`; a `defaults` for
    /// another model is replaced by the schema's own). [`Preset::apply`] with the same
    /// defaults gives back every parameter of `body`. A value the schema refuses is an error
    /// and nothing is written. When replacing, comments on the lines kept are kept.
    pub fn save(&self, name: &str, body: &Value, defaults: &Value) -> Result<Saved, PresetError> {
        check_name(name)?;
        let body_error = |problems: Vec<String>| PresetError::Body {
            name: name.to_owned(),
            problems,
        };
        let req_key = body
            .get("req_key")
            .and_then(Value::as_str)
            .ok_or_else(|| body_error(vec!["the request has no req_key".to_owned()]))?;
        let schema = schema::schema_for(req_key).ok_or_else(|| {
            body_error(vec![format!(
                "req_key {req_key:?} is not a model volcv knows (known: {})",
                schema::known_req_keys()
            )])
        })?;
        let own_defaults;
        let defaults = if defaults.get("req_key").and_then(Value::as_str) == Some(req_key) {
            defaults
        } else {
            own_defaults = schema.default_body();
            &own_defaults
        };
        let mut stored: Vec<(&'static Field, Value)> = Vec::new();
        for f in schema.fields.iter().filter(|f| f.in_preset()) {
            if let Some(v) = get_path(body, f.name).filter(|v| !v.is_null())
                && get_path(defaults, f.name) != Some(v)
            {
                stored.push((f, v.clone()));
            }
        }
        let mut probe = Value::Object(Map::new());
        for (f, v) in &stored {
            set_path(&mut probe, f.name, v.clone());
        }
        let errors: Vec<String> = schema
            .validate(&probe)
            .errors()
            .filter(|i| stored.iter().any(|(f, _)| f.name == i.field))
            .map(|i| i.message.clone())
            .collect();
        if !errors.is_empty() {
            return Err(body_error(errors));
        }
        let left_out = left_out(schema, body, &stored);

        let text = self.read()?;
        if let Some(t) = &text {
            // A file that is not valid TOML, or not shaped like a presets file, is refused
            // with its line rather than written over.
            parse(&self.path, t)?;
        }
        let mut doc = parse_mut(&self.path, text.as_deref().unwrap_or(NEW_FILE))?;
        let root = doc.as_table_mut();
        let replaced = root.contains_key(name);
        if !replaced {
            root.insert(name, Item::Table(toml_edit::Table::new()));
        }
        let Some(table) = root.get_mut(name).and_then(Item::as_table_like_mut) else {
            return Err(PresetError::Structure {
                path: self.path.clone(),
                line: 1,
                message: format!("{name} is not a preset table"),
            });
        };
        set_in(table, &["req_key"], toml_edit::Value::from(schema.req_key));
        for (f, v) in &stored {
            if let Some(tv) = json_to_toml(v) {
                let segs: Vec<&str> = f.path().collect();
                set_in(table, &segs, tv);
            }
        }
        let mut existing = Vec::new();
        leaves(table, "", &mut existing);
        for path in existing {
            if path != "req_key" && !stored.iter().any(|(f, _)| f.name == path) {
                let segs: Vec<&str> = path.split('.').collect();
                remove_in(table, &segs);
            }
        }
        self.write(&doc.to_string())?;
        Ok(Saved {
            replaced,
            req_key: schema.req_key,
            stored: stored.iter().map(|(f, _)| f.name).collect(),
            left_out,
        })
    }

    /// Removes the preset `name` (with the comments above its header).
    pub fn delete(&self, name: &str) -> Result<(), PresetError> {
        let text = self.read()?.unwrap_or_default();
        let mut doc = parse_mut(&self.path, &text)?;
        if doc.as_table_mut().remove(name).is_none() {
            return Err(self.not_found(name, &text));
        }
        self.write(&doc.to_string())
    }

    /// Renames the preset `from` to `to`, keeping its place, values and comments.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), PresetError> {
        check_name(to)?;
        let text = self.read()?.unwrap_or_default();
        let mut doc = parse_mut(&self.path, &text)?;
        let root = doc.as_table_mut();
        if !root.contains_key(from) {
            return Err(self.not_found(from, &text));
        }
        if from == to {
            return Ok(());
        }
        if root.contains_key(to) {
            return Err(PresetError::Exists {
                path: self.path.clone(),
                name: to.to_owned(),
            });
        }
        let Some((_, item)) = root.remove_entry(from) else {
            return Err(self.not_found(from, &text));
        };
        root.insert(to, item);
        self.write(&doc.to_string())
    }

    fn not_found(&self, name: &str, text: &str) -> PresetError {
        PresetError::NotFound {
            path: self.path.clone(),
            name: name.to_owned(),
            known: parse(&self.path, text)
                .map(|raws| raws.into_iter().map(|r| r.name).collect())
                .unwrap_or_default(),
        }
    }

    /// The file's text; `None` when it does not exist.
    fn read(&self) -> Result<Option<String>, PresetError> {
        // Capped and checked (a FIFO or /dev/zero is refused, never read for ever).
        match crate::images::input::read_text_file(&self.path, crate::images::input::TEXT_FILE_CAP)
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(PresetError::Read {
                path: self.path.clone(),
                err,
            }),
        }
    }

    /// Replaces the file atomically: a temporary file in the same directory (with the old
    /// file's permissions), synced, then renamed over it. A symlinked file is written through
    /// the link.
    fn write(&self, text: &str) -> Result<(), PresetError> {
        let err = |err| PresetError::Write {
            path: self.path.clone(),
            err,
        };
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        std::fs::create_dir_all(&dir).map_err(err)?;
        let tmp = dir.join(format!(
            ".{FILE_NAME}.{}.{:08x}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        let result = (|| {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            let mut f = opts.open(&tmp)?;
            if let Ok(meta) = std::fs::metadata(&target) {
                f.set_permissions(meta.permissions())?;
            }
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &target)?;
            // Make the rename itself durable where directories can be synced.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(err)
    }
}

/// A preset name volcv accepts: not blank, no control characters, at most
/// [`MAX_NAME_CHARS`], not `version` (the format key).
pub fn check_name(name: &str) -> Result<(), PresetError> {
    let bad = |why: &str| Err(PresetError::Name(format!("preset name {name:?} {why}")));
    if name.trim().is_empty() {
        return bad("is blank");
    }
    if name != name.trim() {
        return bad("starts or ends with a space");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad(&format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    if name == "version" {
        return bad("is reserved (the file's format version)");
    }
    Ok(())
}

/// One `key = value` of a preset as written.
#[derive(Debug)]
struct RawEntry {
    /// Dotted, from the preset table down.
    path: String,
    line: usize,
    /// The value, or why it cannot be one (an array of tables).
    value: Result<toml_edit::Value, String>,
}

/// One preset table as written.
#[derive(Debug)]
struct RawPreset {
    name: String,
    line: usize,
    entries: Vec<RawEntry>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    upto.matches('\n').count() + 1
}

fn syntax_error(path: &Path, text: &str, e: &toml_edit::TomlError) -> PresetError {
    let (line, column) = match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let upto = text.get(..start).unwrap_or(text);
            let col = upto.rfind('\n').map_or(upto.len(), |i| upto.len() - i - 1) + 1;
            (line_of(text, start), col)
        }
        None => (1, 1),
    };
    PresetError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

fn parse_mut(path: &Path, text: &str) -> Result<DocumentMut, PresetError> {
    text.parse::<DocumentMut>()
        .map_err(|e| syntax_error(path, text, &e))
}

/// The presets of a file, with the line of every key.
fn parse(path: &Path, text: &str) -> Result<Vec<RawPreset>, PresetError> {
    let doc = toml_edit::Document::parse(text).map_err(|e| syntax_error(path, text, &e))?;
    let root = doc.as_table();
    let key_line = |t: &dyn TableLike, k: &str| {
        t.key(k)
            .and_then(toml_edit::Key::span)
            .map_or(1, |s| line_of(text, s.start))
    };
    let mut presets = Vec::new();
    for (name, item) in root.iter() {
        let line = key_line(root, name);
        let structure = |message: String| PresetError::Structure {
            path: path.to_owned(),
            line,
            message,
        };
        if name == "version" {
            match item.as_integer() {
                Some(v) if v <= FORMAT_VERSION => continue,
                Some(v) => {
                    return Err(structure(format!(
                        "version {v} is newer than this volcv understands ({FORMAT_VERSION}); \
                         upgrade volcv"
                    )));
                }
                None => return Err(structure("version must be a whole number".to_owned())),
            }
        }
        let Some(table) = item.as_table_like() else {
            return Err(structure(format!(
                "{name} is not a preset: a preset is a table, written [{}] followed by its \
                 req_key and values",
                toml_key(name)
            )));
        };
        let mut entries = Vec::new();
        flatten(text, table, "", &mut entries);
        presets.push(RawPreset {
            name: name.to_owned(),
            line,
            entries,
        });
    }
    Ok(presets)
}

/// A key as it would be written in a header (quoted when needed).
fn toml_key(name: &str) -> String {
    toml_edit::Key::new(name).display_repr().into_owned()
}

fn flatten(text: &str, t: &dyn TableLike, prefix: &str, out: &mut Vec<RawEntry>) {
    for (k, item) in t.iter() {
        let path = format!("{prefix}{k}");
        let line = t
            .key(k)
            .and_then(toml_edit::Key::span)
            .or_else(|| item.span())
            .map_or(1, |s| line_of(text, s.start));
        match item {
            Item::Value(toml_edit::Value::InlineTable(inner)) => {
                flatten(text, inner, &format!("{path}."), out);
            }
            Item::Table(inner) => flatten(text, inner, &format!("{path}."), out),
            Item::Value(v) => out.push(RawEntry {
                path,
                line,
                value: Ok(v.clone()),
            }),
            Item::ArrayOfTables(_) => out.push(RawEntry {
                path,
                line,
                value: Err("an array of tables is not a value of any parameter".to_owned()),
            }),
            Item::None => {}
        }
    }
}

/// Checks a preset against its model's schema: every problem at once.
fn check(raw: &RawPreset) -> Result<Preset, Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |line: usize, field: Option<&str>, message: String| Problem {
        line,
        field: field.map(str::to_owned),
        message,
    };
    let req_key = raw.entries.iter().find(|e| e.path == "req_key");
    let schema = match req_key.map(|e| (e, e.value.as_ref().ok().and_then(|v| v.as_str()))) {
        None => {
            problems.push(problem(
                raw.line,
                None,
                format!(
                    "no req_key: add the model it is for, e.g. req_key = \"{}\" (known: {})",
                    schema::default_schema().req_key,
                    schema::known_req_keys()
                ),
            ));
            None
        }
        Some((e, None)) => {
            problems.push(problem(
                e.line,
                Some("req_key"),
                "req_key must be a string".to_owned(),
            ));
            None
        }
        Some((e, Some(key))) => {
            let s = schema::schema_for(key);
            if s.is_none() {
                problems.push(problem(
                    e.line,
                    Some("req_key"),
                    format!(
                        "{key:?} is not a model volcv knows (known: {})",
                        schema::known_req_keys()
                    ),
                ));
            }
            s
        }
    };
    let Some(schema) = schema else {
        return Err(problems);
    };
    let mut probe = Value::Object(Map::new());
    let mut lines: Vec<(&'static str, usize)> = Vec::new();
    for e in raw.entries.iter().filter(|e| e.path != "req_key") {
        let name = e.path.as_str();
        let Some(f) = schema.field(name) else {
            let message = if schema.is_foreign(name) {
                let takers: Vec<&str> = SCHEMAS
                    .iter()
                    .filter(|s| s.field(name).is_some())
                    .map(|s| s.req_key)
                    .collect();
                format!(
                    "not a field of {} (only of {})",
                    schema.req_key,
                    takers.join(", ")
                )
            } else {
                let names: Vec<&str> = schema
                    .fields
                    .iter()
                    .filter(|f| f.in_preset())
                    .map(|f| f.name)
                    .collect();
                format!(
                    "not a field of {}; its parameters: {}",
                    schema.req_key,
                    names.join(", ")
                )
            };
            problems.push(problem(e.line, Some(name), message));
            continue;
        };
        if !f.in_preset() {
            problems.push(problem(
                e.line,
                Some(name),
                "not kept in presets: a preset holds parameters; the prompt and reference \
                 images are given with each request"
                    .to_owned(),
            ));
            continue;
        }
        let value = match &e.value {
            Err(why) => Err(why.clone()),
            Ok(v) => typed_value(f, v),
        };
        match value {
            Ok(v) => {
                set_path(&mut probe, f.name, v);
                lines.push((f.name, e.line));
            }
            Err(why) => problems.push(problem(e.line, Some(name), why)),
        }
    }
    let report = schema.validate(&probe);
    let mut warnings = Vec::new();
    for issue in &report.issues {
        let Some(&(_, line)) = lines.iter().find(|(n, _)| *n == issue.field) else {
            continue; // prompt, image and other findings about fields a preset does not hold
        };
        match issue.severity {
            schema::Severity::Error => {
                problems.push(problem(line, Some(&issue.field), issue.message.clone()));
            }
            schema::Severity::Warning => warnings.push(format!("line {line}: {}", issue.message)),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(problems);
    }
    let mut values = Map::new();
    for f in schema.fields {
        if let Some(v) = get_path(&probe, f.name) {
            values.insert(f.name.to_owned(), v.clone());
        }
    }
    Ok(Preset {
        name: raw.name.clone(),
        schema,
        values,
        warnings,
    })
}

/// A TOML value as the JSON value of field `f`: a whole number for a float field becomes a
/// float, an enum accepts its labels (`position = "top-left"`); anything else converts as is
/// and the schema judges it.
fn typed_value(f: &Field, v: &toml_edit::Value) -> Result<Value, String> {
    match (f.kind, v) {
        (Kind::Float, toml_edit::Value::Integer(i)) => Ok(float_value(*i.value() as f64)),
        (Kind::Enum(_), toml_edit::Value::String(s)) => f.parse(s.value()),
        _ => toml_to_json(v),
    }
}

fn toml_to_json(v: &toml_edit::Value) -> Result<Value, String> {
    Ok(match v {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::from(*i.value()),
        toml_edit::Value::Float(f) => {
            let x = *f.value();
            if !x.is_finite() {
                return Err(format!("{x} is not a finite number"));
            }
            float_value(x)
        }
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(_) => {
            return Err("a date or time is not a value of any parameter".to_owned());
        }
        toml_edit::Value::Array(a) => {
            Value::Array(a.iter().map(toml_to_json).collect::<Result<Vec<_>, _>>()?)
        }
        toml_edit::Value::InlineTable(t) => {
            let mut m = Map::new();
            for (k, v) in t.iter() {
                m.insert(k.to_owned(), toml_to_json(v)?);
            }
            Value::Object(m)
        }
    })
}

/// A JSON parameter value as TOML (`None` for null, which a preset never stores).
fn json_to_toml(v: &Value) -> Option<toml_edit::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            toml_edit::Value::Array(items.iter().filter_map(json_to_toml).collect())
        }
        Value::Object(m) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in m {
                if let Some(tv) = json_to_toml(v) {
                    t.insert(k, tv);
                }
            }
            toml_edit::Value::InlineTable(t)
        }
    })
}

/// Sets the dotted `segs` in a preset table, keeping the comments around a replaced value;
/// a missing parent is written as dotted keys (`logo_info.add_logo = true`).
fn set_in(t: &mut dyn TableLike, segs: &[&str], mut v: toml_edit::Value) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if rest.is_empty() {
        match t.get_mut(first) {
            Some(Item::Value(old)) if !old.is_inline_table() => {
                *v.decor_mut() = old.decor().clone();
                *old = v;
            }
            _ => {
                t.insert(first, Item::Value(v));
            }
        }
        return;
    }
    if !t.get(first).is_some_and(Item::is_table_like) {
        let mut inner = toml_edit::InlineTable::new();
        inner.set_dotted(true);
        t.insert(first, Item::Value(toml_edit::Value::InlineTable(inner)));
    }
    if let Some(child) = t.get_mut(first).and_then(Item::as_table_like_mut) {
        set_in(child, rest, v);
    }
}

/// Removes the dotted `segs` from a preset table, and parents left empty.
fn remove_in(t: &mut dyn TableLike, segs: &[&str]) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if rest.is_empty() {
        t.remove(first);
        return;
    }
    let empty = match t.get_mut(first).and_then(Item::as_table_like_mut) {
        Some(child) => {
            remove_in(child, rest);
            child.is_empty()
        }
        None => false,
    };
    if empty {
        t.remove(first);
    }
}

/// The dotted paths of every value in a preset table.
fn leaves(t: &dyn TableLike, prefix: &str, out: &mut Vec<String>) {
    for (k, item) in t.iter() {
        let path = format!("{prefix}{k}");
        match item.as_table_like() {
            Some(inner) => leaves(inner, &format!("{path}."), out),
            None => out.push(path),
        }
    }
}

/// The fields of `body` a preset does not keep (for the user to know).
fn left_out(schema: &Schema, body: &Value, stored: &[(&'static Field, Value)]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = body.as_object() else {
        return out;
    };
    let is_stored = |name: &str| {
        stored.iter().any(|(f, _)| f.name == name)
            || schema.field(name).is_some_and(Field::in_preset)
    };
    for (k, v) in obj {
        if k == "req_key" || is_stored(k) {
            continue;
        }
        match v {
            Value::Object(inner) if schema.field(k).is_none() => {
                for ik in inner.keys() {
                    let dotted = format!("{k}.{ik}");
                    if !is_stored(&dotted) {
                        out.push(dotted);
                    }
                }
            }
            Value::Null => {}
            _ => out.push(k.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, PresetStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = PresetStore::new(dir.path().join(FILE_NAME));
        (dir, store)
    }

    /// The built-in defaults of `body`'s model.
    fn builtin(body: &Value) -> Value {
        schema::schema_for(body["req_key"].as_str().expect("req_key"))
            .expect("known")
            .default_body()
    }

    fn body_for(req_key: &str) -> Value {
        let s = schema::schema_for(req_key).expect("known");
        let mut b = s.default_body();
        set_path(&mut b, "prompt", json!("a cat"));
        b
    }

    #[test]
    fn round_trip_through_the_file() {
        let (_dir, store) = store();
        let mut b = body_for("high_aes_ip_v20");
        set_path(&mut b, "scale", json!(4.5));
        set_path(&mut b, "logo_info.add_logo", json!(true));
        set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
        let saved = store.save("portrait", &b, &builtin(&b)).expect("save");
        assert!(!saved.replaced);
        assert_eq!(saved.left_out, ["prompt", "image_urls"]);
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(
            text.contains("[portrait]\nreq_key = \"high_aes_ip_v20\"\n"),
            "{text}"
        );
        assert!(text.contains("\nscale = 4.5\n"), "{text}");
        assert!(text.contains("\nlogo_info.add_logo = true\n"), "{text}");
        assert!(
            !text.contains("a cat") && !text.contains("example.com"),
            "{text}"
        );

        let p = store.load("portrait").expect("load");
        assert_eq!(p.schema.req_key, "high_aes_ip_v20");
        assert_eq!(p.values["scale"], 4.5);
        assert_eq!(p.values["logo_info.add_logo"], true);
        // Applying it to the defaults gives back the saved parameters.
        let mut fresh = schema::default_schema().default_body();
        set_path(&mut fresh, "prompt", json!("another prompt"));
        let applied = p.apply(&fresh, &schema::default_schema().default_body());
        let mut expected = b.clone();
        schema::remove_path(&mut expected, "image_urls");
        set_path(&mut expected, "prompt", json!("another prompt"));
        assert_eq!(applied.body, schema::default_schema().normalize(&expected));

        let list = store.list().expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "portrait");
        assert_eq!(list[0].req_key.as_deref(), Some("high_aes_ip_v20"));
        assert!(list[0].problems.is_empty());
    }

    #[test]
    fn a_preset_holds_what_differs_from_the_defaults() {
        let (_dir, store) = store();
        let b = body_for("high_aes_general_v21_L");
        let saved = store.save("plain", &b, &builtin(&b)).expect("save");
        assert!(saved.stored.is_empty());
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(
            text.ends_with("[plain]\nreq_key = \"high_aes_general_v21_L\"\n"),
            "{text}"
        );
        let p = store.load("plain").expect("load");
        assert!(p.values.is_empty());
        // Applying it to another model's body gives that model's defaults and the prompt.
        let applied = p.apply(&body_for("high_aes_ip_v20"), &builtin(&b));
        assert_eq!(applied.body, p.schema.normalize(&b));
    }

    #[test]
    fn replacing_keeps_comments_and_other_presets() {
        let (_dir, store) = store();
        std::fs::write(
            store.path(),
            "# my presets\nversion = 1\n\n# fast drafts\n[fast]\nreq_key = \"high_aes_general_v20\"\n\
             ddim_steps = 4 # few steps\nwidth = 640\n\n[other] # keep me\nreq_key = \"byteedit_v2.0\"\nscale = 0.8\n",
        )
        .expect("write");
        let mut b = body_for("high_aes_general_v20");
        schema::remove_path(&mut b, "width");
        set_path(&mut b, "ddim_steps", json!(6));
        let saved = store.save("fast", &b, &builtin(&b)).expect("save");
        assert!(saved.replaced);
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(
            text.starts_with("# my presets\nversion = 1\n\n# fast drafts\n[fast]\n"),
            "{text}"
        );
        assert!(text.contains("ddim_steps = 6 # few steps\n"), "{text}");
        assert!(!text.contains("width = 640"), "{text}");
        assert!(
            text.contains("[other] # keep me\nreq_key = \"byteedit_v2.0\"\nscale = 0.8\n"),
            "{text}"
        );
        assert_eq!(store.load("other").expect("other").values["scale"], 0.8);
    }

    #[test]
    fn delete_and_rename() {
        let (_dir, store) = store();
        let b = body_for("byteedit_v2.0");
        store.save("a", &b, &builtin(&b)).expect("a");
        store.save("b", &b, &builtin(&b)).expect("b");
        store.rename("a", "soft edit").expect("rename");
        assert_eq!(store.names().expect("names"), ["soft edit", "b"]);
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(text.contains("[\"soft edit\"]"), "{text}");
        assert!(matches!(
            store.rename("b", "soft edit"),
            Err(PresetError::Exists { .. })
        ));
        store.delete("soft edit").expect("delete");
        assert_eq!(store.names().expect("names"), ["b"]);
        let e = store.delete("nope").expect_err("missing");
        assert!(e.to_string().contains("no preset \"nope\""), "{e}");
        assert!(e.to_string().contains("presets: b"), "{e}");
    }

    #[test]
    fn malformed_file_names_file_and_line_and_is_never_written_over() {
        let (_dir, store) = store();
        let bad = "version = 1\n[a]\nreq_key = \"high_aes_ip_v20\"\nscale = = 3\n";
        std::fs::write(store.path(), bad).expect("write");
        let e = store.list().expect_err("malformed");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("presets file {}, line 4,", store.path().display())),
            "{msg}"
        );
        let e = store
            .save("b", &body_for("high_aes_ip_v20"), &json!({}))
            .expect_err("no write");
        assert!(matches!(e, PresetError::Syntax { line: 4, .. }), "{e}");
        assert_eq!(std::fs::read_to_string(store.path()).expect("file"), bad);
    }

    #[test]
    fn invalid_values_name_file_line_preset_and_field() {
        let (_dir, store) = store();
        std::fs::write(
            store.path(),
            "[x]\nreq_key = \"high_aes_general_v20\"\nwidth = 700\nref_id_weight = 0.3\n\
             prompt = \"p\"\nlogo_info.position = \"top-left\"\nnonsense = 1\nscale = \"high\"\n",
        )
        .expect("write");
        let e = store.load("x").expect_err("invalid");
        let msg = e.to_string();
        let p = store.path().display().to_string();
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(
            lines,
            [
                format!("{p}:3: preset \"x\", field width: width 700 is outside 256..680 px"),
                format!(
                    "{p}:4: preset \"x\", field ref_id_weight: not a field of high_aes_general_v20 (only of high_aes_ip_v20)"
                ),
                format!(
                    "{p}:5: preset \"x\", field prompt: not kept in presets: a preset holds parameters; the prompt and reference images are given with each request"
                ),
                format!(
                    "{p}:7: preset \"x\", field nonsense: not a field of high_aes_general_v20; its parameters: model_version, seed, scale, ddim_steps, width, height, use_sr, return_url, logo_info.add_logo, logo_info.position, logo_info.language, logo_info.opacity, logo_info.logo_text_content"
                ),
                format!("{p}:8: preset \"x\", field scale: scale must be a number, got \"high\""),
            ]
        );
        let list = store.list().expect("list still works");
        assert_eq!(list[0].problems.len(), 5);
    }

    #[test]
    fn structure_problems() {
        let (_dir, store) = store();
        std::fs::write(store.path(), "version = 2\n").expect("write");
        assert!(
            store
                .list()
                .expect_err("newer")
                .to_string()
                .contains("newer than this volcv")
        );
        std::fs::write(store.path(), "scale = 3\n").expect("write");
        let e = store.list().expect_err("not a table").to_string();
        assert!(e.contains("line 1: scale is not a preset"), "{e}");
        std::fs::write(store.path(), "[p]\nscale = 3\n").expect("write");
        let e = store.load("p").expect_err("no req_key").to_string();
        assert!(e.contains(":1: preset \"p\": no req_key"), "{e}");
        std::fs::write(store.path(), "[p]\nreq_key = \"nope\"\n").expect("write");
        let e = store.load("p").expect_err("unknown").to_string();
        assert!(
            e.contains(":2: preset \"p\", field req_key: \"nope\" is not a model"),
            "{e}"
        );
    }

    #[test]
    fn hand_written_forms_load() {
        let (_dir, store) = store();
        std::fs::write(
            store.path(),
            "p = { req_key = \"high_aes_ip_v20\", scale = 4, logo_info = { position = \"top-right\" } }\n\
             [q]\nreq_key = \"high_aes_ip_v20\"\n[q.logo_info]\nopacity = 1\n",
        )
        .expect("write");
        let p = store.load("p").expect("inline");
        assert_eq!(p.values["scale"], json!(4.0), "floats stay floats");
        assert_eq!(p.values["logo_info.position"], 3);
        let q = store.load("q").expect("sub-table");
        assert_eq!(q.values["logo_info.opacity"], json!(1.0));
        // Saving over a sub-table form keeps it a sub-table.
        let mut b = body_for("high_aes_ip_v20");
        set_path(&mut b, "logo_info.opacity", json!(0.5));
        store.save("q", &b, &builtin(&b)).expect("save");
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(text.contains("[q.logo_info]\nopacity = 0.5\n"), "{text}");
    }

    #[test]
    fn save_refuses_bad_values_names_and_unknown_models() {
        let (_dir, store) = store();
        let mut b = body_for("high_aes_ip_v20");
        set_path(&mut b, "width", json!(9000));
        let e = store
            .save("w", &b, &builtin(&b))
            .expect_err("range")
            .to_string();
        assert_eq!(
            e,
            "cannot save preset \"w\": width 9000 is outside 256..768 px"
        );
        assert!(!store.path().exists(), "nothing written");
        for bad in ["", " x", "version", "a\nb", &"n".repeat(MAX_NAME_CHARS + 1)] {
            assert!(
                matches!(
                    store.save(bad, &body_for("high_aes_ip_v20"), &json!({})),
                    Err(PresetError::Name(_))
                ),
                "{bad:?}"
            );
        }
        let e = store
            .save("u", &json!({"req_key": "nope"}), &json!({}))
            .expect_err("unknown");
        assert!(e.to_string().contains("not a model volcv knows"), "{e}");
    }

    #[test]
    fn presets_never_contain_secrets_or_images() {
        let (_dir, store) = store();
        let mut b = body_for("byteedit_v2.0");
        set_path(
            &mut b,
            "binary_data_base64",
            json!(["iVBORw0KGgoSECRETPIXELS"]),
        );
        set_path(
            &mut b,
            "image_urls",
            json!(["https://cdn/x.jpg?x-signature=SECRETSIG"]),
        );
        set_path(&mut b, "api_key", json!("sk-SECRETKEY"));
        set_path(&mut b, "Authorization", json!("Bearer SECRETBEARER"));
        set_path(&mut b, "logo_info.token", json!("SECRETNESTED"));
        let saved = store.save("s", &b, &builtin(&b)).expect("save");
        for k in [
            "binary_data_base64",
            "image_urls",
            "api_key",
            "Authorization",
            "logo_info.token",
        ] {
            assert!(
                saved.left_out.iter().any(|l| l == k),
                "{k} not reported: {:?}",
                saved.left_out
            );
        }
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn apply_switches_models_and_reports_dropped_fields() {
        let (_dir, store) = store();
        let mut b = body_for("high_aes_general_v30l_zt2i");
        set_path(&mut b, "width", json!(1024));
        let mut defaults = builtin(&b);
        set_path(&mut defaults, "logo_info.add_logo", json!(true));
        // The user turned the configured watermark off: that is part of the preset.
        let saved = store.save("square", &b, &defaults).expect("save");
        assert_eq!(saved.stored, ["width", "logo_info.add_logo"]);
        let p = store.load("square").expect("load");
        let mut current = body_for("high_aes_ip_v20");
        set_path(&mut current, "image_urls", json!(["https://e.com/a.jpg"]));
        let applied = p.apply(&current, &defaults);
        assert_eq!(applied.body["req_key"], "high_aes_general_v30l_zt2i");
        assert_eq!(applied.body["width"], 1024);
        assert_eq!(applied.body["prompt"], "a cat");
        assert_eq!(
            applied.body["logo_info"]["add_logo"], false,
            "the preset's value wins"
        );
        let dropped: Vec<&str> = applied.dropped.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            dropped.contains(&"image_urls") && dropped.contains(&"ddim_steps"),
            "{dropped:?}"
        );
        assert!(p.schema.validate(&applied.body).is_ok());
        // A hand-written preset with few values: the rest come from the given defaults.
        std::fs::write(
            store.path(),
            "[few]\nreq_key = \"high_aes_ip_v20\"\nseed = 7\n",
        )
        .expect("write");
        let few = store.load("few").expect("few");
        let mut defaults = schema::default_schema().default_body();
        set_path(&mut defaults, "logo_info.add_logo", json!(true));
        let mut current = body_for("high_aes_ip_v20");
        set_path(&mut current, "width", json!(640));
        let applied = few.apply(&current, &defaults);
        assert_eq!(applied.body["seed"], 7);
        assert_eq!(
            applied.body["width"], 512,
            "a parameter the preset leaves out takes the default"
        );
        assert_eq!(
            applied.body["logo_info"]["add_logo"], true,
            "configured default"
        );
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temporary_files() {
        let (dir, store) = store();
        for i in 0..5 {
            let mut b = body_for("high_aes_ip_v20");
            set_path(&mut b, "seed", json!(i));
            store
                .save(&format!("p{i}"), &b, &builtin(&b))
                .expect("save");
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE_NAME]);
        assert_eq!(store.names().expect("names").len(), 5);
    }
}
