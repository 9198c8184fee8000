//! `volcv curl`: the exported command, run by real curl against the mock, succeeds; secrets
//! stay env references unless revealed; the command imports back to the same body.

mod common;

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
    common::volcv_cmd(home)
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

/// A real JPEG of noise of about 4.5 MB (the API takes up to 4.7 MB): the size of a real
/// reference photo, whose base64 is far over the 128 KiB one shell argument may have.
fn big_jpeg() -> Vec<u8> {
    use image::codecs::jpeg::JpegEncoder;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = |w: u32, h: u32| {
        image::RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = state.to_le_bytes();
            image::Rgb([b[0], b[1], b[2]])
        })
    };
    let encode = |img: &image::RgbImage| {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(img)
            .expect("encode jpeg");
        out
    };
    // Measure bytes per row once, then size the image to 4.5 MB.
    let width = 1600;
    let probe = encode(&noise(width, 200));
    let rows = (4_500_000 * 200 / probe.len()) as u32;
    let jpeg = encode(&noise(width, rows.clamp(128, 4096)));
    assert!(
        (4_300_000..=volcv::api::schema::MAX_IMAGE_BYTES).contains(&jpeg.len()),
        "{} bytes",
        jpeg.len()
    );
    jpeg
}

/// The body in an exported command's here-document (the line between `<<'DELIM'` and `DELIM`).
fn here_doc_body(cmd: &str) -> String {
    let mut lines = cmd.lines();
    let opener = lines
        .by_ref()
        .find(|l| l.contains("--data @- <<'"))
        .expect("a here-document");
    let delimiter = opener
        .rsplit("<<'")
        .next()
        .and_then(|d| d.strip_suffix('\''))
        .expect("delimiter");
    let body: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
    assert_eq!(body.len(), 1, "compact JSON is one line");
    body[0].to_owned()
}

