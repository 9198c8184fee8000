//! The worker: runs commands on tokio tasks and reports back as messages. It is the only part
//! of the UI that awaits the network or the disk; heavy formatting (pretty JSON of a 10 MB
//! body, base64 chips) happens here too, on the blocking pool, never on the UI task.

use crate::api::client::{Client, Exchange, TransportError};
use crate::api::response::{Outcome, ResultImage};
use crate::api::schema::MAX_IMAGE_BYTES;
use crate::images;
use crate::tui::doc::{Base64Facts, Doc, DocLine, Tok, describe_base64};
use crate::tui::form::{LoadedImage, human_size};
use crate::tui::msg::{Cmd, Msg};
use crate::tui::view::{ImageItem, ImageState, ResponseView, Verdict, fmt_duration};
use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Facts of a string that is not base64 at all.
const UNKNOWN: Base64Facts = Base64Facts {
    format: "?",
    dims: None,
    bytes: 0,
};

/// Largest download of a result image.
const DOWNLOAD_CAP: usize = 64 * 1024 * 1024;
/// Most path completions offered at once.
const MAX_COMPLETIONS: usize = 50;

/// Runs commands; clone-free handle owned by the event loop.
#[derive(Debug)]
pub struct Worker {
    tx: UnboundedSender<Msg>,
    client: Client,
    images_dir: PathBuf,
    tokens: Arc<Mutex<HashMap<u64, CancellationToken>>>,
}

impl Worker {
    /// A worker sending results to `tx`, saving result images under `images_dir`.
    pub fn new(tx: UnboundedSender<Msg>, client: Client, images_dir: PathBuf) -> Worker {
        Worker {
            tx,
            client,
            images_dir,
            tokens: Arc::default(),
        }
    }

    /// Starts a command and returns at once.
    pub fn run(&self, cmd: Cmd) {
        match cmd {
            Cmd::Send { id, body } => {
                let token = CancellationToken::new();
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(id, token.clone());
                }
                let tokens = Arc::clone(&self.tokens);
                let client = self.client.clone();
                let tx = self.tx.clone();
                let dir = self.images_dir.clone();
                tokio::spawn(async move {
                    send(id, body, client, token, tx, dir).await;
                    if let Ok(mut t) = tokens.lock() {
                        t.remove(&id);
                    }
                });
            }
            Cmd::Cancel(id) => {
                if let Ok(t) = self.tokens.lock()
                    && let Some(token) = t.get(&id)
                {
                    token.cancel();
                }
            }
            Cmd::LoadReference(input) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = load_reference(&input).await;
                    let _ = tx.send(Msg::ReferenceLoaded { input, result });
                });
            }
            Cmd::Complete(input) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let candidates = complete_path(&input).await;
                    let _ = tx.send(Msg::Completed { input, candidates });
                });
            }
            // Handled by the event loop, which owns the terminal.
            Cmd::OpenEditor { .. } | Cmd::Copy(_) => {}
        }
    }

    /// Cancels every request in flight (on quit).
    pub fn cancel_all(&self) {
        if let Ok(t) = self.tokens.lock() {
            for token in t.values() {
                token.cancel();
            }
        }
    }
}

async fn send(
    id: u64,
    body: Value,
    client: Client,
    token: CancellationToken,
    tx: UnboundedSender<Msg>,
    dir: PathBuf,
) {
    tracing::info!(id, "sending");
    let exchange = client.send(&body, &token).await;
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
    let Some(Outcome::Success(s)) = exchange.outcome() else {
        return;
    };
    let stem_base = file_stem(&exchange);
    let timeout = client.options.timeout.max(Duration::from_secs(30));
    for (index, img) in s.images.iter().enumerate() {
        let state = save_image(
            &client,
            img,
            &dir,
            &format!("{stem_base}-{}", index + 1),
            timeout,
        )
        .await;
        let _ = tx.send(Msg::ImageSaved { id, index, state });
    }
}

fn file_stem(exchange: &Exchange) -> String {
    let stamp = exchange
        .started_at
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let rid = exchange
        .outcome()
        .and_then(Outcome::request_id)
        .map(|r| images::safe_component(r, 12))
        .unwrap_or_default();
    if rid.is_empty() {
        format!("volcv-{stamp}")
    } else {
        format!("volcv-{stamp}-{rid}")
    }
}

