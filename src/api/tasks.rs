//! The asynchronous variant of the API (cvprocess-api.md, section 5), on top of [`Client`].
//!
//! A request in async mode is split in two ([`Split`]): `CVSync2AsyncSubmitTask` gets the body
//! without the output options, and answers `data.task_id`; `CVSync2AsyncGetResult` gets
//! `{req_key, task_id, req_json}` where `req_json` is a JSON-encoded *string* carrying the
//! output options (`return_url`, `logo_info`). Which keys go where is read from the schema
//! ([`Schema::async_poll_keys`]), not listed here.
//!
//! [`poll_until_done`] polls with a bounded backoff ([`PollPolicy`]), reports every answer
//! through a callback ([`TaskEvent`]), and ends in a [`PollEnd`]. The `done` answer carries its
//! images in the same fields as `CVProcess`, so it parses into the same
//! [`Outcome::Success`](crate::api::response::Outcome) as a sync call; [`combine`] turns the
//! whole async request into one [`Exchange`] that the history, image saving and printing take
//! unchanged.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::api::client::{Attempt, Client, Exchange, TransportError};
use crate::api::codes::Retry;
use crate::api::response::Outcome;
use crate::api::schema::{self, Schema};

/// The action that submits a task.
pub const SUBMIT_ACTION: &str = "CVSync2AsyncSubmitTask";
/// The action that fetches a task's status and, once done, its result.
pub const RESULT_ACTION: &str = "CVSync2AsyncGetResult";
/// How long the service keeps a task at most ("valid 12-24 h"). A task older than this is
/// taken as expired.
pub const TASK_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// At most this many poll attempts are kept in a combined exchange (the first, every status
/// change, every failure and the last, the oldest dropped first past the cap).
pub const MAX_LOGGED_POLLS: usize = 64;

/// How a request is sent: one `CVProcess` call, or a task submitted and polled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One `CVProcess` call that answers with the result.
    #[default]
    Sync,
    /// `CVSync2AsyncSubmitTask`, then `CVSync2AsyncGetResult` until the task is done.
    Async,
}

impl Mode {
    /// The name used in config files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }

    /// Parses `sync` or `async`; the error names the allowed values.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "sync" => Ok(Mode::Sync),
            "async" => Ok(Mode::Async),
            other => Err(format!("mode must be \"sync\" or \"async\", got {other:?}")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("mode \"sync\" or \"async\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Mode, E> {
                Mode::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// A request body split for the async API.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The body's `req_key`.
    pub req_key: String,
    /// The body of `CVSync2AsyncSubmitTask`: the request without the output options.
    pub submit: Value,
    /// The output options, sent JSON-encoded as `req_json` with every poll.
    pub req_json: Map<String, Value>,
}

impl Split {
    /// Splits a request body: the keys the schema marks as taken at polling
    /// ([`Schema::async_poll_keys`]) move into `req_json`, everything else (unknown keys too)
    /// is submitted. A `req_key` without a schema uses the default schema's keys (the output
    /// options are the same across the product).
    pub fn new(body: &Value) -> Result<Split, String> {
        let Value::Object(map) = body else {
            return Err(format!(
                "the request body must be a JSON object, got {}",
                schema::json_type(body)
            ));
        };
        let req_key = match map.get("req_key") {
            Some(Value::String(k)) if !k.trim().is_empty() => k.clone(),
            Some(other) if !other.is_null() => {
                return Err(format!(
                    "req_key must be a string, got {}",
                    schema::json_type(other)
                ));
            }
            _ => return Err("req_key is required for an async request".to_owned()),
        };
        let schema: &Schema = schema::schema_for(&req_key).unwrap_or(schema::default_schema());
        let at_poll = schema.async_poll_keys();
        let mut submit = Map::new();
        let mut req_json = Map::new();
        for (k, v) in map {
            if at_poll.contains(&k.as_str()) {
                req_json.insert(k.clone(), v.clone());
            } else {
                submit.insert(k.clone(), v.clone());
            }
        }
        Ok(Split {
            req_key,
            submit: Value::Object(submit),
            req_json,
        })
    }

    /// The exact bytes of the submit body.
    pub fn submit_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.submit).unwrap_or_default()
    }

