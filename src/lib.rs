//! volcv: a terminal workbench for Volcengine's visual CVProcess API.
//!
//! `api` is the protocol layer (schema, request building, signing, response parsing, the HTTP
//! client) and knows nothing of terminals. `mock` is the embedded fake CVProcess server.

pub mod api;
pub mod mock;
pub mod tui;
