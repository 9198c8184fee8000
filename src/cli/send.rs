//! `volcv send`: one request, headless.

use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::{Client, Exchange};
use crate::api::response::{Outcome, ResultImage};
use crate::api::schema::{self, Schema, remove_path, set_path};
use crate::config;
use crate::images;
use crate::text::escape_terminal;
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct SendArgs {
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
    /// Where result images are saved [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object (outcome, code, message, ids, timings, saved paths) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print the exact HTTP request that would be sent (secrets redacted) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds one attempt may take, body included [default: the profile's, else 60]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// Cap for one downloaded result image.
const DOWNLOAD_CAP: usize = 64 * 1024 * 1024;

pub fn run(cli: &Cli, args: &SendArgs) -> u8 {
    let mut o = cli.overrides();
    o.timeout = args.timeout;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(args, EXIT_NO_ANSWER, "transport_error", &e.to_string(), &[]),
    };
    // The demo backend lives as long as this function: it is dropped (and stops) at return.
    let _demo = if cli.demo {
        match runtime.block_on(super::start_demo()) {
            Ok(server) => {
                o.endpoint = Some(server.url());
                o.auth = Some(crate::api::client::AuthMode::None);
                Some(server)
            }
            Err(e) => {
                return fail(
                    args,
                    EXIT_NO_ANSWER,
                    "transport_error",
                    &format!("cannot start the demo backend: {e}"),
                    &[],
                );
            }
        }
    } else {
        None
    };
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e.to_string(), &[]),
    };
    for w in &loaded.warnings {
        eprintln!("volcv: warning: {w}");
    }
    let body = match build_body(&loaded, args) {
        Ok(b) => b,
        Err(errors) => {
            return fail(
                args,
                EXIT_INVALID,
                "invalid_input",
                "invalid request",
                &errors,
            );
        }
    };
    let schema = body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema::schema_for);
    let mut warnings: Vec<String> = Vec::new();
    let body = match schema {
        Some(s) => {
            let report = s.validate(&body);
            warnings.extend(report.warnings().map(|i| i.message.clone()));
            let errors: Vec<String> = report.errors().map(|i| i.message.clone()).collect();
            if !errors.is_empty() {
                return fail(
                    args,
                    EXIT_INVALID,
                    "invalid_input",
                    "invalid request",
                    &errors,
                );
            }
            s.normalize(&body)
        }
        None => {
            warnings.push(format!(
                "no schema for req_key {}; sent without validation (known: {})",
                body.get("req_key")
                    .map_or("(missing)".to_owned(), Value::to_string),
                schema::known_req_keys()
            ));
            body
        }
    };
    if !args.json {
        for w in &warnings {
            eprintln!("volcv: warning: {}", escape_terminal(w, false));
        }
    }
    let resolved = match loaded.resolve(&o) {
        Ok(r) => r,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e.to_string(), &[]),
    };
    let client = match Client::new(resolved.target, resolved.options) {
        Ok(c) => c,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
    };
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e.to_string(), &[]),
    };
    if args.dry_run {
        let action = client.target.action.clone();
        out!("{}", client.prepare(&action, bytes).to_http_text());
        return EXIT_OK;
    }
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let action = client.target.action.clone();
        let exchange = client.call_bytes(&action, bytes, &cancel).await;
        let saved = match exchange.outcome() {
            Some(Outcome::Success(s)) => save_images(&client, &s.images, &exchange, &out_dir).await,
            _ => SaveReport::default(),
        };
        report(args, &exchange, &saved, &warnings)
    })
}

/// The body from the request file (or defaults), then `--set`, then `--image`.
fn build_body(loaded: &config::Loaded, args: &SendArgs) -> Result<Value, Vec<String>> {
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

#[derive(Debug, Default)]
struct SaveReport {
    paths: Vec<PathBuf>,
    errors: Vec<String>,
}

/// Saves every result image: base64 decoded, URLs downloaded at once (they expire).
async fn save_images(
    client: &Client,
    list: &[ResultImage],
    exchange: &Exchange,
    dir: &Path,
) -> SaveReport {
    let mut rep = SaveReport::default();
    let stamp = exchange
        .started_at
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let rid = exchange
        .outcome()
        .and_then(Outcome::request_id)
        .map(|r| {
            // Request ids start with a timestamp (already in the name): keep the random tail.
            let safe = images::safe_component(r, 64);
            safe[safe.len().saturating_sub(8)..].to_owned()
        })
        .unwrap_or_default();
    let timeout = client.options.timeout.max(Duration::from_secs(30));
    for (i, img) in list.iter().enumerate() {
        let stem = if rid.is_empty() {
            format!("volcv-{stamp}-{}", i + 1)
        } else {
            format!("volcv-{stamp}-{rid}-{}", i + 1)
        };
        let bytes = match img {
            ResultImage::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| format!("image {}: invalid base64 from the server: {e}", i + 1)),
            ResultImage::Url(u) => images::download(client.http(), u, DOWNLOAD_CAP, timeout)
                .await
                .map(|(b, _)| b)
                .map_err(|e| format!("image {}: download failed: {e}", i + 1)),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                rep.errors.push(e);
                continue;
            }
        };
        // Unknown content is kept (the result was paid for) but marked as such.
        let ext = images::sniff(&bytes).map_or("bin", images::Format::extension);
        let dir = dir.to_path_buf();
        let saved =
            tokio::task::spawn_blocking(move || images::save_unique(&dir, &stem, ext, &bytes))
                .await;
        match saved {
            Ok(Ok(p)) => rep.paths.push(p),
            Ok(Err(e)) => rep
                .errors
                .push(format!("image {}: cannot save: {e}", i + 1)),
            Err(e) => rep
                .errors
                .push(format!("image {}: cannot save: {e}", i + 1)),
        }
    }
    rep
}

