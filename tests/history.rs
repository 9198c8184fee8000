//! The history store, through its API and through the `volcv` binary: exact round trips with
//! images stored once, crash recovery after SIGKILL, concurrent writers, search and filters,
//! migrations and refusals, and that no secret reaches the data dir.

mod common;

use base64::Engine as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use volcv::api::client::{Attempt, Exchange, TransportError};
use volcv::api::response::parse_response;
use volcv::store::{NewEntry, OutcomeKind, Query, ResultFile, Store, StoreError};

const API_KEY: &str = "sk-test-SECRET-key-4711";
const AK: &str = "AKLTtestACCESSkey0815";
const SK: &str = "c2VjcmV0LXNlY3JldC1rZXktdGVzdA==";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A small JPEG whose pixels depend on `seed`.
fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}

fn write_png(dir: &Path, seed: u8) -> PathBuf {
    let img = image::RgbImage::from_fn(160, 160, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, seed])
    });
    let path = dir.join(format!("ref-{seed}.png"));
    img.save(&path).expect("write reference");
    path
}

/// A success envelope carrying `images` as base64, exactly as the service shapes it.
fn envelope(images: &[Vec<u8>], rephrased: &str) -> String {
    let list: Vec<String> = images.iter().map(|i| format!("\"{}\"", b64(i))).collect();
    format!(
        r#"{{"code":10000,"data":{{"algorithm_base_resp":{{"status_code":0,"status_message":"Success"}},"binary_data_base64":[{}],"image_urls":null,"rephraser_result":"{rephrased}","request_id":"{}"}},"message":"Success","request_id":"20261124120000ABCDEF","status":10000,"time_elapsed":"1.5s"}}"#,
        list.join(","),
        "ab".repeat(32)
    )
}

/// An exchange as the client captures it.
fn exchange(request: &str, status: u16, response: &[u8], started: OffsetDateTime) -> Exchange {
    Exchange {
        method: "POST".into(),
        url: "https://relay.example/volcv/v1?Action=CVProcess&Version=2022-08-31".into(),
        action: "CVProcess".into(),
        request_headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), "Bearer <redacted>".into()),
        ],
        request_body: request.to_owned(),
        http_status: Some(status),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_bytes: response.to_vec(),
        started_at: started,
        duration: Duration::from_millis(1500),
        attempts: vec![Attempt {
            at: Duration::ZERO,
            duration: Duration::from_millis(1500),
            http_status: Some(status),
            result: "10000".into(),
        }],
        result: Ok(parse_response(status, Some("application/json"), response)),
        scrubbed: 0,
    }
}

fn request_body(prompt: &str, req_key: &str, image: Option<&[u8]>) -> String {
    match image {
        Some(i) => format!(
            r#"{{"req_key":"{req_key}","binary_data_base64":["{}"],"prompt":"{prompt}","seed":-1}}"#,
            b64(i)
        ),
        None => format!(r#"{{"req_key":"{req_key}","prompt":"{prompt}","seed":-1}}"#),
    }
}

fn new_entry(body: &str) -> NewEntry<'_> {
    NewEntry {
        profile: "default",
        endpoint: "https://relay.example/volcv/v1",
        action: "CVProcess",
        request_headers: &[],
        request_body: body.as_bytes(),
    }
}

/// Records a finished exchange with `prompt`; the outcome follows `code`.
fn record(store: &Store, prompt: &str, req_key: &str, code: i64, started: OffsetDateTime) -> i64 {
    let body = request_body(prompt, req_key, None);
    let response = if code == 10000 {
        envelope(&[], &format!("{prompt}, rephrased"))
    } else {
        format!(
            r#"{{"code":{code},"message":"Post Text Risk Not Pass","request_id":"r","status":{code},"time_elapsed":"1ms","data":null}}"#
        )
    };
    let ex = exchange(
        &body,
        if code == 10000 { 200 } else { 400 },
        response.as_bytes(),
        started,
    );
    store.record(&new_entry(&body), &ex, &[]).expect("record")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read dir")
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn image_files(data: &Path) -> Vec<PathBuf> {
    files_under(&data.join("images"))
}

// ---------------------------------------------------------------------------------------------
// Loopback servers for the binary.

/// Reads one HTTP request and returns its body.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf[header_end..].to_vec()
}

/// A server on 127.0.0.1:0 that answers each of `answers` (one per connection) with HTTP 200
/// and that body, records the request bodies, and stops after the last one or after 60 s.
fn answering_server(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        for answer in answers {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return seen,
                }
            };
            stream.set_nonblocking(false).expect("blocking");
            seen.push(read_request(&mut stream));
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                answer.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&answer);
        }
        seen
    });
    (url, handle)
}

