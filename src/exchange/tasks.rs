//! Async requests end to end, shared by the CLI and the TUI: the task is recorded in the
//! history as soon as the submit answers, polled ([`api::tasks`](crate::api::tasks)), and its
//! result collected like a sync answer's (images obtained at once, the entry completed). At
//! start-up, [`resume_pending`] takes over the tasks a previous process left pending (a crash,
//! `kill -9`, a dropped SSH session, Ctrl-C) and collects them until they expire.
//!
//! The history store is blocking (SQLite): its calls here are short writes made on the
//! polling task, one per status change and poll.

use crate::clock::now_ms;
use std::path::Path;

use futures::StreamExt as _;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::Pending;
use crate::api::client::{Attempt, Client, Exchange};
use crate::api::response::Outcome;
use crate::api::tasks::{
    self, PollEnd, PollPolicy, Polled, SUBMIT_ACTION, Split, Stop, TASK_LIFETIME, TaskEvent,
    TaskRef, TaskStatus,
};
use crate::exchange::results::{self, Collected};
use crate::store::tasks::{Claim, PendingTask};
use crate::store::{Store, StoreError};

/// How an async request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// `done`: the result images were collected (see [`Finished::collected`]).
    Collected,
    /// The submit or a poll ended in an error: a business code, a gateway or relay error, a
    /// transport error, cancelled before the submit answered, or a submit without a task id.
    Failed(String),
    /// `expired` or `not_found` (or the task's lifetime passed): the result is lost.
    Gone { status: TaskStatus, message: String },
    /// Polling stopped with the task still pending; it can be resumed later.
    Pending(Stop),
    /// Not polled by this process (resume only): submitted to another endpoint, polled by
    /// another process, or no longer pending.
    Skipped(String),
}

/// The end of one async request.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The history entry, when recorded.
    pub id: Option<i64>,
    pub task_id: Option<String>,
    pub ending: Ending,
    /// The whole request as one exchange, like a sync call's (the last answer: the `done`
    /// poll, or the error): `None` while pending or when nothing was sent.
    pub exchange: Option<Exchange>,
    /// The result images, when collected.
    pub collected: Collected,
    /// Polls made by this process.
    pub polls: u32,
    /// The last status the service reported.
    pub last_status: Option<TaskStatus>,
    /// History problems (a history problem never stops a request).
    pub warnings: Vec<String>,
}

impl Finished {
    fn new(id: Option<i64>, task_id: Option<String>, ending: Ending) -> Finished {
        Finished {
            id,
            task_id,
            ending,
            exchange: None,
            collected: Collected::default(),
            polls: 0,
            last_status: None,
            warnings: Vec::new(),
        }
    }
}

/// Options of [`run`] and [`resume_pending`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions<'a> {
    pub policy: PollPolicy,
    /// Where result images are saved (they are kept in the history either way).
    pub out_dir: Option<&'a Path>,
}

fn ms_to_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// Records an async request about to be submitted as a `pending` history entry (action
/// `CVSync2AsyncSubmitTask`, the full body as the user wrote it, the submit's redacted
/// headers) and returns its id.
pub fn begin_entry(
    store: &Store,
    profile: &str,
    client: &Client,
    body: &Value,
) -> Result<i64, StoreError> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let submit = Split::new(body)
        .map(|s| s.submit_bytes())
        .unwrap_or_default();
    store.begin(&Pending::new(client, profile, SUBMIT_ACTION, submit).entry(&bytes))
}

/// Where a run records itself.
#[derive(Clone, Copy)]
struct Record<'a> {
    store: &'a Store,
    id: i64,
}

impl Record<'_> {
    fn warn(result: Result<(), StoreError>, warnings: &mut Vec<String>) {
        if let Err(e) = result {
            warnings.push(format!("not recorded in the history: {e}"));
        }
    }
}

