//! Parameter schemas: one table of field descriptors per `req_key`.
//!
//! This table is the single source for request validation, `--set FIELD=VALUE` parsing, the
//! TUI's parameter form and the generated documentation (`volcv schema`). Nothing else in the
//! crate lists fields by hand.
//!
//! Build a body from a model's defaults, set fields by their dotted names, and validate it:
//! errors block sending, warnings are only shown, and each finding names its field.
//!
//! ```rust
//! use volcv::api::schema::{self, Severity};
//!
//! let model = schema::schema_for("high_aes_ip_v20").expect("a known model");
//! let mut body = model.default_body();
//! model.apply_set(&mut body, "prompt=a lighthouse at dusk").expect("a known field");
//! model.apply_set(&mut body, "image_urls=https://example.com/a.jpg").expect("a URL");
//! assert!(model.validate(&body).is_ok());
//!
//! // Out of range (256..768 px) is an error that names the field.
//! schema::set_path(&mut body, "width", serde_json::json!(4096));
//! let report = model.validate(&body);
//! assert!(!report.is_ok());
//! let issue = report.errors().next().expect("one error");
//! assert_eq!((issue.field.as_str(), issue.severity), ("width", Severity::Error));
//!
//! // Unknown fields are refused by name when set.
//! assert!(model.apply_set(&mut body, "colour=red").is_err());
//! ```

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::{self, Write as _};

mod json;
mod tables;
mod validate;

use json::{decimals_of, get_path_segments, set_path_segments};
pub use json::{float_value, fmt_num, get_path, json_type, remove_path, set_path};
use tables::{BINARY_DATA_BASE64, IMAGE_URLS};
pub use tables::{
    BYTEEDIT_V2_0, HIGH_AES_GENERAL_V20, HIGH_AES_GENERAL_V20_L, HIGH_AES_GENERAL_V21_L,
    HIGH_AES_GENERAL_V30L_ZT2I, HIGH_AES_IP_V20, MAX_IMAGE_BYTES, SCHEMAS, SEED_MAX,
    default_schema, known_req_keys, markdown_all, schema_for,
};
pub use validate::{Issue, Report, Severity};

/// What a field holds and how it is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "values")]
pub enum Kind {
    /// A single-line string.
    Str,
    /// A multi-line string (the prompt).
    Text,
    /// A JSON integer.
    Int,
    /// A JSON number.
    Float,
    /// A JSON boolean.
    Bool,
    /// A JSON integer from a fixed set of labelled values.
    Enum(&'static [EnumValue]),
    /// An array of strings holding images (bare base64 or URLs).
    ImageList(ImageSource),
}

/// One allowed value of an [`Kind::Enum`] field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EnumValue {
    /// The integer sent on the wire (e.g. `0` for `logo_info.position`).
    pub value: i64,
    /// What the value means, shown beside it in the form, `--help` and the docs
    /// (e.g. `bottom-right`).
    pub label: &'static str,
}

/// How an image list carries its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// Bare base64 (no `data:` prefix).
    Base64,
    /// Public http(s) URLs.
    Url,
}

/// A default value as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DefaultValue {
    /// A string default, sent as a JSON string (e.g. `model_version`'s `general_v2.0`).
    Str(&'static str),
    /// An integer default, sent as a JSON integer (e.g. `seed`'s `-1`, random).
    Int(i64),
    /// A number default, sent as a JSON number with the table's decimals (e.g. `scale`'s 3.5).
    Float(f64),
    /// A boolean default, sent as `true` or `false`.
    Bool(bool),
}

impl DefaultValue {
    /// The default as a JSON value.
    pub fn to_value(self) -> Value {
        match self {
            DefaultValue::Str(s) => Value::String(s.to_owned()),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Float(f) => float_value(f),
            DefaultValue::Bool(b) => Value::Bool(b),
        }
    }
}

/// An inclusive numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    /// The smallest allowed value, itself allowed; in the field's unit.
    pub min: f64,
    /// The largest allowed value, itself allowed; in the field's unit.
    pub max: f64,
}

impl Range {
    /// The range `min..=max`; `min` must not exceed `max` (the tables are checked by tests).
    pub const fn new(min: f64, max: f64) -> Self {
        Self { min, max }
    }

    /// Whether `v` lies in the range, both ends included. `NaN` is never inside.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }

    /// `v` moved to the nearest end when it lies outside the range (used by nudges, which stop
    /// at the ends instead of producing an invalid value).
    pub fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", fmt_num(self.min), fmt_num(self.max))
    }
}