    /// What a poll needs, once the submit answered `task_id`.
    pub fn task(&self, task_id: &str) -> TaskRef {
        TaskRef {
            req_key: self.req_key.clone(),
            task_id: task_id.to_owned(),
            req_json: Value::Object(self.req_json.clone()).to_string(),
        }
    }
}

/// A submitted task: what every poll sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    /// The model the task was submitted for; every poll must name the same one.
    pub req_key: String,
    /// `data.task_id` of the submit's answer (valid 12 to 24 hours, per the reference).
    pub task_id: String,
    /// The output options, JSON-encoded (`{}` when there are none).
    pub req_json: String,
}

impl TaskRef {
    /// The body of `CVSync2AsyncGetResult`: `{req_key, task_id, req_json}`, `req_json` a string.
    pub fn poll_body(&self) -> Value {
        serde_json::json!({
            "req_key": self.req_key,
            "task_id": self.task_id,
            "req_json": self.req_json,
        })
    }
}

/// `data.status` of a poll answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// `in_queue`: accepted, not started yet; polling goes on.
    InQueue,
    /// `generating`: being generated; polling goes on.
    Generating,
    /// `done`: the images are in the poll answer, in the same fields as a CVProcess answer.
    Done,
    /// `not_found`: the service does not know the task id (wrong id, or another account or
    /// model); it can never be collected.
    NotFound,
    /// `expired`: the task is older than the service keeps results; it can never be collected.
    Expired,
    /// A status this build does not know; polling goes on (bounded by the policy).
    Other(String),
}

impl TaskStatus {
    /// The status as the service spells it.
    pub fn parse(s: &str) -> TaskStatus {
        match s {
            "in_queue" => TaskStatus::InQueue,
            "generating" => TaskStatus::Generating,
            "done" => TaskStatus::Done,
            "not_found" => TaskStatus::NotFound,
            "expired" => TaskStatus::Expired,
            other => TaskStatus::Other(other.to_owned()),
        }
    }

    /// The status as the service spells it (the unknown text itself for [`TaskStatus::Other`]).
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::InQueue => "in_queue",
            TaskStatus::Generating => "generating",
            TaskStatus::Done => "done",
            TaskStatus::NotFound => "not_found",
            TaskStatus::Expired => "expired",
            TaskStatus::Other(s) => s,
        }
    }

    /// `not_found` or `expired`: the result can never be collected.
    pub fn is_gone(&self) -> bool {
        matches!(self, TaskStatus::NotFound | TaskStatus::Expired)
    }

    /// Why a gone task's result is lost, in a sentence for the history and the terminal.
    pub fn gone_message(&self, task_id: &str) -> String {
        match self {
            TaskStatus::Expired => format!(
                "task {task_id} expired before its result was collected (the service keeps \
                 tasks 12-24 h)"
            ),
            TaskStatus::NotFound => format!(
                "task {task_id} was not found by the service (unknown task id, another \
                 account or endpoint, or already evicted)"
            ),
            other => format!("task {task_id} ended with status {}", other.as_str()),
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TaskStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What one poll answer means for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still in the queue or generating (or a status this build does not know).
    Running(TaskStatus),
    /// `done`: the exchange holds the result.
    Done,
    /// `not_found` or `expired`: the result is lost.
    Gone(TaskStatus),
    /// The poll failed in a way that may pass (network, timeout, 429, 5xx, an answer
    /// without `data.status`): poll again later.
    Transient(String),
    /// The service answered the poll with a business error that polling again will not
    /// change (e.g. the output failed moderation): the task ended in that error.
    Failed,
    /// The poll was refused for reasons outside the task (authentication, a relay's error,
    /// a body over the cap): polling again will not help now, but the task may still be
    /// collected later.
    Refused(String),
    /// The caller cancelled.
    Cancelled,
}

/// Reads a poll's exchange.
pub fn classify(exchange: &Exchange) -> Verdict {
    let retryable = |r: Retry| matches!(r, Retry::Backoff | Retry::AfterInflight | Retry::Once);
    match &exchange.result {
        Err(TransportError::Cancelled) => Verdict::Cancelled,
        Err(e @ TransportError::TooLarge(_)) => Verdict::Refused(e.to_string()),
        Err(e) => Verdict::Transient(e.to_string()),
        Ok(Outcome::Success(s)) => match s.task_status.as_deref().map(TaskStatus::parse) {
            Some(TaskStatus::Done) => Verdict::Done,
            Some(st) if st.is_gone() => Verdict::Gone(st),
            Some(st) => Verdict::Running(st),
            None => Verdict::Transient("the answer carried no data.status".to_owned()),
        },
        Ok(o @ Outcome::Service(_)) if retryable(o.retry()) => Verdict::Transient(o.summary()),
        Ok(Outcome::Service(_)) => Verdict::Failed,
        Ok(o) if retryable(o.retry()) => Verdict::Transient(o.summary()),
        Ok(o) => Verdict::Refused(o.summary()),
    }
}

/// How [`poll_until_done`] paces itself. The delay before poll `n` (0-based, failed polls
/// included) is `first_delay * factor^n`, at most `max_delay`, plus up to `jitter` of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// The delay before the first poll (after a submit) and the start of the backoff.
    pub first_delay: Duration,
    /// Growth of the delay per poll.
    pub factor: f64,
    /// The longest delay between two polls.
    pub max_delay: Duration,
    /// Polling stops (the task stays pending, to be resumed) after this long.
    pub max_wait: Duration,
    /// Polling stops (the task stays pending) after this many failed polls in a row.
    pub max_failures: u32,
    /// Random extra delay, as a fraction of the delay (0.1 = up to 10 % more).
    pub jitter: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            factor: 1.5,
            max_delay: Duration::from_secs(10),
            max_wait: Duration::from_secs(30 * 60),
            max_failures: 6,
            jitter: 0.1,
        }
    }
}

