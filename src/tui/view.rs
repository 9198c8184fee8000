//! What the Response pane shows about one exchange ([`view_of`], the view model), prepared on
//! the worker's blocking pool so that drawing is only copying visible lines.

use crate::api::client::Exchange;
use crate::api::response::{Outcome, ResultImage};
use crate::images;
use crate::store::OutcomeKind;
use crate::tui::doc::{Base64Facts, Doc, DocLine, Tok, describe_base64};
use crate::tui::form::human_size;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How an exchange ended, derived from the history's [`OutcomeKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Code 10000.
    Success,
    /// A business error code from the service.
    Service,
    /// A gateway error (`ResponseMetadata.Error`).
    Gateway,
    /// A relay's own error shape.
    Relay,
    /// A body that is not JSON (HTML, plain text).
    NonJson,
    /// No usable HTTP answer (connect, timeout, body too large).
    Transport,
    /// Cancelled by the user.
    Cancelled,
}

impl From<OutcomeKind> for Verdict {
    /// The history's outcome kind as the Response pane shows it; `pending` and `interrupted`
    /// (no answer recorded) show as a transport failure.
    fn from(kind: OutcomeKind) -> Verdict {
        match kind {
            OutcomeKind::Success => Verdict::Success,
            OutcomeKind::ServiceError => Verdict::Service,
            OutcomeKind::GatewayError => Verdict::Gateway,
            OutcomeKind::RelayError => Verdict::Relay,
            OutcomeKind::NonJson => Verdict::NonJson,
            OutcomeKind::Cancelled => Verdict::Cancelled,
            OutcomeKind::TransportError | OutcomeKind::Pending | OutcomeKind::Interrupted => {
                Verdict::Transport
            }
        }
    }
}

impl Verdict {
    /// The glyph used in the history list.
    pub fn glyph(self) -> &'static str {
        match self {
            Verdict::Success => "✔",
            Verdict::Cancelled => "⊘",
            _ => "✘",
        }
    }

    /// Whether this is a success.
    pub fn is_ok(self) -> bool {
        self == Verdict::Success
    }
}

/// Where a result image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    /// Being decoded or downloaded and saved.
    Saving,
    /// Saved to this file.
    Saved(PathBuf),
    /// Could not be saved.
    Failed(String),
    /// The request's reference image (not saved again).
    Reference,
}

/// One image in the Images tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageItem {
    /// `result 1`, `reference`.
    pub label: String,
    /// `jpeg`, `png`, or `url` before a download.
    pub format: String,
    /// Width and height, when known.
    pub dims: Option<(u32, u32)>,
    /// Size in bytes, when known.
    pub bytes: Option<usize>,
    /// Saved, saving or failed.
    pub state: ImageState,
    /// For a URL result: when its signed URL expires (`expires 16:40 UTC`).
    pub expires: Option<String>,
}

/// Most bytes one `y` copies (OSC 52): terminals and tmux refuse bigger clipboard writes.
pub const COPY_CAP: usize = 100_000;

/// Everything the Response pane shows about one finished exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseView {
    /// How it ended.
    pub verdict: Verdict,
    /// The summary header: status, code and meaning, message, ids, timings, attempts, advice.
    pub summary: Vec<DocLine>,
    /// The Body tab.
    pub body: Doc,
    /// The body as received (lossy UTF-8), what `y` copies on the Body tab (the tab shows
    /// base64 strings as chips, the copy holds the data); kept only up to [`COPY_CAP`], the
    /// most a copy takes, so a big answer is not held twice.
    pub raw_body: Option<std::sync::Arc<str>>,
    /// The body's size in bytes (said when it is too big to copy).
    pub body_len: usize,
    /// The Request tab.
    pub request: Doc,
    /// The Headers tab.
    pub headers: Doc,
    /// The Images tab.
    pub images: Vec<ImageItem>,
    /// The first request id (service or gateway), for copying.
    pub request_id: Option<String>,
    /// The stem of the file names its images are saved under
    /// ([`crate::exchange::results::file_stem`]: `volcv-20261203-141502-3f9a1c2e`, as the CLI
    /// names them); empty for an exchange that never got an answer.
    pub file_stem: String,
}

