//! Async tasks from the command line: `volcv tasks` (the pending tasks of the history) and
//! `volcv tasks resume` (collect them); the poll policy and progress lines `volcv send --mode
//! async` shares.

use super::history::when;
use super::report::{finished_json, print_finished};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK};
use crate::api::client::Client;
use crate::api::tasks::{self as api_tasks, PollPolicy, TaskEvent};
use crate::clock::now_ms;
use crate::config;
use crate::exchange::tasks::{self, Ending, ResumeOptions, RunOptions};
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
    #[command(flatten)]
    pub connection: super::Connection,
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
    #[arg(long, value_name = "AGE", value_parser = crate::store::age::parse_age)]
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
pub(super) struct Progress {
    /// Elapsed time of the last line printed, per task.
    last: HashMap<i64, Duration>,
}

impl Progress {
    pub(super) fn print(&mut self, key: i64, prefix: &str, event: &TaskEvent) {
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

/// Runs `volcv tasks`.
pub fn run(cli: &Cli, args: &TasksArgs) -> u8 {
    match &args.cmd {
        None => list(cli, args.json),
        Some(TasksCmd::List(a)) => list(cli, a.json),
        Some(TasksCmd::Resume(a)) => resume(cli, a),
    }
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
