//! volcv: a terminal workbench for Volcengine's visual CVProcess API.
//!
//! `api` is the protocol layer (schema, request building, signing, response parsing, the HTTP
//! client) and knows nothing of terminals. `mock` is the embedded fake CVProcess server.
//! `store` is the persistent history (SQLite + image files). `sweep` runs parameter sweeps
//! (grids of requests, rate-limited, with a contact sheet).
//! `exchange` is one request end to end (result images fetched, async tasks polled and resumed).
//! `presets` keeps named parameter presets in the config dir.
//! `config`, `images` and `text` are shared by the CLI (`cli`) and the terminal UI.

#[warn(missing_docs)]
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod exchange;
pub mod images;
#[warn(missing_docs)]
pub mod mock;
pub mod presets;
#[warn(missing_docs)]
pub mod store;
pub mod sweep;
pub mod text;
pub mod tui;