/// Sends `body` in async mode: submits it, records the task id in entry `record` (begun with
/// [`begin_entry`]) at once, polls until done, collects the result images (into
/// `opts.out_dir` too) and completes the entry. `on_event` hears the submit, every status and
/// every failed poll. Errors only when the body cannot be split (no `req_key`).
pub async fn run(
    client: &Client,
    body: &Value,
    record: Option<(&Store, i64)>,
    opts: &RunOptions<'_>,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(&TaskEvent),
) -> Result<Finished, String> {
    let split = Split::new(body)?;
    let full = serde_json::to_vec(body).unwrap_or_default();
    let record = record.map(|(store, id)| Record { store, id });
    let since = OffsetDateTime::now_utc();
    let submission = tasks::submit(client, &split, cancel).await;
    let headers = submission.exchange.request_headers.clone();
    let prior = tasks::submit_attempts(&submission.exchange, since);
    let mut warnings = Vec::new();
    let Some(task_id) = submission.task_id else {
        let combined = tasks::combine(&full, headers, since, prior, submission.exchange);
        let message = match &combined.result {
            Ok(Outcome::Success(_)) => {
                "the submit answered success without data.task_id; nothing to poll".to_owned()
            }
            Ok(o) => o.summary(),
            Err(e) => e.to_string(),
        };
        if let Some(r) = record {
            let failure = combined.outcome().is_some_and(Outcome::is_success);
            let result = if failure {
                r.store
                    .complete_task(r.id, &combined, &[], "failed", Some(&message))
            } else {
                r.store.complete(r.id, &combined, &[])
            };
            Record::warn(result, &mut warnings);
        }
        let mut f = Finished::new(record.map(|r| r.id), None, Ending::Failed(message));
        f.exchange = Some(combined);
        f.warnings = warnings;
        return Ok(f);
    };
    on_event(&TaskEvent::Submitted {
        task_id: task_id.clone(),
    });
    if let Some(r) = record {
        let submitted = now_ms();
        let expires =
            submitted.saturating_add(i64::try_from(TASK_LIFETIME.as_millis()).unwrap_or(i64::MAX));
        Record::warn(
            r.store
                .task_submitted(r.id, &task_id, submitted, expires, &prior),
            &mut warnings,
        );
    }
    let task = split.task(&task_id);
    let polled = poll(
        client,
        &task,
        record,
        opts,
        since,
        true,
        cancel,
        &mut on_event,
        &mut warnings,
    )
    .await;
    let mut f = finish(
        client, record, &task, &full, headers, since, prior, polled, opts,
    )
    .await;
    warnings.append(&mut f.warnings);
    f.warnings = warnings;
    Ok(f)
}

/// Polls, recording each status change (and the heartbeat) in the history.
#[expect(
    clippy::too_many_arguments,
    reason = "internal; one call site each for run and resume"
)]
async fn poll(
    client: &Client,
    task: &TaskRef,
    record: Option<Record<'_>>,
    opts: &RunOptions<'_>,
    since: OffsetDateTime,
    wait_first: bool,
    cancel: &CancellationToken,
    on_event: &mut impl FnMut(&TaskEvent),
    warnings: &mut Vec<String>,
) -> Polled {
    let mut history_error: Option<String> = None;
    let polled = tasks::poll_until_done(
        client,
        task,
        &opts.policy,
        since,
        wait_first,
        cancel,
        |event| {
            if let (Some(r), TaskEvent::Status { status, .. }) = (record, event)
                && !status.is_gone()
                && *status != TaskStatus::Done
                && let Err(e) = r.store.set_task_status(r.id, status.as_str())
            {
                history_error.get_or_insert_with(|| e.to_string());
            }
            on_event(event);
        },
    )
    .await;
    if let Some(e) = history_error {
        warnings.push(format!("task status not recorded in the history: {e}"));
    }
    polled
}

