//! Small generic helpers the mock's modules share: poison-tolerant locking, the Unix clock,
//! query decoding, constant-time comparison and log-line formatting. They know nothing of the
//! mock's state, so every sibling may use them.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Locks a mutex, ignoring poisoning (every critical section leaves its data consistent).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Query pairs, decoded as the service's gateway decodes them (`+` is a space).
pub(super) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Compares two byte strings in time independent of where they differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Client-supplied text made safe for a log line: printable ASCII only, at most 64 chars.
pub(super) fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// `12.3ms`, `1.25s`: short enough for a log line.
pub(super) fn log_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        assert_eq!(
            query_pairs(Some(
                "Action=CVProcess&Version=2022-08-31&x=a%20b+c%2B&flag"
            )),
            [
                ("Action".to_owned(), "CVProcess".to_owned()),
                ("Version".to_owned(), "2022-08-31".to_owned()),
                ("x".to_owned(), "a b c+".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }

    #[test]
    fn log_text_is_tamed() {
        assert_eq!(printable("CV\x1b[31mProcess"), "CV?[31mProcess");
        assert_eq!(log_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(log_duration(Duration::from_millis(1250)), "1.25s");
    }
}
