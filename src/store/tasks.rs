//! Async tasks in the history: an entry whose submit answered a task id stays `pending` (and
//! resumable) until its result is collected, the service says it expired or was not found,
//! or its lifetime has passed.
//!
//! Life of an async entry: [`Store::begin`] (action `CVSync2AsyncSubmitTask`), then
//! [`Store::task_submitted`] as soon as the submit answers, [`Store::set_task_status`] on each
//! poll, and [`Store::complete_task`] (or [`Store::complete`] when the submit itself failed).
//! [`Store::recover`] leaves entries with a task id pending whoever wrote them; another
//! process finds them with [`Store::pending_tasks`] and takes them over with
//! [`Store::claim_task`] once their poller is gone.

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::entries::Completion;
use super::owner::Liveness;
use super::redact::sanitize_url;
use super::{OutcomeKind, ResultFile, Store, StoreError};
use crate::api::client::{Attempt, Exchange};
use crate::clock::now_ms;

/// A task polled by a process whose liveness cannot be checked (another host, no `/proc`) is
/// taken as abandoned after this long without a poll.
pub const TASK_ABANDONED_AFTER_MS: i64 = 5 * 60 * 1000;

/// The task status of a demo task that can never be collected ([`Store::lose_demo_tasks`]).
pub const LOST_STATUS: &str = "lost";

/// A pending demo task marked lost by [`Store::lose_demo_tasks`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostTask {
    /// The history entry.
    pub id: i64,
    /// The service's task id (`data.task_id` of the submit).
    pub task_id: String,
    /// The reason, as recorded in the entry's message.
    pub message: String,
}

/// Who is polling a pending task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskOwner {
    /// This process wrote or claimed it.
    ThisProcess,
    /// Another live process (or one that polled it recently and cannot be checked).
    Other {
        /// The owning process's id, as recorded with the task.
        pid: Option<u32>,
    },
    /// Nobody: the process that polled it is gone. It can be claimed.
    Nobody,
}

/// A pending entry with a submitted task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingTask {
    /// The history entry.
    pub id: i64,
    /// When the entry was written (Unix ms).
    pub created_ms: i64,
    /// The config profile it was sent with; polls must use the same credentials.
    pub profile: String,
    /// The endpoint it was submitted to (as recorded: credentials redacted). A task can only
    /// be polled there.
    pub endpoint: String,
    /// The request's `req_key`, which every poll names.
    pub req_key: Option<String>,
    /// The request's prompt, to show in task lists.
    pub prompt: Option<String>,
    /// The service's task id (`data.task_id` of the submit).
    pub task_id: String,
    /// `submitted`, `in_queue` or `generating` (or a status this build does not know).
    pub task_status: String,
    /// When the submit answered (Unix ms).
    pub submitted_ms: i64,
    /// When the task is taken as expired at the latest (Unix ms).
    pub expires_ms: i64,
    /// The last poll (Unix ms).
    pub checked_ms: Option<i64>,
    /// Who polls it now: this process, another live one, or nobody.
    pub owner: TaskOwner,
}

impl PendingTask {
    /// Whether this process may poll it (nobody else does).
    pub fn is_claimable(&self) -> bool {
        !matches!(self.owner, TaskOwner::Other { .. })
    }

    /// Whether the task's lifetime has passed at `now_ms`.
    pub fn is_past_lifetime(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms
    }

    /// Whether it was submitted to `endpoint` (compared as recorded).
    pub fn submitted_to(&self, endpoint: &str) -> bool {
        self.endpoint == recorded_endpoint(endpoint)
    }
}

/// What [`Store::claim_task`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process now owns the task (or already did).
    Claimed,
    /// Another process polls it.
    Busy {
        /// The owning process's id, as recorded with the task.
        pid: Option<u32>,
    },
    /// The entry is no longer a pending task (collected, closed, deleted).
    NotPending,
}

/// An endpoint as the history records it (user info and secret-looking query values
/// redacted), for comparing with [`PendingTask::endpoint`].
pub fn recorded_endpoint(endpoint: &str) -> String {
    sanitize_url(endpoint)
}

impl Store {
    /// Judges who polls a task from its row's owner and heartbeat.
    fn task_owner(&self, pid: Option<u32>, token: Option<&str>, heartbeat_ms: i64) -> TaskOwner {
        let (Some(pid), Some(token)) = (pid, token) else {
            return TaskOwner::Nobody;
        };
        if pid == self.owner.pid && token == self.owner.token {
            return TaskOwner::ThisProcess;
        }
        match self.owner.liveness(pid, token) {
            Liveness::Alive => TaskOwner::Other { pid: Some(pid) },
            Liveness::Gone => TaskOwner::Nobody,
            Liveness::Unknown
                if now_ms().saturating_sub(heartbeat_ms) > TASK_ABANDONED_AFTER_MS =>
            {
                TaskOwner::Nobody
            }
            Liveness::Unknown => TaskOwner::Other { pid: Some(pid) },
        }
    }