/// Records and collects how polling ended.
#[expect(
    clippy::too_many_arguments,
    reason = "internal; one call site each for run and resume"
)]
async fn finish(
    client: &Client,
    record: Option<Record<'_>>,
    task: &TaskRef,
    full: &[u8],
    headers: Vec<(String, String)>,
    since: OffsetDateTime,
    mut attempts: Vec<Attempt>,
    polled: Polled,
    opts: &RunOptions<'_>,
) -> Finished {
    let id = record.map(|r| r.id);
    let mut warnings = Vec::new();
    attempts.extend(polled.attempts);
    let mut f = match polled.end {
        PollEnd::Done(last) => {
            let combined = tasks::combine(full, headers, since, attempts, last);
            let collected = match combined.outcome() {
                Some(Outcome::Success(s)) => {
                    results::collect(client, &s.images, &combined, opts.out_dir).await
                }
                _ => Collected::default(),
            };
            if let Some(r) = record {
                Record::warn(
                    r.store.complete_task(
                        r.id,
                        &combined,
                        &collected.result_files(),
                        TaskStatus::Done.as_str(),
                        None,
                    ),
                    &mut warnings,
                );
            }
            let mut f = Finished::new(id, Some(task.task_id.clone()), Ending::Collected);
            f.exchange = Some(combined);
            f.collected = collected;
            f
        }
        PollEnd::Gone { status, exchange } => {
            let message = status.gone_message(&task.task_id);
            let combined = tasks::combine(full, headers, since, attempts, exchange);
            if let Some(r) = record {
                Record::warn(
                    r.store
                        .complete_task(r.id, &combined, &[], status.as_str(), Some(&message)),
                    &mut warnings,
                );
            }
            let mut f = Finished::new(
                id,
                Some(task.task_id.clone()),
                Ending::Gone { status, message },
            );
            f.exchange = Some(combined);
            f
        }
        PollEnd::Failed(exchange) => {
            let combined = tasks::combine(full, headers, since, attempts, exchange);
            let message = combined
                .outcome()
                .map_or_else(|| "the poll failed".to_owned(), Outcome::summary);
            if let Some(r) = record {
                Record::warn(
                    r.store.complete_task(r.id, &combined, &[], "failed", None),
                    &mut warnings,
                );
            }
            let mut f = Finished::new(id, Some(task.task_id.clone()), Ending::Failed(message));
            f.exchange = Some(combined);
            f
        }
        PollEnd::Unfinished { stop, .. } => {
            Finished::new(id, Some(task.task_id.clone()), Ending::Pending(stop))
        }
    };
    f.polls = polled.polls;
    f.last_status = polled.last_status;
    f.warnings = warnings;
    f
}

/// Which pending tasks [`resume_pending`] takes.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions<'a> {
    /// Only these entries (all pending tasks when empty).
    pub ids: Vec<i64>,
    pub run: RunOptions<'a>,
    /// How many tasks are polled at once (at least 1).
    pub concurrency: usize,
}

/// Resumes the pending async tasks of the history (all, or `opts.ids`): each one submitted to
/// `client`'s endpoint and not polled by another live process is claimed, polled at once and
/// then with the policy's backoff, collected into its entry (and `opts.run.out_dir`), or
/// closed with a clear error when the service says it expired or was not found. A task
/// submitted elsewhere is skipped (it can only be polled where it was submitted) unless its
/// lifetime has passed, then it is closed as expired. `on_event` hears each task's statuses
/// with its entry id. Ids that are not pending tasks come back as [`Ending::Skipped`].
pub async fn resume_pending(
    store: &Store,
    client: &Client,
    opts: &ResumeOptions<'_>,
    cancel: &CancellationToken,
    on_event: impl Fn(i64, &TaskEvent),
) -> Result<Vec<Finished>, StoreError> {
    let pending = store.pending_tasks()?;
    let mut chosen: Vec<Result<PendingTask, i64>> = Vec::new();
    if opts.ids.is_empty() {
        chosen.extend(pending.into_iter().map(Ok));
    } else {
        for id in &opts.ids {
            match pending.iter().find(|t| t.id == *id) {
                Some(t) => chosen.push(Ok(t.clone())),
                None => chosen.push(Err(*id)),
            }
        }
    }
    let on_event = &on_event;
    let results: Vec<Finished> = futures::stream::iter(chosen)
        .map(|t| async move {
            match t {
                Ok(t) => resume_one(store, client, t, opts, cancel, on_event).await,
                Err(id) => Finished::new(
                    Some(id),
                    None,
                    Ending::Skipped(match store.get(id) {
                        Ok(Some(e)) => format!(
                            "entry {id} is not a pending async task (outcome {})",
                            e.summary.outcome.as_str()
                        ),
                        Ok(None) => format!("no history entry with id {id}"),
                        Err(e) => e.to_string(),
                    }),
                ),
            }
        })
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    Ok(results)
}