async fn save_image(
    client: &Client,
    img: &ResultImage,
    dir: &Path,
    stem: &str,
    timeout: Duration,
) -> ImageState {
    let bytes = match img {
        ResultImage::Base64(b) => {
            let b = b.clone();
            match tokio::task::spawn_blocking(move || {
                base64::engine::general_purpose::STANDARD.decode(b.trim())
            })
            .await
            {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => return ImageState::Failed(format!("invalid base64: {e}")),
                Err(e) => return ImageState::Failed(e.to_string()),
            }
        }
        ResultImage::Url(u) => {
            match images::download(client.http(), u, DOWNLOAD_CAP, timeout).await {
                Ok((bytes, _)) => bytes,
                Err(e) => return ImageState::Failed(format!("download failed: {e}")),
            }
        }
    };
    let ext = images::sniff(&bytes).map_or("bin", images::Format::extension);
    let dir = dir.to_path_buf();
    let stem = stem.to_owned();
    match tokio::task::spawn_blocking(move || images::save_unique(&dir, &stem, ext, &bytes)).await {
        Ok(Ok(p)) => ImageState::Saved(p),
        Ok(Err(e)) => ImageState::Failed(format!("cannot save: {e}")),
        Err(e) => ImageState::Failed(e.to_string()),
    }
}

fn line(parts: &[(Tok, &str)]) -> DocLine {
    parts.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
}

fn label(name: &str, value: &str) -> DocLine {
    vec![
        (Tok::Dim, format!("{name}: ")),
        (Tok::Plain, crate::tui::doc::escape(value)),
    ]
}

