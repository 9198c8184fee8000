//! `volcv sweep`: a grid of requests over up to three fields, paced to the account's limits,
//! every cell recorded, the images and a labelled `sheet.png` written out. `volcv sweep list`
//! and `volcv sweep show` reopen recorded sweeps.

use super::request::{self, RequestArgs};
use super::{Cli, EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::Client;
use crate::config;
use crate::images;
use crate::store::{ImagePart, OutcomeKind, Store, SweepCell, SweepRecord};
use crate::sweep::sheet::{self, Tile};
use crate::sweep::{
    self, CellReport, CellStatus, Controls, Grid, Progress, Settings, SweepEvent, SweepReport,
};
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub cmd: Option<SweepCmd>,
    #[command(flatten)]
    pub req: RequestArgs,
    /// A field and its values: a list (scale=2.5,3.5,4.5), a range (seed=1..8) or a range with
    /// a step (cfg_rescale=0.2..0.6:0.1); a JSON array for values with commas
    /// (prompt='["a, b","c"]'). Up to three, crossed as a grid: rows, columns, pages.
    #[arg(long = "vary", value_name = "FIELD=VALUES")]
    pub vary: Vec<String>,
    /// Requests per second [default: the profile's qps, else 1]
    #[arg(long, value_name = "Q")]
    pub qps: Option<f64>,
    /// Requests in flight at once [default: the profile's concurrency, else 4]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Where the cells' images, sheet.png and sweep.json are written [default: ./SWEEP_ID]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object (the sweep.json summary) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// List the cells that would be sent and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go over the config's daily [budget] without asking.
    #[arg(long)]
    pub yes: bool,
    /// Seconds one attempt may take, body included [default: the profile's, else 60]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Do not record the sweep and its cells in the history.
    #[arg(long)]
    pub no_history: bool,
}

