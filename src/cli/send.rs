//! `volcv send`: one request, headless.

use super::request::{self, Built, RequestArgs};
use super::stop::{Stop, StopSignal};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::{Client, Exchange, TransportError};
use crate::api::response::{Outcome, ResultImage};
use crate::config;
use crate::images;
use crate::store::{NewEntry, ResultFile, Store};
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use base64::Engine as _;
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub req: RequestArgs,
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
    /// Do not record this request in the history (`volcv history`).
    #[arg(long)]
    pub no_history: bool,
    /// After the summary, print the result images into the terminal (viuer: kitty, iTerm2 or
    /// colour blocks, as it detects), as wide as the terminal. Without a terminal on stdout
    /// only the paths are printed.
    #[arg(long, conflicts_with = "json")]
    pub print: bool,
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
    let _demo = match super::demo_backend(cli, &runtime, &mut o) {
        Ok(d) => d,
        Err(e) => return fail(args, EXIT_NO_ANSWER, "transport_error", &e, &[]),
    };
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e.to_string(), &[]),
    };
    for w in &loaded.warnings {
        eprintln!("volcv: warning: {w}");
    }
    let resolved = match loaded.resolve(&o) {
        Ok(r) => r,
        Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e.to_string(), &[]),
    };
    let Built { body, mut warnings } = match request::build(&loaded, &args.req) {
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
    if !args.json {
        for w in &warnings {
            eprintln!("volcv: warning: {}", escape_terminal(w, false));
        }
    }
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
    // From here on (something is about to be recorded and sent) SIGINT, SIGTERM and SIGHUP
    // cancel cleanly (see `stop`). Before, they end the process at once, as usual: nothing
    // has been written, and a read of the request from stdin is not left hanging.
    let stop = match Stop::install(&runtime) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("cannot watch for signals: {e}");
            return fail(args, EXIT_NO_ANSWER, "transport_error", &message, &[]);
        }
    };
    let recording = if args.no_history {
        None
    } else {
        start_recording(
            args,
            &loaded.paths.data_dir,
            &resolved.profile,
            &client,
            &bytes,
            &mut warnings,
        )
    };
    if let Some(sig) = stop.requested() {
        return stopped_before_sending(args, sig, recording);
    }
    runtime.block_on(async {
        let cancel = stop.token();
        let action = client.target.action.clone();
        let exchange = client.call_bytes(&action, bytes, cancel).await;
        let saved = match exchange.outcome() {
            Some(Outcome::Success(s)) => {
                save_images(&client, &s.images, &exchange, &out_dir, &stop).await
            }
            _ => SaveReport::default(),
        };
        // Recorded even when a signal came: the entry says what happened (cancelled, or the
        // answer with the images obtained so far). A signal during this write waits for it.
        let history_id = recording.and_then(|r| r.finish(args, &exchange, &saved, &mut warnings));
        let stopped = stop.requested();
        let code = report(args, &exchange, &saved, &warnings, history_id, stopped);
        if let Some(sig) = stopped {
            return sig.exit_code();
        }
        if args.print {
            let paths = saved.paths.clone();
            let _ = tokio::task::spawn_blocking(move || print_images(&paths)).await;
        }
        code
    })
}

/// A stop signal came before the request went out: nothing is sent, a pending entry is
/// marked cancelled.
fn stopped_before_sending(args: &SendArgs, sig: StopSignal, recording: Option<Recording>) -> u8 {
    let mut message = format!("stopped by {} before sending; nothing was sent", sig.name);
    if let Some(r) = recording {
        match r.store.mark_cancelled(r.id) {
            Ok(_) => message.push_str(&format!("; history entry {} marked cancelled", r.id)),
            Err(e) => message.push_str(&format!("; history entry {}: {e}", r.id)),
        }
    }
    fail(args, sig.exit_code(), "cancelled", &message, &[])
}

/// The history entry of this send, written as pending before the request goes out.
struct Recording {
    store: Store,
    id: i64,
}

