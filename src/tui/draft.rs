//! The form kept across restarts: `<data dir>/draft.json` (`<data dir>/demo/` for `--demo`).
//! The worker writes it when the form changes (coalesced, [`crate::tui::msg::Cmd::SaveDraft`]);
//! it is read once at start, before the UI, and restored with a note. What it holds: the
//! model, every value, the prompt, text typed into a field that did not parse, the selected
//! row, a request text from `Ctrl-e` that could not be applied, and the reference: a URL as
//! is, a file as its path (read again at start, so a fitted file is offered for fitting
//! again), inline base64 (pasted, replayed) only up to [`INLINE_CAP`]. A draft that cannot be
//! read is never fatal: it is renamed aside (kept, not deleted) and the form starts fresh.

use crate::api::schema::{self, Schema};
use crate::tui::form::{FormState, Reference, inline_image};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The draft's file name in the data dir.
pub const DRAFT_FILE: &str = "draft.json";

/// The draft format's version (`"volcv_draft": 1`).
pub const DRAFT_VERSION: u64 = 1;

/// Largest inline reference (characters of base64) kept in the draft; a bigger one is left
/// out, and the restored form says so.
pub const INLINE_CAP: usize = 2 * 1024 * 1024;

/// A draft read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The form it holds.
    pub state: FormState,
    /// Request text from `Ctrl-e` that could not be applied, kept for the next `Ctrl-e`.
    pub unapplied_request: Option<String>,
    /// What could not be restored, in words (an inline reference over the cap).
    pub notes: Vec<String>,
}

/// What was found at start.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No draft file.
    Nothing,
    /// A draft to restore.
    Draft(Box<Draft>),
    /// A file that cannot be used: why, and where it was moved (`None`: it could not be).
    Unusable {
        /// Why it cannot be used, naming the file.
        why: String,
        /// Where the file now is.
        kept_as: Option<PathBuf>,
    },
}

fn reference_json(r: &Reference, fingerprint: bool) -> Value {
    match r {
        Reference::Empty => Value::Null,
        Reference::Loading(input) | Reference::Failed { input, .. } => json!({ "input": input }),
        Reference::Url(u) => json!({ "url": u }),
        Reference::Image(img) => match &img.path {
            Some(p) => json!({ "path": p.to_string_lossy() }),
            // Bytes are compared by identity: the fingerprint is taken on every update.
            None if fingerprint => json!({
                "base64_at": format!("{:p}", Arc::as_ptr(&img.base64)),
                "len": img.base64.len(),
            }),
            None if img.base64.len() <= INLINE_CAP => json!({ "base64": &*img.base64 }),
            None => json!({ "inline_left_out": img.base64.len() }),
        },
    }
}

fn to_value(state: &FormState, unapplied: Option<&str>, fingerprint: bool) -> Value {
    let raw: Map<String, Value> = state
        .raw
        .iter()
        .map(|(k, (text, _))| ((*k).to_owned(), Value::from(text.as_str())))
        .collect();
    json!({
        "volcv_draft": DRAFT_VERSION,
        "req_key": state.schema.req_key,
        "body": state.body,
        "prompt": state.prompt,
        "raw": raw,
        "reference": reference_json(&state.reference, fingerprint),
        "selected": state.selected,
        "unapplied_request": unapplied,
    })
}

/// The draft file's text for a form.
pub fn to_text(state: &FormState, unapplied: Option<&str>) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(state, unapplied, false))
        .unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

/// A cheap text that changes when the draft would (image bytes by identity, not content).
pub fn fingerprint(state: &FormState, unapplied: Option<&str>) -> String {
    to_value(state, unapplied, true).to_string()
}

