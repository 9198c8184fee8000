//! What the work cost: counts, outcomes, failures by code, retries, rate limiting, latency and
//! the images kept, over the history or a part of it ([`Store::stats`]), in total and grouped
//! by model, day (UTC) or outcome. Read in one pass over the rows; nothing is written.

use super::{OutcomeKind, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How [`Store::stats`] groups entries besides the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By `req_key` (`-` for a body without one).
    Model,
    /// By the UTC day the entry was created (`2026-12-03`).
    Day,
    /// By outcome (`success`, `service_error`, ...).
    Outcome,
}

/// Percentiles of a set of durations, in milliseconds (nearest-rank).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// How many values the percentiles were taken over (at least one).
    pub n: usize,
    /// The median, in milliseconds.
    pub p50_ms: f64,
    /// The 95th percentile, in milliseconds (the largest value when there are fewer than 20).
    pub p95_ms: f64,
    /// The largest value, in milliseconds.
    pub max_ms: f64,
}

impl Spread {
    /// The spread of `values` (milliseconds), or `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[i - 1]
        };
        Some(Spread {
            n: values.len(),
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            max_ms: values[values.len() - 1],
        })
    }
}

/// The figures of one group of entries (or of all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The group's key (`all` for the total).
    pub key: String,
    /// Entries (requests), whatever their outcome.
    pub requests: u64,
    /// Entries that ended in success (code 10000).
    pub successes: u64,
    /// Entries that ended in an error answer or no usable answer (not pending, cancelled or
    /// interrupted).
    pub failures: u64,
    /// Cancelled, interrupted or still pending entries.
    pub unfinished: u64,
    /// Successes by model (`req_key`; `-` for a body without one), what spend is counted from.
    pub successes_by_model: BTreeMap<String, u64>,
    /// Failed entries by final business code (`0` when the answer had none: a transport
    /// error, a relay's or a non-JSON answer).
    pub failures_by_code: BTreeMap<i64, u64>,
    /// Entries that needed more than one attempt.
    pub retried: u64,
    /// Attempts beyond the first, over all entries.
    pub retries: u64,
    /// Entries with a rate-limited answer (50429 or 50430) on any attempt.
    pub rate_limited: u64,
    /// Whole-exchange time measured by volcv (retries included).
    pub latency: Option<Spread>,
    /// The service's own `time_elapsed`, where it said.
    pub server_time: Option<Spread>,
    /// Distinct result images kept.
    pub images: u64,
    /// Their size on disk, in bytes (an image shared by entries counts once per group).
    pub image_bytes: u64,
}

/// What [`Store::stats`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Entries created at or after this time (Unix ms), if limited.
    pub since_ms: Option<i64>,
    /// Every entry counted.
    pub total: Figures,
    /// The groups asked for, in key order (empty without a grouping).
    pub groups: Vec<Figures>,
}

/// One entry as the figures need it.
struct Row {
    created_ms: i64,
    req_key: Option<String>,
    outcome: OutcomeKind,
    code: Option<i64>,
    duration_ms: Option<f64>,
    time_elapsed: Option<String>,
    attempt_results: Vec<String>,
    images: Vec<(String, u64)>,
}

impl Row {
    fn key(&self, by: GroupBy) -> String {
        match by {
            GroupBy::Model => self.req_key.clone().unwrap_or_else(|| "-".to_owned()),
            GroupBy::Day => utc_day(self.created_ms),
            GroupBy::Outcome => self.outcome.as_str().to_owned(),
        }
    }
}

/// `2026-12-03` for a Unix-ms time (UTC).
fn utc_day(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        })
        .unwrap_or_else(|_| "-".to_owned())
}

fn is_rate_limit(result: &str) -> bool {
    result.starts_with("50429") || result.starts_with("50430")
}