/// A server on 127.0.0.1:0 that accepts and reads requests but never answers; it lets go of
/// its connections after `hold`.
fn silent_server(hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let deadline = Instant::now() + hold;
        let mut held = Vec::new();
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    url
}

/// `volcv` with a clean environment whose data dir is `data`.
fn volcv_cmd(home: &Path, data: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = common::volcv_with(home, env, args);
    cmd.env("VOLCV_DATA_DIR", data);
    cmd
}

fn run(home: &Path, data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    volcv_cmd(home, data, env, args)
        .output()
        .expect("run volcv")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---------------------------------------------------------------------------------------------

/// `volcv send` twice with the same reference image and the same result image: each export
/// equals the exact request the server received and the exact response it sent, and each image
/// is stored once.
#[test]
fn export_equals_the_wire_and_shared_images_are_stored_once() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let reference = write_png(home.path(), 1);
    let result = jpeg(9);
    let answers = vec![
        envelope(std::slice::from_ref(&result), "first, rephrased").into_bytes(),
        envelope(&[result.clone(), jpeg(33)], "second, rephrased").into_bytes(),
    ];
    let (url, server) = answering_server(answers.clone());
    let mut ids = Vec::new();
    for prompt in ["first", "second"] {
        let out = run(
            home.path(),
            &data,
            &[],
            &[
                "send",
                "--endpoint",
                &url,
                "--auth",
                "none",
                "--image",
                reference.to_str().expect("utf8"),
                "--set",
                &format!("prompt={prompt}"),
                "--set",
                "return_url=false",
                "--out",
                home.path().join("out").to_str().expect("utf8"),
                "--json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        ids.push(v["history_id"].as_i64().expect("history_id"));
    }
    let sent = server.join().expect("server");
    assert_eq!(sent.len(), 2);

    // Reference png + two distinct results, whatever the number of entries using them.
    assert_eq!(image_files(&data).len(), 3, "{:?}", image_files(&data));

    for (i, id) in ids.iter().enumerate() {
        let dir = home.path().join(format!("export-{id}"));
        let out = run(
            home.path(),
            &data,
            &[],
            &[
                "history",
                "export",
                &id.to_string(),
                "--out",
                dir.to_str().expect("utf8"),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let request = std::fs::read(dir.join("request.json")).expect("request.json");
        assert_eq!(request, sent[i], "request {id} differs from the wire");
        let response = std::fs::read(dir.join("response.json")).expect("response.json");
        assert_eq!(response, answers[i], "response {id} differs from the wire");
        let reference_bytes = std::fs::read(&reference).expect("ref");
        assert_eq!(
            std::fs::read(dir.join("request-1.png")).expect("request image"),
            reference_bytes
        );
        assert_eq!(
            std::fs::read(dir.join("response-1.jpg")).expect("response image"),
            result
        );
        // Exporting again into the same directory never replaces files.
        let again = run(
            home.path(),
            &data,
            &[],
            &[
                "history",
                "export",
                &id.to_string(),
                "--out",
                dir.to_str().expect("utf8"),
            ],
        );
        assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
    }

    // The database holds references, not base64.
    let store = Store::open(&data).expect("open");
    let e = store.get(ids[1]).expect("get").expect("entry");
    assert!(e.request_body.contains("$volcv_image:sha256:"));
    assert!(e.request_body.len() < 1000, "{}", e.request_body.len());
    let db = std::fs::read(store.db_path()).expect("db");
    let needle = &b64(&result)[..80];
    assert!(
        !db.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "base64 of a result inside the database file"
    );
    // Deleting one entry keeps the files the other still uses; deleting both frees them.
    let r = store.delete(&ids[1..]).expect("delete");
    assert_eq!(r.removed, vec![ids[1]]);
    assert_eq!(
        r.files_removed, 1,
        "only the second result was unique to it"
    );
    assert_eq!(image_files(&data).len(), 2);
    store.delete(&ids[..1]).expect("delete");
    assert!(image_files(&data).is_empty());
}

/// Base64 images in both directions through the API: the export is byte-exact, a shared image
/// is one file, and the saved-copy record of a URL result is kept.
#[test]
fn api_round_trip_with_url_results() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let reference = jpeg(1);
    let body = request_body("a kite", "high_aes_ip_v20", Some(&reference));
    let id = store.begin(&new_entry(&body)).expect("begin");
    assert_eq!(
        store.get(id).expect("get").expect("entry").summary.outcome,
        OutcomeKind::Pending
    );
    // The reference image is on disk before any answer.
    assert_eq!(image_files(dir.path()).len(), 1);
    let response = br#"{"code":10000,"data":{"binary_data_base64":[],"image_urls":["https://cdn.example/r.jpeg?x-expires=1"]},"message":"Success","request_id":"x","status":10000,"time_elapsed":"2s"}"#;
    let ex = exchange(&body, 200, response, OffsetDateTime::now_utc());
    let downloaded = jpeg(2);
    let saved = dir.path().join("out.jpg");
    store
        .complete(
            id,
            &ex,
            &[ResultFile {
                index: 0,
                bytes: &downloaded,
                url: Some("https://cdn.example/r.jpeg?x-expires=1"),
                saved_path: Some(&saved),
            }],
        )
        .expect("complete");
    let entry = store.get(id).expect("get").expect("entry");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    assert_eq!(entry.summary.result_images, 1);
    let result = entry
        .images
        .iter()
        .find(|i| i.url.is_some())
        .expect("url result");
    assert_eq!(result.saved_path.as_deref(), Some(saved.as_path()));
    assert_eq!(std::fs::read(&result.file).expect("file"), downloaded);
    // The recorded exchange comes back as the client returned it.
    let back = store.exchange(id).expect("exchange").expect("completed");
    assert_eq!(back.request_body, body);
    assert_eq!(back.response_bytes, response);
    assert_eq!(back.result, ex.result);
    assert_eq!(back.http_status, Some(200));
    assert_eq!(back.attempts.len(), 1);
    assert_eq!(back.attempts[0].duration, ex.attempts[0].duration);
    assert_eq!(back.duration, ex.duration);
    let ex_out = store.export(id).expect("export");
    assert_eq!(ex_out.request, body.as_bytes());
    assert_eq!(ex_out.response.as_deref(), Some(&response[..]));
    assert_eq!(ex_out.images.len(), 2);
    // A second entry with the same reference adds no file.
    let id2 = store.begin(&new_entry(&body)).expect("begin 2");
    assert_ne!(id, id2);
    assert_eq!(image_files(dir.path()).len(), 2);
    assert_eq!(
        store.export(id2).expect("export 2").request,
        body.as_bytes()
    );
    assert!(matches!(
        store.complete(9999, &ex, &[]),
        Err(StoreError::NotFound(9999))
    ));
}

/// A transport error and a cancellation have no response; they are recorded as such.
#[test]
fn transport_errors_and_cancellations_are_recorded() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let body = request_body("x", "k", None);
    for (err, kind) in [
        (
            TransportError::Timeout(Duration::from_secs(60)),
            OutcomeKind::TransportError,
        ),
        (TransportError::Cancelled, OutcomeKind::Cancelled),
    ] {
        let id = store.begin(&new_entry(&body)).expect("begin");
        let mut ex = exchange(&body, 200, b"", OffsetDateTime::now_utc());
        ex.http_status = None;
        ex.response_bytes.clear();
        ex.result = Err(err);
        store.complete(id, &ex, &[]).expect("complete");
        let e = store.get(id).expect("get").expect("entry");
        assert_eq!(e.summary.outcome, kind);
        assert!(e.response_body.is_none());
        assert!(store.export(id).expect("export").response.is_none());
        let back = store.exchange(id).expect("exchange").expect("completed");
        assert_eq!(back.result, ex.result);
    }
    let id = store.begin(&new_entry(&body)).expect("begin");
    assert!(store.exchange(id).expect("pending").is_none());
    assert!(store.mark_cancelled(id).expect("cancel"));
    assert_eq!(
        store
            .exchange(id)
            .expect("exchange")
            .expect("cancelled")
            .result,
        Err(TransportError::Cancelled)
    );
    assert!(!store.mark_cancelled(id).expect("cancel twice"));
}

/// A real `volcv send` blocked on a server that never answers: its row is pending while it
/// runs (and a concurrent open leaves it alone), and `interrupted` after SIGKILL.
#[cfg(target_os = "linux")]
#[test]
fn pending_becomes_interrupted_after_sigkill() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let reference = write_png(home.path(), 2);
    let url = silent_server(Duration::from_secs(60));
    let mut child = volcv_cmd(
        home.path(),
        &data,
        &[],
        &[
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--image",
            reference.to_str().expect("utf8"),
            "--set",
            "prompt=never answered",
            "--timeout",
            "50",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn volcv");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = loop {
        assert!(Instant::now() < deadline, "no pending row appeared");
        if data.join(volcv::store::DB_FILE).exists()
            && let Ok(store) = Store::open(&data)
        {
            let rows = store.list(&Query::default()).expect("list");
            if let Some(r) = rows.first() {
                break r.clone();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pending.outcome, OutcomeKind::Pending);
    assert_eq!(pending.prompt.as_deref(), Some("never answered"));
    // The writer is alive: opening and recovering leave its row alone.
    let store = Store::open(&data).expect("open");
    assert!(store.recover().expect("recover").is_empty());
    assert_eq!(
        store
            .get(pending.id)
            .expect("get")
            .expect("row")
            .summary
            .outcome,
        OutcomeKind::Pending
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert_eq!(store.recover().expect("recover"), vec![pending.id]);
    drop(store);
    let store = Store::open(&data).expect("reopen");
    let e = store.get(pending.id).expect("get").expect("row");
    assert_eq!(e.summary.outcome, OutcomeKind::Interrupted);
    assert!(
        e.message
            .as_deref()
            .is_some_and(|m| m.contains("interrupted")),
        "{:?}",
        e.message
    );
    // The request that was about to go out is kept, reference image included.
    let ex = store.export(pending.id).expect("export");
    let body: serde_json::Value = serde_json::from_slice(&ex.request).expect("json");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body["binary_data_base64"][0].as_str().expect("b64"))
            .expect("decode"),
        std::fs::read(&reference).expect("ref")
    );
}

const WRITER_ENV: &str = "VOLCV_TEST_HISTORY_WRITER";
const PER_WRITER: usize = 150;

/// Not a test on its own: the body of the child processes of
/// `two_processes_append_concurrently_without_loss` (does nothing unless its env is set).
#[test]
fn concurrent_writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return;
    };
    let (dir, tag) = spec.split_once('|').expect("dir|tag");
    let store = Store::open(Path::new(dir)).expect("child open");
    let shared = jpeg(7);
    for i in 0..PER_WRITER {
        let body = request_body(&format!("{tag} {i}"), "k", Some(&shared));
        let id = store.begin(&new_entry(&body)).expect("child begin");
        let ex = exchange(
            &body,
            200,
            envelope(&[], "r").as_bytes(),
            OffsetDateTime::now_utc(),
        );
        store.complete(id, &ex, &[]).expect("child complete");
    }
}

#[test]
fn two_processes_append_concurrently_without_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    // Create the database first so the children race on writes, not on creation.
    Store::open(dir.path()).expect("open");
    let exe = std::env::current_exe().expect("test exe");
    let spawn = |tag: &str| {
        Command::new(&exe)
            .args([
                "--exact",
                "concurrent_writer_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(WRITER_ENV, format!("{}|{tag}", dir.path().display()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn writer")
    };
    let a = spawn("gamma");
    let b = spawn("delta");
    // And a third writer: this process, on its own connection.
    let store = Store::open(dir.path()).expect("open");
    for i in 0..PER_WRITER {
        record(
            &store,
            &format!("epsilon {i}"),
            "k",
            10000,
            OffsetDateTime::now_utc(),
        );
    }
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", describe(&out));
    }
    let all = store
        .list(&Query {
            limit: 10_000,
            ..Query::default()
        })
        .expect("list");
    assert_eq!(all.len(), 3 * PER_WRITER);
    for tag in ["gamma", "delta", "epsilon"] {
        let mine: Vec<_> = all
            .iter()
            .filter(|s| s.prompt.as_deref().is_some_and(|p| p.starts_with(tag)))
            .collect();
        assert_eq!(mine.len(), PER_WRITER, "{tag}");
        assert!(
            mine.iter()
                .all(|s| s.outcome == OutcomeKind::Success || tag == "epsilon"),
            "{tag}: every child row was completed"
        );
    }
    // The shared reference image is one file for all child rows.
    assert_eq!(image_files(dir.path()).len(), 1);
}