#[derive(Debug, Subcommand)]
pub enum SweepCmd {
    /// List recorded sweeps, newest first.
    List(ListArgs),
    /// Show a recorded sweep's cells; with --out, write its images, sheet.png and sweep.json
    /// again from the history.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// At most this many sweeps.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The sweep's id (from `volcv sweep list`), or `last` for the newest.
    pub id: String,
    /// Write the cells' images, sheet.png and sweep.json into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `volcv sweep` (or one of its subcommands).
pub fn run(cli: &Cli, args: &SweepArgs) -> u8 {
    match &args.cmd {
        Some(SweepCmd::List(a)) => return with_store(cli, |s| list(s, a)),
        Some(SweepCmd::Show(a)) => return with_store(cli, |s| show(s, a)),
        None => {}
    }
    let mut o = cli.overrides();
    o.timeout = args.timeout;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(args, EXIT_NO_ANSWER, &e.to_string(), &[]),
    };
    let _demo = match super::demo_backend(cli, &runtime, &mut o) {
        Ok(d) => d,
        Err(e) => return fail(args, EXIT_NO_ANSWER, &e, &[]),
    };
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => return fail(args, EXIT_INVALID, &e.to_string(), &[]),
    };
    for w in &loaded.warnings {
        eprintln!("volcv: warning: {w}");
    }
    let resolved = match loaded.resolve(&o) {
        Ok(r) => r,
        Err(e) => return fail(args, EXIT_INVALID, &e.to_string(), &[]),
    };
    let (qps, concurrency) = match loaded.sweep_limits(&o, args.qps, args.concurrency) {
        Ok(l) => l,
        Err(e) => return fail(args, EXIT_INVALID, &e.to_string(), &[]),
    };
    if args.vary.is_empty() {
        return fail(
            args,
            EXIT_INVALID,
            "nothing to vary: give --vary FIELD=VALUES, e.g. --vary seed=1..4 --vary scale=2.5,3.5",
            &[],
        );
    }
    let (base, notes) = match request::build_body(&loaded, &args.req) {
        Ok(b) => b,
        Err(errors) => return fail(args, EXIT_INVALID, "invalid request", &errors),
    };
    let prepared = match sweep::prepare(base, &args.vary) {
        Ok(p) => p,
        Err(errors) => return fail(args, EXIT_INVALID, "invalid sweep", &errors),
    };
    let mut warnings: Vec<String> = notes;
    warnings.extend(prepared.warnings.iter().cloned());
    if !args.json {
        for w in &warnings {
            eprintln!("volcv: warning: {}", escape_terminal(w, false));
        }
    }
    let plan = prepared.plan;
    if args.dry_run {
        let price = plan
            .base
            .get("req_key")
            .and_then(Value::as_str)
            .and_then(|k| loaded.config.prices.get(k).copied());
        return dry_run(args, &plan, qps, concurrency, price);
    }
    let req_key = plan
        .base
        .get("req_key")
        .and_then(Value::as_str)
        .unwrap_or("-");
    let history_dir = super::HistoryDir::new(cli, &loaded.paths);
    let cells = plan.grid.len() as u64;
    match super::budget::check(&loaded, &history_dir, cells, req_key, args.yes) {
        Ok(None) => {}
        Ok(Some(note)) => {
            if !args.json {
                eprintln!("volcv: warning: {note}");
            }
            warnings.push(note);
        }
        Err(e) => return fail(args, EXIT_INVALID, &e, &[]),
    }
    let client = match Client::new(resolved.target, resolved.options) {
        Ok(c) => c,
        Err(e) => return fail(args, EXIT_INVALID, &e, &[]),
    };
    let store = if args.no_history {
        None
    } else {
        match super::HistoryDir::new(cli, &loaded.paths).open() {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                let w = format!("the sweep is not recorded in the history: {e}");
                if !args.json {
                    eprintln!("volcv: warning: {}", escape_terminal(&w, false));
                }
                warnings.push(w);
                None
            }
        }
    };
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from(&plan.id));
    let settings = Settings {
        qps,
        concurrency,
        rate_limit_retries: sweep::runner::DEFAULT_RATE_LIMIT_RETRIES,
        out_dir: Some(out_dir.clone()),
        profile: resolved.profile.clone(),
    };
    let title = if plan.grid.axes.iter().any(|a| a.field == "prompt") {
        plan.id.clone()
    } else {
        sheet_title(&plan.id, &plan.base)
    };
    runtime.block_on(async {
        let controls = Controls::default();
        let stop = controls.clone();
        let signals = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.stop.cancel();
                eprintln!(
                    "\nvolcv: stopping: no new cells; waiting for the ones in flight (their \
                     results are kept). Ctrl-C again cuts them off."
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.abort.cancel();
                }
            }
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(print_events(rx, plan.grid.len()));
        let report = sweep::run(plan, client, store, settings, tx, controls).await;
        let _ = printer.await;
        signals.abort();
        let write = {
            let report = report.clone();
            let out_dir = out_dir.clone();
            tokio::task::spawn_blocking(move || write_outputs(&report, None, &out_dir, &title))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let mut warnings = warnings;
        warnings.extend(report.warnings.iter().cloned());
        let (sheet, summary) = match write {
            Ok((s, j)) => (Some(s), Some(j)),
            Err(e) => {
                warnings.push(e.clone());
                if !args.json {
                    eprintln!("volcv: error: {}", escape_terminal(&e, false));
                }
                (None, None)
            }
        };
        let code = exit_code(&report, sheet.is_some());
        if args.json {
            let mut v = report_json(&report, sheet.as_deref(), &out_dir);
            if let Some(o) = v.as_object_mut() {
                o.insert("exit_code".into(), json!(code));
                o.insert("warnings".into(), json!(warnings));
                o.insert("summary".into(), json!(summary));
            }
            outln!("{}", json_for_terminal(&v));
        } else {
            print_report(&report, sheet.as_deref(), summary.as_deref());
            if report.recorded {
                outln!("reopen: volcv sweep show {}", report.sweep_id);
            }
        }
        code
    })
}