impl PollPolicy {
    /// The delay before poll `n` (0-based), without jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let grown = self.first_delay.as_secs_f64()
            * self
                .factor
                .max(1.0)
                .powi(i32::try_from(n).unwrap_or(i32::MAX));
        let capped = grown.min(self.max_delay.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_delay)
    }

    /// `delay` with jitter, for a random `r` in `0..1`.
    pub fn jittered(&self, delay: Duration, r: f64) -> Duration {
        delay.mul_f64(1.0 + self.jitter.clamp(0.0, 1.0) * r.clamp(0.0, 1.0))
    }
}

/// Why polling stopped with the task still pending (it can be resumed later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The caller cancelled.
    Cancelled,
    /// The policy's `max_wait` passed.
    MaxWait(Duration),
    /// Too many failed polls in a row; the last error.
    Failures {
        /// How many polls failed in a row (the policy's limit).
        count: u32,
        /// The last failure's text.
        last: String,
    },
    /// A poll was refused (see [`Verdict::Refused`]).
    Refused(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Cancelled => f.write_str("cancelled"),
            Stop::MaxWait(d) => write!(f, "not done after waiting {}", human_duration(*d)),
            Stop::Failures { count, last } => {
                write!(f, "{count} polls in a row failed, the last with: {last}")
            }
            Stop::Refused(why) => write!(f, "the poll was refused: {why}"),
        }
    }
}

/// What a UI hears while a task runs.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEvent {
    /// The submit answered a task id.
    Submitted {
        /// The id every poll names (`data.task_id`).
        task_id: String,
    },
    /// A poll answered a status (every poll; `changed` on the first and on every change).
    Status {
        /// The status the poll answered.
        status: TaskStatus,
        /// Whether it differs from the previous poll's (true on the first poll).
        changed: bool,
        /// Since the request started.
        elapsed: Duration,
        /// Polls so far, this one included.
        polls: u32,
        /// When the next poll comes, about (the schedule's delay before jitter); `None` once
        /// the task is done.
        next_poll: Option<Duration>,
    },
    /// A poll failed; the next one comes after `retry_in`.
    Retrying {
        /// Why the poll failed: a transport error, a retryable code (50429, 5xx) or an answer
        /// without `data.status`.
        error: String,
        /// Failed polls in a row so far, this one included.
        failures: u32,
        /// The wait before the next poll.
        retry_in: Duration,
    },
}

/// How polling ended.
#[derive(Debug, Clone)]
pub enum PollEnd {
    /// `done`: the last poll's exchange, whose outcome is a success with the images.
    Done(Exchange),
    /// `not_found` or `expired`, with the poll that said so.
    Gone {
        /// [`TaskStatus::NotFound`] or [`TaskStatus::Expired`].
        status: TaskStatus,
        /// The poll that answered it.
        exchange: Exchange,
    },
    /// The service answered with a business error; the poll that did.
    Failed(Exchange),
    /// Stopped with the task still pending, with the last poll (if any).
    Unfinished {
        /// Why polling stopped.
        stop: Stop,
        /// The last poll's exchange, or `None` when stopped before the first poll answered.
        last: Option<Exchange>,
    },
}

