//! Result downloads: `image_urls` answers are fetched by the worker as soon as the response
//! arrives (a few at a time, capped, timed out, content checked), against the embedded mock.

use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use volcv::api::client::{Auth, Client, Options, Target};
use volcv::api::schema;
use volcv::images::{DownloadError, download};
use volcv::mock::{MockConfig, MockServer};
use volcv::tui::msg::{Cmd, ImageFacts, Msg};
use volcv::tui::preview::{ImageKey, Setup};
use volcv::tui::view::{ImageState, ResponseView};
use volcv::tui::worker::Worker;

async fn mock(url_ttl: Duration) -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        url_ttl,
        ..Default::default()
    })
    .await
    .expect("mock")
}

fn client(url: &str) -> Client {
    Client::new(
        Target {
            endpoint: url::Url::parse(url).expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client")
}

/// A request whose answer carries signed URLs (`return_url`), small to keep tests fast.
fn url_body() -> Value {
    let mut b = schema::default_schema().default_body();
    b["prompt"] = json!("a red fox");
    b["image_urls"] = json!(["https://example.com/fox.jpg"]);
    b["return_url"] = json!(true);
    b["width"] = json!(256);
    b["height"] = json!(256);
    b
}

struct Outcome {
    view: ResponseView,
    saved: Vec<(ImageState, Option<ImageFacts>)>,
    decoded: Vec<ImageKey>,
}

/// Sends through the worker and collects its messages until every result image is settled.
async fn run(worker: &Worker, rx: &mut UnboundedReceiver<Msg>, decode: bool) -> Outcome {
    worker.run(Cmd::Send {
        id: 7,
        body: url_body(),
    });
    let mut view = None;
    let mut saved = Vec::new();
    let mut decoded = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("in time")
            .expect("worker alive");
        match m {
            Msg::Finished { view: v, .. } => view = Some(*v),
            Msg::ImageSaved { state, facts, .. } => saved.push((state, facts)),
            Msg::PreviewDecoded { key, result } => {
                result.expect("decodes");
                decoded.push(key);
            }
            other => panic!("unexpected {other:?}"),
        }
        if let Some(v) = &view {
            let results = v
                .images
                .iter()
                .filter(|i| i.state != ImageState::Reference)
                .count();
            let want_decoded = if decode { saved.len() } else { 0 };
            if saved.len() == results && decoded.len() == want_decoded {
                break;
            }
        }
    }
    Outcome {
        view: view.expect("finished"),
        saved,
        decoded,
    }
}

#[tokio::test]
async fn url_results_are_downloaded_saved_and_decoded_at_once() {
    let m = mock(Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client(&m.url()), dir.path().to_path_buf())
        .with_previews(Setup::halfblocks());
    let out = run(&worker, &mut rx, true).await;
    assert_eq!(out.saved.len(), 1);
    let (ImageState::Saved(path), Some(facts)) = &out.saved[0] else {
        panic!("{:?}", out.saved)
    };
    let bytes = std::fs::read(path).expect("saved file");
    assert_eq!(
        volcv::images::sniff(&bytes),
        Some(volcv::images::Format::Jpeg)
    );
    assert_eq!(facts.format, "JPEG");
    assert!(facts.dims.is_some());
    assert_eq!(facts.dims, volcv::images::dimensions(&bytes));
    assert_eq!(facts.bytes, bytes.len());
    assert_eq!(out.decoded, [ImageKey::Result { id: 7, index: 0 }]);
    // The expiry read from the signed URL, about an hour from now.
    let item = &out.view.images[0];
    let expires = item.expires.as_deref().expect("expiry shown");
    let now = time::OffsetDateTime::now_utc();
    let near: Vec<String> = [-1i64, 0, 1]
        .iter()
        .map(|m| now + time::Duration::minutes(60 + m))
        .map(|at| {
            let day = if at.date() == now.date() {
                String::new()
            } else {
                format!("{} ", at.date())
            };
            format!("expires {day}{:02}:{:02} UTC", at.hour(), at.minute())
        })
        .collect();
    assert!(
        near.iter().any(|n| n == expires),
        "{expires} not in {near:?}"
    );
    m.shutdown().await;
}

#[tokio::test]
async fn an_expired_url_is_a_clear_error() {
    let m = mock(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client(&m.url()), dir.path().to_path_buf());
    let out = run(&worker, &mut rx, false).await;
    let (ImageState::Failed(e), None) = &out.saved[0] else {
        panic!("{:?}", out.saved)
    };
    assert!(e.starts_with("download failed: HTTP 403"), "{e}");
    assert!(e.contains("Request has expired"), "{e}");
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    m.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let m = mock(Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker =
        Worker::new(tx, client(&m.url()), dir.path().to_path_buf()).with_download_cap(1000);
    let out = run(&worker, &mut rx, false).await;
    let (ImageState::Failed(e), None) = &out.saved[0] else {
        panic!("{:?}", out.saved)
    };
    assert_eq!(e, "download failed: larger than the 1000 byte cap");
    m.shutdown().await;
}

/// An HTTP server on 127.0.0.1 answering every connection with `response` (then holding the
/// connection open for `hold`); it stops when the test's runtime does.
async fn canned(response: &'static [u8], hold: Duration) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(response).await;
            tokio::time::sleep(hold).await;
            let _ = s.shutdown().await;
        }
    });
    format!("http://{addr}/result.jpg")
}

#[tokio::test]
async fn content_that_is_not_an_image_is_refused_and_only_http_is_fetched() {
    // The mock never answers 200 with something else than an image at an image URL, so a
    // canned server plays a misconfigured CDN that does.
    let url = canned(
        b"HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: 15\r\nconnection: close\r\n\r\n<html>hi</html>",
        Duration::ZERO,
    )
    .await;
    let http = reqwest::Client::new();
    let r = download(&http, &url, 1 << 20, Duration::from_secs(5)).await;
    assert!(matches!(r, Err(DownloadError::NotImage)), "{r:?}");
    let r = download(&http, "file:///etc/passwd", 1 << 20, Duration::from_secs(5)).await;
    assert!(
        matches!(&r, Err(DownloadError::Scheme(s)) if s == "file"),
        "{r:?}"
    );
    // A server that never finishes its body runs into the timeout, which covers the body.
    let slow = canned(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n\xFF\xD8\xFF",
        Duration::from_secs(30),
    )
    .await;
    let started = std::time::Instant::now();
    let r = download(&http, &slow, 1 << 20, Duration::from_millis(300)).await;
    assert!(matches!(r, Err(DownloadError::Timeout(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
