//! Go's `time.Duration` text form, which the service uses for `time_elapsed` (`"7.545501615s"`,
//! `"104.85ms"`, `"84.448µs"`), and a parser for the same syntax (`1.5s`, `250ms`, `1m30s`) used
//! by the mock's options and its `[mock:slow=...]` trigger.

use std::time::Duration;

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Formats a duration exactly as Go's `Duration.String()` does: `0s`, `850ns`, `84.448µs`,
/// `104.85ms`, `7.545501615s`, `1m0.5s`, `2h3m4s`. Durations beyond Go's range (about 292
/// years) are clamped to it.
pub fn format_go(d: Duration) -> String {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).min(i64::MAX as u64);
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < NANOS_PER_MICRO {
        return format!("{ns}ns");
    }
    if ns < NANOS_PER_MILLI {
        return format!("{}µs", with_fraction(ns, NANOS_PER_MICRO));
    }
    if ns < NANOS_PER_SEC {
        return format!("{}ms", with_fraction(ns, NANOS_PER_MILLI));
    }
    let secs = ns / NANOS_PER_SEC;
    let frac = fraction_digits(ns % NANOS_PER_SEC, NANOS_PER_SEC);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let s = format!("{s}{frac}s");
    if h > 0 {
        format!("{h}h{m}m{s}")
    } else if m > 0 {
        format!("{m}m{s}")
    } else {
        s
    }
}

/// `v / unit` with its fractional digits, trailing zeros (and a bare point) removed.
fn with_fraction(v: u64, unit: u64) -> String {
    format!("{}{}", v / unit, fraction_digits(v % unit, unit))
}

/// `.ddd` for `rem / unit` (`unit` a power of ten), without trailing zeros; empty for zero.
fn fraction_digits(rem: u64, unit: u64) -> String {
    if rem == 0 {
        return String::new();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// Parses Go duration syntax: one or more `<decimal><unit>` terms with units `ns`, `us` (or
/// `µs`), `ms`, `s`, `m`, `h`, e.g. `1.5s`, `250ms`, `1m30s`. A bare `0` is accepted. Negative
/// durations are rejected.
pub fn parse_go(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    if s.starts_with('-') {
        return Err(format!("duration {text:?} is negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: bad number {num:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "missing unit in duration {text:?} (use ms, s, m or h)"
                ));
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {text:?} (use ns, us, ms, s, m or h)"
                ));
            }
        };
        total += value * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("duration {text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (84_448, "84.448µs"),
            (1_100, "1.1µs"),
            (104_850_000, "104.85ms"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (7_545_501_615, "7.545501615s"),
            (60_000_000_000, "1m0s"),
            (90_500_000_000, "1m30.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (7_384_000_000_000, "2h3m4s"),
        ];
        for &(ns, want) in cases {
            assert_eq!(format_go(Duration::from_nanos(ns)), want, "{ns} ns");
        }
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse_go("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_go("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go(" 0 "), Ok(Duration::ZERO));
        for bad in ["", "5", "-1s", "1x", "s", "1.2.3s", ".s"] {
            assert!(parse_go(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for ns in [1u64, 84_448, 104_850_000, 7_545_501_615, 3_723_000_000_000] {
            let d = Duration::from_nanos(ns);
            let back = parse_go(&format_go(d)).expect("parses");
            let diff = back.as_nanos().abs_diff(d.as_nanos());
            assert!(diff <= 1, "{ns}: {back:?}");
        }
    }
}
