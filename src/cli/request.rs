//! The request a command sends: a JSON file or the defaults, `--set` overrides and
//! `--image`, validated against the schema. Shared by `send` and `curl`.

use crate::api::schema::{self, Schema, remove_path, set_path};
use crate::config;
use crate::images;
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::Path;

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The request body as a JSON file (the sample's shape), or - for stdin. Without it the
    /// request starts from the schema's defaults and the config's [defaults].
    #[arg(value_name = "REQUEST.json|-")]
    pub request: Option<String>,
    /// Set a field with schema-typed parsing, e.g. --set seed=42 --set logo_info.add_logo=true
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// The reference image: a local JPEG/PNG (sent as binary_data_base64) or an http(s) URL
    /// (sent as image_urls).
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<String>,
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
    let body = build_body(loaded, args)?;
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
            Ok(Built {
                body: s.normalize(&body),
                warnings: report.warnings().map(|i| i.message.clone()).collect(),
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

/// The body from the request file (or defaults), then `--set`, then `--image`.
fn build_body(loaded: &config::Loaded, args: &RequestArgs) -> Result<Value, Vec<String>> {
    let mut body = match args.request.as_deref() {
        None => loaded
            .default_body(schema::default_schema())
            .map_err(|e| vec![e.to_string()])?,
        Some(src) => read_request(src).map_err(|e| vec![e])?,
    };
    if !body.is_object() {
        return Err(vec![format!(
            "the request body must be a JSON object, got {}",
            schema::json_type(&body)
        )]);
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
    for assignment in &args.set {
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
        match load_image_arg(image) {
            Ok(ImageArg::Url(u)) => {
                remove_path(&mut body, "binary_data_base64");
                set_path(&mut body, "image_urls", json!([u]));
            }
            Ok(ImageArg::Base64(b)) => {
                remove_path(&mut body, "image_urls");
                set_path(&mut body, "binary_data_base64", json!([b]));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(errors)
    }
}

fn read_request(src: &str) -> Result<Value, String> {
    let (name, text) = if src == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the request from stdin: {e}"))?;
        ("stdin".to_owned(), s)
    } else {
        let text = std::fs::read_to_string(src)
            .map_err(|e| format!("cannot read request file {src}: {e}"))?;
        (src.to_owned(), text)
    };
    serde_json::from_str(&text).map_err(|e| format!("request {name} is not valid JSON: {e}"))
}

enum ImageArg {
    Url(String),
    Base64(String),
}

/// Turns `--image` into a URL or bare base64 of a local JPEG/PNG, with errors naming the file.
fn load_image_arg(arg: &str) -> Result<ImageArg, String> {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        return url::Url::parse(arg)
            .map(|_| ImageArg::Url(arg.to_owned()))
            .map_err(|e| format!("--image {arg:?} is not a valid URL: {e}"));
    }
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|e| format!("--image {arg}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("--image {arg}: not a regular file"));
    }
    if meta.len() > schema::MAX_IMAGE_BYTES as u64 {
        return Err(format!(
            "--image {arg}: {} bytes; the service takes at most {} bytes (4.7 MB)",
            meta.len(),
            schema::MAX_IMAGE_BYTES
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("--image {arg}: {e}"))?;
    match images::sniff(&bytes) {
        Some(images::Format::Jpeg | images::Format::Png) => {}
        Some(other) => {
            return Err(format!(
                "--image {arg}: {} images are not accepted; use JPEG or PNG",
                other.name()
            ));
        }
        None if bytes.is_empty() => return Err(format!("--image {arg}: the file is empty")),
        None => return Err(format!("--image {arg}: not a JPEG or PNG image")),
    }
    Ok(ImageArg::Base64(
        base64::engine::general_purpose::STANDARD.encode(&bytes),
    ))
}
