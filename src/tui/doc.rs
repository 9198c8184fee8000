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

/// One line: pieces of classified text (summary lines; a [`Doc`] stores its lines packed).
pub type DocLine = Vec<(Tok, String)>;

/// A document of lines, ready to draw. The text of every piece sits in one string and each
/// piece is an end offset and a kind, so a megabyte of pretty JSON (100 000 lines, several
/// pieces each) is a few allocations rather than hundreds of thousands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// The text of every piece, in order.
    text: String,
    /// Where each piece ends in `text`, and its kind.
    pieces: Vec<(u32, Tok)>,
    /// The index in `pieces` of each line's first piece.
    starts: Vec<u32>,
}

/// One line of a [`Doc`]: its pieces, as (kind, text).
#[derive(Debug, Clone)]
pub struct LineRef<'a> {
    doc: &'a Doc,
    next: usize,
    end: usize,
}

impl<'a> Iterator for LineRef<'a> {
    type Item = (Tok, &'a str);

    fn next(&mut self) -> Option<(Tok, &'a str)> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(self.doc.piece(i))
    }
}

impl Doc {
    /// How many lines.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn piece(&self, i: usize) -> (Tok, &str) {
        let from = if i == 0 {
            0
        } else {
            self.pieces[i - 1].0 as usize
        };
        let (to, tok) = self.pieces[i];
        (tok, &self.text[from..to as usize])
    }

