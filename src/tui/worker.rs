//! The worker: runs commands on tokio tasks and reports back as messages. It is the only part
//! of the UI that awaits the network or the disk; heavy formatting (pretty JSON of a 10 MB
//! body, base64 chips) happens here too, on the blocking pool, never on the UI task.

use crate::api::client::{Client, Exchange};
use crate::api::response::{Outcome, ResultImage};
use crate::exchange::fetch::{DOWNLOAD_CAP, Policy, fetch_each};
use crate::images;
pub use crate::images::reference::Refusal;
use crate::store::{OutcomeKind, Store};
use crate::tui::doc::{Base64Facts, Doc, DocLine, Tok, describe_base64};
use crate::tui::form::{LoadedImage, human_size};
use crate::tui::msg::{Cmd, HistoryCmd, ImageFacts, ImageSource, Msg, Opened};
use crate::tui::preview::{Encoded, ImageKey, PREVIEW_MAX_SIDE, Setup};
use crate::tui::view::{ImageItem, ImageState, ResponseView, Verdict, fmt_duration};
use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Facts of a string that is not base64 at all.
const UNKNOWN: Base64Facts = Base64Facts {
    format: "?",
    dims: None,
    bytes: 0,
};

/// Result images fetched at the same time.
pub const DOWNLOADS_AT_ONCE: usize = 4;
/// Most path completions offered at once.
const MAX_COMPLETIONS: usize = 50;

/// How often the history store's change counter is read for rows written elsewhere when the
/// data dir cannot be watched (no inotify); with it, the counter is read only after a write.
pub const HISTORY_POLL: Duration = Duration::from_secs(1);

/// The history store the worker records into, opened on first use (on the blocking pool).
#[derive(Debug, Clone)]
pub struct HistoryStore {
    data_dir: PathBuf,
    /// The profile name recorded with each request.
    profile: String,
    /// The demo store: opening it marks the tasks of ended demo backends lost.
    demo: bool,
    cell: Arc<tokio::sync::OnceCell<Result<Arc<Store>, String>>>,
}

impl HistoryStore {
    /// The store of `data_dir`, recording requests under `profile`.
    pub fn new(data_dir: PathBuf, profile: &str) -> HistoryStore {
        HistoryStore {
            data_dir,
            profile: profile.to_owned(),
            demo: false,
            cell: Arc::default(),
        }
    }

    /// The open store, or why it cannot be used (a corrupt or newer database is reported,
    /// never replaced).
    pub async fn get(&self) -> Result<Arc<Store>, String> {
        let dir = self.data_dir.clone();
        let demo = self.demo;
        self.cell
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    let store = if demo {
                        let (store, lost) = Store::open_demo(&dir).map_err(|e| e.to_string())?;
                        for t in &lost {
                            tracing::info!(id = t.id, "history: {}", t.message);
                        }
                        store
                    } else {
                        Store::open(&dir).map_err(|e| e.to_string())?
                    };
                    match store.recover() {
                        Ok(ids) if !ids.is_empty() => {
                            tracing::info!(
                                ?ids,
                                "history: entries of ended processes marked interrupted"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("history: recovery failed: {e}"),
                    }
                    Ok(Arc::new(store))
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            })
            .await
            .clone()
    }
}

/// Runs a closure on the blocking pool with the store.
async fn with_store<T: Send + 'static>(
    store: &HistoryStore,
    f: impl FnOnce(&Store) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let s = store.get().await?;
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// How long a change of the form waits before the draft is written (changes meanwhile are
/// written together, once).
pub const DRAFT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Writes the draft file: the newest text handed over, at most once per [`DRAFT_DEBOUNCE`].
#[derive(Debug)]
struct DraftWriter {
    path: PathBuf,
    /// The newest text not written yet, with its number.
    pending: Mutex<Option<(u64, String)>>,
    next: std::sync::atomic::AtomicU64,
    /// A write is due (a task is waiting for the debounce).
    scheduled: std::sync::atomic::AtomicBool,
    /// The number of the text on disk (an older one is never written over a newer one).
    written: Mutex<u64>,
}

impl DraftWriter {
    fn save(self: &Arc<Self>, text: String) {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.next.fetch_add(1, SeqCst) + 1;
        if let Ok(mut p) = self.pending.lock() {
            *p = Some((n, text));
        }
        if !self.scheduled.swap(true, SeqCst) {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(DRAFT_DEBOUNCE).await;
                me.scheduled.store(false, SeqCst);
                me.write_pending().await;
            });
        }
    }

    async fn write_pending(self: &Arc<Self>) {
        let Some((n, text)) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        let me = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let Ok(mut written) = me.written.lock() else {
                return Ok(());
            };
            if n <= *written {
                return Ok(());
            }
            crate::tui::draft::write(&me.path, &text)?;
            *written = n;
            Ok::<(), std::io::Error>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("draft {} not written: {e}", self.path.display()),
            Err(e) => tracing::warn!("draft not written: {e}"),
        }
    }
}

/// The message of a panic's payload, with every known secret scrubbed.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    crate::api::secret::scrub(&text)
}

/// Watches a spawned worker task: if it panics (a bug), `report` turns the panic's message
/// into the [`Msg`] that ends what the task was doing, so nothing stays "in flight" and the UI
/// stays usable; the panic is logged. A task that ends normally sends its own messages.
fn report_panic<T: Send + 'static>(
    tx: &UnboundedSender<Msg>,
    what: &'static str,
    task: tokio::task::JoinHandle<T>,
    report: impl FnOnce(String) -> Msg + Send + 'static,
) {
    let tx = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = task.await
            && e.is_panic()
        {
            let text = panic_text(e.into_panic());
            tracing::error!("worker task {what} panicked: {text}");
            let _ = tx.send(report(format!(
                "{what} failed: internal error (a bug, please report it): {text}"
            )));
        }
    });
}

/// [`report_panic`] for tasks whose failure is only worth a line in the status bar.
fn report_panic_in_status<T: Send + 'static>(
    tx: &UnboundedSender<Msg>,
    what: &'static str,
    task: tokio::task::JoinHandle<T>,
) {
    report_panic(tx, what, task, |text| Msg::Saved { text, error: true });
}

/// Counts the sends still running, so quitting can wait for them to be recorded.
#[derive(Debug, Default)]
struct Running {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Runs commands; clone-free handle owned by the event loop.
#[derive(Debug)]
pub struct Worker {
    tx: UnboundedSender<Msg>,
    client: Client,
    images_dir: PathBuf,
    tokens: Arc<Mutex<HashMap<u64, CancellationToken>>>,
    /// What previews are encoded with; replaced when the start-up query decides.
    previews: Mutex<Setup>,
    download_cap: usize,
    history: Option<HistoryStore>,
    running: Arc<Running>,
    /// Stops polling resumed async tasks (on quit; they stay pending).
    resume: CancellationToken,
    /// Running sweeps' stop controls, by this run's sweep number.
    sweeps: Arc<Mutex<HashMap<u64, crate::sweep::runner::Controls>>>,
    /// A sweep's rate and cap on requests in flight (the profile's `qps`, `concurrency`).
    sweep_limits: (f64, usize),
    /// The presets file and each model's defaults as configured (what presets are relative to).
    presets: Option<Arc<(crate::presets::PresetStore, HashMap<&'static str, Value>)>>,
    /// Where the form is kept across restarts.
    draft: Option<Arc<DraftWriter>>,
}

impl Worker {
    /// A worker sending results to `tx`, saving result images under `images_dir`.
    pub fn new(tx: UnboundedSender<Msg>, client: Client, images_dir: PathBuf) -> Worker {
        Worker {
            tx,
            client,
            images_dir,
            tokens: Arc::default(),
            previews: Mutex::new(Setup::none()),
            download_cap: DOWNLOAD_CAP,
            history: None,
            running: Arc::default(),
            resume: CancellationToken::new(),
            presets: None,
            draft: None,
            sweeps: Arc::default(),
            sweep_limits: (
                crate::config::DEFAULT_SWEEP_QPS,
                crate::config::DEFAULT_SWEEP_CONCURRENCY,
            ),
        }
    }

    /// Records every request in the history store of `data_dir` and serves the History pane
    /// from it; watches the store for rows written by other volcv processes. Call inside a
    /// tokio runtime. Result images then live in the store's image dir (named by SHA-256).
    pub fn with_history(self, data_dir: PathBuf, profile: &str) -> Worker {
        self.attach_history(HistoryStore::new(data_dir, profile))
    }

