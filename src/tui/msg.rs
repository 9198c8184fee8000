//! Messages into `App::update` and commands out of it.

use crate::tui::form::LoadedImage;
use crate::tui::preview::{Decoded, Encoded, ImageKey};
use crate::tui::view::{ImageState, ResponseView};
use ratatui::crossterm::event::{Event, KeyEvent, MouseEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Input from the terminal side.
#[derive(Debug)]
pub enum HostEvent {
    /// A terminal event (key, mouse, paste, resize).
    Term(Event),
    /// A signal asking us to stop.
    Terminate(&'static str),
    /// The start-up query decided (or changed) the image protocol.
    Protocol(crate::tui::preview::SetupRef),
    /// The start-up query is over: repaint every cell (a terminal that did not understand it
    /// may have printed some of it).
    Repaint,
}

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
    /// The start-up terminal query decided the image protocol (after the UI started): cached
    /// encodings are dropped and the worker encodes for the new one.
    ProtocolDetected(crate::tui::preview::SetupRef),
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
        /// The protocol generation it was encoded for (see [`Msg::ProtocolDetected`]).
        generation: u64,
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
    /// A page of the history store (or why it could not be read).
    HistoryLoaded {
        /// The list generation it answers (older ones are dropped).
        generation: u64,
        /// A further page (else a first page replacing the list).
        append: bool,
        /// The rows, and for a first page how many match in all.
        result: Result<(Vec<crate::store::Summary>, Option<u64>), String>,
    },
    /// Rows written to the store since the last look (by this or another process).
    HistoryChanged(Vec<crate::store::Summary>),
    /// A request of this run was written to the store as pending (or could not be).
    Recorded {
        /// The request.
        id: u64,
        /// Its store id, or why it is not recorded.
        result: Result<i64, String>,
    },
    /// A recorded entry was read from the store for the Response pane.
    EntryOpened {
        /// The row.
        id: u64,
        /// The request body as sent and the view, or why it cannot be shown.
        result: Result<Opened, String>,
    },
    /// A star or note was written (or not).
    HistoryEdited {
        /// The store id.
        store_id: i64,
        /// What was done, for the status bar (`starred`, `note saved`...).
        what: &'static str,
        /// The new summary, or why the write failed.
        result: Result<crate::store::Summary, String>,
    },
    /// An async request's task changed (submitted, a new status, a failed poll).
    TaskStatus {
        /// The request.
        id: u64,
        /// One line for the user: `in_queue 3.1s`, `generating 12s`...
        text: String,
    },
    /// A sweep was checked: ready to run, or every problem found.
    SweepPrepared(Result<Box<crate::sweep::Prepared>, Vec<String>>),
    /// A sweep's news.
    Sweep {
        /// The sweep.
        n: u64,
        /// What happened.
        event: SweepMsg,
    },
    /// The presets file was listed (or could not be read).
    PresetsListed(Result<Vec<crate::presets::PresetInfo>, String>),
    /// A preset was applied to a body: the switched body, or why not.
    PresetApplied {
        /// The preset.
        name: String,
        /// The body for the preset's model and what was dropped on the way.
        result: Result<crate::api::schema::Switched, String>,
    },
    /// A preset was saved or deleted; the message says what happened.
    PresetsChanged {
        /// For the status bar.
        text: String,
        /// Whether it failed.
        error: bool,
    },
    /// The curl command for a request (secrets as environment references), or why not.
    CurlReady(Result<String, String>),
    /// An entry was deleted from the store (or not).
    HistoryDeleted {
        /// The store id.
        store_id: i64,
        /// Image files no entry uses any more that were removed, or why nothing was deleted.
        result: Result<usize, String>,
    },
}

/// A recorded entry read back from the store.
#[derive(Debug)]
pub struct Opened {
    /// The request body exactly as sent (reference base64 restored).
    pub request: Arc<serde_json::Value>,
    /// What the Response pane shows.
    pub view: Box<ResponseView>,
    /// The client-measured duration.
    pub duration: Duration,
    /// The sweep the entry is a cell of.
    pub sweep_id: Option<String>,
}

/// A sweep plan in a command (compared by id).
#[derive(Debug, Clone)]
pub struct PlanRef(pub Arc<crate::sweep::Plan>);

impl PartialEq for PlanRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

/// What a sweep reports to the UI.
#[derive(Debug)]
pub enum SweepMsg {
    /// A cell's first request is going out.
    Started {
        /// The cell.
        cell: usize,
        /// Its history entry.
        history_id: Option<i64>,
    },
    /// A cell was answered 50429/50430 and waits for the slowed bucket.
    RateLimited {
        /// The cell.
        cell: usize,
    },
    /// A cell ended.
    CellDone {
        /// How.
        report: Box<crate::sweep::runner::CellReport>,
        /// The store's file of its first result image.
        image: Option<PathBuf>,
    },
    /// Counts, rate and ETA.
    Progress(crate::sweep::runner::Progress),
    /// A problem that does not stop the sweep.
    Warning(String),
    /// The sweep is over.
    Done {
        /// Stopped before every cell was tried.
        stopped: bool,
        /// How long it ran, or why it ended early (the counts come from the cells).
        result: Result<std::time::Duration, String>,
    },
    /// A recorded sweep read back: its id, grid and recorded cells, or why not.
    Opened(Result<OpenedSweep, String>),
}

/// A recorded sweep read back from the history.
#[derive(Debug)]
pub struct OpenedSweep {
    /// The sweep's id.
    pub id: String,
    /// Its fields.
    pub grid: crate::sweep::Grid,
    /// Its recorded cells.
    pub cells: Vec<crate::store::SweepCell>,
}

/// What to do with the presets file (`<config dir>/presets.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresetCmd {
    /// List the presets.
    List,
    /// Apply a preset to a request body (the form's).
    Apply {
        /// The preset.
        name: String,
        /// The body it is applied to.
        body: serde_json::Value,
    },
    /// Save the body's parameters under a name (replacing a preset of that name).
    Save {
        /// The name.
        name: String,
        /// The body.
        body: serde_json::Value,
    },
    /// Delete a preset.
    Delete {
        /// The name.
        name: String,
    },
}