/// What [`poll_until_done`] returns: the end and the polls worth keeping in the history
/// (the first, status changes, failures, the last; at most [`MAX_LOGGED_POLLS`]).
#[derive(Debug, Clone)]
pub struct Polled {
    /// How polling ended.
    pub end: PollEnd,
    /// One [`Attempt`] per poll kept (timed from the request's start, its status or error as
    /// the result), for the history's attempt log.
    pub attempts: Vec<Attempt>,
    /// Polls made.
    pub polls: u32,
    /// The last status the service reported.
    pub last_status: Option<TaskStatus>,
}

/// The submit's answer.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The `CVSync2AsyncSubmitTask` call as sent and answered, with its retries.
    pub exchange: Exchange,
    /// `data.task_id` of a success; `None` for an error (or a success without one).
    pub task_id: Option<String>,
}

/// Submits the task: the split's submit body to `CVSync2AsyncSubmitTask`, with the client's
/// retries (50429/50430 with backoff; 5xx and failed connections once).
pub async fn submit(client: &Client, split: &Split, cancel: &CancellationToken) -> Submission {
    let exchange = client
        .call_bytes(SUBMIT_ACTION, split.submit_bytes(), cancel)
        .await;
    let task_id = match exchange.outcome() {
        Some(Outcome::Success(s)) => s.task_id.clone().filter(|t| !t.trim().is_empty()),
        _ => None,
    };
    Submission { exchange, task_id }
}

/// One poll of `CVSync2AsyncGetResult` (with the client's own retries) and what it means.
pub async fn poll_once(
    client: &Client,
    task: &TaskRef,
    cancel: &CancellationToken,
) -> (Exchange, Verdict) {
    let exchange = client.call(RESULT_ACTION, &task.poll_body(), cancel).await;
    let verdict = classify(&exchange);
    (exchange, verdict)
}

/// Time since `since` by the wall clock (zero if the clock went back).
fn elapsed_since(since: OffsetDateTime) -> Duration {
    Duration::try_from(OffsetDateTime::now_utc() - since).unwrap_or_default()
}

