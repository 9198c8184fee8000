//! The CVProcess protocol: everything a script or the TUI needs, with no terminal code.

pub mod auth;
pub mod client;
pub mod codes;
pub mod curl;
pub mod response;
pub mod schema;
pub mod secret;
pub mod tasks;