    /// As [`Worker::with_history`], for the demo store (`--demo`): async tasks that ended with
    /// the demo backend of a previous run are marked lost when it is opened.
    pub fn with_demo_history(self, data_dir: PathBuf, profile: &str) -> Worker {
        let mut store = HistoryStore::new(data_dir, profile);
        store.demo = true;
        self.attach_history(store)
    }

    fn attach_history(mut self, store: HistoryStore) -> Worker {
        tokio::spawn(watch_history(store.clone(), self.tx.clone()));
        tokio::spawn(resume_tasks(
            store.clone(),
            self.client.clone(),
            self.resume.clone(),
            self.tx.clone(),
        ));
        self.history = Some(store);
        self
    }

    /// Keeps the form in the draft file at `path` ([`Cmd::SaveDraft`]; without this, drafts
    /// are not written).
    pub fn with_draft(mut self, path: PathBuf) -> Worker {
        self.draft = Some(Arc::new(DraftWriter {
            path,
            pending: Mutex::new(None),
            next: std::sync::atomic::AtomicU64::new(0),
            scheduled: std::sync::atomic::AtomicBool::new(false),
            written: Mutex::new(0),
        }));
        self
    }

    /// Writes the newest draft now, if one waits (at quit: nothing is lost to the debounce).
    pub async fn flush_draft(&self) {
        if let Some(d) = &self.draft {
            d.write_pending().await;
        }
    }

    /// Runs sweeps at `qps` with at most `concurrency` requests in flight.
    pub fn with_sweep_limits(mut self, qps: f64, concurrency: usize) -> Worker {
        self.sweep_limits = (qps, concurrency.max(1));
        self
    }

    /// Serves the presets key from `store`; `defaults` are each model's configured defaults
    /// (`config::Loaded::default_body`), which presets are saved and applied against.
    pub fn with_presets(
        mut self,
        store: crate::presets::PresetStore,
        defaults: HashMap<&'static str, Value>,
    ) -> Worker {
        self.presets = Some(Arc::new((store, defaults)));
        self
    }

    /// Decodes images for previews and encodes them with `setup`'s protocol (without this,
    /// previews are off and nothing is decoded).
    pub fn with_previews(self, setup: Setup) -> Worker {
        self.use_previews(setup);
        self
    }

    fn use_previews(&self, setup: Setup) {
        if let Ok(mut p) = self.previews.lock() {
            *p = setup;
        }
    }

    fn picker(&self) -> Option<ratatui_image::picker::Picker> {
        self.previews.lock().ok().and_then(|p| p.picker.clone())
    }

    /// Caps result downloads at `cap` bytes instead of [`DOWNLOAD_CAP`].
    pub fn with_download_cap(mut self, cap: usize) -> Worker {
        self.download_cap = cap;
        self
    }

    fn decoding(&self) -> bool {
        self.previews.lock().is_ok_and(|p| p.picker.is_some())
    }

    /// Starts a request (sync or async) on its own task, cancellable by its id.
    fn start_send(&self, id: u64, body: Value, asynchronous: bool) {
        let token = CancellationToken::new();
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(id, token.clone());
        }
        let tokens = Arc::clone(&self.tokens);
        let client = self.client.clone();
        let tx = self.tx.clone();
        let dir = self.images_dir.clone();
        let opts = SendOpts {
            decode: self.decoding(),
            cap: self.download_cap,
        };
        let history = self.history.clone();
        let running = Arc::clone(&self.running);
        running
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let report_tx = tx.clone();
        let task = tokio::spawn(async move {
            if asynchronous {
                send_async(id, body, client, token, tx, dir, opts, history).await;
            } else {
                send(id, body, client, token, tx, dir, opts, history).await;
            }
        });
        // The bookkeeping runs however the send ended, a panic included; a panic also ends
        // the request in the UI (else it would show in flight for ever).
        tokio::spawn(async move {
            if let Err(e) = task.await
                && e.is_panic()
            {
                let text = panic_text(e.into_panic());
                tracing::error!("worker task send panicked: {text}");
                finish_with(
                    &report_tx,
                    id,
                    Verdict::Transport,
                    &format!("internal error (a bug, please report it): {text}"),
                );
            }
            if let Ok(mut t) = tokens.lock() {
                t.remove(&id);
            }
            if running
                .count
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                == 1
            {
                running.idle.notify_waiters();
            }
        });
    }

