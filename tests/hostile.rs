//! What hostile servers and files do to `volcv`, against the real binary: small HTTP servers
//! on 127.0.0.1:0 that echo credentials, cut answers short, redirect, or send terminal
//! controls; a foreign history database; config files that quote secrets back; out-of-range
//! flags that used to panic; the modes of the files volcv creates.

mod common;

use base64::Engine as _;
use common::{data_dir, files_under, read_request, volcv_cmd};
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "sk-hostileECHO-7c1d9a0b3e55";
const AK: &str = "AKLThostileECHOaccess42f1";
const SK: &str = "c2VjcmV0aG9zdGlsZUVDSE8ta2V5LTk5";
/// A reference image by URL (never fetched by volcv: the service would fetch it).
const REFERENCE: &str = "https://example.com/reference.jpg";

/// A loopback server whose every answer is `respond(request bytes, request number)`, written
/// as raw bytes before the connection is closed. Counts requests; stops when dropped.
struct Raw {
    url: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Raw {
    fn start(respond: impl Fn(&[u8], usize) -> Vec<u8> + Send + Sync + 'static) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond = Arc::new(respond);
        let (count, seen, halt) = (hits.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let (respond, count, seen) = (respond.clone(), count.clone(), seen.clone());
                std::thread::spawn(move || {
                    let req = read_request(&mut stream);
                    if req.is_empty() {
                        return;
                    }
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    seen.lock().expect("lock").push(req.clone());
                    let _ = stream.write_all(&respond(&req, n));
                    let _ = stream.flush();
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Raw {
            url: format!("http://{addr}/"),
            hits,
            requests,
            stop,
            addr,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A whole HTTP/1.1 answer.
fn http(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         {extra_headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The value of a request header.
fn header(req: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(req);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn run(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = volcv_cmd(home);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run volcv")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A secret as it could come back: raw and base64 (standard, URL-safe, each alignment).
fn forms(secret: &str) -> Vec<String> {
    let mut v = vec![secret.to_owned()];
    for pad in 0..3 {
        let mut bytes = vec![b'x'; pad];
        bytes.extend_from_slice(secret.as_bytes());
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ] {
            let e = engine.encode(&bytes);
            let start = if pad == 0 { 0 } else { 4 };
            v.push(e[start..e.len() - 4].to_owned());
        }
    }
    v
}

fn leaked(bytes: &[u8], secrets: &[&str]) -> Option<String> {
    for s in secrets {
        for f in forms(s) {
            if bytes.windows(f.len()).any(|w| w == f.as_bytes()) {
                return Some(format!("{s} as {f}"));
            }
        }
    }
    None
}

/// Every file volcv wrote under `home` and the outputs, searched for each secret.
fn assert_nothing_leaked(home: &Path, outputs: &[&Output], secrets: &[&str]) {
    for o in outputs {
        for (what, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            if let Some(l) = leaked(bytes, secrets) {
                panic!("{l} in {what}: {}", text(o));
            }
        }
    }
    for f in files_under(home) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        if let Some(l) = leaked(&bytes, secrets) {
            panic!("{l} in {}", f.display());
        }
    }
}

/// A relay that echoes the request's `Authorization` value in its body (raw and base64) and
/// in a header, as a debugging gateway might.
fn echo_server() -> Raw {
    Raw::start(|req, _| {
        let auth = header(req, "authorization").unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&auth);
        let body = serde_json::json!({
            "error": {"message": format!("rejected credentials {auth}")},
            "echo": {"authorization": auth, "b64": b64},
        });
        http(
            "401 Unauthorized",
            &format!("X-Echo-Authorization: {auth}\r\n"),
            body.to_string().as_bytes(),
        )
    })
}

#[test]
fn an_echoed_bearer_key_is_scrubbed_from_output_and_history_and_said_so() {
    let home = tempfile::tempdir().expect("home");
    let server = echo_server();
    let env = [("VOLCV_API_KEY", API_KEY)];
    let args = [
        "send",
        "--image",
        REFERENCE,
        "--endpoint",
        &server.url,
        "--set",
        "prompt=echo",
    ];
    let human = run(home.path(), &env, &args);
    assert_eq!(human.status.code(), Some(3), "{}", text(&human));
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(
        stderr.contains("warning: the answer carried 4 copies of a credential"),
        "{}",
        text(&human)
    );
    assert!(
        stderr.contains("rejected credentials <redacted>"),
        "{stderr}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = run(home.path(), &env, &json_args);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(
        v["warnings"].as_array().is_some_and(|w| w.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("replaced by <redacted>")))),
        "{v}"
    );
    let id = v["history_id"].as_i64().expect("recorded");
    let show = run(
        home.path(),
        &[],
        &["history", "show", &id.to_string(), "--json"],
    );
    let entry: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
    let body = entry["response_body"].to_string();
    assert!(body.contains("rejected credentials <redacted>"), "{body}");
    assert!(
        entry["attempts"]
            .to_string()
            .contains("copies of a credential"),
        "{entry}"
    );
    let headers = entry["response_headers"].to_string();
    assert!(headers.contains("<redacted>"), "{headers}");
    assert_nothing_leaked(home.path(), &[&human, &json, &show], &[API_KEY]);
}

#[test]
fn an_echoed_signed_authorization_is_scrubbed_access_key_and_signature() {
    let home = tempfile::tempdir().expect("home");
    let server = echo_server();
    let env = [("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)];
    let out = run(
        home.path(),
        &env,
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &server.url,
            "--auth",
            "volc",
            "--set",
            "prompt=echo",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let req = server.requests.lock().expect("lock")[0].clone();
    let auth = header(&req, "authorization").expect("signed");
    let signature = auth
        .split("Signature=")
        .nth(1)
        .expect("signature")
        .to_owned();
    assert!(auth.contains(AK), "{auth}");
    let show = run(home.path(), &[], &["history", "show", "1", "--json"]);
    assert!(show.status.success(), "{}", text(&show));
    assert_nothing_leaked(home.path(), &[&out, &show], &[AK, SK, &signature]);
}

#[test]
fn a_body_cut_short_after_http_200_is_recorded_once_not_posted_again() {
    let home = tempfile::tempdir().expect("home");
    // Announces 4000 bytes, sends 39, closes.
    let server = Raw::start(|_, _| {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Content-Length: 4000\r\nConnection: close\r\n\r\n"
            .to_vec();
        out.extend_from_slice(br#"{"code":10000,"data":{"binary_data_base"#);
        out
    });
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--set",
            "prompt=cut",
            "--json",
        ],
    );
    assert_eq!(server.hits(), 1, "POSTed again: {}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["outcome"], "non_json", "{v}");
    assert_eq!(v["http_status"], 200, "{v}");
    assert_eq!(v["attempts"], 1, "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("cut short after 39 bytes"), "{message}");
    let list = run(home.path(), &[], &["history", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list");
    assert_eq!(rows[0]["outcome"], "non_json", "{rows}");
}

#[test]
fn api_calls_do_not_follow_redirects_and_say_where_they_pointed() {
    let home = tempfile::tempdir().expect("home");
    let elsewhere = Raw::start(|_, _| http("200 OK", "", br#"{"code":10000,"data":{}}"#));
    let target = format!("{}steal?sig=abc123", elsewhere.url);
    let redirecting = Raw::start(move |_, _| {
        http(
            "307 Temporary Redirect",
            &format!("Location: {target}\r\n"),
            b"",
        )
    });
    let out = run(
        home.path(),
        &[("VOLCV_API_KEY", API_KEY)],
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &format!("{}?token=q1", redirecting.url),
            "--set",
            "prompt=do not follow",
            "--json",
        ],
    );
    assert_eq!(elsewhere.hits(), 0, "followed: {}", text(&out));
    assert_eq!(redirecting.hits(), 1, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["outcome"], "non_json", "{v}");
    assert_eq!(v["http_status"], 307, "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "redirect to {}steal?… not followed",
            elsewhere.url
        )),
        "{message}"
    );
    assert!(!message.contains("abc123"), "{message}");

    // A redirect loop: one request, not retried.
    let looping = Raw::start(|_, _| http("302 Found", "Location: /again\r\n", b""));
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &looping.url,
            "--auth",
            "none",
            "--set",
            "prompt=loop",
            "--json",
        ],
    );
    assert_eq!(looping.hits(), 1, "{}", text(&out));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[test]
fn c1_controls_from_the_server_are_escaped_in_every_json_output() {
    let home = tempfile::tempdir().expect("home");
    // 8-bit CSI clears the screen, 8-bit OSC sets the window title, ST ends it.
    let hostile = "\u{9b}2J\u{9d}0;pwned\u{9c}done";
    let body = serde_json::json!({
        "code": 50411, "message": hostile, "request_id": hostile, "data": null,
    });
    let server = Raw::start(move |_, _| http("400 Bad Request", "", body.to_string().as_bytes()));
    let has_c1 = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .chars()
            .any(|c| ('\u{80}'..='\u{9f}').contains(&c))
    };
    let send = run(
        home.path(),
        &[],
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--set",
            &format!("prompt=p{hostile}"),
            "--json",
        ],
    );
    assert!(!has_c1(&send.stdout), "{}", text(&send));
    assert!(
        String::from_utf8_lossy(&send.stdout).contains("\\u009b2J"),
        "{}",
        text(&send)
    );
    let list = run(home.path(), &[], &["history", "list", "--json"]);
    let show = run(home.path(), &[], &["history", "show", "1", "--json"]);
    for o in [&list, &show] {
        assert!(o.status.success(), "{}", text(o));
        assert!(!has_c1(&o.stdout), "{}", text(o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("\\u009d0;pwned"));
    }
}

#[test]
fn history_list_escapes_a_foreign_databases_table_names() {
    let home = tempfile::tempdir().expect("home");
    let data = data_dir(home.path());
    std::fs::create_dir_all(&data).expect("data dir");
    let conn = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).expect("db");
    conn.execute_batch("CREATE TABLE \"\x1b]0;owned\x07\x1b[2J\" (x)")
        .expect("table");
    drop(conn);
    let out = run(home.path(), &[], &["history", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!out.stderr.contains(&0x1b), "{}", text(&out));
    assert!(!out.stderr.contains(&0x07), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a usable volcv history"), "{stderr}");
    assert!(stderr.contains("\\x1b]0;owned"), "{stderr}");
}

#[test]
fn a_numeric_secret_is_never_quoted_back_in_a_config_error() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("config").join("volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    let cases = [
        "profiles.default.api_key = 98765432109876\n",
        "[profiles]\ndefault = { endpoint = \"http://127.0.0.1:9/\", api_key = 98765432109876 }\n",
        "[profiles.default]\nsecret_key = 98765432109876\n",
        "[profiles]\n\"default\".'access_key' = 98765432109876\n",
    ];
    for case in cases {
        std::fs::write(config.join("config.toml"), case).expect("write");
        let out = run(
            home.path(),
            &[],
            &[
                "send",
                "--dry-run",
                "--image",
                REFERENCE,
                "--set",
                "prompt=x",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
        let all = text(&out);
        assert!(!all.contains("98765432109876"), "{case}: {all}");
        assert!(all.contains("not shown: it is a secret"), "{case}: {all}");
    }
    // A key at the top level, and one set twice, say what is wrong.
    std::fs::write(
        config.join("config.toml"),
        "api_key = \"sk-toplevel-123456\"\n",
    )
    .expect("write");
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--dry-run",
            "--image",
            REFERENCE,
            "--set",
            "prompt=x",
        ],
    );
    let all = text(&out);
    assert!(all.contains("belongs in a profile"), "{all}");
    assert!(!all.contains("sk-toplevel-123456"), "{all}");
    std::fs::write(
        config.join("config.toml"),
        "[profiles.default]\napi_key = \"sk-first-123456\"\napi_key = \"sk-second-654321\"\n",
    )
    .expect("write");
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--dry-run",
            "--image",
            REFERENCE,
            "--set",
            "prompt=x",
        ],
    );
    let all = text(&out);
    assert!(all.contains("set twice"), "{all}");
    assert!(
        !all.contains("sk-first") && !all.contains("sk-second"),
        "{all}"
    );
}

#[test]
fn mock_help_warns_that_key_flags_show_in_ps() {
    let home = tempfile::tempdir().expect("home");
    let out = run(home.path(), &[], &["mock", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for env in ["VOLCV_MOCK_API_KEY", "VOLCV_MOCK_SK"] {
        assert!(
            help.contains(&format!("Prefer the env variable {env}")),
            "{help}"
        );
    }
    assert!(help.contains("(ps)"), "{help}");
}

#[test]
fn out_of_range_rates_and_concurrency_are_refused_not_panics() {
    let home = tempfile::tempdir().expect("home");
    let out = run(
        home.path(),
        &[],
        &[
            "mock",
            "--addr",
            "127.0.0.1:0",
            "--concurrency",
            "18446744073709551615",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--concurrency 18446744073709551615 is outside 1..=100000"),
        "{}",
        text(&out)
    );
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--auth",
            "none",
            "--set",
            "prompt=x",
            "--image",
            REFERENCE,
            "--vary",
            "seed=1,2",
            "--out",
            "sweep-out",
        ];
        args.extend_from_slice(extra);
        run(home.path(), &[], &args)
    };
    let out = sweep(&["--qps", "1e-20"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "--qps: qps 0.00000000000000000001 must be a number of requests per second from 0.001"
        ),
        "{}",
        text(&out)
    );
    let config = home.path().join("config").join("volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("config.toml"),
        "[profiles.default]\nqps = 1e-20\n",
    )
    .expect("write");
    let out = sweep(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("qps in profile \"default\": qps 0.00000000000000000001 must be"),
        "{}",
        text(&out)
    );
}

#[cfg(unix)]
#[test]
fn history_and_saved_results_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().expect("home");
    let png = common::png(8, 8, 3);
    let server = common::CannedServer::json(common::success_envelope(&[png], "r"));
    let out_dir = home.path().join("results");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let bin = env!("CARGO_BIN_EXE_volcv");
    // volcv's clean environment, but started through a shell that clears the umask.
    let clean = volcv_cmd(home.path());
    let mut sh = std::process::Command::new("sh");
    sh.env_clear()
        .envs(clean.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .stdin(Stdio::null())
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{bin}' send --image {REFERENCE} --endpoint {} --auth none \
             --set prompt=private --out '{}'",
            server.url,
            out_dir.display()
        ));
    let out = sh.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = data_dir(home.path());
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("images")), 0o700, "images dir");
    for f in files_under(&data) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    let saved = files_under(&out_dir);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(mode(&saved[0]), 0o600, "{}", saved[0].display());
    assert!(
        files_under(&data)
            .iter()
            .any(|f| f.ends_with("history.sqlite3"))
    );
}

/// Runs volcv, killing it (and failing) if it has not ended after a generous bound: a FIFO
/// read would otherwise hang the test for ever.
fn run_bounded(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = volcv_cmd(home);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn volcv");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("volcv {args:?} hung: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

#[cfg(unix)]
#[test]
fn settings_files_that_are_fifos_or_dev_zero_are_refused_not_read() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let config = h.join("config").join("volcv");
    let volc = h.join(".volc");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::create_dir_all(&volc).expect(".volc");
    let fifo = |p: &Path| {
        let _ = std::fs::remove_file(p);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
    };
    let zero = |p: &Path| {
        let _ = std::fs::remove_file(p);
        std::os::unix::fs::symlink("/dev/zero", p).expect("symlink");
    };
    let dry_run = [
        "send",
        "--dry-run",
        "--image",
        REFERENCE,
        "--set",
        "prompt=x",
    ];
    for (make, what) in [
        (
            &fifo as &dyn Fn(&Path),
            "a named pipe (FIFO), not a regular file",
        ),
        (&zero, "a character device, not a regular file"),
    ] {
        // The config file.
        make(&config.join("config.toml"));
        let out = run_bounded(h, &[], &dry_run);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(what), "{}", text(&out));
        std::fs::remove_file(config.join("config.toml")).expect("rm");
        // ~/.volc/credentials, looked up for --auth volc.
        make(&volc.join("credentials"));
        let mut volc_args = dry_run.to_vec();
        volc_args.extend(["--auth", "volc", "--endpoint", "http://127.0.0.1:9/"]);
        let out = run_bounded(h, &[], &volc_args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(".volc/credentials: "), "{}", text(&out));
        assert!(text(&out).contains(what), "{}", text(&out));
        std::fs::remove_file(volc.join("credentials")).expect("rm");
        // presets.toml.
        make(&config.join("presets.toml"));
        let out = run_bounded(h, &[], &["preset", "list"]);
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains(what), "{}", text(&out));
        std::fs::remove_file(config.join("presets.toml")).expect("rm");
    }
}

#[test]
fn a_vary_range_that_overflows_when_rounded_is_checked_not_sent_as_null() {
    let home = tempfile::tempdir().expect("home");
    let out = run(
        home.path(),
        &[],
        &[
            "sweep",
            "--dry-run",
            "--json",
            "--auth",
            "none",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--image",
            REFERENCE,
            "--set",
            "prompt=x",
            "--vary",
            "scale=1.7e308..1.79e308:1e306",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains("null"), "{all}");
    assert!(all.contains("is outside the allowed 1..10"), "{all}");
}

#[test]
fn a_request_file_with_a_utf8_bom_is_read() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("request.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        br#"{"req_key":"high_aes_ip_v20","prompt":"bom","image_urls":["https://example.com/a.jpg"]}"#,
    );
    std::fs::write(&file, bytes).expect("write");
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--dry-run",
            "--auth",
            "none",
            "--endpoint",
            "http://127.0.0.1:9/",
            file.to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(r#""prompt":"bom""#), "{}", text(&out));
}

#[test]
fn json_exit_code_is_the_exit_code_when_a_result_image_is_lost() {
    let home = tempfile::tempdir().expect("home");
    let body = serde_json::json!({
        "code": 10000, "message": "Success", "request_id": "r1", "status": 10000,
        "time_elapsed": "1s",
        "data": {"binary_data_base64": ["not base64 !!"], "image_urls": null},
    });
    let server = common::CannedServer::json(body.to_string().into_bytes());
    let out = run(
        home.path(),
        &[],
        &[
            "send",
            "--image",
            REFERENCE,
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--set",
            "prompt=lost",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["exit_code"], 4, "{v}");
}