/// Polls until the task is done, gone or failed, or until the policy or `cancel` stops it.
/// `since` is when the request started (for elapsed times and the attempts' offsets);
/// `wait_first` waits the first delay before the first poll (right after a submit) instead of
/// polling at once (when resuming). `on_event` hears every status and every failed poll; it
/// runs on the polling task, so keep it short.
pub async fn poll_until_done(
    client: &Client,
    task: &TaskRef,
    policy: &PollPolicy,
    since: OffsetDateTime,
    wait_first: bool,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(&TaskEvent),
) -> Polled {
    let started = tokio::time::Instant::now();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut polls = 0u32;
    let mut failures = 0u32;
    let mut last_status: Option<TaskStatus> = None;
    let mut last: Option<Exchange> = None;
    // Delays slept so far: the index into the policy's schedule.
    let mut n = 0u32;
    let unfinished = |stop, last, attempts, polls, last_status| Polled {
        end: PollEnd::Unfinished { stop, last },
        attempts,
        polls,
        last_status,
    };
    loop {
        if polls > 0 || wait_first {
            let d = policy.jittered(policy.delay(n), rand::random::<f64>());
            n = n.saturating_add(1);
            if started.elapsed() + d > policy.max_wait {
                let stop = Stop::MaxWait(policy.max_wait);
                return unfinished(stop, last, attempts, polls, last_status);
            }
            tokio::select! {
                () = cancel.cancelled() => {
                    return unfinished(Stop::Cancelled, last, attempts, polls, last_status);
                }
                () = tokio::time::sleep(d) => {}
            }
        }
        let (exchange, verdict) = poll_once(client, task, cancel).await;
        polls += 1;
        let at = elapsed_since(since);
        let changed = match &verdict {
            Verdict::Running(s) | Verdict::Gone(s) => last_status.as_ref() != Some(s),
            Verdict::Done => last_status != Some(TaskStatus::Done),
            _ => false,
        };
        // The log keeps the first poll, status changes and every answer that is not a plain
        // "still running".
        if polls == 1 || changed || !matches!(verdict, Verdict::Running(_)) {
            let word = match &verdict {
                Verdict::Running(s) | Verdict::Gone(s) => s.as_str(),
                Verdict::Done => "done",
                _ => "",
            };
            log_poll(&mut attempts, &exchange, at, word);
        }
        let next = policy.delay(n);
        let status_event = |status: &TaskStatus| TaskEvent::Status {
            status: status.clone(),
            changed,
            elapsed: at,
            polls,
            next_poll: (*status != TaskStatus::Done).then_some(next),
        };
        match verdict {
            Verdict::Running(status) => {
                failures = 0;
                on_event(&status_event(&status));
                last_status = Some(status);
                last = Some(exchange);
            }
            Verdict::Done => {
                on_event(&status_event(&TaskStatus::Done));
                return Polled {
                    end: PollEnd::Done(exchange),
                    attempts,
                    polls,
                    last_status: Some(TaskStatus::Done),
                };
            }
            Verdict::Gone(status) => {
                on_event(&status_event(&status));
                return Polled {
                    end: PollEnd::Gone {
                        status: status.clone(),
                        exchange,
                    },
                    attempts,
                    polls,
                    last_status: Some(status),
                };
            }
            Verdict::Failed => {
                return Polled {
                    end: PollEnd::Failed(exchange),
                    attempts,
                    polls,
                    last_status,
                };
            }
            Verdict::Refused(why) => {
                let stop = Stop::Refused(why);
                return unfinished(stop, Some(exchange), attempts, polls, last_status);
            }
            Verdict::Cancelled => {
                return unfinished(Stop::Cancelled, last, attempts, polls, last_status);
            }
            Verdict::Transient(error) => {
                failures += 1;
                if failures >= policy.max_failures.max(1) {
                    let stop = Stop::Failures {
                        count: failures,
                        last: error,
                    };
                    return unfinished(stop, Some(exchange), attempts, polls, last_status);
                }
                on_event(&TaskEvent::Retrying {
                    error,
                    failures,
                    retry_in: policy.delay(n),
                });
                last = Some(exchange);
            }
        }
    }
}

/// Adds a poll to the log, dropping the oldest poll (never the first entry) past the cap.
fn log_poll(attempts: &mut Vec<Attempt>, exchange: &Exchange, at: Duration, status: &str) {
    let duration = exchange.duration;
    let http_status = exchange.http_status;
    let code = match &exchange.result {
        Ok(o) => o.code().map_or_else(
            || format!("HTTP {}", http_status.unwrap_or_default()),
            |c| c.to_string(),
        ),
        Err(e) => e.to_string(),
    };
    let result = if status.is_empty() {
        format!("poll: {code}")
    } else {
        format!("poll: {code} {status}")
    };
    attempts.push(Attempt {
        at,
        duration,
        http_status,
        result,
    });
    if attempts.len() > MAX_LOGGED_POLLS {
        attempts.remove(1);
    }
}

/// The submit's attempts, labelled, with offsets from the request's start.
pub fn submit_attempts(submission: &Exchange, since: OffsetDateTime) -> Vec<Attempt> {
    let offset = Duration::try_from(submission.started_at - since).unwrap_or_default();
    submission
        .attempts
        .iter()
        .map(|a| Attempt {
            at: a.at + offset,
            duration: a.duration,
            http_status: a.http_status,
            result: format!("submit: {}", a.result),
        })
        .collect()
}

/// One [`Exchange`] for a whole async request, as the history and the result printing take
/// it: the full request body as the user wrote it (output options included), the submit's
/// request headers, then the last answer (URL, status, headers, body and parsed outcome of
/// the final poll, or of the submit when it failed), timed from `since` to now, with
/// `attempts` (see [`submit_attempts`] and [`Polled::attempts`]).
pub fn combine(
    full_body: &[u8],
    request_headers: Vec<(String, String)>,
    since: OffsetDateTime,
    attempts: Vec<Attempt>,
    last: Exchange,
) -> Exchange {
    Exchange {
        method: last.method,
        url: last.url,
        action: SUBMIT_ACTION.to_owned(),
        request_headers,
        request_body: String::from_utf8_lossy(full_body).into_owned(),
        http_status: last.http_status,
        response_headers: last.response_headers,
        response_bytes: last.response_bytes,
        started_at: since,
        duration: elapsed_since(since),
        attempts,
        result: last.result,
        scrubbed: last.scrubbed,
    }
}

