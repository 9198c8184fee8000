//! Tolerant parsing of every answer the CVProcess endpoint (or a relay in front of it) may give,
//! into one typed [`Outcome`].
//!
//! The body is always parsed, whatever the HTTP status: the service reports its errors with
//! HTTP 400/429/500 and a JSON envelope. The shapes recognised, in order of precedence:
//!
//! 1. `{"ResponseMetadata": {.., "Error": {"CodeN", "Code", "Message"}}}`: a gateway error
//!    ([`Outcome::Gateway`]); when `Error` is present nothing else in the body counts.
//! 2. The service envelope `{code, message, status, request_id, time_elapsed, data}`, also when
//!    wrapped as `{"ResponseMetadata": .., "Result": {envelope}}`: code 10000 is
//!    [`Outcome::Success`], any other code [`Outcome::Service`].
//! 3. Any other JSON (relays' own error shapes, e.g. `{"error": {"message": ..}}`):
//!    [`Outcome::Relay`].
//! 4. Anything that is not JSON (HTML error pages, plain text, empty bodies, invalid UTF-8,
//!    truncated or too deeply nested JSON): [`Outcome::NonJson`].
//!
//! [`parse_response`] never panics, whatever the bytes.

use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::codes::{self, CodeInfo, GatewayCodeInfo, Retry};
use crate::api::schema::{REFERENCE_BASE64, REFERENCE_URL};

/// At most this many lines go into a [`NonJsonBody::excerpt`].
pub const EXCERPT_MAX_LINES: usize = 20;
/// At most this many characters go into a [`NonJsonBody::excerpt`].
pub const EXCERPT_MAX_CHARS: usize = 2000;
/// Only this many leading bytes of a non-JSON body are looked at for the excerpt and title.
const SCAN_BYTES: usize = 64 * 1024;
/// Longest message kept in a [`Outcome::summary`] or a relay's compact-JSON message.
const SUMMARY_MAX_CHARS: usize = 300;

/// What one HTTP exchange amounted to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A service envelope with code 10000.
    Success(Success),
    /// A service envelope with any other code (`data` usually null).
    Service(ServiceError),
    /// A gateway error (`ResponseMetadata.Error`).
    Gateway(GatewayError),
    /// JSON in some other shape (a relay's own error format, or anything else).
    Relay(RelayError),
    /// A body that is not JSON at all.
    NonJson(NonJsonBody),
}

/// A successful envelope (code 10000), with the interesting parts of `data` pulled out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Success {
    /// Always 10000.
    pub code: i64,
    /// The envelope's `message`, e.g. `"Success"`.
    pub message: String,
    /// The envelope's `request_id` (quote it in support tickets); falls back to
    /// `ResponseMetadata.RequestId` for wrapped answers.
    pub request_id: Option<String>,
    /// `data.request_id` (64 hex in the sample).
    pub data_request_id: Option<String>,
    /// `time_elapsed` parsed (a Go duration string; a bare number is taken as seconds).
    /// Serialized as fractional seconds.
    #[serde(serialize_with = "serialize_secs")]
    pub time_elapsed: Option<Duration>,
    /// `time_elapsed` exactly as sent (a number is rendered as JSON).
    pub time_elapsed_raw: Option<String>,
    /// `data.algorithm_base_resp` as `(status_code, status_message)`.
    pub algorithm_status: Option<(i64, String)>,
    /// Result images: `data.binary_data_base64` entries first (in order), then
    /// `data.image_urls`.
    pub images: Vec<ResultImage>,
    /// `data.rephraser_result` (the prompt as rewritten by the service); `None` when empty.
    pub rephraser_result: Option<String>,
    /// `data.pe_result`; `None` when empty.
    pub pe_result: Option<String>,
    /// `data.predict_tags_result`; `None` when empty.
    pub predict_tags_result: Option<String>,
    /// `data.task_id`: the answer of an async submit (`CVSync2AsyncSubmitTask`).
    pub task_id: Option<String>,
    /// `data.status` of an async poll (`CVSync2AsyncGetResult`): `in_queue`, `generating`,
    /// `done`, `not_found` or `expired`.
    pub task_status: Option<String>,
    /// The raw `data` object (`null` when absent), for anything not pulled out above, kept
    /// as the JSON text it came as: a big payload costs its size, not the ten times as much
    /// a parsed tree takes. [`RawJson::value`] parses it.
    pub data: RawJson,
}

/// A piece of JSON kept as the text it was sent as, parsed on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// JSON `null`.
    pub fn null() -> RawJson {
        RawJson("null".into())
    }

    /// The JSON text as received.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The parsed value (`null` if the text is somehow not JSON).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

/// One result image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ResultImage {
    /// Bare base64 of the encoded image (JPEG as far as known).
    Base64(String),
    /// A signed URL that expires (download it at once).
    Url(String),
}

/// A service envelope whose code is not 10000.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceError {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The envelope's code, e.g. 50411.
    pub code: i64,
    /// The envelope's message as sent.
    pub message: String,
    /// The envelope's `request_id` (or `ResponseMetadata.RequestId`).
    pub request_id: Option<String>,
    /// `time_elapsed` as sent.
    pub time_elapsed_raw: Option<String>,
    /// `data.algorithm_base_resp`, when `data` is not null (e.g. 100202 "do predict failed").
    pub algorithm_status: Option<(i64, String)>,
    /// The code's entry in the business-code table, when known.
    pub info: Option<&'static CodeInfo>,
}

/// A gateway error: `ResponseMetadata.Error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayError {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// `Error.CodeN`, e.g. 100010.
    pub code_n: Option<i64>,
    /// `Error.Code`, e.g. `"SignatureDoesNotMatch"` (from the table when the gateway sent only
    /// `CodeN`; empty when neither is known).
    pub code: String,
    /// `Error.Message`.
    pub message: String,
    /// `ResponseMetadata.RequestId`.
    pub request_id: Option<String>,
    /// `ResponseMetadata.Action`.
    pub action: Option<String>,
    /// The gateway-code table's entry, looked up by `CodeN`, else by `Code`.
    pub info: Option<&'static GatewayCodeInfo>,
}

/// JSON that is neither a gateway error nor a service envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelayError {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// Best effort: `error.message`, `error` (a string), `message`, `msg`, `detail`, else the
    /// body as compact JSON, truncated.
    pub message: String,
    /// The whole body.
    pub body: Value,
}

/// A body that is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonJsonBody {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Body length in bytes.
    pub len: usize,
    /// The first [`EXCERPT_MAX_LINES`] non-blank lines / [`EXCERPT_MAX_CHARS`] characters,
    /// lossy UTF-8, control characters replaced; for HTML the `<title>` comes first.
    pub excerpt: String,
    /// Why it is not usable, e.g. `"empty body"`, `"HTML page"`, `"plain text"`,
    /// `"invalid UTF-8 at byte 3"`, `"invalid JSON at line 1 column 40: EOF while parsing an
    /// object"`.
    pub reason: String,
}

