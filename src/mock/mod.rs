//! The embedded mock CVProcess server: a faithful offline stand-in for the service, used by the
//! demo mode, by the test suites, and by `volcv mock` for testing other clients.
//!
//! [`MockServer::start`] serves on the current tokio runtime; [`run_until_ctrl_c`] is the
//! `volcv mock` entry point. [`MOCK_HELP`] documents the behaviour and the `[mock:...]` fault
//! triggers.
//!
//! Start it on a free port of 127.0.0.1, send it one request with [`crate::api::client`], and
//! stop it:
//!
//! ```rust
//! use tokio_util::sync::CancellationToken;
//! use volcv::api::client::{Auth, Client, Options, Target};
//! use volcv::api::response::{Outcome, ResultImage};
//! use volcv::api::secret::Secret;
//! use volcv::mock::{MockConfig, MockServer};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockServer::start(MockConfig {
//!     addr: "127.0.0.1:0".parse()?,
//!     api_key: Some(Secret::new("test-key")),
//!     quiet: true,
//!     ..MockConfig::default()
//! })
//! .await?;
//! let client = Client::new(
//!     Target {
//!         endpoint: url::Url::parse(&mock.url())?,
//!         action: "CVProcess".into(),
//!         version: "2022-08-31".into(),
//!         auth: Auth::Bearer(Secret::new("test-key")),
//!     },
//!     Options::default(),
//! )?;
//! let body = serde_json::json!({
//!     "req_key": "high_aes_general_v20",
//!     "prompt": "a lighthouse at dusk",
//!     "width": 256,
//!     "height": 256,
//!     "return_url": false,
//! });
//! let exchange = client.call("CVProcess", &body, &CancellationToken::new()).await;
//! assert_eq!(exchange.http_status, Some(200));
//! let Ok(Outcome::Success(ok)) = exchange.result else {
//!     panic!("the mock refused: {:?}", exchange.result);
//! };
//! assert!(matches!(ok.images.as_slice(), [ResultImage::Base64(_)]));
//!
//! // A wrong key gets the gateway's refusal, as from the service.
//! let mut wrong = client.target.clone();
//! wrong.auth = Auth::Bearer(Secret::new("another-key"));
//! let refused = Client::new(wrong, Options::default())?
//!     .call("CVProcess", &body, &CancellationToken::new())
//!     .await;
//! assert!(matches!(refused.result, Ok(Outcome::Gateway(_))), "{:?}", refused.result);
//! mock.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod render;

pub mod config;
mod faults;
mod handler;
mod images;
mod jobs;
mod rephrase;
mod server;
mod state;
mod util;
mod validate;
mod wire;

pub use config::{DEFAULT_ADDR, MAX_BODY_BYTES, MAX_CONCURRENCY, MOCK_HELP, MockConfig};
pub use server::{MockServer, run_until_ctrl_c};
pub use state::{MAX_STORED_IMAGE_BYTES, MAX_STORED_IMAGES, MAX_TASK_BYTES, MAX_TASKS, MockStats};
