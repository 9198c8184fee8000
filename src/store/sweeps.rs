//! Parameter sweeps in the history (see `crate::sweep`): a row per sweep in `sweeps`, and the
//! sweep's cells as ordinary entries tagged with the sweep id and their varied values, so
//! every cell also shows up in `volcv history` and a sweep can be reopened later.

use super::queries::{SUMMARY_COLUMNS, SUMMARY_LEN, summary_from_row};
use super::{NewEntry, OutcomeKind, Store, StoreError, Summary, blobs, owner};
use crate::clock::now_ms;
use owner::Liveness;
use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;
use std::path::PathBuf;

/// A sweep about to start, for [`Store::begin_sweep`].
#[derive(Debug, Clone, Copy)]
pub struct NewSweep<'a> {
    /// The sweep's id (`crate::sweep::new_sweep_id`).
    pub id: &'a str,
    /// The config profile used.
    pub profile: &'a str,
    /// The base request's `req_key`.
    pub req_key: Option<&'a str>,
    /// The base request's `prompt` (`None` when the prompt is varied).
    pub prompt: Option<&'a str>,
    /// The axes (`crate::sweep::Grid`) as JSON.
    pub grid: &'a serde_json::Value,
    /// How many cells are planned.
    pub cells: usize,
    /// The requested rate, in requests per second (the sweep's token bucket).
    pub qps: f64,
    /// The cap on requests in flight at once.
    pub concurrency: usize,
}

/// Where a sweep stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    /// Still sending (its process runs).
    Running,
    /// Every cell was tried.
    Done,
    /// Stopped early by the user; cells not started were never sent.
    Cancelled,
    /// The process ended while it was running.
    Interrupted,
}

impl SweepStatus {
    /// The name stored in the database and printed by the CLI (`running`, `interrupted`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SweepStatus::Running => "running",
            SweepStatus::Done => "done",
            SweepStatus::Cancelled => "cancelled",
            SweepStatus::Interrupted => "interrupted",
        }
    }
}

/// A recorded sweep, with counts of its recorded cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRecord {
    /// The sweep's id, `sw-YYYYMMDD-HHMMSS-xxxx` (UTC start time and 4 random hex digits).
    pub id: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms; `None` while running or when interrupted.
    pub finished_ms: Option<i64>,
    /// The config profile the sweep was sent with.
    pub profile: String,
    /// The base request's `req_key`, when it had one.
    pub req_key: Option<String>,
    /// The base request's `prompt`; `None` when the prompt is one of the varied axes.
    pub prompt: Option<String>,
    /// The axes as JSON (`crate::sweep::Grid`).
    pub grid: serde_json::Value,
    /// Cells planned.
    pub cells: usize,
    /// The requested rate in requests per second; `None` when the row holds none.
    pub qps: Option<f64>,
    /// The cap on requests in flight at once; `None` when the row holds none.
    pub concurrency: Option<usize>,
    /// Where the sweep stands (a `running` sweep whose process is gone reads `interrupted`).
    pub status: SweepStatus,
    /// Cells with a history entry (cells never started have none; deleted entries neither).
    pub recorded: usize,
    /// Recorded cells that succeeded.
    pub succeeded: usize,
    /// Recorded cells that ended with an error (service, transport...), not counting
    /// cancelled, pending or interrupted ones.
    pub failed: usize,
}

/// One recorded cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepCell {
    /// The cell's index in the grid (from the tag), when the tag could be read.
    pub cell: Option<usize>,
    /// The cell's varied values (`{"seed": 2, "scale": 3.5}`), from the tag.
    pub values: serde_json::Value,
    /// The entry.
    #[serde(flatten)]
    pub summary: Summary,
    /// The store's file of the cell's first result image, if any was kept.
    pub first_image: Option<PathBuf>,
}