/// The form groups, in the order the editor shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// `req_key` and the model's own selectors (`model_version`, `req_schedule_conf`).
    Model,
    /// The reference image: `binary_data_base64` or `image_urls`.
    Reference,
    /// The prompt, the negative prompt and the prompt-rewriting switch (`use_pre_llm`).
    Prompt,
    /// The sampler: `seed`, `scale`, `ddim_steps`, `cfg_rescale`.
    Sampling,
    /// `width`, `height` and super-resolution (`use_sr`).
    Size,
    /// How the reference image steers the result (`ref_ip_weight`, `ref_id_weight`,
    /// `desc_pushback`).
    Weights,
    /// The answer's form: `return_url` (signed URLs instead of inline base64).
    Output,
    /// The visible watermark, `logo_info.*`.
    Watermark,
}

impl Group {
    /// The heading shown in the form and the docs.
    pub fn title(self) -> &'static str {
        match self {
            Group::Model => "Model",
            Group::Reference => "Reference image",
            Group::Prompt => "Prompt",
            Group::Sampling => "Sampling",
            Group::Size => "Size",
            Group::Weights => "Reference weights",
            Group::Output => "Output",
            Group::Watermark => "Watermark",
        }
    }

    /// Whether the async API takes this group's fields when the result is fetched rather
    /// than when the task is submitted: the output options (`return_url`) and the watermark
    /// (`logo_info`) travel inside `req_json` of `CVSync2AsyncGetResult`, never in
    /// `CVSync2AsyncSubmitTask` (cvprocess-api.md, section 5).
    pub fn async_at_poll(self) -> bool {
        matches!(self, Group::Output | Group::Watermark)
    }
}

/// One request field.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Field {
    /// The JSON path, dotted for nested objects (`logo_info.opacity`).
    pub name: &'static str,
    /// The JSON type the field takes and, for enums and image lists, its allowed values.
    pub kind: Kind,
    /// Sent when the user gives no value. `None`: not sent unless set.
    pub default: Option<DefaultValue>,
    /// Values outside this range are errors.
    pub range: Option<Range>,
    /// Values inside `range` but outside this one are warnings.
    pub recommended: Option<Range>,
    /// How far one nudge moves a number.
    pub step: Option<f64>,
    /// The value must be present (and, for strings, not blank).
    pub required: bool,
    /// The value is fixed by the schema (`req_key`).
    pub fixed: bool,
    /// The unit of a number shown after it (`px`), or empty when it has none.
    pub unit: &'static str,
    /// The form group the field is shown in.
    pub group: Group,
    /// One line for the form, `--help` and the docs.
    pub help: &'static str,
}

impl Field {
    const fn new(name: &'static str, kind: Kind, group: Group, help: &'static str) -> Self {
        Self {
            name,
            kind,
            default: None,
            range: None,
            recommended: None,
            step: None,
            required: false,
            fixed: false,
            unit: "",
            group,
            help,
        }
    }
    const fn default(mut self, d: DefaultValue) -> Self {
        self.default = Some(d);
        self
    }
    const fn range(mut self, min: f64, max: f64, step: f64) -> Self {
        self.range = Some(Range::new(min, max));
        self.step = Some(step);
        self
    }
    const fn recommended(mut self, min: f64, max: f64) -> Self {
        self.recommended = Some(Range::new(min, max));
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn fixed(mut self) -> Self {
        self.fixed = true;
        self.required = true;
        self
    }
    const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }
    const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
    /// No range: any value of the field's JSON type is accepted (nudges keep the step).
    const fn no_range(mut self) -> Self {
        self.range = None;
        self.recommended = None;
        self
    }

    /// Whether a named preset keeps this field: every parameter, but not the model
    /// (`req_key`, kept separately), the prompt (the text being generated) or reference images
    /// (content, and possibly large).
    pub fn in_preset(&self) -> bool {
        !self.fixed && !matches!(self.kind, Kind::Text | Kind::ImageList(_))
    }

