//! The embedded mock CVProcess server: a faithful offline stand-in for the service, used by the
//! demo mode, by the test suites, and by `volcv mock` for testing other clients.
//!
//! [`MockServer::start`] serves on the current tokio runtime; [`run_until_ctrl_c`] is the
//! `volcv mock` entry point. [`MOCK_HELP`] documents the behaviour and the `[mock:...]` fault
//! triggers.

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