/// 0 when every cell succeeded; otherwise 3 when a cell got an error answer from the service,
/// else 4 (no usable answer, a lost image, or the sweep was stopped).
fn exit_code(report: &SweepReport, outputs_written: bool) -> u8 {
    let service = report.cells.iter().any(|c| {
        c.status == CellStatus::Failed
            && matches!(
                c.outcome,
                Some(
                    OutcomeKind::ServiceError | OutcomeKind::GatewayError | OutcomeKind::RelayError
                )
            )
    });
    let all_ok = report
        .cells
        .iter()
        .all(|c| c.status == CellStatus::Success && c.image_errors.is_empty() && c.image_count > 0);
    if all_ok && outputs_written {
        EXIT_OK
    } else if service {
        EXIT_SERVICE
    } else {
        EXIT_NO_ANSWER
    }
}

fn sheet_title(id: &str, base: &Value) -> String {
    let prompt = base.get("prompt").and_then(Value::as_str).unwrap_or("");
    let prompt: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    if prompt.is_empty() {
        id.to_owned()
    } else {
        format!("{id}  {prompt}")
    }
}

fn fail(args: &SweepArgs, code: u8, message: &str, errors: &[String]) -> u8 {
    if args.json {
        outln!(
            "{}",
            json_for_terminal(&json!({"exit_code": code, "message": message, "errors": errors}))
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

/// `--dry-run`: the cells, the least time they take and, with a price for the model in the
/// config's `[prices]`, what they cost if every cell succeeds.
fn dry_run(
    args: &SweepArgs,
    plan: &sweep::Plan,
    qps: f64,
    concurrency: usize,
    price: Option<f64>,
) -> u8 {
    let grid = &plan.grid;
    let secs = grid.len() as f64 / qps;
    let cost = price.map(|p| p * grid.len() as f64);
    if args.json {
        let cells: Vec<Value> = (0..grid.len())
            .map(|i| json!({"cell": i + 1, "label": grid.label(i), "values": grid.values_json(i)}))
            .collect();
        outln!(
            "{}",
            json_for_terminal(&json!({
                "sweep_id": plan.id,
                "axes": grid.axes,
                "cells": cells,
                "qps": qps,
                "concurrency": concurrency,
                "min_duration_secs": secs,
                "estimated_spend": cost,
            }))
        );
    } else {
        outln!(
            "{} cells ({}), at most {qps} per second and {concurrency} at once: at least {}",
            grid.len(),
            axes_text(grid),
            duration_text(Duration::from_secs_f64(secs))
        );
        for i in 0..grid.len() {
            outln!("{:>4}  {}", i + 1, escape_terminal(&grid.label(i), false));
        }
        match cost {
            Some(c) => outln!("about {c:.2} at your prices if all {} succeed", grid.len()),
            None => outln!(
                "set a price for this model in the config's [prices] to see what it would cost"
            ),
        }
        outln!("(dry run: nothing was sent)");
    }
    EXIT_OK
}

fn axes_text(grid: &Grid) -> String {
    grid.axes
        .iter()
        .map(|a| format!("{} {}", a.field, a.len()))
        .collect::<Vec<_>>()
        .join(" x ")
}

/// `1.5s`, `2m05s`, `1h02m`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// The progress line: `3/6 done · 1 failed · 3 remaining · 2.0 qps · ETA 4.0s`.
fn progress_text(p: &Progress) -> String {
    let mut s = format!("sweep {}/{} done", p.done, p.total);
    if p.failed > 0 {
        s.push_str(&format!(" · {} failed", p.failed));
    }
    if p.cancelled > 0 {
        s.push_str(&format!(" · {} cancelled", p.cancelled));
    }
    s.push_str(&format!(" · {} remaining", p.remaining));
    if p.in_flight > 0 {
        s.push_str(&format!(" ({} in flight)", p.in_flight));
    }
    s.push_str(&format!(" · {:.2} qps", p.qps));
    if p.rate_limited > 0 {
        s.push_str(&format!(" · {} rate-limited, retried", p.rate_limited));
    }
    match p.eta {
        Some(e) if p.remaining > 0 => s.push_str(&format!(" · ETA {}", duration_text(e))),
        _ => {}
    }
    s
}

/// Shows the events on stderr: on a terminal, one progress line redrawn in place with
/// failures printed above it; otherwise one plain line per finished cell.
async fn print_events(mut rx: tokio::sync::mpsc::UnboundedReceiver<SweepEvent>, total: usize) {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    let width = total.to_string().len();
    while let Some(ev) = rx.recv().await {
        let mut err = std::io::stderr().lock();
        let line = |text: &str, err: &mut std::io::StderrLock<'_>| {
            if tty {
                let _ = write!(err, "\r\x1b[2K{text}\n{last}");
            } else {
                let _ = writeln!(err, "{text}");
            }
        };
        match ev {
            SweepEvent::Progress(p) => {
                if tty {
                    // One screen line, or the carriage return cannot redraw it in place.
                    let cols = ratatui::crossterm::terminal::size().map_or(80, |(c, _)| c);
                    last = truncate_chars(&progress_text(&p), usize::from(cols.max(2)) - 1);
                    let _ = write!(err, "\r\x1b[2K{last}");
                }
            }
            SweepEvent::CellFinished { report, .. } => {
                let label = escape_terminal(&report.label, false);
                let text = match report.status {
                    CellStatus::Success if report.image_errors.is_empty() => {
                        if tty {
                            continue;
                        }
                        format!("ok ({} image(s))", report.image_count)
                    }
                    CellStatus::Success => format!(
                        "ok, but {}",
                        escape_terminal(&report.image_errors.join("; "), false)
                    ),
                    _ => escape_terminal(
                        &truncate_chars(report.message.as_deref().unwrap_or("failed"), 200),
                        false,
                    ),
                };
                line(
                    &format!("cell {:>width$}/{total} {label}: {text}", report.cell + 1),
                    &mut err,
                );
            }
            SweepEvent::CellRateLimited { cell, code, qps } => {
                if !tty {
                    line(
                        &format!(
                            "cell {:>width$}/{total}: rate limited ({code}); retrying at {qps:.2} qps",
                            cell + 1
                        ),
                        &mut err,
                    );
                }
            }
            SweepEvent::Warning(w) => {
                line(
                    &format!("volcv: warning: {}", escape_terminal(&w, false)),
                    &mut err,
                );
            }
            SweepEvent::CellStarted { .. } => {}
            SweepEvent::Finished(_) => {
                if tty {
                    let _ = writeln!(err);
                }
            }
        }
        let _ = err.flush();
    }
}

/// A cell's JSON in the summary.
fn cell_json(c: &CellReport, grid: &Grid) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let [row, col, page] = grid.coords(c.cell);
        o.insert("row".into(), json!(row));
        o.insert("col".into(), json!(col));
        o.insert("page".into(), json!(page));
    }
    v
}