    /// Starts a command and returns at once.
    pub fn run(&self, cmd: Cmd) {
        match cmd {
            Cmd::Send { id, body } => self.start_send(id, body, false),
            Cmd::SendAsync { id, body } => self.start_send(id, body, true),
            Cmd::Curl(body) => {
                let client = self.client.clone();
                let tx = self.tx.clone();
                let watch = tx.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let result = serde_json::to_vec(&body)
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| {
                            let action = client.target.action.clone();
                            let prepared = client.prepare(&action, bytes);
                            crate::api::curl::to_curl(&prepared, &client.target.auth, false)
                        });
                    let _ = tx.send(Msg::CurlReady(result));
                });
                report_panic(&watch, "curl export", task, |e| Msg::CurlReady(Err(e)));
            }
            Cmd::SaveDraft(text) => {
                if let Some(d) = &self.draft {
                    d.save(text);
                }
            }
            Cmd::WriteText { text, path } => {
                let tx = self.tx.clone();
                let watch = tx.clone();
                let task = tokio::spawn(async move {
                    let source = ImageSource::Base64(Arc::from(
                        base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                    ));
                    let msg = match save_copy(source, path).await {
                        Ok(p) => Msg::Saved {
                            text: format!(
                                "curl command written to {} (too long to copy; run it with sh)",
                                p.display()
                            ),
                            error: false,
                        },
                        Err(e) => Msg::Saved {
                            text: format!("curl command not written: {e}"),
                            error: true,
                        },
                    };
                    let _ = tx.send(msg);
                });
                report_panic_in_status(&watch, "writing the curl command", task);
            }
            Cmd::Sweep { n, plan } => {
                let controls = crate::sweep::runner::Controls::default();
                if let Ok(mut s) = self.sweeps.lock() {
                    s.insert(n, controls.clone());
                }
                let settings = crate::sweep::runner::Settings {
                    qps: self.sweep_limits.0,
                    concurrency: self.sweep_limits.1,
                    rate_limit_retries: crate::sweep::runner::DEFAULT_RATE_LIMIT_RETRIES,
                    out_dir: None,
                    profile: self
                        .history
                        .as_ref()
                        .map_or_else(|| "default".to_owned(), |h| h.profile.clone()),
                };
                let job = SweepJob {
                    n,
                    plan: plan.0.as_ref().clone(),
                    client: self.client.clone(),
                    history: self.history.clone(),
                    tx: self.tx.clone(),
                    decode: self.decoding(),
                    sweeps: Arc::clone(&self.sweeps),
                };
                let sweeps = Arc::clone(&self.sweeps);
                let task = tokio::spawn(run_sweep(job, settings, controls));
                report_panic(&self.tx, "the sweep", task, move |text| {
                    if let Ok(mut s) = sweeps.lock() {
                        s.remove(&n);
                    }
                    Msg::Sweep {
                        n,
                        event: crate::tui::msg::SweepMsg::Done {
                            stopped: true,
                            text,
                        },
                    }
                });
            }
            Cmd::PrepareSweep { base, args } => {
                let tx = self.tx.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let result = crate::sweep::prepare(base, &args).map(Box::new);
                    let _ = tx.send(Msg::SweepPrepared(result));
                });
                report_panic(&self.tx, "preparing the sweep", task, |e| {
                    Msg::SweepPrepared(Err(vec![e]))
                });
            }
            Cmd::StopSweep { n, abort } => {
                if let Ok(s) = self.sweeps.lock()
                    && let Some(c) = s.get(&n)
                {
                    c.stop.cancel();
                    if abort {
                        c.abort.cancel();
                    }
                }
            }
            Cmd::OpenSweep { n, id } => {
                let tx = self.tx.clone();
                let Some(store) = self.history.clone() else {
                    let _ = tx.send(Msg::Sweep {
                        n,
                        event: crate::tui::msg::SweepMsg::Opened(Err(
                            "no history store to read the sweep from".into(),
                        )),
                    });
                    return;
                };
                let task = tokio::spawn(async move {
                    let result = with_store(&store, move |s| {
                        let rec = s
                            .sweep(&id)
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| format!("sweep {id} is not in the history"))?;
                        let grid = crate::sweep::grid_of(&rec.grid)?;
                        let cells = s.sweep_cells(&id).map_err(|e| e.to_string())?;
                        Ok(crate::tui::msg::OpenedSweep { id, grid, cells })
                    })
                    .await;
                    let _ = tx.send(Msg::Sweep {
                        n,
                        event: crate::tui::msg::SweepMsg::Opened(result),
                    });
                });
                report_panic_in_status(&self.tx, "opening the sweep", task);
            }
            Cmd::Presets(p) => {
                let Some(presets) = self.presets.clone() else {
                    let _ = self.tx.send(Msg::PresetsChanged {
                        text: "presets are not available here".to_owned(),
                        error: true,
                    });
                    return;
                };
                let tx = self.tx.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let _ = tx.send(preset_cmd(&presets.0, &presets.1, p));
                });
                report_panic(&self.tx, "the presets command", task, |text| {
                    Msg::PresetsChanged { text, error: true }
                });
            }
            Cmd::History(h) => {
                if let Some(store) = self.history.clone() {
                    let tx = self.tx.clone();
                    let task = tokio::spawn(history_cmd(store, h, tx));
                    report_panic_in_status(&self.tx, "the history command", task);
                }
            }
            Cmd::Cancel(id) => {
                if let Ok(t) = self.tokens.lock()
                    && let Some(token) = t.get(&id)
                {
                    token.cancel();
                }
            }
            Cmd::LoadReference(input) => {
                let tx = self.tx.clone();
                let decode = self.decoding();
                let task = tokio::spawn(async move {
                    let result = match load_reference(&input).await {
                        Err(Refusal::OverLimits(problems)) => {
                            let _ = tx.send(Msg::ReferenceOverLimits { input, problems });
                            return;
                        }
                        Err(Refusal::Other(e)) => Err(e),
                        Ok(img) => Ok(img),
                    };
                    reference_loaded(&tx, input, result, decode, Vec::new()).await;
                });
                report_panic_in_status(&self.tx, "loading the reference", task);
            }
            Cmd::FitReference(input) => {
                let tx = self.tx.clone();
                let decode = self.decoding();
                let task = tokio::spawn(async move {
                    let (result, done) = match fit_reference_file(&input).await {
                        Ok((img, done)) => (Ok(img), done),
                        Err(e) => (Err(e), Vec::new()),
                    };
                    reference_loaded(&tx, input, result, decode, done).await;
                });
                report_panic_in_status(&self.tx, "fitting the reference", task);
            }
            Cmd::UsePreviews(setup) => self.use_previews(setup.0.as_ref().clone()),
            Cmd::EncodePreview {
                key,
                generation,
                image,
                width,
                height,
            } => {
                let tx = self.tx.clone();
                let picker = self.picker();
                let task = tokio::spawn(async move {
                    let result = match picker {
                        None => Err("previews are off".to_owned()),
                        Some(p) => tokio::task::spawn_blocking(move || {
                            encode_preview(&p, &image, width, height)
                        })
                        .await
                        .unwrap_or_else(|e| Err(e.to_string())),
                    };
                    let _ = tx.send(Msg::PreviewEncoded {
                        key,
                        generation,
                        width,
                        height,
                        result,
                    });
                });
                report_panic_in_status(&self.tx, "encoding a preview", task);
            }
            Cmd::DecodePreview { key, source } => {
                let tx = self.tx.clone();
                let task = tokio::spawn(async move {
                    let result = match source_bytes(source).await {
                        Ok(bytes) => {
                            tokio::task::spawn_blocking(move || decode_for_preview(&bytes))
                                .await
                                .unwrap_or_else(|e| Err(e.to_string()))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Msg::PreviewDecoded { key, result });
                });
                report_panic_in_status(&self.tx, "decoding a preview", task);
            }
            Cmd::SaveImage { source, path } => {
                let tx = self.tx.clone();
                let task = tokio::spawn(async move {
                    let msg = match save_copy(source, path).await {
                        Ok(p) => Msg::Saved {
                            text: format!("saved {}", p.display()),
                            error: false,
                        },
                        Err(e) => Msg::Saved {
                            text: format!("not saved: {e}"),
                            error: true,
                        },
                    };
                    let _ = tx.send(msg);
                });
                report_panic_in_status(&self.tx, "saving the image", task);
            }
            Cmd::SaveAll { items, dir } => {
                let tx = self.tx.clone();
                let task = tokio::spawn(async move {
                    let n = items.len();
                    let mut saved = 0;
                    let mut errors = Vec::new();
                    for (source, stem) in items {
                        match save_into(source, dir.clone(), stem).await {
                            Ok(_) => saved += 1,
                            Err(e) => errors.push(e),
                        }
                    }
                    let text = match errors.first() {
                        None => format!("saved {saved} image(s) into {}", dir.display()),
                        Some(e) => format!("saved {saved} of {n} into {}: {e}", dir.display()),
                    };
                    let _ = tx.send(Msg::Saved {
                        text,
                        error: !errors.is_empty(),
                    });
                });
                report_panic_in_status(&self.tx, "saving the images", task);
            }
            Cmd::Complete(input) => {
                let tx = self.tx.clone();
                let task = tokio::spawn(async move {
                    let candidates = complete_path(&input).await;
                    let _ = tx.send(Msg::Completed { input, candidates });
                });
                report_panic_in_status(&self.tx, "completing the path", task);
            }
            // Handled by the event loop, which owns the terminal.
            Cmd::OpenEditor { .. } | Cmd::Copy(_) => {}
        }
    }

    /// Whether requests are recorded in a history store (the History pane reads it).
    pub fn keeps_history(&self) -> bool {
        self.history.is_some()
    }

    /// Cancels every request in flight (on quit).
    pub fn cancel_all(&self) {
        self.resume.cancel();
        if let Ok(s) = self.sweeps.lock() {
            for c in s.values() {
                c.stop.cancel();
                c.abort.cancel();
            }
        }
        if let Ok(t) = self.tokens.lock() {
            for token in t.values() {
                token.cancel();
            }
        }
    }

    /// Waits (at most `limit`) for cancelled sends to record how they ended, so quitting
    /// leaves `cancelled` entries rather than `interrupted` ones.
    pub async fn drain(&self, limit: Duration) {
        let wait = async {
            loop {
                let idle = self.running.idle.notified();
                if self.running.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

/// What a sweep's task needs.
struct SweepJob {
    n: u64,
    plan: crate::sweep::Plan,
    client: Client,
    history: Option<HistoryStore>,
    tx: UnboundedSender<Msg>,
    decode: bool,
    sweeps: Arc<Mutex<HashMap<u64, crate::sweep::runner::Controls>>>,
}

/// Runs a sweep and turns its events into messages: thumbnails decoded from the cells' first
/// images, each cell's stored image file looked up for later.
async fn run_sweep(
    job: SweepJob,
    settings: crate::sweep::runner::Settings,
    controls: crate::sweep::runner::Controls,
) {
    use crate::sweep::runner::SweepEvent;
    use crate::tui::msg::SweepMsg;
    let SweepJob {
        n,
        plan,
        client,
        history,
        tx,
        decode,
        sweeps,
    } = job;
    let store = match &history {
        Some(h) => h.get().await.ok(),
        None => None,
    };
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = tokio::spawn(crate::sweep::runner::run(
        plan,
        client,
        store.clone(),
        settings,
        ev_tx,
        controls,
    ));
    while let Some(ev) = ev_rx.recv().await {
        let event = match ev {
            SweepEvent::CellStarted { cell, history_id } => SweepMsg::Started { cell, history_id },
            SweepEvent::CellRateLimited { cell, .. } => SweepMsg::RateLimited { cell },
            SweepEvent::CellFinished { report, images } => {
                let cell = report.cell;
                if decode && let Some(first) = images.first().cloned() {
                    let result = tokio::task::spawn_blocking(move || decode_for_preview(&first))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Msg::PreviewDecoded {
                        key: ImageKey::Cell { sweep: n, cell },
                        result,
                    });
                }
                let image = match (&store, report.history_id) {
                    (Some(s), Some(id)) => {
                        let s = Arc::clone(s);
                        tokio::task::spawn_blocking(move || {
                            s.get(id).ok().flatten().and_then(|e| {
                                e.images
                                    .into_iter()
                                    .find(|i| i.part != crate::store::ImagePart::Request)
                                    .map(|i| i.file)
                            })
                        })
                        .await
                        .ok()
                        .flatten()
                    }
                    _ => None,
                };
                SweepMsg::CellDone {
                    report: Box::new(report),
                    image,
                }
            }
            SweepEvent::Progress(p) => SweepMsg::Progress(p),
            SweepEvent::Warning(w) => SweepMsg::Warning(w),
            SweepEvent::Finished(r) => SweepMsg::Done {
                stopped: r.stopped,
                text: format!(
                    "sweep {}: {} succeeded, {} failed, {} cancelled, {} not run in {}",
                    r.sweep_id,
                    r.succeeded,
                    r.failed,
                    r.cancelled,
                    r.not_run,
                    fmt_duration(r.duration)
                ),
            },
        };
        if tx.send(Msg::Sweep { n, event }).is_err() {
            break;
        }
    }
    // A runner that panicked (a bug) ends the sweep in the UI rather than leaving it running.
    if let Err(e) = runner.await
        && e.is_panic()
    {
        let text = panic_text(e.into_panic());
        tracing::error!("sweep runner panicked: {text}");
        let _ = tx.send(Msg::Sweep {
            n,
            event: SweepMsg::Done {
                stopped: true,
                text: format!("the sweep failed: internal error (a bug, please report it): {text}"),
            },
        });
    }
    if let Ok(mut s) = sweeps.lock() {
        s.remove(&n);
    }
}

/// Runs a presets command (file I/O: call it on the blocking pool).
fn preset_cmd(
    store: &crate::presets::PresetStore,
    defaults: &HashMap<&'static str, Value>,
    cmd: crate::tui::msg::PresetCmd,
) -> Msg {
    use crate::tui::msg::PresetCmd;
    let defaults_for = |s: &crate::api::schema::Schema| {
        defaults
            .get(s.req_key)
            .cloned()
            .unwrap_or_else(|| s.default_body())
    };
    match cmd {
        PresetCmd::List => Msg::PresetsListed(store.list().map_err(|e| e.to_string())),
        PresetCmd::Apply { name, body } => Msg::PresetApplied {
            result: store
                .load(&name)
                .map(|p| p.apply(&body, &defaults_for(p.schema)))
                .map_err(|e| e.to_string()),
            name,
        },
        PresetCmd::Save { name, body } => {
            let schema = body
                .get("req_key")
                .and_then(Value::as_str)
                .and_then(crate::api::schema::schema_for)
                .unwrap_or_else(crate::api::schema::default_schema);
            match store.save(&name, &body, &defaults_for(schema)) {
                Ok(s) => Msg::PresetsChanged {
                    text: format!(
                        "preset {name:?} {} ({}: {})",
                        if s.replaced { "replaced" } else { "saved" },
                        s.req_key,
                        if s.stored.is_empty() {
                            "all defaults".to_owned()
                        } else {
                            s.stored.join(", ")
                        }
                    ),
                    error: false,
                },
                Err(e) => Msg::PresetsChanged {
                    text: e.to_string(),
                    error: true,
                },
            }
        }
        PresetCmd::Delete { name } => match store.delete(&name) {
            Ok(()) => Msg::PresetsChanged {
                text: format!("preset {name:?} deleted"),
                error: false,
            },
            Err(e) => Msg::PresetsChanged {
                text: e.to_string(),
                error: true,
            },
        },
    }
}

/// Collects the async tasks a previous run (or a killed `volcv send --mode async`) left
/// pending at this endpoint; the History pane follows them through the store.
async fn resume_tasks(
    store: HistoryStore,
    client: Client,
    cancel: CancellationToken,
    tx: UnboundedSender<Msg>,
) {
    let Ok(s) = store.get().await else {
        return;
    };
    let pending = {
        let s = Arc::clone(&s);
        tokio::task::spawn_blocking(move || s.pending_tasks())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    if pending.is_empty() {
        return;
    }
    tracing::info!(n = pending.len(), "resuming pending async tasks");
    let opts = crate::exchange::tasks::ResumeOptions {
        ids: Vec::new(),
        run: crate::exchange::tasks::RunOptions::default(),
        concurrency: 4,
    };
    match crate::exchange::tasks::resume_pending(&s, &client, &opts, &cancel, |_, _| {}).await {
        Ok(done) => {
            let collected = done
                .iter()
                .filter(|f| f.ending == crate::exchange::tasks::Ending::Collected)
                .count();
            if collected > 0 {
                let _ = tx.send(Msg::Saved {
                    text: format!("collected {collected} async task(s) left pending earlier"),
                    error: false,
                });
            }
        }
        Err(e) => tracing::warn!("resuming async tasks: {e}"),
    }
}

/// Reads the store's change counter after each write in the data dir (every
/// [`HISTORY_POLL`] where writes cannot be watched) and reports rows written since (by this
/// or another process). Ends when the UI is gone or the store cannot be opened.
async fn watch_history(store: HistoryStore, tx: UnboundedSender<Msg>) {
    let mut seen: Option<i64> = None;
    let mut watch: Option<crate::store::watch::DirWatch> = None;
    loop {
        let seq = match with_store(&store, |s| s.change_seq().map_err(|e| e.to_string())).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!("history: not watching for changes: {e}");
                return;
            }
        };
        match seen {
            Some(last) if seq > last => {
                let rows = with_store(&store, move |s| {
                    s.changed_since(last, 500).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_default();
                seen = Some(rows.iter().map(|r| r.updated_seq).max().unwrap_or(seq));
                if !rows.is_empty() && tx.send(Msg::HistoryChanged(rows)).is_err() {
                    return;
                }
            }
            Some(_) => {}
            None => seen = Some(seq),
        }
        // Created once the store is open (so the dir exists): an idle UI sleeps here.
        let w = watch.get_or_insert_with(|| {
            crate::store::watch::DirWatch::new(&store.data_dir, HISTORY_POLL)
        });
        tokio::select! {
            () = w.changed() => {}
            () = tx.closed() => return,
        }
    }
}

async fn history_cmd(store: HistoryStore, cmd: HistoryCmd, tx: UnboundedSender<Msg>) {
    let msg = match cmd {
        HistoryCmd::Load {
            generation,
            filter,
            before,
        } => {
            let result = with_store(&store, move |s| {
                let mut q = crate::tui::history::parse_search(&filter)?;
                q.limit = crate::tui::history::PAGE;
                let total = if before.is_none() {
                    Some(s.count(&q).map_err(|e| e.to_string())?)
                } else {
                    None
                };
                q.before_id = before;
                let rows = s.list(&q).map_err(|e| e.to_string())?;
                Ok((rows, total))
            })
            .await;
            Msg::HistoryLoaded {
                generation,
                append: before.is_some(),
                result,
            }
        }
        HistoryCmd::Open { id, store_id } => Msg::EntryOpened {
            id,
            result: with_store(&store, move |s| open_entry(s, store_id)).await,
        },
        HistoryCmd::Star { store_id, star } => Msg::HistoryEdited {
            store_id,
            what: if star { "starred" } else { "unstarred" },
            result: with_store(&store, move |s| {
                s.set_star(store_id, star).map_err(|e| e.to_string())?;
                summary_of(s, store_id)
            })
            .await,
        },
        HistoryCmd::Note { store_id, note } => Msg::HistoryEdited {
            store_id,
            what: if note.is_empty() {
                "note cleared"
            } else {
                "note saved"
            },
            result: with_store(&store, move |s| {
                s.set_note(store_id, Some(&note))
                    .map_err(|e| e.to_string())?;
                summary_of(s, store_id)
            })
            .await,
        },
        HistoryCmd::Delete { store_id } => Msg::HistoryDeleted {
            store_id,
            result: with_store(&store, move |s| {
                let r = s.delete(&[store_id]).map_err(|e| e.to_string())?;
                if r.removed.is_empty() {
                    Err("no such entry (deleted elsewhere?)".to_owned())
                } else {
                    Ok(r.files_removed)
                }
            })
            .await,
        },
    };
    let _ = tx.send(msg);
}

fn summary_of(s: &Store, store_id: i64) -> Result<crate::store::Summary, String> {
    s.get(store_id)
        .map_err(|e| e.to_string())?
        .map(|e| e.summary)
        .ok_or_else(|| "no such entry".to_owned())
}

/// A recorded entry as the Response pane shows it: the exchange parsed again from the stored
/// bodies, result images pointing at the store's files.
pub fn open_entry(s: &Store, store_id: i64) -> Result<Opened, String> {
    let entry = s
        .get(store_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no longer in the history (deleted?)".to_owned())?;
    let export = s.export(store_id).map_err(|e| e.to_string())?;
    let request: Value = serde_json::from_slice(&export.request)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&export.request).into_owned()));
    let duration =
        Duration::try_from_secs_f64(entry.summary.duration_ms.unwrap_or(0.0).max(0.0) / 1000.0)
            .unwrap_or_default();
    let view = match s.exchange(store_id).map_err(|e| e.to_string())? {
        Some(ex) => {
            let mut view = view_of(&ex);
            attach_stored_images(&mut view, &entry);
            view
        }
        None => {
            let doc = request_doc_of(
                &entry.method,
                entry.url.as_deref().unwrap_or(&entry.endpoint),
                &entry.request_headers,
                &String::from_utf8_lossy(&export.request),
            );
            let started = crate::tui::history::time_label(entry.summary.created_ms, i64::MAX);
            if entry.summary.outcome == OutcomeKind::Pending && entry.summary.task_id.is_some() {
                let status = entry.summary.task_status.as_deref().unwrap_or("submitted");
                let task = entry.summary.task_id.as_deref().unwrap_or_default();
                let mut v = ResponseView::transport(Verdict::Cancelled, "", doc, "-");
                v.summary[0] = vec![(
                    Tok::Dim,
                    format!(
                        "… async task {status} (task {task}), submitted {started}; collected when done"
                    ),
                )];
                v
            } else if entry.summary.outcome == OutcomeKind::Pending {
                let who = entry
                    .owner_pid
                    .map_or_else(String::new, |p| format!(" (pid {p})"));
                let mut v = ResponseView::transport(
                    Verdict::Cancelled,
                    &format!("pending: being sent by another volcv process{who}"),
                    doc,
                    "-",
                );
                v.summary[0] = vec![(
                    Tok::Dim,
                    format!("… pending: being sent by another volcv process{who}, since {started}"),
                )];
                v
            } else {
                let why = entry
                    .message
                    .clone()
                    .unwrap_or_else(|| "the process ended before the answer came".to_owned());
                let mut v = ResponseView::transport(
                    Verdict::Transport,
                    &format!("interrupted: {why}"),
                    doc,
                    "-",
                );
                v.summary[0] = vec![(Tok::Error, format!("⚠ interrupted: {why}"))];
                v
            }
        }
    };
    Ok(Opened {
        request: Arc::new(request),
        view: Box::new(view),
        duration,
        sweep_id: entry.sweep_id,
    })
}

/// Points a recorded entry's result images at the store's files (downloaded URL results and
/// base64 results alike).
fn attach_stored_images(view: &mut ResponseView, entry: &crate::store::Entry) {
    use crate::store::ImagePart;
    let mut inline: Vec<&crate::store::EntryImage> = entry
        .images
        .iter()
        .filter(|i| i.part == ImagePart::Response)
        .collect();
    inline.sort_by_key(|i| i.pos);
    let mut index = 0;
    for item in &mut view.images {
        if item.state == ImageState::Reference {
            continue;
        }
        let file = entry
            .images
            .iter()
            .find(|i| i.part == ImagePart::Result && i.pos == index)
            .or_else(|| inline.get(index).copied());
        match file {
            Some(img) if img.file.is_file() => {
                item.format = img.ext.to_uppercase();
                item.bytes = usize::try_from(img.size).ok();
                if item.dims.is_none() {
                    item.dims = std::fs::read(&img.file)
                        .ok()
                        .and_then(|b| images::dimensions(&b));
                }
                item.state = ImageState::Saved(img.file.clone());
                item.expires = None;
            }
            Some(img) => {
                item.state = ImageState::Failed(format!("{} is missing", img.file.display()));
            }
            None => {
                item.state = ImageState::Failed(
                    "not kept: the result was not downloaded when it was recorded".to_owned(),
                );
            }
        }
        index += 1;
    }
}

/// How `send` treats result images.
#[derive(Debug, Clone, Copy)]
struct SendOpts {
    /// Decode them for previews.
    decode: bool,
    /// Download cap in bytes.
    cap: usize,
}

#[allow(clippy::too_many_arguments)]
async fn send(
    id: u64,
    body: Value,
    client: Client,
    token: CancellationToken,
    tx: UnboundedSender<Msg>,
    dir: PathBuf,
    opts: SendOpts,
    history: Option<HistoryStore>,
) {
    tracing::info!(id, "sending");
    if opts.decode
        && let Some(b64) = body
            .get("binary_data_base64")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
    {
        let b64 = b64.to_owned();
        let tx = tx.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("invalid base64: {e}"))?;
                decode_for_preview(&bytes)
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            let _ = tx.send(Msg::PreviewDecoded {
                key: ImageKey::Reference { id },
                result,
            });
        });
    }
    let action = client.target.action.clone();
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => {
            finish_with(
                &tx,
                id,
                Verdict::Transport,
                &format!("cannot serialize the request: {e}"),
            );
            return;
        }
    };
    // Written as pending before the request goes out: a crash leaves an `interrupted` entry.
    let recording = match &history {
        Some(h) => {
            let headers = client.prepare(&action, bytes.clone()).redacted_headers();
            let (endpoint, profile, act, b) = (
                client.target.endpoint.to_string(),
                h.profile.clone(),
                action.clone(),
                bytes.clone(),
            );
            let result = with_store(h, move |s| {
                s.begin(&crate::store::NewEntry {
                    profile: &profile,
                    endpoint: &endpoint,
                    action: &act,
                    request_headers: &headers,
                    request_body: &b,
                })
                .map_err(|e| e.to_string())
            })
            .await;
            let _ = tx.send(Msg::Recorded {
                id,
                result: result.clone(),
            });
            match (h.get().await, result) {
                (Ok(store), Ok(store_id)) => Some((store, store_id)),
                _ => None,
            }
        }
        None => None,
    };
    let exchange = client.call_bytes(&action, bytes, &token).await;
    tracing::info!(id, status = ?exchange.http_status, duration = ?exchange.duration, "finished");
    let duration = exchange.duration;
    let exchange = Arc::new(exchange);
    let ex = Arc::clone(&exchange);
    let view = tokio::task::spawn_blocking(move || view_of(&ex))
        .await
        .unwrap_or_else(|e| {
            ResponseView::transport(
                Verdict::Transport,
                &format!("could not format the response: {e}"),
                Doc::default(),
                "",
            )
        });
    let _ = tx.send(Msg::Finished {
        id,
        view: Box::new(view),
        duration,
    });
    let images = match exchange.outcome() {
        Some(Outcome::Success(s)) => s.images.clone(),
        _ => Vec::new(),
    };
    // The signed URLs expire: fetch them all now, a few at a time.
    let policy = Policy {
        at_once: DOWNLOADS_AT_ONCE,
        cap: opts.cap,
        ..Policy::default()
    };
    let kept: Vec<Kept> = fetch_each(&client, &images, policy, |got| {
        let tx = tx.clone();
        async move {
            let index = got.index;
            match got.image {
                Ok(o) => {
                    let facts = facts_of(&o.bytes);
                    if opts.decode {
                        let b = Arc::clone(&o.bytes);
                        let result = tokio::task::spawn_blocking(move || decode_for_preview(&b))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                        let _ = tx.send(Msg::PreviewDecoded {
                            key: ImageKey::Result { id, index },
                            result,
                        });
                    }
                    Some(Kept {
                        index,
                        bytes: o.bytes,
                        facts,
                        url: o.url,
                    })
                }
                Err(e) => {
                    let _ = tx.send(Msg::ImageSaved {
                        id,
                        index,
                        state: ImageState::Failed(e.to_string()),
                        facts: None,
                    });
                    None
                }
            }
        }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    deliver(id, kept, recording, true, &exchange, &tx, &dir).await;
}

/// An async request: the entry is written as pending, the task submitted (its id recorded at
/// once), polled with the status shown, then the results collected into the store. Stopped
/// polling (cancel, quit) leaves the task pending; the next start collects it.
#[allow(clippy::too_many_arguments)]
async fn send_async(
    id: u64,
    body: Value,
    client: Client,
    token: CancellationToken,
    tx: UnboundedSender<Msg>,
    dir: PathBuf,
    opts: SendOpts,
    history: Option<HistoryStore>,
) {
    tracing::info!(id, "submitting an async task");
    let store = match &history {
        Some(h) => match h.get().await {
            Ok(s) => Some((s, h.profile.clone())),
            Err(e) => {
                let _ = tx.send(Msg::Recorded { id, result: Err(e) });
                None
            }
        },
        None => None,
    };
    let recording = match store {
        Some((s, profile)) => {
            let (s2, c, b) = (Arc::clone(&s), client.clone(), body.clone());
            let result = tokio::task::spawn_blocking(move || {
                crate::exchange::tasks::begin_entry(&s2, &profile, &c, &b)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            let _ = tx.send(Msg::Recorded {
                id,
                result: result.clone(),
            });
            result.ok().map(|store_id| (s, store_id))
        }
        None => None,
    };
    let status_tx = tx.clone();
    let on_event = move |ev: &crate::api::tasks::TaskEvent| {
        use crate::api::tasks::TaskEvent;
        let text = match ev {
            TaskEvent::Submitted { task_id } => {
                format!(
                    "submitted, task {}",
                    crate::text::truncate_chars(task_id, 24)
                )
            }
            TaskEvent::Status {
                status, elapsed, ..
            } => format!("{} {}", status.as_str(), fmt_duration(*elapsed)),
            TaskEvent::Retrying {
                error, retry_in, ..
            } => format!(
                "poll failed ({}), again in {}",
                crate::text::truncate_chars(error, 60),
                fmt_duration(*retry_in)
            ),
        };
        let _ = status_tx.send(Msg::TaskStatus { id, text });
    };
    let record = recording.as_ref().map(|(s, i)| (s.as_ref(), *i));
    let run = crate::exchange::tasks::run(
        &client,
        &body,
        record,
        &crate::exchange::tasks::RunOptions::default(),
        &token,
        on_event,
    )
    .await;
    let finished = match run {
        Ok(f) => f,
        Err(e) => {
            finish_with(&tx, id, Verdict::Transport, &format!("cannot submit: {e}"));
            return;
        }
    };
    for w in &finished.warnings {
        let _ = tx.send(Msg::Saved {
            text: w.clone(),
            error: true,
        });
    }
    let Some(exchange) = finished.exchange else {
        // Still pending: nothing is lost, the task is collected later.
        let why = match &finished.ending {
            crate::exchange::tasks::Ending::Pending(stop) => stop.to_string(),
            crate::exchange::tasks::Ending::Skipped(why) => why.clone(),
            _ => "stopped".to_owned(),
        };
        let task = finished.task_id.clone().unwrap_or_default();
        finish_with(
            &tx,
            id,
            Verdict::Cancelled,
            &format!(
                "polling stopped ({why}); task {task} stays pending and is collected at the next start (or: volcv tasks resume)"
            ),
        );
        return;
    };
    let duration = exchange.duration;
    let exchange = Arc::new(exchange);
    let ex = Arc::clone(&exchange);
    let view = tokio::task::spawn_blocking(move || view_of(&ex))
        .await
        .unwrap_or_else(|e| {
            ResponseView::transport(Verdict::Transport, &e.to_string(), Doc::default(), "")
        });
    let _ = tx.send(Msg::Finished {
        id,
        view: Box::new(view),
        duration,
    });
    let mut kept = Vec::new();
    for k in finished.collected.kept {
        let facts = facts_of(&k.bytes);
        let bytes = k.bytes;
        if opts.decode {
            let b = Arc::clone(&bytes);
            let result = tokio::task::spawn_blocking(move || decode_for_preview(&b))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            let _ = tx.send(Msg::PreviewDecoded {
                key: ImageKey::Result { id, index: k.index },
                result,
            });
        }
        kept.push(Kept {
            index: k.index,
            bytes,
            facts,
            url: k.url,
        });
    }
    for e in finished.collected.errors {
        let _ = tx.send(Msg::Saved {
            text: e,
            error: true,
        });
    }
    deliver(id, kept, recording, false, &exchange, &tx, &dir).await;
}

/// Ends request `id` with a one-line view (nothing was answered to show).
fn finish_with(tx: &UnboundedSender<Msg>, id: u64, verdict: Verdict, message: &str) {
    let view = ResponseView::transport(verdict, message, Doc::default(), "-");
    let _ = tx.send(Msg::Finished {
        id,
        view: Box::new(view),
        duration: Duration::ZERO,
    });
}

/// Puts a request's result images where they belong and tells the UI: into the history
/// store (completing the entry with `exchange` when `complete`; an async run has completed it
/// already), or as named files under `dir` without a store or when recording failed, so a
/// paid-for result is never lost.
async fn deliver(
    id: u64,
    kept: Vec<Kept>,
    recording: Option<(Arc<Store>, i64)>,
    complete: bool,
    exchange: &Arc<Exchange>,
    tx: &UnboundedSender<Msg>,
    dir: &std::path::Path,
) {
    let stem_base = crate::exchange::results::file_stem(exchange);
    let mut unrecorded = kept;
    if let Some((store, store_id)) = recording {
        let ex = Arc::clone(exchange);
        let files_in = unrecorded;
        let outcome = tokio::task::spawn_blocking(move || {
            let files: Vec<crate::store::ResultFile<'_>> = files_in
                .iter()
                .map(|k| crate::store::ResultFile {
                    index: k.index,
                    bytes: &k.bytes,
                    url: k.url.as_deref(),
                    saved_path: None,
                })
                .collect();
            let done = if complete {
                store.complete(store_id, &ex, &files)
            } else {
                Ok(())
            }
            .and_then(|()| store.get(store_id))
            .map_err(|e| e.to_string());
            (done, files_in)
        })
        .await;
        let (done, files_in) = match outcome {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(id, "recording failed: {e}");
                return;
            }
        };
        unrecorded = match done {
            Ok(Some(entry)) => {
                let mut left = Vec::new();
                for k in files_in {
                    let file = entry
                        .images
                        .iter()
                        .find(|i| i.part == crate::store::ImagePart::Result && i.pos == k.index)
                        .map(|i| i.file.clone());
                    match file {
                        Some(f) => {
                            let _ = tx.send(Msg::ImageSaved {
                                id,
                                index: k.index,
                                state: ImageState::Saved(f),
                                facts: Some(k.facts.clone()),
                            });
                        }
                        None => left.push(k),
                    }
                }
                left
            }
            Ok(None) => files_in,
            Err(e) => {
                let _ = tx.send(Msg::Saved {
                    text: format!("not recorded in the history: {e}"),
                    error: true,
                });
                files_in
            }
        };
    }
    // Without a store (or when recording failed) the images are saved as named files, so a
    // paid-for result is never lost.
    for k in unrecorded {
        let stem = format!("{stem_base}-{}", k.index + 1);
        let ext = images::sniff(&k.bytes).map_or("bin", images::Format::extension);
        let d = dir.to_path_buf();
        let b = Arc::clone(&k.bytes);
        let state = match tokio::task::spawn_blocking(move || {
            images::save_unique(&d, &stem, ext, &b)
        })
        .await
        {
            Ok(Ok(p)) => ImageState::Saved(p),
            Ok(Err(e)) => ImageState::Failed(format!("cannot save: {e}")),
            Err(e) => ImageState::Failed(e.to_string()),
        };
        let _ = tx.send(Msg::ImageSaved {
            id,
            index: k.index,
            state,
            facts: Some(k.facts),
        });
    }
}

/// A result image in hand.
struct Kept {
    index: usize,
    bytes: Arc<Vec<u8>>,
    facts: ImageFacts,
    url: Option<String>,
}

/// What the Response pane says about a result image's bytes.
fn facts_of(bytes: &[u8]) -> ImageFacts {
    ImageFacts {
        format: images::sniff(bytes)
            .map_or("?", images::Format::name)
            .to_owned(),
        dims: images::dimensions(bytes),
        bytes: bytes.len(),
    }
}

/// Decodes untrusted image bytes for a preview (bombs refused from the header), shrunk to
/// [`PREVIEW_MAX_SIDE`]. Slow for big images: call it on the blocking pool.
pub fn decode_for_preview(bytes: &[u8]) -> crate::tui::preview::Decoded {
    images::decode::decode_preview(bytes, PREVIEW_MAX_SIDE)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Encodes a decoded image for the picker's protocol to fit `width` x `height` cells (scaled
/// up when smaller, aspect kept). Slow: call it on the blocking pool.
pub fn encode_preview(
    picker: &ratatui_image::picker::Picker,
    image: &image::DynamicImage,
    width: u16,
    height: u16,
) -> Result<Encoded, String> {
    if picker.protocol_type() == ratatui_image::picker::ProtocolType::Kitty
        && !picker.tmux_detected()
    {
        let f = picker.font_size();
        return crate::tui::preview::kitty_placed(image, width, height, (f.width, f.height));
    }
    picker
        .new_protocol(
            image.clone(),
            ratatui::layout::Size::new(width, height),
            ratatui_image::Resize::Scale(Some(image::imageops::FilterType::Triangle)),
        )
        .map(|mut p| {
            if let ratatui_image::protocol::Protocol::Sixel(s) = &mut p
                && s.is_tmux
            {
                crate::tui::preview::close_tmux_sixel(&mut s.data);
            }
            Encoded::Widget(Arc::new(p))
        })
        .map_err(|e| e.to_string())
}

async fn reference_loaded(
    tx: &UnboundedSender<Msg>,
    input: String,
    result: Result<LoadedImage, String>,
    decode: bool,
    done: Vec<String>,
) {
    let preview = match (&result, decode) {
        (Ok(img), true) => Some((
            img.path
                .as_ref()
                .map_or_else(|| input.clone(), |p| p.display().to_string()),
            Arc::clone(&img.base64),
        )),
        _ => None,
    };
    if !done.is_empty() && result.is_ok() {
        let _ = tx.send(Msg::Saved {
            text: format!("reference fitted: {}", done.join(", ")),
            error: false,
        });
    }
    let _ = tx.send(Msg::ReferenceLoaded { input, result });
    if let Some((key, b64)) = preview {
        let result = tokio::task::spawn_blocking(move || {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| e.to_string())?;
            decode_for_preview(&bytes)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let _ = tx.send(Msg::PreviewDecoded {
            key: ImageKey::Form(key),
            result,
        });
    }
}

async fn source_bytes(source: ImageSource) -> Result<Vec<u8>, String> {
    match source {
        ImageSource::File(p) => tokio::fs::read(&p)
            .await
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        ImageSource::Base64(b) => tokio::task::spawn_blocking(move || {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim().as_bytes())
                .map_err(|e| format!("invalid base64: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?,
    }
}

/// Writes an image to exactly `path`, creating directories, never replacing a file.
async fn save_copy(source: ImageSource, path: PathBuf) -> Result<PathBuf, String> {
    let bytes = source_bytes(source).await?;
    let path = expand_home(&path.display().to_string());
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    format!("{} exists; volcv never replaces a file", path.display())
                }
                _ => format!("cannot create {}: {e}", path.display()),
            })?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn save_into(source: ImageSource, dir: PathBuf, stem: String) -> Result<PathBuf, String> {
    let bytes = source_bytes(source).await?;
    let dir = expand_home(&dir.display().to_string());
    let ext = images::sniff(&bytes).map_or("bin", images::Format::extension);
    tokio::task::spawn_blocking(move || images::save_unique(&dir, &stem, ext, &bytes))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

fn line(parts: &[(Tok, &str)]) -> DocLine {
    parts.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
}

fn label(name: &str, value: &str) -> DocLine {
    vec![
        (Tok::Dim, format!("{name}: ")),
        (Tok::Plain, crate::tui::doc::escape(value)),
    ]
}

/// Everything the Response pane shows about an exchange. Pure and possibly slow (it parses
/// and pretty-prints the whole body): run it on the blocking pool.
pub fn view_of(ex: &Exchange) -> ResponseView {
    let request = request_doc(ex);
    let timing = timing_line(ex, None);
    let verdict = Verdict::from(OutcomeKind::of(&ex.result));
    let outcome = match &ex.result {
        Err(e) => {
            let mut v = ResponseView::transport(
                verdict,
                &e.to_string(),
                request,
                &fmt_duration(ex.duration),
            );
            v.summary.push(attempts_line(ex));
            return v;
        }
        Ok(o) => o,
    };
    let status = ex
        .http_status
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let mut summary: Vec<DocLine> = Vec::new();
    match outcome {
        Outcome::Success(s) => {
            summary.push(line(&[
                (Tok::Plain, &format!("✔ {} success", s.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary[0][0].0 = Tok::Str;
            summary.push(label("message", &s.message));
            if let Some(r) = &s.request_id {
                summary.push(label("request_id", r));
            }
            if let Some(r) = &s.data_request_id
                && Some(r) != s.request_id.as_ref()
            {
                summary.push(label("data.request_id", r));
            }
            summary.push(timing_line(
                ex,
                server_time(s.time_elapsed, s.time_elapsed_raw.as_deref()).as_deref(),
            ));
            if let Some(r) = &s.rephraser_result {
                summary.push(label("rephrased", r));
            }
        }
        Outcome::Service(e) => {
            let meaning = e.info.map_or("unknown service code", |i| i.meaning);
            summary.push(line(&[
                (Tok::Error, &format!("✘ {} {meaning}", e.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some((code, msg)) = &e.algorithm_status
                && *code != 0
            {
                summary.push(label("algorithm", &format!("{code} {msg}")));
            }
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            let parsed = e
                .time_elapsed_raw
                .as_deref()
                .and_then(crate::api::response::parse_go_duration);
            summary.push(timing_line(
                ex,
                server_time(parsed, e.time_elapsed_raw.as_deref()).as_deref(),
            ));
        }
        Outcome::Gateway(e) => {
            let code = match e.code_n {
                Some(n) => format!("{n} {}", e.code),
                None => e.code.clone(),
            };
            summary.push(line(&[
                (Tok::Error, &format!("✘ gateway error {code}")),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            if let Some(i) = e.info {
                summary.push(label("meaning", i.meaning));
            }
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            summary.push(timing);
        }
        Outcome::Relay(e) => {
            summary.push(line(&[
                (Tok::Error, "✘ relay error"),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
        Outcome::NonJson(e) => {
            let ct = e.content_type.as_deref().unwrap_or("no content type");
            summary.push(line(&[
                (Tok::Error, &format!("✘ not JSON: {}", e.reason)),
                (
                    Tok::Dim,
                    &format!(" · HTTP {status} · {ct} · {}", human_size(e.len)),
                ),
            ]));
            for l in e.excerpt.lines().filter(|l| !l.trim().is_empty()).take(3) {
                summary.push(vec![
                    (Tok::Dim, "│ ".to_owned()),
                    (Tok::Plain, crate::tui::doc::escape(l.trim())),
                ]);
            }
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
    }
    // Straight from the bytes: no second parsed copy of a big body.
    let body = match Doc::json_text(&ex.response_bytes) {
        Ok(d) => d,
        Err(_) => {
            let text = String::from_utf8_lossy(&ex.response_bytes);
            if text.is_empty() {
                Doc::plain("(empty body)")
            } else {
                Doc::plain(&text)
            }
        }
    };
    let mut headers = Doc::default();
    for (k, v) in &ex.response_headers {
        headers.push([
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    headers.push(Vec::<(Tok, String)>::new());
    headers.push([(Tok::Dim, "attempts:")]);
    for (i, a) in ex.attempts.iter().enumerate() {
        headers.push([(
            Tok::Plain,
            format!(
                "  {} at +{} took {}: {}",
                i + 1,
                fmt_duration(a.at),
                fmt_duration(a.duration),
                crate::tui::doc::escape(&a.result)
            ),
        )]);
    }
    let mut images = Vec::new();
    if let Outcome::Success(s) = outcome {
        for (i, img) in s.images.iter().enumerate() {
            let label = format!("result {}", i + 1);
            images.push(match img {
                ResultImage::Base64(b) => {
                    let f = describe_base64(b).unwrap_or(UNKNOWN);
                    let (format, dims, bytes) = (f.format, f.dims, f.bytes);
                    ImageItem {
                        label,
                        format: format.to_uppercase(),
                        dims,
                        bytes: Some(bytes),
                        state: ImageState::Saving,
                        expires: None,
                    }
                }
                ResultImage::Url(u) => ImageItem {
                    label,
                    format: "url".to_owned(),
                    dims: None,
                    bytes: None,
                    state: ImageState::Saving,
                    expires: images::expiry_label(u, time::OffsetDateTime::now_utc()),
                },
            });
        }
    }
    if let Some(r) = reference_item(&ex.request_body) {
        images.push(r);
    }
    ResponseView {
        verdict,
        summary,
        body,
        request,
        headers,
        images,
        request_id: outcome.request_id().map(str::to_owned),
    }
}

/// The service's `time_elapsed`, shortened when it parses (`7.545501615s` -> `7.55s`).
fn server_time(parsed: Option<Duration>, raw: Option<&str>) -> Option<String> {
    parsed.map(fmt_duration).or_else(|| raw.map(str::to_owned))
}

fn timing_line(ex: &Exchange, server: Option<&str>) -> DocLine {
    let mut l = vec![(Tok::Dim, "time: ".to_owned())];
    if let Some(s) = server {
        l.push((Tok::Plain, format!("{} server", crate::tui::doc::escape(s))));
        l.push((Tok::Dim, " · ".to_owned()));
    }
    l.push((
        Tok::Plain,
        format!("{} measured", fmt_duration(ex.duration)),
    ));
    l.push((Tok::Dim, " · ".to_owned()));
    let n = ex.attempts.len();
    l.push((
        Tok::Plain,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    ));
    l
}

fn attempts_line(ex: &Exchange) -> DocLine {
    let n = ex.attempts.len();
    vec![(
        Tok::Dim,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    )]
}

fn reference_item(request_body: &str) -> Option<ImageItem> {
    let v: Value = serde_json::from_str(request_body).ok()?;
    let first = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(b) = first("binary_data_base64") {
        let f = describe_base64(&b).unwrap_or(UNKNOWN);
        let (format, dims, bytes) = (f.format, f.dims, f.bytes);
        return Some(ImageItem {
            label: "reference".to_owned(),
            format: format.to_uppercase(),
            dims,
            bytes: Some(bytes),
            state: ImageState::Reference,
            expires: None,
        });
    }
    first("image_urls").map(|u| ImageItem {
        label: "reference".to_owned(),
        format: format!("url {}", crate::text::truncate_chars(&u, 60)),
        dims: None,
        bytes: None,
        state: ImageState::Reference,
        expires: None,
    })
}

fn request_doc(ex: &Exchange) -> Doc {
    request_doc_of(&ex.method, &ex.url, &ex.request_headers, &ex.request_body)
}

fn request_doc_of(method: &str, url: &str, headers: &[(String, String)], body: &str) -> Doc {
    let mut d = Doc::default();
    d.push([(
        Tok::Plain,
        format!("{method} {}", crate::tui::doc::escape(url)),
    )]);
    for (k, v) in headers {
        d.push([
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    d.push(Vec::<(Tok, String)>::new());
    match Doc::json_text(body.as_bytes()) {
        Ok(j) => d.append(&j),
        Err(_) => d.append(&Doc::plain(body)),
    }
    d
}

fn expand_home(input: &str) -> PathBuf {
    match (input.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(input),
    }
}

/// Reads a local reference file on the blocking pool: `~/` expanded, then `job` (a loader
/// of [`images::reference`]) with the path.
async fn on_reference<T: Send + 'static, E: From<String> + Send + 'static>(
    input: &str,
    job: impl FnOnce(&std::path::Path) -> Result<T, E> + Send + 'static,
) -> Result<(PathBuf, T), E> {
    let path = expand_home(input.trim());
    tokio::task::spawn_blocking(move || job(&path).map(|t| (path, t)))
        .await
        .map_err(|e| E::from(e.to_string()))?
}

fn loaded(path: PathBuf, bytes: &[u8], dims: Option<(u32, u32)>) -> LoadedImage {
    LoadedImage {
        path: Some(path),
        bytes: bytes.len(),
        format: if images::sniff(bytes) == Some(images::Format::Png) {
            "PNG"
        } else {
            "JPEG"
        },
        dims,
        base64: Arc::from(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// Reads and checks a reference image against the service's limits
/// ([`images::reference::load`]: from the header first, a decompression bomb refused without
/// decoding). Returns it base64-encoded; a readable image over the limits is refused with
/// [`Refusal::OverLimits`] so the user can choose to fit it.
pub async fn load_reference(input: &str) -> Result<LoadedImage, Refusal> {
    let (path, r) = on_reference(input, images::reference::load).await?;
    Ok(loaded(path, &r.bytes, r.dims))
}

/// Reads a local reference image and fits it to the limits ([`images::reference::fit`]).
/// Returns it and what was done, in words.
pub async fn fit_reference_file(input: &str) -> Result<(LoadedImage, Vec<String>), String> {
    let (path, (r, done)) = on_reference(input, images::reference::fit).await?;
    Ok((loaded(path, &r.bytes, r.dims), done))
}

/// Paths that complete `input` (directories end in `/`), sorted, at most 50.
pub async fn complete_path(input: &str) -> Vec<String> {
    let (dir_text, prefix) = match input.rfind('/') {
        Some(i) => (&input[..=i], &input[i + 1..]),
        None => ("", input),
    };
    let dir = if dir_text.is_empty() {
        PathBuf::from(".")
    } else {
        expand_home(dir_text)
    };
    let Ok(mut rd) = tokio::fs::read_dir(&dir).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Ok(Some(entry)) = rd.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
            continue;
        }
        let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
        out.push(format!("{dir_text}{name}{}", if is_dir { "/" } else { "" }));
    }
    out.sort();
    out.truncate(MAX_COMPLETIONS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::MAX_IMAGE_BYTES;

    #[tokio::test]
    async fn a_panicking_worker_task_is_reported_with_secrets_scrubbed() {
        let _key = crate::api::secret::Secret::new("sk-panic-report-99aa11");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async {
            let n: u64 = "18446744073709551615".parse().unwrap_or(0);
            if n > 0 {
                panic!("overflow near sk-panic-report-99aa11 at {n}");
            }
        });
        report_panic_in_status(&tx, "the test task", task);
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a message before the bound")
            .expect("a message");
        match msg {
            Msg::Saved { text, error } => {
                assert!(error);
                assert!(
                    text.starts_with("the test task failed: internal error"),
                    "{text}"
                );
                assert!(text.contains("overflow near <redacted> at"), "{text}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // A task that ends normally sends nothing more.
        report_panic_in_status(&tx, "a fine task", tokio::spawn(async {}));
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn reference_checks_existence_format_and_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("nope.png");
        let e = load_reference(&missing.display().to_string())
            .await
            .expect_err("missing")
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "hello").expect("write");
        let e = load_reference(&text.display().to_string())
            .await
            .expect_err("text")
            .to_string();
        assert!(e.contains("not an image"), "{e}");
        let big = dir.path().join("big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(MAX_IMAGE_BYTES + 1, 0);
        std::fs::write(&big, &bytes).expect("write");
        let e = load_reference(&big.display().to_string())
            .await
            .expect_err("big")
            .to_string();
        assert!(e.starts_with("too large"), "{e}");
        let png = dir.path().join("ok.png");
        image::RgbImage::new(200, 150).save(&png).expect("save");
        let ok = load_reference(&png.display().to_string())
            .await
            .expect("ok");
        assert_eq!((ok.format, ok.dims), ("PNG", Some((200, 150))));
    }

    #[tokio::test]
    async fn a_reference_over_the_limits_is_offered_a_fit_never_changed_silently() {
        let dir = tempfile::tempdir().expect("tmp");
        let small = dir.path().join("small.png");
        image::RgbImage::new(20, 10).save(&small).expect("save");
        let input = small.display().to_string();
        let problems = match load_reference(&input).await {
            Err(Refusal::OverLimits(p)) => p,
            other => panic!("expected OverLimits, got {other:?}"),
        };
        assert!(
            problems.iter().any(|p| p.contains("under 128")),
            "{problems:?}"
        );
        // The file itself is never touched; the fitted copy lives in memory.
        let before = std::fs::read(&small).expect("read");
        let (img, done) = fit_reference_file(&input).await.expect("fits");
        assert_eq!(std::fs::read(&small).expect("read"), before);
        assert_eq!((img.format, img.dims), ("JPEG", Some((256, 128))));
        assert!(
            done.iter().any(|d| d.contains("resized 20x10 to 256x128")),
            "{done:?}"
        );
        // A decompression bomb is refused outright, not offered a fit.
        let bomb = dir.path().join("bomb.png");
        std::fs::write(&bomb, images::decode::png_claiming(60_000, 60_000)).expect("write");
        match load_reference(&bomb.display().to_string()).await {
            Err(Refusal::Other(e)) => assert!(e.starts_with("refused"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn completes_paths_in_the_worker() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("photos")).expect("mkdir");
        std::fs::write(dir.path().join("photo.jpg"), b"x").expect("write");
        std::fs::write(dir.path().join(".hidden"), b"x").expect("write");
        let base = format!("{}/", dir.path().display());
        let got = complete_path(&format!("{base}pho")).await;
        assert_eq!(got, [format!("{base}photo.jpg"), format!("{base}photos/")]);
        assert_eq!(complete_path(&base).await.len(), 2);
    }
}
