//! Making untrusted text (server messages, bodies, headers) safe to print on a terminal.

/// Escapes everything that could drive a terminal or reorder text: C0 and C1 control
/// characters (ESC, BEL, NUL, CSI...), DEL, and Unicode bidi overrides/isolates. `\n` and `\t`
/// are kept when `keep_newlines` is set. Escapes look like `\x1b` and `\u{202e}`.
pub fn escape_terminal(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' if keep_newlines => out.push(c),
            c if is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Serializes JSON for a terminal: serde_json already escapes C0 control characters; this also
/// writes C1 controls (U+0080..U+009F: 8-bit CSI, OSC, ST, which some terminals obey) and bidi
/// overrides and isolates as `\u` escapes of four hex digits (still valid JSON, same value), so a
/// server-sent string can neither drive the terminal nor reorder what a person sees. Every
/// `--json` output goes through here.
pub fn json_for_terminal(v: &serde_json::Value) -> String {
    let s = v.to_string();
    let risky = |c: char| is_bidi_control(c) || ('\u{80}'..='\u{9f}').contains(&c);
    if !s.chars().any(risky) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if risky(c) {
            // Outside strings JSON has only ASCII, so these are always inside one.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// A size in human units, powers of 1000 as the service's limits are written: `812 B`,
/// `213 KB`, `4.5 MB`, `1.2 GB`. The one size format of the CLI and the TUI.
pub fn human_size(n: u64) -> String {
    let f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.1} GB", f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.1} MB", f / 1e6)
    } else if n >= 1000 {
        format!("{} KB", n / 1000)
    } else {
        format!("{n} B")
    }
}

/// A duration as `1.52s` or `850ms`: the one short duration format of the CLI and the TUI.
pub fn fmt_duration(d: std::time::Duration) -> String {
    if d.as_millis() >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `1 value`, `3 values`: a count with its noun in the right number (`noun` is the singular;
/// the plural adds `s`).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Shortens text to at most `max` characters, marking the cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Reads the local UTC offset once. Call it first thing in `main`, while the process has one
/// thread: the `time` crate refuses to read it later (and each refusal reads `/proc`).
pub fn init_local_offset() {
    let _ =
        LOCAL_OFFSET.set(time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC));
}

/// The local offset read by [`init_local_offset`] (UTC when it was not read or unknown).
pub fn local_offset() -> time::UtcOffset {
    LOCAL_OFFSET.get().copied().unwrap_or(time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_read_as_people_write_them() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(213_400), "213 KB");
        assert_eq!(human_size(14_295_974), "14.3 MB");
        assert_eq!(human_size(1_200_000_000), "1.2 GB");
        assert_eq!(count(1, "value"), "1 value");
        assert_eq!(count(0, "image file"), "0 image files");
        assert_eq!(count(3, "value"), "3 values");
    }

    #[test]
    fn escapes_controls_and_bidi() {
        let s = "ok\x1b[31mred\x07\0\u{202e}evil\u{9b}x\ny";
        assert_eq!(
            escape_terminal(s, true),
            "ok\\x1b[31mred\\x07\\x00\\u{202e}evil\\x9bx\ny"
        );
        assert_eq!(escape_terminal("a\nb", false), "a\\x0ab");
        assert_eq!(escape_terminal("生成 ok", false), "生成 ok");
    }

    #[test]
    fn json_for_terminal_escapes_bidi_and_stays_the_same_value() {
        let v = serde_json::json!({"m": "a\u{202e}b\u{1b}c"});
        let s = json_for_terminal(&v);
        assert_eq!(s, r#"{"m":"a\u202eb\u001bc"}"#);
        let back: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn json_for_terminal_escapes_c1_controls() {
        let v = serde_json::json!({"m": "a\u{9b}2Jb\u{9d}0;t\u{9c}c\u{80}\u{9f}é"});
        let s = json_for_terminal(&v);
        assert_eq!(s, r#"{"m":"a\u009b2Jb\u009d0;t\u009cc\u0080\u009fé"}"#);
        assert!(
            !s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
            "{s}"
        );
        let back: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn truncates_by_chars() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("生成生成", 10), "生成生成");
    }
}