const SWEEP_COLUMNS: &str = "s.id, s.created_ms, s.finished_ms, s.profile, s.req_key, s.prompt, \
    s.grid, s.cells, s.qps, s.concurrency, s.status, s.owner_pid, s.owner_token, \
    (SELECT count(*) FROM entries e WHERE e.sweep_id = s.id), \
    (SELECT count(*) FROM entries e WHERE e.sweep_id = s.id AND e.outcome = 'success'), \
    (SELECT count(*) FROM entries e WHERE e.sweep_id = s.id AND e.outcome NOT IN \
        ('success', 'cancelled', 'pending', 'interrupted'))";

/// A sweep row before its status is judged.
struct RawSweep {
    record: SweepRecord,
    stored_status: String,
    owner_pid: Option<u32>,
    owner_token: Option<String>,
}

fn raw_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawSweep> {
    let grid: String = r.get(6)?;
    let count = |i: usize| -> rusqlite::Result<usize> {
        Ok(usize::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
    };
    Ok(RawSweep {
        record: SweepRecord {
            id: r.get(0)?,
            created_ms: r.get(1)?,
            finished_ms: r.get(2)?,
            profile: r.get(3)?,
            req_key: r.get(4)?,
            prompt: r.get(5)?,
            grid: serde_json::from_str(&grid).unwrap_or(serde_json::Value::Null),
            cells: count(7)?,
            qps: r.get(8)?,
            concurrency: r
                .get::<_, Option<i64>>(9)?
                .and_then(|n| usize::try_from(n).ok()),
            status: SweepStatus::Running,
            recorded: count(13)?,
            succeeded: count(14)?,
            failed: count(15)?,
        },
        stored_status: r.get(10)?,
        owner_pid: r.get(11)?,
        owner_token: r.get(12)?,
    })
}

impl Store {
    /// Records a sweep as `running` before its first cell is sent.
    pub fn begin_sweep(&self, s: &NewSweep<'_>) -> Result<(), StoreError> {
        if s.id.is_empty() {
            return Err(StoreError::Invalid {
                field: "sweep id",
                detail: "empty".into(),
            });
        }
        let grid = serde_json::to_string(s.grid).map_err(|e| StoreError::Invalid {
            field: "sweep grid",
            detail: e.to_string(),
        })?;
        self.write(std::iter::empty(), |tx, _seq| {
            tx.execute(
                "INSERT INTO sweeps (id, created_ms, profile, req_key, prompt, grid, cells, qps, \
                 concurrency, status, owner_pid, owner_token) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10, ?11)",
                params![
                    s.id,
                    now_ms(),
                    s.profile,
                    s.req_key,
                    s.prompt,
                    grid,
                    s.cells as i64,
                    s.qps,
                    s.concurrency as i64,
                    self.owner.pid,
                    self.owner.token
                ],
            )
            .map_err(|e| self.sql(e))?;
            Ok(())
        })
    }

    /// Marks a sweep `done` or `cancelled` (other statuses are refused).
    pub fn finish_sweep(&self, id: &str, status: SweepStatus) -> Result<(), StoreError> {
        if !matches!(status, SweepStatus::Done | SweepStatus::Cancelled) {
            return Err(StoreError::Invalid {
                field: "sweep status",
                detail: format!(
                    "a sweep finishes done or cancelled, not {}",
                    status.as_str()
                ),
            });
        }
        self.write(std::iter::empty(), |tx, _seq| {
            let n = tx
                .execute(
                    "UPDATE sweeps SET status = ?2, finished_ms = ?3 WHERE id = ?1",
                    params![id, status.as_str(), now_ms()],
                )
                .map_err(|e| self.sql(e))?;
            if n == 0 {
                return Err(StoreError::Invalid {
                    field: "sweep id",
                    detail: format!("no sweep {id:?}"),
                });
            }
            Ok(())
        })
    }

    /// [`Store::begin`] for a cell of sweep `sweep_id`: the entry is tagged with the cell's
    /// index and varied values in the same transaction.
    pub fn begin_cell(
        &self,
        entry: &NewEntry<'_>,
        sweep_id: &str,
        cell: usize,
        values: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let request = blobs::reduce(entry.request_body);
        let tag = serde_json::json!({"cell": cell, "values": values}).to_string();
        self.write(request.images.iter(), |tx, seq| {
            let id = self.insert_pending(tx, seq, entry, &request, now_ms())?;
            tx.execute(
                "UPDATE entries SET sweep_id = ?2, tag = ?3 WHERE id = ?1",
                params![id, sweep_id, tag],
            )
            .map_err(|e| self.sql(e))?;
            Ok(id)
        })
    }

    fn judge(&self, raw: RawSweep) -> SweepRecord {
        let mut rec = raw.record;
        rec.status = match raw.stored_status.as_str() {
            "done" => SweepStatus::Done,
            "cancelled" => SweepStatus::Cancelled,
            _ => {
                let live = match (raw.owner_pid, raw.owner_token.as_deref()) {
                    (Some(pid), Some(token)) => self.owner.liveness(pid, token),
                    _ => Liveness::Unknown,
                };
                let stale = now_ms().saturating_sub(rec.created_ms) > owner::STALE_AFTER_MS;
                match live {
                    Liveness::Alive => SweepStatus::Running,
                    Liveness::Gone => SweepStatus::Interrupted,
                    Liveness::Unknown if stale => SweepStatus::Interrupted,
                    Liveness::Unknown => SweepStatus::Running,
                }
            }
        };
        rec
    }

    /// The newest sweeps first, at most `limit` (0 means 100).
    pub fn sweeps(&self, limit: usize) -> Result<Vec<SweepRecord>, StoreError> {
        let limit = match limit {
            0 => 100,
            n => n.min(super::MAX_PAGE),
        };
        let raws: Vec<RawSweep> = {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {SWEEP_COLUMNS} FROM sweeps s ORDER BY s.created_ms DESC, s.rowid DESC \
                     LIMIT ?1"
                ))
                .map_err(|e| self.sql(e))?;
            st.query_map([limit as i64], raw_from_row)
                .map_err(|e| self.sql(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.sql(e))?
        };
        Ok(raws.into_iter().map(|r| self.judge(r)).collect())
    }

    /// One sweep, or `None`.
    pub fn sweep(&self, id: &str) -> Result<Option<SweepRecord>, StoreError> {
        let raw = {
            let conn = self.conn();
            conn.query_row(
                &format!("SELECT {SWEEP_COLUMNS} FROM sweeps s WHERE s.id = ?1"),
                [id],
                raw_from_row,
            )
            .optional()
            .map_err(|e| self.sql(e))?
        };
        Ok(raw.map(|r| self.judge(r)))
    }

    /// The recorded cells of a sweep, in cell order (then by id), each with its first
    /// result image's file.
    pub fn sweep_cells(&self, id: &str) -> Result<Vec<SweepCell>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, e.tag, \
                 (SELECT i.sha256 || '.' || i.ext FROM entry_images i WHERE i.entry_id = e.id \
                  AND i.part != 'request' ORDER BY i.part = 'result' DESC, i.pos LIMIT 1) \
                 FROM entries e WHERE e.sweep_id = ?1 ORDER BY e.id"
            ))
            .map_err(|e| self.sql(e))?;
        let mut cells: Vec<SweepCell> = st
            .query_map([id], |r| {
                let summary = summary_from_row(r)?;
                let tag: Option<String> = r.get(SUMMARY_LEN)?;
                let image: Option<String> = r.get(SUMMARY_LEN + 1)?;
                let tag: serde_json::Value = tag
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(serde_json::Value::Null);
                Ok(SweepCell {
                    cell: tag
                        .get("cell")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok()),
                    values: tag
                        .get("values")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null),
                    first_image: image.and_then(|name| {
                        let (sha, ext) = name.split_once('.')?;
                        Some(self.images.path(sha, ext))
                    }),
                    summary,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))?;
        cells.sort_by_key(|c| (c.cell.unwrap_or(usize::MAX), c.summary.id));
        Ok(cells)
    }
}

impl SweepCell {
    /// Whether the cell succeeded.
    pub fn succeeded(&self) -> bool {
        self.summary.outcome == OutcomeKind::Success
    }
}
