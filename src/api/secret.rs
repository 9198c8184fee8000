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
