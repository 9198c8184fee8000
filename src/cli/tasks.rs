//! Async tasks from the command line: `volcv send --mode async`, `volcv tasks` (the pending
//! tasks of the history) and `volcv tasks resume` (collect them).

use super::send::{SendArgs, TaskInfo, history_warning, print_images, report, report_json};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::Client;
use crate::api::response::Outcome;
use crate::api::tasks::{self as api_tasks, PollPolicy, Split, Stop, TaskEvent};
use crate::clock::now_ms;
use crate::config;
use crate::exchange::tasks::{self, Ending, Finished, ResumeOptions, RunOptions};
use crate::store::tasks::TaskOwner;
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often an unchanged status is repeated on stderr.
const STILL_EVERY: Duration = Duration::from_secs(30);
/// Tasks `volcv tasks resume` polls at once.
const RESUME_CONCURRENCY: usize = 4;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub cmd: Option<TasksCmd>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TasksCmd {
    /// List the pending async tasks (the default).
    List(ListArgs),
    /// Poll pending async tasks to completion and collect their results into their history
    /// entries and --out (all of them, or the entries given).
    Resume(ResumeArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// History entry ids (from `volcv tasks`) [default: every pending task]
    #[arg(value_name = "ID")]
    pub ids: Vec<i64>,
    /// Where result images are saved [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print a JSON array (one object per task, as `volcv send --json`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to poll before leaving a task pending again, e.g. 30m, 2h [default: 30m]
    #[arg(long, value_name = "AGE", value_parser = super::history::parse_age)]
    pub max_wait: Option<Duration>,
    /// Seconds one poll may take, body included [default: the profile's, else 60]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// The polling policy with `--max-wait` applied.
pub(super) fn policy(max_wait: Option<Duration>) -> PollPolicy {
    let mut p = PollPolicy::default();
    if let Some(w) = max_wait {
        p.max_wait = w;
    }
    p
}

/// Status lines on stderr: every change, and an unchanged status every [`STILL_EVERY`].
#[derive(Default)]
struct Progress {
    /// Elapsed time of the last line printed, per task.
    last: HashMap<i64, Duration>,
}

impl Progress {
    fn print(&mut self, key: i64, prefix: &str, event: &TaskEvent) {
        let e = |s: &str| escape_terminal(&truncate_chars(s, 300), false);
        match event {
            TaskEvent::Submitted { task_id } => {
                eprintln!("volcv: {prefix}task {} submitted", e(task_id));
                self.last.insert(key, Duration::ZERO);
            }
            TaskEvent::Status {
                status,
                changed,
                elapsed,
                ..
            } => {
                let last = self.last.get(&key).copied();
                let due = last.is_none_or(|l| elapsed.saturating_sub(l) >= STILL_EVERY);
                if *changed {
                    eprintln!(
                        "volcv: {prefix}{} after {}",
                        e(status.as_str()),
                        api_tasks::human_duration(*elapsed)
                    );
                } else if due {
                    eprintln!(
                        "volcv: {prefix}still {} after {}",
                        e(status.as_str()),
                        api_tasks::human_duration(*elapsed)
                    );
                } else {
                    return;
                }
                self.last.insert(key, *elapsed);
            }
            TaskEvent::Retrying {
                error,
                failures,
                retry_in,
            } => eprintln!(
                "volcv: {prefix}poll failed ({failures} in a row): {}; next poll in {}",
                e(error),
                api_tasks::human_duration(*retry_in)
            ),
        }
    }
}

/// A report for an ending that is not an answer to print like a sync one.
fn other_ending(f: &Finished) -> Option<(u8, &'static str, String)> {
    let id_hint = f.id.map_or_else(
        || "volcv tasks resume".to_owned(),
        |id| format!("volcv tasks resume {id}"),
    );
    match &f.ending {
        Ending::Collected => None,
        Ending::Failed(message) => {
            // An error answer prints like a sync one; a success without a task id does not.
            let answered_error = f
                .exchange
                .as_ref()
                .is_some_and(|x| !x.outcome().is_some_and(Outcome::is_success));
            (!answered_error).then(|| (EXIT_SERVICE, "service_error", message.clone()))
        }
        Ending::Gone { message, .. } => Some((EXIT_SERVICE, "service_error", message.clone())),
        Ending::Pending(stop) => {
            let code = match stop {
                Stop::Refused(_) => EXIT_SERVICE,
                _ => EXIT_NO_ANSWER,
            };
            let recorded = f.id.is_some() && f.warnings.is_empty();
            let hint = if recorded {
                format!(
                    "; the task is still pending: collect its result with `{id_hint}` (the \
                     service keeps tasks 12-24 h)"
                )
            } else {
                "; the task is still pending on the service, but it is not in the history"
                    .to_owned()
            };
            Some((code, "pending", format!("{stop}{hint}")))
        }
        Ending::Skipped(why) => Some((EXIT_INVALID, "skipped", why.clone())),
    }
}

fn task_info(f: &Finished) -> TaskInfo<'_> {
    TaskInfo {
        task_id: f.task_id.as_deref(),
        task_status: f.last_status.as_ref().map(|s| s.as_str()),
        polls: f.polls,
    }
}

/// The `--json` object of a finished task and its exit code.
fn finished_json(f: &Finished, warnings: &[String]) -> (u8, Value) {
    if let Some((code, outcome, message)) = other_ending(f) {
        let mut v = json!({
            "outcome": outcome,
            "exit_code": code,
            "message": message,
            "images": [],
            "image_errors": [],
            "warnings": warnings,
            "history_id": f.id,
        });
        task_info(f).add_to(&mut v);
        return (code, v);
    }
    match &f.exchange {
        Some(ex) => report_json(ex, &f.collected, warnings, f.id, Some(&task_info(f))),
        None => (
            EXIT_NO_ANSWER,
            json!({"outcome": "transport_error", "exit_code": EXIT_NO_ANSWER}),
        ),
    }
}

/// Prints a finished task for a person and returns its exit code.
fn print_finished(f: &Finished, warnings: &[String]) -> u8 {
    for w in warnings {
        eprintln!("volcv: warning: {}", escape_terminal(w, false));
    }
    if let Some((code, outcome, message)) = other_ending(f) {
        let message = escape_terminal(&truncate_chars(&message, 2000), false);
        if outcome == "pending" || outcome == "skipped" {
            eprintln!("volcv: {message}");
        } else {
            eprintln!("error: {message}");
        }
        if let Some(id) = f.id
            && outcome != "skipped"
        {
            eprintln!("history: entry {id}");
        }
        return code;
    }
    match &f.exchange {
        Some(ex) => report(false, ex, &f.collected, warnings, f.id, Some(&task_info(f))),
        None => EXIT_NO_ANSWER,
    }
}

/// `volcv send --mode async`: submits, records the task id in the history at once, polls
/// (status on stderr), then saves and prints like a sync send.
pub(super) fn send_async(
    args: &SendArgs,
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    body: &Value,
    history: &super::HistoryDir,
    profile: &str,
    mut warnings: Vec<String>,
) -> u8 {
    if let Err(e) = Split::new(body) {
        return super::send::fail(args, EXIT_INVALID, "invalid_input", &e, &[]);
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
            Err(e) => return super::send::fail(args, EXIT_INVALID, "invalid_input", &e, &[]),
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
pub(super) fn dry_run(client: &Client, body: &Value) -> Result<String, String> {
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

/// Runs `volcv tasks`.
pub fn run(cli: &Cli, args: &TasksArgs) -> u8 {
    match &args.cmd {
        None => list(cli, args.json),
        Some(TasksCmd::List(a)) => list(cli, a.json),
        Some(TasksCmd::Resume(a)) => resume(cli, a),
    }
}

fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn age(ms: i64) -> String {
    api_tasks::human_duration(Duration::from_millis(
        u64::try_from(now_ms().saturating_sub(ms)).unwrap_or(0),
    ))
}

fn list(cli: &Cli, json: bool) -> u8 {
    let tasks = match super::HistoryDir::of(cli)
        .open()
        .and_then(|s| s.pending_tasks())
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_INVALID;
        }
    };
    if json {
        let v: Vec<Value> = tasks
            .iter()
            .map(|t| {
                let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.insert("resumable".into(), json!(t.is_claimable()));
                }
                v
            })
            .collect();
        outln!("{}", json_for_terminal(&Value::Array(v)));
        return EXIT_OK;
    }
    if tasks.is_empty() {
        outln!("(no pending tasks)");
        return EXIT_OK;
    }
    outln!(
        "{:>6}  {:<19}  {:<10}  {:>7}  {:<14} {:<20} PROMPT",
        "ID",
        "SUBMITTED (UTC)",
        "STATUS",
        "AGE",
        "POLLED BY",
        "TASK_ID"
    );
    let esc = |s: &str, n: usize| escape_terminal(&truncate_chars(s, n), false);
    for t in &tasks {
        let by = match t.owner {
            TaskOwner::ThisProcess => "this process".to_owned(),
            TaskOwner::Other { pid: Some(p) } => format!("pid {p}"),
            TaskOwner::Other { pid: None } => "another process".to_owned(),
            TaskOwner::Nobody => "- (resumable)".to_owned(),
        };
        outln!(
            "{:>6}  {:<19}  {:<10}  {:>7}  {:<14} {:<20} {}",
            t.id,
            when(t.submitted_ms),
            esc(&t.task_status, 10),
            age(t.submitted_ms),
            by,
            esc(&t.task_id, 20),
            esc(t.prompt.as_deref().unwrap_or(""), 50)
        );
    }
    outln!("collect them with: volcv tasks resume [ID...]");
    EXIT_OK
}

fn resume(cli: &Cli, args: &ResumeArgs) -> u8 {
    let fail = |code: u8, message: &str| {
        if args.json {
            outln!(
                "{}",
                json_for_terminal(
                    &json!({"outcome": "invalid_input", "exit_code": code, "message": message})
                )
            );
        } else {
            eprintln!("volcv: {}", escape_terminal(message, false));
        }
        code
    };
    let mut o = cli.overrides();
    o.timeout = args.timeout;
    // Nothing to resume needs no endpoint and no credentials.
    if args.ids.is_empty() {
        let history = super::HistoryDir::new(cli, &config::Paths::resolve(&o));
        match history.open().and_then(|s| s.pending_tasks()) {
            Ok(t) if t.is_empty() => {
                if args.json {
                    outln!("[]");
                } else {
                    outln!("(no pending tasks)");
                }
                return EXIT_OK;
            }
            Ok(_) => {}
            Err(e) => return fail(EXIT_INVALID, &e.to_string()),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(EXIT_NO_ANSWER, &e.to_string()),
    };
    let _demo = match super::demo_backend(cli, &runtime, &mut o) {
        Ok(d) => d,
        Err(e) => return fail(EXIT_NO_ANSWER, &e),
    };
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    for w in &loaded.warnings {
        eprintln!("volcv: warning: {w}");
    }
    let resolved = match loaded.resolve(&o) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    let client = match Client::new(resolved.target, resolved.options) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_INVALID, &e),
    };
    let store = match super::HistoryDir::new(cli, &loaded.paths).open() {
        Ok(s) => s,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let opts = ResumeOptions {
        ids: args.ids.clone(),
        run: RunOptions {
            policy: policy(args.max_wait),
            out_dir: Some(&out_dir),
        },
        concurrency: RESUME_CONCURRENCY,
    };
    let progress = Mutex::new(Progress::default());
    let results = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        tasks::resume_pending(&store, &client, &opts, &cancel, |id, ev| {
            if !args.json {
                let mut p = progress
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                p.print(id, &format!("entry {id}: "), ev);
            }
        })
        .await
    });
    let results = match results {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    if results.is_empty() {
        if args.json {
            outln!("[]");
        } else {
            outln!("(no pending tasks)");
        }
        return EXIT_OK;
    }
    let explicit = !args.ids.is_empty();
    let mut worst = EXIT_OK;
    let mut values = Vec::new();
    for f in &results {
        // A task skipped because it belongs elsewhere is a usage problem only when asked for.
        let skipped = matches!(f.ending, Ending::Skipped(_));
        let code = if args.json {
            let (code, v) = finished_json(f, &f.warnings);
            values.push(v);
            code
        } else {
            match (f.id, &f.task_id) {
                (Some(id), Some(t)) => outln!("entry {id} (task {}):", escape_terminal(t, false)),
                (Some(id), None) => outln!("entry {id}:"),
                _ => {}
            }
            print_finished(f, &f.warnings)
        };
        if !skipped || explicit {
            worst = worst.max(code);
        }
    }
    if args.json {
        outln!("{}", json_for_terminal(&Value::Array(values)));
    }
    worst
}
