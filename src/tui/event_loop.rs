//! The event loop: `tokio::select!` over worker results (first), terminal input, and a tick
//! that exists only while a request is in flight. It draws only after something changed.
//! The terminal side is behind [`Host`], so tests run the same loop on a `TestBackend` with
//! injected input.

use crate::tui::app::App;
use crate::tui::msg::{Cmd, EditTarget, Msg};
use crate::tui::render::render;
use crate::tui::worker::Worker;
use futures::{Stream, StreamExt as _};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, MouseEventKind};
use ratatui::layout::Rect;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the spinner and elapsed times move while requests are in flight.
pub const TICK: Duration = Duration::from_millis(100);

/// How long quitting waits for cancelled requests to be recorded in the history.
pub const QUIT_GRACE: Duration = Duration::from_secs(2);

/// Input from the terminal side.
#[derive(Debug)]
pub enum HostEvent {
    /// A terminal event (key, mouse, paste, resize).
    Term(Event),
    /// A signal asking us to stop.
    Terminate(&'static str),
    /// The start-up query decided (or changed) the image protocol.
    Protocol(crate::tui::termquery::SetupRef),
    /// The start-up query is over: repaint every cell (a terminal that did not understand it
    /// may have printed some of it).
    Repaint,
}

/// A stream of terminal input.
pub type Events = Pin<Box<dyn Stream<Item = io::Result<HostEvent>> + Send>>;

/// The terminal the loop runs on: the real one, or a test double.
pub trait Host {
    /// The ratatui backend.
    type B: Backend;
    /// The terminal to draw on.
    fn terminal(&mut self) -> &mut Terminal<Self::B>;
    /// A fresh input stream (dropped while an external editor runs, so it reads nothing).
    fn events(&mut self) -> Events;
    /// Suspends the UI, lets the user edit `text` in `$EDITOR`, restores the UI (draining
    /// input typed meanwhile) and returns the edited text.
    fn edit(
        &mut self,
        target: EditTarget,
        text: &str,
    ) -> impl Future<Output = Result<String, String>>;
    /// Puts text on the clipboard (OSC 52).
    fn copy(&mut self, text: &str);
}

fn to_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => Some(Msg::Key(k)),
        // Motion is reported on every cell the pointer crosses; nothing uses it, so it must
        // not cost a redraw.
        Event::Mouse(m) if matches!(m.kind, MouseEventKind::Moved | MouseEventKind::Drag(_)) => {
            None
        }
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Paste(p) => Some(Msg::Paste(p)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        Event::FocusGained | Event::FocusLost => None,
    }
}

fn draw<H: Host>(host: &mut H, app: &App) -> anyhow::Result<()> {
    host.terminal()
        .draw(|f| render(app, f))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("drawing failed: {e}"))
}

/// Clears the screen and makes the next draw repaint every cell. Not `Terminal::clear`, which
/// asks the terminal for the cursor position and fails (after 2 s) when it does not answer.
fn repaint<H: Host>(host: &mut H) -> anyhow::Result<()> {
    let t = host.terminal();
    let size = t
        .size()
        .map_err(|e| anyhow::anyhow!("reading the terminal size: {e}"))?;
    t.resize(Rect::new(0, 0, size.width, size.height))
        .map_err(|e| anyhow::anyhow!("redrawing: {e}"))
}

/// Runs until the app quits or the input ends. Worker messages are handled before input and
/// drained in batches; the screen is redrawn once per batch.
pub async fn run_loop<H: Host>(
    host: &mut H,
    app: &mut App,
    worker: &Worker,
    rx: &mut UnboundedReceiver<Msg>,
) -> anyhow::Result<()> {
    if let Ok(size) = host.terminal().size() {
        app.size = Rect::new(0, 0, size.width, size.height);
    }
    let mut events = host.events();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    if worker.keeps_history() {
        for c in app.start() {
            worker.run(c);
        }
    }
    while !app.quit {
        if dirty {
            draw(host, app)?;
            dirty = false;
        }
        let busy = app.busy();
        let msg = tokio::select! {
            biased;
            Some(m) = rx.recv() => m,
            ev = events.next() => match ev {
                Some(Ok(HostEvent::Term(e))) => match to_msg(e) {
                    Some(m) => m,
                    None => continue,
                },
                Some(Ok(HostEvent::Terminate(why))) => Msg::Terminate(why),
                Some(Ok(HostEvent::Protocol(setup))) => Msg::ProtocolDetected(setup),
                Some(Ok(HostEvent::Repaint)) => {
                    repaint(host)?;
                    dirty = true;
                    continue;
                }
                Some(Err(e)) => return Err(anyhow::anyhow!("reading terminal input: {e}")),
                None => break,
            },
            _ = tick.tick(), if busy => Msg::Tick(Instant::now()),
        };
        let mut cmds = app.update(msg);
        while let Ok(m) = rx.try_recv() {
            cmds.extend(app.update(m));
        }
        dirty = true;
        for cmd in cmds {
            match cmd {
                Cmd::OpenEditor { target, text } => {
                    // Stop reading input before the editor owns the terminal.
                    drop(events);
                    let result = host.edit(target, &text).await;
                    events = host.events();
                    let more = app.update(Msg::EditorClosed { target, result });
                    for c in more {
                        worker.run(c);
                    }
                    repaint(host)?;
                }
                Cmd::Copy(text) => host.copy(&text),
                other => worker.run(other),
            }
        }
    }
    worker.cancel_all();
    // Cancelled requests record how they ended (else they are found `interrupted` later).
    worker.drain(QUIT_GRACE).await;
    Ok(())
}