    /// Line `i`'s pieces.
    pub fn line(&self, i: usize) -> Option<LineRef<'_>> {
        let start = *self.starts.get(i)? as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.pieces.len(), |e| *e as usize);
        Some(LineRef {
            doc: self,
            next: start,
            end,
        })
    }

    /// The lines from `first` on (what a view scrolled to `first` shows).
    pub fn lines_from(&self, first: usize) -> impl Iterator<Item = LineRef<'_>> {
        (first.min(self.len())..self.len()).filter_map(|i| self.line(i))
    }

    /// Line `i` wrapped at `width` display columns (a wide character, CJK for one, takes two;
    /// a row never breaks inside a character): its rows, each a list of pieces. An empty or
    /// missing line is one empty row; a width of 0 counts as 1.
    pub fn wrapped(&self, i: usize, width: usize) -> Vec<Vec<(Tok, &str)>> {
        let width = width.max(1);
        let mut rows: Vec<Vec<(Tok, &str)>> = vec![Vec::new()];
        let mut col = 0;
        for (tok, s) in self.line(i).into_iter().flatten() {
            let mut start = 0;
            for (at, c) in s.char_indices() {
                let w = char_width(c);
                if col + w > width && col > 0 {
                    if at > start
                        && let Some(r) = rows.last_mut()
                    {
                        r.push((tok, &s[start..at]));
                    }
                    rows.push(Vec::new());
                    start = at;
                    col = 0;
                }
                col += w;
            }
            if s.len() > start
                && let Some(r) = rows.last_mut()
            {
                r.push((tok, &s[start..]));
            }
        }
        rows
    }

    /// How many rows line `i` takes wrapped at `width` (at least one).
    pub fn rows(&self, i: usize, width: usize) -> usize {
        self.wrapped(i, width).len()
    }

    /// The last scroll position, as (top line, rows of it skipped): where the last row of the
    /// document is the last row of a view `height` rows high and `width` columns wide (the
    /// top when it all fits).
    pub fn last_position(&self, height: usize, width: usize) -> (usize, usize) {
        let height = height.max(1);
        let mut used = 0;
        let mut top = self.len();
        while top > 0 {
            let r = self.rows(top - 1, width);
            if used + r > height {
                if used == height {
                    return (top, 0);
                }
                // Part of this line shows: skip its rows that do not.
                return (top - 1, used + r - height);
            }
            used += r;
            top -= 1;
        }
        (0, 0)
    }

    /// Adds a line made of these pieces.
    pub fn push<S: AsRef<str>>(&mut self, pieces: impl IntoIterator<Item = (Tok, S)>) {
        self.new_line();
        for (tok, s) in pieces {
            self.add(tok, s.as_ref());
        }
    }

    /// Adds every line of `other`.
    pub fn append(&mut self, other: &Doc) {
        for i in 0..other.len() {
            if let Some(l) = other.line(i) {
                self.push(l);
            }
        }
    }

    /// Starts a new (empty) line.
    fn new_line(&mut self) {
        self.starts.push(self.pieces.len() as u32);
    }

    /// Adds text to the current line (a piece of the same kind as the last one grows).
    fn add(&mut self, tok: Tok, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.starts.is_empty() {
            self.new_line();
        }
        // Offsets are u32: stop at 4 GB of text (bodies are capped far below that).
        if self.text.len() + s.len() > u32::MAX as usize {
            return;
        }
        self.text.push_str(s);
        let end = self.text.len() as u32;
        let line_start = self.starts.last().copied().unwrap_or(0) as usize;
        let in_line = self.pieces.len() > line_start;
        match self.pieces.last_mut() {
            Some((e, t)) if *t == tok && in_line => *e = end,
            _ => self.pieces.push((end, tok)),
        }
    }

    /// Adds `s` as JSON shows it, quoted and escaped (see [`quote`]).
    fn add_quoted(&mut self, tok: Tok, s: &str) {
        if plain_quotable(s) {
            self.add(tok, "\"");
            // One piece: the quotes and the text have the same kind.
            self.add(tok, s);
            self.add(tok, "\"");
        } else {
            self.add(tok, &quote(s));
        }
    }

    /// Adds a number as serde_json prints it.
    fn add_display(&mut self, tok: Tok, n: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let mut buf = NumBuf::default();
        if write!(buf, "{n}").is_ok() {
            self.add(tok, buf.as_str());
        } else {
            self.add(tok, &n.to_string());
        }
    }

    fn pad(&mut self, indent: usize) {
        const SPACES: &str = "                                                                ";
        let mut n = indent * 2;
        while n > 0 {
            let k = n.min(SPACES.len());
            self.add(Tok::Plain, &SPACES[..k]);
            n -= k;
        }
    }

    fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.pieces.shrink_to_fit();
        self.starts.shrink_to_fit();
    }

    /// The document as plain text (what `y` copies).
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.text.len() + self.len());
        for i in 0..self.len() {
            for (_, t) in self.line(i).into_iter().flatten() {
                s.push_str(t);
            }
            s.push('\n');
        }
        s
    }

    /// Plain text, one line per line, with control characters escaped and very long lines
    /// (a minified page) cut so drawing stays cheap.
    pub fn plain(text: &str) -> Doc {
        let mut d = Doc::default();
        for l in text.lines() {
            d.new_line();
            if l.len() > LONG_STRING {
                let cut: String = l.chars().take(LONG_STRING).collect();
                d.add(
                    Tok::Plain,
                    &escape(&format!("{cut}… ({} chars)", l.chars().count())),
                );
            } else {
                d.add(Tok::Plain, &escape(l));
            }
        }
        d.shrink();
        d
    }

    /// Pretty JSON of `v`, two-space indents, base64 strings shortened to chips.
    pub fn json(v: &Value) -> Doc {
        let mut d = Doc::default();
        d.new_line();
        write_value(v, 0, &mut d);
        d.shrink();
        d
    }

    /// Pretty JSON straight from JSON text, exactly as [`Doc::json`] shows the parsed value,
    /// without building the value (a tenth of the memory and half the time for a big body).
    /// Keys keep their order; a key given twice is shown twice. Errors when `text` is not
    /// one JSON value.
    pub fn json_text(text: &[u8]) -> Result<Doc, serde_json::Error> {
        use serde::de::DeserializeSeed as _;
        // Sized for the usual shape up front: growing by doubling would copy megabytes
        // several times and briefly hold two copies. Capacity never touched is never
        // resident, and `shrink` gives back the rest.
        let mut d = Doc {
            text: String::with_capacity(text.len() * 3),
            pieces: Vec::with_capacity(text.len() / 2),
            starts: Vec::with_capacity(text.len() / 4),
        };
        d.new_line();
        let mut de = serde_json::Deserializer::from_slice(text);
        Emit {
            doc: &mut d,
            indent: 0,
        }
        .deserialize(&mut de)?;
        de.end()?;
        d.shrink();
        Ok(d)
    }
}

/// A stack buffer for formatting a number without allocating.
#[derive(Default)]
struct NumBuf {
    buf: [u8; 32],
    len: usize,
}

impl NumBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for NumBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Display columns of a character, by ratatui's own width rules (what the screen uses).
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    ratatui::text::Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Strings at least this long are checked for base64.
const CHIP_MIN: usize = 200;
/// Other strings are cut at this many characters.
const LONG_STRING: usize = 2000;

fn string_piece(d: &mut Doc, s: &str) {
    match chip(s) {
        Some(c) => d.add(Tok::Chip, &c),
        None => d.add_quoted(Tok::Str, s),
    }
}

