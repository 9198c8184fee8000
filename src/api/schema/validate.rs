//! Validation against the table: every problem of a body at once, as errors (block sending) and
//! warnings (shown), each naming its field.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

use super::json::{get_path, json_type, short_json};
use super::tables::{MAX_IMAGE_BYTES, SCHEMAS};
use super::{
    DefaultValue, Field, ImageRule, ImageSource, Kind, REFERENCE_BASE64, REFERENCE_FIELDS,
    REFERENCE_URL, Range, Schema, is_image_field,
};

/// How bad a validation finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Sent anyway; shown to the user.
    Warning,
    /// Blocks sending.
    Error,
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The dotted name of the field at fault (`logo_info.opacity`), or empty when the finding
    /// is about the body as a whole (not a JSON object).
    pub field: String,
    /// Whether the finding blocks sending.
    pub severity: Severity,
    /// One sentence naming the field, what was given and what is allowed.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{tag}: {}", self.message)
    }
}

/// Every problem found in a request body at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every finding, in the order of the schema's fields, then the fields it does not know.
    pub issues: Vec<Issue>,
}

impl Report {
    /// The findings that block sending.
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }
    /// The findings that are shown but do not block sending.
    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }
    /// Whether the body may be sent: no errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }
    /// The findings for one field.
    pub fn for_field<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Issue> {
        self.issues.iter().filter(move |i| i.field == name)
    }
    fn error(&mut self, field: &str, message: String) {
        self.issues.push(Issue {
            field: field.to_owned(),
            severity: Severity::Error,
            message,
        });
    }
    fn warn(&mut self, field: &str, message: String) {
        self.issues.push(Issue {
            field: field.to_owned(),
            severity: Severity::Warning,
            message,
        });
    }
}

impl Schema {
    /// Checks a body against the table and reports every problem at once. Errors block sending;
    /// warnings do not.
    pub fn validate(&self, body: &Value) -> Report {
        let mut r = Report::default();
        let Some(obj) = body.as_object() else {
            r.error(
                "",
                format!(
                    "the request body must be a JSON object, got {}",
                    json_type(body)
                ),
            );
            return r;
        };
        for f in self.fields {
            match get_path(body, f.name) {
                None | Some(Value::Null) => {
                    if f.required {
                        r.error(f.name, format!("{} is required", f.name));
                    }
                }
                Some(v) => self.check_value(f, v, &mut r),
            }
        }
        self.check_images(body, &mut r);
        // Unknown fields are sent as they are, with a warning (the service may ignore them).
        // Fields only other models take are not sent, with a warning.
        for (k, v) in obj {
            match (self.fields.iter().any(|f| f.name == k), v) {
                (true, _) => {}
                (false, _) if self.images == ImageRule::NoImage && is_image_field(k) => {
                    // Reported once by check_images.
                }
                (false, _) if self.is_foreign(k) => r.warn(k, self.not_taken(k)),
                (false, Value::Object(inner)) if self.has_object(k) => {
                    for ik in inner.keys() {
                        let dotted = format!("{k}.{ik}");
                        if self.field(&dotted).is_some() {
                            continue;
                        }
                        if self.is_foreign(&dotted) {
                            r.warn(&dotted, self.not_taken(&dotted));
                        } else {
                            r.warn(
                                &dotted,
                                format!("{dotted} is not a field of {}; sent as is", self.req_key),
                            );
                        }
                    }
                }
                (false, _) if self.has_object(k) => {
                    r.error(k, format!("{k} must be an object, got {}", json_type(v)));
                }
                (false, _) => r.warn(
                    k,
                    format!("{k} is not a field of {}; sent as is", self.req_key),
                ),
            }
        }
        r
    }

    fn not_taken(&self, name: &str) -> String {
        let takers: Vec<&str> = SCHEMAS
            .iter()
            .filter(|s| s.field(name).is_some() || s.has_object(name))
            .map(|s| s.req_key)
            .collect();
        format!(
            "{name} is not a field of {} (only of {}); it is not sent",
            self.req_key,
            takers.join(", ")
        )
    }

