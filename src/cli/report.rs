//! What `volcv send`, `volcv tasks resume` and `volcv history` print about an exchange: the
//! one-line summary or JSON object of an answer (sync or async), its exit code, and result
//! images printed into the terminal. No sending here.

use super::stop::StopSignal;
use super::{EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK, EXIT_SERVICE};
use crate::api::client::{Exchange, TransportError, scrubbed_note};
use crate::api::response::Outcome;
use crate::api::tasks::Stop;
use crate::exchange::results::Collected;
use crate::exchange::tasks::{Ending, Finished};
use crate::images;
use crate::store::OutcomeKind;
use crate::text::{escape_terminal, json_for_terminal, truncate_chars};
use serde_json::{Value, json};
use std::path::PathBuf;

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

pub(super) fn exit_code(ex: &Exchange) -> u8 {
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
pub(super) fn final_code(ex: &Exchange, saved: &Collected) -> u8 {
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
pub(super) fn report_stopped(
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

pub(super) fn print_human(
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

/// A report for an ending that is not an answer to print like a sync one.
pub(super) fn other_ending(f: &Finished) -> Option<(u8, &'static str, String)> {
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

pub(super) fn task_info(f: &Finished) -> TaskInfo<'_> {
    TaskInfo {
        task_id: f.task_id.as_deref(),
        task_status: f.last_status.as_ref().map(|s| s.as_str()),
        polls: f.polls,
    }
}

/// The `--json` object of a finished task and its exit code.
pub(super) fn finished_json(f: &Finished, warnings: &[String]) -> (u8, Value) {
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
pub(super) fn print_finished(f: &Finished, warnings: &[String]) -> u8 {
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
