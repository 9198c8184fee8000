//! Pre-laid-out text for the Response pane: pretty JSON with base64 shown as chips, plain
//! text made safe for the terminal. Built once in the worker, never on the UI task; the
//! renderer only styles the lines that are visible.

use serde_json::Value;

/// What a piece of text is, so the theme can colour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// Text without a role.
    Plain,
    /// A JSON object key.
    Key,
    /// A JSON string.
    Str,
    /// A JSON number.
    Num,
    /// A JSON boolean.
    Bool,
    /// JSON null.
    Null,
    /// Brackets, commas, colons.
    Punct,
    /// A shortened base64 string, e.g. `<jpeg 1024x1024, 213 KB>`.
    Chip,
    /// Secondary text.
    Dim,
    /// Errors.
    Error,
}

/// One line: pieces of classified text.
pub type DocLine = Vec<(Tok, String)>;

/// A document of lines, ready to draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// The lines, top to bottom.
    pub lines: Vec<DocLine>,
}

impl Doc {
    /// The document as plain text (what `y` copies).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            for (_, t) in l {
                s.push_str(t);
            }
            s.push('\n');
        }
        s
    }

    /// Plain text, one line per line, with control characters escaped and very long lines
    /// (a minified page) cut so drawing stays cheap.
    pub fn plain(text: &str) -> Doc {
        Doc {
            lines: text
                .lines()
                .map(|l| {
                    let l = if l.len() > LONG_STRING {
                        let cut: String = l.chars().take(LONG_STRING).collect();
                        format!("{cut}… ({} chars)", l.chars().count())
                    } else {
                        l.to_owned()
                    };
                    vec![(Tok::Plain, escape(&l))]
                })
                .collect(),
        }
    }

    /// Pretty JSON of `v`, two-space indents, base64 strings shortened to chips.
    pub fn json(v: &Value) -> Doc {
        let mut d = Doc::default();
        let mut cur: DocLine = Vec::new();
        write_value(v, 0, &mut cur, &mut d.lines);
        if !cur.is_empty() {
            d.lines.push(cur);
        }
        d
    }
}

/// Strings at least this long are checked for base64.
const CHIP_MIN: usize = 200;
/// Other strings are cut at this many characters.
const LONG_STRING: usize = 2000;

fn write_value(v: &Value, indent: usize, cur: &mut DocLine, out: &mut Vec<DocLine>) {
    let pad = |n: usize| "  ".repeat(n);
    match v {
        Value::Null => cur.push((Tok::Null, "null".into())),
        Value::Bool(b) => cur.push((Tok::Bool, b.to_string())),
        Value::Number(n) => cur.push((Tok::Num, n.to_string())),
        Value::String(s) => match chip(s) {
            Some(c) => cur.push((Tok::Chip, c)),
            None => cur.push((Tok::Str, quote(s))),
        },
        Value::Array(items) if items.is_empty() => cur.push((Tok::Punct, "[]".into())),
        Value::Object(map) if map.is_empty() => cur.push((Tok::Punct, "{}".into())),
        Value::Array(items) => {
            cur.push((Tok::Punct, "[".into()));
            out.push(std::mem::take(cur));
            for (i, item) in items.iter().enumerate() {
                cur.push((Tok::Plain, pad(indent + 1)));
                write_value(item, indent + 1, cur, out);
                if i + 1 < items.len() {
                    cur.push((Tok::Punct, ",".into()));
                }
                out.push(std::mem::take(cur));
            }
            cur.push((Tok::Plain, pad(indent)));
            cur.push((Tok::Punct, "]".into()));
        }
        Value::Object(map) => {
            cur.push((Tok::Punct, "{".into()));
            out.push(std::mem::take(cur));
            let n = map.len();
            for (i, (k, item)) in map.iter().enumerate() {
                cur.push((Tok::Plain, pad(indent + 1)));
                cur.push((Tok::Key, quote(k)));
                cur.push((Tok::Punct, ": ".into()));
                write_value(item, indent + 1, cur, out);
                if i + 1 < n {
                    cur.push((Tok::Punct, ",".into()));
                }
                out.push(std::mem::take(cur));
            }
            cur.push((Tok::Plain, pad(indent)));
            cur.push((Tok::Punct, "}".into()));
        }
    }
}

fn quote(s: &str) -> String {
    let s = if s.chars().count() > LONG_STRING {
        let cut: String = s.chars().take(LONG_STRING).collect();
        format!("{cut}… ({} chars)", s.chars().count())
    } else {
        s.to_owned()
    };
    escape(&serde_json::to_string(&s).unwrap_or_default())
}

/// Escapes control characters and bidi overrides so untrusted text cannot drive the terminal.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => {
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

/// What a base64 image string holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Facts {
    /// `jpeg`, `png`, or `base64` when the bytes are not a known image.
    pub format: &'static str,
    /// Width and height, when the header tells.
    pub dims: Option<(u32, u32)>,
    /// The decoded size in bytes.
    pub bytes: usize,
}

/// What a base64 string holds, from its first bytes only (cheap for megabytes of base64).
pub fn describe_base64(s: &str) -> Option<Base64Facts> {
    use base64::Engine as _;
    let t = s.trim();
    if t.len() < 8
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return None;
    }
    let head_len = t.len().min(64 * 1024) / 4 * 4;
    let head = base64::engine::general_purpose::STANDARD
        .decode(&t.as_bytes()[..head_len])
        .ok()?;
    let padding = t.bytes().rev().take_while(|b| *b == b'=').count();
    let size = t.len() / 4 * 3 - padding.min(2);
    let format = crate::tui::form::sniff(&head);
    let dims = format.and_then(|_| dimensions(&head));
    Some(Base64Facts {
        format: format.map_or("base64", |f| if f == "JPEG" { "jpeg" } else { "png" }),
        dims,
        bytes: size,
    })
}

/// Width and height from an image header.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

fn chip(s: &str) -> Option<String> {
    if s.len() < CHIP_MIN {
        return None;
    }
    let Base64Facts {
        format,
        dims,
        bytes: size,
    } = describe_base64(s)?;
    let dims = dims.map(|(w, h)| format!(" {w}x{h}")).unwrap_or_default();
    Some(format!(
        "<{format}{dims}, {}>",
        crate::tui::form::human_size(size)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn png_b64(w: u32, h: u32) -> String {
        use base64::Engine as _;
        let img = image::RgbImage::new(w, h);
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn base64_images_become_chips() {
        let b = png_b64(64, 48);
        let padded = format!("{b}{}", "");
        let v = json!({"data": {"binary_data_base64": [padded], "n": 1, "ok": true, "x": null}});
        let text = Doc::json(&v).to_text();
        assert!(text.contains("<png 64x48, "), "{text}");
        assert!(!text.contains(&b[..40]), "{text}");
        assert!(text.contains("\"n\": 1,"));
        assert!(text.contains("\"x\": null"));
    }

    #[test]
    fn pretty_json_shape_and_escapes() {
        let v = json!({"a": [1, {"b": "x\u{1b}[31m"}], "e": [], "o": {}});
        assert_eq!(
            Doc::json(&v).to_text(),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x\\u001b[31m\"\n    }\n  ],\n  \"e\": [],\n  \"o\": {}\n}\n"
        );
        assert_eq!(Doc::plain("a\x1bb\u{202e}").to_text(), "a\\x1bb\\u{202e}\n");
    }

    #[test]
    fn long_non_base64_strings_are_cut() {
        let s = "é".repeat(3000);
        let text = Doc::json(&json!(s)).to_text();
        assert!(text.contains("(3000 chars)"));
    }
}
