//! Running a sweep: every cell through the shared [`Client`], paced by the [`TokenBucket`],
//! at most `concurrency` at once, each one recorded in the history, with events for a live
//! progress bar and contact sheet.
//!
//! Rate limiting: cells are sent with the client's own 50429/50430 retries turned off, so
//! every rate-limited answer comes back here. It slows the bucket down (see
//! [`super::bucket`]) and the cell is sent again when the bucket next allows, up to
//! [`Settings::rate_limit_retries`] times; only then does it count as failed. All attempts
//! of a cell end up in its one history entry. Other retries (50500/50501, a failed
//! connection) stay with the client.
//!
//! Cancelling: [`Controls::stop`] stops starting cells. Cells in flight run to the end and
//! are kept (their results are paid for); a cell waiting to retry after a rate-limit answer
//! is not sent again and is recorded as cancelled; cells never started get no history entry
//! and are reported as not run. [`Controls::abort`] also cuts off the cells in flight (the
//! CLI's second Ctrl-C); they are recorded as cancelled.

use super::bucket::{TokenBucket, eta};
use super::spec::Grid;
use crate::api::client::{Client, Exchange, TransportError};
use crate::api::codes::Retry;
use crate::api::response::{Outcome, ResultImage};
use crate::exchange::Pending;
use crate::exchange::fetch::{self, Obtained, Policy, Save};
use crate::store::{NewSweep, OutcomeKind, ResultFile, Store, SweepStatus};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Rate-limit retries per cell unless [`Settings::rate_limit_retries`] says otherwise. Higher
/// than a single send's: a rate-limit answer costs nothing and the bucket slows down each time.
pub const DEFAULT_RATE_LIMIT_RETRIES: u32 = 8;

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second (checked by [`super::bucket::check_qps`]).
    pub qps: f64,
    /// Most cells in flight at once (at least 1).
    pub concurrency: usize,
    /// Times a cell is sent again after 50429/50430 before it counts as failed.
    pub rate_limit_retries: u32,
    /// Where each cell's images are saved (names from the varied values, see
    /// [`super::cell_stem`]); `None` keeps them only in the history (and the events).
    pub out_dir: Option<PathBuf>,
    /// The profile name recorded with each entry.
    pub profile: String,
}

/// The two ways to stop a sweep.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// Start no more cells; cells in flight finish and are kept.
    pub stop: CancellationToken,
    /// Also cut off the cells in flight (recorded as cancelled). Implies `stop`.
    pub abort: CancellationToken,
}

/// How a cell ended (a sent cell's from its [`OutcomeKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Code 10000.
    Success,
    /// An error answer, no usable answer, or rate limited past the retries.
    Failed,
    /// Started, then stopped by the user.
    Cancelled,
    /// Never started (the sweep was stopped first).
    NotRun,
}

impl From<OutcomeKind> for CellStatus {
    /// How a cell that was sent ended, from its history outcome.
    fn from(kind: OutcomeKind) -> CellStatus {
        match kind {
            OutcomeKind::Success => CellStatus::Success,
            OutcomeKind::Cancelled => CellStatus::Cancelled,
            _ => CellStatus::Failed,
        }
    }
}

/// What happened to one cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    /// The cell's index in the grid.
    pub cell: usize,
    /// `seed=2 scale=3.5`.
    pub label: String,
    /// The varied values as JSON.
    pub values: Value,
    pub status: CellStatus,
    /// The history outcome (`success`, `service_error`, ...); `None` when not run.
    pub outcome: Option<OutcomeKind>,
    /// The business or gateway code of the last answer.
    pub code: Option<i64>,
    /// One line about the failure (or the success message).
    pub message: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// The history entry, when recorded.
    pub history_id: Option<i64>,
    /// Result images saved in [`Settings::out_dir`].
    pub images: Vec<PathBuf>,
    /// Result images obtained (saved or not).
    pub image_count: usize,
    /// Why a result image was lost or not saved.
    pub image_errors: Vec<String>,
    /// Requests sent for this cell (rate-limited ones and client retries included).
    pub attempts: usize,
    /// Of those, answered 50429/50430.
    pub rate_limited: u32,
    /// From the first attempt to the last byte, retries included.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

impl CellReport {
    fn not_run(grid: &Grid, cell: usize) -> CellReport {
        CellReport {
            cell,
            label: grid.label(cell),
            values: grid.values_json(cell),
            status: CellStatus::NotRun,
            outcome: None,
            code: None,
            message: Some("not run: the sweep was stopped first".into()),
            http_status: None,
            request_id: None,
            history_id: None,
            images: Vec::new(),
            image_count: 0,
            image_errors: Vec::new(),
            attempts: 0,
            rate_limited: 0,
            duration: Duration::ZERO,
        }
    }

