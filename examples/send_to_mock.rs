//! The library without the TUI: one `high_aes_ip_v20` request, signed with an access key pair,
//! sent to the embedded mock on 127.0.0.1, its answer parsed and its image decoded. Only
//! `volcv::api` (schema, signing, client, response) and `volcv::mock` are used.
//!
//! Run it with `cargo run --example send_to_mock`; `cargo test` builds it.

use base64::Engine as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use volcv::api::auth::AkSk;
use volcv::api::client::{Auth, Client, DEFAULT_REGION, DEFAULT_SERVICE, Options, Target};
use volcv::api::response::{Outcome, ResultImage};
use volcv::api::schema;
use volcv::api::secret::Secret;
use volcv::mock::{MockConfig, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The mock checks Volcengine signatures made with this pair, as the service would.
    let (ak, sk) = ("AKLTexample", "example-secret-key");
    let mock = MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse()?,
        ak_sk: Some((ak.to_owned(), Secret::new(sk))),
        quiet: true,
        ..MockConfig::default()
    })
    .await?;

    // The request body: the model's defaults from the schema, a prompt and a reference image,
    // validated before anything is sent.
    let model = schema::schema_for("high_aes_ip_v20").ok_or("no schema for high_aes_ip_v20")?;
    let mut body = model.default_body();
    schema::set_path(
        &mut body,
        "prompt",
        json!("a lighthouse at dusk, oil painting"),
    );
    schema::set_path(&mut body, "seed", json!(42));
    // Images inline as base64 rather than signed URLs (which expire and would need a download).
    schema::set_path(&mut body, "return_url", json!(false));
    schema::set_path(
        &mut body,
        "image_urls",
        json!(["https://example.com/reference.jpg"]),
    );
    let report = model.validate(&body);
    if !report.is_ok() {
        let problems: Vec<String> = report.errors().map(|i| format!("{i:?}")).collect();
        return Err(format!("invalid request: {}", problems.join("; ")).into());
    }

    let client = Client::new(
        Target {
            endpoint: url::Url::parse(&mock.url())?,
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::Volc {
                creds: AkSk {
                    access_key: ak.to_owned(),
                    secret_key: Secret::new(sk),
                    session_token: None,
                },
                region: DEFAULT_REGION.into(),
                service: DEFAULT_SERVICE.into(),
            },
        },
        Options::default(),
    )?;
    let exchange = client
        .call("CVProcess", &body, &CancellationToken::new())
        .await;
    println!(
        "HTTP {:?} in {} ms",
        exchange.http_status,
        exchange.duration.as_millis()
    );
    match exchange.result {
        Ok(Outcome::Success(ok)) => {
            println!("request_id {}", ok.request_id.as_deref().unwrap_or("-"));
            for (i, image) in ok.images.iter().enumerate() {
                match image {
                    ResultImage::Base64(b64) => {
                        let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
                        let (w, h) = volcv::images::dimensions(&bytes).unwrap_or((0, 0));
                        println!("image {i}: {} bytes, {w}x{h}", bytes.len());
                    }
                    ResultImage::Url(url) => println!("image {i}: {url}"),
                }
            }
            Ok(())
        }
        Ok(other) => Err(format!("the service refused: {other:?}").into()),
        Err(e) => Err(format!("no usable answer: {e}").into()),
    }
}