#[test]
fn search_filters_and_paging() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let day = time::Duration::days(1);
    let now = OffsetDateTime::now_utc();
    let kite = record(
        &store,
        "a red kite over the sea",
        "high_aes_ip_v20",
        10000,
        now - day * 3,
    );
    let cat = record(
        &store,
        "一只猫在海边散步",
        "high_aes_ip_v20",
        10000,
        now - day * 2,
    );
    let refused = record(
        &store,
        "a blue kite",
        "high_aes_general_v20",
        50412,
        now - day,
    );
    let lamp = record(&store, "100% lamp_post", "high_aes_ip_v20", 10000, now);
    store.set_star(cat, true).expect("star");
    store.set_note(lamp, Some("best so far")).expect("note");

    let ids = |q: Query| -> Vec<i64> {
        store
            .list(&q)
            .expect("list")
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    let search = |s: &str| {
        ids(Query {
            search: Some(s.into()),
            ..Query::default()
        })
    };
    assert_eq!(ids(Query::default()), vec![lamp, refused, cat, kite]);
    assert_eq!(search("kite"), vec![refused, kite]);
    assert_eq!(
        search("KITE sea"),
        vec![kite],
        "all words, case-insensitive"
    );
    assert_eq!(search("猫"), vec![cat], "one Chinese character");
    assert_eq!(search("在海边"), vec![cat], "Chinese substring");
    assert_eq!(
        search("rephrased kite"),
        vec![kite],
        "rephraser_result is searched"
    );
    assert_eq!(search("Risk Not"), vec![refused], "message is searched");
    assert_eq!(search("100%"), vec![lamp], "LIKE wildcards are literal");
    assert_eq!(search("_"), vec![lamp], "'_' is literal");
    assert_eq!(search("%"), vec![lamp], "'%' is literal");
    assert_eq!(
        search("\"kite"),
        Vec::<i64>::new(),
        "FTS syntax is not interpreted"
    );
    assert_eq!(search("nothing-like-this"), Vec::<i64>::new());
    assert_eq!(
        ids(Query {
            outcomes: vec![OutcomeKind::ServiceError],
            ..Query::default()
        }),
        vec![refused]
    );
    assert_eq!(
        ids(Query {
            req_key: Some("high_aes_ip_v20".into()),
            search: Some("kite".into()),
            ..Query::default()
        }),
        vec![kite]
    );
    assert_eq!(
        ids(Query {
            starred: Some(true),
            ..Query::default()
        }),
        vec![cat]
    );
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    assert_eq!(
        ids(Query {
            since_ms: Some(ms(now - day * 2 - time::Duration::hours(1))),
            until_ms: Some(ms(now - time::Duration::hours(1))),
            ..Query::default()
        }),
        vec![refused, cat]
    );
    // Keyset paging walks every row once.
    let page1 = ids(Query {
        limit: 3,
        ..Query::default()
    });
    let page2 = ids(Query {
        limit: 3,
        before_id: page1.last().copied(),
        ..Query::default()
    });
    assert_eq!(page1, vec![lamp, refused, cat]);
    assert_eq!(page2, vec![kite]);
    assert_eq!(
        store
            .count(&Query {
                search: Some("kite".into()),
                ..Query::default()
            })
            .expect("count"),
        2
    );
    // Edits are visible to pollers through the change counter.
    let seq = store.change_seq().expect("seq");
    assert!(store.changed_since(seq, 100).expect("changes").is_empty());
    store.set_star(kite, true).expect("star");
    let changed = store.changed_since(seq, 100).expect("changes");
    assert_eq!(changed.iter().map(|s| s.id).collect::<Vec<_>>(), vec![kite]);
    assert!(changed[0].star);
    store.delete(&[refused]).expect("delete");
    assert!(store.change_seq().expect("seq") > seq + 1);
    assert_eq!(search("kite"), vec![kite], "deleted rows leave the index");
    assert!(matches!(
        store.set_star(refused, true),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn open_migrates_an_empty_dir_and_reopens_unchanged() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("nested/data");
    let id = {
        let store = Store::open(&data).expect("create");
        record(&store, "kept", "k", 10000, OffsetDateTime::now_utc())
    };
    let version = |p: &Path| -> i64 {
        rusqlite::Connection::open(p)
            .expect("raw open")
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version")
    };
    let db = data.join(volcv::store::DB_FILE);
    let current = volcv::store::schema::current_version();
    assert_eq!(version(&db), current);
    let store = Store::open(&data).expect("reopen");
    assert_eq!(version(&db), current);
    let e = store.get(id).expect("get").expect("row");
    assert_eq!(e.summary.prompt.as_deref(), Some("kept"));
}

fn sha(path: &Path) -> String {
    volcv::api::auth::sha256_hex(&std::fs::read(path).expect("read"))
}

#[test]
fn newer_corrupt_and_foreign_databases_are_refused_and_left_untouched() {
    // Newer schema.
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join(volcv::store::DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).expect("raw");
        conn.execute_batch("CREATE TABLE entries (id INTEGER); PRAGMA user_version = 9;")
            .expect("newer");
    }
    let before = sha(&db);
    let err = Store::open(dir.path())
        .expect_err("newer refused")
        .to_string();
    assert!(
        err.contains("schema version 9") && err.contains("upgrade volcv"),
        "{err}"
    );
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert_eq!(sha(&db), before);

    // Random bytes.
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join(volcv::store::DB_FILE);
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &junk).expect("junk");
    let err = Store::open(dir.path()).expect_err("corrupt refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("left untouched") && msg.contains(&db.display().to_string()),
        "{msg}"
    );
    assert_eq!(std::fs::read(&db).expect("read"), junk, "never replaced");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(volcv::store::DB_FILE))
        .collect();
    assert_eq!(
        names,
        vec![volcv::store::DB_FILE.to_owned()],
        "no new database beside it"
    );

    // Another program's SQLite database.
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join(volcv::store::DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).expect("raw");
        conn.execute_batch("CREATE TABLE bookmarks (url TEXT)")
            .expect("foreign");
    }
    let before = sha(&db);
    let err = Store::open(dir.path())
        .expect_err("foreign refused")
        .to_string();
    assert!(err.contains("bookmarks"), "{err}");
    assert_eq!(sha(&db), before);

    // The CLI says the same and exits 2.
    let home = tempfile::tempdir().expect("home");
    let out = run(home.path(), dir.path(), &[], &["history", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("left untouched"));
}

