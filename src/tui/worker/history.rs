//! The history jobs: the store opened once, its changes watched, History pane commands, a
//! recorded entry opened into the Response pane, and pending async tasks resumed at start.

use super::{Worker, report_panic_in_status};
use crate::api::client::Client;
use crate::images;
use crate::store::{OutcomeKind, Store};
use crate::tui::doc::Tok;
use crate::tui::msg::{HistoryCmd, Msg, Opened};
use crate::tui::view::request_doc_of;
use crate::tui::view::{ImageState, ResponseView, Verdict, view_of};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// How often the history store's change counter is read for rows written elsewhere when the
/// data dir cannot be watched (no inotify); with it, the counter is read only after a write.
pub const HISTORY_POLL: Duration = Duration::from_secs(1);

/// The history store the worker records into, opened on first use (on the blocking pool).
#[derive(Debug, Clone)]
pub struct HistoryStore {
    pub(super) data_dir: PathBuf,
    /// The profile name recorded with each request.
    pub(super) profile: String,
    /// The demo store: opening it marks the tasks of ended demo backends lost.
    pub(super) demo: bool,
    pub(super) cell: Arc<tokio::sync::OnceCell<Result<Arc<Store>, String>>>,
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
                    let opened = if demo {
                        Store::open_demo(&dir).map(|(store, lost)| {
                            for t in &lost {
                                tracing::info!(id = t.id, "history: {}", t.message);
                            }
                            store
                        })
                    } else {
                        Store::open(&dir)
                    };
                    let store = match opened {
                        Ok(s) => s,
                        // A history that can only be read here (a read-only mount, a dir the
                        // user may only read) is still browsed; requests are sent, not recorded.
                        Err(first) => match Store::open_read_only(&dir) {
                            Ok(s) => {
                                tracing::warn!("history: read-only here ({first})");
                                return Ok(Arc::new(s));
                            }
                            Err(_) => return Err(first.to_string()),
                        },
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
pub(super) async fn with_store<T: Send + 'static>(
    store: &HistoryStore,
    f: impl FnOnce(&Store) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let s = store.get().await?;
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// Collects the async tasks a previous run (or a killed `volcv send --mode async`) left
/// pending at this endpoint; the History pane follows them through the store.
pub(super) async fn resume_tasks(
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
pub(super) async fn watch_history(store: HistoryStore, tx: UnboundedSender<Msg>) {
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
            None => {
                seen = Some(seq);
                let read_only = with_store(&store, |s| Ok(s.is_read_only()))
                    .await
                    .unwrap_or(false);
                if read_only {
                    let text = format!(
                        "the history in {} can only be read here: browsing works; requests \
                         are sent and their images saved, but not recorded",
                        store.data_dir.display()
                    );
                    if tx.send(Msg::Saved { text, error: true }).is_err() {
                        return;
                    }
                }
            }
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
                // One label per format: a stored `.jpg` is shown as the JPEG it is, as a
                // result of this run is (it said `JPG` beside `JPEG`).
                item.format = images::Format::from_extension(&img.ext)
                    .map_or_else(|| img.ext.to_uppercase(), |f| f.name().to_owned());
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

impl Worker {
    /// Runs a history command, when there is a store.
    pub(super) fn history(&self, h: HistoryCmd) {
        if let Some(store) = self.history.clone() {
            let tx = self.tx.clone();
            let task = tokio::spawn(history_cmd(store, h, tx));
            report_panic_in_status(&self.tx, "the history command", task);
        }
    }
}
