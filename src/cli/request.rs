//! The request a command sends: a JSON file or the defaults, the model (`--req-key`) and a
//! preset (`--preset`), `--set` overrides and `--image`, validated against the schema. Shared
//! by `send` and `curl`.

use crate::api::schema::{self, Schema, remove_path, set_path};
use crate::config;
use crate::images;
use crate::presets::{Preset, PresetStore};
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::Path;

#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub connection: super::Connection,
    /// The request body as a JSON file (the sample's shape), or - for stdin. Without it the
    /// request starts from the schema's defaults and the config's [defaults].
    #[arg(value_name = "REQUEST.json|-")]
    pub request: Option<String>,
    /// The model (see `volcv schema --all`). Without a request file the request starts from
    /// its defaults; a request file for another model is switched to it (fields it does not
    /// take are dropped, with a warning). `--set req_key=KEY` does the same.
    #[arg(long, value_name = "KEY")]
    pub req_key: Option<String>,
    /// Apply a saved preset (`volcv preset list`): its model and every parameter, before
    /// --set; the prompt and the reference image stay the request's.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Set a field with schema-typed parsing, e.g. --set seed=42 --set logo_info.add_logo=true
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// The reference image: a local JPEG/PNG (sent as binary_data_base64) or an http(s) URL
    /// (sent as image_urls).
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<String>,
    /// When the local --image is over the service's limits (4.7 MB, 128..4096 px a side,
    /// aspect 3:1), send a fitted copy: cropped to 3:1, scaled, re-encoded as JPEG. The file
    /// is never changed; what was done is reported. Without it, such an image is an error.
    #[arg(long)]
    pub fit_image: bool,
}

/// A body ready to send, with the warnings validation found.
#[derive(Debug)]
pub struct Built {
    pub body: Value,
    pub warnings: Vec<String>,
}

/// Builds and validates the body: every problem at once, nothing sent when there is one. A
/// body whose req_key has no schema is passed through unvalidated, with a warning.
pub fn build(loaded: &config::Loaded, args: &RequestArgs) -> Result<Built, Vec<String>> {
    let (body, notes) = build_body(loaded, args)?;
    let schema = body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema::schema_for);
    match schema {
        Some(s) => {
            let report = s.validate(&body);
            let errors: Vec<String> = report.errors().map(|i| i.message.clone()).collect();
            if !errors.is_empty() {
                return Err(errors);
            }
            let mut warnings = notes;
            warnings.extend(report.warnings().map(|i| i.message.clone()));
            Ok(Built {
                body: s.normalize(&body),
                warnings,
            })
        }
        None => Ok(Built {
            warnings: vec![format!(
                "no schema for req_key {}; sent without validation (known: {})",
                body.get("req_key")
                    .map_or("(missing)".to_owned(), Value::to_string),
                schema::known_req_keys()
            )],
            body,
        }),
    }
}

/// The body from the request file (or defaults), then `--set`, then `--image`; with notes on
/// what `--fit-image` changed. Not validated (`volcv sweep` validates each cell instead).
pub(super) fn build_body(
    loaded: &config::Loaded,
    args: &RequestArgs,
) -> Result<(Value, Vec<String>), Vec<String>> {
    let mut notes = Vec::new();
    let (target, preset) = chosen_model(loaded, args)?;
    let mut body = match args.request.as_deref() {
        None => loaded
            .default_body(target.unwrap_or(schema::default_schema()))
            .map_err(|e| vec![e.to_string()])?,
        Some(src) => read_request(src).map_err(|e| vec![e])?,
    };
    if !body.is_object() {
        return Err(vec![format!(
            "the request body must be a JSON object, got {}",
            schema::json_type(&body)
        )]);
    }
    if let Some(to) = target
        && body.get("req_key").and_then(Value::as_str) != Some(to.req_key)
    {
        let switched = schema::switch_schema(&body, to);
        note_dropped(&mut notes, to, &switched.dropped);
        body = switched.body;
    }
    if let Some(p) = &preset {
        let defaults = loaded
            .default_body(p.schema)
            .map_err(|e| vec![e.to_string()])?;
        let applied = p.apply(&body, &defaults);
        note_dropped(&mut notes, p.schema, &applied.dropped);
        notes.extend(
            p.warnings
                .iter()
                .map(|w| format!("preset {:?}: {w}", p.name)),
        );
        body = applied.body;
    }
    let key = body
        .get("req_key")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let schema: Option<&Schema> = match key.as_deref() {
        Some(k) => schema::schema_for(k),
        None => Some(schema::default_schema()),
    };
    let mut errors = Vec::new();
    for assignment in args.set.iter().filter(|a| set_req_key(a).is_none()) {
        match schema {
            Some(s) => {
                if let Err(e) = s.apply_set(&mut body, assignment) {
                    errors.push(e);
                }
            }
            None => errors.push(format!(
                "--set needs a known req_key to type its value; {:?} has no schema (known: {})",
                key.as_deref().unwrap_or_default(),
                schema::known_req_keys()
            )),
        }
    }
    if let Some(image) = &args.image {
        match load_image_arg(image, args.fit_image, &mut notes) {
            Ok(ImageArg::Url(u)) => {
                remove_path(&mut body, schema::REFERENCE_BASE64);
                set_path(&mut body, schema::REFERENCE_URL, json!([u]));
            }
            Ok(ImageArg::Base64(b)) => {
                remove_path(&mut body, schema::REFERENCE_URL);
                set_path(&mut body, schema::REFERENCE_BASE64, json!([b]));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok((body, notes))
    } else {
        Err(errors)
    }
}

/// The model `--req-key` (or `--set req_key=KEY`) and `--preset` ask for, with the loaded
/// preset; `None` when neither names one.
fn chosen_model(
    loaded: &config::Loaded,
    args: &RequestArgs,
) -> Result<(Option<&'static Schema>, Option<Preset>), Vec<String>> {
    let named = args
        .set
        .iter()
        .filter_map(|a| set_req_key(a))
        .chain(args.req_key.as_deref())
        .last();
    let explicit = match named {
        None => None,
        Some(k) => Some(schema::schema_for(k).ok_or_else(|| {
            vec![format!(
                "req_key {k:?} is not a model volcv knows (known: {})",
                schema::known_req_keys()
            )]
        })?),
    };
    let preset = match &args.preset {
        None => None,
        Some(name) => Some(
            PresetStore::for_paths(&loaded.paths)
                .load(name)
                .map_err(|e| vec![e.to_string()])?,
        ),
    };
    match (explicit, &preset) {
        (Some(s), Some(p)) if !std::ptr::eq(s, p.schema) => Err(vec![format!(
            "req_key {} and preset {:?} (for {}) disagree; give one of them",
            s.req_key, p.name, p.schema.req_key
        )]),
        (Some(s), _) => Ok((Some(s), preset)),
        (None, Some(p)) => Ok((Some(p.schema), preset)),
        (None, None) => Ok((None, None)),
    }
}

/// The model of a `--set req_key=KEY`.
pub(super) fn set_req_key(assignment: &str) -> Option<&str> {
    let (name, value) = assignment.split_once('=')?;
    (name.trim() == "req_key").then(|| value.trim())
}

fn note_dropped(notes: &mut Vec<String>, to: &Schema, dropped: &[(String, Value)]) {
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|(k, _)| k.as_str()).collect();
        notes.push(format!(
            "{} does not take {}; not sent",
            to.req_key,
            names.join(", ")
        ));
    }
}

