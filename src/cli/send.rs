//! `volcv send`: one request, headless, sync or async (`--mode async`: submitted, polled,
//! collected). What it prints is in [`super::report`].

use super::report::{finished_json, print_finished, print_images, report_stopped};
use super::request::{self, Built, RequestArgs};
use super::stop::{Stop, StopSignal};
use super::tasks::{Progress, policy};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK};
use crate::api::client::{Client, Exchange};
use crate::api::response::Outcome;
use crate::api::tasks::{self as api_tasks, Mode, Split};
use crate::config;
use crate::exchange::Pending;
use crate::exchange::results::{self, Collected};
use crate::exchange::tasks::{self, RunOptions};
use crate::store::Store;
use crate::text::{escape_terminal, json_for_terminal};
use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

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
    /// Go over the config's daily [budget] without asking.
    #[arg(long)]
    pub yes: bool,
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
    #[arg(long, value_name = "AGE", value_parser = crate::store::age::parse_age)]
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
        return match dry_run(&client, &body) {
            Ok(text) => {
                out!("{text}");
                EXIT_OK
            }
            Err(e) => fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
        };
    }
    let history = super::HistoryDir::new(cli, &loaded.paths);
    if !args.dry_run {
        let req_key = body.get("req_key").and_then(Value::as_str).unwrap_or("-");
        match super::budget::check(&loaded, &history, 1, req_key, args.yes) {
            Ok(None) => {}
            Ok(Some(note)) => {
                if !args.json {
                    eprintln!("volcv: warning: {note}");
                }
                warnings.push(note);
            }
            Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
        }
    }
    if mode == Mode::Async {
        let profile = &resolved.profile;
        return send_async(args, &runtime, &client, &body, &history, profile, warnings);
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
    let pending = Pending::new(client, profile, &client.target.action, bytes.to_vec());
    match store.begin(&pending.entry(bytes)) {
        Ok(id) => Some(Recording { store, id }),
        Err(e) => {
            history_warning(args, warnings, e.to_string());
            None
        }
    }
}

impl Recording {
    /// Completes the entry with the exchange and the result images; returns its id. An image
    /// the history could not store (a full disk) is a warning; the answer is recorded.
    fn finish(
        self,
        args: &SendArgs,
        exchange: &Exchange,
        saved: &Collected,
        warnings: &mut Vec<String>,
    ) -> Option<i64> {
        match self
            .store
            .complete_noting(self.id, exchange, &saved.result_files())
        {
            Ok(notes) => {
                for note in notes {
                    let message = format!("history entry {}: {note}", self.id);
                    if !args.json {
                        eprintln!("volcv: warning: {}", escape_terminal(&message, false));
                    }
                    warnings.push(message);
                }
                Some(self.id)
            }
            Err(e) => {
                history_warning(args, warnings, e.to_string());
                None
            }
        }
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

/// `volcv send --mode async`: submits, records the task id in the history at once, polls
/// (status on stderr), then saves and prints like a sync send.
fn send_async(
    args: &SendArgs,
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    body: &Value,
    history: &super::HistoryDir,
    profile: &str,
    mut warnings: Vec<String>,
) -> u8 {
    if let Err(e) = Split::new(body) {
        return fail(args, EXIT_INVALID, "invalid_input", &e, &[]);
    }
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let store = if args.no_history {
        None
    } else {
        match history.open() {
            Ok(s) => Some(s),
            Err(e) => {
                history_warning(args, &mut warnings, e.to_string());
                None
            }
        }
    };
    let id = store
        .as_ref()
        .and_then(|s| match tasks::begin_entry(s, profile, client, body) {
            Ok(id) => Some(id),
            Err(e) => {
                history_warning(args, &mut warnings, e.to_string());
                None
            }
        });
    let record = store.as_ref().zip(id);
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let opts = RunOptions {
            policy: policy(args.max_wait),
            out_dir: Some(&out_dir),
        };
        let mut progress = Progress::default();
        let prefix = id.map(|i| format!("entry {i}: ")).unwrap_or_default();
        let run = tasks::run(client, body, record, &opts, &cancel, |ev| {
            if !args.json {
                progress.print(0, &prefix, ev);
            }
        })
        .await;
        let f = match run {
            Ok(f) => f,
            Err(e) => return fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
        };
        warnings.extend(f.warnings.iter().cloned());
        let code = if args.json {
            let (code, v) = finished_json(&f, &warnings);
            outln!("{}", json_for_terminal(&v));
            code
        } else {
            // History warnings of the run were not printed yet (those before it were).
            let (_, run_warnings) = warnings.split_at(warnings.len() - f.warnings.len());
            print_finished(&f, run_warnings)
        };
        if args.print {
            let paths = f.collected.paths.clone();
            let _ = tokio::task::spawn_blocking(move || print_images(&paths)).await;
        }
        code
    })
}

/// What `--dry-run` prints in async mode: the submit request, then the poll request.
fn dry_run(client: &Client, body: &Value) -> Result<String, String> {
    let split = Split::new(body)?;
    let submit = client.prepare(api_tasks::SUBMIT_ACTION, split.submit_bytes());
    let poll_body = split.task("<task_id>").poll_body();
    let poll = client.prepare(
        api_tasks::RESULT_ACTION,
        serde_json::to_vec(&poll_body).unwrap_or_default(),
    );
    Ok(format!(
        "# async mode: the task is submitted with\n{}\n# then polled until done with\n{}",
        submit.to_http_text(),
        poll.to_http_text()
    ))
}