/// What to do with the history store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryCmd {
    /// Read a page of rows matching a search line (see `history::parse_search`).
    Load {
        /// The list generation the answer belongs to.
        generation: u64,
        /// The search line.
        filter: String,
        /// Rows older than this store id (a further page), else the first page.
        before: Option<i64>,
    },
    /// Read an entry for the Response pane.
    Open {
        /// The row.
        id: u64,
        /// Its store id.
        store_id: i64,
    },
    /// Star or unstar.
    Star {
        /// The store id.
        store_id: i64,
        /// The new value.
        star: bool,
    },
    /// Set (or clear, with an empty text) the note.
    Note {
        /// The store id.
        store_id: i64,
        /// The note.
        note: String,
    },
    /// Delete the entry (and image files no other entry uses).
    Delete {
        /// The store id.
        store_id: i64,
    },
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
    /// Encode previews with this protocol from now on.
    UsePreviews(crate::tui::preview::SetupRef),
    /// Encode a decoded image for the terminal at a size in cells.
    EncodePreview {
        /// Which image.
        key: ImageKey,
        /// The protocol generation asked for (echoed in [`Msg::PreviewEncoded`]).
        generation: u64,
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
    /// Read or write the history store.
    History(HistoryCmd),
    /// Work on the user's presets file.
    Presets(PresetCmd),
    /// Run a sweep (its cells recorded in the history).
    Sweep {
        /// This run's number for it.
        n: u64,
        /// What to send.
        plan: PlanRef,
    },
    /// Check a sweep's fields against the schema and validate every cell (up to 1000 bodies:
    /// off the UI task).
    PrepareSweep {
        /// The form's request.
        base: serde_json::Value,
        /// The dialog's `FIELD=VALUES` arguments.
        args: Vec<String>,
    },
    /// Stop a running sweep: start no more cells (`abort`: also cut off those in flight).
    StopSweep {
        /// The sweep.
        n: u64,
        /// Cancel the cells in flight too.
        abort: bool,
    },
    /// Read a recorded sweep back from the history.
    OpenSweep {
        /// This run's number for it.
        n: u64,
        /// Its id.
        id: String,
    },
    /// Send a request body with the async API (submit, then poll).
    SendAsync {
        /// The request's id in the history.
        id: u64,
        /// The body, reference image included.
        body: serde_json::Value,
    },
    /// Build the curl command for a request body (signed now, secrets as references).
    Curl(serde_json::Value),
    /// Keep the form in the draft file (the newest text wins; writes are coalesced).
    SaveDraft(String),
    /// Write text to exactly this file (never replacing one).
    WriteText {
        /// The text.
        text: String,
        /// The file to create.
        path: PathBuf,
    },
}
