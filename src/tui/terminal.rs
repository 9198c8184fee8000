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

/// The terminal in UI mode; restores it when dropped.
pub struct Tty {
    terminal: Terminal<CrosstermBackend<Out>>,
}

impl Tty {
    /// Enters raw mode, the alternate screen and mouse capture.
    pub fn enter() -> io::Result<Tty> {
        if let Err(e) = enter() {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(
            FRAME_BUFFER,
            io::stdout(),
        ))) {
            Ok(terminal) => Ok(Tty { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        restore();
    }
}

fn signals() -> Events {
    use tokio::signal::unix::{SignalKind, signal};
    let mut streams = Vec::new();
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
            Ok(mut s) => streams.push(
                futures::stream::poll_fn(move |cx| {
                    s.poll_recv(cx)
                        .map(|o| o.map(|()| Ok(HostEvent::Terminate(name))))
                })
                .boxed(),
            ),
            Err(e) => tracing::warn!("cannot watch {name}: {e}"),
        }
    }
    futures::stream::select_all(streams).boxed()
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
    type B = CrosstermBackend<Out>;

    fn terminal(&mut self) -> &mut Terminal<Self::B> {
        &mut self.terminal
    }

    fn events(&mut self) -> Events {
        let input = event::EventStream::new().map(|r| r.map(HostEvent::Term));
        futures::stream::select(input, signals()).boxed()
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
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new(prog)
                .args(args)
                .arg(file)
                .status()
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
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

    fn copy(&mut self, text: &str) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        let mut out = io::stdout();
        let _ = write!(out, "\x1b]52;c;{b64}\x07");
        let _ = out.flush();
    }
}
