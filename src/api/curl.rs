//! curl in and out: a shell-safe `curl` command for a prepared request (secrets replaced by
//! environment references unless asked), and the parsing of a pasted curl command back into
//! an endpoint, action and body.
//!
//! The body never goes on the command line: Linux caps one argument at 128 KiB, and a request
//! with a local reference is megabytes of base64. It is in a quoted here-document that curl
//! reads from stdin (`--data @-`), so the command runs for any body the API takes.

use crate::api::auth::{ENV_ACCESS_KEY, ENV_API_KEY};
use crate::api::client::{Auth, Prepared};
use serde_json::Value;
use url::Url;

/// The here-document delimiter of an exported body (a suffix is added when the body holds it).
pub const BODY_DELIMITER: &str = "VOLCV_BODY";

/// Quotes a word for POSIX shells: single quotes, with embedded `'` as `'\''`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',')
        })
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Double-quotes a word so that `${VAR}` references expand and nothing else does.
fn shell_quote_with_vars(s: &str) -> String {
    let mut out = String::from("\"");
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(&escape_double(before));
        match after.find('}') {
            Some(end) => {
                out.push_str(&after[..=end]);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&escape_double(after));
                rest = "";
            }
        }
    }
    out.push_str(&escape_double(rest));
    out.push('"');
    out
}

fn escape_double(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// A curl command for `prepared`. With `reveal` false, the Bearer key becomes
/// `${VOLCV_API_KEY}` and the access key `${VOLC_ACCESSKEY}` (the signature itself reveals no
/// secret, and is valid for 15 minutes from its X-Date).
///
/// The body follows the command in a quoted here-document (nothing in it is expanded) that
/// curl reads with `--data @-`: no argument grows with the body, so the command runs whatever
/// the body's size (an argument over 128 KiB fails with `Argument list too long` on Linux).
/// `--data` drops line breaks from what it reads, so the here-document's own final line break
/// is not sent: the body arrives byte for byte, and a signature over it stays valid. That needs
/// a body without line breaks or NUL bytes of its own, as compact JSON (what volcv sends)
/// always is; any other body is refused rather than exported changed.
pub fn to_curl(prepared: &Prepared, auth: &Auth, reveal: bool) -> Result<String, String> {
    let body = std::str::from_utf8(&prepared.body)
        .map_err(|_| "the request body is not UTF-8 text; only a JSON body can be exported")?;
    if let Some(b) = body.bytes().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        let what = match b {
            b'\r' => "a carriage return",
            b'\n' => "a line break",
            _ => "a NUL byte",
        };
        return Err(format!(
            "the request body holds {what}: curl's `--data @-` drops those, which would change \
             the (signed) body; only compact JSON (as volcv sends it) can be exported"
        ));
    }
    let mut lines = vec![format!(
        "curl -sS -X POST {}",
        shell_quote(prepared.url.as_str())
    )];
    for (name, value) in prepared.raw_headers() {
        if name.eq_ignore_ascii_case("host") {
            continue; // curl sends it from the URL.
        }
        let header = format!("{name}: {value}");
        let word = if reveal || !name.eq_ignore_ascii_case("authorization") {
            shell_quote(&header)
        } else {
            match auth {
                Auth::Bearer(_) => {
                    shell_quote_with_vars(&format!("{name}: Bearer ${{{ENV_API_KEY}}}"))
                }
                Auth::Volc { creds, .. } => shell_quote_with_vars(&header.replacen(
                    &format!("Credential={}/", creds.access_key),
                    &format!("Credential=${{{ENV_ACCESS_KEY}}}/"),
                    1,
                )),
                Auth::None => shell_quote(&header),
            }
        };
        if !reveal && name.eq_ignore_ascii_case("x-security-token") {
            lines.push("-H \"X-Security-Token: ${VOLC_SESSION_TOKEN}\"".to_owned());
            continue;
        }
        lines.push(format!("-H {word}"));
    }
    let delimiter = delimiter_for(body);
    lines.push(format!("--data @- <<'{delimiter}'"));
    Ok(format!("{}\n{body}\n{delimiter}", lines.join(" \\\n  ")))
}

