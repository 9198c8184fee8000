//! Image files: format sniffing, safe unique names, atomic saves and URL downloads. No
//! terminal code here.

pub mod decode;
pub mod input;
pub mod reference;
pub mod staged;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An image format recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
        }
    }

    /// The format a file extension stands for (`jpg` and `jpeg` alike, any case).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "gif" => Some(Format::Gif),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WebP",
            Format::Gif => "GIF",
        }
    }
}

/// The format of image bytes, from their magic number.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else {
        None
    }
}

/// Width and height from the image header, without decoding the pixels.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Keeps `[A-Za-z0-9_-]` of untrusted text (a request id) for use inside a file name.
pub fn safe_component(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(max)
        .collect()
}

/// Writes `bytes` into `dir` under `stem.ext`, or `stem-2.ext`, `stem-3.ext`... if taken. The
/// data is written and synced first (see [`staged`]: on Linux into an anonymous file, so even
/// `kill -9` leaves nothing) and linked into place only when complete, so no half-written
/// image is ever visible under its final name and no existing file is replaced.
pub fn save_unique(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let file = staged::Staged::write(dir, stem, "part", bytes)?;
    for n in 1..10_000u32 {
        let name = if n == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let path = dir.join(name);
        match file.link_new(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "no free file name for {stem}.{ext} in {}",
        dir.display()
    )))
}

/// When a signed result URL stops working: its `x-expires` query parameter (Unix seconds),
/// matched without regard to case.
pub fn url_expiry(url: &str) -> Option<time::OffsetDateTime> {
    let parsed = url::Url::parse(url).ok()?;
    let secs = parsed
        .query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-expires"))
        .and_then(|(_, v)| v.parse::<i64>().ok())?;
    time::OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// `expires 16:40 UTC` for a URL with `x-expires`, `expired 16:40 UTC` once `now` is past it.
pub fn expiry_label(url: &str, now: time::OffsetDateTime) -> Option<String> {
    let at = url_expiry(url)?;
    let verb = if at <= now { "expired" } else { "expires" };
    let day = if at.date() == now.date() {
        String::new()
    } else {
        format!("{} ", at.date())
    };
    Some(format!(
        "{verb} {day}{:02}:{:02} UTC",
        at.hour(),
        at.minute()
    ))
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("only http and https URLs are downloaded, not {0:?}")]
    Scheme(String),
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("HTTP {status}: {excerpt}")]
    Status { status: u16, excerpt: String },
    #[error("larger than the {0} byte cap")]
    TooLarge(usize),
    #[error("the downloads of this answer would pass {0} bytes together (the cap for one answer)")]
    OverBudget(usize),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("not an image (content does not start like JPEG, PNG, WebP or GIF)")]
    NotImage,
    #[error("{0}")]
    Network(String),
}

/// Bytes that several downloads share (the result images of one answer): every chunk
/// received is taken from it, and a download that fails (or is abandoned) gives back what it
/// took, so only the images kept count.
#[derive(Debug)]
pub struct Budget {
    left: AtomicUsize,
    total: usize,
}

impl Budget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Budget {
        Budget {
            left: AtomicUsize::new(total),
            total,
        }
    }

    /// Bytes not yet taken.
    pub fn left(&self) -> usize {
        self.left.load(Ordering::SeqCst)
    }

    fn take(&self, n: usize) -> bool {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(n))
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.left.fetch_add(n, Ordering::SeqCst);
    }
}

/// What one download took from a [`Budget`], given back when dropped unless kept.
struct Taken<'a> {
    budget: &'a Budget,
    n: usize,
    kept: bool,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.budget.give(self.n);
        }
    }
}

/// Downloads an image URL with a size cap and a timeout covering the whole body, checking that
/// the content is an image. Returns the bytes and their format.
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    cap: usize,
    timeout: Duration,
) -> Result<(Vec<u8>, Format), DownloadError> {
    download_within(http, url, cap, timeout, &Budget::new(usize::MAX)).await
}

/// [`download`], taking the bytes received from `budget` (shared with the other downloads of
/// the same answer): past it, [`DownloadError::OverBudget`]. The bytes of a successful
/// download stay taken.
pub async fn download_within(
    http: &reqwest::Client,
    url: &str,
    cap: usize,
    timeout: Duration,
    budget: &Budget,
) -> Result<(Vec<u8>, Format), DownloadError> {
    let parsed = url::Url::parse(url).map_err(|e| DownloadError::Url(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DownloadError::Scheme(parsed.scheme().to_owned()));
    }
    let work = async {
        let mut resp = http
            .get(parsed)
            .send()
            .await
            .map_err(|e| DownloadError::Network(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(DownloadError::TooLarge(cap));
        }
        let mut taken = Taken {
            budget,
            n: 0,
            kept: false,
        };
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| DownloadError::Network(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > cap {
                return Err(DownloadError::TooLarge(cap));
            }
            if !budget.take(chunk.len()) {
                return Err(DownloadError::OverBudget(budget.total));
            }
            taken.n += chunk.len();
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(DownloadError::Status {
                status,
                excerpt: crate::text::escape_terminal(&text, false),
            });
        }
        let format = sniff(&body).ok_or(DownloadError::NotImage)?;
        taken.kept = true;
        Ok((body, format))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| DownloadError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_one_format_each() {
        assert_eq!(
            Format::from_extension("jpg").map(Format::name),
            Some("JPEG")
        );
        assert_eq!(
            Format::from_extension("JPEG").map(Format::name),
            Some("JPEG")
        );
        assert_eq!(Format::from_extension("png").map(Format::name), Some("PNG"));
        assert_eq!(Format::from_extension("bin"), None);
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"<html>"), None);
    }

    #[test]
    fn expiry_is_read_from_the_url() {
        let url = "http://127.0.0.1:1/images/a.jpg?X-Expires=1700000400&x-signature=ab";
        let now = time::macros::datetime!(2023-11-14 22:00 UTC);
        assert_eq!(expiry_label(url, now).as_deref(), Some("expires 22:20 UTC"));
        let later = time::macros::datetime!(2023-11-14 23:00 UTC);
        assert_eq!(
            expiry_label(url, later).as_deref(),
            Some("expired 22:20 UTC")
        );
        assert_eq!(expiry_label("https://example.com/a.jpg", now), None);
        assert_eq!(
            expiry_label("https://e.com/a.jpg?x-expires=soon", now),
            None
        );
    }

    #[test]
    fn safe_component_drops_path_tricks() {
        assert_eq!(safe_component("../../etc/passwd", 20), "etcpasswd");
        assert_eq!(
            safe_component("2024110517020569520218533D2EA96060", 8),
            "20241105"
        );
    }

    #[test]
    fn save_unique_never_overwrites_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = save_unique(dir.path(), "img", "jpg", b"one").expect("save a");
        let b = save_unique(dir.path(), "img", "jpg", b"two").expect("save b");
        assert_eq!(a.file_name().and_then(|n| n.to_str()), Some("img.jpg"));
        assert_eq!(b.file_name().and_then(|n| n.to_str()), Some("img-2.jpg"));
        assert_eq!(std::fs::read(&a).expect("read a"), b"one");
        assert_eq!(std::fs::read(&b).expect("read b"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
