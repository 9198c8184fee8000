//! The real terminal: raw mode, the alternate screen and mouse capture, restored on every exit
//! path (normal return, error, panic, SIGTERM/SIGHUP/SIGINT/SIGQUIT); `$EDITOR` hand-over;
//! OSC 52 copies.

use crate::tui::event_loop::{Events, Host, HostEvent};
use crate::tui::msg::EditTarget;
use base64::Engine as _;
use futures::StreamExt as _;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use std::io::{self, BufWriter, Stdout, Write as _};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Puts the terminal back: raw mode off, main screen, no mouse reporting, cursor shown.
/// Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )
}

/// Installs a panic hook that restores the terminal before the default hook prints. Call it
/// before raw mode is entered.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// What frames are written through: stdout alone is line-buffered with a 1 KB buffer, so a
/// full frame went out in a dozen writes (and could be shown half drawn); ratatui flushes
/// once per frame, so each frame is now one write.
type Out = BufWriter<Stdout>;

/// Bytes buffered per frame before a write (a full 200x50 frame with colours is ~30 KB).
const FRAME_BUFFER: usize = 64 * 1024;

/// A backend that never asks the terminal where its cursor is. ratatui asks before it
/// clears the screen (to put the cursor back); crossterm answers that by writing a query and
/// waiting up to two seconds for the reply, on the UI task, with the input stream reading the
/// same terminal. The UI hides the cursor and places it itself, so the position it last set
/// (the top-left corner at first) is the answer. Everything else goes to `B`; `size` can be
/// fixed (tests draw into memory, where there is no terminal to measure).
#[derive(Debug)]
pub struct NoQuery<B> {
    inner: B,
    cursor: ratatui::layout::Position,
    size: Option<ratatui::layout::Size>,
}

impl<B> NoQuery<B> {
    /// Wraps `inner`; the size is the terminal's.
    pub fn new(inner: B) -> NoQuery<B> {
        NoQuery {
            inner,
            cursor: ratatui::layout::Position::ORIGIN,
            size: None,
        }
    }

    /// Wraps `inner`, which is `size` cells large whatever it says.
    pub fn with_size(inner: B, size: ratatui::layout::Size) -> NoQuery<B> {
        NoQuery {
            size: Some(size),
            ..NoQuery::new(inner)
        }
    }
}