impl ResponseView {
    /// A view for an exchange that never got an answer.
    pub fn transport(verdict: Verdict, message: &str, request: Doc, duration_text: &str) -> Self {
        let tok = if verdict == Verdict::Cancelled {
            Tok::Dim
        } else {
            Tok::Error
        };
        ResponseView {
            verdict,
            summary: vec![
                vec![(tok, format!("{} {message}", verdict.glyph()))],
                vec![
                    (Tok::Dim, "after ".into()),
                    (Tok::Plain, duration_text.to_owned()),
                ],
            ],
            body: Doc::plain("(no response body)"),
            raw_body: None,
            body_len: 0,
            request,
            headers: Doc::plain("(no response headers)"),
            images: Vec::new(),
            request_id: None,
            file_stem: String::new(),
        }
    }
}

pub use crate::text::fmt_duration;

/// Facts of a string that is not base64 at all.
const UNKNOWN: Base64Facts = Base64Facts {
    format: "?",
    dims: None,
    bytes: 0,
};

fn line(parts: &[(Tok, &str)]) -> DocLine {
    parts.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
}

fn label(name: &str, value: &str) -> DocLine {
    vec![
        (Tok::Dim, format!("{name}: ")),
        (Tok::Plain, crate::tui::doc::escape(value)),
    ]
}