/// A here-document delimiter that occurs nowhere in `body` (so no line of it can end the
/// here-document early).
fn delimiter_for(body: &str) -> String {
    let mut delimiter = BODY_DELIMITER.to_owned();
    let mut n = 0u64;
    while body.contains(&delimiter) {
        n += 1;
        delimiter = format!("{BODY_DELIMITER}_{n}");
    }
    delimiter
}

/// A request read back from a curl command.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The URL without `Action` and `Version`; empty when bare JSON was pasted.
    pub endpoint: String,
    /// The `Action` from the URL's query, or `None` when it had none.
    pub action: Option<String>,
    /// The `Version` from the URL's query, or `None` when it had none.
    pub version: Option<String>,
    /// The request body (`-d`, `--data*`, a here-document or the pasted JSON), parsed; `//`
    /// comment lines are dropped first.
    pub body: Value,
    /// Header names seen (values are not kept: they may hold secrets).
    pub headers: Vec<String>,
    /// Options that were ignored, for the user to check.
    pub ignored: Vec<String>,
}

/// Where a command's standard input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    /// A here-document (`<<'EOF'` ... `EOF`) or a here-string (`<<< word`): its text, with the
    /// final line break the shell adds.
    Text(String),
    /// A redirection from a file (`< body.json`).
    File(String),
}

/// A shell command read as the shell would hand it to the program: its words (no expansion)
/// and its standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellCommand {
    /// The command's words after quote removal, the program name first.
    pub words: Vec<String>,
    /// The last stdin redirection, if any.
    pub stdin: Option<Stdin>,
    /// Whether anything but blanks and comments follows the command's here-document.
    pub trailing: bool,
}

/// What the next word of a command is after a redirection operator (a plain word otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// `<<` (`strip_tabs` for `<<-`): the word is a here-document's delimiter.
    Delimiter { strip_tabs: bool },
    /// `<<<`: the word is the text.
    HereString,
    /// `<`: the word is a file name.
    File,
}

/// Splits a shell command line into words: single and double quotes, backslash escapes and
/// line continuations, as POSIX shells do (no expansion). See [`split_command`].
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    split_command(s).map(|c| c.words)
}

/// The state of [`split_command`].
#[derive(Default)]
struct Lexer {
    cmd: ShellCommand,
    /// The word being read (bytes of the UTF-8 input, copied whole).
    cur: Vec<u8>,
    in_word: bool,
    next: Option<Next>,
    /// Here-documents whose text starts after the current line: (delimiter, strip tabs).
    docs: Vec<(String, bool)>,
}

impl Lexer {
    /// Ends the current word and files it where the last operator said.
    fn end_word(&mut self) -> Result<(), String> {
        if !self.in_word {
            return Ok(());
        }
        self.in_word = false;
        let word = String::from_utf8(std::mem::take(&mut self.cur))
            .map_err(|_| "the command is not valid UTF-8".to_owned())?;
        match self.next.take() {
            None => self.cmd.words.push(word),
            Some(Next::Delimiter { strip_tabs }) => self.docs.push((word, strip_tabs)),
            Some(Next::HereString) => self.cmd.stdin = Some(Stdin::Text(format!("{word}\n"))),
            Some(Next::File) => self.cmd.stdin = Some(Stdin::File(word)),
        }
        Ok(())
    }

    /// The command, unless a redirection operator was left without its word.
    fn finish(self) -> Result<ShellCommand, String> {
        if let Some((delimiter, _)) = self.docs.first() {
            return Err(unclosed(delimiter));
        }
        match self.next {
            None => Ok(self.cmd),
            Some(_) => Err("a redirection (`<`, `<<`, `<<<`) without its word".to_owned()),
        }
    }
}

