//! curl in and out: a shell-safe `curl` command for a prepared request (secrets replaced by
//! environment references unless asked), and the parsing of a pasted curl command back into
//! an endpoint, action and body.

use crate::api::client::{Auth, Prepared};
use crate::config::{ENV_ACCESS_KEY, ENV_API_KEY};
use serde_json::Value;
use url::Url;

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
pub fn to_curl(prepared: &Prepared, auth: &Auth, reveal: bool) -> String {
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
    lines.push(format!(
        "--data-raw {}",
        shell_quote(&String::from_utf8_lossy(&prepared.body))
    ));
    lines.join(" \\\n  ")
}

/// A request read back from a curl command.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The URL without `Action` and `Version`.
    pub endpoint: String,
    pub action: Option<String>,
    pub version: Option<String>,
    pub body: Value,
    /// Header names seen (values are not kept: they may hold secrets).
    pub headers: Vec<String>,
    /// Options that were ignored, for the user to check.
    pub ignored: Vec<String>,
}

/// Splits a shell command line into words: single and double quotes, backslash escapes and
/// line continuations, as POSIX shells do (no expansion).
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("unterminated single quote".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("unterminated double quote".to_owned()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("unterminated double quote".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                Some(ch) => {
                    in_word = true;
                    cur.push(ch);
                }
                None => {}
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
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

/// Reads a curl command (as copied from docs, a browser or `volcv curl`). A bare JSON body is
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
    let words = shell_words(trimmed)?;
    let mut it = words.into_iter().peekable();
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
                    headers.push(name.trim().to_owned());
                }
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                let d = value(&mut it).ok_or_else(|| format!("{flag} needs a value"))?;
                if d.starts_with('@') && flag != "--data-raw" {
                    return Err(format!(
                        "{flag} {d}: the body is in a file; paste the file's JSON instead"
                    ));
                }
                body = Some(d);
            }
            "-X" | "--request" => {
                let m = value(&mut it).ok_or("-X needs a value")?;
                if !m.eq_ignore_ascii_case("POST") {
                    return Err(format!("method {m}: CVProcess calls are POST"));
                }
            }
            "--url" => url = value(&mut it),
            "-L" | "--location" | "-s" | "-S" | "-sS" | "--silent" | "--show-error"
            | "--compressed" | "-k" | "--insecure" | "-v" | "--verbose" | "-i" => {}
            // Options whose value is a credential: the value is skipped, never echoed.
            f if SECRET_OPTIONS.contains(&f) => {
                let _ = value(&mut it);
                ignored.push(format!("{f} (its value is not shown)"));
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
    let body_text = body.ok_or("the curl command has no body (-d / --data-raw)")?;
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