/// Real sends with a Bearer key and with AK/SK, then every byte under the data dir (database,
/// -wal, -shm, images) is searched for the secrets.
#[test]
fn no_secret_reaches_the_data_dir() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    // Holding the store open keeps the -wal and -shm files for the scan.
    let store = Store::open(&data).expect("open");
    let reference = write_png(home.path(), 3);
    let answers = vec![
        envelope(&[jpeg(4)], "ok").into_bytes(),
        envelope(&[jpeg(5)], "ok").into_bytes(),
    ];
    let (url, server) = answering_server(answers);
    let common = [
        "send",
        "--endpoint",
        url.as_str(),
        "--image",
        reference.to_str().expect("utf8"),
        "--set",
        "return_url=false",
        "--set",
        "prompt=secret test",
        "--out",
        "out",
    ];
    let bearer = run(
        home.path(),
        &data,
        &[("VOLCV_API_KEY", API_KEY)],
        &[&common[..], &["--auth", "bearer"]].concat(),
    );
    assert_eq!(bearer.status.code(), Some(0), "{}", describe(&bearer));
    let volc = run(
        home.path(),
        &data,
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &[&common[..], &["--auth", "volc"]].concat(),
    );
    assert_eq!(volc.status.code(), Some(0), "{}", describe(&volc));
    server.join().expect("server");
    let rows = store.list(&Query::default()).expect("list");
    assert_eq!(rows.len(), 2);
    let headers = store
        .get(rows[0].id)
        .expect("get")
        .expect("row")
        .request_headers;
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "Authorization" && v.contains("Credential=<redacted>/")),
        "{headers:?}"
    );
    let files = files_under(&data);
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "{files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        for secret in [API_KEY, AK, SK] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                f.display()
            );
        }
    }
    // `history show` prints no secret either.
    let show = run(
        home.path(),
        &data,
        &[],
        &["history", "show", &rows[1].id.to_string()],
    );
    assert_eq!(show.status.code(), Some(0), "{}", describe(&show));
    let text = stdout(&show);
    assert!(text.contains("Bearer <redacted>"), "{text}");
    for secret in [API_KEY, AK, SK] {
        assert!(!text.contains(secret));
    }
}

