//! Result downloads: `image_urls` answers are fetched by the worker as soon as the response
//! arrives (a few at a time, capped, timed out, content checked), against the embedded mock;
//! and what a server cannot make `volcv send` do: stall it past one deadline, make it take
//! more than 16 URLs or more bytes than the answer's cap, or lose the answer on a full disk
//! (against a small server on 127.0.0.1 playing the API and the CDN).

mod common;

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

/// A server on 127.0.0.1:0 playing the API and the CDN. `POST` answers with the envelope
/// `api(base URL)` (after running `on_post`); `GET /img/<n>` sends `n` bytes that start like a
/// JPEG; `GET /hang/...` never answers (until the server is dropped, or two minutes). Stops
/// when dropped.
struct Cdn {
    base: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: std::net::SocketAddr,
}

type OnPost = Box<dyn Fn() + Send + Sync>;

impl Cdn {
    fn start(api: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static, on_post: OnPost) -> Cdn {
        use std::io::Write as _;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let stop = Arc::new(AtomicBool::new(false));
        let (halt, api, on_post, b) =
            (stop.clone(), Arc::new(api), Arc::new(on_post), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut s) = stream else { continue };
                let (halt, api, on_post, b) =
                    (halt.clone(), api.clone(), on_post.clone(), b.clone());
                std::thread::spawn(move || {
                    let req = common::read_request(&mut s);
                    let line = String::from_utf8_lossy(&req)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    let (kind, body) = if line.starts_with("POST") {
                        on_post();
                        ("application/json", api(&b))
                    } else if let Some(n) = path.strip_prefix("/img/") {
                        let n: usize = n
                            .split(['/', '?'])
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1000);
                        let mut img = vec![0xFF, 0xD8, 0xFF, 0xE0];
                        img.resize(n.max(4), 0x5A);
                        ("image/jpeg", img)
                    } else {
                        let started = std::time::Instant::now();
                        while !halt.load(Ordering::SeqCst)
                            && started.elapsed() < Duration::from_secs(120)
                        {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        return;
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s
                        .write_all(head.as_bytes())
                        .and_then(|()| s.write_all(&body));
                    let _ = s.flush();
                });
            }
        });
        Cdn { base, stop, addr }
    }
}

impl Drop for Cdn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A success envelope whose results are `urls`.
fn url_envelope(urls: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "code": 10000,
        "data": {
            "binary_data_base64": [],
            "image_urls": urls,
            "request_id": "ab".repeat(16),
        },
        "message": "Success",
        "request_id": "20261124120000ABCDEF",
        "status": 10000,
        "time_elapsed": "1s",
    }))
    .expect("json")
}

fn no_hook() -> OnPost {
    Box::new(|| {})
}

/// Runs `cmd` to its end, killing it and failing the test if it takes more than a minute
/// (a bound against a hang, not a timing).
fn run_bounded(mut cmd: std::process::Command) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("volcv did not finish within 60 s");
        }
    }
}

const REFERENCE: &str = "https://example.com/reference.jpg";