fn serialize_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Retry class implied by the HTTP status alone: 429 backoff, 5xx once, otherwise no.
fn http_retry(status: u16) -> Retry {
    match status {
        429 => Retry::Backoff,
        500..=599 => Retry::Once,
        _ => Retry::No,
    }
}

impl Outcome {
    /// Whether the service answered with code 10000.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }

    /// The business code (success or service error) or the gateway's `CodeN`.
    pub fn code(&self) -> Option<i64> {
        match self {
            Outcome::Success(s) => Some(s.code),
            Outcome::Service(e) => Some(e.code),
            Outcome::Gateway(e) => e.code_n,
            Outcome::Relay(_) | Outcome::NonJson(_) => None,
        }
    }

    /// The HTTP status of the answer; `None` for a success (whose status is not kept: a
    /// success is recognised by its code, whatever the status).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Outcome::Success(_) => None,
            Outcome::Service(e) => Some(e.http_status),
            Outcome::Gateway(e) => Some(e.http_status),
            Outcome::Relay(e) => Some(e.http_status),
            Outcome::NonJson(e) => Some(e.http_status),
        }
    }

    /// What to do next: from the code tables when the code is known; otherwise (unknown codes,
    /// relay and non-JSON answers) 5xx means retry once, 429 retry with backoff, else no.
    pub fn retry(&self) -> Retry {
        match self {
            Outcome::Success(_) => Retry::No,
            Outcome::Service(e) => e.info.map_or(http_retry(e.http_status), |i| i.retry),
            Outcome::Gateway(e) => e.info.map_or(http_retry(e.http_status), |i| i.retry),
            Outcome::Relay(e) => http_retry(e.http_status),
            Outcome::NonJson(e) => http_retry(e.http_status),
        }
    }

    /// One line for humans, e.g. `50411 input image failed moderation (do not retry): Pre Img
    /// Risk Not Pass`. Control characters from the server are neutralised.
    pub fn summary(&self) -> String {
        let advice = self.retry().advice();
        let line = match self {
            Outcome::Success(s) => success_summary(s),
            Outcome::Service(e) => {
                let mut line = match e.info {
                    Some(info) => format!("{} {} ({advice})", e.code, info.meaning),
                    None if e.message.is_empty() => {
                        format!("{} unknown service code ({advice})", e.code)
                    }
                    None => format!("{} {} ({advice})", e.code, e.message),
                };
                if e.info.is_some_and(|i| i.meaning != e.message) && !e.message.is_empty() {
                    line.push_str(": ");
                    line.push_str(&e.message);
                }
                if let Some((status, msg)) = &e.algorithm_status
                    && *status != 0
                {
                    line.push_str(&format!(" [algorithm {status} {msg}]"));
                }
                line
            }
            Outcome::Gateway(e) => {
                let id = match (e.code_n, e.code.is_empty()) {
                    (Some(n), false) => format!("{n} {}", e.code),
                    (Some(n), true) => n.to_string(),
                    (None, false) => e.code.clone(),
                    (None, true) => "gateway error".to_owned(),
                };
                let msg = if e.message.is_empty() {
                    e.info.map_or("", |i| i.meaning)
                } else {
                    &e.message
                };
                format!("{id}: {msg} ({advice})")
            }
            Outcome::Relay(e) => format!("HTTP {}: {} ({advice})", e.http_status, e.message),
            Outcome::NonJson(e) => {
                let first = e.excerpt.lines().next().unwrap_or("");
                if first.is_empty() {
                    format!("HTTP {} {} ({advice})", e.http_status, e.reason)
                } else {
                    format!("HTTP {} {}: {first} ({advice})", e.http_status, e.reason)
                }
            }
        };
        one_line(&line, SUMMARY_MAX_CHARS * 2)
    }

    /// The request id to quote in a support ticket, when the answer carries one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Outcome::Success(s) => s.request_id.as_deref().or(s.data_request_id.as_deref()),
            Outcome::Service(e) => e.request_id.as_deref(),
            Outcome::Gateway(e) => e.request_id.as_deref(),
            Outcome::Relay(e) => ["request_id", "requestId", "RequestId"]
                .iter()
                .find_map(|k| e.body.get(k).and_then(Value::as_str))
                .filter(|s| !s.is_empty()),
            Outcome::NonJson(_) => None,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn success_summary(s: &Success) -> String {
    let message = if s.message.is_empty() {
        "success"
    } else {
        &s.message
    };
    let mut line = format!("{} {message}", s.code);
    let base64 = s
        .images
        .iter()
        .filter(|i| matches!(i, ResultImage::Base64(_)))
        .count();
    let urls = s.images.len() - base64;
    let mut details = Vec::new();
    if let Some(id) = &s.task_id {
        details.push(format!("task {id} submitted"));
    }
    if let Some(status) = &s.task_status {
        details.push(format!("task {status}"));
    }
    if !s.images.is_empty() || (s.task_id.is_none() && s.task_status.is_none()) {
        let mut images = plural(s.images.len(), "image");
        if !s.images.is_empty() {
            images.push_str(&format!(" ({base64} base64, {})", plural(urls, "URL")));
        }
        details.push(images);
    }
    if !details.is_empty() {
        line.push_str(": ");
        line.push_str(&details.join(", "));
    }
    if let Some(raw) = &s.time_elapsed_raw {
        line.push_str(" in ");
        line.push_str(raw);
    }
    line
}

/// Whether a character could disturb a terminal (controls, bidi overrides).
fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Squashes text onto one line: whitespace runs become one space, other unsafe characters
/// U+FFFD, and the result is cut to `max` characters with an ellipsis.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= max {
            out.push('…');
            return out;
        }
        out.push(if is_unsafe_char(c) { '\u{FFFD}' } else { c });
        count += 1;
    }
    out
}

/// An integer from a JSON number (integral floats too) or a numeric string.
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // `i64::MAX as f64` rounds up to 2^63, so the upper bound must be exclusive.
            (f.is_finite()
                && f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
            .then_some(f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| as_int(&Value::from(s.parse::<f64>().ok()?)))
        }
        _ => None,
    }
}

/// A string from a JSON string, number or bool.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty text field: strings as they are, scalars rendered, arrays/objects as compact
/// JSON; `None` for missing, null and empty strings.
fn opt_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(_) | Value::Object(_) => v.map(Value::to_string),
        other => as_text(other),
    }
}

/// A string list: an array's non-empty strings, or one non-empty string.
fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn secs_f64(f: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(f).ok()
}

/// `time_elapsed`: a Go duration string, tolerating a bare number (or numeric string) of
/// seconds.
fn parse_elapsed(v: &Value) -> Option<Duration> {
    match v {
        Value::String(s) => {
            parse_go_duration(s).or_else(|| s.trim().parse::<f64>().ok().and_then(secs_f64))
        }
        Value::Number(n) => n.as_f64().and_then(secs_f64),
        _ => None,
    }
}

