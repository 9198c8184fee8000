//! The worker: runs commands on tokio tasks and reports back as messages. It is the only part
//! of the UI that awaits the network or the disk; heavy formatting (pretty JSON of a 10 MB
//! body, base64 chips) happens here too, on the blocking pool, never on the UI task.
//!
//! [`Worker::run`] only dispatches a [`Cmd`] to its job: one file per job (`send`, `history`,
//! `sweep`, `presets`, `reference`, `previews`, `files`). The Response pane's view model is
//! built by [`crate::tui::view::view_of`].

mod files;
mod history;
mod presets;
mod previews;
mod reference;
mod send;
mod sweep;

use files::DraftWriter;
pub use files::{DRAFT_DEBOUNCE, complete_path};
pub use history::{HISTORY_POLL, HistoryStore, open_entry};
use history::{resume_tasks, watch_history};
pub use previews::{decode_for_preview, encode_preview};
pub use reference::{fit_reference_file, load_reference};
pub use send::DOWNLOADS_AT_ONCE;

use crate::api::client::Client;
use crate::exchange::fetch::DOWNLOAD_CAP;
use crate::tui::msg::{Cmd, Msg};
use crate::tui::preview::Setup;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

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
    /// Whether pending async tasks are collected when the history is attached (not when
    /// nothing can be sent: no credentials).
    resume_at_start: bool,
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
            resume_at_start: true,
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

    /// Whether pending async tasks are collected at start (call before the history).
    pub fn resuming_tasks(mut self, yes: bool) -> Worker {
        self.resume_at_start = yes;
        self
    }

    fn attach_history(mut self, store: HistoryStore) -> Worker {
        tokio::spawn(watch_history(store.clone(), self.tx.clone()));
        if self.resume_at_start {
            tokio::spawn(resume_tasks(
                store.clone(),
                self.client.clone(),
                self.resume.clone(),
                self.tx.clone(),
            ));
        }
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

    /// Caps result downloads at `cap` bytes instead of [`DOWNLOAD_CAP`].
    pub fn with_download_cap(mut self, cap: usize) -> Worker {
        self.download_cap = cap;
        self
    }

    /// Starts a command and returns at once.
    pub fn run(&self, cmd: Cmd) {
        match cmd {
            Cmd::Send { id, body } => self.start_send(id, body, false),
            Cmd::SendAsync { id, body } => self.start_send(id, body, true),
            Cmd::SaveDraft(text) => {
                if let Some(d) = &self.draft {
                    d.save(text);
                }
            }
            Cmd::Cancel(id) => {
                if let Ok(t) = self.tokens.lock()
                    && let Some(token) = t.get(&id)
                {
                    token.cancel();
                }
            }
            Cmd::UsePreviews(setup) => self.use_previews(setup.0.as_ref().clone()),
            Cmd::Curl(body) => self.curl(body),
            Cmd::WriteText { text, path } => self.write_text(text, path),
            Cmd::Sweep { n, plan } => self.sweep(n, plan),
            Cmd::PrepareSweep { base, args } => self.prepare_sweep(base, args),
            Cmd::StopSweep { n, abort } => self.stop_sweep(n, abort),
            Cmd::OpenSweep { n, id } => self.open_sweep(n, id),
            Cmd::Presets(p) => self.presets(p),
            Cmd::History(h) => self.history(h),
            Cmd::LoadReference(input) => self.load_reference(input),
            Cmd::FitReference(input) => self.fit_reference(input),
            Cmd::EncodePreview {
                key,
                generation,
                image,
                width,
                height,
            } => self.encode_preview(key, generation, image, width, height),
            Cmd::DecodePreview { key, source } => self.decode_preview(key, source),
            Cmd::SaveImage { source, path } => self.save_image(source, path),
            Cmd::SaveAll { items, dir } => self.save_all(items, dir),
            Cmd::Complete(input) => self.complete(input),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