/// Whether `quote(s)` is `s` in double quotes: short, and nothing JSON or [`escape`] would
/// change (the common case, written without building the quoted copy).
fn plain_quotable(s: &str) -> bool {
    s.len() <= LONG_STRING
        && s.chars().all(|c| {
            c >= ' '
                && c != '"'
                && c != '\\'
                && c != '\u{7f}'
                && !('\u{80}'..'\u{a0}').contains(&c)
                && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        })
}

fn write_value(v: &Value, indent: usize, d: &mut Doc) {
    match v {
        Value::Null => d.add(Tok::Null, "null"),
        Value::Bool(b) => d.add(Tok::Bool, if *b { "true" } else { "false" }),
        Value::Number(n) => d.add_display(Tok::Num, n),
        Value::String(s) => string_piece(d, s),
        Value::Array(items) if items.is_empty() => d.add(Tok::Punct, "[]"),
        Value::Object(map) if map.is_empty() => d.add(Tok::Punct, "{}"),
        Value::Array(items) => {
            d.add(Tok::Punct, "[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    d.add(Tok::Punct, ",");
                }
                d.new_line();
                d.pad(indent + 1);
                write_value(item, indent + 1, d);
            }
            d.new_line();
            d.pad(indent);
            d.add(Tok::Punct, "]");
        }
        Value::Object(map) => {
            d.add(Tok::Punct, "{");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    d.add(Tok::Punct, ",");
                }
                d.new_line();
                d.pad(indent + 1);
                d.add_quoted(Tok::Key, k);
                d.add(Tok::Punct, ": ");
                write_value(item, indent + 1, d);
            }
            d.new_line();
            d.pad(indent);
            d.add(Tok::Punct, "}");
        }
    }
}

/// Writes the next JSON value read by serde into the doc, as [`write_value`] does.
struct Emit<'a> {
    doc: &'a mut Doc,
    indent: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for Emit<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A key or an element: written after the opening bracket (first) or a comma, on its own line.
struct Item<'a> {
    doc: &'a mut Doc,
    indent: usize,
    first: bool,
    open: &'static str,
    key: bool,
}

