//! Faults and hostile answers, as `volcv send` meets them: every one ends in a clear error
//! (exit 4 for no usable answer, 3 for a service error) bounded by the timeouts, is recorded in
//! the history as the error it was, and nothing a server sends reaches the terminal raw.
//! Servers are the mock or raw sockets on 127.0.0.1:0.

mod common;

use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use volcv::mock::{MockConfig, MockServer};
use volcv::store::{OutcomeKind, Query, Store};

/// The newest history entry of `home`'s data dir: its outcome and summary line. Also checks
/// the database's integrity.
fn last_entry(home: &Path) -> (OutcomeKind, String) {
    let data = home.join("data").join("volcv");
    let conn = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).expect("open db");
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok");
    let store = Store::open(&data).expect("open the history");
    let rows = store.list(&Query::default()).expect("list");
    let last = rows.first().expect("the send was recorded");
    (last.outcome, last.summary.clone().unwrap_or_default())
}

/// Asserts the newest entry is `kind` and its summary says `says`.
fn assert_recorded(home: &Path, kind: OutcomeKind, says: &str) {
    let (outcome, summary) = last_entry(home);
    assert_eq!(outcome, kind, "{summary}");
    assert!(
        summary.contains(says),
        "history says {summary:?}, not {says:?}"
    );
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw: Vec<u8>,
}

async fn send(home: &Path, endpoint: &str, extra: &[&str]) -> Run {
    let args: Vec<String> = [
        "send",
        "--endpoint",
        endpoint,
        "--auth",
        "none",
        "--image",
        "https://example.com/a.jpg",
    ]
    .iter()
    .chain(extra)
    .map(|a| (*a).to_owned())
    .collect();
    volcv_plain(home, &args).await
}

/// `volcv ARGS` with a clean environment rooted at `home` (data in `home/data/volcv`).
async fn volcv_plain(home: &Path, args: &[String]) -> Run {
    let mut cmd = common::volcv_cmd(home);
    cmd.args(args);
    let out = common::output_async(cmd).await;
    let mut raw = out.stdout.clone();
    raw.extend_from_slice(&out.stderr);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw,
    }
}

/// A raw HTTP server: for every connection, reads the request, then runs `answer` on the
/// socket. Stops when the returned handle is dropped (the test's runtime ends).
async fn raw_server<F, Fut>(answer: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let answer = std::sync::Arc::new(answer);
    let handle = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                read_request(&mut sock).await;
                answer(sock).await;
            });
        }
    });
    (url, handle)
}

async fn read_request(sock: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}

