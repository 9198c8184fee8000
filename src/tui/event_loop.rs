//! The event loop: `tokio::select!` over worker results (first), terminal input, and a tick
//! that exists only while a request is in flight. It draws only after something changed.
//! The terminal side is behind [`Host`], so tests run the same loop on a `TestBackend` with
//! injected input.

use crate::clock::now_ms;
use crate::tui::app::App;
use crate::tui::msg::{Cmd, EditTarget, Msg};
use crate::tui::render::{Drawn, render_frame};
use crate::tui::worker::Worker;
use futures::{Stream, StreamExt as _};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, MouseEventKind};
use ratatui::layout::Rect;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the spinner and elapsed times move while requests are in flight.
pub const TICK: Duration = Duration::from_millis(100);

/// How long quitting waits for cancelled requests to be recorded in the history.
pub const QUIT_GRACE: Duration = Duration::from_secs(2);

pub use crate::tui::msg::HostEvent;

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
    /// A signal (SIGTERM, SIGHUP) that came while [`Host::edit`] ran and the input stream
    /// was dropped, taken once: the loop ends as it would have, after the editor is gone.
    fn take_signal(&mut self) -> Option<&'static str> {
        None
    }
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

/// Draws one frame of `app` on `terminal`: the cells that changed since the last frame, or the
/// whole screen after clearing it when the pixel images on it changed (see
/// [`Drawn::needs_repaint`]). `shown` holds the images of the frame on screen.
///
/// The backend should not need to ask the terminal for its cursor (see
/// [`crate::tui::terminal::NoQuery`]): a clear keeps the cursor where the backend says it is.
pub fn draw_frame<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &App,
    shown: &mut Drawn,
) -> Result<(), B::Error> {
    terminal.autoresize()?;
    let drawn = {
        let mut frame = terminal.get_frame();
        render_frame(app, &mut frame)
    };
    if drawn.needs_repaint(shown) {
        // Only the previous buffer is reset: the frame just rendered is then written whole.
        terminal.clear()?;
        if shown.has_kitty_placements() || drawn.has_kitty_placements() {
            // An erased screen may keep kitty's placed images: delete them first. The first
            // cell is written first, so the command goes in front of it (it moves nothing).
            let buf = terminal.current_buffer_mut();
            if let Some(c) = buf.cell_mut((0, 0)) {
                let sym = format!("{}{}", crate::tui::preview::KITTY_DELETE_ALL, c.symbol());
                c.set_symbol(&sym)
                    .set_diff_option(ratatui::buffer::CellDiffOption::ForcedWidth(
                        std::num::NonZeroU16::MIN,
                    ));
            }
        }
    }
    terminal.apply_buffer()?;
    *shown = drawn;
    Ok(())
}

fn draw<H: Host>(host: &mut H, app: &App, shown: &mut Drawn) -> anyhow::Result<()> {
    draw_frame(host.terminal(), app, shown).map_err(|e| anyhow::anyhow!("drawing failed: {e}"))
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
    let mut shown = Drawn::default();
    // What restoring the draft needs (a reference read again from its file), and the first
    // page of the history.
    let mut start = app.take_start_cmds();
    if worker.keeps_history() {
        start.extend(app.start());
    }
    dispatch(host, app, worker, &mut events, &mut shown, start).await?;
    while !app.quit {
        if dirty {
            draw(host, app, &mut shown)?;
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
        let mut cmds = app.update_at(msg, Instant::now(), now_ms());
        while let Ok(m) = rx.try_recv() {
            cmds.extend(app.update_at(m, Instant::now(), now_ms()));
        }
        dirty = true;
        dispatch(host, app, worker, &mut events, &mut shown, cmds).await?;
    }
    worker.cancel_all();
    // Cancelled requests record how they ended (else they are found `interrupted` later).
    worker.drain(QUIT_GRACE).await;
    // The last change of the form reaches the draft file.
    worker.flush_draft().await;
    Ok(())
}

/// Carries out commands in order, every command of the loop (at start, after a message, and
/// what the editor's result returns): the editor and the clipboard here, as they need the
/// terminal; everything else on the worker.
async fn dispatch<H: Host>(
    host: &mut H,
    app: &mut App,
    worker: &Worker,
    events: &mut Events,
    shown: &mut Drawn,
    cmds: Vec<Cmd>,
) -> anyhow::Result<()> {
    let mut queue: VecDeque<Cmd> = cmds.into();
    while let Some(cmd) = queue.pop_front() {
        match cmd {
            // Quitting (a signal while the editor ran) opens no editor again.
            Cmd::OpenEditor { .. } if app.quit => {}
            Cmd::OpenEditor { target, text } => {
                // Stop reading input before the editor owns the terminal.
                *events = Box::pin(futures::stream::empty());
                let result = host.edit(target, &text).await;
                *events = host.events();
                // The editor's result may open it again (a request that cannot be used).
                queue.extend(app.update_at(
                    Msg::EditorClosed { target, result },
                    Instant::now(),
                    now_ms(),
                ));
                if let Some(why) = host.take_signal() {
                    queue.extend(app.update_at(Msg::Terminate(why), Instant::now(), now_ms()));
                }
                repaint(host)?;
                // The editor used the whole screen: nothing of ours is on it any more.
                *shown = Drawn::default();
            }
            Cmd::Copy(text) => host.copy(&text),
            other => worker.run(other),
        }
    }
    Ok(())
}