/// `3.2s`, `4m05s`, `2h10m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::response::parse_response;
    use serde_json::json;

    #[test]
    fn the_split_follows_the_schema() {
        let body = json!({
            "req_key": "high_aes_ip_v20",
            "image_urls": ["https://example.com/a.jpg"],
            "prompt": "a cat",
            "seed": 7,
            "return_url": true,
            "logo_info": {"add_logo": true, "position": 2},
            "unknown_extra": 1
        });
        let split = Split::new(&body).expect("split");
        assert_eq!(split.req_key, "high_aes_ip_v20");
        assert_eq!(
            split.submit,
            json!({
                "req_key": "high_aes_ip_v20",
                "image_urls": ["https://example.com/a.jpg"],
                "prompt": "a cat",
                "seed": 7,
                "unknown_extra": 1
            })
        );
        assert_eq!(
            Value::Object(split.req_json.clone()),
            json!({"return_url": true, "logo_info": {"add_logo": true, "position": 2}})
        );
        // Every key the schema marks for polling is one the split moves, and nothing else.
        let keys = schema::default_schema().async_poll_keys();
        assert_eq!(keys, ["return_url", "logo_info"]);
        let task = split.task("7263");
        let poll = task.poll_body();
        assert_eq!(poll["req_key"], "high_aes_ip_v20");
        assert_eq!(poll["task_id"], "7263");
        // req_json is a JSON-encoded string, not an object.
        let encoded = poll["req_json"].as_str().expect("req_json is a string");
        let decoded: Value = serde_json::from_str(encoded).expect("req_json decodes");
        assert_eq!(decoded["logo_info"]["position"], 2);
    }

    #[test]
    fn a_body_without_output_options_polls_with_an_empty_object() {
        let split =
            Split::new(&json!({"req_key": "high_aes_ip_v20", "prompt": "x"})).expect("split");
        assert!(split.req_json.is_empty());
        assert_eq!(split.task("1").req_json, "{}");
    }

    #[test]
    fn bad_bodies_are_refused_with_the_field_named() {
        assert!(Split::new(&json!([1])).is_err_and(|e| e.contains("JSON object")));
        assert!(Split::new(&json!({"prompt": "x"})).is_err_and(|e| e.contains("req_key")));
        assert!(Split::new(&json!({"req_key": 5})).is_err_and(|e| e.contains("req_key must")));
        // An unknown req_key still splits, by the default schema's keys.
        let s =
            Split::new(&json!({"req_key": "other", "return_url": false, "a": 1})).expect("split");
        assert_eq!(s.submit, json!({"req_key": "other", "a": 1}));
        assert_eq!(s.req_json.get("return_url"), Some(&json!(false)));
    }

    #[test]
    fn the_backoff_grows_to_its_cap() {
        let p = PollPolicy {
            first_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            ..PollPolicy::default()
        };
        let schedule: Vec<u64> = (0..8).map(|n| p.delay(n).as_millis() as u64).collect();
        assert_eq!(
            schedule,
            [1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000]
        );
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(10));
        // The default policy: 1 s, then 1.5x, capped at 10 s.
        let d = PollPolicy::default();
        assert_eq!(d.delay(0), Duration::from_secs(1));
        assert_eq!(d.delay(1), Duration::from_millis(1500));
        assert_eq!(d.delay(2), Duration::from_millis(2250));
        assert_eq!(d.delay(50), Duration::from_secs(10));
        // A factor below 1 never shrinks the delay.
        let flat = PollPolicy {
            factor: 0.5,
            ..d.clone()
        };
        assert_eq!(flat.delay(5), Duration::from_secs(1));
        // Jitter adds at most its fraction.
        assert_eq!(
            d.jittered(Duration::from_secs(10), 0.0),
            Duration::from_secs(10)
        );
        assert_eq!(
            d.jittered(Duration::from_secs(10), 1.0),
            Duration::from_secs(11)
        );
        assert_eq!(
            d.jittered(Duration::from_secs(10), 7.0),
            Duration::from_secs(11)
        );
    }

    fn exchange(status: u16, body: &str) -> Exchange {
        Exchange {
            method: "POST".into(),
            url: "http://127.0.0.1/?Action=CVSync2AsyncGetResult".into(),
            action: RESULT_ACTION.into(),
            request_headers: vec![],
            request_body: "{}".into(),
            http_status: Some(status),
            response_headers: vec![],
            response_bytes: body.as_bytes().to_vec(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            duration: Duration::from_millis(5),
            attempts: vec![],
            result: Ok(parse_response(
                status,
                Some("application/json"),
                body.as_bytes(),
            )),
            scrubbed: 0,
        }
    }

    fn with_status(status: &str) -> Exchange {
        exchange(
            200,
            &format!(
                r#"{{"code":10000,"message":"Success","request_id":"r","status":10000,"time_elapsed":"1ms","data":{{"status":"{status}","binary_data_base64":[],"image_urls":null}}}}"#
            ),
        )
    }

    #[test]
    fn poll_answers_are_classified() {
        assert_eq!(
            classify(&with_status("in_queue")),
            Verdict::Running(TaskStatus::InQueue)
        );
        assert_eq!(
            classify(&with_status("generating")),
            Verdict::Running(TaskStatus::Generating)
        );
        assert_eq!(
            classify(&with_status("warming_up")),
            Verdict::Running(TaskStatus::Other("warming_up".into()))
        );
        assert_eq!(classify(&with_status("done")), Verdict::Done);
        assert_eq!(
            classify(&with_status("expired")),
            Verdict::Gone(TaskStatus::Expired)
        );
        assert_eq!(
            classify(&with_status("not_found")),
            Verdict::Gone(TaskStatus::NotFound)
        );
        let business = |code: i64, http: u16| {
            exchange(
                http,
                &format!(
                    r#"{{"code":{code},"message":"m","request_id":"r","status":{code},"time_elapsed":"1ms","data":null}}"#
                ),
            )
        };
        assert!(matches!(
            classify(&business(50429, 429)),
            Verdict::Transient(_)
        ));
        assert!(matches!(
            classify(&business(50500, 500)),
            Verdict::Transient(_)
        ));
        assert_eq!(classify(&business(50511, 400)), Verdict::Failed);
        assert_eq!(classify(&business(50400, 400)), Verdict::Failed);
        let gateway = exchange(
            401,
            r#"{"ResponseMetadata":{"RequestId":"r","Error":{"CodeN":100010,"Code":"SignatureDoesNotMatch","Message":"bad"}}}"#,
        );
        assert!(matches!(classify(&gateway), Verdict::Refused(m) if m.contains("100010")));
        assert!(matches!(
            classify(&exchange(
                502,
                "<html><title>502 Bad Gateway</title></html>"
            )),
            Verdict::Transient(_)
        ));
        let mut cancelled = with_status("done");
        cancelled.result = Err(TransportError::Cancelled);
        assert_eq!(classify(&cancelled), Verdict::Cancelled);
        let mut refused = with_status("done");
        refused.result = Err(TransportError::Connect("refused".into()));
        assert!(matches!(classify(&refused), Verdict::Transient(_)));
        let no_status = exchange(
            200,
            r#"{"code":10000,"message":"Success","request_id":"r","status":10000,"time_elapsed":"1ms","data":{}}"#,
        );
        assert!(matches!(classify(&no_status), Verdict::Transient(m) if m.contains("data.status")));
    }

    #[test]
    fn modes_parse_and_name_the_allowed_values() {
        assert_eq!(Mode::parse("async"), Ok(Mode::Async));
        assert_eq!(Mode::parse("sync"), Ok(Mode::Sync));
        let e = Mode::parse("asnyc").expect_err("typo");
        assert!(
            e.contains("\"sync\" or \"async\"") && e.contains("asnyc"),
            "{e}"
        );
    }

    #[test]
    fn the_poll_log_keeps_the_first_and_the_latest() {
        let mut log = Vec::new();
        let ex = with_status("in_queue");
        for i in 0..(MAX_LOGGED_POLLS as u64 + 10) {
            log_poll(&mut log, &ex, Duration::from_secs(i), "in_queue");
        }
        assert_eq!(log.len(), MAX_LOGGED_POLLS);
        assert_eq!(log[0].at, Duration::ZERO);
        assert_eq!(log[1].at, Duration::from_secs(11));
        assert_eq!(log[0].result, "poll: 10000 in_queue");
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(Duration::from_millis(3200)), "3.2s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(7800)), "2h10m");
    }
}
