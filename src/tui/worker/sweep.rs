//! The sweep jobs: a sweep planned, run through the sweep runner with its events relayed to
//! the Sweep pane, stopped, and read back from the history.

use super::history::{HistoryStore, with_store};
use super::panic_text;
use super::previews::decode_for_preview;
use super::{Worker, report_panic, report_panic_in_status};
use crate::api::client::Client;
use crate::tui::msg::{Msg, PlanRef};
use crate::tui::preview::ImageKey;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

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
                result: Ok(r.duration),
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
                result: Err(format!(
                    "the sweep failed: internal error (a bug, please report it): {text}"
                )),
            },
        });
    }
    if let Ok(mut s) = sweeps.lock() {
        s.remove(&n);
    }
}

impl Worker {
    /// Starts sweep `n` of this run on its own task.
    pub(super) fn sweep(&self, n: u64, plan: PlanRef) {
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
                    result: Err(text),
                },
            }
        });
    }

    /// Builds a sweep plan from the base request and the sweep arguments.
    pub(super) fn prepare_sweep(&self, base: Value, args: Vec<String>) {
        let tx = self.tx.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = crate::sweep::prepare(base, &args).map(Box::new);
            let _ = tx.send(Msg::SweepPrepared(result));
        });
        report_panic(&self.tx, "preparing the sweep", task, |e| {
            Msg::SweepPrepared(Err(vec![e]))
        });
    }

    /// Stops sweep `n` (with `abort`, cuts off its cells in flight too).
    pub(super) fn stop_sweep(&self, n: u64, abort: bool) {
        if let Ok(s) = self.sweeps.lock()
            && let Some(c) = s.get(&n)
        {
            c.stop.cancel();
            if abort {
                c.abort.cancel();
            }
        }
    }

    /// Reads a recorded sweep back from the history.
    pub(super) fn open_sweep(&self, n: u64, id: String) {
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
}
