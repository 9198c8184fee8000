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
//!
//! The sample answer of the reference, and a moderation refusal:
//!
//! ```rust
//! use std::time::Duration;
//! use volcv::api::codes::Retry;
//! use volcv::api::response::{Outcome, ResultImage, parse_response};
//!
//! let sample = br#"{"code": 10000, "data": {
//!     "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
//!     "binary_data_base64": [], "image_urls": ["https://xxx"],
//!     "pe_result": "", "predict_tags_result": "", "rephraser_result": "",
//!     "request_id": "cece14795209cf7e39a9d3060c02e28542d96808f7413e2e7d2fdb86510655d5"},
//!   "message": "Success", "request_id": "2024110517020569520218533D2EA96060",
//!   "status": 10000, "time_elapsed": "7.545501615s"}"#;
//! let Outcome::Success(ok) = parse_response(200, Some("application/json"), sample) else {
//!     panic!("the sample is a success");
//! };
//! assert_eq!(ok.request_id.as_deref(), Some("2024110517020569520218533D2EA96060"));
//! assert_eq!(ok.time_elapsed, Some(Duration::from_nanos(7_545_501_615)));
//! assert_eq!(ok.images, [ResultImage::Url("https://xxx".to_owned())]);
//! assert_eq!(ok.rephraser_result, None); // empty strings are absent
//!
//! let refused = br#"{"code": 50412, "message": "Text Risk Not Pass", "data": null}"#;
//! let outcome = parse_response(400, Some("application/json"), refused);
//! assert!(matches!(outcome, Outcome::Service(_)));
//! assert_eq!((outcome.code(), outcome.retry()), (Some(50412), Retry::No));
//! ```

use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::api::codes::{CodeInfo, GatewayCodeInfo, Retry};

mod envelope;
mod fields;
mod not_json;
mod summary;

use envelope::parse_json;
pub use fields::parse_go_duration;
use not_json::{looks_html, non_json};
use summary::{one_line, success_summary};

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

#[cfg(test)]
mod tests;