/// A history problem never stops a send: it is a warning (in the JSON output with `--json`).
fn history_warning(args: &SendArgs, warnings: &mut Vec<String>, message: String) {
    let message = format!("not recorded in the history: {message}");
    if !args.json {
        eprintln!("volcv: warning: {}", escape_terminal(&message, false));
    }
    warnings.push(message);
}

fn start_recording(
    args: &SendArgs,
    data_dir: &Path,
    profile: &str,
    client: &Client,
    bytes: &[u8],
    warnings: &mut Vec<String>,
) -> Option<Recording> {
    let store = match Store::open(data_dir) {
        Ok(s) => s,
        Err(e) => {
            history_warning(args, warnings, e.to_string());
            return None;
        }
    };
    let action = client.target.action.clone();
    let headers = client.prepare(&action, bytes.to_vec()).redacted_headers();
    let entry = NewEntry {
        profile,
        endpoint: client.target.endpoint.as_str(),
        action: &action,
        request_headers: &headers,
        request_body: bytes,
    };
    match store.begin(&entry) {
        Ok(id) => Some(Recording { store, id }),
        Err(e) => {
            history_warning(args, warnings, e.to_string());
            None
        }
    }
}

impl Recording {
    /// Completes the entry with the exchange and the result images; returns its id.
    fn finish(
        self,
        args: &SendArgs,
        exchange: &Exchange,
        saved: &SaveReport,
        warnings: &mut Vec<String>,
    ) -> Option<i64> {
        let files: Vec<ResultFile<'_>> = saved
            .kept
            .iter()
            .map(|k| ResultFile {
                index: k.index,
                bytes: &k.bytes,
                url: k.url.as_deref(),
                saved_path: k.path.as_deref(),
            })
            .collect();
        match self.store.complete(self.id, exchange, &files) {
            Ok(()) => Some(self.id),
            Err(e) => {
                history_warning(args, warnings, e.to_string());
                None
            }
        }
    }
}

/// Columns to print an image at: the terminal's width, narrower when the picture would be
/// taller than the screen (less a line for its path). A cell is about twice as tall as wide,
/// and viuer keeps the aspect ratio when given only a width.
fn print_width(w: u32, h: u32, cols: u16, rows: u16) -> u32 {
    let cols = u32::from(cols.max(1));
    let rows = u32::from(rows.saturating_sub(2).max(2));
    let fit_rows = u64::from(rows) * 2 * u64::from(w) / u64::from(h.max(1));
    u32::try_from(fit_rows).unwrap_or(u32::MAX).clamp(1, cols)
}

/// Prints images into the terminal with viuer, as wide as the terminal, one after another.
/// Does nothing unless stdout is a terminal (the summary has already listed the paths).
pub(super) fn print_images(paths: &[PathBuf]) {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return;
    }
    let (cols, rows) = ratatui::crossterm::terminal::size().unwrap_or((80, 24));
    for p in paths {
        let img = std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| images::decode::decode_preview(&b, 2048).map_err(|e| e.to_string()));
        let img = match img {
            Ok(i) => i,
            Err(e) => {
                eprintln!("volcv: cannot print {}: {e}", p.display());
                continue;
            }
        };
        let config = viuer::Config {
            absolute_offset: false,
            width: Some(print_width(img.width(), img.height(), cols, rows)),
            restore_cursor: false,
            ..Default::default()
        };
        outln!("{}", p.display());
        if let Err(e) = viuer::print(&img, &config) {
            eprintln!("volcv: cannot print {}: {e}", p.display());
        }
    }
}

#[derive(Debug, Default)]
struct SaveReport {
    paths: Vec<PathBuf>,
    errors: Vec<String>,
    /// Every result image obtained (saved or not), for the history.
    kept: Vec<Kept>,
}

/// A result image's bytes, where it came from and where it was saved.
#[derive(Debug)]
struct Kept {
    index: usize,
    bytes: Vec<u8>,
    url: Option<String>,
    path: Option<PathBuf>,
}