fn algorithm_status(data: &Value) -> Option<(i64, String)> {
    let resp = data.get("algorithm_base_resp")?;
    let code = as_int(resp.get("status_code")?)?;
    let message = resp
        .get("status_message")
        .and_then(as_text)
        .unwrap_or_default();
    Some((code, message))
}

/// The envelope's code if `obj` looks like a service envelope: a numeric `code` that is in the
/// table or comes with another envelope field, or (no `code`) a `status` that is a known code.
fn envelope_code(obj: &Map<String, Value>) -> Option<i64> {
    match obj.get("code") {
        Some(Value::Null) | None => {
            let status = as_int(obj.get("status")?)?;
            codes::lookup(status).map(|_| status)
        }
        Some(code) => {
            let code = as_int(code)?;
            let envelope_like = codes::lookup(code).is_some()
                || ["request_id", "time_elapsed", "data", "status"]
                    .iter()
                    .any(|k| obj.contains_key(*k));
            envelope_like.then_some(code)
        }
    }
}

fn parse_envelope(
    http_status: u16,
    code: i64,
    env: &Map<String, Value>,
    raw_data: Option<&RawValue>,
    fallback_request_id: Option<String>,
) -> Outcome {
    let mut data = data_fields(raw_data);
    let message = env.get("message").and_then(as_text).unwrap_or_default();
    let request_id = opt_text(env.get("request_id")).or(fallback_request_id);
    let elapsed = env.get("time_elapsed").filter(|v| !v.is_null());
    let time_elapsed_raw = elapsed.map(|v| as_text(v).unwrap_or_else(|| v.to_string()));
    let algorithm_status = algorithm_status(&data);
    if code != codes::SUCCESS {
        return Outcome::Service(ServiceError {
            http_status,
            code,
            message,
            request_id,
            time_elapsed_raw,
            algorithm_status,
            info: codes::lookup(code),
        });
    }
    // Moved out, not copied: base64 images are megabytes.
    let take = |data: &mut Value, k: &str| data.get_mut(k).map(Value::take);
    let images = string_list(take(&mut data, REFERENCE_BASE64).as_ref())
        .into_iter()
        .map(ResultImage::Base64)
        .chain(
            string_list(take(&mut data, REFERENCE_URL).as_ref())
                .into_iter()
                .map(ResultImage::Url),
        )
        .collect();
    Outcome::Success(Success {
        code,
        message,
        request_id,
        data_request_id: opt_text(data.get("request_id")),
        time_elapsed: elapsed.and_then(parse_elapsed),
        time_elapsed_raw,
        algorithm_status,
        images,
        rephraser_result: opt_text(data.get("rephraser_result")),
        pe_result: opt_text(data.get("pe_result")),
        predict_tags_result: opt_text(data.get("predict_tags_result")),
        task_id: opt_text(data.get("task_id")),
        task_status: opt_text(data.get("status")),
        data: raw_data.map_or_else(RawJson::null, |r| RawJson(r.get().into())),
    })
}

/// The members of `data` that [`parse_envelope`] pulls out; the others are only skipped
/// (validated) and stay in the raw text.
const DATA_FIELDS: [&str; 9] = [
    "algorithm_base_resp",
    REFERENCE_BASE64,
    REFERENCE_URL,
    "request_id",
    "rephraser_result",
    "pe_result",
    "predict_tags_result",
    "task_id",
    "status",
];

/// `data` parsed as far as [`parse_envelope`] needs: an object keeps only [`DATA_FIELDS`];
/// anything else (null, a string...) is parsed whole.
fn data_fields(raw: Option<&RawValue>) -> Value {
    let Some(raw) = raw else {
        return Value::Null;
    };
    match serde_json::from_str::<Picked>(raw.get()) {
        Ok(Picked(m)) => Value::Object(m),
        Err(_) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
    }
}

/// An object's [`DATA_FIELDS`] members (duplicates: the last wins, as in a parsed `Value`).
struct Picked(Map<String, Value>);

impl<'de> Deserialize<'de> for Picked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picked, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Picked;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
                let mut m = Map::new();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if DATA_FIELDS.contains(&k.as_ref()) {
                        let v: Value = map.next_value()?;
                        m.insert(k.into_owned(), v);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Picked(m))
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON object with every member parsed but `data` and `Result` (where the payload is),
/// which are kept as raw text; each is represented in `obj` by a `null` in its place.
struct Shallow<'a> {
    obj: Map<String, Value>,
    data: Option<&'a RawValue>,
    result: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Shallow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shallow<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shallow<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow<'de>, A::Error> {
                let mut out = Shallow {
                    obj: Map::new(),
                    data: None,
                    result: None,
                };
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "data" => out.data = Some(map.next_value()?),
                        "Result" => out.result = Some(map.next_value()?),
                        _ => {
                            let v: Value = map.next_value()?;
                            out.obj.insert(k, v);
                            continue;
                        }
                    }
                    out.obj.insert(k, Value::Null);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Walks a JSON value without keeping anything: checks it the way parsing it into a `Value`
/// would (syntax, nesting limit, trailing characters), with the same errors.
struct Walk;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Walk, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Walk;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_unit<E>(self) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
                while seq.next_element::<Walk>()?.is_some() {}
                Ok(Walk)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
                while map.next_key::<Walk>()?.is_some() {
                    map.next_value::<Walk>()?;
                }
                Ok(Walk)
            }
        }
        d.deserialize_any(V)
    }
}

/// [`parse_value`] without building the whole body as a `Value`: an object's `data` (and a
/// wrapped `Result`'s) is only validated and kept as text, with the few members the outcome
/// needs picked out. Errors exactly where parsing into a `Value` would.
fn parse_json(http_status: u16, text: &str) -> Result<Outcome, serde_json::Error> {
    serde_json::from_str::<Walk>(text)?;
    let Ok(top) = serde_json::from_str::<Shallow<'_>>(text) else {
        // Not an object: a relay's (or anyone's) JSON, parsed whole.
        return Ok(parse_value(http_status, serde_json::from_str(text)?));
    };
    let meta = top.obj.get("ResponseMetadata").and_then(Value::as_object);
    if let Some(meta) = meta
        && let Some(error) = meta.get("Error").filter(|e| !e.is_null())
    {
        return Ok(parse_gateway(http_status, meta, error));
    }
    let meta_request_id = meta.and_then(|m| opt_text(m.get("RequestId")));
    if let Some(code) = envelope_code(&top.obj) {
        return Ok(parse_envelope(
            http_status,
            code,
            &top.obj,
            top.data,
            meta_request_id,
        ));
    }
    if let Some(result) = top.result
        && let Ok(inner) = serde_json::from_str::<Shallow<'_>>(result.get())
        && let Some(code) = envelope_code(&inner.obj)
    {
        return Ok(parse_envelope(
            http_status,
            code,
            &inner.obj,
            inner.data,
            meta_request_id,
        ));
    }
    Ok(parse_value(http_status, serde_json::from_str(text)?))
}

