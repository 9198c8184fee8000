//! The one fetcher of an answer's result images: base64 decoded, signed URLs downloaded
//! before they expire, optionally saved under a directory. What a server can make it spend is
//! bounded for the whole answer: at most [`MAX_URLS`] URLs are downloaded, each capped at
//! [`DOWNLOAD_CAP`] and all together at [`ANSWER_CAP`], within one deadline
//! ([`download_deadline`]: the client's timeout, at least [`DEADLINE_FLOOR`]). Its [`Policy`]
//! holds what the callers differ in: how many at once (the TUI four, the CLI and the sweep
//! all), a cancellation token that abandons a download in progress (the CLI's signal, the
//! sweep's abort) and a halt that stops between files (the CLI's signal).

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

/// Cap for the downloaded result images of one answer, all together (they are held until the
/// history write).
pub const ANSWER_CAP: usize = 256 * 1024 * 1024;

/// Most result URLs downloaded from one answer (the service returns a handful); the ones after
/// are listed as not downloaded.
pub const MAX_URLS: usize = 16;

/// The least time the downloads of one answer get, however short the client's timeout.
pub const DEADLINE_FLOOR: Duration = Duration::from_secs(10);

/// The one deadline the downloads of an answer share: the client's `timeout` (`--timeout`),
/// at least [`DEADLINE_FLOOR`].
pub fn download_deadline(timeout: Duration) -> Duration {
    timeout.max(DEADLINE_FLOOR)
}

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
    /// Not finished within the answer's download deadline (the duration).
    TimedOut(Duration),
    /// Never started: the answer lists more URLs (this many) than [`MAX_URLS`].
    TooMany(usize),
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
            Failure::TimedOut(d) => write!(
                f,
                "download timed out after {d:?} (the downloads of one answer share one deadline)"
            ),
            Failure::TooMany(n) => write!(
                f,
                "not downloaded: the answer lists {n} URLs, at most {MAX_URLS} are downloaded"
            ),
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
    /// Most bytes downloaded for the answer, all images together.
    pub total_cap: usize,
    /// The time all downloads of the answer share; `None`: [`download_deadline`] of the
    /// client's timeout.
    pub deadline: Option<Duration>,
    /// Abandons a download in progress ([`Failure::Cancelled`]).
    pub cancel: Option<&'a CancellationToken>,
    /// Asked before each image; once it says why, the rest are not obtained
    /// ([`Failure::Halted`]), so every file saved is complete.
    pub halt: Option<&'a (dyn Fn() -> Option<&'static str> + Sync)>,
    /// Saves each obtained image.
    pub save: Option<Save<'a>>,
}

impl Default for Policy<'_> {
    /// All at once ([`MAX_URLS`]), capped at [`DOWNLOAD_CAP`] each and [`ANSWER_CAP`] in all,
    /// within [`download_deadline`], never stopped, nothing saved.
    fn default() -> Self {
        Policy {
            at_once: MAX_URLS,
            cap: DOWNLOAD_CAP,
            total_cap: ANSWER_CAP,
            deadline: None,
            cancel: None,
            halt: None,
            save: None,
        }
    }
}

/// What the downloads of one answer share: the byte budget and the deadline.
struct Shared<'a> {
    policy: Policy<'a>,
    budget: images::Budget,
    deadline: tokio::time::Instant,
    limit: Duration,
    /// How many URLs the answer lists.
    urls: usize,
}

/// The bytes of one result image: decoded base64, or downloaded (capped, within the shared
/// deadline and budget, given up when `cancel` fires).
async fn bytes_of(
    client: &Client,
    img: &ResultImage,
    shared: &Shared<'_>,
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
            let download = images::download_within(
                client.http(),
                u,
                shared.policy.cap,
                shared.limit,
                &shared.budget,
            );
            let timed = async {
                match tokio::time::timeout_at(shared.deadline, download).await {
                    // The download's own timeout is the same time: whichever fires first.
                    Ok(Err(images::DownloadError::Timeout(_))) | Err(_) => {
                        Err(Failure::TimedOut(shared.limit))
                    }
                    Ok(got) => got.map(|(b, _)| b).map_err(Failure::Download),
                }
            };
            match shared.policy.cancel {
                Some(token) => tokio::select! {
                    got = timed => got,
                    () = token.cancelled() => Err(Failure::Cancelled),
                },
                None => timed.await,
            }
        }
    }
}

/// Obtains one result image under `policy`.
async fn fetch_one(
    client: &Client,
    index: usize,
    img: &ResultImage,
    over_count: bool,
    shared: &Shared<'_>,
) -> Fetched {
    let policy = shared.policy;
    let refused = if over_count {
        Some(Failure::TooMany(shared.urls))
    } else {
        policy.halt.and_then(|h| h()).map(Failure::Halted)
    };
    if let Some(failure) = refused {
        return Fetched {
            index,
            image: Err(failure),
            unsaved: None,
        };
    }
    let bytes = match bytes_of(client, img, shared).await {
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
/// The deadline and the byte budget start here, shared by all the images of `list`.
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
    let limit = policy
        .deadline
        .unwrap_or_else(|| download_deadline(client.options.timeout));
    let is_url = |img: &ResultImage| matches!(img, ResultImage::Url(_));
    let shared = Shared {
        policy,
        budget: images::Budget::new(policy.total_cap),
        deadline: tokio::time::Instant::now() + limit,
        limit,
        urls: list.iter().filter(|i| is_url(i)).count(),
    };
    let shared = &shared;
    // The URLs after the first MAX_URLS are not downloaded.
    let mut seen = 0;
    let numbered: Vec<(usize, &ResultImage, bool)> = list
        .iter()
        .enumerate()
        .map(|(index, img)| {
            seen += usize::from(is_url(img));
            (index, img, is_url(img) && seen > MAX_URLS)
        })
        .collect();
    // Collected first: a lazy iterator's closure held across the awaits would not be Send.
    let jobs: Vec<_> = numbered
        .into_iter()
        .map(|(index, img, over_count)| async move {
            each(fetch_one(client, index, img, over_count, shared).await).await
        })
        .collect();
    // Inline (base64) images have no network wait to overlap: with a halt (the CLI's signal)
    // they are decoded and saved one at a time, so a signal stops between files, as the CLI
    // promises; downloads run `at_once` (a signal cancels the ones in progress).
    let width = if shared.urls == 0 && shared.policy.halt.is_some() {
        1
    } else {
        shared.policy.at_once.max(1)
    };
    futures::stream::iter(jobs)
        .buffer_unordered(width)
        .collect()
        .await
}

/// [`fetch_each`] keeping what was fetched as it is, in the answer's order.
pub async fn fetch_all(client: &Client, list: &[ResultImage], policy: Policy<'_>) -> Vec<Fetched> {
    let mut all = fetch_each(client, list, policy, std::future::ready).await;
    all.sort_by_key(|f| f.index);
    all
}
