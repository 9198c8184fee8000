//! The one fetcher of an answer's result images: base64 decoded, signed URLs downloaded
//! before they expire (capped at [`DOWNLOAD_CAP`] unless told otherwise), optionally saved
//! under a directory. Its [`Policy`] holds what the callers differ in: how many at once (the
//! TUI four, the CLI and the sweep one), a cancellation token that abandons a download in
//! progress (the CLI's signal, the sweep's abort) and a halt that stops between files (the
//! CLI's signal).

use crate::api::client::Client;
use crate::api::response::ResultImage;
use crate::images;
use crate::store::ResultFile;
use base64::Engine as _;
use futures::StreamExt as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Cap for one downloaded result image.
pub const DOWNLOAD_CAP: usize = 64 * 1024 * 1024;

/// A result image in hand: its bytes, where it came from and where it was saved.
#[derive(Debug, Clone)]
pub struct Obtained {
    /// Position among the answer's result images (0-based).
    pub index: usize,
    pub bytes: Arc<Vec<u8>>,
    /// The URL it was downloaded from, for URL results.
    pub url: Option<String>,
    /// Where it was saved, if it was.
    pub path: Option<PathBuf>,
}

impl Obtained {
    /// The image as the history records it.
    pub fn result_file(&self) -> ResultFile<'_> {
        ResultFile {
            index: self.index,
            bytes: self.bytes.as_slice(),
            url: self.url.as_deref(),
            saved_path: self.path.as_deref(),
        }
    }
}

/// Why a result image was not obtained.
#[derive(Debug)]
pub enum Failure {
    /// The server's base64 does not decode.
    Base64(base64::DecodeError),
    /// The URL could not be downloaded.
    Download(images::DownloadError),
    /// The download was abandoned: [`Policy::cancel`] fired.
    Cancelled,
    /// Never started: [`Policy::halt`] said why first.
    Halted(&'static str),
    /// The decoding task failed (a panic).
    Task(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Base64(e) => write!(f, "invalid base64: {e}"),
            Failure::Download(e) => write!(f, "download failed: {e}"),
            Failure::Cancelled => f.write_str("download cancelled"),
            Failure::Halted(why) => write!(f, "not saved: stopped by {why}"),
            Failure::Task(e) => f.write_str(e),
        }
    }
}

impl Failure {
    /// One line about image `index` (0-based) for a list of problems: `image 2: ...`.
    pub fn numbered(&self, index: usize) -> String {
        let n = index + 1;
        match self {
            Failure::Base64(e) => format!("image {n}: invalid base64 from the server: {e}"),
            other => format!("image {n}: {other}"),
        }
    }
}

/// What became of one result image.
#[derive(Debug)]
pub struct Fetched {
    /// Position among the answer's result images (0-based).
    pub index: usize,
    pub image: Result<Obtained, Failure>,
    /// Why an obtained image was not saved under [`Policy::save`].
    pub unsaved: Option<String>,
}

/// Where obtained images are saved: `dir/<stem(index)>.<ext>` (never replacing a file; the
/// extension from the content, `bin` when it is not a known image).
#[derive(Clone, Copy)]
pub struct Save<'a> {
    pub dir: &'a Path,
    pub stem: &'a (dyn Fn(usize) -> String + Sync),
}

/// How the images are obtained.
#[derive(Clone, Copy)]
pub struct Policy<'a> {
    /// Most images obtained at once (at least 1). With 1 they come in order.
    pub at_once: usize,
    /// Largest download in bytes.
    pub cap: usize,
    /// Abandons a download in progress ([`Failure::Cancelled`]).
    pub cancel: Option<&'a CancellationToken>,
    /// Asked before each image; once it says why, the rest are not obtained
    /// ([`Failure::Halted`]), so every file saved is complete.
    pub halt: Option<&'a (dyn Fn() -> Option<&'static str> + Sync)>,
    /// Saves each obtained image.
    pub save: Option<Save<'a>>,
}

