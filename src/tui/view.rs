//! What the Response pane shows about one exchange, prepared by the worker so that drawing is
//! only copying visible lines.

use crate::store::OutcomeKind;
use crate::tui::doc::{Doc, DocLine, Tok};
use std::path::PathBuf;

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

/// Everything the Response pane shows about one finished exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseView {
    /// How it ended.
    pub verdict: Verdict,
    /// The summary header: status, code and meaning, message, ids, timings, attempts, advice.
    pub summary: Vec<DocLine>,
    /// The Body tab.
    pub body: Doc,
    /// The Request tab.
    pub request: Doc,
    /// The Headers tab.
    pub headers: Doc,
    /// The Images tab.
    pub images: Vec<ImageItem>,
    /// The first request id (service or gateway), for copying.
    pub request_id: Option<String>,
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
            request,
            headers: Doc::plain("(no response headers)"),
            images: Vec::new(),
            request_id: None,
        }
    }
}

/// A duration as `1.52s` or `850ms`.
pub fn fmt_duration(d: std::time::Duration) -> String {
    if d.as_millis() >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}