    /// The path segments of the dotted name.
    pub fn path(&self) -> impl Iterator<Item = &'static str> {
        self.name.split('.')
    }

    /// A short human description of the allowed values, e.g. `256..768 px`, `true|false`.
    pub fn allowed(&self) -> String {
        match self.kind {
            Kind::Bool => "true|false".to_owned(),
            Kind::Enum(values) => values
                .iter()
                .map(|v| format!("{}={}", v.value, v.label))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::ImageList(ImageSource::Base64) => "[bare base64 JPEG/PNG]".to_owned(),
            Kind::ImageList(ImageSource::Url) => "[http(s) URL]".to_owned(),
            Kind::Str | Kind::Text if self.fixed => "fixed".to_owned(),
            Kind::Str | Kind::Text => "text".to_owned(),
            Kind::Int | Kind::Float => match self.range {
                Some(r) if self.unit.is_empty() => r.to_string(),
                Some(r) => format!("{r} {}", self.unit),
                None => {
                    let any = if self.kind == Kind::Int {
                        "any whole number"
                    } else {
                        "any number"
                    };
                    if self.unit.is_empty() {
                        any.to_owned()
                    } else {
                        format!("{any}, {}", self.unit)
                    }
                }
            },
        }
    }

    /// Parses text typed by a user (`--set`, the form) into a JSON value of this field's type.
    /// Range checks are left to [`Schema::validate`], so an out-of-range number still parses and
    /// is reported together with every other problem.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let t = text.trim();
        match self.kind {
            Kind::Str | Kind::Text => Ok(Value::String(text.to_owned())),
            Kind::Int => t
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{} must be a whole number, got {:?}", self.name, text)),
            Kind::Float => match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(float_value(f)),
                _ => Err(format!("{} must be a number, got {:?}", self.name, text)),
            },
            Kind::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "{} must be true or false, got {:?}",
                    self.name, text
                )),
            },
            Kind::Enum(values) => {
                let found = values.iter().find(|v| {
                    t.parse::<i64>().ok() == Some(v.value)
                        || v.label.eq_ignore_ascii_case(t)
                        || v.label.replace(' ', "-").eq_ignore_ascii_case(t)
                });
                match found {
                    Some(v) => Ok(Value::from(v.value)),
                    None => Err(format!(
                        "{} must be one of {}, got {:?}",
                        self.name,
                        self.allowed(),
                        text
                    )),
                }
            }
            Kind::ImageList(_) => {
                if t.starts_with('[') {
                    let v: Value = serde_json::from_str(t).map_err(|e| {
                        format!("{} must be a JSON array of strings: {e}", self.name)
                    })?;
                    match &v {
                        Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
                        _ => Err(format!("{} must be a JSON array of strings", self.name)),
                    }
                } else if t.is_empty() {
                    Ok(Value::Array(Vec::new()))
                } else {
                    Ok(Value::Array(vec![Value::String(t.to_owned())]))
                }
            }
        }
    }

    /// Formats a value of this field for display in a form or a table.
    pub fn display(&self, v: &Value) -> String {
        match (self.kind, v) {
            (Kind::Enum(values), Value::Number(n)) => {
                match values.iter().find(|e| n.as_i64() == Some(e.value)) {
                    Some(e) => format!("{} ({})", e.value, e.label),
                    None => n.to_string(),
                }
            }
            (_, Value::String(s)) => s.clone(),
            (Kind::ImageList(_), Value::Array(items)) => match items.len() {
                0 => "(none)".to_owned(),
                1 => items[0]
                    .as_str()
                    .map(|s| {
                        if s.len() > 60 {
                            format!("<{} chars>", s.len())
                        } else {
                            s.to_owned()
                        }
                    })
                    .unwrap_or_else(|| "?".to_owned()),
                n => format!("({n} images)"),
            },
            (_, v) => v.to_string(),
        }
    }

    /// Moves a number by `steps` times its step and clamps it to the range; toggles a bool and
    /// cycles an enum (by the sign of `steps`). Returns `None` for fields that do not nudge.
    pub fn nudge(&self, current: Option<&Value>, steps: i32) -> Option<Value> {
        let current = current
            .cloned()
            .or_else(|| self.default.map(DefaultValue::to_value));
        match self.kind {
            Kind::Int | Kind::Float => {
                let step = self.step?;
                let now = current.as_ref().and_then(Value::as_f64).unwrap_or(0.0);
                let mut next = now + step * f64::from(steps);
                if let Some(r) = self.range {
                    next = r.clamp(next);
                }
                if self.kind == Kind::Int {
                    // Integer steps: round so repeated nudges never drift.
                    Some(Value::from(next.round() as i64))
                } else {
                    // Snap to the step grid to avoid 0.30000000000000004.
                    let snapped = (next / step).round() * step;
                    let decimals = decimals_of(step);
                    let factor = 10f64.powi(decimals);
                    Some(float_value((snapped * factor).round() / factor))
                }
            }
            Kind::Bool => Some(Value::Bool(
                !current.as_ref().and_then(Value::as_bool).unwrap_or(false),
            )),
            Kind::Enum(values) => {
                let now = current.as_ref().and_then(Value::as_i64);
                let idx = values
                    .iter()
                    .position(|v| Some(v.value) == now)
                    .unwrap_or(0);
                let n = values.len() as i64;
                let next = (idx as i64 + i64::from(steps)).rem_euclid(n);
                values.get(next as usize).map(|v| Value::from(v.value))
            }
            _ => None,
        }
    }
}

