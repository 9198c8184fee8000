//! `volcv send` as a user runs it: the real binary against the embedded mock (or a raw socket
//! server) on 127.0.0.1, checking exit codes, saved files and that no secret leaks.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use volcv::api::secret::Secret;
use volcv::mock::{MockConfig, MockServer};

const API_KEY: &str = "sk-test-SECRET-key-4711";
const AK: &str = "AKLTtestACCESSkey0815";
const SK: &str = "c2VjcmV0LXNlY3JldC1rZXktdGVzdA==";

struct Run {
    out: Output,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).expect("stdout is one JSON object")
    }
    fn assert_no_secrets(&self) {
        for s in [API_KEY, AK, SK] {
            assert!(
                !self.stdout.contains(s),
                "secret in stdout: {}",
                self.stdout
            );
            assert!(
                !self.stderr.contains(s),
                "secret in stderr: {}",
                self.stderr
            );
        }
    }
}

/// Runs the binary with a clean environment: its own HOME and XDG dirs, no inherited keys.
async fn volcv(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = common::output_async(common::volcv_with(home, env, args)).await;
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        out,
    }
}

async fn mock(cfg: MockConfig) -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..cfg
    })
    .await
    .expect("mock starts")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn reference_png(dir: &Path) -> PathBuf {
    let img = image::RgbImage::from_fn(160, 160, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, 128])
    });
    let path = dir.join("ref.png");
    img.save(&path).expect("write reference");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn success_with_base64_saves_decodable_images() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        api_key: Some(Secret::new(API_KEY)),
        ..Default::default()
    })
    .await;
    let reference = reference_png(home.path());
    let out = home.path().join("out");
    let run = volcv(
        home.path(),
        &[("VOLCV_API_KEY", API_KEY)],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--image",
            reference.to_str().expect("utf8"),
            "--set",
            "prompt=a lighthouse at dusk",
            "--set",
            "return_url=false",
            "--set",
            "width=256",
            "--set",
            "height=320",
            "--out",
            out.to_str().expect("utf8"),
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    run.assert_no_secrets();
    let j = run.json();
    assert_eq!(j["outcome"], "success");
    assert_eq!(j["code"], 10000);
    assert_eq!(j["attempts"], 1);
    assert!(j["time_elapsed"].as_str().is_some_and(|s| s.ends_with('s')));
    let files = files_in(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        j["images"][0].as_str().map(PathBuf::from),
        Some(files[0].clone())
    );
    let img = image::open(&files[0]).expect("saved image decodes");
    // use_sr (default true) doubles the requested size.
    assert_eq!((img.width(), img.height()), (512, 640));
}

