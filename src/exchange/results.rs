//! Result images of an answer, obtained at once (base64 decoded, signed URLs downloaded before
//! they expire), saved under a directory when asked, and ready for the history. Shared by
//! `volcv send`, `volcv tasks resume` and [`crate::exchange::tasks`].

use crate::api::client::{Client, Exchange};
use crate::api::response::{Outcome, ResultImage};
use crate::exchange::fetch::{self, Failure, Obtained, Policy, Save};
use crate::images;
use crate::store::ResultFile;
use std::path::{Path, PathBuf};

/// What [`collect`] obtained.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    /// Where the images were saved, in order.
    pub paths: Vec<PathBuf>,
    /// One message per image that could not be obtained or saved.
    pub errors: Vec<String>,
    /// Every result image obtained (saved or not), for the history.
    pub kept: Vec<Obtained>,
}

impl Collected {
    /// The images as the history records them.
    pub fn result_files(&self) -> Vec<ResultFile<'_>> {
        self.kept.iter().map(Obtained::result_file).collect()
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
    let base = file_stem(exchange);
    let stem = |i: usize| format!("{base}-{}", i + 1);
    let policy = Policy {
        cancel: halt.map(|h| h.token),
        halt: halt.map(|h| h.reason),
        save: dir.map(|dir| Save { dir, stem: &stem }),
        ..Policy::default()
    };
    let mut rep = Collected::default();
    for got in fetch::fetch_all(client, list, policy).await {
        match got.image {
            Ok(k) => {
                rep.paths.extend(k.path.clone());
                rep.kept.push(k);
            }
            Err(Failure::Cancelled) => rep.errors.push(format!(
                "image {}: not downloaded: stopped by {}",
                got.index + 1,
                halt.and_then(|h| (h.reason)()).unwrap_or("a signal")
            )),
            Err(e) => rep.errors.push(e.numbered(got.index)),
        }
        rep.errors.extend(got.unsaved);
    }
    rep
}