    /// A short mark for a failed tile: the code, or the kind of failure.
    pub fn failure_mark(&self) -> String {
        match (self.status, self.code, self.outcome) {
            (CellStatus::NotRun, _, _) => "not run".into(),
            (CellStatus::Cancelled, _, _) => "cancelled".into(),
            (_, Some(c), _) => c.to_string(),
            (_, None, Some(OutcomeKind::NonJson)) if self.http_status.is_some() => {
                format!("HTTP {}", self.http_status.unwrap_or_default())
            }
            (_, None, Some(k)) => k.as_str().replace('_', " "),
            _ => "failed".into(),
        }
    }
}

/// A snapshot of a sweep's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub total: usize,
    /// Cells finished, whatever their status (not counting cells never started).
    pub done: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Cells sent and not finished.
    pub in_flight: usize,
    /// Cells not finished (in flight included).
    pub remaining: usize,
    /// Rate-limit answers so far (retried or not).
    pub rate_limited: u32,
    /// The bucket's current rate.
    pub qps: f64,
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// Estimated time left, once a cell has finished.
    #[serde(serialize_with = "ser_opt_ms")]
    pub eta: Option<Duration>,
}

/// What a running sweep reports, in order, on the events channel.
#[derive(Debug, Clone)]
pub enum SweepEvent {
    /// The cell's first request is about to go out (its history entry is written).
    CellStarted {
        cell: usize,
        history_id: Option<i64>,
    },
    /// The cell was answered 50429/50430 and waits for the slowed bucket.
    CellRateLimited { cell: usize, code: i64, qps: f64 },
    /// The cell ended; `images` are the result images' bytes, in order (for thumbnails).
    CellFinished {
        report: CellReport,
        images: Vec<Arc<Vec<u8>>>,
    },
    /// After every start and finish.
    Progress(Progress),
    /// Something went wrong that does not stop the sweep (the history could not be written).
    Warning(String),
    /// The sweep is over; the same report [`run`] returns.
    Finished(Box<SweepReport>),
}

/// The whole sweep's result.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub sweep_id: String,
    pub grid: Grid,
    /// Every cell, in grid order (not-run cells included).
    pub cells: Vec<CellReport>,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub not_run: usize,
    /// Whether the sweep was stopped before every cell was tried.
    pub stopped: bool,
    /// Whether the sweep was recorded in the history.
    pub recorded: bool,
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
    /// The requested rate and the rate at the end.
    pub qps: f64,
    pub final_qps: f64,
    pub concurrency: usize,
    /// Rate-limit answers, retried or not.
    pub rate_limited: u32,
    /// History problems and the like.
    pub warnings: Vec<String>,
}

/// What a sweep sends: the base request and the grid over it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    /// The validated base request; each cell is this with its values set.
    pub base: Value,
    pub grid: Grid,
}

/// Everything the cell tasks share.
struct Shared {
    plan: Plan,
    client: Client,
    store: Option<Arc<Store>>,
    settings: Settings,
    events: UnboundedSender<SweepEvent>,
    controls: Controls,
    bucket: Mutex<TokenBucket>,
    origin: Instant,
    counters: Mutex<Counters>,
    recorded: bool,
}

#[derive(Debug, Default)]
struct Counters {
    succeeded: usize,
    failed: usize,
    cancelled: usize,
    in_flight: usize,
    rate_limited: u32,
    busy_time: Duration,
    warnings: Vec<String>,
}

