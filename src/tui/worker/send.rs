//! The send job: one request (sync, or async with polling) recorded in the history, its
//! answer formatted for the Response pane and its result images fetched, previewed and saved.

use super::Worker;
use super::history::{HistoryStore, with_store};
use super::panic_text;
use super::previews::decode_for_preview;
use crate::api::client::{Client, Exchange};
use crate::api::response::Outcome;
use crate::exchange::Pending;
use crate::exchange::fetch::{Obtained, Policy, fetch_each};
use crate::images;
use crate::store::Store;
use crate::tui::doc::Doc;
use crate::tui::msg::{ImageFacts, Msg};
use crate::tui::preview::ImageKey;
use crate::tui::view::{ImageState, ResponseView, Verdict, fmt_duration, view_of};
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Result images fetched at the same time.
pub const DOWNLOADS_AT_ONCE: usize = 4;

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
            .get(crate::api::schema::REFERENCE_BASE64)
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
            let pending = Pending::new(&client, &h.profile, &action, bytes.clone());
            let b = bytes.clone();
            let result = with_store(h, move |s| {
                s.begin(&pending.entry(&b)).map_err(|e| e.to_string())
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
                Ok(o) => Some(keep(&tx, id, o, opts.decode).await),
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
    let run_opts = crate::exchange::tasks::RunOptions::default();
    let first_poll = run_opts.policy.first_delay;
    let on_event = move |ev: &crate::api::tasks::TaskEvent| {
        use crate::api::tasks::TaskEvent;
        let text = match ev {
            TaskEvent::Submitted { task_id } => {
                format!(
                    "submitted, task {} · first poll in {}",
                    crate::text::truncate_chars(task_id, 24),
                    fmt_duration(first_poll)
                )
            }
            TaskEvent::Status {
                status,
                elapsed,
                next_poll,
                ..
            } => match next_poll {
                Some(next) => format!(
                    "{} after {} · next poll in {}",
                    status.as_str(),
                    fmt_duration(*elapsed),
                    fmt_duration(*next)
                ),
                None => format!("{} after {}", status.as_str(), fmt_duration(*elapsed)),
            },
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
    let run =
        crate::exchange::tasks::run(&client, &body, record, &run_opts, &token, on_event).await;
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
    for o in finished.collected.kept {
        kept.push(keep(&tx, id, o, opts.decode).await);
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
            // The images dir may be unwritable too (a read-only or full data dir): then the
            // working directory, as `volcv send` saves into it, so the result is not lost.
            images::save_unique(&d, &stem, ext, &b).or_else(|first| {
                std::env::current_dir()
                    .ok()
                    .filter(|cwd| *cwd != d)
                    .and_then(|cwd| images::save_unique(&cwd, &stem, ext, &b).ok())
                    .ok_or(first)
            })
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

/// A result image of request `id` obtained: its facts for the Response pane, decoded for a
/// preview when `decode` (the preview sent to the UI at once).
async fn keep(tx: &UnboundedSender<Msg>, id: u64, o: Obtained, decode: bool) -> Kept {
    let facts = facts_of(&o.bytes);
    if decode {
        let b = Arc::clone(&o.bytes);
        let result = tokio::task::spawn_blocking(move || decode_for_preview(&b))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let _ = tx.send(Msg::PreviewDecoded {
            key: ImageKey::Result { id, index: o.index },
            result,
        });
    }
    Kept {
        index: o.index,
        bytes: o.bytes,
        facts,
        url: o.url,
    }
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

impl Worker {
    /// Starts a request (sync or async) on its own task, cancellable by its id.
    pub(super) fn start_send(&self, id: u64, body: Value, asynchronous: bool) {
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
}
