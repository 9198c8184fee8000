//! The embedded mock server through a real HTTP client: envelopes, images, validation codes,
//! authentication, image URLs, async tasks and every fault trigger. Each test starts its own
//! server on 127.0.0.1:0; it stops when the test drops it.

use std::time::{Duration, Instant};

use base64::Engine as _;
use image::{ImageFormat, RgbImage};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use volcv::api::auth::{self, AkSk, SignParams};
use volcv::api::client::{Auth, Client, Options, Target};
use volcv::api::response::{Outcome, ResultImage, Success, parse_response};
use volcv::api::secret::Secret;
use volcv::mock::{MockConfig, MockServer};

const PROCESS: &str = "CVProcess";
const SUBMIT: &str = "CVSync2AsyncSubmitTask";
const GET_RESULT: &str = "CVSync2AsyncGetResult";

fn config() -> MockConfig {
    MockConfig {
        addr: "127.0.0.1:0".parse().expect("loopback address"),
        quiet: true,
        ..MockConfig::default()
    }
}

async fn start(cfg: MockConfig) -> MockServer {
    MockServer::start(cfg).await.expect("mock starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// One answer as the client saw it.
struct Reply {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    outcome: Outcome,
    elapsed: Duration,
}

impl Reply {
    fn success(&self) -> &Success {
        match &self.outcome {
            Outcome::Success(s) => s,
            other => panic!("expected success, got HTTP {}: {other:?}", self.status),
        }
    }

    /// The business code (or gateway CodeN) and the HTTP status.
    fn code(&self) -> (Option<i64>, u16) {
        (self.outcome.code(), self.status)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }

    fn message(&self) -> String {
        match &self.outcome {
            Outcome::Service(e) => e.message.clone(),
            Outcome::Gateway(e) => e.message.clone(),
            other => panic!("no message in {other:?}"),
        }
    }
}

async fn read(resp: reqwest::Response, started: Instant) -> Reply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.bytes().await.expect("body arrives").to_vec();
    let outcome = parse_response(status, content_type.as_deref(), &body);
    Reply {
        status,
        content_type,
        body,
        outcome,
        elapsed: started.elapsed(),
    }
}

fn api_url(server: &MockServer, action: &str) -> String {
    format!("{}?Action={action}&Version=2022-08-31", server.url())
}

async fn post_bytes(server: &MockServer, action: &str, body: Vec<u8>) -> Reply {
    let started = Instant::now();
    let resp = client()
        .post(api_url(server, action))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request is answered");
    read(resp, started).await
}

async fn post(server: &MockServer, action: &str, body: &Value) -> Reply {
    post_bytes(
        server,
        action,
        serde_json::to_vec(body).expect("serializes"),
    )
    .await
}

/// A small gradient reference image.
fn reference(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A valid, small request: 256x256, no super-resolution, base64 result, fixed seed.
fn small_body(prompt: &str) -> Value {
    json!({
        "req_key": "high_aes_ip_v20",
        "binary_data_base64": [b64(&reference(64, 48, ImageFormat::Png))],
        "prompt": prompt,
        "seed": 42,
        "width": 256,
        "height": 256,
        "use_sr": false,
        "return_url": false,
    })
}

fn with(mut body: Value, path: &str, value: Value) -> Value {
    volcv::api::schema::set_path(&mut body, path, value);
    body
}

fn without(mut body: Value, path: &str) -> Value {
    volcv::api::schema::remove_path(&mut body, path);
    body
}

fn only_image(s: &Success) -> Vec<u8> {
    match s.images.as_slice() {
        [ResultImage::Base64(data)] => base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("result is base64"),
        other => panic!("expected one base64 image, got {other:?}"),
    }
}

fn decode_jpeg(bytes: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .expect("result is a JPEG")
        .to_rgb8()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn a_valid_request_gets_the_sample_envelope_and_a_jpeg_of_the_right_size() {
    let server = start(config()).await;
    let body = with(
        with(small_body("a red fox"), "width", json!(256)),
        "height",
        json!(320),
    );
    let r = post(&server, PROCESS, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    let raw = r.json();
    assert_eq!(
        keys(&raw),
        [
            "code",
            "data",
            "message",
            "request_id",
            "status",
            "time_elapsed"
        ]
    );
    assert_eq!(
        keys(&raw["data"]),
        [
            "algorithm_base_resp",
            "binary_data_base64",
            "image_urls",
            "pe_result",
            "predict_tags_result",
            "rephraser_result",
            "request_id"
        ]
    );
    assert_eq!(raw["status"], 10000);
    assert_eq!(raw["data"]["image_urls"], json!([]));
    assert_eq!(
        raw["data"]["algorithm_base_resp"],
        json!({"status_code": 0, "status_message": "Success"})
    );
    let s = r.success();
    assert_eq!(s.message, "Success");
    let id = s.request_id.as_deref().expect("request_id");
    assert_eq!(id.len(), 34);
    assert!(id[..14].bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(s.data_request_id.as_deref().map(str::len), Some(64));
    assert!(s.time_elapsed.is_some(), "{:?}", s.time_elapsed_raw);
    let rephrased = s.rephraser_result.as_deref().expect("rephraser_result");
    assert!(rephrased.contains("a red fox"), "{rephrased}");
    let img = decode_jpeg(&only_image(s));
    assert_eq!(img.dimensions(), (256, 320));

    let sr = post(&server, PROCESS, &with(body, "use_sr", json!(true))).await;
    let img = decode_jpeg(&only_image(sr.success()));
    assert_eq!(img.dimensions(), (512, 640));
    assert_eq!(server.stats().count(10000), 2);
}

#[tokio::test]
async fn the_same_seed_repeats_the_bytes_and_another_seed_does_not() {
    let server = start(config()).await;
    let body = small_body("a lighthouse at dusk");
    let a = only_image(post(&server, PROCESS, &body).await.success());
    let b = only_image(post(&server, PROCESS, &body).await.success());
    let c = only_image(
        post(&server, PROCESS, &with(body.clone(), "seed", json!(43)))
            .await
            .success(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Seed -1 draws a seed: two draws differ.
    let random = with(body, "seed", json!(-1));
    let d = only_image(post(&server, PROCESS, &random).await.success());
    let e = only_image(post(&server, PROCESS, &random).await.success());
    assert_ne!(d, e);
}

/// Sum of absolute channel differences inside a square of `side` px at a corner.
fn corner_diff(a: &RgbImage, b: &RgbImage, right: bool, bottom: bool, side: u32) -> u64 {
    let (w, h) = a.dimensions();
    let x0 = if right { w - side } else { 0 };
    let y0 = if bottom { h - side } else { 0 };
    let mut sum = 0u64;
    for y in y0..y0 + side {
        for x in x0..x0 + side {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            for c in 0..3 {
                sum += u64::from(p[c].abs_diff(q[c]));
            }
        }
    }
    sum
}

#[tokio::test]
async fn the_watermark_changes_pixels_in_the_requested_corner_only() {
    let server = start(config()).await;
    let body = small_body("a quiet meadow");
    let plain = decode_jpeg(&only_image(post(&server, PROCESS, &body).await.success()));
    let marked_body = with(
        body,
        "logo_info",
        json!({"add_logo": true, "position": 3, "language": 1, "opacity": 1.0, "logo_text_content": ""}),
    );
    let marked = decode_jpeg(&only_image(
        post(&server, PROCESS, &marked_body).await.success(),
    ));
    let top_right = corner_diff(&plain, &marked, true, false, 64);
    let bottom_left = corner_diff(&plain, &marked, false, true, 64);
    let top_left = corner_diff(&plain, &marked, false, false, 64);
    assert!(top_right > 1000, "top-right changed by {top_right}");
    assert_eq!(bottom_left, 0);
    assert_eq!(top_left, 0);
}

#[tokio::test]
async fn every_validation_failure_gets_its_code_and_status() {
    let server = start(config()).await;
    let valid = small_body("a cat");
    let big_png = {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.resize(4_700_001, 7);
        b64(&b)
    };
    let cases: Vec<(&str, Vec<u8>, i64, &str)> = vec![
        (
            "not JSON",
            b"{\"req_key\": ".to_vec(),
            50204,
            "not valid JSON",
        ),
        ("not an object", b"[1, 2]".to_vec(), 50204, "JSON object"),
        (
            "not UTF-8",
            b"{\"prompt\": \"\xff\xfe\"}".to_vec(),
            50204,
            "JSON",
        ),
        ("empty", Vec::new(), 50204, "empty"),
        (
            "unknown req_key",
            to_vec(&with(valid.clone(), "req_key", json!("high_aes_nope"))),
            50400,
            "high_aes_nope",
        ),
        (
            "missing prompt",
            to_vec(&without(valid.clone(), "prompt")),
            50201,
            "prompt",
        ),
        (
            "no image",
            to_vec(&without(valid.clone(), "binary_data_base64")),
            50206,
            "reference image",
        ),
        (
            "two images",
            to_vec(&with(
                valid.clone(),
                "binary_data_base64",
                json!([
                    b64(&reference(8, 8, ImageFormat::Png)),
                    b64(&reference(8, 8, ImageFormat::Png))
                ]),
            )),
            50200,
            "exactly one",
        ),
        (
            "data: prefix",
            to_vec(&with(
                valid.clone(),
                "binary_data_base64",
                json!([format!(
                    "data:image/png;base64,{}",
                    b64(&reference(8, 8, ImageFormat::Png))
                )]),
            )),
            50207,
            "data:",
        ),
        (
            "bad base64",
            to_vec(&with(
                valid.clone(),
                "binary_data_base64",
                json!(["@@not base64@@"]),
            )),
            50207,
            "base64",
        ),
        (
            "over 4.7 MB",
            to_vec(&with(valid.clone(), "binary_data_base64", json!([big_png]))),
            50205,
            "4700001 bytes",
        ),
        (
            "corrupt PNG",
            to_vec(&with(
                valid.clone(),
                "binary_data_base64",
                json!([b64(b"\x89PNG\r\n\x1a\ngarbage garbage garbage")]),
            )),
            50207,
            "reference image",
        ),
        (
            "too many pixels",
            to_vec(&with(
                valid.clone(),
                "binary_data_base64",
                json!([b64(&reference(5000, 1, ImageFormat::Png))]),
            )),
            50215,
            "5000x1",
        ),
        (
            "width out of range",
            to_vec(&with(valid.clone(), "width", json!(900))),
            50200,
            "width 900 is outside 256..768 px",
        ),
        (
            "seed out of range",
            to_vec(&with(valid.clone(), "seed", json!(4_294_967_296u64))),
            50200,
            "seed",
        ),
        (
            "mistyped scale",
            to_vec(&with(valid.clone(), "scale", json!("high"))),
            50204,
            "scale",
        ),
        (
            "huge number",
            to_vec(&with(valid.clone(), "ddim_steps", json!(1e308))),
            50204,
            "ddim_steps",
        ),
        (
            "bad watermark corner",
            to_vec(&with(valid.clone(), "logo_info.position", json!(7))),
            50200,
            "logo_info.position",
        ),
        (
            "image_urls not http",
            to_vec(&with(
                without(valid.clone(), "binary_data_base64"),
                "image_urls",
                json!(["file:///etc/passwd"]),
            )),
            50200,
            "image_urls",
        ),
        (
            "unknown trigger",
            to_vec(&with(
                valid.clone(),
                "prompt",
                json!("a cat [mock:explode]"),
            )),
            50200,
            "[mock:explode]",
        ),
    ];
    for (name, body, code, needle) in cases {
        let r = post_bytes(&server, PROCESS, body).await;
        assert_eq!(
            r.code(),
            (Some(code), 400),
            "{name}: {}",
            r.outcome.summary()
        );
        assert!(matches!(r.outcome, Outcome::Service(_)), "{name}");
        assert_eq!(r.json()["data"], Value::Null, "{name}");
        let message = r.message();
        assert!(message.contains(needle), "{name}: {message}");
    }
    // A deeply nested body is refused, not a crash; the server still answers afterwards.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = post_bytes(&server, PROCESS, deep.into_bytes()).await;
    assert_eq!(r.code(), (Some(50204), 400));
    let r = post(&server, PROCESS, &valid).await;
    assert!(r.outcome.is_success());
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

#[tokio::test]
async fn an_oversized_body_is_refused_from_its_content_length() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = start(config()).await;
    let mut conn = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connects");
    let head = format!(
        "POST /?Action=CVProcess&Version=2022-08-31 HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr(),
        volcv::mock::MAX_BODY_BYTES + 1
    );
    conn.write_all(head.as_bytes()).await.expect("sends head");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("reads answer");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("head ends") + 4..];
    let outcome = parse_response(400, Some("application/json"), body.as_bytes());
    assert_eq!(outcome.code(), Some(50213), "{outcome:?}");
}

#[tokio::test]
async fn a_bearer_key_is_required_when_configured() {
    let server = start(MockConfig {
        api_key: Some(Secret::new("sk-mock-key")),
        ..config()
    })
    .await;
    let body = to_vec(&small_body("a cat"));
    let send = |auth: Option<&'static str>| {
        let mut req = client()
            .post(api_url(&server, PROCESS))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { read(req.send().await.expect("answered"), Instant::now()).await }
    };
    let ok = send(Some("Bearer sk-mock-key")).await;
    assert!(ok.outcome.is_success(), "{}", ok.outcome.summary());
    let none = send(None).await;
    assert_eq!(none.code(), (Some(100003), 401));
    assert!(matches!(none.outcome, Outcome::Gateway(_)));
    let wrong = send(Some("Bearer sk-wrong")).await;
    assert_eq!(wrong.code(), (Some(100009), 401));
    let meta = &wrong.json()["ResponseMetadata"];
    assert_eq!(meta["Error"]["Code"], "InvalidAccessKey");
    assert_eq!(meta["Action"], "CVProcess");
    assert_eq!(meta["Service"], "cv");
    assert_eq!(meta["Region"], "cn-north-1");
    // Also through the gateway path.
    let r = client()
        .post(format!(
            "{}volcv/v1?Action=CVProcess&Version=2022-08-31",
            server.url()
        ))
        .header("authorization", "Bearer sk-mock-key")
        .body(body.clone())
        .send()
        .await
        .expect("answered");
    let r = read(r, Instant::now()).await;
    assert!(r.outcome.is_success(), "{}", r.outcome.summary());
}

/// Sends `body` signed over `signed_body` with `creds`, dated `x_date`.
async fn send_signed(
    server: &MockServer,
    creds: &AkSk,
    x_date: &str,
    signed_body: &[u8],
    body: Vec<u8>,
) -> Reply {
    let host = server.addr().to_string();
    let query = [
        ("Action".to_owned(), "CVProcess".to_owned()),
        ("Version".to_owned(), "2022-08-31".to_owned()),
    ];
    let signed = auth::sign(
        creds,
        &SignParams {
            method: "POST",
            host: &host,
            path: "/",
            query: &query,
            content_type: "application/json",
            body: signed_body,
            x_date,
            region: "cn-north-1",
            service: "cv",
        },
    );
    let mut req = client()
        .post(api_url(server, PROCESS))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signed.headers() {
        req = req.header(name, value);
    }
    read(req.send().await.expect("answered"), Instant::now()).await
}

#[tokio::test]
async fn signed_requests_are_verified() {
    let server = start(MockConfig {
        ak_sk: Some(("AKMOCK".to_owned(), Secret::new("SKMOCK"))),
        ..config()
    })
    .await;
    let body = to_vec(&small_body("a cat"));
    let now = auth::format_x_date(time::OffsetDateTime::now_utc());
    let good = AkSk::new("AKMOCK", "SKMOCK");

    let r = send_signed(&server, &good, &now, &body, body.clone()).await;
    assert!(r.outcome.is_success(), "{}", r.outcome.summary());

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = send_signed(&server, &good, &now, &body, tampered).await;
    assert_eq!(r.code(), (Some(100010), 401), "{}", r.outcome.summary());

    // A wrong secret key and an unknown access key.
    for (creds, code) in [
        (AkSk::new("AKMOCK", "SKWRONG"), 100010),
        (AkSk::new("AKOTHER", "SKMOCK"), 100009),
    ] {
        let r = send_signed(&server, &creds, &now, &body, body.clone()).await;
        assert_eq!(r.code(), (Some(code), 401));
        if code == 100010 {
            assert!(r.message().contains("canonical request"), "{}", r.message());
        }
    }

    let stale = auth::format_x_date(time::OffsetDateTime::now_utc() - time::Duration::minutes(20));
    let r = send_signed(&server, &good, &stale, &body, body.clone()).await;
    assert_eq!(r.code().0, Some(100006));

    let r = post_bytes(&server, PROCESS, body).await;
    assert_eq!(r.code(), (Some(100003), 401));
}

/// GETs a URL and returns (status, content type, body).
async fn fetch(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = client().get(url).send().await.expect("answered");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, ct, resp.bytes().await.expect("body").to_vec())
}

fn only_url(s: &Success) -> String {
    match s.images.as_slice() {
        [ResultImage::Url(u)] => u.clone(),
        other => panic!("expected one URL, got {other:?}"),
    }
}

#[tokio::test]
async fn url_results_download_then_expire() {
    let server = start(MockConfig {
        url_ttl: Duration::from_millis(300),
        ..config()
    })
    .await;
    let r = post(&server, PROCESS, &url_body("a cat")).await;
    assert_eq!(r.json()["data"]["binary_data_base64"], json!([]));
    let url = only_url(r.success());
    assert!(
        url.starts_with(&format!("{}images/", server.url())),
        "{url}"
    );
    assert!(
        url.contains("x-expires=") && url.contains("x-signature="),
        "{url}"
    );

    let (status, ct, jpeg) = fetch(&url).await;
    assert_eq!((status, ct.as_deref()), (200, Some("image/jpeg")));
    assert_eq!(decode_jpeg(&jpeg).dimensions(), (256, 256));

    let forged = format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    let (status, _, body) = fetch(&forged).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, ct, body) = fetch(&url).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 403);
    assert_eq!(ct.as_deref(), Some("application/xml"));
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("Request has expired"), "{body}");
    let stats = server.stats();
    assert_eq!((stats.image_downloads, stats.image_refusals), (1, 2));
}

async fn poll(server: &MockServer, task_id: &str, req_json: Value) -> Reply {
    let body = json!({"req_key": "high_aes_ip_v20", "task_id": task_id, "req_json": req_json});
    post(server, GET_RESULT, &body).await
}

fn task_status(r: &Reply) -> String {
    r.success().task_status.clone().expect("data.status")
}

#[tokio::test]
async fn async_tasks_queue_generate_and_finish() {
    let server = start(MockConfig {
        task_queue_time: Duration::from_millis(300),
        task_generate_time: Duration::from_millis(600),
        ..config()
    })
    .await;
    let submitted = Instant::now();
    // return_url and logo_info are ignored on submit, even when mistyped.
    let body = with(small_body("a dragon kite"), "logo_info", json!("ignored"));
    let r = post(&server, SUBMIT, &body).await;
    let task_id = r.success().task_id.clone().expect("data.task_id");
    assert!(task_id.bytes().all(|b| b.is_ascii_digit()), "{task_id}");
    assert_eq!(keys(&r.json()["data"]), ["task_id"]);

    let req_json = json!(r#"{"return_url":true,"logo_info":{"add_logo":true,"position":0}}"#);
    assert_eq!(
        task_status(&poll(&server, &task_id, req_json.clone()).await),
        "in_queue"
    );

    tokio::time::sleep(Duration::from_millis(400).saturating_sub(submitted.elapsed())).await;
    assert_eq!(
        task_status(&poll(&server, &task_id, req_json.clone()).await),
        "generating"
    );

    tokio::time::sleep(Duration::from_millis(950).saturating_sub(submitted.elapsed())).await;
    let done = poll(&server, &task_id, req_json.clone()).await;
    assert_eq!(task_status(&done), "done");
    let (status, _, jpeg) = fetch(&only_url(done.success())).await;
    assert_eq!(status, 200);
    assert_eq!(decode_jpeg(&jpeg).dimensions(), (256, 256));

    // Without req_json the same task answers base64; the image is rendered once per watermark.
    let inline = poll(&server, &task_id, Value::Null).await;
    let first = only_image(inline.success());
    let again = only_image(poll(&server, &task_id, Value::Null).await.success());
    assert_eq!(first, again);
    assert_ne!(first, jpeg, "the watermark of req_json shows");

    let missing = poll(&server, "1234567890123456789", Value::Null).await;
    assert_eq!(task_status(&missing), "not_found");

    let bad = poll(&server, &task_id, json!("{not json")).await;
    assert_eq!(bad.code(), (Some(50204), 400));
    assert!(bad.message().contains("req_json"), "{}", bad.message());
    let bad = poll(&server, &task_id, json!({"return_url": true})).await;
    assert_eq!(bad.code(), (Some(50204), 400));
    assert!(bad.message().contains("req_json"), "{}", bad.message());
    let no_id = post(&server, GET_RESULT, &json!({"req_key": "high_aes_ip_v20"})).await;
    assert_eq!(no_id.code(), (Some(50201), 400));
}

#[tokio::test]
async fn async_tasks_expire() {
    let server = start(MockConfig {
        task_queue_time: Duration::ZERO,
        task_generate_time: Duration::ZERO,
        task_ttl: Duration::from_millis(200),
        ..config()
    })
    .await;
    let r = post(&server, SUBMIT, &small_body("a kite")).await;
    let task_id = r.success().task_id.clone().expect("data.task_id");
    assert_eq!(
        task_status(&poll(&server, &task_id, Value::Null).await),
        "done"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        task_status(&poll(&server, &task_id, Value::Null).await),
        "expired"
    );
    // Submitting validates like CVProcess.
    let r = post(
        &server,
        SUBMIT,
        &without(small_body("x"), "binary_data_base64"),
    )
    .await;
    assert_eq!(r.code(), (Some(50206), 400));
}

#[tokio::test]
async fn unknown_actions_and_paths_are_gateway_errors() {
    let server = start(config()).await;
    let body = small_body("a cat");
    for query in [
        "?Action=CVProcessNope&Version=2022-08-31",
        "?Action=CVProcess&Version=2020-01-01",
        "?Action=CVProcess",
        "",
    ] {
        let r = client()
            .post(format!("{}{query}", server.url()))
            .body(to_vec(&body))
            .send()
            .await
            .expect("answered");
        let r = read(r, Instant::now()).await;
        assert_eq!(r.code(), (Some(100008), 404), "{query}");
        match &r.outcome {
            Outcome::Gateway(g) => assert_eq!(g.code, "InvalidActionOrVersion"),
            other => panic!("{other:?}"),
        }
    }
    let r = client()
        .get(format!("{}elsewhere", server.url()))
        .send()
        .await
        .expect("answered");
    let r = read(r, Instant::now()).await;
    assert_eq!(r.code(), (Some(100008), 404));
}

/// [`small_body`] asking for a URL result.
fn url_body(prompt: &str) -> Value {
    with(small_body(prompt), "return_url", json!(true))
}

#[tokio::test]
async fn fault_triggers_answer_what_they_name() {
    let server = start(config()).await;

    let r = post(&server, PROCESS, &url_body("a cat [mock:html502]")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert!(matches!(&r.outcome, Outcome::NonJson(n) if n.excerpt.contains("502 Bad Gateway")));

    let r = post(&server, PROCESS, &url_body("[mock:text500] a cat")).await;
    assert_eq!(r.status, 500);
    assert!(matches!(r.outcome, Outcome::NonJson(_)));

    let r = post(&server, PROCESS, &url_body("a cat [mock:empty]")).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(matches!(&r.outcome, Outcome::NonJson(n) if n.reason == "empty body"));

    let r = post(&server, PROCESS, &url_body("a cat [mock:50411]")).await;
    assert_eq!(r.code(), (Some(50411), 400));
    let r = post(&server, PROCESS, &url_body("a cat [mock:50501]")).await;
    assert_eq!(r.code(), (Some(50501), 500));
    let r = post(&server, PROCESS, &url_body("a cat [mock:50429]")).await;
    assert_eq!(r.code(), (Some(50429), 429));
    let r = post(&server, PROCESS, &url_body("a cat [mock:59999]")).await;
    assert_eq!(r.code(), (Some(59999), 400));

    let r = post(&server, PROCESS, &url_body("a cat [mock:gateway=100010]")).await;
    assert_eq!(r.code(), (Some(100010), 401));
    match &r.outcome {
        Outcome::Gateway(g) => assert_eq!(g.code, "SignatureDoesNotMatch"),
        other => panic!("{other:?}"),
    }

    let r = post(&server, PROCESS, &url_body("a cat [mock:relay]")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["type"], "upstream_error");
    assert!(matches!(&r.outcome, Outcome::Relay(e) if e.message.contains("502")));

    let r = post(&server, PROCESS, &url_body("a cat [mock:truncate]")).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert!(
        r.body.starts_with(b"{\"code\":10000"),
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(matches!(&r.outcome, Outcome::NonJson(n) if n.reason.contains("invalid JSON")));

    // Triggers work on a body that would otherwise be refused.
    let r = post(&server, PROCESS, &json!({"prompt": "[mock:50412]"})).await;
    assert_eq!(r.code(), (Some(50412), 400));
}

#[tokio::test]
async fn reset_drops_the_connection_mid_body() {
    let server = start(config()).await;
    let resp = client()
        .post(api_url(&server, PROCESS))
        .body(to_vec(&url_body("a cat [mock:reset]")))
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(resp.status().as_u16(), 200);
    let declared = resp.content_length().expect("a declared length");
    assert!(declared > 100);
    assert!(resp.bytes().await.is_err(), "the body must fail");
    // The server is fine afterwards.
    let r = post(&server, PROCESS, &url_body("a cat")).await;
    assert!(r.outcome.is_success());
}

#[tokio::test]
async fn slow_and_trickle_delay_the_answer() {
    let server = start(config()).await;
    let r = post(&server, PROCESS, &url_body("a cat [mock:slow=300ms]")).await;
    assert!(r.outcome.is_success());
    assert!(r.elapsed >= Duration::from_millis(300), "{:?}", r.elapsed);
    let elapsed = r.success().time_elapsed.expect("time_elapsed");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");

    let r = post(
        &server,
        PROCESS,
        &url_body("a cat [mock:trickle=2ms][mock:50412]"),
    )
    .await;
    assert_eq!(r.code(), (Some(50412), 400));
    // One byte every 2 ms: the whole body took at least (len - 1) * 2 ms.
    let min = Duration::from_millis(2 * (r.body.len() as u64 - 1));
    assert!(r.elapsed >= min, "{:?} < {min:?}", r.elapsed);
}

#[tokio::test]
async fn nth_fails_k_times_then_succeeds() {
    let server = start(config()).await;
    let body = url_body("a cat [mock:nth=2:50429]");
    for _ in 0..2 {
        let r = post(&server, PROCESS, &body).await;
        assert_eq!(r.code(), (Some(50429), 429));
    }
    let r = post(&server, PROCESS, &body).await;
    assert!(r.outcome.is_success(), "{}", r.outcome.summary());
    // The trigger is cut out of the prompt that is rendered and rephrased.
    let rephrased = r.success().rephraser_result.clone().expect("rephrased");
    assert!(!rephrased.contains("[mock"), "{rephrased}");
    // Another prompt has its own counter.
    let r = post(&server, PROCESS, &url_body("a dog [mock:nth=1:html502]")).await;
    assert_eq!(r.status, 502);
    let stats = server.stats();
    assert_eq!(stats.count(50429), 2);
    assert_eq!(stats.count(10000), 1);
    assert_eq!(stats.count_status(502), 1);
    assert_eq!(stats.requests, 4);
}

#[tokio::test]
async fn qps_limit_refuses_part_of_a_burst() {
    let server = start(MockConfig {
        qps: Some(2.0),
        ..config()
    })
    .await;
    let body = json!({"req_key": "high_aes_ip_v20"});
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(post(&server, PROCESS, &body).await.code());
    }
    let limited = codes.iter().filter(|c| **c == (Some(50429), 429)).count();
    assert!(limited >= 2, "{codes:?}");
    assert!(codes.contains(&(Some(50201), 400)), "{codes:?}");
    assert_eq!(server.stats().count(50429), limited as u64);
}

#[tokio::test]
async fn concurrency_limit_refuses_the_second_of_two_slow_requests() {
    let server = start(MockConfig {
        concurrency: Some(1),
        ..config()
    })
    .await;
    let body = url_body("a cat [mock:slow=500ms]");
    let (a, b) = tokio::join!(post(&server, PROCESS, &body), post(&server, PROCESS, &body));
    let mut codes = [a.code(), b.code()];
    codes.sort();
    assert_eq!(codes, [(Some(10000), 200), (Some(50430), 429)]);
}

#[tokio::test]
async fn random_failures_use_the_configured_code() {
    let server = start(MockConfig {
        fail_rate: 1.0,
        fail_code: 50501,
        ..config()
    })
    .await;
    let r = post(&server, PROCESS, &small_body("a cat")).await;
    assert_eq!(r.code(), (Some(50501), 500));
    assert!(
        MockServer::start(MockConfig {
            fail_rate: 1.5,
            ..config()
        })
        .await
        .is_err()
    );
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let server = start(MockConfig {
        latency: Duration::from_millis(200),
        jitter: Duration::from_millis(50),
        ..config()
    })
    .await;
    let r = post(&server, PROCESS, &json!({})).await;
    assert_eq!(r.code(), (Some(50201), 400));
    assert!(r.elapsed >= Duration::from_millis(200), "{:?}", r.elapsed);
}

#[tokio::test]
async fn shutdown_stops_the_server_and_public_base_shapes_urls() {
    let server = start(MockConfig {
        public_base: Some("http://mock.example:9000/".to_owned()),
        ..config()
    })
    .await;
    let r = post(&server, PROCESS, &url_body("a cat")).await;
    let url = only_url(r.success());
    assert!(url.starts_with("http://mock.example:9000/images/"), "{url}");
    let addr = server.addr();
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

fn volcv_client(server: &MockServer, path: &str, auth: Auth) -> Client {
    let target = Target {
        endpoint: url::Url::parse(&format!("{}{path}?extra=a+b", server.url())).expect("url"),
        action: PROCESS.to_owned(),
        version: "2022-08-31".to_owned(),
        auth,
    };
    let options = Options {
        backoff: Duration::from_millis(10),
        ..Options::default()
    };
    Client::new(target, options).expect("client builds")
}

#[tokio::test]
async fn volcvs_own_client_signs_bearers_and_retries_against_the_mock() {
    let server = start(MockConfig {
        api_key: Some(Secret::new("sk-mock")),
        ak_sk: Some(("AKMOCK".to_owned(), Secret::new("SKMOCK"))),
        ..config()
    })
    .await;
    let cancel = CancellationToken::new();
    let volc = Auth::Volc {
        creds: AkSk::new("AKMOCK", "SKMOCK"),
        region: "cn-north-1".to_owned(),
        service: "cv".to_owned(),
    };
    let signed = volcv_client(&server, "", volc)
        .send(&small_body("a cat"), &cancel)
        .await;
    let outcome = signed.outcome().expect("an answer");
    assert!(outcome.is_success(), "{}", outcome.summary());

    let bearer = volcv_client(&server, "volcv/v1", Auth::Bearer(Secret::new("sk-mock")));
    let retried = bearer
        .send(&small_body("a cat [mock:nth=2:50429]"), &cancel)
        .await;
    let outcome = retried.outcome().expect("an answer");
    assert!(outcome.is_success(), "{}", outcome.summary());
    assert_eq!(retried.attempts.len(), 3, "{:?}", retried.attempts);
    assert_eq!(server.stats().count(50429), 2);
}

// ---- Bounds: a server others run in their test suites must survive slow and greedy clients.

/// Reads until the server closes the connection (or `secs` pass: then `None`, a hang).
async fn read_to_close(stream: &mut tokio::net::TcpStream, secs: u64) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(secs), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_after_the_read_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let server = start(MockConfig {
        read_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    // Headers that never end (a slowloris), and a connection that never says anything.
    let mut slow = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    slow.write_all(b"POST /?Action=CVProcess&Version=2022-08-31 HTTP/1.1\r\nHost: m\r\n")
        .await
        .expect("write");
    let mut idle = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    // Bounds against a hang, not timings: the server must close both by itself.
    assert!(
        read_to_close(&mut slow, 20).await.is_some(),
        "slow headers held open"
    );
    assert!(
        read_to_close(&mut idle, 20).await.is_some(),
        "idle connection held open"
    );
    // A kept-alive connection is closed once idle too, after its answer.
    let mut kept = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    kept.write_all(b"GET /nowhere HTTP/1.1\r\nHost: m\r\n\r\n")
        .await
        .expect("write");
    let got = read_to_close(&mut kept, 20)
        .await
        .expect("closed when idle");
    assert!(
        got.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_ends() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = start(MockConfig {
        max_connections: 2,
        ..config()
    })
    .await;
    let held_a = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("a");
    let _held_b = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("b");
    let mut third = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("c");
    third
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1];
    // Not a timing: a served connection answers at once, a waiting one never does.
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut first)).await;
    assert!(
        early.is_err(),
        "a third connection was served past a cap of 2"
    );
    drop(held_a);
    let got = read_to_close(&mut third, 20)
        .await
        .expect("served once a slot is free");
    assert!(
        got.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn bodies_over_the_memory_budget_are_refused_not_buffered() {
    use tokio::io::AsyncWriteExt as _;
    let server = start(MockConfig {
        max_body_bytes_in_flight: 1024 * 1024,
        ..config()
    })
    .await;
    let head = |len: usize| {
        format!(
            "POST /?Action=CVProcess&Version=2022-08-31 HTTP/1.1\r\nHost: m\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    // One upload of 800 KB stalls halfway: its share of the budget is held.
    let mut stalled = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("a");
    stalled
        .write_all(head(800_000).as_bytes())
        .await
        .expect("write");
    stalled.write_all(&[b' '; 1000]).await.expect("write");
    // Wait (bounded) until the mock has taken it: a second upload of 800 KB is refused.
    let refused = |got: &[u8]| {
        let text = String::from_utf8_lossy(got);
        text.starts_with("HTTP/1.1 429") && text.contains("50430")
    };
    let second = || async {
        let mut s = tokio::net::TcpStream::connect(server.addr())
            .await
            .expect("b");
        s.write_all(head(800_000).as_bytes()).await.expect("write");
        let _ = s.write_all(&vec![b' '; 800_000]).await;
        read_to_close(&mut s, 20).await.unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = second().await;
    while !refused(&got) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        got = second().await;
    }
    assert!(refused(&got), "{}", String::from_utf8_lossy(&got));
    // Once the first ends, its share comes back: the next upload is read (and judged).
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = second().await;
    while refused(&got) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        got = second().await;
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 ") && !refused(&got), "{text}");
}