fn report_json(r: &SweepReport, sheet: Option<&Path>, out_dir: &Path) -> Value {
    json!({
        "sweep_id": r.sweep_id,
        "axes": r.grid.axes,
        "shape": {"rows": r.grid.shape()[0], "cols": r.grid.shape()[1], "pages": r.grid.shape()[2]},
        "total": r.cells.len(),
        "succeeded": r.succeeded,
        "failed": r.failed,
        "cancelled": r.cancelled,
        "not_run": r.not_run,
        "stopped": r.stopped,
        "recorded": r.recorded,
        "duration_ms": (r.duration.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "qps": r.qps,
        "final_qps": r.final_qps,
        "concurrency": r.concurrency,
        "rate_limited": r.rate_limited,
        "out_dir": out_dir,
        "sheet": sheet,
        "cells": r.cells.iter().map(|c| cell_json(c, &r.grid)).collect::<Vec<_>>(),
    })
}

/// Writes `sheet.png` and `sweep.json` into `out_dir` (never replacing a file: a second
/// `sheet-2.png` instead). `tiles` overrides where tiles come from (reopened sweeps);
/// otherwise each cell's first saved image.
fn write_outputs(
    report: &SweepReport,
    tiles: Option<&dyn Fn(usize) -> Tile>,
    out_dir: &Path,
    title: &str,
) -> Result<(PathBuf, PathBuf), String> {
    let from_report = |cell: usize| -> Tile {
        let Some(c) = report.cells.get(cell) else {
            return Tile::Empty("missing".into());
        };
        match c.status {
            CellStatus::Success => match c.images.first() {
                Some(p) => match std::fs::read(p) {
                    Ok(b) => Tile::Image(b),
                    Err(_) => Tile::Failed("unreadable".into()),
                },
                None => Tile::Failed("no image".into()),
            },
            CellStatus::NotRun => Tile::Empty("not run".into()),
            _ => Tile::Failed(c.failure_mark()),
        }
    };
    let (png, _) = match tiles {
        Some(f) => sheet::render_png(&report.grid, Some(title), f)?,
        None => sheet::render_png(&report.grid, Some(title), from_report)?,
    };
    let sheet_path = images::save_unique(out_dir, "sheet", "png", &png).map_err(|e| {
        format!(
            "cannot write the contact sheet in {}: {e}",
            out_dir.display()
        )
    })?;
    let summary = report_json(report, Some(&sheet_path), out_dir);
    let text = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    let json_path = images::save_unique(out_dir, "sweep", "json", &text)
        .map_err(|e| format!("cannot write sweep.json in {}: {e}", out_dir.display()))?;
    Ok((sheet_path, json_path))
}

fn print_report(r: &SweepReport, sheet: Option<&Path>, summary: Option<&Path>) {
    let mut head = format!(
        "sweep {}: {} cells ({}), {} succeeded",
        r.sweep_id,
        r.cells.len(),
        axes_text(&r.grid),
        r.succeeded
    );
    for (n, what) in [
        (r.failed, "failed"),
        (r.cancelled, "cancelled"),
        (r.not_run, "not run"),
    ] {
        if n > 0 {
            head.push_str(&format!(", {n} {what}"));
        }
    }
    head.push_str(&format!(" in {}", duration_text(r.duration)));
    if r.rate_limited > 0 {
        head.push_str(&format!(
            "; {} rate-limit answers retried, ended at {:.2} qps",
            r.rate_limited, r.final_qps
        ));
    }
    outln!("{head}");
    let width = r.cells.len().to_string().len();
    for c in &r.cells {
        let status = match c.status {
            CellStatus::Success => "ok".to_owned(),
            CellStatus::NotRun => "not run".to_owned(),
            CellStatus::Cancelled => "cancelled".to_owned(),
            CellStatus::Failed => format!(
                "error {}",
                truncate_chars(c.message.as_deref().unwrap_or(""), 80)
            ),
        };
        let entry = c.history_id.map_or(String::new(), |id| format!("  #{id}"));
        let files: Vec<String> = c.images.iter().map(|p| p.display().to_string()).collect();
        outln!(
            "{:>width$}  {}  {}{entry}  {}",
            c.cell + 1,
            escape_terminal(&c.label, false),
            escape_terminal(&status, false),
            files.join(" ")
        );
        for e in &c.image_errors {
            eprintln!("volcv: cell {}: {}", c.cell + 1, escape_terminal(e, false));
        }
    }
    if let Some(s) = sheet {
        outln!("sheet: {}", s.display());
    }
    if let Some(s) = summary {
        outln!("summary: {}", s.display());
    }
}

fn with_store(cli: &Cli, f: impl FnOnce(&Store) -> Result<u8, String>) -> u8 {
    let store = match super::HistoryDir::of(cli).open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_INVALID;
        }
    };
    match f(&store) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("volcv: {}", escape_terminal(&e, false));
            EXIT_INVALID
        }
    }
}