impl Default for Policy<'_> {
    /// One at a time, capped at [`DOWNLOAD_CAP`], never stopped, nothing saved.
    fn default() -> Self {
        Policy {
            at_once: 1,
            cap: DOWNLOAD_CAP,
            cancel: None,
            halt: None,
            save: None,
        }
    }
}

/// The bytes of one result image: decoded base64, or downloaded (capped, timed out, given up
/// when `cancel` fires).
async fn bytes_of(
    client: &Client,
    img: &ResultImage,
    cap: usize,
    cancel: Option<&CancellationToken>,
) -> Result<Vec<u8>, Failure> {
    match img {
        ResultImage::Base64(b) => {
            let b = b.clone();
            tokio::task::spawn_blocking(move || {
                base64::engine::general_purpose::STANDARD.decode(b.trim())
            })
            .await
            .map_err(|e| Failure::Task(e.to_string()))?
            .map_err(Failure::Base64)
        }
        ResultImage::Url(u) => {
            let timeout = client.options.timeout.max(Duration::from_secs(30));
            let download = images::download(client.http(), u, cap, timeout);
            let got = match cancel {
                Some(token) => tokio::select! {
                    got = download => got,
                    () = token.cancelled() => return Err(Failure::Cancelled),
                },
                None => download.await,
            };
            got.map(|(b, _)| b).map_err(Failure::Download)
        }
    }
}

/// Obtains one result image under `policy`.
async fn fetch_one(
    client: &Client,
    index: usize,
    img: &ResultImage,
    policy: Policy<'_>,
) -> Fetched {
    if let Some(why) = policy.halt.and_then(|h| h()) {
        return Fetched {
            index,
            image: Err(Failure::Halted(why)),
            unsaved: None,
        };
    }
    let bytes = match bytes_of(client, img, policy.cap, policy.cancel).await {
        Ok(b) => Arc::new(b),
        Err(e) => {
            return Fetched {
                index,
                image: Err(e),
                unsaved: None,
            };
        }
    };
    let mut obtained = Obtained {
        index,
        bytes,
        url: match img {
            ResultImage::Url(u) => Some(u.clone()),
            ResultImage::Base64(_) => None,
        },
        path: None,
    };
    let mut unsaved = None;
    if let Some(save) = policy.save {
        // Unknown content is kept (the result was paid for) but marked as such.
        let ext = images::sniff(&obtained.bytes).map_or("bin", images::Format::extension);
        let (dir, stem, b) = (
            save.dir.to_path_buf(),
            (save.stem)(index),
            Arc::clone(&obtained.bytes),
        );
        let saved = tokio::task::spawn_blocking(move || {
            images::save_unique(&dir, &stem, ext, &b).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match saved {
            Ok(p) => obtained.path = Some(p),
            Err(e) => unsaved = Some(format!("image {}: cannot save: {e}", index + 1)),
        }
    }
    Fetched {
        index,
        image: Ok(obtained),
        unsaved,
    }
}

/// Obtains every image of `list` under `policy`, handing each to `each` as soon as it is in
/// hand (while the others go on); returns what `each` made of them, in the order they came.
pub async fn fetch_each<T, F, Fut>(
    client: &Client,
    list: &[ResultImage],
    policy: Policy<'_>,
    each: F,
) -> Vec<T>
where
    F: Fn(Fetched) -> Fut,
    Fut: Future<Output = T>,
{
    let each = &each;
    // Collected first: a lazy iterator's closure held across the awaits would not be Send.
    let jobs: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(index, img)| async move { each(fetch_one(client, index, img, policy).await).await })
        .collect();
    futures::stream::iter(jobs)
        .buffer_unordered(policy.at_once.max(1))
        .collect()
        .await
}

/// [`fetch_each`] keeping what was fetched as it is.
pub async fn fetch_all(client: &Client, list: &[ResultImage], policy: Policy<'_>) -> Vec<Fetched> {
    fetch_each(client, list, policy, std::future::ready).await
}