/// Reads a draft's text; the error names the field and what is allowed.
pub fn parse(text: &str) -> Result<Draft, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match v.get("volcv_draft").and_then(Value::as_u64) {
        Some(DRAFT_VERSION) => {}
        Some(n) => return Err(format!("volcv_draft {n}: only {DRAFT_VERSION} is known")),
        None => return Err("volcv_draft: missing (not a volcv draft)".to_owned()),
    }
    let key = v
        .get("req_key")
        .and_then(Value::as_str)
        .ok_or("req_key: missing or not a string")?;
    let schema: &'static Schema = schema::schema_for(key).ok_or_else(|| {
        format!(
            "req_key {key:?} is not a known model ({})",
            schema::known_req_keys()
        )
    })?;
    let body = match v.get("body") {
        Some(b @ Value::Object(_)) => b.clone(),
        _ => return Err("body: missing or not a JSON object".to_owned()),
    };
    let prompt = match v.get("prompt") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("prompt: not a string".to_owned()),
    };
    let mut raw = std::collections::BTreeMap::new();
    if let Some(m) = v.get("raw").and_then(Value::as_object) {
        for (k, t) in m {
            let (Some(f), Some(t)) = (schema.field(k), t.as_str()) else {
                return Err(format!("raw.{k}: not a field of {key} with typed text"));
            };
            // The reason is found again; text that parses now is simply not restored.
            if let Err(reason) = f.parse(t) {
                raw.insert(f.name, (t.to_owned(), reason));
            }
        }
    }
    let mut notes = Vec::new();
    let r = v.get("reference").unwrap_or(&Value::Null);
    let text_of = |name: &str| r.get(name).and_then(Value::as_str).map(str::to_owned);
    let reference = if r.is_null() {
        Reference::Empty
    } else if let Some(p) = text_of("path").or_else(|| text_of("input")) {
        Reference::Loading(p)
    } else if let Some(u) = text_of("url") {
        Reference::Url(u)
    } else if let Some(b) = text_of("base64") {
        inline_image(&b)
    } else if let Some(n) = r.get("inline_left_out").and_then(Value::as_u64) {
        notes.push(format!(
            "the inline reference ({n} characters of base64) was too big to keep"
        ));
        Reference::Empty
    } else {
        return Err("reference: expected null or one of path, input, url, base64".to_owned());
    };
    let selected = v.get("selected").and_then(Value::as_u64).unwrap_or(0);
    let unapplied_request = match v.get("unapplied_request") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("unapplied_request: not a string".to_owned()),
    };
    Ok(Draft {
        state: FormState {
            schema,
            body,
            raw,
            prompt,
            reference,
            selected: usize::try_from(selected).unwrap_or(0),
        },
        unapplied_request,
        notes,
    })
}

/// Where an unusable draft is moved: `draft.unusable-<unix seconds>.json` beside it.
fn aside(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    path.with_file_name(format!("draft.unusable-{secs}.json"))
}

/// Reads the draft at `path` (at start, before the UI). An unusable file is renamed aside.
pub fn load(path: &Path) -> Found {
    let text = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Nothing,
        Err(e) => {
            return Found::Unusable {
                why: format!("cannot read the draft {}: {e}", path.display()),
                kept_as: Some(path.to_path_buf()),
            };
        }
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned()),
    };
    match text.and_then(|t| parse(&t)) {
        Ok(d) => Found::Draft(Box::new(d)),
        Err(why) => {
            let to = aside(path);
            match std::fs::rename(path, &to) {
                Ok(()) => Found::Unusable {
                    why: format!("the draft {} is unusable ({why})", path.display()),
                    kept_as: Some(to),
                },
                Err(e) => Found::Unusable {
                    why: format!(
                        "the draft {} is unusable ({why}) and could not be moved aside: {e}",
                        path.display()
                    ),
                    kept_as: None,
                },
            }
        }
    }
}

/// Writes the draft: a temporary file beside it, then renamed over it (never half a file).
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_file_name(format!(".{DRAFT_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::form::Form;

    #[test]
    fn a_form_round_trips_through_the_draft() {
        let s = schema::schema_for("byteedit_v2.0").expect("model");
        let mut f = Form::new(s, &s.default_body());
        f.set("seed", json!(7));
        f.commit_text(s.field("seed").expect("seed"), "many");
        f.reference = Reference::Url("https://example.com/a.jpg".into());
        let st = f.state();
        let d = parse(&to_text(&st, Some("{oops"))).expect("parse");
        assert_eq!(d.state, st);
        assert_eq!(d.unapplied_request.as_deref(), Some("{oops"));
        assert!(parse("{\"volcv_draft\": 2}").is_err());
        assert!(parse("[]").is_err());
    }
}