/// Everything the Response pane shows about an exchange. Pure and possibly slow (it parses
/// and pretty-prints the whole body): run it on the blocking pool.
pub fn view_of(ex: &Exchange) -> ResponseView {
    let request = request_doc(ex);
    let timing = timing_line(ex, None);
    let verdict = Verdict::from(OutcomeKind::of(&ex.result));
    let outcome = match &ex.result {
        Err(e) => {
            let mut v = ResponseView::transport(
                verdict,
                &e.to_string(),
                request,
                &fmt_duration(ex.duration),
            );
            v.summary.push(attempts_line(ex));
            return v;
        }
        Ok(o) => o,
    };
    let status = ex
        .http_status
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let mut summary: Vec<DocLine> = Vec::new();
    match outcome {
        Outcome::Success(s) => {
            summary.push(line(&[
                (Tok::Plain, &format!("✔ {} success", s.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary[0][0].0 = Tok::Str;
            summary.push(label("message", &s.message));
            if let Some(r) = &s.request_id {
                summary.push(label("request_id", r));
            }
            if let Some(r) = &s.data_request_id
                && Some(r) != s.request_id.as_ref()
            {
                summary.push(label("data.request_id", r));
            }
            summary.push(timing_line(
                ex,
                server_time(s.time_elapsed, s.time_elapsed_raw.as_deref()).as_deref(),
            ));
            if let Some(r) = &s.rephraser_result {
                summary.push(label("rephrased", r));
            }
        }
        Outcome::Service(e) => {
            let meaning = e.info.map_or("unknown service code", |i| i.meaning);
            summary.push(line(&[
                (Tok::Error, &format!("✘ {} {meaning}", e.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some((code, msg)) = &e.algorithm_status
                && *code != 0
            {
                summary.push(label("algorithm", &format!("{code} {msg}")));
            }
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            let parsed = e
                .time_elapsed_raw
                .as_deref()
                .and_then(crate::api::response::parse_go_duration);
            summary.push(timing_line(
                ex,
                server_time(parsed, e.time_elapsed_raw.as_deref()).as_deref(),
            ));
        }
        Outcome::Gateway(e) => {
            let code = match e.code_n {
                Some(n) => format!("{n} {}", e.code),
                None => e.code.clone(),
            };
            summary.push(line(&[
                (Tok::Error, &format!("✘ gateway error {code}")),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            if let Some(i) = e.info {
                summary.push(label("meaning", i.meaning));
            }
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            summary.push(timing);
        }
        Outcome::Relay(e) => {
            summary.push(line(&[
                (Tok::Error, "✘ relay error"),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
        Outcome::NonJson(e) => {
            let ct = e.content_type.as_deref().unwrap_or("no content type");
            summary.push(line(&[
                (Tok::Error, &format!("✘ not JSON: {}", e.reason)),
                (
                    Tok::Dim,
                    &format!(" · HTTP {status} · {ct} · {}", human_size(e.len)),
                ),
            ]));
            for l in e.excerpt.lines().filter(|l| !l.trim().is_empty()).take(3) {
                summary.push(vec![
                    (Tok::Dim, "│ ".to_owned()),
                    (Tok::Plain, crate::tui::doc::escape(l.trim())),
                ]);
            }
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
    }
    // Straight from the bytes: no second parsed copy of a big body.
    let body = match Doc::json_text(&ex.response_bytes) {
        Ok(d) => d,
        Err(_) => {
            let text = String::from_utf8_lossy(&ex.response_bytes);
            if text.is_empty() {
                Doc::plain("(empty body)")
            } else {
                Doc::plain(&text)
            }
        }
    };
    let mut headers = Doc::default();
    for (k, v) in &ex.response_headers {
        headers.push([
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    headers.push(Vec::<(Tok, String)>::new());
    headers.push([(Tok::Dim, "attempts:")]);
    for (i, a) in ex.attempts.iter().enumerate() {
        headers.push([(
            Tok::Plain,
            format!(
                "  {} at +{} took {}: {}",
                i + 1,
                fmt_duration(a.at),
                fmt_duration(a.duration),
                crate::tui::doc::escape(&a.result)
            ),
        )]);
    }
    let mut images = Vec::new();
    if let Outcome::Success(s) = outcome {
        for (i, img) in s.images.iter().enumerate() {
            let label = format!("result {}", i + 1);
            images.push(match img {
                ResultImage::Base64(b) => {
                    let f = describe_base64(b).unwrap_or(UNKNOWN);
                    let (format, dims, bytes) = (f.format, f.dims, f.bytes);
                    ImageItem {
                        label,
                        format: format.to_uppercase(),
                        dims,
                        bytes: Some(bytes),
                        state: ImageState::Saving,
                        expires: None,
                    }
                }
                ResultImage::Url(u) => ImageItem {
                    label,
                    format: "url".to_owned(),
                    dims: None,
                    bytes: None,
                    state: ImageState::Saving,
                    expires: images::expiry_label(u, time::OffsetDateTime::now_utc()),
                },
            });
        }
    }
    if let Some(r) = reference_item(&ex.request_body) {
        images.push(r);
    }
    ResponseView {
        verdict,
        summary,
        body,
        raw_body: (ex.response_bytes.len() <= COPY_CAP)
            .then(|| std::sync::Arc::from(String::from_utf8_lossy(&ex.response_bytes))),
        body_len: ex.response_bytes.len(),
        request,
        headers,
        images,
        request_id: outcome.request_id().map(str::to_owned),
        file_stem: crate::exchange::results::file_stem(ex),
    }
}

/// The service's `time_elapsed`, shortened when it parses (`7.545501615s` -> `7.55s`).
fn server_time(parsed: Option<Duration>, raw: Option<&str>) -> Option<String> {
    parsed.map(fmt_duration).or_else(|| raw.map(str::to_owned))
}

fn timing_line(ex: &Exchange, server: Option<&str>) -> DocLine {
    let mut l = vec![(Tok::Dim, "time: ".to_owned())];
    if let Some(s) = server {
        l.push((Tok::Plain, format!("{} server", crate::tui::doc::escape(s))));
        l.push((Tok::Dim, " · ".to_owned()));
    }
    l.push((
        Tok::Plain,
        format!("{} measured", fmt_duration(ex.duration)),
    ));
    l.push((Tok::Dim, " · ".to_owned()));
    let n = ex.attempts.len();
    l.push((
        Tok::Plain,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    ));
    l
}

fn attempts_line(ex: &Exchange) -> DocLine {
    let n = ex.attempts.len();
    vec![(
        Tok::Dim,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    )]
}

fn reference_item(request_body: &str) -> Option<ImageItem> {
    let v: Value = serde_json::from_str(request_body).ok()?;
    let first = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(b) = first(crate::api::schema::REFERENCE_BASE64) {
        let f = describe_base64(&b).unwrap_or(UNKNOWN);
        let (format, dims, bytes) = (f.format, f.dims, f.bytes);
        return Some(ImageItem {
            label: "reference".to_owned(),
            format: format.to_uppercase(),
            dims,
            bytes: Some(bytes),
            state: ImageState::Reference,
            expires: None,
        });
    }
    first(crate::api::schema::REFERENCE_URL).map(|u| ImageItem {
        label: "reference".to_owned(),
        format: format!("url {}", crate::text::truncate_chars(&u, 60)),
        dims: None,
        bytes: None,
        state: ImageState::Reference,
        expires: None,
    })
}

fn request_doc(ex: &Exchange) -> Doc {
    request_doc_of(&ex.method, &ex.url, &ex.request_headers, &ex.request_body)
}

pub(crate) fn request_doc_of(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
) -> Doc {
    let mut d = Doc::default();
    d.push([(
        Tok::Plain,
        format!("{method} {}", crate::tui::doc::escape(url)),
    )]);
    for (k, v) in headers {
        d.push([
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    d.push(Vec::<(Tok, String)>::new());
    match Doc::json_text(body.as_bytes()) {
        Ok(j) => d.append(&j),
        Err(_) => d.append(&Doc::plain(body)),
    }
    d
}