impl Shared {
    fn emit(&self, e: SweepEvent) {
        // A receiver that went away (a closed TUI pane) does not stop the sweep.
        let _ = self.events.send(e);
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn warn(&self, message: String) {
        self.counters().warnings.push(message.clone());
        self.emit(SweepEvent::Warning(message));
    }

    fn progress(&self) -> Progress {
        let total = self.plan.grid.len();
        let qps = self.bucket().rate();
        let c = self.counters();
        let done = c.succeeded + c.failed + c.cancelled;
        let remaining = total.saturating_sub(done);
        let mean = (done > 0).then(|| c.busy_time / u32::try_from(done).unwrap_or(u32::MAX));
        Progress {
            total,
            done,
            succeeded: c.succeeded,
            failed: c.failed,
            cancelled: c.cancelled,
            in_flight: c.in_flight,
            remaining,
            rate_limited: c.rate_limited,
            qps,
            elapsed: self.now(),
            eta: eta(remaining, c.in_flight, qps, self.settings.concurrency, mean),
        }
    }

    fn emit_progress(&self) {
        let p = self.progress();
        self.emit(SweepEvent::Progress(p));
    }

    /// Waits for the next send time; `false` when `stop` (or `abort`) came first.
    async fn wait_turn(&self, ticket_at: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.controls.stop.cancelled() => false,
            () = self.controls.abort.cancelled() => false,
            // Checked: a send time past what `Instant` holds waits for stop, never panics.
            () = async {
                match self.origin.checked_add(ticket_at) {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => true,
        }
    }
}

/// A new sweep id: `sw-YYYYMMDD-HHMMSS-xxxx` (UTC time and 4 random hex digits).
pub fn new_sweep_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    format!("sw-{stamp}-{:04x}", rand::random::<u16>())
}

/// Runs a sweep to the end (or until stopped) and returns its report, also sent as
/// [`SweepEvent::Finished`]. The sweep and each started cell are recorded in `store` when
/// given (a history failure is a warning, never a reason to stop). `plan.base` must already be
/// validated (see [`super::prepare`]); `settings.qps` must be valid.
pub async fn run(
    plan: Plan,
    client: Client,
    store: Option<Arc<Store>>,
    settings: Settings,
    events: UnboundedSender<SweepEvent>,
    controls: Controls,
) -> SweepReport {
    let total = plan.grid.len();
    let concurrency = settings.concurrency.max(1);
    let bucket = TokenBucket::clamped(settings.qps);
    // The sweep handles 50429/50430 itself (through the bucket); other retries stay.
    let mut client = client;
    client.options.max_retries = 0;
    let mut warnings = Vec::new();
    let recorded = match &store {
        Some(s) => {
            let first = plan.grid.apply(&plan.base, 0);
            let prompt_varied = plan.grid.axes.iter().any(|a| a.field == "prompt");
            let grid = serde_json::to_value(&plan.grid).unwrap_or(Value::Null);
            let s = s.clone();
            let id = plan.id.clone();
            let profile = settings.profile.clone();
            let qps = settings.qps;
            let r = tokio::task::spawn_blocking(move || {
                s.begin_sweep(&NewSweep {
                    id: &id,
                    profile: &profile,
                    req_key: first.get("req_key").and_then(Value::as_str),
                    prompt: first
                        .get("prompt")
                        .and_then(Value::as_str)
                        .filter(|_| !prompt_varied),
                    grid: &grid,
                    cells: total,
                    qps,
                    concurrency,
                })
            })
            .await;
            match r {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    warnings.push(format!("the sweep is not recorded in the history: {e}"));
                    false
                }
                Err(e) => {
                    warnings.push(format!("the sweep is not recorded in the history: {e}"));
                    false
                }
            }
        }
        None => false,
    };
    let shared = Arc::new(Shared {
        plan,
        client,
        store: if recorded { store } else { None },
        settings: Settings {
            concurrency,
            ..settings
        },
        events,
        controls,
        bucket: Mutex::new(bucket),
        origin: Instant::now(),
        counters: Mutex::new(Counters::default()),
        recorded,
    });
    for w in warnings {
        shared.warn(w);
    }
    shared.emit_progress();

    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<CellReport> = JoinSet::new();
    let mut task_cells = std::collections::HashMap::new();
    let mut reports: Vec<Option<CellReport>> = vec![None; total];
    let mut next = 0;
    while next < total {
        // Finished cells are collected while dispatching, so their memory goes early.
        while let Some(done) = tasks.try_join_next_with_id() {
            collect(&shared, done, &mut task_cells, &mut reports);
        }
        let permit = tokio::select! {
            biased;
            () = shared.controls.stop.cancelled() => break,
            () = shared.controls.abort.cancelled() => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let ticket = {
            let now = shared.now();
            shared.bucket().reserve(now)
        };
        if !shared.wait_turn(ticket.at).await {
            break;
        }
        let cell = next;
        next += 1;
        shared.counters().in_flight += 1;
        let s = shared.clone();
        let handle = tasks.spawn(async move {
            let report = run_cell(&s, cell, ticket).await;
            drop(permit);
            report
        });
        task_cells.insert(handle.id(), cell);
    }
    while let Some(done) = tasks.join_next_with_id().await {
        collect(&shared, done, &mut task_cells, &mut reports);
    }
    let stopped = reports.iter().any(Option::is_none)
        || reports
            .iter()
            .flatten()
            .any(|r| r.status == CellStatus::Cancelled);
    let cells: Vec<CellReport> = reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| CellReport::not_run(&shared.plan.grid, i)))
        .collect();
    if let Some(store) = &shared.store {
        let store = store.clone();
        let id = shared.plan.id.clone();
        let status = if stopped {
            SweepStatus::Cancelled
        } else {
            SweepStatus::Done
        };
        match tokio::task::spawn_blocking(move || store.finish_sweep(&id, status)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => shared.warn(format!("the sweep's end is not recorded: {e}")),
            Err(e) => shared.warn(format!("the sweep's end is not recorded: {e}")),
        }
    }
    shared.emit_progress();
    let count = |s: CellStatus| cells.iter().filter(|c| c.status == s).count();
    let (final_qps, rate_limited, warnings) = {
        let q = shared.bucket().rate();
        let c = shared.counters();
        (q, c.rate_limited, c.warnings.clone())
    };
    let report = SweepReport {
        sweep_id: shared.plan.id.clone(),
        grid: shared.plan.grid.clone(),
        succeeded: count(CellStatus::Success),
        failed: count(CellStatus::Failed),
        cancelled: count(CellStatus::Cancelled),
        not_run: count(CellStatus::NotRun),
        cells,
        stopped,
        recorded: shared.recorded,
        duration: shared.now(),
        qps: shared.settings.qps,
        final_qps,
        concurrency,
        rate_limited,
        warnings,
    };
    shared.emit(SweepEvent::Finished(Box::new(report.clone())));
    report
}