    /// Records that pending entry `id` submitted task `task_id` (status `submitted`), with
    /// the submit's attempts, so the entry stays resumable from now on.
    pub fn task_submitted(
        &self,
        id: i64,
        task_id: &str,
        submitted_ms: i64,
        expires_ms: i64,
        attempts: &[Attempt],
    ) -> Result<(), StoreError> {
        let attempts = serde_json::to_string(attempts).unwrap_or_else(|_| "[]".to_owned());
        self.write(std::iter::empty(), |tx, seq| {
            let n = tx
                .execute(
                    "UPDATE entries SET task_id = ?2, task_status = 'submitted', \
                     task_submitted_ms = ?3, task_expires_ms = ?4, attempts = ?5, \
                     updated_seq = ?6 WHERE id = ?1 AND outcome = 'pending'",
                    params![id, task_id, submitted_ms, expires_ms, attempts, seq],
                )
                .map_err(|e| self.sql(e))?;
            if n == 0 {
                Err(StoreError::NotFound(id))
            } else {
                Ok(())
            }
        })
    }

    /// Records a poll of a pending task: its status and the time (a heartbeat). Returns
    /// whether the entry was still pending. Only a changed status marks the row changed for
    /// [`Store::changed_since`] (the heartbeat alone does not).
    pub fn set_task_status(&self, id: i64, status: &str) -> Result<bool, StoreError> {
        self.write(std::iter::empty(), |tx, seq| {
            let n = tx
                .execute(
                    "UPDATE entries SET task_status = ?2, task_checked_ms = ?3, \
                     updated_seq = CASE WHEN task_status IS ?2 THEN updated_seq ELSE ?4 END \
                     WHERE id = ?1 AND outcome = 'pending' AND task_id IS NOT NULL",
                    params![id, status, now_ms(), seq],
                )
                .map_err(|e| self.sql(e))?;
            Ok(n > 0)
        })
    }

