//! Tolerant readers of envelope fields: integers and text in whatever JSON type a relay sends
//! them, image lists, elapsed times (including Go's `time.Duration` strings), the envelope's code.

use serde_json::{Map, Value};

use crate::api::codes;
use std::time::Duration;

/// An integer from a JSON number (integral floats too) or a numeric string.
pub(super) fn as_int(v: &Value) -> Option<i64> {
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
pub(super) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty text field: strings as they are, scalars rendered, arrays/objects as compact
/// JSON; `None` for missing, null and empty strings.
pub(super) fn opt_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(_) | Value::Object(_) => v.map(Value::to_string),
        other => as_text(other),
    }
}

/// A string list: an array's non-empty strings, or one non-empty string.
pub(super) fn string_list(v: Option<&Value>) -> Vec<String> {
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
pub(super) fn parse_elapsed(v: &Value) -> Option<Duration> {
    match v {
        Value::String(s) => {
            parse_go_duration(s).or_else(|| s.trim().parse::<f64>().ok().and_then(secs_f64))
        }
        Value::Number(n) => n.as_f64().and_then(secs_f64),
        _ => None,
    }
}

pub(super) fn algorithm_status(data: &Value) -> Option<(i64, String)> {
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
pub(super) fn envelope_code(obj: &Map<String, Value>) -> Option<i64> {
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