#[tokio::test(flavor = "multi_thread")]
async fn success_with_urls_downloads_at_once_and_signs_with_ak_sk() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        ak_sk: Some((AK.to_owned(), Secret::new(SK))),
        ..Default::default()
    })
    .await;
    let out = home.path().join("out");
    let run = volcv(
        home.path(),
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "volc",
            "--image",
            "https://example.com/cat.jpg",
            "--set",
            "prompt=a cat",
            "--set",
            "use_sr=false",
            "--set",
            "width=256",
            "--set",
            "height=256",
            "--out",
            out.to_str().expect("utf8"),
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    run.assert_no_secrets();
    assert!(
        run.stdout.starts_with("ok: 10000 Success"),
        "{}",
        run.stdout
    );
    let files = files_in(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        run.stdout
            .contains(&format!("saved: {}", files[0].display()))
    );
    let img = image::open(&files[0]).expect("downloaded image decodes");
    assert_eq!((img.width(), img.height()), (256, 256));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50429_is_retried_and_succeeds() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=[mock:nth=1:50429] retry me",
            "--set",
            "return_url=false",
            "--set",
            "width=256",
            "--set",
            "height=256",
            "--set",
            "use_sr=false",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    let j = run.json();
    assert_eq!(j["outcome"], "success");
    assert_eq!(j["attempts"], 2);
    assert_eq!(files_in(&home.path().join("out")).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50411_is_not_retried() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=[mock:50411] moderated",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 3, "{} {}", run.stdout, run.stderr);
    let j = run.json();
    assert_eq!(j["outcome"], "service_error");
    assert_eq!(j["code"], 50411);
    assert_eq!(j["http_status"], 400);
    assert_eq!(j["attempts"], 1);
    assert!(j["message"].as_str().is_some_and(|m| m.contains("50411")));
    assert!(files_in(&home.path().join("out")).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_502_is_no_usable_answer() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=[mock:html502] gateway down",
        ],
    )
    .await;
    assert_eq!(run.code(), 4, "{} {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("HTTP 502"), "{}", run.stderr);
    // The page's lines are shown, escaped.
    assert!(run.stderr.contains("  | "), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_error_is_a_gateway_error_without_secrets() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        ak_sk: Some((AK.to_owned(), Secret::new("the-right-secret"))),
        ..Default::default()
    })
    .await;
    let run = volcv(
        home.path(),
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "volc",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a cat",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 3, "{} {}", run.stdout, run.stderr);
    run.assert_no_secrets();
    let j = run.json();
    assert_eq!(j["outcome"], "gateway_error");
    assert_eq!(j["code"], 100010);
    assert!(
        j["message"]
            .as_str()
            .is_some_and(|m| m.contains("SignatureDoesNotMatch")),
        "{j}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_server_hits_the_timeout() {
    let home = tempfile::tempdir().expect("tmp");
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &format!("http://{addr}/"),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a cat",
            "--timeout",
            "1",
            "--json",
        ],
    )
    .await;
    hold.abort();
    assert_eq!(run.code(), 4, "{} {}", run.stdout, run.stderr);
    let j = run.json();
    assert_eq!(j["outcome"], "transport_error");
    assert!(
        j["message"]
            .as_str()
            .is_some_and(|m| m.contains("within 1s")),
        "{j}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_request_redacted_and_sends_nothing() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "volc",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a cat",
            "--set",
            "seed=7",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    run.assert_no_secrets();
    assert!(
        run.stdout
            .starts_with("POST /?Action=CVProcess&Version=2022-08-31 HTTP/1.1\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Authorization: HMAC-SHA256 Credential=<redacted>/")
    );
    assert!(run.stdout.contains("Signature=<redacted>"));
    assert!(run.stdout.contains("X-Content-Sha256: "));
    let body_line = run.stdout.lines().last().expect("body");
    let body: Value = serde_json::from_str(body_line).expect("body is JSON");
    assert_eq!(body["seed"], 7);
    assert_eq!(body["req_key"], "high_aes_ip_v20");
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_names_every_problem_and_sends_nothing() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--set",
            "width=900",
            "--set",
            "scale=abc",
            "--image",
            "missing.png",
        ],
    )
    .await;
    assert_eq!(run.code(), 2, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("scale must be a number, got \"abc\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--image missing.png: no such file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was sent"));
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--set",
            "width=900",
            "--set",
            "prompt=x",
            "--image",
            "https://example.com/a.jpg",
        ],
    )
    .await;
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr.contains("width 900 is outside 256..768 px"),
        "{}",
        run.stderr
    );
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_file_and_stdin_are_the_body() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let file = home.path().join("req.json");
    std::fs::write(
        &file,
        r#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/a.jpg"],"prompt":"from a file","width":256,"height":256,"use_sr":false,"return_url":false}"#,
    )
    .expect("write");
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            file.to_str().expect("utf8"),
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--set",
            "seed=3",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let body: Value = serde_json::from_str(run.stdout.lines().last().expect("body")).expect("json");
    assert_eq!(body["prompt"], "from a file");
    assert_eq!(body["seed"], 3);
    // A file is sent as written: no schema defaults are merged in.
    assert!(body.get("scale").is_none(), "{body}");
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, "{ not json").expect("write");
    let run = volcv(
        home.path(),
        &[],
        &["send", bad.to_str().expect("utf8"), "--auth", "none"],
    )
    .await;
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr.contains("bad.json is not valid JSON"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_over_the_limits_is_refused_or_fitted_with_fit_image() {
    let home = tempfile::tempdir().expect("tmp");
    let wide = home.path().join("pano.png");
    image::RgbImage::from_fn(900, 150, |x, _| image::Rgb([(x % 256) as u8, 90, 200]))
        .save(&wide)
        .expect("write");
    let before = std::fs::read(&wide).expect("read");
    let args = |fit: bool| {
        let mut v = vec![
            "send",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--auth",
            "none",
            "--image",
            wide.to_str().expect("utf8"),
            "--set",
            "prompt=a cat",
            "--dry-run",
        ];
        if fit {
            v.push("--fit-image");
        }
        v
    };
    let run = volcv(home.path(), &[], &args(false)).await;
    assert_eq!(run.code(), 2, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("aspect ratio over 3:1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--fit-image"), "{}", run.stderr);
    let run = volcv(home.path(), &[], &args(true)).await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    // Never a silent change: what was done is said, and the file is untouched.
    assert!(
        run.stderr
            .contains("the request carries a fitted copy: cropped 900x150 to 450x150 (3:1)"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&wide).expect("read"), before);
    let body: Value = serde_json::from_str(run.stdout.lines().last().expect("body")).expect("json");
    use base64::Engine as _;
    let sent = base64::engine::general_purpose::STANDARD
        .decode(body["binary_data_base64"][0].as_str().expect("b64"))
        .expect("base64");
    assert!(volcv::images::decode::reference_problems(&sent).is_empty());
    assert_eq!(volcv::images::dimensions(&sent), Some((450, 150)));
}

#[tokio::test(flavor = "multi_thread")]
async fn print_without_a_terminal_prints_only_the_paths() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let out = home.path().join("out");
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a cat",
            "--set",
            "width=256",
            "--set",
            "height=256",
            "--out",
            out.to_str().expect("utf8"),
            "--print",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{} {}", run.stdout, run.stderr);
    let saved = files_in(&out);
    assert_eq!(saved.len(), 1);
    assert!(
        run.stdout
            .contains(&format!("saved: {}", saved[0].display())),
        "{}",
        run.stdout
    );
    // No escape sequences, no picture: stdout is a pipe here.
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    assert!(!run.stdout.contains('▀'), "{:?}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_show_print_without_a_terminal_lists_the_images_only() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a kept result",
            "--set",
            "return_url=false",
            "--set",
            "width=256",
            "--set",
            "height=256",
            "--set",
            "use_sr=false",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let id = run.json()["history_id"].as_i64().expect("history id");
    let show = volcv(
        home.path(),
        &[],
        &["history", "show", &id.to_string(), "--print"],
    )
    .await;
    assert_eq!(show.code(), 0, "{}", show.stderr);
    assert!(show.stdout.contains("images:"), "{}", show.stdout);
    assert!(show.stdout.contains(".jpg"), "{}", show.stdout);
    // stdout is a pipe here: no image escape sequences or pixels, only text.
    assert!(!show.stdout.contains('\x1b'), "{}", show.stdout);
    let bad = volcv(
        home.path(),
        &[],
        &["history", "show", "1", "--print", "--json"],
    )
    .await;
    assert_eq!(bad.code(), 2, "--print conflicts with --json");
}

/// `volcv --demo send` records into the demo store (`<data dir>/demo/`, as the TUI's demo),
/// never into the real history; `--json` says which entry, and the store it is in has it.
#[tokio::test(flavor = "multi_thread")]
async fn a_demo_send_is_recorded_in_the_demo_store_only() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data").join("volcv");
    let run = volcv(
        home.path(),
        &[],
        &[
            "--demo",
            "send",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=a demo fox",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let id = run.json()["history_id"].as_i64().expect("recorded");
    assert!(
        !data.join(volcv::store::DB_FILE).exists(),
        "nothing in the real store"
    );
    let demo = volcv::store::Store::open(&data.join("demo")).expect("demo store");
    let e = demo.get(id).expect("get").expect("in the demo store");
    assert_eq!(e.summary.prompt.as_deref(), Some("a demo fox"));
    assert_eq!(e.summary.outcome, volcv::store::OutcomeKind::Success);
}
