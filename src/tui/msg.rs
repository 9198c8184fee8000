//! Messages into `App::update` and commands out of it.

use crate::tui::form::LoadedImage;
use crate::tui::view::{ImageState, ResponseView};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use std::time::{Duration, Instant};

/// What the external editor is editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    /// The prompt text.
    Prompt,
    /// The whole request as JSON.
    Request,
}

/// Everything that can change the UI state.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Sent only while requests are in flight, to move the spinner and elapsed times.
    Tick(Instant),
    /// A request finished (in any way).
    Finished {
        id: u64,
        view: Box<ResponseView>,
        duration: Duration,
    },
    /// A result image was saved (or not).
    ImageSaved {
        id: u64,
        index: usize,
        state: ImageState,
    },
    /// The worker read (or failed to read) a reference image.
    ReferenceLoaded {
        input: String,
        result: Result<LoadedImage, String>,
    },
    /// Path completions for the reference row.
    Completed {
        input: String,
        candidates: Vec<String>,
    },
    /// The external editor closed: the file's text, or why it could not be used.
    EditorClosed {
        target: EditTarget,
        result: Result<String, String>,
    },
    /// A signal asked us to stop (SIGTERM, SIGHUP).
    Terminate(&'static str),
}

/// Side effects `update` asks for; the event loop and the worker carry them out.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Send a request body.
    Send { id: u64, body: serde_json::Value },
    /// Cancel an in-flight request.
    Cancel(u64),
    /// Read a reference image from a path (or accept a URL).
    LoadReference(String),
    /// List path completions for partial input.
    Complete(String),
    /// Suspend the UI and edit text in `$EDITOR`.
    OpenEditor { target: EditTarget, text: String },
    /// Copy text to the clipboard with OSC 52.
    Copy(String),
}