fn collect(
    shared: &Shared,
    done: Result<(tokio::task::Id, CellReport), tokio::task::JoinError>,
    task_cells: &mut std::collections::HashMap<tokio::task::Id, usize>,
    reports: &mut [Option<CellReport>],
) {
    match done {
        Ok((id, report)) => {
            task_cells.remove(&id);
            let cell = report.cell;
            if let Some(slot) = reports.get_mut(cell) {
                *slot = Some(report);
            }
        }
        Err(e) => {
            // A cell task that panicked: reported as failed, never silently dropped.
            let cell = task_cells.remove(&e.id());
            if let Some(cell) = cell
                && let Some(slot) = reports.get_mut(cell)
            {
                let mut r = CellReport::not_run(&shared.plan.grid, cell);
                r.status = CellStatus::Failed;
                r.message = Some(format!("internal error: {e}"));
                {
                    let mut c = shared.counters();
                    c.failed += 1;
                    c.in_flight = c.in_flight.saturating_sub(1);
                }
                shared.emit_progress();
                *slot = Some(r);
            }
        }
    }
}

/// Whether an answer is a rate-limit answer (50429, 50430, or a gateway's equivalent).
fn rate_limit_code(ex: &Exchange) -> Option<i64> {
    let o = ex.outcome()?;
    matches!(o.retry(), Retry::Backoff | Retry::AfterInflight).then(|| o.code().unwrap_or(0))
}

/// Appends `next`'s attempts to `merged`'s, keeping the first start; the result carries
/// `next`'s request and answer.
fn merge(first: Option<Exchange>, mut next: Exchange) -> Exchange {
    let Some(first) = first else {
        return next;
    };
    let offset = (next.started_at - first.started_at)
        .try_into()
        .unwrap_or(Duration::ZERO);
    let mut attempts = first.attempts;
    for mut a in next.attempts.drain(..) {
        a.at += offset;
        attempts.push(a);
    }
    next.attempts = attempts;
    next.duration = offset + next.duration;
    next.started_at = first.started_at;
    next
}