fn unclosed(delimiter: &str) -> String {
    format!(
        "the here-document has no closing line `{}`",
        crate::text::escape_terminal(&crate::text::truncate_chars(delimiter, 40), false)
    )
}

/// Reads the here-documents `docs` from `s` at `i` (the start of the line after their
/// operators) into `cmd`, and returns where they end.
fn read_here_docs(
    s: &str,
    mut i: usize,
    docs: Vec<(String, bool)>,
    cmd: &mut ShellCommand,
) -> Result<usize, String> {
    for (delimiter, strip_tabs) in docs {
        let mut text = String::new();
        loop {
            let Some(rest) = s.get(i..).filter(|r| !r.is_empty()) else {
                return Err(unclosed(&delimiter));
            };
            let (mut line, len) = match rest.find('\n') {
                Some(p) => (&rest[..p], p + 1),
                None => (rest, rest.len()),
            };
            i += len;
            if strip_tabs {
                line = line.trim_start_matches('\t');
            }
            // A pasted text may carry CRLF line ends.
            if line.strip_suffix('\r').unwrap_or(line) == delimiter {
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
        cmd.stdin = Some(Stdin::Text(text));
    }
    Ok(i)
}

/// Reads a shell command: words (single and double quotes, backslash escapes, line
/// continuations, `#` comments), and stdin redirections: here-documents (`<<`, `<<-`, quoted
/// or not), here-strings (`<<<`) and `< file`. Nothing is expanded. A here-document ends the
/// command: what follows it is only noted ([`ShellCommand::trailing`]).
pub fn split_command(s: &str) -> Result<ShellCommand, String> {
    let b = s.as_bytes();
    let mut lx = Lexer::default();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                lx.in_word = true;
                let close = b[i + 1..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .ok_or("unterminated single quote")?;
                lx.cur.extend_from_slice(&b[i + 1..i + 1 + close]);
                i += close + 2;
            }
            b'"' => {
                lx.in_word = true;
                i += 1;
                loop {
                    match (b.get(i), b.get(i + 1)) {
                        (Some(b'"'), _) => break,
                        (Some(b'\\'), Some(&c @ (b'"' | b'\\' | b'$' | b'`'))) => {
                            lx.cur.push(c);
                            i += 2;
                        }
                        (Some(b'\\'), Some(b'\n')) => i += 2,
                        (Some(&c), _) => {
                            lx.cur.push(c);
                            i += 1;
                        }
                        (None, _) => return Err("unterminated double quote".to_owned()),
                    }
                }
                i += 1;
            }
            b'\\' => match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'\n'), _) => i += 2,
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(&c), _) => {
                    lx.in_word = true;
                    lx.cur.push(c);
                    i += 2;
                }
                (None, _) => i += 1,
            },
            b'<' => {
                lx.end_word()?;
                let (next, len) = if b[i..].starts_with(b"<<<") {
                    (Next::HereString, 3)
                } else if b[i..].starts_with(b"<<-") {
                    (Next::Delimiter { strip_tabs: true }, 3)
                } else if b[i..].starts_with(b"<<") {
                    (Next::Delimiter { strip_tabs: false }, 2)
                } else {
                    (Next::File, 1)
                };
                if lx.next.is_some() {
                    return Err("a redirection (`<`, `<<`, `<<<`) without its word".to_owned());
                }
                lx.next = Some(next);
                i += len;
            }
            b'#' if !lx.in_word => {
                // A comment, to the end of the line.
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
            }
            b'\n' => {
                lx.end_word()?;
                i += 1;
                if lx.docs.is_empty() {
                    continue;
                }
                let docs = std::mem::take(&mut lx.docs);
                i = read_here_docs(s, i, docs, &mut lx.cmd)?;
                // The here-document ended the command.
                lx.cmd.trailing = s.get(i..).unwrap_or("").lines().any(|l| {
                    let t = l.trim();
                    !t.is_empty() && !t.starts_with('#')
                });
                return lx.finish();
            }
            c if c.is_ascii_whitespace() => {
                lx.end_word()?;
                i += 1;
            }
            c => {
                lx.in_word = true;
                lx.cur.push(c);
                i += 1;
            }
        }
    }
    lx.end_word()?;
    lx.finish()
}

