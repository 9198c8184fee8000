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
    /// A key press.
    Key(KeyEvent),
    /// Bracketed paste.
    Paste(String),
    /// A click or wheel turn.
    Mouse(MouseEvent),
    /// The terminal's new width and height.
    Resize(u16, u16),
    /// Sent only while requests are in flight, to move the spinner and elapsed times.
    Tick(Instant),
    /// A request finished (in any way).
    Finished {
        /// The request.
        id: u64,
        /// What to show.
        view: Box<ResponseView>,
        /// Client-measured duration.
        duration: Duration,
    },
    /// A result image was saved (or not).
    ImageSaved {
        /// The request.
        id: u64,
        /// Which result image.
        index: usize,
        /// Where it stands now.
        state: ImageState,
    },
    /// The worker read (or failed to read) a reference image.
    ReferenceLoaded {
        /// The input it answers (stale answers are dropped).
        input: String,
        /// The image, or why it cannot be used.
        result: Result<LoadedImage, String>,
    },
    /// Path completions for the reference row.
    Completed {
        /// The input it answers (stale answers are dropped).
        input: String,
        /// Matching paths.
        candidates: Vec<String>,
    },
    /// The external editor closed: the file's text, or why it could not be used.
    EditorClosed {
        /// What was edited.
        target: EditTarget,
        /// The edited text, or why there is none.
        result: Result<String, String>,
    },
    /// A signal asked us to stop (SIGTERM, SIGHUP).
    Terminate(&'static str),
}

/// Side effects `update` asks for; the event loop and the worker carry them out.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Send a request body.
    Send {
        /// The request's id in the history.
        id: u64,
        /// The body, reference image included.
        body: serde_json::Value,
    },
    /// Cancel an in-flight request.
    Cancel(u64),
    /// Read a reference image from a path (or accept a URL).
    LoadReference(String),
    /// List path completions for partial input.
    Complete(String),
    /// Suspend the UI and edit text in `$EDITOR`.
    OpenEditor {
        /// What is edited.
        target: EditTarget,
        /// The text the editor starts with.
        text: String,
    },
    /// Copy text to the clipboard with OSC 52.
    Copy(String),
}