/// `volcv send --json` against `cdn` with `extra` arguments, saving into `home/out`.
fn send(home: &std::path::Path, cdn: &Cdn, extra: &[&str]) -> std::process::Command {
    let mut cmd = common::volcv_cmd(home);
    let out = home.join("out");
    cmd.args([
        "send",
        "--image",
        REFERENCE,
        "--endpoint",
        &cdn.base,
        "--auth",
        "none",
    ])
    .args(["--set", "prompt=fox", "--json", "--out"])
    .arg(&out)
    .args(extra);
    cmd
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The outcome and note of history entry `id` in `home`'s data dir.
fn row(home: &std::path::Path, id: i64) -> (String, Option<String>) {
    let db = common::data_dir(home).join(volcv::store::DB_FILE);
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(
        "SELECT outcome, note FROM entries WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("entry")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn hanging_urls_share_one_deadline_and_the_others_are_kept() {
    // Six URLs that never answer and one that does, with `--timeout 1`: all six end at the
    // one deadline (the 10 s floor), the good image is kept, the answer is recorded.
    let cdn = Cdn::start(
        |base| {
            let mut urls = vec![format!("{base}/img/2000")];
            urls.extend((1..=6).map(|n| format!("{base}/hang/{n}")));
            url_envelope(&urls)
        },
        no_hook(),
    );
    let home = tempfile::tempdir().expect("home");
    let out = run_bounded(send(home.path(), &cdn, &["--timeout", "1"]));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(4), "{v}");
    assert_eq!(v["exit_code"], 4, "{v}");
    assert_eq!(strings(&v["images"]).len(), 1, "{v}");
    let want: Vec<String> = (2..=7)
        .map(|n| {
            format!(
                "image {n}: download timed out after 10s (the downloads of one answer share one deadline)"
            )
        })
        .collect();
    assert_eq!(strings(&v["image_errors"]), want, "{v}");
    assert_eq!(row(home.path(), 1).0, "success");
}

#[test]
fn at_most_16_urls_are_taken_from_one_answer_and_the_rest_are_listed() {
    let cdn = Cdn::start(
        |base| {
            url_envelope(
                &(0..20)
                    .map(|n| format!("{base}/img/{}", 500 + n))
                    .collect::<Vec<_>>(),
            )
        },
        no_hook(),
    );
    let home = tempfile::tempdir().expect("home");
    let out = run_bounded(send(home.path(), &cdn, &[]));
    let v = json_of(&out);
    assert_eq!(strings(&v["images"]).len(), 16, "{v}");
    let want: Vec<String> = (17..=20)
        .map(|n| {
            format!(
                "image {n}: not downloaded: the answer lists 20 URLs, at most 16 are downloaded"
            )
        })
        .collect();
    assert_eq!(strings(&v["image_errors"]), want, "{v}");
    assert_eq!(row(home.path(), 1).0, "success");
}

#[tokio::test]
async fn the_downloads_of_one_answer_share_a_byte_cap() {
    use volcv::api::response::ResultImage;
    use volcv::exchange::fetch::{Policy, fetch_all};
    let cdn = Cdn::start(|_| Vec::new(), no_hook());
    // One at a time, so which one passes the cap is certain. The first, alone over it, fails
    // and gives its bytes back; two of the next three fit.
    let list: Vec<ResultImage> = [3000, 1000, 1000, 1000]
        .iter()
        .map(|n| ResultImage::Url(format!("{}/img/{n}", cdn.base)))
        .collect();
    let policy = Policy {
        at_once: 1,
        total_cap: 2500,
        ..Policy::default()
    };
    let got = fetch_all(&client(&cdn.base), &list, policy).await;
    let over = "download failed: the downloads of this answer would pass 2500 bytes together (the cap for one answer)";
    let shown: Vec<Result<usize, String>> = got
        .iter()
        .map(|f| {
            f.image
                .as_ref()
                .map(|o| o.bytes.len())
                .map_err(ToString::to_string)
        })
        .collect();
    assert_eq!(
        shown,
        [
            Err(over.to_owned()),
            Ok(1000),
            Ok(1000),
            Err(over.to_owned())
        ]
    );
}

#[test]
fn an_image_the_disk_cannot_take_leaves_the_answer_recorded_with_a_note() {
    // A file size limit (what a full disk does to a large write, but as root too): the 4 MiB
    // result cannot be written, neither to --out nor to the history's images; the small
    // database can. SIGXFSZ is ignored so the write fails with EFBIG, as on a full disk.
    let cdn = Cdn::start(
        |base| url_envelope(&[format!("{base}/img/4194304")]),
        no_hook(),
    );
    let home = tempfile::tempdir().expect("home");
    let inner = send(home.path(), &cdn, &[]);
    let mut sh = common::clean_cmd("sh", home.path());
    let mut line = String::from("trap '' XFSZ; ulimit -f 2048; exec");
    for a in std::iter::once(inner.get_program()).chain(inner.get_args()) {
        line.push_str(&format!(" '{}'", a.to_string_lossy()));
    }
    sh.args(["-c", &line]);
    let out = run_bounded(sh);
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(4), "{v}");
    let errors = strings(&v["image_errors"]);
    assert!(
        errors.len() == 1 && errors[0].starts_with("image 1: cannot save"),
        "{v}"
    );
    let warnings = strings(&v["warnings"]);
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "history entry 1: result image 1 not stored in the history: cannot write"
        ) && w.contains("File too large")),
        "{v}"
    );
    let (outcome, note) = row(home.path(), 1);
    assert_eq!(outcome, "success");
    let note = note.expect("a note");
    assert!(
        note.starts_with("result image 1 not stored in the history: cannot write"),
        "{note}"
    );
    assert_eq!(
        common::integrity_check(&common::data_dir(home.path())),
        "ok"
    );
    // The entry reads back, the note with it.
    let show = run_bounded({
        let mut c = common::volcv_cmd(home.path());
        c.args(["history", "show", "1"]);
        c
    });
    assert_eq!(
        show.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("not stored in the history"));
}

#[test]
fn a_base64_image_that_cannot_be_stored_stays_inline_and_exports_exactly() {
    // The images directory turns into a file once the pending row is written: no image file
    // can be created, whoever runs the test. The answer's base64 image stays in its body.
    let home = tempfile::tempdir().expect("home");
    let images = common::data_dir(home.path()).join("images");
    let png = common::png(8, 8, 5);
    let envelope = common::success_envelope(&[png], "r");
    let body = envelope.clone();
    let cdn = Cdn::start(
        move |_| body.clone(),
        Box::new(move || {
            let _ = std::fs::remove_dir_all(&images);
            std::fs::write(&images, b"not a directory").expect("replace images dir");
        }),
    );
    let out = run_bounded(send(home.path(), &cdn, &[]));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert!(
        strings(&v["warnings"]).iter().any(|w| w.starts_with(
            "history entry 1: response image 1 kept inline in the response body: cannot write"
        )),
        "{v}"
    );
    let (outcome, note) = row(home.path(), 1);
    assert_eq!(outcome, "success");
    assert!(note.is_some_and(|n| n.contains("kept inline")));
    // With the directory back (and still no file of that image) the answer exports exactly.
    let data = common::data_dir(home.path());
    std::fs::remove_file(data.join("images")).expect("remove");
    let store = volcv::store::Store::open(&data).expect("open");
    let exported = store.export(1).expect("export");
    assert_eq!(exported.response.as_deref(), Some(&envelope[..]));
}