fn figures(key: String, rows: &[&Row]) -> Figures {
    let mut f = Figures {
        key,
        ..Figures::default()
    };
    let mut latency = Vec::new();
    let mut server = Vec::new();
    let mut seen = BTreeSet::new();
    for r in rows {
        f.requests += 1;
        match r.outcome {
            OutcomeKind::Success => {
                f.successes += 1;
                *f.successes_by_model
                    .entry(r.key(GroupBy::Model))
                    .or_default() += 1;
            }
            OutcomeKind::Pending | OutcomeKind::Cancelled | OutcomeKind::Interrupted => {
                f.unfinished += 1;
            }
            _ => {
                f.failures += 1;
                *f.failures_by_code.entry(r.code.unwrap_or(0)).or_default() += 1;
            }
        }
        let attempts = r.attempt_results.len() as u64;
        if attempts > 1 {
            f.retried += 1;
            f.retries += attempts - 1;
        }
        if r.attempt_results.iter().any(|a| is_rate_limit(a))
            || matches!(r.code, Some(50429 | 50430))
        {
            f.rate_limited += 1;
        }
        latency.extend(r.duration_ms);
        server.extend(
            r.time_elapsed
                .as_deref()
                .and_then(crate::api::response::parse_go_duration)
                .map(|d| d.as_secs_f64() * 1000.0),
        );
        for (sha, size) in &r.images {
            f.images += 1;
            if seen.insert(sha.clone()) {
                f.image_bytes += size;
            }
        }
    }
    f.latency = Spread::of(latency);
    f.server_time = Spread::of(server);
    f
}

impl Store {
    /// The figures of the entries created at or after `since_ms` (all with `None`), in total
    /// and grouped `by`.
    pub fn stats(&self, since_ms: Option<i64>, by: Option<GroupBy>) -> Result<Stats, StoreError> {
        let rows = self.stats_rows(since_ms).map_err(|e| self.sql(e))?;
        let all: Vec<&Row> = rows.iter().collect();
        let total = figures("all".to_owned(), &all);
        let groups = match by {
            None => Vec::new(),
            Some(by) => {
                let mut grouped: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
                for r in &rows {
                    grouped.entry(r.key(by)).or_default().push(r);
                }
                grouped.into_iter().map(|(k, rs)| figures(k, &rs)).collect()
            }
        };
        Ok(Stats {
            since_ms,
            total,
            groups,
        })
    }

    fn stats_rows(&self, since_ms: Option<i64>) -> rusqlite::Result<Vec<Row>> {
        let conn = self.conn();
        let since = since_ms.unwrap_or(i64::MIN);
        let mut images: BTreeMap<i64, Vec<(String, u64)>> = BTreeMap::new();
        {
            let mut st = conn.prepare(
                "SELECT i.entry_id, i.sha256, i.size FROM entry_images i \
                 JOIN entries e ON e.id = i.entry_id \
                 WHERE e.created_ms >= ?1 AND i.part IN ('response', 'result')",
            )?;
            let found = st.query_map([since], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in found {
                let (id, sha, size) = row?;
                let list = images.entry(id).or_default();
                // The same image saved as a file and kept inline is one image.
                if !list.iter().any(|(s, _)| *s == sha) {
                    list.push((sha, u64::try_from(size).unwrap_or(0)));
                }
            }
        }
        let mut st = conn.prepare(
            "SELECT id, created_ms, req_key, outcome, code, duration_ms, time_elapsed, attempts \
             FROM entries WHERE created_ms >= ?1 ORDER BY id",
        )?;
        let rows = st.query_map([since], |r| {
            let id: i64 = r.get(0)?;
            let outcome: String = r.get(3)?;
            let attempts: String = r.get(7)?;
            let attempt_results = serde_json::from_str::<serde_json::Value>(&attempts)
                .ok()
                .and_then(|v| {
                    v.as_array().map(|list| {
                        list.iter()
                            .map(|a| {
                                a.get("result")
                                    .and_then(serde_json::Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned()
                            })
                            .collect()
                    })
                })
                .unwrap_or_default();
            Ok(Row {
                created_ms: r.get(1)?,
                req_key: r.get(2)?,
                outcome: OutcomeKind::parse(&outcome).unwrap_or(OutcomeKind::Interrupted),
                code: r.get(4)?,
                duration_ms: r.get(5)?,
                time_elapsed: r.get(6)?,
                attempt_results,
                images: images.remove(&id).unwrap_or_default(),
            })
        })?;
        rows.collect()
    }
}