async fn run_cell(s: &Shared, cell: usize, first_ticket: super::bucket::Ticket) -> CellReport {
    let grid = &s.plan.grid;
    let values = grid.values_json(cell);
    let body = grid.apply(&s.plan.base, cell);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    drop(body);
    let action = s.client.target.action.clone();
    let history_id = match &s.store {
        Some(store) => {
            let store = store.clone();
            let pending = Pending::new(&s.client, &s.settings.profile, &action, bytes.clone());
            let entry_bytes = bytes.clone();
            let sweep_id = s.plan.id.clone();
            let values = values.clone();
            let r = tokio::task::spawn_blocking(move || {
                store.begin_cell(&pending.entry(&entry_bytes), &sweep_id, cell, &values)
            })
            .await;
            match r {
                Ok(Ok(id)) => Some(id),
                Ok(Err(e)) => {
                    s.warn(format!(
                        "cell {}: not recorded in the history: {e}",
                        cell + 1
                    ));
                    None
                }
                Err(e) => {
                    s.warn(format!(
                        "cell {}: not recorded in the history: {e}",
                        cell + 1
                    ));
                    None
                }
            }
        }
        None => None,
    };
    s.emit(SweepEvent::CellStarted { cell, history_id });
    s.emit_progress();

    let mut ticket = first_ticket;
    let mut merged: Option<Exchange> = None;
    let mut rate_limited = 0u32;
    let exchange = loop {
        let ex = s
            .client
            .call_bytes(&action, bytes.clone(), &s.controls.abort)
            .await;
        let code = rate_limit_code(&ex);
        let ex = merge(merged.take(), ex);
        let Some(code) = code else {
            if ex.result.is_ok() {
                s.bucket().succeeded();
            }
            break ex;
        };
        rate_limited += 1;
        s.counters().rate_limited += 1;
        let now = s.now();
        let qps = {
            let mut b = s.bucket();
            b.rate_limited(&ticket, now);
            b.rate()
        };
        if rate_limited > s.settings.rate_limit_retries {
            break ex;
        }
        s.emit(SweepEvent::CellRateLimited { cell, code, qps });
        ticket = {
            let now = s.now();
            s.bucket().reserve(now)
        };
        if !s.wait_turn(ticket.at).await {
            // Stopped while waiting to retry: the rate-limited attempts cost nothing and
            // there is no result; the entry says cancelled, with every attempt.
            let mut ex = ex;
            ex.result = Err(TransportError::Cancelled);
            ex.http_status = None;
            ex.response_headers.clear();
            ex.response_bytes.clear();
            break ex;
        }
        merged = Some(ex);
    };

    let mut report = CellReport {
        cell,
        label: grid.label(cell),
        values,
        status: CellStatus::from(OutcomeKind::of(&exchange.result)),
        outcome: Some(OutcomeKind::of(&exchange.result)),
        code: exchange.outcome().and_then(Outcome::code),
        message: Some(match &exchange.result {
            Ok(o) => o.summary(),
            Err(e) => e.to_string(),
        }),
        http_status: exchange.http_status,
        request_id: exchange
            .outcome()
            .and_then(Outcome::request_id)
            .map(str::to_owned),
        history_id,
        images: Vec::new(),
        image_count: 0,
        image_errors: Vec::new(),
        attempts: exchange.attempts.len(),
        rate_limited,
        duration: exchange.duration,
    };
    let fetched = match exchange.outcome() {
        Some(Outcome::Success(ok)) => fetch_images(s, &ok.images, cell, &mut report).await,
        _ => Vec::new(),
    };
    if let (Some(store), Some(id)) = (&s.store, history_id) {
        let store = store.clone();
        let ex = exchange.clone();
        let files = fetched.clone();
        let r = tokio::task::spawn_blocking(move || {
            let results: Vec<ResultFile<'_>> = files.iter().map(Obtained::result_file).collect();
            store.complete(id, &ex, &results)
        })
        .await;
        let failed = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            s.warn(format!(
                "cell {} (history entry {id}): the answer is not recorded: {e}",
                cell + 1
            ));
        }
    }
    {
        let mut c = s.counters();
        c.in_flight = c.in_flight.saturating_sub(1);
        c.busy_time += exchange.duration;
        match report.status {
            CellStatus::Success => c.succeeded += 1,
            CellStatus::Cancelled => c.cancelled += 1,
            CellStatus::Failed | CellStatus::NotRun => c.failed += 1,
        }
    }
    s.emit(SweepEvent::CellFinished {
        report: report.clone(),
        images: fetched.into_iter().map(|f| f.bytes).collect(),
    });
    s.emit_progress();
    report
}

/// Decodes or downloads (URLs expire) every result image, all at once within the answer's
/// download deadline and byte cap (see [`fetch`]), saving each to the out dir; the abort
/// token cuts off a download in progress.
async fn fetch_images(
    s: &Shared,
    list: &[ResultImage],
    cell: usize,
    report: &mut CellReport,
) -> Vec<Obtained> {
    let stem = |i: usize| super::cell_stem(&s.plan.grid, cell, i);
    let policy = Policy {
        cancel: Some(&s.controls.abort),
        save: s
            .settings
            .out_dir
            .as_deref()
            .map(|dir| Save { dir, stem: &stem }),
        ..Policy::default()
    };
    let mut out = Vec::new();
    for got in fetch::fetch_all(&s.client, list, policy).await {
        match got.image {
            Ok(o) => {
                report.image_count += 1;
                report.images.extend(o.path.clone());
                out.push(o);
            }
            Err(e) => report.image_errors.push(e.numbered(got.index)),
        }
        report.image_errors.extend(got.unsaved);
    }
    out
}

/// Where a report's first image can be read for a contact sheet: its saved file.
pub fn first_saved_image(report: &CellReport) -> Option<&Path> {
    report.images.first().map(PathBuf::as_path)
}