/// Everything the Response pane shows about an exchange. Pure and possibly slow (it parses
/// and pretty-prints the whole body): run it on the blocking pool.
pub fn view_of(ex: &Exchange) -> ResponseView {
    let request = request_doc(ex);
    let timing = timing_line(ex, None);
    let outcome = match &ex.result {
        Err(e) => {
            let verdict = if *e == TransportError::Cancelled {
                Verdict::Cancelled
            } else {
                Verdict::Transport
            };
            let mut v = ResponseView::transport(
                verdict,
                &e.to_string(),
                request,
                &fmt_duration(ex.duration),
            );
            v.summary.push(attempts_line(ex));
            return v;
        }
        Ok(o) => o,
    };
    let status = ex
        .http_status
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let mut summary: Vec<DocLine> = Vec::new();
    let verdict;
    match outcome {
        Outcome::Success(s) => {
            verdict = Verdict::Success;
            summary.push(line(&[
                (Tok::Plain, &format!("✔ {} success", s.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary[0][0].0 = Tok::Str;
            summary.push(label("message", &s.message));
            if let Some(r) = &s.request_id {
                summary.push(label("request_id", r));
            }
            if let Some(r) = &s.data_request_id
                && Some(r) != s.request_id.as_ref()
            {
                summary.push(label("data.request_id", r));
            }
            summary.push(timing_line(
                ex,
                server_time(s.time_elapsed, s.time_elapsed_raw.as_deref()).as_deref(),
            ));
            if let Some(r) = &s.rephraser_result {
                summary.push(label("rephrased", r));
            }
        }
        Outcome::Service(e) => {
            verdict = Verdict::Service;
            let meaning = e.info.map_or("unknown service code", |i| i.meaning);
            summary.push(line(&[
                (Tok::Error, &format!("✘ {} {meaning}", e.code)),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some((code, msg)) = &e.algorithm_status
                && *code != 0
            {
                summary.push(label("algorithm", &format!("{code} {msg}")));
            }
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            let parsed = e
                .time_elapsed_raw
                .as_deref()
                .and_then(crate::api::response::parse_go_duration);
            summary.push(timing_line(
                ex,
                server_time(parsed, e.time_elapsed_raw.as_deref()).as_deref(),
            ));
        }
        Outcome::Gateway(e) => {
            verdict = Verdict::Gateway;
            let code = match e.code_n {
                Some(n) => format!("{n} {}", e.code),
                None => e.code.clone(),
            };
            summary.push(line(&[
                (Tok::Error, &format!("✘ gateway error {code}")),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            if let Some(i) = e.info {
                summary.push(label("meaning", i.meaning));
            }
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            if let Some(r) = &e.request_id {
                summary.push(label("request_id", r));
            }
            summary.push(timing);
        }
        Outcome::Relay(e) => {
            verdict = Verdict::Relay;
            summary.push(line(&[
                (Tok::Error, "✘ relay error"),
                (Tok::Dim, &format!(" · HTTP {status}")),
            ]));
            summary.push(label("message", &e.message));
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
        Outcome::NonJson(e) => {
            verdict = Verdict::NonJson;
            let ct = e.content_type.as_deref().unwrap_or("no content type");
            summary.push(line(&[
                (Tok::Error, &format!("✘ not JSON: {}", e.reason)),
                (
                    Tok::Dim,
                    &format!(" · HTTP {status} · {ct} · {}", human_size(e.len)),
                ),
            ]));
            for l in e.excerpt.lines().filter(|l| !l.trim().is_empty()).take(3) {
                summary.push(vec![
                    (Tok::Dim, "│ ".to_owned()),
                    (Tok::Plain, crate::tui::doc::escape(l.trim())),
                ]);
            }
            summary.push(label("advice", outcome.retry().advice()));
            summary.push(timing);
        }
    }
    let body = match serde_json::from_slice::<Value>(&ex.response_bytes) {
        Ok(v) => Doc::json(&v),
        Err(_) => {
            let text = String::from_utf8_lossy(&ex.response_bytes);
            if text.is_empty() {
                Doc::plain("(empty body)")
            } else {
                Doc::plain(&text)
            }
        }
    };
    let mut headers = Doc::default();
    for (k, v) in &ex.response_headers {
        headers.lines.push(vec![
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    headers.lines.push(Vec::new());
    headers.lines.push(vec![(Tok::Dim, "attempts:".to_owned())]);
    for (i, a) in ex.attempts.iter().enumerate() {
        headers.lines.push(vec![(
            Tok::Plain,
            format!(
                "  {} at +{} took {}: {}",
                i + 1,
                fmt_duration(a.at),
                fmt_duration(a.duration),
                crate::tui::doc::escape(&a.result)
            ),
        )]);
    }
    let mut images = Vec::new();
    if let Outcome::Success(s) = outcome {
        for (i, img) in s.images.iter().enumerate() {
            let label = format!("result {}", i + 1);
            images.push(match img {
                ResultImage::Base64(b) => {
                    let f = describe_base64(b).unwrap_or(UNKNOWN);
                    let (format, dims, bytes) = (f.format, f.dims, f.bytes);
                    ImageItem {
                        label,
                        format: format.to_owned(),
                        dims,
                        bytes: Some(bytes),
                        state: ImageState::Saving,
                    }
                }
                ResultImage::Url(u) => ImageItem {
                    label,
                    format: format!("url {}", crate::text::truncate_chars(u, 60)),
                    dims: None,
                    bytes: None,
                    state: ImageState::Saving,
                },
            });
        }
    }
    if let Some(r) = reference_item(&ex.request_body) {
        images.push(r);
    }
    ResponseView {
        verdict,
        summary,
        body,
        request,
        headers,
        images,
        request_id: outcome.request_id().map(str::to_owned),
    }
}

/// The service's `time_elapsed`, shortened when it parses (`7.545501615s` -> `7.55s`).
fn server_time(parsed: Option<Duration>, raw: Option<&str>) -> Option<String> {
    parsed.map(fmt_duration).or_else(|| raw.map(str::to_owned))
}

fn timing_line(ex: &Exchange, server: Option<&str>) -> DocLine {
    let mut l = vec![(Tok::Dim, "time: ".to_owned())];
    if let Some(s) = server {
        l.push((Tok::Plain, format!("{} server", crate::tui::doc::escape(s))));
        l.push((Tok::Dim, " · ".to_owned()));
    }
    l.push((
        Tok::Plain,
        format!("{} measured", fmt_duration(ex.duration)),
    ));
    l.push((Tok::Dim, " · ".to_owned()));
    let n = ex.attempts.len();
    l.push((
        Tok::Plain,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    ));
    l
}

fn attempts_line(ex: &Exchange) -> DocLine {
    let n = ex.attempts.len();
    vec![(
        Tok::Dim,
        format!("{n} attempt{}", if n == 1 { "" } else { "s" }),
    )]
}

fn reference_item(request_body: &str) -> Option<ImageItem> {
    let v: Value = serde_json::from_str(request_body).ok()?;
    let first = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(b) = first("binary_data_base64") {
        let f = describe_base64(&b).unwrap_or(UNKNOWN);
        let (format, dims, bytes) = (f.format, f.dims, f.bytes);
        return Some(ImageItem {
            label: "reference".to_owned(),
            format: format.to_owned(),
            dims,
            bytes: Some(bytes),
            state: ImageState::Reference,
        });
    }
    first("image_urls").map(|u| ImageItem {
        label: "reference".to_owned(),
        format: format!("url {}", crate::text::truncate_chars(&u, 60)),
        dims: None,
        bytes: None,
        state: ImageState::Reference,
    })
}

fn request_doc(ex: &Exchange) -> Doc {
    let mut d = Doc::default();
    d.lines.push(vec![(
        Tok::Plain,
        format!("{} {}", ex.method, crate::tui::doc::escape(&ex.url)),
    )]);
    for (k, v) in &ex.request_headers {
        d.lines.push(vec![
            (Tok::Key, format!("{k}: ")),
            (Tok::Plain, crate::tui::doc::escape(v)),
        ]);
    }
    d.lines.push(Vec::new());
    match serde_json::from_str::<Value>(&ex.request_body) {
        Ok(v) => d.lines.extend(Doc::json(&v).lines),
        Err(_) => d.lines.extend(Doc::plain(&ex.request_body).lines),
    }
    d
}

fn expand_home(input: &str) -> PathBuf {
    match (input.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(input),
    }
}

/// Reads and checks a reference image: it exists, is a JPEG or PNG by its magic bytes and is
/// at most 4.7 MB. Returns it base64-encoded.
pub async fn load_reference(input: &str) -> Result<LoadedImage, String> {
    let path = expand_home(input.trim());
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("no such file: {}", path.display()),
            _ => format!("cannot read {}: {e}", path.display()),
        })?;
    if meta.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if len > MAX_IMAGE_BYTES {
        return Err(format!("too large: {} (at most 4.7 MB)", human_size(len)));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = match images::sniff(&bytes) {
        Some(images::Format::Jpeg) => "JPEG",
        Some(images::Format::Png) => "PNG",
        Some(other) => {
            return Err(format!(
                "a {} image; the service takes JPEG or PNG",
                other.name()
            ));
        }
        None => return Err("not an image (JPEG or PNG expected)".to_owned()),
    };
    let (dims, base64) = tokio::task::spawn_blocking(move || {
        (
            images::dimensions(&bytes),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        )
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(LoadedImage {
        path: Some(path),
        bytes: len,
        format,
        dims,
        base64: Arc::from(base64),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reference_checks_existence_format_and_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("nope.png");
        let e = load_reference(&missing.display().to_string())
            .await
            .expect_err("missing");
        assert!(e.starts_with("no such file"), "{e}");
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "hello").expect("write");
        let e = load_reference(&text.display().to_string())
            .await
            .expect_err("text");
        assert!(e.contains("not an image"), "{e}");
        let big = dir.path().join("big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(MAX_IMAGE_BYTES + 1, 0);
        std::fs::write(&big, &bytes).expect("write");
        let e = load_reference(&big.display().to_string())
            .await
            .expect_err("big");
        assert!(e.starts_with("too large"), "{e}");
        let png = dir.path().join("ok.png");
        let img = image::RgbImage::new(20, 10);
        img.save(&png).expect("save");
        let ok = load_reference(&png.display().to_string())
            .await
            .expect("ok");
        assert_eq!((ok.format, ok.dims), ("PNG", Some((20, 10))));
    }

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
}