#[test]
fn cli_list_show_rm_prune_and_no_history() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let store = Store::open(&data).expect("open");
    let now = OffsetDateTime::now_utc();
    let old_body = request_body("old \\u001b[31mred", "k", Some(&jpeg(11)));
    let old_ex = exchange(
        &old_body,
        200,
        envelope(&[jpeg(12)], "r").as_bytes(),
        now - time::Duration::days(40),
    );
    let old = store
        .record(&new_entry(&old_body), &old_ex, &[])
        .expect("old");
    let old_starred = record(
        &store,
        "old but starred",
        "k",
        10000,
        now - time::Duration::days(40),
    );
    store.set_star(old_starred, true).expect("star");
    let fresh = record(&store, "fresh", "k", 50412, now);
    assert_eq!(image_files(&data).len(), 2);

    let list = run(home.path(), &data, &[], &["history", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", describe(&list));
    let text = stdout(&list);
    assert!(
        text.contains("fresh") && text.contains("service_error"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "server/user text is escaped: {text:?}"
    );
    let json = run(
        home.path(),
        &data,
        &[],
        &[
            "history",
            "list",
            "--outcome",
            "success",
            "--search",
            "old",
            "--limit",
            "5",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let ids: Vec<i64> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![old_starred, old]);
    // Outcome names on the command line are the ones the list prints.
    let errors = run(
        home.path(),
        &data,
        &[],
        &["history", "list", "--outcome", "service_error", "--json"],
    );
    assert_eq!(errors.status.code(), Some(0), "{}", describe(&errors));
    let v: serde_json::Value = serde_json::from_slice(&errors.stdout).expect("json");
    assert_eq!(v[0]["id"].as_i64(), Some(fresh));
    assert_eq!(v[0]["outcome"], "service_error");
    let bad = run(
        home.path(),
        &data,
        &[],
        &["history", "list", "--outcome", "great"],
    );
    assert_eq!(bad.status.code(), Some(2));

    let show = run(
        home.path(),
        &data,
        &[],
        &["history", "show", &old.to_string(), "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(v["id"].as_i64(), Some(old));
    assert_eq!(v["request_body"]["req_key"], "k");
    assert!(
        v["request_body"]["binary_data_base64"][0]
            .as_str()
            .is_some_and(|s| s.starts_with("$volcv_image:sha256:"))
    );
    let missing = run(home.path(), &data, &[], &["history", "show", "424242"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no history entry with id 424242"));

    // A dry run lists what would go and removes nothing.
    let dry = run(
        home.path(),
        &data,
        &[],
        &["history", "prune", "--older-than", "30d", "--dry-run"],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", describe(&dry));
    let text = stdout(&dry);
    assert!(
        text.contains(&format!("would remove 1 entry (ids {old})"))
            && text.contains("nothing was removed"),
        "{text}"
    );
    let listed: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('('))
        .collect();
    assert_eq!(listed.len(), 1, "{text}");
    assert!(
        listed[0].trim_start().starts_with(&format!("{old} ")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "escaped: {text:?}");
    assert_eq!(image_files(&data).len(), 2);
    assert_eq!(store.list(&Query::default()).expect("list").len(), 3);
    let prune = run(
        home.path(),
        &data,
        &[],
        &["history", "prune", "--older-than", "30d"],
    );
    assert_eq!(prune.status.code(), Some(0), "{}", describe(&prune));
    assert!(
        stdout(&prune).contains("removed 1 entry and 2 image files (")
            && stdout(&prune).contains(&format!("B): ids {old}")),
        "{}",
        stdout(&prune)
    );
    assert!(image_files(&data).is_empty());
    let left: Vec<i64> = store
        .list(&Query::default())
        .expect("list")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![fresh, old_starred]);
    let bad_age = run(
        home.path(),
        &data,
        &[],
        &["history", "prune", "--older-than", "30"],
    );
    assert_eq!(bad_age.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_age.stderr).contains("allowed: s, m, h, d, w"));

    // One unknown id among them: every id is checked first and nothing is removed.
    let rm = run(
        home.path(),
        &data,
        &[],
        &["history", "rm", &fresh.to_string(), "777", "999"],
    );
    assert_eq!(
        rm.status.code(),
        Some(2),
        "two ids did not exist: {}",
        describe(&rm)
    );
    assert!(stdout(&rm).is_empty(), "{}", describe(&rm));
    assert!(
        String::from_utf8_lossy(&rm.stderr)
            .contains("no history entry with id 777, 999; nothing was removed"),
        "{}",
        describe(&rm)
    );
    assert_eq!(store.list(&Query::default()).expect("list").len(), 2);
    let rm = run(
        home.path(),
        &data,
        &[],
        &["history", "rm", &fresh.to_string()],
    );
    assert_eq!(rm.status.code(), Some(0), "{}", describe(&rm));
    assert!(stdout(&rm).contains(&format!("removed entry {fresh}")));
    assert_eq!(store.list(&Query::default()).expect("list").len(), 1);

    // --no-history records nothing.
    let (url, server) = answering_server(vec![envelope(&[jpeg(13)], "r").into_bytes()]);
    let reference = write_png(home.path(), 4);
    let out = run(
        home.path(),
        &data,
        &[],
        &[
            "send",
            "--no-history",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--image",
            reference.to_str().expect("utf8"),
            "--set",
            "prompt=unrecorded",
            "--out",
            "out",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!stdout(&out).contains("history:"));
    server.join().expect("server");
    assert_eq!(store.list(&Query::default()).expect("list").len(), 1);
}

/// The store is handed redacted headers; a raw secret that slips through anyway is redacted
/// before it is written.
#[test]
fn unredacted_secret_headers_are_redacted_defensively() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    shareable(&store);
    let body = request_body("x", "k", None);
    let headers = vec![
        ("Authorization".to_owned(), format!("Bearer {API_KEY}")),
        ("X-Security-Token".to_owned(), SK.to_owned()),
    ];
    let id = store
        .begin(&NewEntry {
            request_headers: &headers,
            endpoint: &format!("https://user:{SK}@relay.example/v1?api_key={AK}"),
            ..new_entry(&body)
        })
        .expect("begin");
    let mut ex = exchange(
        &body,
        200,
        envelope(&[], "r").as_bytes(),
        OffsetDateTime::now_utc(),
    );
    ex.request_headers.push((
        "authorization".into(),
        format!("HMAC-SHA256 Credential={AK}/20240102/cn-north-1/cv/request, Signature=abc"),
    ));
    let e = store.get(id).expect("get").expect("row");
    assert_eq!(e.request_headers[0].1, "Bearer <redacted>");
    assert_eq!(e.request_headers[1].1, "<redacted>");
    assert!(
        !e.endpoint.contains(SK) && !e.endpoint.contains(AK),
        "{}",
        e.endpoint
    );
    store.complete(id, &ex, &[]).expect("complete");
    let e = store.get(id).expect("get").expect("row");
    let all = serde_json::to_string(&e.request_headers).expect("json");
    assert!(
        !all.contains(AK) && all.contains("Credential=<redacted>/"),
        "{all}"
    );
    drop(store);
    for f in files_under(dir.path()) {
        let bytes = std::fs::read(&f).expect("read");
        for secret in [API_KEY, AK, SK] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                f.display()
            );
        }
    }
}

/// Images are written before the row that names them: when the image cannot be written, no
/// row appears.
#[test]
fn no_row_without_its_image_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    // Make the image directory unusable (a plain file in its place; chmod would not stop root).
    std::fs::remove_dir(dir.path().join("images")).expect("rmdir");
    std::fs::write(dir.path().join("images"), b"not a directory").expect("block");
    let body = request_body("needs its image", "k", Some(&jpeg(21)));
    let err = store
        .begin(&new_entry(&body))
        .expect_err("image cannot be written");
    assert!(matches!(err, StoreError::Image { .. }), "{err:?}");
    assert!(err.to_string().contains("images"), "{err}");
    assert!(store.list(&Query::default()).expect("list").is_empty());
    // A body without images still records.
    let plain = request_body("no image", "k", None);
    store.begin(&new_entry(&plain)).expect("begin");
    assert_eq!(store.list(&Query::default()).expect("list").len(), 1);
}

/// Prune removes image files no row names (debris of a writer killed between the file and
/// the row) and stale temporary files, and keeps what is in use or being written.
#[test]
fn prune_collects_orphan_and_stale_temporary_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let body = request_body("kept", "k", Some(&jpeg(31)));
    store.begin(&new_entry(&body)).expect("begin");
    let images = dir.path().join("images");
    let orphan = images.join(format!("{}.jpg", "ab".repeat(32)));
    std::fs::write(&orphan, jpeg(32)).expect("orphan");
    let stale = images.join(".deadbeef.1.0000.tmp");
    let fresh = images.join(".cafebabe.2.0000.tmp");
    std::fs::write(&stale, b"partial").expect("stale");
    std::fs::write(&fresh, b"partial").expect("fresh");
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .expect("open stale")
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 3600))
        .expect("age it");
    let unrelated = images.join("README.txt");
    std::fs::write(&unrelated, b"user file").expect("unrelated");
    let r = store
        .prune(Duration::from_secs(30 * 86_400))
        .expect("prune");
    assert_eq!(r.entries_removed, 0);
    assert_eq!(r.files_removed, 2, "{r:?}");
    assert!(!orphan.exists() && !stale.exists());
    assert!(
        fresh.exists(),
        "a temporary file being written is left alone"
    );
    assert!(
        unrelated.exists(),
        "files not named like images are left alone"
    );
    assert_eq!(
        image_files(dir.path())
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .count(),
        1,
        "the referenced image stays"
    );
}