fn parse_gateway(http_status: u16, meta: &Map<String, Value>, error: &Value) -> Outcome {
    let (code_n, code, message) = match error {
        Value::Object(e) => (
            e.get("CodeN").and_then(as_int),
            e.get("Code").and_then(as_text).unwrap_or_default(),
            e.get("Message").and_then(as_text).unwrap_or_default(),
        ),
        other => (
            None,
            String::new(),
            as_text(other).unwrap_or_else(|| other.to_string()),
        ),
    };
    let info = code_n
        .and_then(codes::gateway_lookup)
        .or_else(|| codes::gateway_by_name(&code));
    let code = match (code.is_empty(), info) {
        (true, Some(info)) => info.code.to_owned(),
        _ => code,
    };
    Outcome::Gateway(GatewayError {
        http_status,
        code_n: code_n.or(info.map(|i| i.code_n)),
        code,
        message,
        request_id: opt_text(meta.get("RequestId")),
        action: opt_text(meta.get("Action")),
        info,
    })
}

/// A relay's message, best effort.
fn relay_message(body: &Value) -> String {
    if let Value::Object(obj) = body {
        match obj.get("error") {
            Some(Value::Object(e)) => {
                if let Some(m) = ["message", "msg"].iter().find_map(|k| opt_text(e.get(*k))) {
                    return m;
                }
            }
            Some(Value::String(s)) if !s.is_empty() => return s.clone(),
            _ => {}
        }
        if let Some(m) = ["message", "msg", "detail", "error_msg", "errorMessage"]
            .iter()
            .find_map(|k| opt_text(obj.get(*k)))
        {
            return m;
        }
    }
    if let Value::String(s) = body
        && !s.is_empty()
    {
        return s.clone();
    }
    let compact = body.to_string();
    if compact.chars().count() > SUMMARY_MAX_CHARS {
        let mut cut: String = compact.chars().take(SUMMARY_MAX_CHARS).collect();
        cut.push('…');
        cut
    } else {
        compact
    }
}

/// JSON that [`parse_json`] found to be no gateway error and no envelope: a relay's answer.
fn parse_value(http_status: u16, body: Value) -> Outcome {
    let Value::Object(obj) = body else {
        return Outcome::Relay(RelayError {
            http_status,
            message: relay_message(&body),
            body,
        });
    };
    let body = Value::Object(obj);
    Outcome::Relay(RelayError {
        http_status,
        message: relay_message(&body),
        body,
    })
}

/// Whether a (lossily decoded) body looks like an HTML page.
fn looks_html(content_type: Option<&str>, head: &str) -> bool {
    if content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("html")) {
        return true;
    }
    let start = head.trim_start();
    if !start.starts_with('<') {
        return false;
    }
    let lower = start[..start.floor_char_boundary(4096)].to_ascii_lowercase();
    ["<!doctype html", "<html", "<head", "<body", "<title"]
        .iter()
        .any(|tag| lower.contains(tag))
}

/// The text of the first `<title>` element, whitespace collapsed and common entities decoded.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let content_start = open + lower.get(open..)?.find('>')? + 1;
    let content_end = content_start + lower.get(content_start..)?.find("</title")?;
    let raw = text.get(content_start..content_end)?;
    let title = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (!title.is_empty()).then_some(title)
}

/// The excerpt of a non-JSON body: title first (HTML), then the first non-blank lines, within
/// the line and character limits, with unsafe characters replaced.
fn excerpt(text: &str, title: Option<&str>) -> String {
    let lines = title
        .into_iter()
        .chain(text.lines())
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty());
    let mut out = String::new();
    let mut chars = 0;
    for (i, line) in lines.enumerate() {
        if i == EXCERPT_MAX_LINES {
            out.push_str("\n…");
            break;
        }
        if i > 0 {
            out.push('\n');
            chars += 1;
        }
        for c in line.chars() {
            if chars >= EXCERPT_MAX_CHARS {
                out.push('…');
                return out;
            }
            out.push(if c == '\t' {
                ' '
            } else if is_unsafe_char(c) {
                '\u{FFFD}'
            } else {
                c
            });
            chars += 1;
        }
    }
    out
}

fn non_json(
    http_status: u16,
    content_type: Option<&str>,
    body: &[u8],
    reason: Option<String>,
) -> Outcome {
    let head = String::from_utf8_lossy(&body[..body.len().min(SCAN_BYTES)]);
    let html = looks_html(content_type, &head);
    let title = if html { html_title(&head) } else { None };
    let reason = reason.unwrap_or_else(|| {
        if html {
            "HTML page".to_owned()
        } else {
            "plain text".to_owned()
        }
    });
    Outcome::NonJson(NonJsonBody {
        http_status,
        content_type: content_type.map(str::to_owned),
        len: body.len(),
        excerpt: excerpt(&head, title.as_deref()),
        reason,
    })
}

/// A redirect (3xx) to an API call, which volcv never follows: the CVProcess API does not
/// redirect, and following would re-POST the prompt and reference to wherever it points and
/// take that host's answer as the service's. Always [`Outcome::NonJson`] (whatever the body:
/// it is not the service's answer), its reason naming where it pointed (`location`, already
/// stripped of anything secret) and that it was not followed; never retried.
pub fn redirect_outcome(
    http_status: u16,
    content_type: Option<&str>,
    body: &[u8],
    location: Option<&str>,
) -> Outcome {
    let reason = match location {
        Some(l) => format!(
            "redirect to {} not followed (the API never redirects: check the endpoint)",
            crate::text::escape_terminal(&crate::text::truncate_chars(l, 300), false)
        ),
        None => "redirect without a Location, not followed (the API never redirects: check \
                 the endpoint)"
            .to_owned(),
    };
    non_json(http_status, content_type, body, Some(reason))
}

/// Describes a JSON syntax error as `invalid JSON at line L column C: what`.
fn json_error_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&position).unwrap_or(&full);
    format!(
        "invalid JSON at line {} column {}: {what}",
        e.line(),
        e.column()
    )
}