impl<B: ratatui::backend::Backend> ratatui::backend::Backend for NoQuery<B> {
    type Error = B::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        Ok(self.cursor)
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        position: P,
    ) -> Result<(), Self::Error> {
        let p = position.into();
        self.cursor = p;
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        match self.size {
            Some(s) => Ok(s),
            None => self.inner.size(),
        }
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        match self.size {
            Some(columns_rows) => Ok(ratatui::backend::WindowSize {
                columns_rows,
                pixels: ratatui::layout::Size::default(),
            }),
            None => self.inner.window_size(),
        }
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

/// The watched signals with their names. Owned for the whole run (not by one input stream),
/// so a signal that comes while no stream exists (the editor runs) is still seen.
type Signals = Arc<Mutex<Vec<(tokio::signal::unix::Signal, &'static str)>>>;

/// The terminal in UI mode; restores it when dropped.
pub struct Tty {
    terminal: Terminal<NoQuery<CrosstermBackend<Out>>>,
    signals: Signals,
    /// A signal that came while the editor ran, for the loop to take.
    pending: Option<&'static str>,
    /// The start-up query, while its reader owns the terminal's input.
    query: Option<crate::tui::termquery::Pending>,
}

impl Tty {
    /// Enters raw mode, the alternate screen and mouse capture.
    pub fn enter() -> io::Result<Tty> {
        if let Err(e) = enter() {
            restore();
            return Err(e);
        }
        match Terminal::new(NoQuery::new(CrosstermBackend::new(
            BufWriter::with_capacity(FRAME_BUFFER, io::stdout()),
        ))) {
            Ok(terminal) => Ok(Tty {
                terminal,
                signals: watch_signals(),
                pending: None,
                query: None,
            }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Tty {
    /// Takes input from the start-up query's reader until it ends (see
    /// [`crate::tui::termquery`]); crossterm reads the terminal only after that.
    pub fn query_running(&mut self, query: crate::tui::termquery::Pending) {
        self.query = Some(query);
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        restore();
    }
}

fn watch_signals() -> Signals {
    use tokio::signal::unix::{SignalKind, signal};
    let mut watched = Vec::new();
    // SIGINT and SIGQUIT too: in raw mode Ctrl-C and Ctrl-\ are keys, so these come from
    // outside (`kill -INT`, `timeout -s INT`), and their default action would end the process
    // with the alternate screen, raw mode and mouse reporting still on.
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::quit(), "SIGQUIT"),
    ] {
        match signal(kind) {
            Ok(s) => watched.push((s, name)),
            Err(e) => tracing::warn!("cannot watch {name}: {e}"),
        }
    }
    Arc::new(Mutex::new(watched))
}

/// The name of the next signal received (pending forever when none is watched).
fn poll_signal(signals: &Signals, cx: &mut Context<'_>) -> Poll<&'static str> {
    let Ok(mut watched) = signals.lock() else {
        return Poll::Pending;
    };
    for (s, name) in watched.iter_mut() {
        if let Poll::Ready(Some(())) = s.poll_recv(cx) {
            return Poll::Ready(*name);
        }
    }
    Poll::Pending
}

fn signals(signals: &Signals) -> Events {
    let signals = Arc::clone(signals);
    futures::stream::poll_fn(move |cx| {
        poll_signal(&signals, cx).map(|name| Some(Ok(HostEvent::Terminate(name))))
    })
    .boxed()
}

/// Drops input typed while the terminal belonged to someone else.
fn drain_input() {
    while event::poll(Duration::ZERO).unwrap_or(false) {
        if event::read().is_err() {
            break;
        }
    }
}

impl Host for Tty {
    type B = NoQuery<CrosstermBackend<Out>>;

    fn terminal(&mut self) -> &mut Terminal<Self::B> {
        &mut self.terminal
    }

    fn events(&mut self) -> Events {
        // crossterm's stream is made only when first polled, after the query's reader has
        // sent its last event and stopped reading: the two never read the terminal at once,
        // and what was typed during the query comes first, in order.
        let crossterm = futures::stream::once(async {
            event::EventStream::new().map(|r| r.map(HostEvent::Term))
        })
        .flatten();
        let input = match self.query.take() {
            Some(mut q) => {
                futures::stream::poll_fn(move |cx| q.events.poll_recv(cx).map(|e| e.map(Ok)))
                    .chain(crossterm)
                    .boxed()
            }
            None => crossterm.boxed(),
        };
        futures::stream::select(input, signals(&self.signals)).boxed()
    }

    async fn edit(&mut self, target: EditTarget, text: &str) -> Result<String, String> {
        let ext = match target {
            EditTarget::Prompt => "txt",
            EditTarget::Request => "json",
        };
        let path = std::env::temp_dir().join(format!(
            "volcv-{}-{:08x}.{ext}",
            std::process::id(),
            rand::random::<u32>()
        ));
        // The UI is suspended while the editor runs, so these small writes cannot stall it.
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".to_owned());
        restore();
        let mut parts = editor.split_whitespace();
        let program = parts.next().unwrap_or("vi").to_owned();
        let args: Vec<String> = parts.map(str::to_owned).collect();
        let (prog, file) = (program.clone(), path.clone());
        // Waited for on the blocking pool: the UI is suspended, but the runtime (the worker,
        // the demo mock) keeps running.
        let mut child = tokio::task::spawn_blocking(move || {
            std::process::Command::new(prog)
                .args(args)
                .arg(file)
                .status()
        });
        // SIGTERM/SIGHUP meanwhile is remembered; the loop ends once the editor is gone.
        let watched = Arc::clone(&self.signals);
        let status = loop {
            tokio::select! {
                r = &mut child => break r.unwrap_or_else(|e| Err(io::Error::other(e.to_string()))),
                name = std::future::poll_fn(|cx| poll_signal(&watched, cx)), if self.pending.is_none() => {
                    tracing::info!("{name} while the editor runs: quitting once it is closed");
                    self.pending = Some(name);
                }
            }
        };
        let back = enter();
        drain_input();
        let result = match status {
            Err(e) => Err(format!("cannot run {program}: {e}")),
            Ok(s) if !s.success() => Err(format!("{program} exited with {s}; nothing changed")),
            Ok(_) => std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        };
        let _ = std::fs::remove_file(&path);
        back.map_err(|e| format!("cannot restore the terminal: {e}"))?;
        result
    }

    fn take_signal(&mut self) -> Option<&'static str> {
        self.pending.take()
    }

    fn copy(&mut self, text: &str) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        let mut out = io::stdout();
        let _ = write!(out, "\x1b]52;c;{b64}\x07");
        let _ = out.flush();
    }
}
