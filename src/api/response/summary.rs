//! One-line summaries of outcomes for lists and status lines: counts, and text made safe and
//! short for a terminal.

use super::{ResultImage, Success};

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub(super) fn success_summary(s: &Success) -> String {
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
pub(super) fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Squashes text onto one line: whitespace runs become one space, other unsafe characters
/// U+FFFD, and the result is cut to `max` characters with an ellipsis.
pub(super) fn one_line(s: &str, max: usize) -> String {
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
