//! Messages into `App::update` and commands out of it.

use crate::tui::form::LoadedImage;
use crate::tui::preview::{Decoded, Encoded, ImageKey};
use crate::tui::view::{ImageState, ResponseView};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the bytes of an image to save are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A file already on disk (a saved result).
    File(PathBuf),
    /// Inline base64 (the reference image of a request).
    Base64(Arc<str>),
}

/// Facts learnt once an image's bytes are in hand (a downloaded URL result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// `JPEG`, `PNG`...
    pub format: String,
    /// Width and height, when the header tells.
    pub dims: Option<(u32, u32)>,
    /// Size in bytes.
    pub bytes: usize,
}

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
        /// Format, size and bytes, when the bytes were obtained.
        facts: Option<ImageFacts>,
    },
    /// The worker decoded (and shrunk) an image for previews, or could not.
    PreviewDecoded {
        /// Which image.
        key: ImageKey,
        /// The image, or why there is none.
        result: Decoded,
    },
    /// The worker encoded an image for the terminal's protocol at a size.
    PreviewEncoded {
        /// Which image.
        key: ImageKey,
        /// Width of the area, in cells.
        width: u16,
        /// Height of the area, in cells.
        height: u16,
        /// The encoded image, or why there is none.
        result: Result<Encoded, String>,
    },
    /// `s` or `o` finished: what was written, or why not.
    Saved {
        /// The message for the status bar.
        text: String,
        /// Whether it failed.
        error: bool,
    },
    /// A local reference image is over the service's limits; the user may have it fitted.
    ReferenceOverLimits {
        /// The input it answers.
        input: String,
        /// Each limit it breaks, in words.
        problems: Vec<String>,
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
    /// Encode a decoded image for the terminal at a size in cells.
    EncodePreview {
        /// Which image.
        key: ImageKey,
        /// The decoded image.
        image: Arc<image::DynamicImage>,
        /// Width in cells.
        width: u16,
        /// Height in cells.
        height: u16,
    },
    /// Decode an image again for previews (it was dropped from memory).
    DecodePreview {
        /// Which image.
        key: ImageKey,
        /// Its bytes.
        source: ImageSource,
    },
    /// Write one image to exactly this path (never replacing a file).
    SaveImage {
        /// The bytes.
        source: ImageSource,
        /// The file to create.
        path: PathBuf,
    },
    /// Write images into a directory under their stems (`-2`, `-3`... when taken).
    SaveAll {
        /// The bytes and a file stem for each.
        items: Vec<(ImageSource, String)>,
        /// The directory (created if missing).
        dir: PathBuf,
    },
    /// Read a local reference image again and downscale / re-encode it to fit the limits.
    FitReference(String),
}