    /// Whether `key` is an object holding fields of this model (`logo_info`).
    pub fn has_object(&self, key: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.split_once('.').is_some_and(|(head, _)| head == key))
    }

    fn check_value(&self, f: &Field, v: &Value, r: &mut Report) {
        let name = f.name;
        match f.kind {
            Kind::Str | Kind::Text => match v.as_str() {
                None => r.error(
                    name,
                    format!("{name} must be a string, got {}", json_type(v)),
                ),
                Some(s) => {
                    if f.required && s.trim().is_empty() {
                        r.error(name, format!("{name} is required and must not be empty"));
                    }
                    if f.fixed
                        && let Some(DefaultValue::Str(expected)) = f.default
                        && s != expected
                    {
                        r.error(
                            name,
                            format!("{name} must be {expected:?} for this schema, got {s:?}"),
                        );
                    }
                }
            },
            Kind::Bool => {
                if !v.is_boolean() {
                    r.error(
                        name,
                        format!("{name} must be true or false, got {}", short_json(v)),
                    );
                }
            }
            Kind::Int => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    self.check_range(f, x, &n.to_string(), r);
                }
                Value::Number(n) => {
                    r.error(name, format!("{name} must be a whole number, got {n}"));
                }
                _ => r.error(
                    name,
                    format!("{name} must be a whole number, got {}", short_json(v)),
                ),
            },
            Kind::Float => match v {
                Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    self.check_range(f, x, &n.to_string(), r);
                }
                _ => r.error(
                    name,
                    format!("{name} must be a number, got {}", short_json(v)),
                ),
            },
            Kind::Enum(values) => {
                let ok = v
                    .as_i64()
                    .is_some_and(|x| values.iter().any(|e| e.value == x));
                if !ok {
                    r.error(
                        name,
                        format!("{name} {} is not one of {}", short_json(v), f.allowed()),
                    );
                }
            }
            Kind::ImageList(source) => match v.as_array() {
                None => r.error(
                    name,
                    format!("{name} must be an array of strings, got {}", json_type(v)),
                ),
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let Some(s) = item.as_str() else {
                            r.error(
                                name,
                                format!("{name}[{i}] must be a string, got {}", json_type(item)),
                            );
                            continue;
                        };
                        match source {
                            ImageSource::Base64 => check_base64_image(name, i, s, r),
                            ImageSource::Url => check_url(name, i, s, r),
                        }
                    }
                }
            },
        }
    }

    fn check_range(&self, f: &Field, x: f64, shown: &str, r: &mut Report) {
        let name = f.name;
        if let Some(range) = f.range
            && !range.contains(x)
        {
            r.error(
                name,
                format!("{name} {shown} is outside {}", with_unit(range, f.unit)),
            );
            return;
        }
        if let Some(rec) = f.recommended
            && !rec.contains(x)
        {
            r.warn(
                name,
                format!(
                    "{name} {shown} is outside the recommended {}",
                    with_unit(rec, f.unit)
                ),
            );
        }
    }

    fn check_images(&self, body: &Value, r: &mut Report) {
        let count = |name: &str| {
            get_path(body, name)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let b64 = count(REFERENCE_BASE64);
        let urls = count(REFERENCE_URL);
        match self.images {
            ImageRule::ExactlyOne => {
                if b64 == 0 && urls == 0 {
                    r.error(
                        REFERENCE_URL,
                        format!(
                            "exactly one reference image is needed ({REFERENCE_BASE64} or \
                             {REFERENCE_URL}), got none"
                        ),
                    );
                } else if b64 > 1 {
                    r.error(
                        REFERENCE_BASE64,
                        format!("exactly one reference image is needed, got {b64}"),
                    );
                } else if b64 == 0 && urls > 1 {
                    r.error(
                        REFERENCE_URL,
                        format!("exactly one reference image is needed, got {urls}"),
                    );
                } else if b64 == 1 && urls > 0 {
                    r.warn(
                        REFERENCE_URL,
                        format!(
                            "both {REFERENCE_BASE64} and {REFERENCE_URL} are set: the service \
                             uses {REFERENCE_BASE64} and ignores {REFERENCE_URL}"
                        ),
                    );
                }
            }
            ImageRule::NoImage => {
                let present = REFERENCE_FIELDS
                    .into_iter()
                    .filter(|name| get_path(body, name).is_some())
                    .collect::<Vec<_>>();
                if let Some(first) = present.first() {
                    r.warn(
                        first,
                        format!(
                            "{} takes no reference image; {} is not sent",
                            self.req_key,
                            present.join(" and ")
                        ),
                    );
                }
            }
        }
    }
}

fn check_base64_image(name: &str, i: usize, s: &str, r: &mut Report) {
    use base64::Engine as _;
    if s.trim_start().starts_with("data:") {
        r.error(
            name,
            format!("{name} must be bare base64, not a data: URI (remove the \"data:...;base64,\" prefix)"),
        );
        return;
    }
    match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
        Err(e) => r.error(name, format!("{name}[{i}] is not valid base64: {e}")),
        Ok(bytes) => {
            if bytes.len() > MAX_IMAGE_BYTES {
                r.error(
                    name,
                    format!(
                        "{name}[{i}] is {} bytes; at most {MAX_IMAGE_BYTES} bytes (4.7 MB) are allowed",
                        bytes.len()
                    ),
                );
            } else if !(bytes.starts_with(&[0xFF, 0xD8, 0xFF])
                || bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
            {
                r.error(name, format!("{name}[{i}] is not a JPEG or PNG image"));
            }
        }
    }
}

fn check_url(name: &str, i: usize, s: &str, r: &mut Report) {
    match url::Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => r.error(
            name,
            format!(
                "{name}[{i}] must be an http(s) URL, got scheme {:?}",
                u.scheme()
            ),
        ),
        Err(e) => r.error(name, format!("{name}[{i}] {s:?} is not a URL: {e}")),
    }
}

fn with_unit(r: Range, unit: &str) -> String {
    if unit.is_empty() {
        r.to_string()
    } else {
        format!("{r} {unit}")
    }
}
