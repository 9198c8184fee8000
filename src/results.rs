//! Result images of an answer, obtained at once (base64 decoded, signed URLs downloaded before
//! they expire), saved under a directory when asked, and ready for the history. Shared by
//! `volcv send`, `volcv tasks resume` and [`crate::tasks`].

use crate::api::client::{Client, Exchange};
use crate::api::response::{Outcome, ResultImage};
use crate::images;
use crate::store::ResultFile;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Cap for one downloaded result image.
pub const DOWNLOAD_CAP: usize = 64 * 1024 * 1024;

/// What [`collect`] obtained.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    /// Where the images were saved, in order.
    pub paths: Vec<PathBuf>,
    /// One message per image that could not be obtained or saved.
    pub errors: Vec<String>,
    /// Every result image obtained (saved or not), for the history.
    pub kept: Vec<Kept>,
}

/// A result image's bytes, where it came from and where it was saved.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Position among the answer's result images (0-based).
    pub index: usize,
    pub bytes: Vec<u8>,
    /// The URL it was downloaded from, for URL results.
    pub url: Option<String>,
    /// Where it was saved, if it was.
    pub path: Option<PathBuf>,
}

impl Collected {
    /// The images as the history records them.
    pub fn result_files(&self) -> Vec<ResultFile<'_>> {
        self.kept
            .iter()
            .map(|k| ResultFile {
                index: k.index,
                bytes: &k.bytes,
                url: k.url.as_deref(),
                saved_path: k.path.as_deref(),
            })
            .collect()
    }
}

/// The file name stem of an answer's result images, `volcv-YYYYMMDD-HHMMSS-<request id
/// tail>` (`-N.<ext>` follows): the time it was sent and the random end of its request id,
/// never a name the server chose.
pub fn file_stem(exchange: &Exchange) -> String {
    let stamp = exchange
        .started_at
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let rid = exchange
        .outcome()
        .and_then(Outcome::request_id)
        .map(|r| {
            // Request ids start with a timestamp (already in the name): keep the random tail.
            let safe = images::safe_component(r, 64);
            safe[safe.len().saturating_sub(8)..].to_owned()
        })
        .unwrap_or_default();
    if rid.is_empty() {
        format!("volcv-{stamp}")
    } else {
        format!("volcv-{stamp}-{rid}")
    }
}

/// A stop request (a signal) that ends collecting between files.
#[derive(Clone, Copy)]
pub struct Halt<'a> {
    /// Cancelled when collecting should stop (a download in progress is abandoned).
    pub token: &'a tokio_util::sync::CancellationToken,
    /// What stopped it, for the messages (`SIGTERM`...), once it has.
    pub reason: &'a (dyn Fn() -> Option<&'static str> + Sync),
}

/// Obtains every result image: base64 decoded, URLs downloaded at once (they expire). With
/// `dir`, each is saved there as `volcv-YYYYMMDD-HHMMSS-<request id tail>-N.<ext>` (never
/// replacing a file).
pub async fn collect(
    client: &Client,
    list: &[ResultImage],
    exchange: &Exchange,
    dir: Option<&Path>,
) -> Collected {
    collect_until(client, list, exchange, dir, None).await
}

/// [`collect`], stopping between files (every file saved is complete) when `halt` fires.
pub async fn collect_until(
    client: &Client,
    list: &[ResultImage],
    exchange: &Exchange,
    dir: Option<&Path>,
    halt: Option<Halt<'_>>,
) -> Collected {
    let mut rep = Collected::default();
    let base = file_stem(exchange);
    let timeout = client.options.timeout.max(Duration::from_secs(30));
    for (i, img) in list.iter().enumerate() {
        // A stop signal ends the saving between files: every file saved is complete.
        if let Some(why) = halt.and_then(|h| (h.reason)()) {
            rep.errors
                .push(format!("image {}: not saved: stopped by {why}", i + 1));
            continue;
        }
        let stem = format!("{base}-{}", i + 1);
        let bytes = match img {
            ResultImage::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| format!("image {}: invalid base64 from the server: {e}", i + 1)),
            ResultImage::Url(u) => {
                let download = images::download(client.http(), u, DOWNLOAD_CAP, timeout);
                let got = match halt {
                    Some(h) => tokio::select! {
                        got = download => Some(got),
                        () = h.token.cancelled() => None,
                    },
                    None => Some(download.await),
                };
                match got {
                    Some(got) => got
                        .map(|(b, _)| b)
                        .map_err(|e| format!("image {}: download failed: {e}", i + 1)),
                    None => Err(format!(
                        "image {}: not downloaded: stopped by {}",
                        i + 1,
                        halt.and_then(|h| (h.reason)()).unwrap_or("a signal")
                    )),
                }
            }
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                rep.errors.push(e);
                continue;
            }
        };
        // Unknown content is kept (the result was paid for) but marked as such.
        let ext = images::sniff(&bytes).map_or("bin", images::Format::extension);
        rep.kept.push(Kept {
            index: i,
            bytes: bytes.clone(),
            url: match img {
                ResultImage::Url(u) => Some(u.clone()),
                ResultImage::Base64(_) => None,
            },
            path: None,
        });
        let Some(dir) = dir else {
            continue;
        };
        let dir = dir.to_path_buf();
        let saved =
            tokio::task::spawn_blocking(move || images::save_unique(&dir, &stem, ext, &bytes))
                .await;
        match saved {
            Ok(Ok(p)) => {
                if let Some(k) = rep.kept.last_mut() {
                    k.path = Some(p.clone());
                }
                rep.paths.push(p);
            }
            Ok(Err(e)) => rep
                .errors
                .push(format!("image {}: cannot save: {e}", i + 1)),
            Err(e) => rep
                .errors
                .push(format!("image {}: cannot save: {e}", i + 1)),
        }
    }
    rep
}
