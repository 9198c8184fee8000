//! Networks people actually have: a company CA and a proxy. `volcv send` against the mock
//! served over HTTPS on 127.0.0.1 with a certificate from a CA the test makes: refused without
//! the CA, trusted through `SSL_CERT_FILE` or the profile's `ca_file`, for the API call and the
//! result-image download alike; `HTTPS_PROXY`/`https_proxy` carry both through a CONNECT proxy
//! on 127.0.0.1, `NO_PROXY` bypasses it, `HTTP_PROXY` relays plain HTTP.

mod common;

use common::net::{Proxy, TestCa, serve_tls, tls_listener};
use std::path::Path;
use std::process::Output;
use volcv::mock::{MockConfig, MockServer};

/// The mock behind an HTTPS front: its image links point at the front too. Returns the mock
/// (keep it alive) and the front's URL.
async fn https_mock(ca: &TestCa) -> (MockServer, String) {
    let (listener, url) = tls_listener().await;
    let mock = MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        public_base: Some(url.clone()),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    serve_tls(listener, ca, mock.addr().to_string());
    (mock, url)
}

async fn send(home: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut args = vec![
        "send",
        "--image",
        "https://example.com/ref.jpg",
        "--set",
        "prompt=a lighthouse",
        "--out",
        "out",
    ];
    args.extend(extra);
    common::output_async(common::volcv_with(home, env, &args)).await
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The result images saved under `home/out`.
fn saved(home: &Path) -> Vec<std::path::PathBuf> {
    common::files_under(&home.join("out"))
}

fn front_port(url: &str) -> &str {
    url.rsplit(':').next().expect("a port")
}

#[tokio::test]
async fn an_unknown_ca_is_refused_and_ssl_cert_file_or_ca_file_trusts_it() {
    let ca = TestCa::new();
    let (_mock, url) = https_mock(&ca).await;
    let home = tempfile::tempdir().expect("home");
    let endpoint = ["--endpoint", url.as_str(), "--auth", "none"];

    let out = send(home.path(), &[], &endpoint).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{}", text(&out));
    assert!(saved(home.path()).is_empty());

    // SSL_CERT_FILE: the API call and the download of the result image (an https link to the
    // same front) both trust the CA.
    let ca_pem = ca.ca_pem.to_str().expect("utf8");
    let out = send(home.path(), &[("SSL_CERT_FILE", ca_pem)], &endpoint).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files = saved(home.path());
    assert_eq!(files.len(), 1, "{files:?}\n{}", text(&out));
    let bytes = std::fs::read(&files[0]).expect("saved image");
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "a JPEG");

    // ca_file in the profile, relative to the config file's directory.
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("config/volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::copy(&ca.ca_pem, config.join("company-ca.pem")).expect("copy ca");
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[profiles.default]\nendpoint = \"{url}\"\nauth = \"none\"\nca_file = \"company-ca.pem\"\n"
        ),
    )
    .expect("config");
    let out = send(home.path(), &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(saved(home.path()).len(), 1, "{}", text(&out));
}

#[tokio::test]
async fn a_ca_file_that_is_missing_or_not_pem_is_named_before_anything_is_sent() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("config/volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("not-a-cert.pem"), "hello\n").expect("file");
    for (file, says) in [
        ("missing.pem", "no such file"),
        ("not-a-cert.pem", "no certificate"),
    ] {
        std::fs::write(
            config.join("config.toml"),
            format!(
                "[profiles.default]\nendpoint = \"https://127.0.0.1:9/\"\nauth = \"none\"\nca_file = \"{file}\"\n"
            ),
        )
        .expect("config");
        let out = send(home.path(), &[], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ca_file"), "{err}");
        assert!(
            err.contains(&config.join(file).display().to_string()),
            "{err}"
        );
        assert!(err.to_lowercase().contains(says), "{file}: {err}");
        assert!(
            err.contains("BEGIN CERTIFICATE"),
            "says what is expected: {err}"
        );
    }
}

#[tokio::test]
async fn https_proxy_carries_the_call_and_the_download_and_no_proxy_bypasses_it() {
    let ca = TestCa::new();
    let (_mock, url) = https_mock(&ca).await;
    let ca_pem = ca.ca_pem.to_str().expect("utf8");
    let endpoint = ["--endpoint", url.as_str(), "--auth", "none"];
    let connect = format!("CONNECT 127.0.0.1:{} HTTP/1.1", front_port(&url));

    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let proxy = Proxy::start().await;
        let home = tempfile::tempdir().expect("home");
        let env = [(var, proxy.url.as_str()), ("SSL_CERT_FILE", ca_pem)];
        let out = send(home.path(), &env, &endpoint).await;
        assert_eq!(out.status.code(), Some(0), "{var}: {}", text(&out));
        assert_eq!(saved(home.path()).len(), 1, "{var}: {}", text(&out));
        let seen = proxy.seen();
        // One tunnel for the API call, one for the image download (separate clients).
        assert_eq!(
            seen.iter().filter(|l| **l == connect).count(),
            2,
            "{var}: {seen:?}"
        );
    }

    for no_proxy in ["NO_PROXY", "no_proxy"] {
        let proxy = Proxy::start().await;
        let home = tempfile::tempdir().expect("home");
        let env = [
            ("HTTPS_PROXY", proxy.url.as_str()),
            (no_proxy, "127.0.0.1"),
            ("SSL_CERT_FILE", ca_pem),
        ];
        let out = send(home.path(), &env, &endpoint).await;
        assert_eq!(out.status.code(), Some(0), "{no_proxy}: {}", text(&out));
        assert!(proxy.seen().is_empty(), "{no_proxy}: {:?}", proxy.seen());
    }
}

#[tokio::test]
async fn http_proxy_relays_a_plain_http_endpoint() {
    let mock = MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let proxy = Proxy::start().await;
    let home = tempfile::tempdir().expect("home");
    let url = mock.url();
    let out = send(
        home.path(),
        &[("HTTP_PROXY", proxy.url.as_str())],
        &["--endpoint", url.as_str(), "--auth", "none"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(saved(home.path()).len(), 1, "{}", text(&out));
    let seen = proxy.seen();
    let post = format!("POST {url}?Action=CVProcess&Version=2022-08-31 HTTP/1.1");
    assert!(seen.contains(&post), "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("GET {url}images/"))),
        "the download went through the proxy too: {seen:?}"
    );
}