/// With `--demo`, every subcommand uses the demo store (`<data dir>/demo/`, as the TUI's
/// demo): a demo sweep is recorded there, and `--demo history list` / `--demo sweep list`
/// read it, while the plain commands see only the real history.
#[test]
fn demo_sweeps_and_history_use_the_demo_store_and_real_ones_do_not() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let real_id = record(
        &Store::open(&data).expect("open"),
        "a real cat",
        "k",
        10000,
        OffsetDateTime::now_utc(),
    );
    let sweep = run(
        home.path(),
        &data,
        &[],
        &[
            "--demo",
            "sweep",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a demo owl",
            "--vary",
            "seed=1,2",
            "--out",
            "sheet",
        ],
    );
    assert_eq!(sweep.status.code(), Some(0), "{}", describe(&sweep));
    let demo_list = run(
        home.path(),
        &data,
        &[],
        &["--demo", "history", "list", "--json"],
    );
    assert_eq!(demo_list.status.code(), Some(0), "{}", describe(&demo_list));
    let v: serde_json::Value = serde_json::from_slice(&demo_list.stdout).expect("json");
    let prompts: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["prompt"].as_str())
        .collect();
    assert_eq!(prompts, ["a demo owl", "a demo owl"], "{v}");
    let real_list = run(home.path(), &data, &[], &["history", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&real_list.stdout).expect("json");
    let ids: Vec<i64> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert_eq!(ids, [real_id], "{v}");
    let demo_sweeps = run(home.path(), &data, &[], &["--demo", "sweep", "list"]);
    assert!(
        stdout(&demo_sweeps).contains("a demo owl"),
        "{}",
        describe(&demo_sweeps)
    );
    let real_sweeps = run(home.path(), &data, &[], &["sweep", "list"]);
    assert!(
        stdout(&real_sweeps).contains("(no sweeps)"),
        "{}",
        describe(&real_sweeps)
    );
    assert_eq!(
        Store::open(&data.join("demo"))
            .expect("demo")
            .count(&Query::default())
            .expect("count"),
        2
    );
}