fn record_json(s: &SweepRecord) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("created_at".into(), super::history::rfc3339(s.created_ms));
        o.insert(
            "finished_at".into(),
            s.finished_ms.map_or(Value::Null, super::history::rfc3339),
        );
    }
    v
}

fn record_axes(s: &SweepRecord) -> String {
    sweep::grid_of(&s.grid).map_or_else(|_| "?".to_owned(), |g| axes_text(&g))
}

fn list(store: &Store, a: &ListArgs) -> Result<u8, String> {
    let rows = store.sweeps(a.limit as usize).map_err(|e| e.to_string())?;
    if a.json {
        let v: Vec<Value> = rows.iter().map(record_json).collect();
        outln!("{}", json_for_terminal(&Value::Array(v)));
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        outln!("(no sweeps)");
        return Ok(EXIT_OK);
    }
    outln!(
        "{:<24}  {:<19}  {:<11}  {:>9}  {:>6}  {:<24} PROMPT",
        "SWEEP",
        "CREATED (UTC)",
        "STATUS",
        "OK/CELLS",
        "FAILED",
        "FIELDS"
    );
    for s in &rows {
        outln!(
            "{:<24}  {:<19}  {:<11}  {:>9}  {:>6}  {:<24} {}",
            escape_terminal(&s.id, false),
            super::history::when(s.created_ms),
            s.status.as_str(),
            format!("{}/{}", s.succeeded, s.cells),
            s.failed,
            escape_terminal(&truncate_chars(&record_axes(s), 24), false),
            escape_terminal(
                &truncate_chars(s.prompt.as_deref().unwrap_or(""), 40),
                false
            )
        );
    }
    Ok(EXIT_OK)
}

