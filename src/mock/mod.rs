//! The embedded mock CVProcess server.

pub mod render;
