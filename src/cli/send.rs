//! `volcv send`: one request, headless.

use super::request::{self, Built, RequestArgs};
use super::stop::{Stop, StopSignal};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::{Client, Exchange, TransportError, scrubbed_note};
use crate::api::response::Outcome;
use crate::api::tasks::Mode;
use crate::config;
use crate::exchange::results::{self, Collected};
use crate::images;
use crate::store::{NewEntry, OutcomeKind, Store};
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

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
    /// sync: one CVProcess call; async: submit a task (CVSync2AsyncSubmitTask) and poll
    /// CVSync2AsyncGetResult until it is done, status on stderr [default: the profile's mode,
    /// else sync]
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<Mode>,
    /// In async mode, how long to poll before leaving the task pending for `volcv tasks
    /// resume`, e.g. 30m, 2h [default: 30m]
    #[arg(long, value_name = "AGE", value_parser = super::history::parse_age)]
    pub max_wait: Option<std::time::Duration>,
}

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
    let mode = args.mode.unwrap_or(resolved.mode);
    if args.dry_run && mode == Mode::Async {
        return match super::tasks::dry_run(&client, &body) {
            Ok(text) => {
                out!("{text}");
                EXIT_OK
            }
            Err(e) => fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
        };
    }
    let history = super::HistoryDir::new(cli, &loaded.paths);
    if mode == Mode::Async {
        let profile = &resolved.profile;
        return super::tasks::send_async(
            args, &runtime, &client, &body, &history, profile, warnings,
        );
    }
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
            &history,
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
        let reason = || stop.requested().map(|s| s.name);
        let halt = results::Halt {
            token: cancel,
            reason: &reason,
        };
        let saved = match exchange.outcome() {
            Some(Outcome::Success(s)) => {
                results::collect_until(&client, &s.images, &exchange, Some(&out_dir), Some(halt))
                    .await
            }
            _ => Collected::default(),
        };
        // Recorded even when a signal came: the entry says what happened (cancelled, or the
        // answer with the images obtained so far). A signal during this write waits for it.
        let history_id = recording.and_then(|r| r.finish(args, &exchange, &saved, &mut warnings));
        let stopped = stop.requested();
        let code = report_stopped(
            args.json, &exchange, &saved, &warnings, history_id, None, stopped,
        );
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
pub(super) fn history_warning(args: &SendArgs, warnings: &mut Vec<String>, message: String) {
    let message = format!("not recorded in the history: {message}");
    if !args.json {
        eprintln!("volcv: warning: {}", escape_terminal(&message, false));
    }
    warnings.push(message);
}

fn start_recording(
    args: &SendArgs,
    history: &super::HistoryDir,
    profile: &str,
    client: &Client,
    bytes: &[u8],
    warnings: &mut Vec<String>,
) -> Option<Recording> {
    let store = match history.open() {
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
        saved: &Collected,
        warnings: &mut Vec<String>,
    ) -> Option<i64> {
        match self
            .store
            .complete(self.id, exchange, &saved.result_files())
        {
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

fn exit_code(ex: &Exchange) -> u8 {
    match &ex.result {
        Ok(Outcome::Success(_)) => EXIT_OK,
        Ok(Outcome::Service(_) | Outcome::Gateway(_) | Outcome::Relay(_)) => EXIT_SERVICE,
        Ok(Outcome::NonJson(_)) | Err(_) => EXIT_NO_ANSWER,
    }
}

/// What an async request adds to a report.
#[derive(Debug, Clone, Copy)]
pub(super) struct TaskInfo<'a> {
    pub task_id: Option<&'a str>,
    pub task_status: Option<&'a str>,
    pub polls: u32,
}

impl TaskInfo<'_> {
    /// The JSON fields: `mode`, `task_id`, `task_status`, `polls`.
    pub(super) fn add_to(&self, v: &mut serde_json::Value) {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("mode".into(), json!("async"));
            obj.insert("task_id".into(), json!(self.task_id));
            obj.insert("task_status".into(), json!(self.task_status));
            obj.insert("polls".into(), json!(self.polls));
        }
    }
}