/// How many reference images a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRule {
    /// Exactly one, through `binary_data_base64` or `image_urls`.
    ExactlyOne,
    /// None at all.
    NoImage,
}

impl ImageRule {
    /// One line for the docs.
    pub fn describe(self) -> &'static str {
        match self {
            ImageRule::ExactlyOne => {
                "exactly one, in binary_data_base64 (bare base64) or image_urls (a public URL)"
            }
            ImageRule::NoImage => "none (binary_data_base64 and image_urls are not sent)",
        }
    }
}

/// The request field that carries a reference image as bare base64; it wins over
/// [`REFERENCE_URL`] when both are sent. A response carries its result images in fields of the
/// same two names.
pub const REFERENCE_BASE64: &str = BINARY_DATA_BASE64.name;

/// The request field that carries a reference image as a public http(s) URL.
pub const REFERENCE_URL: &str = IMAGE_URLS.name;

/// Both reference fields, base64 first (the one the service uses when both are set).
pub const REFERENCE_FIELDS: [&str; 2] = [REFERENCE_BASE64, REFERENCE_URL];

fn is_image_field(name: &str) -> bool {
    REFERENCE_FIELDS.contains(&name)
}

/// The fields of one `req_key`.
#[derive(Debug, Serialize)]
pub struct Schema {
    /// The model selector sent in every body (e.g. `high_aes_ip_v20`).
    pub req_key: &'static str,
    /// The model's name as the service's documentation gives it.
    pub title: &'static str,
    /// One sentence on what the model does, for `volcv schema` and the docs.
    pub summary: &'static str,
    /// How many reference images the model takes.
    pub images: ImageRule,
    /// Every field the model takes, `req_key` first, in the order the form shows them.
    pub fields: &'static [Field],
}

/// A request body moved to another model by [`switch_schema`].
#[derive(Debug, Clone, PartialEq)]
pub struct Switched {
    /// The body for the target model, normalized (the shape that goes on the wire).
    pub body: Value,
    /// Fields the target model does not take, with the values they had, in body order. They
    /// are not in `body`; a UI can tell the user, or keep them to restore on switching back.
    pub dropped: Vec<(String, Value)>,
    /// Fields set to the target model's default: ones the body lacked, and ones that still
    /// held the previous model's default (an untouched default follows the model).
    pub defaulted: Vec<&'static str>,
}

/// Moves `body` to the `to` model: `req_key` becomes `to`'s; fields `to` takes keep their
/// values (out-of-range values too, so that validation shows them rather than losing a user's
/// edit), except that a value still equal to the previous model's default becomes `to`'s
/// default; fields only other models take are dropped and reported; fields no model knows are
/// kept; every default of `to` the body lacks is filled in.
pub fn switch_schema(body: &Value, to: &'static Schema) -> Switched {
    let from = body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema_for);
    let mut out = match body {
        Value::Object(_) => body.clone(),
        _ => Value::Object(Map::new()),
    };
    let mut dropped = Vec::new();
    let keys: Vec<String> = out
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for k in keys {
        if to.is_foreign(&k) {
            if let Some(v) = remove_path(&mut out, &k) {
                dropped.push((k, v));
            }
            continue;
        }
        let inner: Vec<String> = match out.get(&k) {
            Some(Value::Object(m)) if to.has_object(&k) => m.keys().cloned().collect(),
            _ => continue,
        };
        for ik in inner {
            let dotted = format!("{k}.{ik}");
            if to.is_foreign(&dotted)
                && let Some(v) = remove_path(&mut out, &dotted)
            {
                dropped.push((dotted, v));
            }
        }
    }
    set_path(&mut out, "req_key", Value::String(to.req_key.to_owned()));
    let mut defaulted = Vec::new();
    for f in to.fields {
        let Some(target_default) = f.default.map(DefaultValue::to_value) else {
            continue;
        };
        if f.fixed {
            continue;
        }
        let follow = match get_path(&out, f.name) {
            None | Some(Value::Null) => true,
            Some(v) => from.is_some_and(|from| {
                !std::ptr::eq(from, to)
                    && from
                        .field(f.name)
                        .and_then(|old| old.default)
                        .is_some_and(|d| d.to_value() == *v && *v != target_default)
            }),
        };
        if follow {
            set_path(&mut out, f.name, target_default);
            defaulted.push(f.name);
        }
    }
    Switched {
        body: to.normalize(&out),
        dropped,
        defaulted,
    }
}