/// curl options whose value is a credential (`-u user:password`, a bearer token, cookies, a
/// client key's pass phrase): [`parse_curl`] skips their values and never echoes them.
const SECRET_OPTIONS: [&str; 12] = [
    "-u",
    "--user",
    "-U",
    "--proxy-user",
    "--oauth2-bearer",
    "-b",
    "--cookie",
    "--pass",
    "--proxy-pass",
    "-E",
    "--cert",
    "--key",
];

/// Headers volcv sets itself when it sends (the body's type, and authentication: it signs or
/// adds its own key): a curl command's values for them are not needed, and not reported.
const OWN_HEADERS: [&str; 7] = [
    "Content-Type",
    "Authorization",
    "X-Date",
    "X-Content-Sha256",
    "X-Security-Token",
    "Host",
    "Accept",
];

/// curl options that take a value volcv has no use for (`-o FILE`, `-m SECS`, `-x PROXY`...):
/// [`parse_curl`] skips the value with the option, so that it is never taken for the URL, and
/// does not echo it (a path or a proxy URL may be private).
const VALUE_OPTIONS: [&str; 41] = [
    "-o",
    "--output",
    "--output-dir",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-x",
    "--proxy",
    "--noproxy",
    "--cacert",
    "--capath",
    "--cert-type",
    "--key-type",
    "-r",
    "--range",
    "-w",
    "--write-out",
    "-T",
    "--upload-file",
    "-c",
    "--cookie-jar",
    "-D",
    "--dump-header",
    "-F",
    "--form",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "--limit-rate",
    "--resolve",
    "--connect-to",
    "--interface",
    "-K",
    "--config",
    "--trace",
    "--trace-ascii",
    "--stderr",
];

/// The body a data option reads from `@file`: stdin (`@-`) when it is a here-document or a
/// here-string, as curl reads it (`--data` and `--data-ascii` drop carriage returns, line breaks
/// and NUL bytes; `--data-binary` and `--json` keep every byte). A file is not read.
fn data_from(flag: &str, file: &str, stdin: Option<&Stdin>) -> Result<String, String> {
    let name = crate::text::escape_terminal(&crate::text::truncate_chars(file, 200), false);
    match (file, stdin) {
        ("-", Some(Stdin::Text(text))) => Ok(if matches!(flag, "--data-binary" | "--json") {
            text.clone()
        } else {
            text.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect()
        }),
        ("-", Some(Stdin::File(f))) => Err(format!(
            "{flag} @- reads the body from {}: the body is in a file; paste the file's JSON \
             instead",
            crate::text::escape_terminal(&crate::text::truncate_chars(f, 200), false)
        )),
        ("-", None) => Err(format!(
            "{flag} @- reads the body from stdin, but the command has no here-document \
             (<<'EOF' ... EOF) holding it"
        )),
        _ => Err(format!(
            "{flag} @{name}: the body is in a file; paste the file's JSON instead"
        )),
    }
}

