//! The terminal UI.
//!
//! Data flows one way: a key becomes a [`msg::Msg`], [`app::App::update`] changes state and
//! returns [`msg::Cmd`]s, the worker runs them on tokio tasks and sends results back as
//! messages. [`render::render`] only reads the state.

pub mod app;
pub mod doc;
pub mod form;
pub mod history;
pub mod keymap;
pub mod layout;
pub mod msg;
pub mod render;
pub mod theme;
pub mod view;

pub use keymap::key_table_markdown;
