//! Secrets never leave volcv: a whole CLI session with a recognisable API key and AK/SK
//! (sends that succeed and fail, dry runs, curl export and import, history list/show/export,
//! config show, error paths, and the TUI starting and quitting in tmux with full logging),
//! then every byte of every file volcv wrote (data dir with the database, its -wal/-shm and
//! images; config dir; state dir with the TUI log; `--out` and export dirs) and all stdout
//! and stderr are searched for each secret, raw, hex and base64. Also: `Debug` of the config
//! and credential types redacts, and a panic's message cannot print a secret.

mod common;

use base64::Engine as _;
use common::{files_under, volcv_cmd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use volcv::api::secret::Secret;
use volcv::mock::{MockConfig, MockServer};

const API_KEY: &str = "sk-volcvLEAKTEST-4f1c2a9e7d";
const AK: &str = "AKLTvolcvLEAKTESTaccess93b1";
const SK: &str = "U2VjcmV0LEAKTESTa2V5VGVzdA9f3e1c";
const WRONG_KEY: &str = "sk-volcvLEAKTEST-wrong-0000";

/// A secret as it could appear: raw, hex (both cases), and base64 (standard and URL-safe,
/// at each of the three alignments, without the edge characters that depend on neighbours).
fn forms(secret: &str) -> Vec<String> {
    let mut v = vec![
        secret.to_owned(),
        hex::encode(secret),
        hex::encode_upper(secret),
    ];
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

fn find_secret(bytes: &[u8]) -> Option<String> {
    for secret in [API_KEY, AK, SK, WRONG_KEY] {
        for form in forms(secret) {
            if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                return Some(format!("{secret} (as {form})"));
            }
        }
    }
    None
}

struct Session {
    home: PathBuf,
    /// Every output to scan, with the command that produced it.
    outputs: Vec<(String, Vec<u8>)>,
}

impl Session {
    fn run(&mut self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = volcv_cmd(&self.home);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run volcv");
        let what = args.join(" ");
        self.outputs
            .push((format!("stdout of {what}"), out.stdout.clone()));
        self.outputs
            .push((format!("stderr of {what}"), out.stderr.clone()));
        out
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts the TUI in a detached tmux session with the keys in its environment and full
/// logging, waits for it to draw, and quits it. Returns false (with a note) without tmux.
fn tui_session(home: &Path, endpoint: &str) -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the TUI part of the session is skipped");
        return false;
    }
    let sock = format!("volcv-secrets-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &sock])
            .args(args)
            .output()
            .expect("tmux")
    };
    let line = format!(
        "env -i {env} PATH={p} TERM=xterm-256color LANG=C.UTF-8 VOLCV_LOG=trace \
         VOLCV_API_KEY={API_KEY} VOLC_ACCESSKEY={AK} VOLC_SECRETKEY={SK} \
         {bin} --endpoint {endpoint} --auth bearer --image-protocol none",
        env = common::home_env_line(home),
        p = std::env::var("PATH").unwrap_or_default(),
        bin = env!("CARGO_BIN_EXE_volcv"),
    );
    let started = tmux(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "s",
        "-x",
        "120",
        "-y",
        "40",
        &line,
    ]);
    assert!(started.status.success(), "{}", text(&started));
    common::wait_for("the TUI to draw", 30, || {
        let screen = tmux(&["capture-pane", "-t", "s", "-p"]);
        String::from_utf8_lossy(&screen.stdout)
            .contains("Parameters")
            .then_some(())
    });
    tmux(&["send-keys", "-t", "s", "q"]);
    // The session ends with the UI; then the server.
    common::wait_for("the TUI to quit", 30, || {
        (!tmux(&["has-session", "-t", "s"]).status.success()).then_some(())
    });
    let _ = tmux(&["kill-server"]);
    true
}