/// Saves every result image: base64 decoded, URLs downloaded at once (they expire).
async fn save_images(
    client: &Client,
    list: &[ResultImage],
    exchange: &Exchange,
    dir: &Path,
    stop: &Stop,
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
        // A stop signal ends the saving between files: every file saved is complete.
        if let Some(sig) = stop.requested() {
            rep.errors.push(format!(
                "image {}: not saved: stopped by {}",
                i + 1,
                sig.name
            ));
            continue;
        }
        let stem = if rid.is_empty() {
            format!("volcv-{stamp}-{}", i + 1)
        } else {
            format!("volcv-{stamp}-{rid}-{}", i + 1)
        };
        let bytes = match img {
            ResultImage::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| format!("image {}: invalid base64 from the server: {e}", i + 1)),
            ResultImage::Url(u) => tokio::select! {
                got = images::download(client.http(), u, DOWNLOAD_CAP, timeout) => got
                    .map(|(b, _)| b)
                    .map_err(|e| format!("image {}: download failed: {e}", i + 1)),
                () = stop.token().cancelled() => Err(format!(
                    "image {}: not downloaded: stopped by {}",
                    i + 1,
                    stop.requested().map_or("a signal", |s| s.name)
                )),
            },
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
        rep.kept.push(Kept {
            index: i,
            bytes: bytes.clone(),
            url: match img {
                ResultImage::Url(u) => Some(u.clone()),
                ResultImage::Base64(_) => None,
            },
            path: None,
        });
        let saved =
            tokio::task::spawn_blocking(move || images::save_unique(&dir, &stem, ext, &bytes))
                .await;
        match saved {
            Ok(Ok(p)) => {
                if let Some(k) = rep.kept.last_mut() {
                    k.path = Some(p.clone());
                }
                rep.paths.push(p);
            }
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
        Err(TransportError::Cancelled) => "cancelled",
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

fn report(
    args: &SendArgs,
    ex: &Exchange,
    saved: &SaveReport,
    warnings: &[String],
    history_id: Option<i64>,
    stopped: Option<StopSignal>,
) -> u8 {
    let code = stopped.map_or_else(|| exit_code(ex), StopSignal::exit_code);
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
            "history_id": history_id,
            "signal": stopped.map(|s| s.name),
        });
        outln!("{}", json_for_terminal(&v));
    } else {
        print_human(ex, saved, stopped);
        if let Some(id) = history_id {
            if code == EXIT_OK {
                outln!("history: entry {id}");
            } else {
                eprintln!("history: entry {id}");
            }
        }
        if let Some(sig) = stopped {
            eprintln!("volcv: stopped by {}", sig.name);
        }
    }
    if code == EXIT_OK && !saved.errors.is_empty() {
        // The call succeeded but a result image was lost: that is no usable answer for a script.
        return EXIT_NO_ANSWER;
    }
    code
}

fn print_human(ex: &Exchange, saved: &SaveReport, stopped: Option<StopSignal>) {
    // Server text is escaped, and capped: a 1 MB message is not worth a terminal's scrollback.
    let e = |s: &str| escape_terminal(&truncate_chars(s, 2000), false);
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
        Err(TransportError::Cancelled) => eprintln!(
            "error: cancelled by {} after {took}{attempts}; the request was abandoned",
            stopped.map_or("a signal", |s| s.name)
        ),
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
            json_for_terminal(
                &json!({"outcome": kind, "exit_code": code, "message": message, "errors": errors})
            )
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

#[cfg(test)]
mod tests {
    #[test]
    fn printed_images_fit_the_screen_both_ways() {
        // A square picture on a wide terminal: as wide as it is tall (2 px per row).
        assert_eq!(super::print_width(1024, 1024, 120, 40), 76);
        // A wide picture on a narrow terminal: the terminal's width.
        assert_eq!(super::print_width(3000, 1000, 80, 40), 80);
        assert_eq!(super::print_width(10, 10, 0, 0), 1);
    }
}