async fn resume_one(
    store: &Store,
    client: &Client,
    t: PendingTask,
    opts: &ResumeOptions<'_>,
    cancel: &CancellationToken,
    on_event: &impl Fn(i64, &TaskEvent),
) -> Finished {
    let id = t.id;
    let skipped =
        |why: String| Finished::new(Some(id), Some(t.task_id.clone()), Ending::Skipped(why));
    let expired_locally = |t: &PendingTask| {
        let status = TaskStatus::Expired;
        let message = format!(
            "{} (submitted {} ago and never collected)",
            status.gone_message(&t.task_id),
            tasks::human_duration(std::time::Duration::from_millis(
                u64::try_from(now_ms().saturating_sub(t.submitted_ms)).unwrap_or(0)
            ))
        );
        let mut f = Finished::new(
            Some(t.id),
            Some(t.task_id.clone()),
            Ending::Gone {
                status: status.clone(),
                message: message.clone(),
            },
        );
        if let Err(e) = store.close_task(t.id, status.as_str(), &message) {
            f.warnings.push(format!("not recorded in the history: {e}"));
        }
        f
    };
    if !t.submitted_to(client.target.endpoint.as_str()) {
        if t.is_past_lifetime(now_ms()) && t.is_claimable() {
            return expired_locally(&t);
        }
        return skipped(format!(
            "task {} was submitted to {} (profile {}); it can only be collected there: \
             resume it with --endpoint or --profile pointing there",
            t.task_id, t.endpoint, t.profile
        ));
    }
    match store.claim_task(id) {
        Ok(Claim::Claimed) => {}
        Ok(Claim::Busy { pid }) => {
            return skipped(match pid {
                Some(p) => format!("another volcv process (pid {p}) is collecting it"),
                None => "another volcv process is collecting it".to_owned(),
            });
        }
        Ok(Claim::NotPending) => return skipped("it is no longer pending".to_owned()),
        Err(e) => return skipped(format!("cannot claim it in the history: {e}")),
    }
    let loaded = store.get(id).and_then(|e| Ok((e, store.export(id)?)));
    let (entry, export) = match loaded {
        Ok((Some(entry), export)) => (entry, export),
        Ok((None, _)) => return skipped("it is no longer in the history".to_owned()),
        Err(e) => return skipped(format!("cannot read it from the history: {e}")),
    };
    let body: Value = match serde_json::from_slice(&export.request) {
        Ok(v) => v,
        Err(e) => return skipped(format!("its recorded request is not JSON: {e}")),
    };
    let split = match Split::new(&body) {
        Ok(s) => s,
        Err(e) => return skipped(format!("its recorded request cannot be polled: {e}")),
    };
    let task = split.task(&t.task_id);
    let record = Some(Record { store, id });
    let since = ms_to_time(entry.summary.created_ms);
    let prior = crate::store::attempts_from(&entry.attempts);
    let mut warnings = Vec::new();
    let mut events = |e: &TaskEvent| on_event(id, e);
    let polled = poll(
        client,
        &task,
        record,
        &opts.run,
        since,
        false,
        cancel,
        &mut events,
        &mut warnings,
    )
    .await;
    let past_lifetime = t.is_past_lifetime(now_ms());
    let unreachable = matches!(
        &polled.end,
        PollEnd::Unfinished { stop, .. } if !matches!(stop, Stop::Cancelled | Stop::MaxWait(_))
    );
    let mut f = if past_lifetime && unreachable {
        expired_locally(&t)
    } else {
        finish(
            client,
            record,
            &task,
            &export.request,
            entry.request_headers,
            since,
            prior,
            polled,
            &opts.run,
        )
        .await
    };
    warnings.append(&mut f.warnings);
    f.warnings = warnings;
    f
}