fn assert_terminal_safe(run: &Run) {
    for bad in [
        &b"\x1b"[..],
        b"\x07",
        b"\x00",
        "\u{202e}".as_bytes(),
        "\u{2066}".as_bytes(),
    ] {
        assert!(
            !run.raw.windows(bad.len()).any(|w| w == bad),
            "raw {bad:?} reached the terminal:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

async fn mock() -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..Default::default()
    })
    .await
    .expect("mock")
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_is_exit_4() {
    let home = tempfile::tempdir().expect("tmp");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let run = send(
        home.path(),
        &format!("http://127.0.0.1:{port}/"),
        &["--set", "prompt=x"],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("could not connect"), "{}", run.stderr);
    assert!(run.stderr.contains("Connection refused"), "{}", run.stderr);
    assert_recorded(
        home.path(),
        OutcomeKind::TransportError,
        "could not connect",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_accepts_and_never_answers_hits_the_timeout() {
    let home = tempfile::tempdir().expect("tmp");
    // Reads the request, then holds the connection open without a byte of answer.
    let (url, _h) = raw_server(|s| async move {
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(s);
    })
    .await;
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        send(home.path(), &url, &["--set", "prompt=x", "--timeout", "1"]),
    )
    .await
    .expect("bounded by the timeout");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("no complete answer within 1s"),
        "{}",
        run.stderr
    );
    // Not retried: the first attempt may still be generating (and billing).
    assert!(!run.stderr.contains("attempts"), "{}", run.stderr);
    assert_recorded(
        home.path(),
        OutcomeKind::TransportError,
        "no complete answer within 1s",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_truncate_and_trickle_from_the_mock() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock().await;
    let run = send(
        home.path(),
        &server.url(),
        &["--set", "prompt=[mock:reset] x", "--json"],
    )
    .await;
    // Reset after the headers: the service answered, so the cut answer is what is recorded,
    // and the request is not POSTed again (it would be generated and billed twice).
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stdout.contains("\"outcome\":\"non_json\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\"attempts\":1"), "{}", run.stdout);
    assert_recorded(home.path(), OutcomeKind::NonJson, "answer cut short after");

    let run = send(
        home.path(),
        &server.url(),
        &["--set", "prompt=[mock:truncate] x", "--json"],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stdout.contains("\"outcome\":\"non_json\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("invalid JSON"), "{}", run.stdout);
    assert_recorded(home.path(), OutcomeKind::NonJson, "invalid JSON");

    // One byte every 500 ms never completes within a 1 s budget per attempt.
    let run = send(
        home.path(),
        &server.url(),
        &[
            "--set",
            "prompt=[mock:trickle] x",
            "--timeout",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stdout.contains("no complete answer within 1s"),
        "{}",
        run.stdout
    );
    assert_recorded(
        home.path(),
        OutcomeKind::TransportError,
        "no complete answer within 1s",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_cap_is_refused_with_or_without_content_length() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("c.toml");
    std::fs::write(&config, "[profiles.default]\nbody_cap_mb = 1\n").expect("write");
    // Announced too large.
    let (announced, _h1) = raw_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000000\r\n\r\n{")
            .await;
    })
    .await;
    // Chunked, growing past the cap.
    let (chunked, _h2) = raw_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..40 {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if s.write_all(&frame).await.is_err() {
                return;
            }
        }
    })
    .await;
    for url in [announced, chunked] {
        let run = send(
            home.path(),
            &url,
            &[
                "--config",
                config.to_str().expect("utf8"),
                "--set",
                "prompt=x",
                "--json",
            ],
        )
        .await;
        assert_eq!(run.code, 4, "{}", run.stdout);
        assert!(
            run.stdout.contains("larger than the 1048576 byte cap"),
            "{}",
            run.stdout
        );
        assert_recorded(
            home.path(),
            OutcomeKind::TransportError,
            "larger than the 1048576 byte cap",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_plain_http_port_is_a_clear_error() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock().await;
    let https = server.url().replacen("http://", "https://", 1);
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        send(
            home.path(),
            &https,
            &["--set", "prompt=x", "--timeout", "5"],
        ),
    )
    .await
    .expect("bounded");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: could not connect: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("is the endpoint http://"),
        "{}",
        run.stderr
    );
    assert_recorded(
        home.path(),
        OutcomeKind::TransportError,
        "could not connect",
    );
}

const HOSTILE: &str = "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{1b}[31mred\u{0}\u{202e}evil\u{2066}";

#[tokio::test(flavor = "multi_thread")]
async fn hostile_text_from_a_server_is_escaped_in_human_and_json_output() {
    let home = tempfile::tempdir().expect("tmp");
    let long = "A".repeat(1_000_000);
    let error_body = serde_json::json!({
        "code": 50411, "data": null, "message": format!("{HOSTILE}{long}"),
        "request_id": format!("2024{HOSTILE}"), "status": 50411, "time_elapsed": "1ms"
    })
    .to_string();
    let html = format!("<html><title>{HOSTILE}</title>{HOSTILE}</html>");
    let (json_url, _h1) = raw_server(move |mut s| {
        let body = error_body.clone();
        async move {
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-evil: {}\r\ncontent-length: {}\r\n\r\n",
                "\u{202e}evil", body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
    })
    .await;
    let (html_url, _h2) = raw_server(move |mut s| {
        let body = html.clone();
        async move {
            let head = format!(
                "HTTP/1.1 500 Oops\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
    })
    .await;
    for (url, code) in [(&json_url, 3), (&html_url, 4)] {
        for json in [false, true] {
            let mut extra = vec!["--set", "prompt=x"];
            if json {
                extra.push("--json");
            }
            let run = send(home.path(), url, &extra).await;
            assert_eq!(run.code, code, "{} {}", run.stdout, run.stderr);
            assert_terminal_safe(&run);
            let (kind, _) = last_entry(home.path());
            let expected = if code == 3 {
                OutcomeKind::ServiceError
            } else {
                OutcomeKind::NonJson
            };
            assert_eq!(kind, expected);
            if !json {
                // Shown escaped (or replaced), and capped.
                assert!(run.stderr.contains("[31mred"), "{}", run.stderr);
                assert!(run.raw.len() < 20_000, "{} bytes printed", run.raw.len());
            } else {
                let v: serde_json::Value =
                    serde_json::from_str(run.stdout.trim()).expect("valid JSON");
                assert!(v["message"].is_string());
            }
        }
    }
    // What the history kept is shown escaped too: list, show, show --json.
    let ids: Vec<String> = Store::open(&home.path().join("data").join("volcv"))
        .expect("open")
        .list(&Query::default())
        .expect("list")
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    let mut commands = vec![vec!["history".to_owned(), "list".to_owned()]];
    for id in &ids {
        commands.push(vec!["history".into(), "show".into(), id.clone()]);
        commands.push(vec![
            "history".into(),
            "show".into(),
            id.clone(),
            "--json".into(),
        ]);
    }
    for args in commands {
        let run = volcv_plain(home.path(), &args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_terminal_safe(&run);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_rephraser_result_on_success_is_escaped() {
    let home = tempfile::tempdir().expect("tmp");
    let body = serde_json::json!({
        "code": 10000,
        "data": {"algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
                 "binary_data_base64": [], "image_urls": [], "pe_result": "",
                 "predict_tags_result": "", "rephraser_result": HOSTILE,
                 "request_id": "ab"},
        "message": "Success", "request_id": "x", "status": 10000, "time_elapsed": "1ms"
    })
    .to_string();
    let (url, _h) = raw_server(move |mut s| {
        let body = body.clone();
        async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
    })
    .await;
    let run = send(home.path(), &url, &["--set", "prompt=x", "--out", "out"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_terminal_safe(&run);
    assert!(
        run.stdout.contains("rephraser_result: \\x1b]52;c;"),
        "{}",
        run.stdout
    );
}

/// A server cannot choose where files go: a request id full of `../`, result URLs whose paths
/// climb out and a `Content-Disposition` file name are all ignored; results are saved in
/// `--out` under volcv's own names, and nothing is written anywhere else.
#[tokio::test(flavor = "multi_thread")]
async fn server_chosen_names_and_paths_never_decide_where_files_go() {
    let home = tempfile::tempdir().expect("tmp");
    let jpeg = {
        let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg)
            .expect("jpeg");
        out.into_inner()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let answer = serde_json::json!({
        "code": 10000,
        "data": {"algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
                 "binary_data_base64": [], "rephraser_result": "",
                 "image_urls": [format!("{base}/../../../../tmp/evil.sh"),
                                format!("{base}/%2e%2e%2f%2e%2e%2fetc%2fpasswd")],
                 "request_id": "../../../../etc/cron.d/evil"},
        "message": "Success", "request_id": "../../../home/victim/.bashrc", "status": 10000,
        "time_elapsed": "1s"
    })
    .to_string();
    let _server = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (answer, jpeg) = (answer.clone(), jpeg.clone());
            tokio::spawn(async move {
                let mut head = vec![0u8; 65536];
                let n = sock.read(&mut head).await.unwrap_or(0);
                let is_api = head[..n].starts_with(b"POST");
                if is_api {
                    read_rest(&mut sock, &head[..n]).await;
                }
                let (ctype, extra, body) = if is_api {
                    ("application/json", String::new(), answer.into_bytes())
                } else {
                    (
                        "image/jpeg",
                        "content-disposition: attachment; filename=\"../../evil.sh\"\r\n".into(),
                        jpeg,
                    )
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\n{extra}connection: close\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    let run = send(
        home.path(),
        &format!("{base}/"),
        &["--set", "prompt=x", "--out", "out", "--json"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let saved: Vec<String> = walk(home.path())
        .into_iter()
        .filter(|p| !p.starts_with(home.path().join("data")))
        .map(|p| {
            p.strip_prefix(home.path())
                .expect("under home")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    for name in &saved {
        let file = name.strip_prefix("out/").expect("only in --out");
        // volcv-YYYYMMDD-HHMMSS-<up to 8 safe chars of the request id>-N.jpg
        let parts: Vec<&str> = file.split('-').collect();
        assert_eq!(parts[0], "volcv", "{file}");
        assert!(
            file.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
            "{file}"
        );
        assert!(file.ends_with(".jpg"), "{file}");
    }
    assert_recorded(home.path(), OutcomeKind::Success, "");
}

/// Reads the rest of a request whose first bytes are `first`.
async fn read_rest(sock: &mut tokio::net::TcpStream, first: &[u8]) {
    let mut buf = first.to_vec();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Invalid UTF-8 from a server is shown lossy (U+FFFD), never raw, and recorded.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_from_a_server_is_shown_lossy() {
    let home = tempfile::tempdir().expect("tmp");
    let (url, _h) = raw_server(|mut s| async move {
        let body = b"{\"code\":50411,\"data\":null,\"message\":\"bad \xff\xfe bytes \xc3\",\"request_id\":\"r\",\"status\":50411,\"time_elapsed\":\"1ms\"}".to_vec();
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&body).await;
    })
    .await;
    let run = send(home.path(), &url, &["--set", "prompt=x"]).await;
    assert!(
        std::str::from_utf8(&run.raw).is_ok(),
        "output is valid UTF-8"
    );
    assert_terminal_safe(&run);
    // Not JSON (JSON is UTF-8): no usable answer, the body shown lossy.
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid UTF-8 at byte 41"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("bad \u{FFFD}\u{FFFD} bytes \u{FFFD}"),
        "{}",
        run.stderr
    );
    assert_recorded(home.path(), OutcomeKind::NonJson, "invalid UTF-8");
}
