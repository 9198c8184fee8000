//! A string that must never be printed, logged or serialized by accident, and the last line
//! of defence for panics: every secret this process has seen is remembered, and the panic hook
//! ([`install_panic_hook`]) scrubs them from a panic's message before printing it.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Every secret value this process has seen (API keys, secret keys, access keys), for
/// [`scrub`]. Values shorter than [`MIN_SCRUBBED`] are not kept (they would scrub ordinary
/// text); no real key is that short.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Shorter values are not scrubbed.
pub const MIN_SCRUBBED: usize = 6;

/// Remembers `value` as a secret, so [`scrub`] (and the panic hook) replace it.
pub fn remember(value: &str) {
    if value.chars().count() < MIN_SCRUBBED {
        return;
    }
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    if !seen.iter().any(|s| s == value) {
        seen.push(value.to_owned());
        // Longest first, so a secret that contains another is replaced whole.
        seen.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for s in seen.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// Encoded forms shorter than this are not scrubbed (they would match ordinary text).
const MIN_ENCODED: usize = 8;

/// The forms in which `secret` may come back in an answer: raw, as a JSON string escapes it,
/// percent-encoded, hex (both cases), and base64 (standard and URL-safe, at each of the three
/// alignments inside a longer encoded text, e.g. an `Authorization` header echoed in base64).
fn forms(secret: &str, out: &mut Vec<Vec<u8>>) {
    use base64::Engine as _;
    let mut push = |form: Vec<u8>, min: usize| {
        if form.len() >= min && !out.contains(&form) {
            out.push(form);
        }
    };
    push(secret.as_bytes().to_vec(), MIN_SCRUBBED);
    if let Ok(json) = serde_json::to_string(secret) {
        let inner = &json[1..json.len() - 1];
        push(inner.as_bytes().to_vec(), MIN_ENCODED);
        // serde_json leaves `/` alone; other writers escape it as `\/`.
        push(inner.replace('/', "\\/").into_bytes(), MIN_ENCODED);
    }
    let pct = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC);
    push(pct.to_string().into_bytes(), MIN_ENCODED);
    push(hex::encode(secret).into_bytes(), MIN_ENCODED);
    push(hex::encode_upper(secret).into_bytes(), MIN_ENCODED);
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(secret.as_bytes());
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ] {
            let e = engine.encode(&bytes);
            // Characters that also encode a neighbour's bits are left out: four at each end
            // covers every alignment and the padding.
            let (start, end) = (if pad == 0 { 0 } else { 4 }, e.len().saturating_sub(4));
            if start < end {
                push(e.as_bytes()[start..end].to_vec(), MIN_ENCODED);
            }
        }
    }
}

/// Replaces known secrets in answers: every secret this process has seen (see [`remember`])
/// and any extra values (the `Authorization` header as sent, signature included), in each of
/// the forms listed by `forms`. Built per answer; cheap next to the network.
pub struct Scrubber {
    finders: Vec<memchr::memmem::Finder<'static>>,
}

impl Scrubber {
    /// A scrubber for every remembered secret and `extra`.
    pub fn new(extra: &[&str]) -> Scrubber {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        {
            let seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
            for s in seen.iter() {
                forms(s, &mut needles);
            }
        }
        for s in extra {
            if s.chars().count() >= MIN_SCRUBBED {
                forms(s, &mut needles);
            }
        }
        // Longest first, so a form that contains another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Scrubber {
            finders: needles
                .into_iter()
                .map(|n| memchr::memmem::Finder::new(&n).into_owned())
                .collect(),
        }
    }

    /// `bytes` with every secret form replaced by [`REDACTED`], and how many were replaced.
    /// `None` when there was nothing to replace (the common case, which copies nothing).
    pub fn bytes(&self, bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut current: Option<Vec<u8>> = None;
        let mut count = 0;
        for f in &self.finders {
            let hay = current.as_deref().unwrap_or(bytes);
            if f.find(hay).is_none() {
                continue;
            }
            let needle_len = f.needle().len();
            let mut out = Vec::with_capacity(hay.len());
            let mut last = 0;
            for at in f.find_iter(hay) {
                if at < last {
                    continue;
                }
                out.extend_from_slice(&hay[last..at]);
                out.extend_from_slice(REDACTED.as_bytes());
                last = at + needle_len;
                count += 1;
            }
            out.extend_from_slice(&hay[last..]);
            current = Some(out);
        }
        current.map(|c| (c, count))
    }

    /// [`Scrubber::bytes`] for text; returns the text unchanged when nothing matched.
    pub fn text(&self, text: &str, count: &mut usize) -> String {
        match self.bytes(text.as_bytes()) {
            Some((b, n)) => {
                *count += n;
                // Only ASCII was spliced in at places where whole UTF-8 needles matched.
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
            None => text.to_owned(),
        }
    }
}

/// Installs a panic hook that prints what the default one does (thread, location, message,
/// and a backtrace when `RUST_BACKTRACE` asks for one) with every remembered secret scrubbed
/// from the message. Hooks installed later (the TUI's terminal restore) run before it.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write as _;
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_owned());
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        let trailer = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("stack backtrace:\n{backtrace}"),
            _ => "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
                .to_owned(),
        };
        let _ = writeln!(
            std::io::stderr().lock(),
            "\nthread '{name}' panicked at {location}:\n{}\n{}",
            scrub(&message),
            scrub(&trailer)
        );
    }));
}

/// A secret value (API key, access key, secret key). `Debug` and `Display` print a fixed
/// redaction marker; the value is reachable only through [`Secret::expose`], which makes every
/// place that handles the raw value easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What a secret is shown as wherever it would otherwise appear.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// A secret; its value is also remembered for [`scrub`].
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Self(value)
    }

    /// The raw value. Call only where the value must go on the wire or into a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string (an unset key read from an empty variable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(s.expose(), "sk-very-secret");
    }

    #[test]
    fn scrub_replaces_every_secret_seen_and_ignores_tiny_values() {
        let _a = Secret::new("sk-scrub-me-4711");
        let _b = Secret::new("abc");
        remember("AKLTscrubbedAccess");
        let text = "key sk-scrub-me-4711, ak AKLTscrubbedAccess, and abc stays";
        assert_eq!(scrub(text), "key <redacted>, ak <redacted>, and abc stays");
    }
}
