//! `volcv curl`: the exported command, run by real curl against the mock, succeeds; secrets
//! stay env references unless revealed; the command imports back to the same body.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use volcv::api::secret::Secret;
use volcv::mock::{MockConfig, MockServer};

const API_KEY: &str = "sk-curl-SECRET-9911";
const AK: &str = "AKLTcurlACCESS77";
const SK: &str = "curl-secret-key-value";

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn volcv(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_volcv"));
    c.env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(home);
    c
}

/// Runs an exported command with bash, with `env` set, and returns curl's stdout.
fn run_in_shell(command: &str, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("bash");
    c.arg("-c").arg(command).env_clear();
    c.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "curl failed: {err}");
    out
}

fn have_curl() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

async fn mock(cfg: MockConfig) -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..cfg
    })
    .await
    .expect("mock")
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_export_runs_with_real_curl_and_hides_the_key() {
    if !have_curl() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        api_key: Some(Secret::new(API_KEY)),
        ..Default::default()
    })
    .await;
    let url = server.url();
    let h = home.path().to_path_buf();
    let (code, cmd, err) = tokio::task::spawn_blocking(move || {
        run(volcv(&h).env("VOLCV_API_KEY", API_KEY).args([
            "curl",
            "--endpoint",
            &url,
            "--auth",
            "bearer",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=it's a \"quoted\" $HOME `prompt`",
            "--set",
            "return_url=false",
            "--set",
            "width=256",
            "--set",
            "height=256",
            "--set",
            "use_sr=false",
        ]))
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    assert!(!cmd.contains(API_KEY), "{cmd}");
    assert!(cmd.contains("Bearer ${VOLCV_API_KEY}"), "{cmd}");
    let cmd2 = cmd.clone();
    let answer =
        tokio::task::spawn_blocking(move || run_in_shell(&cmd2, &[("VOLCV_API_KEY", API_KEY)]))
            .await
            .expect("join");
    let v: Value = serde_json::from_str(&answer).expect("mock answered JSON");
    assert_eq!(v["code"], 10000, "{v}");
    assert_eq!(
        v["data"]["binary_data_base64"].as_array().map(Vec::len),
        Some(1)
    );
    // The shell kept the prompt byte for byte: the mock's rephraser echoes it.
    assert!(
        v["data"]["rephraser_result"]
            .as_str()
            .is_some_and(|r| r.contains("it's a \"quoted\" $HOME `prompt`")),
        "{v}"
    );

    // Import the command back: same body.
    let file = home.path().join("cmd.sh");
    std::fs::write(&file, &cmd).expect("write");
    let h = home.path().to_path_buf();
    let (code, body, err) = tokio::task::spawn_blocking(move || {
        run(volcv(&h).args(["curl", "--import", file.to_str().expect("utf8")]))
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("action: CVProcess"), "{err}");
    let imported: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(imported["prompt"], "it's a \"quoted\" $HOME `prompt`");
    assert_eq!(imported["width"], 256);
}

#[tokio::test(flavor = "multi_thread")]
async fn volc_export_is_signed_and_accepted_by_the_mock() {
    if !have_curl() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        ak_sk: Some((AK.to_owned(), Secret::new(SK))),
        ..Default::default()
    })
    .await;
    let url = server.url();
    let h = home.path().to_path_buf();
    let (code, cmd, err) = tokio::task::spawn_blocking(move || {
        run(volcv(&h)
            .env("VOLC_ACCESSKEY", AK)
            .env("VOLC_SECRETKEY", SK)
            .args([
                "curl",
                "--endpoint",
                &url,
                "--auth",
                "volc",
                "--image",
                "https://example.com/a.jpg",
                "--set",
                "prompt=a signed cat",
                "--set",
                "width=256",
                "--set",
                "height=256",
                "--set",
                "use_sr=false",
            ]))
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    assert!(!cmd.contains(AK) && !cmd.contains(SK), "{cmd}");
    assert!(cmd.contains("Credential=${VOLC_ACCESSKEY}/"), "{cmd}");
    let answer = tokio::task::spawn_blocking(move || run_in_shell(&cmd, &[("VOLC_ACCESSKEY", AK)]))
        .await
        .expect("join");
    let v: Value = serde_json::from_str(&answer).expect("mock answered JSON");
    assert_eq!(v["code"], 10000, "{v}");

    // --reveal-secrets puts the access key itself in the command.
    let h = home.path().to_path_buf();
    let url = server.url();
    let (code, cmd, _) = tokio::task::spawn_blocking(move || {
        run(volcv(&h)
            .env("VOLC_ACCESSKEY", AK)
            .env("VOLC_SECRETKEY", SK)
            .args([
                "curl",
                "--endpoint",
                &url,
                "--auth",
                "volc",
                "--image",
                "https://example.com/a.jpg",
                "--set",
                "prompt=x",
                "--reveal-secrets",
            ]))
    })
    .await
    .expect("join");
    assert_eq!(code, 0);
    assert!(cmd.contains(&format!("Credential={AK}/")), "{cmd}");
    assert!(
        !cmd.contains(SK),
        "the secret key is never in a command: {cmd}"
    );
}