#[test]
fn no_secret_in_any_file_or_output_of_a_whole_session() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = rt
        .block_on(MockServer::start(MockConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            quiet: true,
            api_key: Some(Secret::new(API_KEY)),
            ak_sk: Some((AK.to_owned(), Secret::new(SK))),
            ..Default::default()
        }))
        .expect("mock");
    let url = mock.url();
    let home_dir = tempfile::tempdir().expect("tmp");
    let inputs = tempfile::tempdir().expect("inputs outside the scanned home");
    let mut s = Session {
        home: home_dir.path().to_path_buf(),
        outputs: Vec::new(),
    };
    let bearer = [("VOLCV_API_KEY", API_KEY)];
    let volc = [("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)];
    let both = [
        ("VOLCV_API_KEY", API_KEY),
        ("VOLC_ACCESSKEY", AK),
        ("VOLC_SECRETKEY", SK),
    ];
    let reference = inputs.path().join("ref.png");
    std::fs::write(&reference, common::png(160, 160, 4)).expect("reference");
    let reference = reference.to_str().expect("utf8");
    let send = |auth: &'static str, prompt: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "send",
            "--endpoint",
            &url,
            "--auth",
            auth,
            "--image",
            reference,
            "--set",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        v.push(format!("prompt={prompt}"));
        v.extend(extra.iter().map(|a| (*a).to_owned()));
        v
    };
    let args = |v: &[String]| -> Vec<String> { v.to_vec() };

    // Successes: base64 results with a Bearer key, URL results (downloaded) with AK/SK.
    let a = args(&send(
        "bearer",
        "a fox",
        &["--set", "return_url=false", "--out", "out1"],
    ));
    let o = s.run(&bearer, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let a = args(&send("volc", "a fox", &["--out", "out2", "--json"]));
    let o = s.run(&volc, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Failures: service, gateway, non-JSON, a wrong key, a timeout, a refused connection.
    for (env, auth, prompt, want) in [
        (&bearer[..], "bearer", "[mock:50411] x", 3),
        (&volc[..], "volc", "[mock:gateway=100010] x", 3),
        (&bearer[..], "bearer", "[mock:html502] x", 4),
        (&[("VOLCV_API_KEY", WRONG_KEY)][..], "bearer", "x", 3),
    ] {
        let a = args(&send(auth, prompt, &[]));
        let o = s.run(env, &a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code(&o), want, "{prompt}: {}", text(&o));
    }
    let a = args(&send(
        "volc",
        "[mock:slow=20s] x",
        &["--timeout", "1", "--json"],
    ));
    let o = s.run(&volc, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 4, "{}", text(&o));
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/", l.local_addr().expect("addr"))
    };
    let o = s.run(
        &bearer,
        &[
            "send",
            "--endpoint",
            &refused,
            "--auth",
            "bearer",
            "--image",
            reference,
            "--set",
            "prompt=x",
        ],
    );
    assert_eq!(code(&o), 4, "{}", text(&o));
    // Invalid input with keys set, a missing profile, a missing secret key.
    let o = s.run(
        &both,
        &[
            "send",
            "--endpoint",
            &url,
            "--set",
            "width=9999",
            "--set",
            "prompt=x",
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = s.run(&both, &["--profile", "nope", "send", "--set", "prompt=x"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = s.run(
        &[("VOLC_ACCESSKEY", AK)],
        &[
            "send", "--auth", "volc", "--image", reference, "--set", "prompt=x",
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));

    // Dry runs and curl exports, both auth modes.
    for (env, auth) in [(&bearer[..], "bearer"), (&volc[..], "volc")] {
        let o = s.run(
            env,
            &[
                "send",
                "--endpoint",
                &url,
                "--auth",
                auth,
                "--image",
                reference,
                "--set",
                "prompt=x",
                "--dry-run",
            ],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(text(&o).contains("<redacted>"), "{}", text(&o));
        let o = s.run(
            env,
            &[
                "curl",
                "--endpoint",
                &url,
                "--auth",
                auth,
                "--image",
                reference,
                "--set",
                "prompt=x",
            ],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    // --reveal-secrets writes the key on purpose: checked to be there (the scan can see it),
    // and left out of the scan.
    let mut revealed = volcv_cmd(&s.home);
    revealed.envs(bearer).args([
        "curl",
        "--endpoint",
        &url,
        "--auth",
        "bearer",
        "--image",
        reference,
        "--set",
        "prompt=x",
        "--reveal-secrets",
    ]);
    let o = revealed.output().expect("run");
    assert!(
        find_secret(&o.stdout).is_some(),
        "the scan finds a revealed key"
    );
    // A pasted curl command holding credentials (and a valid request: one with an error exits
    // 2): imported without echoing them.
    let pasted = inputs.path().join("pasted.txt");
    std::fs::write(
        &pasted,
        format!(
            "curl -u {AK}:{SK} '{url}?Action=CVProcess&Version=2022-08-31' \
             -H 'Authorization: Bearer {API_KEY}' --oauth2-bearer {API_KEY} \
             --data-raw '{{\"req_key\":\"high_aes_ip_v20\",\"prompt\":\"x\",\
             \"image_urls\":[\"https://example.com/a.jpg\"]}}'"
        ),
    )
    .expect("write");
    let o = s.run(&[], &["curl", "--import", pasted.to_str().expect("utf8")]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // History: list, show (text and JSON), export every entry.
    let o = s.run(&[], &["history", "list", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ids: Vec<i64> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert!(ids.len() >= 7, "{ids:?}");
    for id in &ids {
        let id = id.to_string();
        for extra in [&[][..], &["--json"][..]] {
            let mut a = vec!["history", "show", id.as_str()];
            a.extend_from_slice(extra);
            let o = s.run(&[], &a);
            assert_eq!(code(&o), 0, "{}", text(&o));
        }
        let dir = format!("export-{id}");
        let o = s.run(&[], &["history", "export", &id, "--out", &dir]);
        assert_eq!(code(&o), 0, "{}", text(&o));
    }

    // Config show with secrets in the file: redacted, and warned about when others can read
    // it (world and group), not when it is private.
    let private = inputs.path().join("config.toml");
    std::fs::write(
        &private,
        format!(
            "[profiles.default]\napi_key = \"{API_KEY}\"\naccess_key = \"{AK}\"\nsecret_key = \"{SK}\"\n"
        ),
    )
    .expect("write config");
    #[cfg(unix)]
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let o = s.run(
            &[],
            &[
                "--config",
                private.to_str().expect("utf8"),
                "config",
                "show",
            ],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert_eq!(
            text(&o).contains("readable by others"),
            warned,
            "mode {mode:o}: {}",
            text(&o)
        );
    }
    // The keys from that file are used for a send and a dry run.
    let o = s.run(
        &[],
        &[
            "--config",
            private.to_str().expect("utf8"),
            "send",
            "--endpoint",
            &url,
            "--auth",
            "volc",
            "--image",
            reference,
            "--set",
            "prompt=from the file",
            "--out",
            "out3",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = s.run(&[], &["config", "init"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // The TUI with the keys in its environment and trace logging, started and quit.
    let tui = tui_session(&s.home, &url);

    // Now the scan: every file volcv wrote, every output.
    let files = files_under(&s.home);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with("history.sqlite3")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with(s.home.join("out2"))),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with(s.home.join("export-1"))),
        "{files:?}"
    );
    if tui {
        assert!(
            files.iter().any(|f| f.ends_with("state/volcv/tui.log")),
            "{files:?}"
        );
    }
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        if let Some(found) = find_secret(&bytes) {
            panic!("{found} found in {}", f.display());
        }
    }
    for (what, bytes) in &s.outputs {
        if let Some(found) = find_secret(bytes) {
            panic!(
                "{found} found in {what}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    eprintln!(
        "scanned {} files and {} outputs for 4 secrets in {} forms each",
        files.len(),
        s.outputs.len(),
        forms(API_KEY).len()
    );
}

#[test]
fn debug_output_of_config_and_credentials_redacts() {
    let text = format!(
        "version = 1\n[profiles.a]\napi_key = \"{API_KEY}\"\naccess_key = \"{AK}\"\nsecret_key = \"{SK}\"\n"
    );
    let config = volcv::config::parse(&text).expect("parse");
    let creds = volcv::api::auth::AkSk::new(AK, SK);
    let bearer = volcv::api::client::Auth::Bearer(Secret::new(API_KEY));
    let volc = volcv::api::client::Auth::Volc {
        creds: creds.clone(),
        region: "cn-north-1".into(),
        service: "cv".into(),
    };
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{creds:?}"),
        format!("{bearer:?} {volc:?}"),
        volcv::config::show_redacted(&config),
    ] {
        assert!(find_secret(shown.as_bytes()).is_none(), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

const PANIC_CHILD: &str = "VOLCV_TEST_PANIC_CHILD";

/// Not a test on its own: the child of `a_panic_message_cannot_print_a_secret` (does nothing
/// unless its env is set). Installs volcv's panic hook, meets secrets the way volcv does,
/// then panics with them in the message.
#[test]
fn panic_child() {
    if std::env::var_os(PANIC_CHILD).is_none() {
        return;
    }
    volcv::api::secret::install_panic_hook();
    let key = Secret::new(API_KEY);
    let creds = volcv::api::auth::AkSk::new(AK, SK);
    panic!(
        "boom: key {} ak {} sk {} b64 {}",
        key.expose(),
        creds.access_key,
        creds.secret_key.expose(),
        "kept"
    );
}

#[test]
fn a_panic_message_cannot_print_a_secret() {
    let out = Command::new(std::env::current_exe().expect("test exe"))
        .args([
            "--exact",
            "panic_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PANIC_CHILD, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child panicked: {stderr}");
    assert!(
        stderr.contains("boom: key <redacted> ak <redacted> sk <redacted> b64 kept"),
        "{stderr}"
    );
    assert!(stderr.contains("panicked at tests/secrets.rs:"), "{stderr}");
    assert!(find_secret(&out.stderr).is_none(), "{stderr}");
    assert!(find_secret(&out.stdout).is_none());
}