/// A recorded cell's status, as a run would have reported it.
fn cell_status(c: &SweepCell) -> CellStatus {
    match c.summary.outcome {
        OutcomeKind::Success => CellStatus::Success,
        OutcomeKind::Cancelled | OutcomeKind::Interrupted | OutcomeKind::Pending => {
            CellStatus::Cancelled
        }
        _ => CellStatus::Failed,
    }
}

/// Rebuilds a run's report from the history: recorded cells by index, the others not run.
fn report_from_store(
    store: &Store,
    rec: &SweepRecord,
    grid: &Grid,
    cells: &[SweepCell],
    out_dir: Option<&Path>,
) -> Result<SweepReport, String> {
    let mut reports: Vec<CellReport> = (0..grid.len())
        .map(|i| CellReport {
            cell: i,
            label: grid.label(i),
            values: grid.values_json(i),
            status: CellStatus::NotRun,
            outcome: None,
            code: None,
            message: Some("not recorded (never run, or deleted from the history)".into()),
            http_status: None,
            request_id: None,
            history_id: None,
            images: Vec::new(),
            image_count: 0,
            image_errors: Vec::new(),
            attempts: 0,
            rate_limited: 0,
            duration: Duration::ZERO,
        })
        .collect();
    for c in cells {
        let Some(i) = c.cell.filter(|i| *i < grid.len()) else {
            continue;
        };
        let s = &c.summary;
        let r = &mut reports[i];
        // A later entry for the same cell (none today) would win; ids grow with time.
        r.status = cell_status(c);
        r.outcome = Some(s.outcome);
        r.code = s.code;
        r.message = s.summary.clone();
        r.http_status = s.http_status;
        r.request_id = s.request_id.clone();
        r.history_id = Some(s.id);
        r.image_count = s.result_images as usize;
        r.duration = Duration::from_secs_f64(s.duration_ms.unwrap_or(0.0).max(0.0) / 1000.0);
        if let Some(dir) = out_dir
            && r.status == CellStatus::Success
        {
            let entry = store
                .get(s.id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("history entry {} vanished", s.id))?;
            let mut seen = std::collections::HashSet::new();
            let results = entry
                .images
                .iter()
                .filter(|im| im.part != ImagePart::Request)
                .filter(|im| seen.insert(im.sha256.clone()));
            for (n, im) in results.enumerate() {
                match std::fs::read(&im.file) {
                    Ok(bytes) => {
                        let stem = sweep::cell_stem(grid, i, n);
                        match images::save_unique(dir, &stem, &im.ext, &bytes) {
                            Ok(p) => r.images.push(p),
                            Err(e) => r.image_errors.push(format!(
                                "image {}: cannot save in {}: {e}",
                                n + 1,
                                dir.display()
                            )),
                        }
                    }
                    Err(e) => {
                        r.image_errors
                            .push(format!("image {}: {}: {e}", n + 1, im.file.display()))
                    }
                }
            }
        }
    }
    let count = |s: CellStatus| reports.iter().filter(|c| c.status == s).count();
    let duration = rec
        .finished_ms
        .map(|f| Duration::from_millis(u64::try_from(f - rec.created_ms).unwrap_or(0)))
        .unwrap_or_default();
    Ok(SweepReport {
        sweep_id: rec.id.clone(),
        grid: grid.clone(),
        succeeded: count(CellStatus::Success),
        failed: count(CellStatus::Failed),
        cancelled: count(CellStatus::Cancelled),
        not_run: count(CellStatus::NotRun),
        cells: reports,
        stopped: !matches!(rec.status, crate::store::SweepStatus::Done),
        recorded: true,
        duration,
        qps: rec.qps.unwrap_or(0.0),
        final_qps: rec.qps.unwrap_or(0.0),
        concurrency: rec.concurrency.unwrap_or(0),
        rate_limited: 0,
        warnings: Vec::new(),
    })
}