/// Parses any answer into an [`Outcome`]. Never panics, whatever the input.
///
/// `content_type` only steers how a non-JSON body is described (JSON is tried first whatever
/// the header says). A leading UTF-8 byte-order mark is ignored.
pub fn parse_response(http_status: u16, content_type: Option<&str>, body: &[u8]) -> Outcome {
    let unbommed = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if unbommed.iter().all(u8::is_ascii_whitespace) {
        return non_json(
            http_status,
            content_type,
            body,
            Some("empty body".to_owned()),
        );
    }
    let text = match std::str::from_utf8(unbommed) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to() + (body.len() - unbommed.len());
            return non_json(
                http_status,
                content_type,
                body,
                Some(format!("invalid UTF-8 at byte {at}")),
            );
        }
    };
    match parse_json(http_status, text) {
        Ok(outcome) => outcome,
        Err(e) => {
            // A body that starts like JSON is broken JSON, whatever its Content-Type says;
            // otherwise HTML is sniffed before trusting a JSON Content-Type.
            let starts_like_json = matches!(text.trim_start().chars().next(), Some('{' | '['));
            let head = &text[..text.floor_char_boundary(SCAN_BYTES)];
            let json_type = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
            let reason = if starts_like_json || (json_type && !looks_html(content_type, head)) {
                Some(json_error_reason(&e))
            } else {
                None
            };
            non_json(http_status, content_type, body, reason)
        }
    }
}

