//! Bodies that are not JSON: HTML error pages (their title), plain text, empty or binary bodies,
//! kept as a short, terminal-safe excerpt with the reason.

use super::summary::is_unsafe_char;
use super::{EXCERPT_MAX_CHARS, EXCERPT_MAX_LINES, NonJsonBody, Outcome, SCAN_BYTES};

/// Whether a (lossily decoded) body looks like an HTML page.
pub(super) fn looks_html(content_type: Option<&str>, head: &str) -> bool {
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
pub(super) fn excerpt(text: &str, title: Option<&str>) -> String {
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

pub(super) fn non_json(
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
