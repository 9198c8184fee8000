//! The file jobs: the draft kept across restarts, images and curl commands written to files,
//! the curl export, and path completion.

use super::{Worker, report_panic, report_panic_in_status};
use crate::images;
use crate::tui::msg::{ImageSource, Msg};
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a change of the form waits before the draft is written (changes meanwhile are
/// written together, once).
pub const DRAFT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Writes the draft file: the newest text handed over, at most once per [`DRAFT_DEBOUNCE`].
#[derive(Debug)]
pub(super) struct DraftWriter {
    pub(super) path: PathBuf,
    /// The newest text not written yet, with its number.
    pub(super) pending: Mutex<Option<(u64, String)>>,
    pub(super) next: std::sync::atomic::AtomicU64,
    /// A write is due (a task is waiting for the debounce).
    pub(super) scheduled: std::sync::atomic::AtomicBool,
    /// The number of the text on disk (an older one is never written over a newer one).
    pub(super) written: Mutex<u64>,
}

impl DraftWriter {
    pub(super) fn save(self: &Arc<Self>, text: String) {
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

    pub(super) async fn write_pending(self: &Arc<Self>) {
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

pub(super) async fn source_bytes(source: ImageSource) -> Result<Vec<u8>, String> {
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
    // One rule for `s`, `o` and the CLI: a file is never replaced; an existing name gets the
    // next free `-2`, `-3`... (said in the message).
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: no file name", path.display()))?;
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), e.to_owned()),
        _ => (
            name.clone(),
            images::sniff(&bytes)
                .map_or("bin", images::Format::extension)
                .to_owned(),
        ),
    };
    tokio::task::spawn_blocking(move || {
        images::save_unique(&dir, &stem, &ext, &bytes)
            .map_err(|e| format!("cannot save into {}: {e}", dir.display()))
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

/// Most path completions offered at once.
const MAX_COMPLETIONS: usize = 50;

pub(super) fn expand_home(input: &str) -> PathBuf {
    match (input.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(input),
    }
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

impl Worker {
    /// Builds the curl command of a request body.
    pub(super) fn curl(&self, body: Value) {
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

    /// Writes a curl command too long to copy into a file.
    pub(super) fn write_text(&self, text: String, path: PathBuf) {
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

    /// Saves one image as a file.
    pub(super) fn save_image(&self, source: ImageSource, path: PathBuf) {
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let asked = expand_home(&path.display().to_string());
            let msg = match save_copy(source, path).await {
                Ok(p) if p == asked => Msg::Saved {
                    text: format!("saved {}", p.display()),
                    error: false,
                },
                Ok(p) => Msg::Saved {
                    text: format!(
                        "saved {} ({} exists; volcv never replaces a file)",
                        p.display(),
                        asked.file_name().unwrap_or_default().to_string_lossy()
                    ),
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

    /// Saves images into a directory, one file each.
    pub(super) fn save_all(&self, items: Vec<(ImageSource, String)>, dir: PathBuf) {
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

    /// Completes a path typed in a field.
    pub(super) fn complete(&self, input: String) {
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let candidates = complete_path(&input).await;
            let _ = tx.send(Msg::Completed { input, candidates });
        });
        report_panic_in_status(&self.tx, "completing the path", task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn saving_over_an_existing_name_takes_the_next_free_one_as_o_does() {
        let dir = tempfile::tempdir().expect("tmp");
        let src = dir.path().join("store.png");
        std::fs::write(&src, b"new bytes").expect("write");
        let asked = dir.path().join("out").join("cat.png");
        std::fs::create_dir_all(asked.parent().expect("parent")).expect("mkdir");
        std::fs::write(&asked, b"kept").expect("write");
        let saved = save_copy(ImageSource::File(src.clone()), asked.clone())
            .await
            .expect("saved");
        assert_eq!(saved, dir.path().join("out").join("cat-2.png"));
        assert_eq!(
            std::fs::read(&asked).expect("read"),
            b"kept",
            "never replaced"
        );
        assert_eq!(std::fs::read(&saved).expect("read"), b"new bytes");
        // A name without an extension takes the image's own.
        let png = b"\x89PNG\r\n\x1a\n and the rest".to_vec();
        std::fs::write(&src, &png).expect("write");
        let saved = save_copy(ImageSource::File(src), dir.path().join("plain"))
            .await
            .expect("saved");
        assert_eq!(saved, dir.path().join("plain.png"));
    }
}