/// Parses a Go `time.Duration` string (`Duration.String()` output and what `ParseDuration`
/// accepts without a sign): a sequence of decimal numbers, each with an optional fraction and a
/// unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), e.g. `"7.545501615s"`, `"104.85ms"`,
/// `"84.448µs"`, `"1m30.5s"`, `"2h3m4.5s"`, `"1.5h"`, or the bare `"0"`. Surrounding
/// whitespace is ignored. Rejects signs (negative durations), missing units, unknown units,
/// and totals beyond Go's limit (`i64::MAX` nanoseconds, about 292 years). Fractions are
/// truncated to whole nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    const MAX_NANOS: u128 = i64::MAX as u128;
    /// Fraction digits beyond this many are below a nanosecond for every unit up to hours.
    const MAX_FRACTION_DIGITS: usize = 18;

    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let digits = |text: &str| text.bytes().take_while(u8::is_ascii_digit).count();
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (int_part, after) = rest.split_at(digits(rest));
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(after_dot) => after_dot.split_at(digits(after_dot)),
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{00B5}s" | "\u{03BC}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole * 10 + u128::from(d - b'0');
            if whole > MAX_NANOS {
                return None;
            }
        }
        let mut value = whole.checked_mul(unit_nanos)?;
        let frac = &frac_part[..frac_part.len().min(MAX_FRACTION_DIGITS)];
        if !frac.is_empty() {
            let numerator = frac
                .bytes()
                .fold(0u128, |acc, d| acc * 10 + u128::from(d - b'0'));
            let scale = 10u128.pow(u32::try_from(frac.len()).ok()?);
            value = value.checked_add(numerator * unit_nanos / scale)?;
        }
        total = total.checked_add(value)?;
        if total > MAX_NANOS {
            return None;
        }
    }
    Some(Duration::from_nanos(u64::try_from(total).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample's success response, verbatim from the reference file.
    const SAMPLE: &str = r#"{
"code": 10000,
"data": {
"algorithm_base_resp": {
"status_code": 0,
"status_message": "Success"
},
"binary_data_base64": [],
"image_urls": [
"https://xxx"
],
"pe_result": "",
"predict_tags_result": "",
"rephraser_result": "",
"request_id": "cece14795209cf7e39a9d3060c02e28542d96808f7413e2e7d2fdb86510655d5"
},
"message": "Success",
"request_id": "2024110517020569520218533D2EA96060",
"status": 10000,
"time_elapsed": "7.545501615s"
}"#;

    const JSON: Option<&str> = Some("application/json");

    fn parse(status: u16, body: &str) -> Outcome {
        parse_response(status, JSON, body.as_bytes())
    }

    fn success(o: Outcome) -> Success {
        match o {
            Outcome::Success(s) => s,
            other => panic!("expected success, got {other:?}"),
        }
    }

    fn service(o: Outcome) -> ServiceError {
        match o {
            Outcome::Service(e) => e,
            other => panic!("expected service error, got {other:?}"),
        }
    }

    fn gateway(o: Outcome) -> GatewayError {
        match o {
            Outcome::Gateway(e) => e,
            other => panic!("expected gateway error, got {other:?}"),
        }
    }

    fn relay(o: Outcome) -> RelayError {
        match o {
            Outcome::Relay(e) => e,
            other => panic!("expected relay error, got {other:?}"),
        }
    }

    fn non_json(o: Outcome) -> NonJsonBody {
        match o {
            Outcome::NonJson(e) => e,
            other => panic!("expected non-JSON, got {other:?}"),
        }
    }

    #[test]
    fn sample_success_response() {
        let outcome = parse(200, SAMPLE);
        assert!(outcome.is_success());
        assert_eq!(outcome.code(), Some(10000));
        assert_eq!(outcome.retry(), Retry::No);
        assert_eq!(
            outcome.request_id(),
            Some("2024110517020569520218533D2EA96060")
        );
        assert_eq!(
            outcome.summary(),
            "10000 Success: 1 image (0 base64, 1 URL) in 7.545501615s"
        );
        let s = success(outcome);
        assert_eq!(s.code, 10000);
        assert_eq!(s.message, "Success");
        assert_eq!(
            s.request_id.as_deref(),
            Some("2024110517020569520218533D2EA96060")
        );
        assert_eq!(
            s.data_request_id.as_deref(),
            Some("cece14795209cf7e39a9d3060c02e28542d96808f7413e2e7d2fdb86510655d5")
        );
        assert_eq!(s.time_elapsed, Some(Duration::from_nanos(7_545_501_615)));
        assert_eq!(s.time_elapsed_raw.as_deref(), Some("7.545501615s"));
        assert_eq!(s.algorithm_status, Some((0, "Success".to_owned())));
        assert_eq!(s.images, [ResultImage::Url("https://xxx".to_owned())]);
        assert_eq!(s.rephraser_result, None);
        assert_eq!(s.pe_result, None);
        assert_eq!(s.predict_tags_result, None);
        assert_eq!(s.task_id, None);
        assert_eq!(s.task_status, None);
        assert_eq!(s.data.value()["image_urls"][0], "https://xxx");
    }

    #[test]
    fn success_serializes_for_json_output() {
        let v = serde_json::to_value(parse(200, SAMPLE)).expect("serializable");
        assert_eq!(v["kind"], "success");
        assert_eq!(v["time_elapsed"], 7.545501615);
        assert_eq!(v["images"][0]["kind"], "url");
        assert_eq!(v["images"][0]["value"], "https://xxx");
        let v = serde_json::to_value(parse(429, r#"{"code":50429,"message":"x","data":null}"#))
            .expect("serializable");
        assert_eq!(v["kind"], "service");
        assert_eq!(v["info"]["name"], "QPS limit");
        assert_eq!(v["info"]["retry"], "backoff");
    }

    #[test]
    fn success_with_base64_images_comes_first() {
        let body = r#"{"code":10000,"message":"Success","status":10000,"request_id":"r1",
            "time_elapsed":"5.1s","data":{"binary_data_base64":["aGVsbG8=","","d29ybGQ="],
            "image_urls":["https://u/1.jpg"],"rephraser_result":"a cat, photo",
            "algorithm_base_resp":{"status_code":"0","status_message":"Success"}}}"#;
        let s = success(parse(200, body));
        assert_eq!(
            s.images,
            [
                ResultImage::Base64("aGVsbG8=".to_owned()),
                ResultImage::Base64("d29ybGQ=".to_owned()),
                ResultImage::Url("https://u/1.jpg".to_owned()),
            ]
        );
        assert_eq!(s.rephraser_result.as_deref(), Some("a cat, photo"));
        assert_eq!(s.algorithm_status, Some((0, "Success".to_owned())));
        assert_eq!(
            Outcome::Success(s).summary(),
            "10000 Success: 3 images (2 base64, 1 URL) in 5.1s"
        );
    }

    #[test]
    fn tolerant_envelope_fields() {
        // code as a numeric string, time_elapsed as a number of seconds, data null.
        let s = success(parse(
            200,
            r#"{"code":"10000","message":"ok","time_elapsed":7.5,"data":null}"#,
        ));
        assert_eq!(s.time_elapsed, Some(Duration::from_millis(7500)));
        assert_eq!(s.time_elapsed_raw.as_deref(), Some("7.5"));
        assert_eq!(s.data.value(), Value::Null);
        assert!(s.images.is_empty());
        // status only.
        let s = success(parse(200, r#"{"status":10000,"message":"ok"}"#));
        assert_eq!(s.code, 10000);
        // code as a float, numeric-string time_elapsed.
        let s = success(parse(200, r#"{"code":10000.0,"time_elapsed":"0.25"}"#));
        assert_eq!(s.time_elapsed, Some(Duration::from_millis(250)));
        // Garbage time_elapsed keeps the raw value.
        let s = success(parse(200, r#"{"code":10000,"time_elapsed":"soon"}"#));
        assert_eq!(s.time_elapsed, None);
        assert_eq!(s.time_elapsed_raw.as_deref(), Some("soon"));
        // Leading BOM.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(SAMPLE.as_bytes());
        assert!(parse_response(200, JSON, &bom).is_success());
    }

    #[test]
    fn async_submit_and_poll() {
        let s = success(parse(
            200,
            r#"{"code":10000,"data":{"task_id":"7392616336519610409"},"message":"Success",
                "request_id":"r","status":10000,"time_elapsed":"104.85ms"}"#,
        ));
        assert_eq!(s.task_id.as_deref(), Some("7392616336519610409"));
        assert_eq!(
            Outcome::Success(s).summary(),
            "10000 Success: task 7392616336519610409 submitted in 104.85ms"
        );
        let s = success(parse(
            200,
            r#"{"code":10000,"data":{"status":"in_queue","binary_data_base64":null,
                "image_urls":null},"message":"Success"}"#,
        ));
        assert_eq!(s.task_status.as_deref(), Some("in_queue"));
        assert_eq!(
            Outcome::Success(s).summary(),
            "10000 Success: task in_queue"
        );
        let s = success(parse(
            200,
            r#"{"code":10000,"data":{"status":"done","image_urls":["https://x"]}}"#,
        ));
        assert_eq!(s.task_status.as_deref(), Some("done"));
        assert_eq!(s.images.len(), 1);
    }

    #[test]
    fn service_error_input_moderation() {
        let body = r#"{"code":50411,"data":null,"message":"Pre Img Risk Not Pass",
            "request_id":"20241105abc","status":50411,"time_elapsed":"84.448µs"}"#;
        let outcome = parse(400, body);
        assert!(!outcome.is_success());
        assert_eq!(outcome.code(), Some(50411));
        assert_eq!(outcome.retry(), Retry::No);
        assert_eq!(outcome.request_id(), Some("20241105abc"));
        assert_eq!(
            outcome.summary(),
            "50411 input image failed moderation (do not retry): Pre Img Risk Not Pass"
        );
        let e = service(outcome);
        assert_eq!(e.http_status, 400);
        assert_eq!(e.time_elapsed_raw.as_deref(), Some("84.448µs"));
        assert_eq!(e.info.map(|i| i.code), Some(50411));
    }

    #[test]
    fn service_error_qps_limit() {
        let body = r#"{"code":50429,"data":null,"message":"Request Has Reached API Limit",
            "request_id":"r","status":50429,"time_elapsed":"1.2ms"}"#;
        let outcome = parse(429, body);
        assert_eq!(outcome.retry(), Retry::Backoff);
        assert!(
            outcome
                .summary()
                .starts_with("50429 QPS limit reached (retry with backoff)")
        );
        let e = service(outcome);
        assert_eq!(e.http_status, 429);
        assert_eq!(e.info.map(|i| i.name), Some("QPS limit"));
    }

    #[test]
    fn service_error_with_algorithm_status_and_unknown_code() {
        let body = r#"{"code":50501,"message":"Internal RPC Error","data":{"algorithm_base_resp":
            {"status_code":100202,"status_message":"do predict failed"}}}"#;
        let outcome = parse(500, body);
        assert_eq!(outcome.retry(), Retry::Once);
        assert!(
            outcome
                .summary()
                .ends_with("[algorithm 100202 do predict failed]")
        );
        let outcome = parse(503, r#"{"code":59999,"message":"new thing","data":null}"#);
        assert_eq!(outcome.retry(), Retry::Once);
        assert_eq!(outcome.summary(), "59999 new thing (retry once)");
        assert_eq!(service(outcome).info, None);
    }

    #[test]
    fn gateway_error_signature_mismatch() {
        let body = r#"{"ResponseMetadata":{"RequestId":"2024abc","Action":"CVProcess",
            "Version":"2022-08-31","Service":"cv","Region":"cn-north-1",
            "Error":{"CodeN":100010,"Code":"SignatureDoesNotMatch",
            "Message":"The request signature we calculated does not match the signature you provided."}}}"#;
        let outcome = parse(401, body);
        assert_eq!(outcome.code(), Some(100010));
        assert_eq!(outcome.retry(), Retry::No);
        assert_eq!(outcome.request_id(), Some("2024abc"));
        assert!(
            outcome
                .summary()
                .starts_with("100010 SignatureDoesNotMatch: The request signature")
        );
        let e = gateway(outcome);
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.action.as_deref(), Some("CVProcess"));
        assert_eq!(e.info.map(|i| i.code_n), Some(100010));
    }

    #[test]
    fn gateway_error_wins_over_result() {
        let body = r#"{"ResponseMetadata":{"RequestId":"r","Error":{"CodeN":100006,
            "Code":"InvalidTimestamp","Message":"stale"}},"Result":{"code":10000,"data":{}}}"#;
        let outcome = parse(400, body);
        assert_eq!(outcome.retry(), Retry::Once);
        let e = gateway(outcome);
        assert_eq!(e.code_n, Some(100006));
        // Only a name, no number: the table fills the number in; and vice versa.
        let e = gateway(parse(
            401,
            r#"{"ResponseMetadata":{"Error":{"Code":"InvalidAccessKey"}}}"#,
        ));
        assert_eq!(e.code_n, Some(100009));
        let e = gateway(parse(
            401,
            r#"{"ResponseMetadata":{"Error":{"CodeN":"100009"}}}"#,
        ));
        assert_eq!(e.code, "InvalidAccessKey");
        let e = gateway(parse(401, r#"{"ResponseMetadata":{"Error":"denied"}}"#));
        assert_eq!(e.message, "denied");
        assert_eq!(e.info, None);
    }

    #[test]
    fn result_wrapped_success() {
        let body = format!(
            r#"{{"ResponseMetadata":{{"RequestId":"meta-id","Action":"CVProcess"}},"Result":{SAMPLE}}}"#
        );
        let s = success(parse(200, &body));
        assert_eq!(
            s.request_id.as_deref(),
            Some("2024110517020569520218533D2EA96060")
        );
        assert_eq!(s.images.len(), 1);
        let body =
            r#"{"ResponseMetadata":{"RequestId":"meta-id"},"Result":{"code":10000,"data":{}}}"#;
        assert_eq!(parse(200, body).request_id(), Some("meta-id"));
        let body =
            r#"{"ResponseMetadata":{"RequestId":"m"},"Result":{"code":50412,"message":"p"}}"#;
        assert_eq!(parse(400, body).code(), Some(50412));
    }

    #[test]
    fn relay_error_shapes() {
        let outcome = parse(
            403,
            r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
        );
        assert_eq!(outcome.retry(), Retry::No);
        assert_eq!(outcome.code(), None);
        assert_eq!(outcome.summary(), "HTTP 403: quota (do not retry)");
        assert_eq!(relay(outcome).message, "quota");
        assert_eq!(
            relay(parse(401, r#"{"error":"bad key"}"#)).message,
            "bad key"
        );
        assert_eq!(relay(parse(401, r#"{"msg":"nope"}"#)).message, "nope");
        assert_eq!(
            relay(parse(422, r#"{"detail":[{"loc":["body"]}]}"#)).message,
            r#"[{"loc":["body"]}]"#
        );
        // A non-numeric code is not an envelope.
        let e = relay(parse(
            401,
            r#"{"code":"invalid_api_key","message":"Invalid key","request_id":"abc"}"#,
        ));
        assert_eq!(e.message, "Invalid key");
        assert_eq!(Outcome::Relay(e).request_id(), Some("abc"));
        // A bare HTTP-like code with no envelope field either.
        assert!(matches!(parse(401, r#"{"code":401}"#), Outcome::Relay(_)));
        assert_eq!(parse(429, r#"{"x":1}"#).retry(), Retry::Backoff);
        assert_eq!(parse(503, r#"[1,2]"#).retry(), Retry::Once);
        assert_eq!(relay(parse(500, r#""oops""#)).message, "oops");
        assert_eq!(relay(parse(500, "null")).message, "null");
        let long = format!(r#"{{"k":"{}"}}"#, "x".repeat(1000));
        assert!(relay(parse(500, &long)).message.chars().count() <= SUMMARY_MAX_CHARS + 1);
    }

    #[test]
    fn html_502_page() {
        let body = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                    <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                    </body>\r\n</html>\r\n";
        let outcome = parse_response(502, Some("text/html"), body.as_bytes());
        assert_eq!(outcome.retry(), Retry::Once);
        assert_eq!(
            outcome.summary(),
            "HTTP 502 HTML page: 502 Bad Gateway (retry once)"
        );
        let e = non_json(outcome);
        assert_eq!(e.reason, "HTML page");
        assert!(e.excerpt.starts_with("502 Bad Gateway\n<html>"));
        assert!(!e.excerpt.contains('\r'));
        assert_eq!(e.len, body.len());
        assert_eq!(e.content_type.as_deref(), Some("text/html"));
        // Without a content type, sniffed.
        let e = non_json(parse_response(
            502,
            None,
            b"<!DOCTYPE html><title>x &amp; y</title>",
        ));
        assert_eq!(e.reason, "HTML page");
        assert!(e.excerpt.starts_with("x & y\n"));
    }

    #[test]
    fn plain_text_and_empty_bodies() {
        let e = non_json(parse_response(
            503,
            Some("text/plain"),
            b"upstream connect error or disconnect/reset before headers",
        ));
        assert_eq!(e.reason, "plain text");
        assert!(e.excerpt.starts_with("upstream connect error"));
        let e = non_json(parse_response(502, Some("text/plain"), b"502 Bad Gateway"));
        assert_eq!(e.reason, "plain text");

        let outcome = parse_response(500, None, b"");
        assert_eq!(outcome.summary(), "HTTP 500 empty body (retry once)");
        let e = non_json(outcome);
        assert_eq!(e.reason, "empty body");
        assert_eq!(e.len, 0);
        assert_eq!(
            non_json(parse_response(200, JSON, b" \r\n\t")).reason,
            "empty body"
        );
    }

    #[test]
    fn truncated_json() {
        let cut = &SAMPLE[..SAMPLE.len() / 2];
        let e = non_json(parse(200, cut));
        assert!(
            e.reason.starts_with("invalid JSON at line "),
            "{}",
            e.reason
        );
        assert!(e.reason.contains(": EOF while parsing"), "{}", e.reason);
        // Broken JSON served as HTML is still described as broken JSON.
        let e = non_json(parse_response(502, Some("text/html"), b"{\"code\": 1"));
        assert!(e.reason.starts_with("invalid JSON"), "{}", e.reason);
        // HTML served as JSON is still an HTML page.
        let e = non_json(parse(502, "<html><title>Bad</title></html>"));
        assert_eq!(e.reason, "HTML page");
        let e = non_json(parse(200, r#"{"code": 10000, "data": {"#));
        assert_eq!(
            e.reason,
            "invalid JSON at line 1 column 25: EOF while parsing an object"
        );
    }

    #[test]
    fn invalid_utf8() {
        let e = non_json(parse_response(200, JSON, b"{\"code\": \xff\xfe 10000}"));
        assert_eq!(e.reason, "invalid UTF-8 at byte 9");
        assert!(e.excerpt.contains('\u{FFFD}'));
        let e = non_json(parse_response(
            200,
            Some("image/jpeg"),
            &[0xFF, 0xD8, 0xFF, 0xE0],
        ));
        assert_eq!(e.reason, "invalid UTF-8 at byte 0");
    }

    #[test]
    fn data_is_kept_as_sent_and_only_what_is_needed_is_parsed() {
        let data = r#"{"binary_data_base64":["aGk="],"detections":[{"id":1,"tags":["a"]},{"id":2}],
            "rephraser_result":"first","rephraser_result":"second","status":"done"}"#;
        let body = format!(r#"{{"code":10000,"message":"ok","data":{data},"request_id":"r"}}"#);
        let s = success(parse(200, &body));
        assert_eq!(s.data.text(), data);
        let whole: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(s.data.value(), whole["data"]);
        assert_eq!(s.images, vec![ResultImage::Base64("aGk=".into())]);
        // A key given twice: the last one, as a parsed Value has it.
        assert_eq!(s.rephraser_result.as_deref(), Some("second"));
        assert_eq!(s.task_status.as_deref(), Some("done"));
        // Wrapped in Result, the same.
        let wrapped = format!(r#"{{"ResponseMetadata":{{"RequestId":"m"}},"Result":{body}}}"#);
        let w = success(parse(200, &wrapped));
        assert_eq!(w.data.text(), data);
        assert_eq!(w.request_id.as_deref(), Some("r"));
        // Broken JSON inside `data` is broken JSON, whatever the rest.
        let broken = r#"{"code":10000,"data":{"a":[1,2}}"#;
        assert!(matches!(parse(200, broken), Outcome::NonJson(_)));
        // Serialized, `data` is JSON again (not a string).
        let v = serde_json::to_value(&s).expect("serialize");
        assert_eq!(v["data"]["detections"][1]["id"], 2);
    }

    #[test]
    fn deeply_nested_json_does_not_overflow() {
        let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = non_json(parse(200, &arrays));
        assert!(
            e.reason.contains("recursion limit exceeded"),
            "{}",
            e.reason
        );
        assert!(e.excerpt.chars().count() <= EXCERPT_MAX_CHARS + 1);
        let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        assert!(matches!(parse(200, &objects), Outcome::NonJson(_)));
        let inside = format!(r#"{{"code":10000,"data":{arrays}}}"#);
        assert!(matches!(parse(200, &inside), Outcome::NonJson(_)));
    }

    #[test]
    fn excerpt_limits_and_terminal_safety() {
        let many_lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let e = non_json(parse_response(500, None, many_lines.as_bytes()));
        assert_eq!(e.excerpt.lines().count(), EXCERPT_MAX_LINES + 1);
        assert!(e.excerpt.ends_with('…'));
        let long = "y".repeat(10_000);
        let e = non_json(parse_response(500, None, long.as_bytes()));
        assert_eq!(e.excerpt.chars().count(), EXCERPT_MAX_CHARS + 1);
        let e = non_json(parse_response(
            500,
            None,
            b"evil \x1b[2J\x07 text \xe2\x80\xae",
        ));
        assert!(!e.excerpt.contains('\u{1b}'));
        assert!(!e.excerpt.contains('\u{202E}'));
        let outcome = parse(400, "{\"code\":50412,\"message\":\"a\\nb\\u001b[31m\"}");
        let summary = outcome.summary();
        assert!(
            !summary.contains('\n') && !summary.contains('\u{1b}'),
            "{summary}"
        );
    }

    #[test]
    fn go_durations() {
        let ok = [
            ("7.545501615s", Duration::from_nanos(7_545_501_615)),
            ("104.85ms", Duration::from_nanos(104_850_000)),
            ("84.448µs", Duration::from_nanos(84_448)),
            ("84.448μs", Duration::from_nanos(84_448)),
            ("84.448us", Duration::from_nanos(84_448)),
            ("12ns", Duration::from_nanos(12)),
            ("1m30.5s", Duration::from_millis(90_500)),
            ("2h3m4.5s", Duration::from_millis(7_384_500)),
            ("1.5h", Duration::from_secs(5400)),
            ("0s", Duration::ZERO),
            ("0", Duration::ZERO),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            (" 3s ", Duration::from_secs(3)),
            ("1.0000000000000000000001s", Duration::from_secs(1)),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_go_duration(text), Some(expected), "{text}");
        }
        let bad = [
            "",
            " ",
            "s",
            ".s",
            ".",
            "1",
            "12",
            "-1s",
            "+1s",
            "1 s",
            "1S",
            "1sec",
            "1d",
            "1e3s",
            "1..5s",
            "1.5.5s",
            "1s2",
            "abc",
            "2562047h47m16.854775808s",
            "9999999999999999999999999999999999999999h",
            "99999999999999999999h",
            "7.5s\u{0}",
        ];
        for text in bad {
            assert_eq!(parse_go_duration(text), None, "{text:?}");
        }
    }

    /// Deterministic xorshift64* generator for the fuzz loops.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    fn exercise(outcome: &Outcome) {
        let _ = outcome.summary();
        let _ = outcome.retry();
        let _ = outcome.code();
        let _ = outcome.request_id();
        let _ = outcome.is_success();
        serde_json::to_string(outcome).expect("an outcome always serializes");
    }

    #[test]
    fn nothing_panics_on_random_or_mutated_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let statuses = [200u16, 400, 401, 429, 500, 502, 503];
        let content_types = [None, JSON, Some("text/html"), Some("text/plain")];
        let interesting: &[u8] = b"{}[]\",:0123456789.-eE\\ntrufals\xc2\xb5<>\x00\xff\xc3";

        for round in 0..3000 {
            let status = statuses[rng.below(statuses.len())];
            let ct = content_types[rng.below(content_types.len())];
            let mut body: Vec<u8> = if round % 2 == 0 {
                let len = rng.below(200);
                (0..len)
                    .map(|_| {
                        if rng.below(2) == 0 {
                            interesting[rng.below(interesting.len())]
                        } else {
                            (rng.next() & 0xFF) as u8
                        }
                    })
                    .collect()
            } else {
                SAMPLE.as_bytes().to_vec()
            };
            if round % 2 == 1 {
                for _ in 0..=rng.below(4) {
                    match rng.below(4) {
                        0 if !body.is_empty() => {
                            let i = rng.below(body.len());
                            body[i] = interesting[rng.below(interesting.len())];
                        }
                        1 => {
                            let i = rng.below(body.len() + 1);
                            body.insert(i, (rng.next() & 0xFF) as u8);
                        }
                        2 if !body.is_empty() => {
                            let i = rng.below(body.len());
                            body.remove(i);
                        }
                        _ => body.truncate(rng.below(body.len() + 1)),
                    }
                }
            }
            exercise(&parse_response(status, ct, &body));
            let wrapped = [
                b"{\"ResponseMetadata\":{},\"Result\":".as_slice(),
                &body,
                b"}",
            ]
            .concat();
            exercise(&parse_response(status, ct, &wrapped));

            let alphabet = [
                "0", "1", "9", ".", "s", "m", "h", "ns", "µs", "μs", "us", "-", "+", "x",
            ];
            let text: String = (0..rng.below(12))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let _ = parse_go_duration(&text);
            let _ = parse_go_duration(&String::from_utf8_lossy(&body));
        }
    }
}