impl Item<'_> {
    fn start(&mut self) {
        self.doc
            .add(Tok::Punct, if self.first { self.open } else { "," });
        self.doc.new_line();
        self.doc.pad(self.indent + 1);
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        self.start();
        if self.key {
            let k = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
            self.doc.add_quoted(Tok::Key, &k);
            self.doc.add(Tok::Punct, ": ");
            Ok(())
        } else {
            d.deserialize_any(Emit {
                doc: self.doc,
                indent: self.indent + 1,
            })
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Emit<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.doc.add(Tok::Bool, if b { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        self.doc.add_display(Tok::Num, n);
        Ok(())
    }

    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.doc.add_display(Tok::Num, n);
        Ok(())
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        match serde_json::Number::from_f64(f) {
            Some(n) => self.doc.add_display(Tok::Num, n),
            None => self.doc.add(Tok::Null, "null"),
        }
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        string_piece(self.doc, s);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.doc.add(Tok::Null, "null");
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut first = true;
        while seq
            .next_element_seed(Item {
                doc: self.doc,
                indent: self.indent,
                first,
                open: "[",
                key: false,
            })?
            .is_some()
        {
            first = false;
        }
        if first {
            self.doc.add(Tok::Punct, "[]");
        } else {
            self.doc.new_line();
            self.doc.pad(self.indent);
            self.doc.add(Tok::Punct, "]");
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut first = true;
        while map
            .next_key_seed(Item {
                doc: self.doc,
                indent: self.indent,
                first,
                open: "{",
                key: true,
            })?
            .is_some()
        {
            first = false;
            map.next_value_seed(Emit {
                doc: self.doc,
                indent: self.indent + 1,
            })?;
        }
        if first {
            self.doc.add(Tok::Punct, "{}");
        } else {
            self.doc.new_line();
            self.doc.pad(self.indent);
            self.doc.add(Tok::Punct, "}");
        }
        Ok(())
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

    #[test]
    fn wrapping_counts_display_cells_and_never_splits_a_character() {
        let mut d = Doc::default();
        d.push([(Tok::Key, "ab"), (Tok::Str, "猫猫c")]);
        d.push(Vec::<(Tok, String)>::new());
        // 5 columns: `ab猫` is 4 cells, the next `猫` (2) does not fit beside it.
        let rows = d.wrapped(0, 5);
        assert_eq!(
            rows,
            vec![
                vec![(Tok::Key, "ab"), (Tok::Str, "猫")],
                vec![(Tok::Str, "猫c")],
            ]
        );
        assert_eq!(d.rows(0, 100), 1);
        assert_eq!(d.rows(1, 5), 1, "an empty line is one row");
        // Narrower than a wide character: one per row, not an endless loop.
        assert_eq!(d.rows(0, 1), 5);
    }

    #[test]
    fn the_last_position_shows_the_last_row_at_the_bottom() {
        let mut d = Doc::default();
        d.push([(Tok::Plain, "short")]);
        d.push([(Tok::Plain, "x".repeat(30))]);
        d.push([(Tok::Plain, "end")]);
        // Width 10: rows 1 + 3 + 1. Five rows fit from the top.
        assert_eq!(d.last_position(5, 10), (0, 0));
        assert_eq!(d.last_position(4, 10), (1, 0));
        // Three rows: the last two of the long line, then `end`.
        assert_eq!(d.last_position(3, 10), (1, 1));
        assert_eq!(d.last_position(1, 10), (2, 0));
    }

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
    fn json_from_text_matches_json_from_the_value() {
        let b = png_b64(8, 8);
        let texts = [
            r#"{"a":[1,{"b":"x\u001b[31m"}],"e":[],"o":{},"n":null,"t":true,"f":false}"#.to_owned(),
            r#"[1.5,-0.0,1e300,12345678901234567890,-9223372036854775808,0.1,[[[]]],{"k":{}}]"#
                .to_owned(),
            r#"  "just a string \u4e00\u202e"  "#.to_owned(),
            "42".to_owned(),
            format!(
                r#"{{"data":{{"binary_data_base64":["{b}"],"long":"{}"}}}}"#,
                "é".repeat(2500)
            ),
            r#"{"deep":[[[[[[{"x":[1,2,{"y":"z"}]}]]]]]]}"#.to_owned(),
        ];
        for t in &texts {
            let v: Value = serde_json::from_str(t).expect("json");
            let from_value = Doc::json(&v);
            let from_text = Doc::json_text(t.as_bytes()).expect("json text");
            assert_eq!(from_text.to_text(), from_value.to_text(), "{t}");
            assert_eq!(from_text, from_value, "{t}");
        }
        assert!(Doc::json_text(b"{\"a\": 1} trailing").is_err());
        assert!(Doc::json_text(b"<html>").is_err());
        assert!(Doc::json_text(b"").is_err());
    }

    #[test]
    fn the_quick_quoting_path_quotes_like_json_then_escape() {
        let long = "a".repeat(LONG_STRING + 1);
        for s in [
            "plain",
            "",
            "一只猫",
            "quote\"d",
            "back\\slash",
            "tab\t",
            "nl\n",
            "del\u{7f}",
            "c1\u{85}",
            "bidi\u{202e}",
            "lrm\u{200e}",
            "nbsp\u{a0}",
            &long,
        ] {
            let mut d = Doc::default();
            d.add_quoted(Tok::Str, s);
            assert_eq!(d.to_text(), format!("{}\n", quote(s)), "{s:?}");
        }
    }

    #[test]
    fn lines_and_pieces_read_back() {
        let mut d = Doc::default();
        d.push([(Tok::Key, "k: "), (Tok::Plain, "v")]);
        d.push(Vec::<(Tok, String)>::new());
        d.push([(Tok::Dim, "a".to_owned()), (Tok::Dim, "b".to_owned())]);
        assert_eq!(d.len(), 3);
        let l: Vec<(Tok, &str)> = d.line(0).expect("line").collect();
        assert_eq!(l, vec![(Tok::Key, "k: "), (Tok::Plain, "v")]);
        assert_eq!(d.line(1).expect("line").count(), 0);
        // Pieces of one kind next to each other are one piece.
        let l: Vec<(Tok, &str)> = d.line(2).expect("line").collect();
        assert_eq!(l, vec![(Tok::Dim, "ab")]);
        assert!(d.line(3).is_none());
        assert_eq!(d.lines_from(2).count(), 1);
        assert_eq!(d.lines_from(9).count(), 0);
        assert_eq!(d.to_text(), "k: v\n\nab\n");
        let mut e = Doc::plain("x");
        e.append(&d);
        assert_eq!(e.to_text(), "x\nk: v\n\nab\n");
    }

    #[test]
    fn long_non_base64_strings_are_cut() {
        let s = "é".repeat(3000);
        let text = Doc::json(&json!(s)).to_text();
        assert!(text.contains("(3000 chars)"));
    }
}