/// Runs a script file with bash and returns curl's stdout.
fn run_script(path: &Path, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("bash");
    c.arg(path).env_clear();
    c.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "the script failed: {err}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_4_5_mb_reference_exports_to_a_script_that_runs_and_sends_the_body_exactly() {
    if !have_curl() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let home = tempfile::tempdir().expect("tmp");
    let jpeg = big_jpeg();
    let reference = home.path().join("photo.jpg");
    std::fs::write(&reference, &jpeg).expect("write reference");
    let server = mock(MockConfig {
        api_key: Some(Secret::new(API_KEY)),
        ..Default::default()
    })
    .await;
    server.keep_last_body();
    let url = server.url();
    let h = home.path().to_path_buf();
    let r = reference.clone();
    let (code, cmd, err) = tokio::task::spawn_blocking(move || {
        run(volcv(&h).env("VOLCV_API_KEY", API_KEY).args([
            "curl",
            "--endpoint",
            &url,
            "--auth",
            "bearer",
            "--image",
            r.to_str().expect("utf8"),
            "--set",
            "prompt=it's a 'big' \"photo\" $HOME `x` VOLCV_BODY",
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
    assert!(!cmd.contains(API_KEY), "the key stays a reference");
    assert!(cmd.contains("Bearer ${VOLCV_API_KEY}"));
    let body = here_doc_body(&cmd);
    assert!(body.len() > jpeg.len() * 4 / 3, "{} bytes", body.len());
    let script = home.path().join("export.sh");
    std::fs::write(&script, &cmd).expect("write script");
    let s = script.clone();
    let answer = tokio::task::spawn_blocking(move || run_script(&s, &[("VOLCV_API_KEY", API_KEY)]))
        .await
        .expect("join");
    let v: Value = serde_json::from_str(&answer).expect("mock answered JSON");
    assert_eq!(v["code"], 10000, "{v}");
    // What the mock received is the exported body byte for byte, and the reference in it is
    // the file byte for byte.
    let received = server.last_body().expect("the mock kept the body");
    assert_eq!(received.len(), body.len());
    assert!(received == body.as_bytes(), "the received body differs");
    let sent: Value = serde_json::from_slice(&received).expect("json");
    use base64::Engine as _;
    let image = base64::engine::general_purpose::STANDARD
        .decode(sent["binary_data_base64"][0].as_str().expect("base64"))
        .expect("decode");
    assert!(image == jpeg, "the reference arrived changed");
    assert_eq!(
        sent["prompt"],
        "it's a 'big' \"photo\" $HOME `x` VOLCV_BODY"
    );

    // The script imports back to the same body.
    let h = home.path().to_path_buf();
    let (code, imported, err) = tokio::task::spawn_blocking(move || {
        run(volcv(&h).args(["curl", "--import", script.to_str().expect("utf8")]))
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    let imported: Value = serde_json::from_str(&imported).expect("json");
    assert_eq!(imported, sent);
}

/// The TUI's `C` makes its command in the worker and writes one too long to copy into
/// `volcv-curl-HHMMSS.sh`: with a 4.5 MB reference and a signed request, that script runs, the
/// mock checks the signature over the body it received, and the body is the one volcv sends.
#[tokio::test(flavor = "multi_thread")]
async fn the_tuis_signed_export_of_a_4_5_mb_reference_runs_as_a_script() {
    use volcv::api::auth::AkSk;
    use volcv::api::client::{Auth, Client, Options, Target};
    use volcv::tui::msg::{Cmd, Msg};
    use volcv::tui::worker::Worker;
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
    server.keep_last_body();
    let client = Client::new(
        Target {
            endpoint: url::Url::parse(&server.url()).expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::Volc {
                creds: AkSk {
                    access_key: AK.into(),
                    secret_key: Secret::new(SK),
                    session_token: None,
                },
                region: "cn-north-1".into(),
                service: "cv".into(),
            },
        },
        Options::default(),
    )
    .expect("client");
    use base64::Engine as _;
    let body = serde_json::json!({
        "req_key": "high_aes_ip_v20",
        "prompt": "a signed 'photo'",
        "binary_data_base64": [base64::engine::general_purpose::STANDARD.encode(big_jpeg())],
        "width": 256,
        "height": 256,
        "use_sr": false,
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client, home.path().join("images"));
    worker.run(Cmd::Curl(body.clone()));
    let text = match tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await {
        Ok(Some(Msg::CurlReady(Ok(text)))) => text,
        other => panic!("no curl command: {other:?}"),
    };
    assert!(
        text.len() > volcv::tui::app::COPY_CAP,
        "written, not copied"
    );
    assert!(
        !text.contains(AK) && !text.contains(SK),
        "secrets stay references"
    );
    assert!(text.contains("Credential=${VOLC_ACCESSKEY}/"));
    assert!(text.contains("X-Date: ") && text.contains("Signature="));
    // As the app writes it (see `Msg::CurlReady`): the text and a final line break.
    let path = home.path().join("volcv-curl-120000.sh");
    worker.run(Cmd::WriteText {
        text: format!("{text}\n"),
        path: path.clone(),
    });
    match tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await {
        Ok(Some(Msg::Saved { error: false, .. })) => {}
        other => panic!("not written: {other:?}"),
    }
    let p = path.clone();
    let answer = tokio::task::spawn_blocking(move || run_script(&p, &[("VOLC_ACCESSKEY", AK)]))
        .await
        .expect("join");
    let v: Value = serde_json::from_str(&answer).expect("mock answered JSON");
    assert_eq!(
        v["code"], 10000,
        "the signature over the received body holds: {v}"
    );
    let received = server.last_body().expect("the mock kept the body");
    let expected = serde_json::to_vec(&body).expect("json");
    assert!(
        received == expected,
        "the received body differs from volcv's"
    );
}

#[test]
fn import_skips_the_values_of_curl_options_it_does_not_use() {
    // A command as people keep them: output to a file, a time limit, a proxy, a CA.
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("saved.sh");
    std::fs::write(
        &file,
        "curl -sS -o result.json -m 120 -x http://proxy.corp:3128 --cacert /etc/ssl/corp.pem \\\r\n\
         -X POST 'https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31' \\\r\n\
         -H 'Content-Type: application/json' -H 'X-Foo: bar' --compressed -k \\\r\n\
         -d '{\"req_key\":\"high_aes_ip_v20\",\"prompt\":\"在海边\",\"image_urls\":[\"https://e.com/a.jpg\"]}'\r\n",
    )
    .expect("write");
    let (code, body, err) =
        run(volcv(home.path()).args(["curl", "--import", file.to_str().expect("utf8")]));
    assert_eq!(code, 0, "{err}");
    let imported: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(imported["prompt"], "在海边");
    assert!(err.contains("visual.volcengineapi.com"), "{err}");
    for listed in [
        "-o and its value",
        "-m and its value",
        "-x and its value",
        "--cacert and its value",
        "-H X-Foo",
        "--compressed",
        "-k (volcv always checks certificates)",
    ] {
        assert!(err.contains(listed), "{listed} not listed: {err}");
    }
    assert!(
        !err.contains("Content-Type"),
        "volcv's own header listed: {err}"
    );
    assert!(!err.contains("extra argument"), "{err}");
    for private in ["result.json", "proxy.corp", "corp.pem"] {
        assert!(!err.contains(private), "{private} echoed: {err}");
    }
}

#[test]
fn import_of_a_request_with_errors_prints_it_and_exits_2() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("bad.sh");
    std::fs::write(
        &file,
        "curl -X POST 'https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31' \\\n\
         -d '{\"req_key\":\"high_aes_ip_v20\",\"prompt\":\"x\",\"scale\":99,\"image_urls\":[\"https://e.com/a.jpg\"]}'\n",
    )
    .expect("write");
    let (code, body, err) =
        run(volcv(home.path()).args(["curl", "--import", file.to_str().expect("utf8")]));
    assert_eq!(code, 2, "{err}");
    let imported: Value = serde_json::from_str(&body).expect("the body is printed to be fixed");
    assert_eq!(imported["scale"], 99);
    assert!(err.contains("scale"), "{err}");
    assert!(err.contains("1 error(s)"), "{err}");
}