fn outcome_kind(ex: &Exchange) -> &'static str {
    match &ex.result {
        Ok(Outcome::Success(_)) => "success",
        Ok(Outcome::Service(_)) => "service_error",
        Ok(Outcome::Gateway(_)) => "gateway_error",
        Ok(Outcome::Relay(_)) => "relay_error",
        Ok(Outcome::NonJson(_)) => "non_json",
        Err(_) => "transport_error",
    }
}

fn exit_code(ex: &Exchange) -> u8 {
    match &ex.result {
        Ok(Outcome::Success(_)) => EXIT_OK,
        Ok(Outcome::Service(_) | Outcome::Gateway(_) | Outcome::Relay(_)) => EXIT_SERVICE,
        Ok(Outcome::NonJson(_)) | Err(_) => EXIT_NO_ANSWER,
    }
}

fn report(args: &SendArgs, ex: &Exchange, saved: &SaveReport, warnings: &[String]) -> u8 {
    let code = exit_code(ex);
    let outcome = ex.outcome();
    if args.json {
        let (message, time_elapsed, te_secs, rephrased, data_rid) = match outcome {
            Some(Outcome::Success(s)) => (
                s.message.clone(),
                s.time_elapsed_raw.clone(),
                s.time_elapsed.map(|d| d.as_secs_f64()),
                s.rephraser_result.clone(),
                s.data_request_id.clone(),
            ),
            Some(o) => (o.summary(), None, None, None, None),
            None => (
                ex.result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                None,
                None,
                None,
                None,
            ),
        };
        let v = json!({
            "outcome": outcome_kind(ex),
            "exit_code": code,
            "http_status": ex.http_status,
            "code": outcome.and_then(Outcome::code),
            "message": message,
            "request_id": outcome.and_then(Outcome::request_id),
            "data_request_id": data_rid,
            "time_elapsed": time_elapsed,
            "time_elapsed_secs": te_secs,
            "rephraser_result": rephrased,
            "duration_ms": (ex.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "attempts": ex.attempts.len(),
            "images": saved.paths,
            "image_errors": saved.errors,
            "warnings": warnings,
        });
        outln!("{v}");
    } else {
        print_human(ex, saved);
    }
    if code == EXIT_OK && !saved.errors.is_empty() {
        // The call succeeded but a result image was lost: that is no usable answer for a script.
        return EXIT_NO_ANSWER;
    }
    code
}

fn print_human(ex: &Exchange, saved: &SaveReport) {
    let e = |s: &str| escape_terminal(s, false);
    let attempts = if ex.attempts.len() > 1 {
        format!(", {} attempts", ex.attempts.len())
    } else {
        String::new()
    };
    let took = format!("{:.2}s", ex.duration.as_secs_f64());
    match &ex.result {
        Ok(Outcome::Success(s)) => {
            outln!(
                "ok: {} {} in {took}{attempts} (service time_elapsed {})",
                s.code,
                e(&s.message),
                s.time_elapsed_raw.as_deref().map_or("-".to_owned(), e)
            );
            if let Some(r) = &s.request_id {
                outln!("request_id: {}", e(r));
            }
            if let Some(r) = s.rephraser_result.as_deref().filter(|r| !r.is_empty()) {
                outln!("rephraser_result: {}", e(r));
            }
            for p in &saved.paths {
                outln!("saved: {}", p.display());
            }
            if s.images.is_empty() {
                outln!("(the answer carried no images)");
            }
        }
        Ok(o) => {
            eprintln!(
                "error: {} (HTTP {}, {took}{attempts})",
                e(&o.summary()),
                ex.http_status.unwrap_or_default()
            );
            if let Some(r) = o.request_id() {
                eprintln!("request_id: {}", e(r));
            }
            if let Outcome::NonJson(n) = o {
                for line in n.excerpt.lines().take(8) {
                    eprintln!("  | {}", e(line));
                }
            }
        }
        Err(err) => eprintln!("error: {} after {took}{attempts}", e(&err.to_string())),
    }
    for err in &saved.errors {
        eprintln!("error: {}", e(err));
    }
}

fn fail(args: &SendArgs, code: u8, kind: &str, message: &str, errors: &[String]) -> u8 {
    if args.json {
        outln!(
            "{}",
            json!({"outcome": kind, "exit_code": code, "message": message, "errors": errors})
        );
    } else if errors.is_empty() {
        eprintln!("volcv: {}", escape_terminal(message, false));
    } else {
        eprintln!("volcv: {message}; nothing was sent:");
        for e in errors {
            eprintln!("  - {}", escape_terminal(e, false));
        }
    }
    code
}