/// Reads a curl command (as copied from docs, a browser or `volcv curl`, whose body is in a
/// here-document read with `--data @-`). A bare JSON body is
/// accepted too (endpoint then empty).
pub fn parse_curl(text: &str) -> Result<Imported, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let body: Value = serde_json::from_str(trimmed)
            .map_err(|e| format!("the pasted text looks like JSON but does not parse: {e}"))?;
        return Ok(Imported {
            endpoint: String::new(),
            action: None,
            version: None,
            body,
            headers: Vec::new(),
            ignored: Vec::new(),
        });
    }
    let command = split_command(trimmed)?;
    let mut it = command.words.into_iter().peekable();
    match it.next() {
        Some(w) if w == "curl" || w.ends_with("/curl") => {}
        _ => {
            return Err("not a curl command (it must start with `curl`) or a JSON body".to_owned());
        }
    }
    let mut url: Option<String> = None;
    let mut body: Option<String> = None;
    let mut headers = Vec::new();
    let mut ignored = Vec::new();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if w.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (w.clone(), None),
        };
        let value = |it: &mut std::iter::Peekable<std::vec::IntoIter<String>>| {
            inline.clone().or_else(|| it.next())
        };
        match flag.as_str() {
            "-H" | "--header" => {
                let h = value(&mut it).ok_or("-H needs a value")?;
                if let Some((name, _)) = h.split_once(':') {
                    let name = name.trim().to_owned();
                    if !OWN_HEADERS.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
                        ignored.push(format!("-H {name} (volcv sends its own headers)"));
                    }
                    headers.push(name);
                }
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" | "--json" => {
                let d = value(&mut it).ok_or_else(|| format!("{flag} needs a value"))?;
                body = Some(match d.strip_prefix('@') {
                    Some(file) if flag != "--data-raw" => {
                        data_from(&flag, file, command.stdin.as_ref())?
                    }
                    _ => d,
                });
            }
            "-X" | "--request" => {
                let m = value(&mut it).ok_or("-X needs a value")?;
                if !m.eq_ignore_ascii_case("POST") {
                    return Err(format!("method {m}: CVProcess calls are POST"));
                }
            }
            "--url" => url = value(&mut it),
            "-k" | "--insecure" => {
                ignored.push(format!("{flag} (volcv always checks certificates)"));
            }
            "--compressed" => ignored.push(flag.clone()),
            // What curl prints, not what it sends; and the API never redirects.
            "-L" | "--location" | "-s" | "-S" | "-sS" | "--silent" | "--show-error" | "-v"
            | "--verbose" | "-i" => {}
            // Options whose value is a credential: the value is skipped, never echoed.
            f if SECRET_OPTIONS.contains(&f) => {
                let _ = value(&mut it);
                ignored.push(format!("{f} (its value is not shown)"));
            }
            f if VALUE_OPTIONS.contains(&f) => {
                let _ = value(&mut it);
                ignored.push(format!("{f} and its value"));
            }
            // An option's name only: `--opt=value` was split above, and a short option's
            // attached value (`-uuser:pass`) may be a credential.
            f if f.starts_with("--") => ignored.push(f.to_owned()),
            f if f.starts_with('-') && f.chars().count() > 2 => {
                let short: String = f.chars().take(2).collect();
                ignored.push(format!("{short} (its attached value is not shown)"));
            }
            f if f.starts_with('-') => ignored.push(f.to_owned()),
            _ => {
                if url.is_none() {
                    url = Some(w);
                } else {
                    // Possibly the value of an option volcv does not know: not echoed.
                    ignored.push("an extra argument (not shown)".to_owned());
                }
            }
        }
    }
    if command.trailing {
        ignored.push("an extra argument: text after the here-document, not read".to_owned());
    }
    let url = url.ok_or("the curl command has no URL")?;
    // The URL is not quoted back: it may carry credentials (`https://user:key@host/`).
    let mut parsed = Url::parse(&url).map_err(|e| format!("the curl URL does not parse: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
    }
    let mut action = None;
    let mut version = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "Action" => {
                action = Some(v.into_owned());
                None
            }
            "Version" => {
                version = Some(v.into_owned());
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let body_text = body.ok_or("the curl command has no body (-d / --data-raw / --data @-)")?;
    // Docs samples carry // comments inside the JSON; drop whole-line comments.
    let cleaned: String = body_text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let body: Value = serde_json::from_str(&cleaned)
        .map_err(|e| format!("the curl body is not valid JSON: {e}"))?;
    Ok(Imported {
        endpoint: parsed.to_string(),
        action,
        version,
        body,
        headers,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::{Client, Options, Target};
    use crate::api::secret::Secret;

    fn bearer_client() -> Client {
        Client::new(
            Target {
                endpoint: Url::parse("https://relay.example/volcv/v1").expect("url"),
                action: "CVProcess".into(),
                version: "2022-08-31".into(),
                auth: Auth::Bearer(Secret::new("sk-unit-SECRET")),
            },
            Options::default(),
        )
        .expect("client")
    }

    fn export(body: &[u8]) -> Result<String, String> {
        let client = bearer_client();
        let prepared = client.prepare("CVProcess", body.to_vec());
        to_curl(&prepared, &client.target.auth, false)
    }

    #[test]
    fn a_large_body_is_exported_in_a_here_document_and_imports_back() {
        // 300 KB of base64: over the 128 KiB a single argument may have on Linux.
        let body = serde_json::json!({
            "req_key": "high_aes_ip_v20",
            "prompt": "it's a \"cat\" $HOME `x` VOLCV_BODY\nline",
            "binary_data_base64": ["QUJD".repeat(75_000)],
        });
        let bytes = serde_json::to_vec(&body).expect("json");
        let cmd = export(&bytes).expect("export");
        assert!(!cmd.contains("sk-unit-SECRET"), "the key stays a reference");
        assert!(cmd.contains("Bearer ${VOLCV_API_KEY}"), "{}", &cmd[..300]);
        // No line of the command but the body is long: the body is not an argument.
        let longest = cmd
            .lines()
            .filter(|l| !l.starts_with('{'))
            .map(str::len)
            .max();
        assert!(longest.is_some_and(|n| n < 200), "{longest:?}");
        // The body mentions VOLCV_BODY: the delimiter is another word.
        assert!(
            cmd.contains("--data @- <<'VOLCV_BODY_1'\n"),
            "{}",
            &cmd[..300]
        );
        assert!(cmd.ends_with("\nVOLCV_BODY_1"));
        let parsed = split_command(&cmd).expect("split");
        assert_eq!(
            parsed.stdin,
            Some(Stdin::Text(format!(
                "{}\n",
                String::from_utf8_lossy(&bytes)
            )))
        );
        assert!(!parsed.trailing);
        let imp = parse_curl(&cmd).expect("import");
        assert_eq!(imp.body, body);
        assert_eq!(imp.endpoint, "https://relay.example/volcv/v1");
        assert_eq!(imp.action.as_deref(), Some("CVProcess"));
        assert!(imp.ignored.is_empty(), "{:?}", imp.ignored);
    }

    #[test]
    fn bodies_curl_would_change_are_refused_not_exported() {
        for (body, what) in [
            (&b"{\n\"a\":1}"[..], "a line break"),
            (b"{\"a\":1}\r", "a carriage return"),
            (b"{\"a\":\"\0\"}", "a NUL byte"),
        ] {
            let e = export(body).expect_err("refused");
            assert!(e.contains(what), "{e}");
        }
        assert!(
            export(&[b'{', 0xff, b'}'])
                .expect_err("not UTF-8")
                .contains("UTF-8")
        );
        // The empty body round-trips too (curl sends nothing).
        let cmd = export(b"").expect("empty");
        assert_eq!(
            split_command(&cmd).expect("split").stdin,
            Some(Stdin::Text("\n".into()))
        );
    }

    #[test]
    fn an_option_value_is_never_taken_for_the_url() {
        let endpoint = "https://visual.volcengineapi.com/";
        let url = format!("{endpoint}?Action=CVProcess&Version=2022-08-31");
        for (opt, v) in [
            ("-o", "out.json"),
            ("--output", "out.json"),
            ("-m", "30"),
            ("-x", "http://proxy:3128"),
            ("-w", "%{http_code}"),
            ("--cacert", "/etc/ssl/company.pem"),
        ] {
            for doc in [
                format!("curl {opt} '{v}' -X POST '{url}' -d '{{}}'"),
                format!("curl -X POST '{url}' {opt} '{v}' -d '{{}}'"),
            ] {
                let got = parse_curl(&doc).expect(&doc);
                assert_eq!(got.endpoint, endpoint, "{doc}");
                assert_eq!(got.action.as_deref(), Some("CVProcess"), "{doc}");
                assert!(
                    got.ignored.contains(&format!("{opt} and its value")),
                    "{doc}"
                );
                assert!(
                    !got.ignored.iter().any(|i| i.contains(v)),
                    "{doc}: {:?}",
                    got.ignored
                );
            }
        }
        let got = parse_curl(&format!("curl --output=out.json '{url}' -d '{{}}'")).expect("=");
        assert_eq!(got.endpoint, endpoint);
    }

    #[test]
    fn here_documents_here_strings_and_files_as_stdin() {
        let c = split_command(
            "curl x --data-binary @- <<-\"END\" # body\n\t{\"a\":\n\t1}\n\tEND\nrm -rf /\n",
        )
        .expect("split");
        assert_eq!(c.words, ["curl", "x", "--data-binary", "@-"]);
        assert_eq!(c.stdin, Some(Stdin::Text("{\"a\":\n1}\n".into())));
        assert!(c.trailing, "another command follows");
        let c = split_command("curl x -d @- <<< '{\"b\":2}'").expect("here-string");
        assert_eq!(c.stdin, Some(Stdin::Text("{\"b\":2}\n".into())));
        let c = split_command("# a comment\ncurl x -d @- < body.json").expect("file");
        assert_eq!(c.words, ["curl", "x", "-d", "@-"]);
        assert_eq!(c.stdin, Some(Stdin::File("body.json".into())));
        // CRLF line ends, as a paste from another system may have.
        let c = split_command("curl x \\\r\n -d @- <<EOF\r\n{}\r\nEOF\r\n").expect("crlf");
        assert_eq!(c.words, ["curl", "x", "-d", "@-"]);
        assert_eq!(c.stdin, Some(Stdin::Text("{}\r\n".into())));
        assert!(
            split_command("curl x -d @- <<'EOF'\n{}\n")
                .expect_err("open")
                .contains("no closing line `EOF`")
        );
        assert!(
            split_command("curl x <<")
                .expect_err("no word")
                .contains("without")
        );
        assert!(
            split_command("curl x < <<")
                .expect_err("twice")
                .contains("without")
        );
    }

    #[test]
    fn data_options_read_stdin_as_curl_does() {
        let doc = "curl https://x/?Action=CVProcess FLAG @- <<'EOF'\n{\"p\":\n\"a\"}\nEOF";
        for flag in ["-d", "--data", "--data-ascii", "--data-binary", "--json"] {
            let imp = parse_curl(&doc.replace("FLAG", flag)).expect(flag);
            assert_eq!(imp.body["p"], "a", "{flag}");
        }
        // --data-raw takes `@-` literally: not JSON.
        assert!(
            parse_curl(&doc.replace("FLAG", "--data-raw"))
                .expect_err("raw")
                .contains("not valid JSON")
        );
        let e = parse_curl("curl https://x/ -d @-").expect_err("no stdin");
        assert!(e.contains("no here-document"), "{e}");
        let e = parse_curl("curl https://x/ --data-binary @- < b.json").expect_err("file");
        assert!(e.contains("b.json") && e.contains("in a file"), "{e}");
        let imp = parse_curl(&format!("{}\necho done\n", doc.replace("FLAG", "-d"))).expect("more");
        assert_eq!(
            imp.ignored,
            ["an extra argument: text after the here-document, not read"]
        );
    }

    #[test]
    fn credentials_in_a_pasted_command_are_never_echoed() {
        let cmd = "curl -u AKsecret:SKsecret -uAKinline:SKinline --oauth2-bearer TOKENsecret \
                   --cookie session=COOKIEsecret --proxy-user=PXsecret \
                   -H 'Authorization: Bearer HEADERsecret' \
                   'https://USERsecret:PWsecret@relay.example.com/volcv/v1?Action=CVProcess' \
                   EXTRAsecret --data-raw '{\"prompt\":\"x\"}'";
        let imp = parse_curl(cmd).expect("imports");
        let shown = format!("{:?} {:?} {}", imp.ignored, imp.headers, imp.endpoint);
        for secret in [
            "AKsecret",
            "SKsecret",
            "AKinline",
            "SKinline",
            "TOKENsecret",
            "COOKIEsecret",
            "PXsecret",
            "HEADERsecret",
            "USERsecret",
            "PWsecret",
            "EXTRAsecret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(imp.endpoint, "https://relay.example.com/volcv/v1");
        assert_eq!(imp.headers, ["Authorization"]);
        assert!(
            imp.ignored
                .iter()
                .any(|i| i == "-u (its value is not shown)")
        );
        let e = parse_curl("curl 'https://u:PWsecret@[bad' -d '{}'").expect_err("bad URL");
        assert!(!e.contains("PWsecret"), "{e}");
    }

    #[test]
    fn quoting_round_trips_through_the_word_splitter() {
        for s in ["plain", "it's", "a b", "$HOME `x` \"q\" \\", "生成", ""] {
            let q = shell_quote(s);
            assert_eq!(shell_words(&q).expect("split"), vec![s.to_owned()], "{q}");
        }
        let v = shell_quote_with_vars("Authorization: Bearer ${VOLCV_API_KEY} \"$x\"");
        assert_eq!(v, "\"Authorization: Bearer ${VOLCV_API_KEY} \\\"\\$x\\\"\"");
    }

    #[test]
    fn parses_the_reference_sample_curl() {
        let text = r#"curl --location --request POST 'https://relay.example/volcv/v1?Action=CVProcess&Version=2022-08-31' \
--header 'Authorization: Bearer {{YOUR_API_KEY}}' \
--header 'Content-Type: application/json' \
--data-raw '{
"req_key": "high_aes_ip_v20",
// "binary_data_base64": [],
"image_urls": ["https://xxx"],
"prompt": "Vast armies charging forward",
"seed": -1
}'"#;
        let imp = parse_curl(text).expect("parse");
        assert_eq!(imp.endpoint, "https://relay.example/volcv/v1");
        assert_eq!(imp.action.as_deref(), Some("CVProcess"));
        assert_eq!(imp.version.as_deref(), Some("2022-08-31"));
        assert_eq!(imp.body["prompt"], "Vast armies charging forward");
        assert_eq!(imp.headers, ["Authorization", "Content-Type"]);
        assert!(imp.ignored.is_empty(), "{:?}", imp.ignored);
    }

    #[test]
    fn rejects_what_it_cannot_use_with_clear_errors() {
        assert!(
            parse_curl("wget x")
                .expect_err("not curl")
                .contains("start with `curl`")
        );
        assert!(
            parse_curl("curl https://x/")
                .expect_err("no body")
                .contains("no body")
        );
        assert!(
            parse_curl("curl -X GET https://x/ -d '{}'")
                .expect_err("GET")
                .contains("POST")
        );
        assert!(
            parse_curl("curl 'https://x/")
                .expect_err("quote")
                .contains("unterminated")
        );
        assert!(
            parse_curl("curl https://x/ -d @body.json")
                .expect_err("file")
                .contains("in a file")
        );
        let imp = parse_curl(r#"{"prompt":"x"}"#).expect("bare json");
        assert_eq!(imp.body["prompt"], "x");
    }
}
