//! volcv: a terminal workbench for Volcengine's visual CVProcess API.
//!
//! `api` is the protocol layer (schema, request building, signing, response parsing, the HTTP
//! client) and knows nothing of terminals. `mock` is the embedded fake CVProcess server.
//! `store` is the persistent history (SQLite + image files). `sweep` runs parameter sweeps
//! (grids of requests, rate-limited, with a contact sheet).
//! `presets` keeps named parameter presets in the config dir.
//! `config`, `images` and `text` are shared by the CLI (`cli`) and the terminal UI.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod exchange;
pub mod images;
pub mod mock;
pub mod presets;
pub mod results;
pub mod store;
pub mod sweep;
pub mod tasks;
pub mod text;
pub mod tui;