    /// Every pending entry with a submitted task, oldest first, with who polls it.
    pub fn pending_tasks(&self) -> Result<Vec<PendingTask>, StoreError> {
        type Row = (PendingTask, Option<u32>, Option<String>);
        let rows: Vec<Row> = {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(
                    "SELECT id, created_ms, profile, endpoint, req_key, prompt, task_id, \
                     task_status, task_submitted_ms, task_expires_ms, task_checked_ms, \
                     owner_pid, owner_token FROM entries \
                     WHERE outcome = 'pending' AND task_id IS NOT NULL ORDER BY id",
                )
                .map_err(|e| self.sql(e))?;
            st.query_map([], |r| {
                let created_ms: i64 = r.get(1)?;
                let submitted_ms: Option<i64> = r.get(8)?;
                let submitted_ms = submitted_ms.unwrap_or(created_ms);
                let expires_ms: Option<i64> = r.get(9)?;
                Ok((
                    PendingTask {
                        id: r.get(0)?,
                        created_ms,
                        profile: r.get(2)?,
                        endpoint: r.get(3)?,
                        req_key: r.get(4)?,
                        prompt: r.get(5)?,
                        task_id: r.get(6)?,
                        task_status: r
                            .get::<_, Option<String>>(7)?
                            .unwrap_or_else(|| "submitted".to_owned()),
                        submitted_ms,
                        expires_ms: expires_ms.unwrap_or(submitted_ms),
                        checked_ms: r.get(10)?,
                        owner: TaskOwner::Nobody,
                    },
                    r.get(11)?,
                    r.get(12)?,
                ))
            })
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))?
        };
        Ok(rows
            .into_iter()
            .map(|(mut t, pid, token)| {
                let heartbeat = t.checked_ms.unwrap_or(t.submitted_ms);
                t.owner = self.task_owner(pid, token.as_deref(), heartbeat);
                t
            })
            .collect())
    }

    /// Takes over polling pending task `id` for this process, unless another live process
    /// polls it. A process must not poll one task twice at once: the caller keeps track of
    /// what it polls.
    pub fn claim_task(&self, id: i64) -> Result<Claim, StoreError> {
        self.write(std::iter::empty(), |tx, seq| {
            type Row = (String, Option<String>, Option<u32>, Option<String>, i64);
            let row: Option<Row> = tx
                .query_row(
                    "SELECT outcome, task_id, owner_pid, owner_token, \
                     coalesce(task_checked_ms, task_submitted_ms, created_ms) \
                     FROM entries WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(|e| self.sql(e))?;
            let Some((outcome, task_id, pid, token, heartbeat)) = row else {
                return Ok(Claim::NotPending);
            };
            if outcome != OutcomeKind::Pending.as_str() || task_id.is_none() {
                return Ok(Claim::NotPending);
            }
            match self.task_owner(pid, token.as_deref(), heartbeat) {
                TaskOwner::ThisProcess => Ok(Claim::Claimed),
                TaskOwner::Other { pid } => Ok(Claim::Busy { pid }),
                TaskOwner::Nobody => {
                    tx.execute(
                        "UPDATE entries SET owner_pid = ?2, owner_token = ?3, \
                         task_checked_ms = ?4, updated_seq = ?5 WHERE id = ?1",
                        params![id, self.owner.pid, self.owner.token, now_ms(), seq],
                    )
                    .map_err(|e| self.sql(e))?;
                    Ok(Claim::Claimed)
                }
            }
        })
    }

    /// Completes an async entry with the combined exchange of the whole request (see
    /// `api::tasks::combine`) and the result images, and records the task's final status.
    /// With `failure` (a task that expired or was not found), the entry's outcome is
    /// `service_error` with that message, whatever the last answer's code.
    pub fn complete_task(
        &self,
        id: i64,
        exchange: &Exchange,
        results: &[ResultFile<'_>],
        task_status: &str,
        failure: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut c = Completion::new(exchange, results);
        if let Some(message) = failure {
            c.outcome = OutcomeKind::ServiceError;
            c.code = None;
            c.message = Some(message.to_owned());
            c.summary = message.to_owned();
        }
        self.write(c.images(), |tx, seq| {
            let now = now_ms();
            self.apply_completion(tx, seq, id, &c, now)?;
            tx.execute(
                "UPDATE entries SET task_status = ?2, task_checked_ms = ?3 WHERE id = ?1",
                params![id, task_status, now],
            )
            .map_err(|e| self.sql(e))?;
            Ok(())
        })
    }

    /// For the demo store only (`<data dir>/demo/`, see [`Store::open_demo`]): marks every
    /// pending task whose poller is gone as lost: outcome `interrupted`, task status
    /// [`LOST_STATUS`], and a message saying why. A demo task lives in the mock that ran inside
    /// the volcv process that submitted it, on a port of its own; when that process ended, the
    /// task ended with it and can never be collected. Tasks of a live process are left alone.
    /// (In a real store such tasks stay pending and resumable: the service keeps them.)
    pub fn lose_demo_tasks(&self) -> Result<Vec<LostTask>, StoreError> {
        let gone: Vec<PendingTask> = self
            .pending_tasks()?
            .into_iter()
            .filter(|t| t.owner == TaskOwner::Nobody)
            .collect();
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        self.write(std::iter::empty(), |tx, seq| {
            let mut lost = Vec::new();
            for t in gone {
                // Judged again under the write lock: another process may have claimed it.
                type Row = (Option<u32>, Option<String>, i64);
                let row: Option<Row> = tx
                    .query_row(
                        "SELECT owner_pid, owner_token, \
                         coalesce(task_checked_ms, task_submitted_ms, created_ms) FROM entries \
                         WHERE id = ?1 AND outcome = 'pending' AND task_id IS NOT NULL",
                        [t.id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(|e| self.sql(e))?;
                let Some((pid, token, heartbeat)) = row else {
                    continue;
                };
                if self.task_owner(pid, token.as_deref(), heartbeat) != TaskOwner::Nobody {
                    continue;
                }
                let process =
                    pid.map_or_else(|| "volcv".to_owned(), |p| format!("volcv (pid {p})"));
                let message = format!(
                    "lost: demo task {} was held by the demo backend inside {process}, which \
                     has ended; a demo task cannot be collected after that",
                    crate::text::truncate_chars(&t.task_id, 80)
                );
                tx.execute(
                    "UPDATE entries SET outcome = 'interrupted', finished_ms = ?2, \
                     message = ?3, summary = ?3, task_status = ?4, updated_seq = ?5 \
                     WHERE id = ?1",
                    params![t.id, now_ms(), message, LOST_STATUS, seq],
                )
                .map_err(|e| self.sql(e))?;
                lost.push(LostTask {
                    id: t.id,
                    task_id: t.task_id,
                    message,
                });
            }
            Ok(lost)
        })
    }

    /// Closes a pending task without an answer (its lifetime passed and it cannot be polled):
    /// outcome `service_error` with `message`, status `task_status`. Returns whether it was
    /// still pending.
    pub fn close_task(
        &self,
        id: i64,
        task_status: &str,
        message: &str,
    ) -> Result<bool, StoreError> {
        self.write(std::iter::empty(), |tx, seq| {
            let n = tx
                .execute(
                    "UPDATE entries SET outcome = 'service_error', finished_ms = ?2, \
                     message = ?3, summary = ?3, task_status = ?4, updated_seq = ?5 \
                     WHERE id = ?1 AND outcome = 'pending' AND task_id IS NOT NULL",
                    params![id, now_ms(), message, task_status, seq],
                )
                .map_err(|e| self.sql(e))?;
            Ok(n > 0)
        })
    }
}