fn show(store: &Store, a: &ShowArgs) -> Result<u8, String> {
    let rec = if a.id == "last" {
        store
            .sweeps(1)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or("no sweeps recorded yet")?
    } else {
        store
            .sweep(&a.id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no sweep {:?} in the history (see volcv sweep list)", a.id))?
    };
    let grid = sweep::grid_of(&rec.grid)?;
    let cells = store.sweep_cells(&rec.id).map_err(|e| e.to_string())?;
    let report = report_from_store(store, &rec, &grid, &cells, a.out.as_deref())?;
    let mut written = None;
    if let Some(dir) = &a.out {
        let by_cell: std::collections::HashMap<usize, &SweepCell> = cells
            .iter()
            .filter_map(|c| c.cell.map(|i| (i, c)))
            .collect();
        let tiles = |cell: usize| -> Tile {
            let Some(c) = by_cell.get(&cell) else {
                return Tile::Empty("not run".into());
            };
            match (cell_status(c), &c.first_image) {
                (CellStatus::Success, Some(p)) => match std::fs::read(p) {
                    Ok(b) => Tile::Image(b),
                    Err(_) => Tile::Failed("image missing".into()),
                },
                (CellStatus::Success, None) => Tile::Failed("no image".into()),
                _ => Tile::Failed(report.cells[cell].failure_mark()),
            }
        };
        let title = sheet_title(&rec.id, &json!({"prompt": rec.prompt}));
        written = Some(write_outputs(&report, Some(&tiles), dir, &title)?);
    }
    if a.json {
        let mut v = report_json(
            &report,
            written.as_ref().map(|(s, _)| s.as_path()),
            a.out.as_deref().unwrap_or(Path::new("")),
        );
        if let Some(o) = v.as_object_mut() {
            o.insert("sweep".into(), record_json(&rec));
            if a.out.is_none() {
                o.insert("out_dir".into(), Value::Null);
            }
        }
        outln!("{}", json_for_terminal(&v));
    } else {
        outln!(
            "status: {} · created {} UTC · {} qps · {} at once",
            rec.status.as_str(),
            super::history::when(rec.created_ms),
            rec.qps.map_or("-".to_owned(), |q| q.to_string()),
            rec.concurrency.map_or("-".to_owned(), |n| n.to_string())
        );
        if let Some(p) = &rec.prompt {
            outln!(
                "prompt: {}",
                escape_terminal(&truncate_chars(p, 200), false)
            );
        }
        print_report(
            &report,
            written.as_ref().map(|(s, _)| s.as_path()),
            written.as_ref().map(|(_, j)| j.as_path()),
        );
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_reads_as_the_readme_says() {
        let p = Progress {
            total: 8,
            done: 5,
            succeeded: 4,
            failed: 1,
            cancelled: 0,
            in_flight: 2,
            remaining: 3,
            rate_limited: 0,
            qps: 2.0,
            elapsed: Duration::from_secs(3),
            eta: Some(Duration::from_millis(4500)),
        };
        assert_eq!(
            progress_text(&p),
            "sweep 5/8 done · 1 failed · 3 remaining (2 in flight) · 2.00 qps · ETA 4.5s"
        );
        assert_eq!(duration_text(Duration::from_secs(125)), "2m05s");
        assert_eq!(duration_text(Duration::from_secs(3720)), "1h02m");
    }
}