/// The largest request file read (the service refuses bodies over 32 MiB anyway).
const REQUEST_CAP: u64 = 64 * 1024 * 1024;

/// Reads a request body: a JSON file, or `-` for stdin. A FIFO is fine (`<(...)` in a shell);
/// a directory, an empty file, more than 64 MiB or text that is not UTF-8 each get an error
/// naming the file. A leading UTF-8 byte-order mark is skipped.
pub(super) fn read_request(src: &str) -> Result<Value, String> {
    let (name, bytes) = if src == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .take(REQUEST_CAP + 1)
            .read_to_end(&mut b)
            .map_err(|e| format!("cannot read the request from stdin: {e}"))?;
        ("stdin".to_owned(), b)
    } else {
        let cannot = |e: std::io::Error| format!("cannot read request file {src}: {e}");
        if std::fs::metadata(src).map_err(cannot)?.is_dir() {
            return Err(format!(
                "request file {src} is a directory; a JSON file (the request body) is expected"
            ));
        }
        let mut b = Vec::new();
        std::fs::File::open(src)
            .map_err(cannot)?
            .take(REQUEST_CAP + 1)
            .read_to_end(&mut b)
            .map_err(cannot)?;
        (format!("file {src}"), b)
    };
    if bytes.len() as u64 > REQUEST_CAP {
        return Err(format!(
            "request {name} is larger than {REQUEST_CAP} bytes; the service takes bodies up to \
             32 MiB (use --image or image_urls for the reference image)"
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!("request {name} is not UTF-8 text ({e}); a JSON object is expected")
    })?;
    // Windows editors start UTF-8 files with a byte-order mark; JSON has no place for it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(format!(
            "request {name} is empty; a JSON object (the request body) is expected"
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("request {name} is not valid JSON: {e}"))
}

enum ImageArg {
    Url(String),
    Base64(String),
}

/// Turns `--image` into a URL or bare base64 of a local JPEG/PNG, with errors naming the file.
/// The file is checked whole ([`images::reference::load_whole`]: type, size, format, complete
/// and decodable). A file over the service's limits is an error, or with `fit` a fitted copy
/// (noted).
fn load_image_arg(arg: &str, fit: bool, notes: &mut Vec<String>) -> Result<ImageArg, String> {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        return url::Url::parse(arg)
            .map(|_| ImageArg::Url(arg.to_owned()))
            .map_err(|e| format!("--image {arg:?} is not a valid URL: {e}"));
    }
    use images::reference::{WholeError, load_whole};
    let whole = load_whole(Path::new(arg), fit).map_err(|e| match e {
        WholeError::Read(e) => format!("--image {e}"),
        WholeError::Fit(e) => format!("--image {arg}: cannot fit it: {e}"),
        WholeError::OverLimits(problems) => format!(
            "--image {arg}: {}; the service takes JPEG or PNG of at most {} bytes (4.7 MB), \
             128..4096 px a side, aspect at most 3:1; --fit-image sends a \
             cropped/scaled/re-encoded copy that fits",
            problems.join("; "),
            schema::MAX_IMAGE_BYTES
        ),
    })?;
    if let Some((problems, done)) = &whole.fitted {
        notes.push(format!(
            "--image {arg} was over the limits ({}); the request carries a fitted copy: {}",
            problems.join("; "),
            done.join(", ")
        ));
    }
    let bytes = whole.bytes;
    Ok(ImageArg::Base64(
        base64::engine::general_purpose::STANDARD.encode(&bytes),
    ))
}