impl Schema {
    /// The field with this dotted name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields in form order: grouped, in table order within a group.
    pub fn grouped(&self) -> Vec<(Group, Vec<&'static Field>)> {
        let mut groups: Vec<(Group, Vec<&'static Field>)> = Vec::new();
        let mut order: Vec<Group> = self.fields.iter().map(|f| f.group).collect();
        order.sort();
        order.dedup();
        for g in order {
            groups.push((g, self.fields.iter().filter(|f| f.group == g).collect()));
        }
        groups
    }

    /// The top-level body keys the async API takes at polling (inside `req_json`), in schema
    /// order and without repeats: `return_url`, `logo_info` (see [`Group::async_at_poll`]).
    pub fn async_poll_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = Vec::new();
        for f in self.fields.iter().filter(|f| f.group.async_at_poll()) {
            let top = f.path().next().unwrap_or(f.name);
            if !keys.contains(&top) {
                keys.push(top);
            }
        }
        keys
    }

    /// A field name from user input, with a helpful error naming the known fields.
    pub fn lookup(&self, name: &str) -> Result<&'static Field, String> {
        self.field(name).ok_or_else(|| {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
            format!(
                "unknown field {name:?} for {}; known fields: {}",
                self.req_key,
                names.join(", ")
            )
        })
    }

    /// The request body with every default, in the table's order.
    pub fn default_body(&self) -> Value {
        let mut body = Value::Object(Map::new());
        for f in self.fields {
            if let Some(d) = f.default {
                set_path(&mut body, f.name, d.to_value());
            }
        }
        body
    }

    /// Applies `FIELD=VALUE` (as given to `--set`) to a body.
    pub fn apply_set(&self, body: &mut Value, assignment: &str) -> Result<(), String> {
        let (name, text) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set takes FIELD=VALUE, got {assignment:?}"))?;
        let field = self.lookup(name.trim())?;
        let value = field.parse(text)?;
        set_path(body, field.name, value);
        Ok(())
    }

    /// The body with known fields in table order (nested objects too) and unknown fields after
    /// them in their original order. This is the shape that goes on the wire. Fields that
    /// another known model takes but this one does not (left over from a model switch, a
    /// preset or a request written for another model) are left out: they are never sent.
    /// Fields no model knows are kept, as the service may have added them.
    pub fn normalize(&self, body: &Value) -> Value {
        let Some(obj) = body.as_object() else {
            return body.clone();
        };
        let mut out = Value::Object(Map::new());
        for f in self.fields {
            if let Some(v) = get_path(body, f.name) {
                set_path(&mut out, f.name, v.clone());
            }
        }
        // Unknown top-level keys and unknown keys inside known objects keep their place after;
        // fields only other models take are left out.
        for (k, v) in obj {
            match out.get(k) {
                None if self.is_foreign(k) => {}
                None => set_path_segments(&mut out, &[k.as_str()], v.clone()),
                Some(Value::Object(_)) => {
                    if let Value::Object(inner) = v {
                        for (ik, iv) in inner {
                            if get_path_segments(&out, &[k.as_str(), ik.as_str()]).is_none()
                                && !self.is_foreign(&format!("{k}.{ik}"))
                            {
                                set_path_segments(&mut out, &[k.as_str(), ik.as_str()], iv.clone());
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Whether another known model takes the dotted field (or object) `name` and this one does
    /// not: such a field is never sent for this model.
    pub fn is_foreign(&self, name: &str) -> bool {
        self.field(name).is_none()
            && !self.has_object(name)
            && SCHEMAS
                .iter()
                .any(|s| s.field(name).is_some() || s.has_object(name))
    }

    /// The schema as a Markdown table (the README's parameter reference is generated from it).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "`{}`: {}. {}\n", self.req_key, self.title, self.summary);
        let _ = writeln!(s, "Reference image: {}.\n", self.images.describe());
        s.push_str("| field | type | default | allowed | meaning |\n|---|---|---|---|---|\n");
        for f in self.fields {
            let default = f
                .default
                .map(|d| format!("`{}`", d.to_value()))
                .unwrap_or_else(|| {
                    if f.required {
                        "required".into()
                    } else {
                        "-".into()
                    }
                });
            let mut allowed = f.allowed();
            if let Some(rec) = f.recommended {
                let _ = write!(allowed, " (recommended {rec})");
            }
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                f.name,
                kind_name(f.kind),
                default,
                allowed.replace('|', "\\|"),
                f.help
            );
        }
        s
    }
}

/// The wire type of a kind, as shown in docs.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Str | Kind::Text => "string",
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Bool => "bool",
        Kind::Enum(_) => "enum (int)",
        Kind::ImageList(_) => "array of string",
    }
}

#[cfg(test)]
mod tests;