/// The exit code of an answer: a lost result image makes a success no usable answer.
fn final_code(ex: &Exchange, saved: &Collected) -> u8 {
    let code = exit_code(ex);
    if code == EXIT_OK && !saved.errors.is_empty() {
        // The call succeeded but a result image was lost: that is no usable answer for a script.
        return EXIT_NO_ANSWER;
    }
    code
}

/// The `--json` object of an answer (and the exit code it means).
pub(super) fn report_json(
    ex: &Exchange,
    saved: &Collected,
    warnings: &[String],
    history_id: Option<i64>,
    task: Option<&TaskInfo<'_>>,
) -> (u8, serde_json::Value) {
    // What the process exits with: a lost result image makes a success exit 4.
    let code = final_code(ex, saved);
    let outcome = ex.outcome();
    let mut warnings = warnings.to_vec();
    if ex.scrubbed > 0 {
        warnings.push(scrubbed_note(ex.scrubbed));
    }
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
    let mut v = json!({
        "outcome": OutcomeKind::of(&ex.result).as_str(),
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
    });
    if let Some(t) = task {
        t.add_to(&mut v);
    }
    (code, v)
}

/// Prints an answer (one JSON object with `json`) and returns the exit code.
pub(super) fn report(
    json: bool,
    ex: &Exchange,
    saved: &Collected,
    warnings: &[String],
    history_id: Option<i64>,
    task: Option<&TaskInfo<'_>>,
) -> u8 {
    report_stopped(json, ex, saved, warnings, history_id, task, None)
}

/// [`report`] of an answer cut short by a stop signal (`stopped`): the JSON gains `signal`,
/// and the exit code is 128 + the signal's number.
fn report_stopped(
    json: bool,
    ex: &Exchange,
    saved: &Collected,
    warnings: &[String],
    history_id: Option<i64>,
    task: Option<&TaskInfo<'_>>,
    stopped: Option<StopSignal>,
) -> u8 {
    if json {
        let (code, mut v) = report_json(ex, saved, warnings, history_id, task);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("signal".into(), json!(stopped.map(|s| s.name)));
            if let Some(sig) = stopped {
                obj.insert("exit_code".into(), json!(sig.exit_code()));
            }
        }
        outln!("{}", json_for_terminal(&v));
        return stopped.map_or(code, StopSignal::exit_code);
    }
    let code = exit_code(ex);
    print_human(ex, saved, task, stopped);
    if let Some(id) = history_id {
        if code == EXIT_OK {
            outln!("history: entry {id}");
        } else {
            eprintln!("history: entry {id}");
        }
    }
    if let Some(sig) = stopped {
        eprintln!("volcv: stopped by {}", sig.name);
        return sig.exit_code();
    }
    final_code(ex, saved)
}

fn print_human(
    ex: &Exchange,
    saved: &Collected,
    task: Option<&TaskInfo<'_>>,
    stopped: Option<StopSignal>,
) {
    // Server text is escaped, and capped: a 1 MB message is not worth a terminal's scrollback.
    let e = |s: &str| escape_terminal(&truncate_chars(s, 2000), false);
    let attempts = match task {
        Some(t) => format!(
            ", task {}, {} poll{}",
            e(t.task_id.unwrap_or("-")),
            t.polls,
            if t.polls == 1 { "" } else { "s" }
        ),
        None if ex.attempts.len() > 1 => format!(", {} attempts", ex.attempts.len()),
        None => String::new(),
    };
    let took = format!("{:.2}s", ex.duration.as_secs_f64());
    if ex.scrubbed > 0 {
        eprintln!("volcv: warning: {}", scrubbed_note(ex.scrubbed));
    }
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

pub(super) fn fail(args: &SendArgs, code: u8, kind: &str, message: &str, errors: &[String]) -> u8 {
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
