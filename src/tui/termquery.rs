//! The start-up terminal query (which image protocol the terminal has), run beside the UI so
//! it never costs a key or a frame.
//!
//! The first frame is drawn, then [`begin`] picks a provisional protocol at once (environment
//! hints) and, with `auto` on a real terminal, starts a thread that writes the query and reads
//! the terminal's input until the answer is complete or [`QUERY_TIMEOUT`] has passed. The
//! event loop runs meanwhile: every byte the thread reads goes through a [`Splitter`], which
//! consumes the answers and turns everything else into the key, paste and mouse events
//! crossterm would have made of it, sent to the loop in the order typed. When the thread ends,
//! and only then, crossterm's own event stream takes over the terminal's input (see
//! [`crate::tui::terminal::Tty`]); nothing ever reads stdin twice, and nothing is dropped.
//!
//! Inside tmux, the graphics part of the query is wrapped for passthrough to the outer
//! terminal, and a cursor position request goes to tmux itself, which answers at once. With no
//! client attached (a detached session) nothing is passed through, so the query ends on
//! tmux's own answer. An answer is remembered per terminal (`TERM`, `TERM_PROGRAM`, the tmux
//! client's terminal) in `<state dir>/terminals.json`, so the next start picks the protocol at
//! once; the query still runs and refreshes it.

mod cache;

use cache::CACHE_FILE;
pub use cache::{Remembered, cache_key, load_answer, save_answer};

use crate::tui::msg::HostEvent;
use crate::tui::preview::{EnvHints, Protocol, ProtocolChoice, QueryAnswer, Setup};
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui_image::picker::Picker;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// How long the start-up query waits for the terminal's answer. The UI is usable meanwhile
/// (keys are read and delivered by the query's own reader); only image previews wait.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// While an answer is still expected, a lone Esc at the end of what was read waits this long
/// for the rest of a sequence before it counts as the Esc key (an answer split across reads).
const ESC_GRACE: Duration = Duration::from_millis(30);

/// After the answer is complete or the timeout passed, an unfinished sequence (a key or a
/// paste split across reads) gets this much longer to complete before the terminal's input
/// is handed to crossterm.
const SETTLE: Duration = Duration::from_millis(200);

/// Longest single wait for input, so the reader notices soon when the UI stops listening.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// Longest sequence kept while waiting for its end (a paste has no limit but [`SETTLE`]).
const SEQUENCE_MAX: usize = 256;

/// One part of the terminal's answer to the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The kitty graphics query's reply (`OK` or an error).
    Kitty(bool),
    /// Primary device attributes; code 4 means sixel.
    Attributes {
        /// Code 4 was reported.
        sixel: bool,
    },
    /// The cell size in pixels (width, height), if the reply was usable.
    CellSize(Option<(u16, u16)>),
    /// The device status report: the outer terminal's answer is complete.
    Status,
    /// A cursor position report (tmux's own answer, inside tmux).
    CursorPosition,
}

/// What the bytes read during the query window turn into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Part of the answer (consumed).
    Reply(Reply),
    /// Input for the UI.
    Event(Event),
}

/// Splits the terminal's input into answers and everything else, which is parsed the way
/// crossterm parses it (printable UTF-8, Enter, Esc, Tab, BackTab, Backspace, arrows,
/// Home/End/Insert/Delete/PgUp/PgDn, F1-F12 with modifiers, Ctrl and Alt combinations,
/// bracketed paste, SGR/X10/rxvt mouse, focus). Bytes may arrive in any pieces: an incomplete
/// sequence is kept until the next read.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
}

enum Step {
    /// The sequence at the front is incomplete.
    More,
    /// `len` bytes make one item (or nothing: unknown or broken sequences are dropped, as
    /// crossterm drops them).
    Item(usize, Option<Piece>),
}

impl Splitter {
    /// Parses `bytes` after whatever was left over; returns the complete items in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Piece> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        while at < self.buf.len() {
            match parse(&self.buf[at..]) {
                Step::Item(n, piece) => {
                    out.extend(piece);
                    at += n.max(1);
                }
                Step::More if self.buf.len() - at > SEQUENCE_MAX && !is_paste(&self.buf[at..]) => {
                    // Nothing this long is expected: drop its first byte and go on.
                    at += 1;
                }
                Step::More => break,
            }
        }
        self.buf.drain(..at);
        out
    }

    /// Whether an incomplete sequence is waiting for more bytes.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether what waits is exactly one Esc (the Esc key, or the start of a sequence).
    pub fn lone_esc(&self) -> bool {
        self.buf == [0x1b]
    }

    /// No more bytes are coming for what waits: resolves it as keys, the way crossterm does
    /// when a read ends there (a lone Esc is the Esc key; Esc and a character is Alt+it; a
    /// paste cut short is delivered as far as it came; an unfinished CSI is dropped).
    pub fn flush(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        if rest.is_empty() {
            return out;
        }
        if is_paste(&rest) {
            let text = String::from_utf8_lossy(&rest[PASTE_START.len()..]).into_owned();
            out.push(Piece::Event(Event::Paste(text)));
            return out;
        }
        if rest[0] == 0x1b {
            match rest.get(1) {
                None => out.push(key(KeyCode::Esc, KeyModifiers::NONE)),
                Some(b'[' | b'O') => {
                    tracing::debug!("dropped an unfinished sequence of {} bytes", rest.len());
                }
                Some(_) => {
                    let mut inner = Splitter::default();
                    let mut after = inner.push(&rest[1..]);
                    after.extend(inner.flush());
                    out.extend(after.into_iter().take(1).map(alt));
                }
            }
        }
        // An unfinished UTF-8 character is not a key: dropped.
        out
    }
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

fn is_paste(b: &[u8]) -> bool {
    b.starts_with(PASTE_START)
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Piece {
    Piece::Event(Event::Key(KeyEvent::new(code, modifiers)))
}

fn alt(p: Piece) -> Piece {
    match p {
        Piece::Event(Event::Key(mut k)) => {
            k.modifiers |= KeyModifiers::ALT;
            Piece::Event(Event::Key(k))
        }
        other => other,
    }
}

/// A character key: upper case carries Shift, as crossterm reports it.
fn char_key(c: char) -> Piece {
    let m = if c.is_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    key(KeyCode::Char(c), m)
}

fn parse(b: &[u8]) -> Step {
    let Some(&first) = b.first() else {
        return Step::More;
    };
    match first {
        0x1b => parse_esc(b),
        b'\r' => Step::Item(1, Some(key(KeyCode::Enter, KeyModifiers::NONE))),
        b'\t' => Step::Item(1, Some(key(KeyCode::Tab, KeyModifiers::NONE))),
        0x7f => Step::Item(1, Some(key(KeyCode::Backspace, KeyModifiers::NONE))),
        // In raw mode \n is Ctrl+J, as in crossterm.
        c @ 0x01..=0x1a => Step::Item(
            1,
            Some(key(
                KeyCode::Char(char::from(c - 0x01 + b'a')),
                KeyModifiers::CONTROL,
            )),
        ),
        c @ 0x1c..=0x1f => Step::Item(
            1,
            Some(key(
                KeyCode::Char(char::from(c - 0x1c + b'4')),
                KeyModifiers::CONTROL,
            )),
        ),
        0 => Step::Item(1, Some(key(KeyCode::Char(' '), KeyModifiers::CONTROL))),
        _ => parse_utf8(b),
    }
}

fn parse_utf8(b: &[u8]) -> Step {
    let need = match b[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return Step::Item(1, None),
    };
    if let Some(bad) = b.iter().take(need).skip(1).position(|x| x & 0xc0 != 0x80) {
        return Step::Item(bad + 1, None);
    }
    if b.len() < need {
        return Step::More;
    }
    match std::str::from_utf8(&b[..need])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => Step::Item(need, Some(char_key(c))),
        None => Step::Item(need, None),
    }
}

fn parse_esc(b: &[u8]) -> Step {
    let Some(&second) = b.get(1) else {
        return Step::More;
    };
    match second {
        b'[' => parse_csi(b),
        b'O' => {
            let Some(&third) = b.get(2) else {
                return Step::More;
            };
            let code = match third {
                b'A' => KeyCode::Up,
                b'B' => KeyCode::Down,
                b'C' => KeyCode::Right,
                b'D' => KeyCode::Left,
                b'H' => KeyCode::Home,
                b'F' => KeyCode::End,
                c @ b'P'..=b'S' => KeyCode::F(1 + c - b'P'),
                _ => return Step::Item(3, None),
            };
            Step::Item(3, Some(key(code, KeyModifiers::NONE)))
        }
        // The kitty graphics reply: APC G ... ST. Esc _ followed by anything else is Alt+_.
        b'_' => {
            let Some(&third) = b.get(2) else {
                return Step::More;
            };
            if third != b'G' {
                return Step::Item(2, Some(alt(char_key('_'))));
            }
            match find(&b[3..], b"\x1b\\") {
                Some(i) => {
                    let body = &b[3..3 + i];
                    let ok = find(body, b";OK").is_some();
                    Step::Item(3 + i + 2, Some(Piece::Reply(Reply::Kitty(ok))))
                }
                None => Step::More,
            }
        }
        0x1b => Step::Item(1, Some(key(KeyCode::Esc, KeyModifiers::NONE))),
        _ => match parse(&b[1..]) {
            Step::More => Step::More,
            Step::Item(n, p) => Step::Item(n + 1, p.map(alt)),
        },
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_csi(b: &[u8]) -> Step {
    let Some(&third) = b.get(2) else {
        return Step::More;
    };
    match third {
        // X10 mouse: CSI M and three bytes.
        b'M' => {
            if b.len() < 6 {
                return Step::More;
            }
            let (cb, x, y) = (b[3].wrapping_sub(32), b[4], b[5]);
            let ev = mouse(
                cb,
                u16::from(x.saturating_sub(33)),
                u16::from(y.saturating_sub(33)),
            );
            return Step::Item(6, ev.map(|e| Piece::Event(Event::Mouse(e))));
        }
        // The Linux console's F1-F5.
        b'[' => {
            let Some(&fourth) = b.get(3) else {
                return Step::More;
            };
            let ev = matches!(fourth, b'A'..=b'E')
                .then(|| key(KeyCode::F(1 + fourth - b'A'), KeyModifiers::NONE));
            return Step::Item(4, ev);
        }
        _ => {}
    }
    // Parameter bytes, intermediate bytes, one final byte.
    let mut end = None;
    for (i, &c) in b.iter().enumerate().skip(2) {
        match c {
            0x20..=0x3f => {}
            0x40..=0x7e => {
                end = Some(i);
                break;
            }
            // Broken: drop what came before this byte, which is parsed afresh.
            _ => return Step::Item(i, None),
        }
    }
    let Some(end) = end else {
        return Step::More;
    };
    let params = &b[2..end];
    let fin = b[end];
    let len = end + 1;
    if params == b"200" && fin == b'~' {
        return match find(&b[len..], PASTE_END) {
            Some(i) => {
                let text = String::from_utf8_lossy(&b[len..len + i]).into_owned();
                Step::Item(
                    len + i + PASTE_END.len(),
                    Some(Piece::Event(Event::Paste(text))),
                )
            }
            None => Step::More,
        };
    }
    let Ok(p) = std::str::from_utf8(params) else {
        return Step::Item(len, None);
    };
    Step::Item(len, csi_piece(p, fin))
}

fn csi_piece(p: &str, fin: u8) -> Option<Piece> {
    let reply = |r| Some(Piece::Reply(r));
    match fin {
        b'c' if p.starts_with('?') => reply(Reply::Attributes {
            sixel: p[1..].split(';').any(|c| c == "4"),
        }),
        b't' if p.starts_with("6;") => {
            let mut it = p[2..].split(';').map(str::parse::<u16>);
            let cell = match (it.next(), it.next()) {
                (Some(Ok(h)), Some(Ok(w))) if w > 0 && h > 0 => Some((w, h)),
                _ => None,
            };
            reply(Reply::CellSize(cell))
        }
        b'n' if p == "0" || p == "3" => reply(Reply::Status),
        // crossterm reads CSI row;col R as a cursor position, never as a key.
        b'R' if !p.is_empty() => reply(Reply::CursorPosition),
        b'M' | b'm' if p.starts_with('<') => {
            let mut it = p[1..].split(';').map(str::parse::<u16>);
            let (Some(Ok(cb)), Some(Ok(x)), Some(Ok(y))) = (it.next(), it.next(), it.next()) else {
                return None;
            };
            let mut ev = mouse(
                u8::try_from(cb).ok()?,
                x.saturating_sub(1),
                y.saturating_sub(1),
            )?;
            if fin == b'm'
                && let MouseEventKind::Down(button) = ev.kind
            {
                ev.kind = MouseEventKind::Up(button);
            }
            Some(Piece::Event(Event::Mouse(ev)))
        }
        // rxvt mouse: CSI Cb;Cx;Cy M.
        b'M' => {
            let mut it = p.split(';').map(str::parse::<u16>);
            let (Some(Ok(cb)), Some(Ok(x)), Some(Ok(y))) = (it.next(), it.next(), it.next()) else {
                return None;
            };
            let cb = u8::try_from(cb).ok()?.checked_sub(32)?;
            Some(Piece::Event(Event::Mouse(mouse(
                cb,
                x.saturating_sub(1),
                y.saturating_sub(1),
            )?)))
        }
        b'I' if p.is_empty() => Some(Piece::Event(Event::FocusGained)),
        b'O' if p.is_empty() => Some(Piece::Event(Event::FocusLost)),
        b'Z' if p.is_empty() => Some(key(KeyCode::BackTab, KeyModifiers::SHIFT)),
        b'~' => {
            let mut it = p.split(';');
            let first: u8 = it.next()?.parse().ok()?;
            let (modifiers, kind, state) = modifiers_of(it.next());
            let code = match first {
                1 | 7 => KeyCode::Home,
                2 => KeyCode::Insert,
                3 => KeyCode::Delete,
                4 | 8 => KeyCode::End,
                5 => KeyCode::PageUp,
                6 => KeyCode::PageDown,
                v @ 11..=15 => KeyCode::F(v - 10),
                v @ 17..=21 => KeyCode::F(v - 11),
                v @ 23..=26 => KeyCode::F(v - 12),
                v @ 28..=29 => KeyCode::F(v - 15),
                v @ 31..=34 => KeyCode::F(v - 17),
                _ => return None,
            };
            Some(Piece::Event(Event::Key(KeyEvent::new_with_kind_and_state(
                code, modifiers, kind, state,
            ))))
        }
        b'A' | b'B' | b'C' | b'D' | b'F' | b'H' | b'P' | b'Q' | b'S' => {
            let code = match fin {
                b'A' => KeyCode::Up,
                b'B' => KeyCode::Down,
                b'C' => KeyCode::Right,
                b'D' => KeyCode::Left,
                b'F' => KeyCode::End,
                b'H' => KeyCode::Home,
                b'P' => KeyCode::F(1),
                b'Q' => KeyCode::F(2),
                _ => KeyCode::F(4),
            };
            let mut it = p.split(';');
            let first = it.next();
            let mask = it.next().or_else(|| first.filter(|f| f.len() == 1));
            let (modifiers, kind, _) = modifiers_of(mask);
            Some(Piece::Event(Event::Key(KeyEvent::new_with_kind(
                code, modifiers, kind,
            ))))
        }
        _ => {
            tracing::debug!("ignored an unknown sequence CSI {p} {}", char::from(fin));
            None
        }
    }
}

/// `mask[:kind]` of a CSI key sequence, as crossterm reads it.
fn modifiers_of(part: Option<&str>) -> (KeyModifiers, KeyEventKind, KeyEventState) {
    let Some(part) = part else {
        return (KeyModifiers::NONE, KeyEventKind::Press, KeyEventState::NONE);
    };
    let mut sub = part.split(':');
    let Some(Ok(mask)) = sub.next().map(str::parse::<u8>) else {
        return (KeyModifiers::NONE, KeyEventKind::Press, KeyEventState::NONE);
    };
    let kind = match sub.next().and_then(|k| k.parse::<u8>().ok()) {
        Some(2) => KeyEventKind::Repeat,
        Some(3) => KeyEventKind::Release,
        _ => KeyEventKind::Press,
    };
    let m = mask.saturating_sub(1);
    let mut modifiers = KeyModifiers::NONE;
    for (bit, flag) in [
        (1, KeyModifiers::SHIFT),
        (2, KeyModifiers::ALT),
        (4, KeyModifiers::CONTROL),
        (8, KeyModifiers::SUPER),
        (16, KeyModifiers::HYPER),
        (32, KeyModifiers::META),
    ] {
        if m & bit != 0 {
            modifiers |= flag;
        }
    }
    let mut state = KeyEventState::NONE;
    if m & 64 != 0 {
        state |= KeyEventState::CAPS_LOCK;
    }
    if m & 128 != 0 {
        state |= KeyEventState::NUM_LOCK;
    }
    (modifiers, kind, state)
}

/// A mouse report's button byte, as crossterm reads it.
fn mouse(cb: u8, column: u16, row: u16) -> Option<MouseEvent> {
    let button = (cb & 0b11) | ((cb & 0b1100_0000) >> 4);
    let dragging = cb & 0b10_0000 != 0;
    let kind = match (button, dragging) {
        (0, false) => MouseEventKind::Down(MouseButton::Left),
        (1, false) => MouseEventKind::Down(MouseButton::Middle),
        (2, false) => MouseEventKind::Down(MouseButton::Right),
        (0, true) => MouseEventKind::Drag(MouseButton::Left),
        (1, true) => MouseEventKind::Drag(MouseButton::Middle),
        (2, true) => MouseEventKind::Drag(MouseButton::Right),
        (3, false) => MouseEventKind::Up(MouseButton::Left),
        (3..=5, true) => MouseEventKind::Moved,
        (4, false) => MouseEventKind::ScrollUp,
        (5, false) => MouseEventKind::ScrollDown,
        (6, false) => MouseEventKind::ScrollLeft,
        (7, false) => MouseEventKind::ScrollRight,
        _ => return None,
    };
    let mut modifiers = KeyModifiers::NONE;
    if cb & 0b100 != 0 {
        modifiers |= KeyModifiers::SHIFT;
    }
    if cb & 0b1000 != 0 {
        modifiers |= KeyModifiers::ALT;
    }
    if cb & 0b1_0000 != 0 {
        modifiers |= KeyModifiers::CONTROL;
    }
    Some(MouseEvent {
        kind,
        column,
        row,
        modifiers,
    })
}

// ------------------------------------------------------------------ deciding

/// The protocol for `choice`, the environment and an answer, with the picker to encode for
/// it (cell size from the answer, else from the window size in pixels, else 10x20 px).
pub fn decide(
    choice: ProtocolChoice,
    hints: &EnvHints,
    answer: QueryAnswer,
    cell: Option<(u16, u16)>,
) -> Setup {
    if choice == ProtocolChoice::None {
        return Setup::none();
    }
    let cell = cell.or_else(cell_from_winsize);
    let picker = match cell {
        // The only public constructor taking a known cell size.
        #[allow(deprecated)]
        Some((w, h)) => Picker::from_fontsize(ratatui_image::FontSize::new(w, h)),
        None => Picker::halfblocks(),
    };
    let protocol = crate::tui::preview::choose_protocol(choice, hints, answer);
    let how = format!(
        "{} ({choice:?}, query {answer:?}, cell {:?}, tmux {})",
        protocol.name(),
        picker.font_size(),
        hints.tmux,
    );
    Setup::with(picker, protocol, &how)
}

/// The cell size in pixels from the terminal's window size (when it reports pixels).
fn cell_from_winsize() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    if ws.ws_col == 0 || ws.ws_row == 0 || ws.ws_xpixel == 0 || ws.ws_ypixel == 0 {
        return None;
    }
    Some((ws.ws_xpixel / ws.ws_col, ws.ws_ypixel / ws.ws_row))
}

pub use crate::tui::preview::SetupRef;

/// The running query: the events its reader makes, then its end.
pub struct Pending {
    /// Key, paste and mouse events typed meanwhile, protocol changes, and a repaint at the
    /// end; closed when the reader has stopped reading the terminal.
    pub events: tokio::sync::mpsc::UnboundedReceiver<HostEvent>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(..)")
    }
}

/// Decides the protocol to start with, at once and without reading the terminal, and with
/// `auto` on a terminal starts the query (see the module doc). Call it in raw mode, after the
/// first frame, before the event stream exists. Remembered answers live in `state_dir`.
pub fn begin(
    choice: ProtocolChoice,
    hints: EnvHints,
    state_dir: &Path,
) -> (Setup, Option<Pending>) {
    let first = decide(choice, &hints, QueryAnswer::NotAsked, None);
    if choice == ProtocolChoice::None {
        return (first, None);
    }
    if choice != ProtocolChoice::Auto || !hints.can_query() {
        if hints.tmux && choice != ProtocolChoice::Halfblocks {
            // Explicit graphics in tmux still need passthrough; nothing waits for it.
            std::thread::spawn(tmux_info);
        }
        return (first, None);
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let cache = state_dir.join(CACHE_FILE);
    let started = first.clone();
    let spawned = std::thread::Builder::new()
        .name("volcv-termquery".into())
        .spawn(move || query(&tx, choice, &hints, &cache, &started));
    match spawned {
        Ok(_) => (first, Some(Pending { events: rx })),
        Err(e) => {
            tracing::warn!("terminal query not started: {e}");
            (first, None)
        }
    }
}

/// What tmux says: how many clients are attached (unknown when tmux cannot be asked) and the
/// terminal of one of them. Also turns passthrough on for this pane (graphics reach the outer
/// terminal only through it; pane-scoped, logged, documented).
fn tmux_info() -> (Option<u32>, String) {
    let out = std::process::Command::new("tmux")
        .args([
            "set",
            "-p",
            "allow-passthrough",
            "on",
            ";",
            "display",
            "-p",
            "#{session_attached} #{client_termname}",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut it = text.trim().splitn(2, ' ');
            let attached = it.next().and_then(|n| n.parse().ok());
            let client = it.next().unwrap_or("").trim().to_owned();
            tracing::info!(
                "tmux: passthrough on, {attached:?} client(s) attached, terminal {client:?}"
            );
            (attached, client)
        }
        Ok(o) => {
            tracing::info!("tmux: cannot set passthrough ({})", o.status);
            (None, String::new())
        }
        Err(e) => {
            tracing::info!("tmux: not run ({e})");
            (None, String::new())
        }
    }
}

/// What the terminal answered, gathered from the replies.
#[derive(Debug, Default, Clone, Copy)]
struct Gathered {
    kitty: bool,
    sixel: bool,
    cell: Option<(u16, u16)>,
    /// The outer terminal answered something.
    any: bool,
    statuses: u32,
    positions: u32,
}

impl Gathered {
    fn add(&mut self, r: Reply) {
        match r {
            Reply::Kitty(ok) => {
                self.any = true;
                self.kitty |= ok;
            }
            Reply::Attributes { sixel } => {
                self.any = true;
                self.sixel |= sixel;
            }
            Reply::CellSize(c) => {
                self.any = true;
                self.cell = c.or(self.cell);
            }
            Reply::Status => {
                self.any = true;
                self.statuses += 1;
            }
            Reply::CursorPosition => self.positions += 1,
        }
    }
}

/// The query thread: writes the query, reads the terminal until the answer is complete or the
/// timeout passed, sends every non-answer as an event in order, then the protocol.
fn query(
    tx: &UnboundedSender<HostEvent>,
    choice: ProtocolChoice,
    hints: &EnvHints,
    cache_path: &Path,
    started: &Setup,
) {
    let t0 = Instant::now();
    let size = ratatui::crossterm::terminal::size().ok();
    let (attached, client) = if hints.tmux {
        tmux_info()
    } else {
        (None, String::new())
    };
    let key = cache_key(hints, &client);
    let mut shown = (started.protocol, font_of(started));
    let remembered = load_answer(cache_path, &key);
    let send_setup = |setup: Setup, shown: &mut (Protocol, (u16, u16))| {
        let setup = setup.respecting_no_color(crate::tui::theme::Theme::no_color_requested());
        tracing::info!("image previews: {}", setup.how);
        let now = (setup.protocol, font_of(&setup));
        if now != *shown {
            *shown = now;
            let _ = tx.send(HostEvent::Protocol(SetupRef(Arc::new(setup))));
        }
    };
    if let Some(a) = remembered {
        let answer = QueryAnswer::Answered {
            kitty: a.kitty,
            sixel: a.sixel,
        };
        send_setup(decide(choice, hints, answer, a.cell), &mut shown);
    }
    // Outside tmux the whole query goes to the terminal, ending with a status request. Inside,
    // the same goes through passthrough to each attached client's terminal, and a cursor
    // position request to tmux itself, which answers at once.
    let outer = !hints.tmux || attached != Some(0);
    let mut text = String::new();
    if outer {
        text.push_str(&ratatui_image::picker::cap_parser::Parser::query(
            hints.tmux,
            ratatui_image::picker::cap_parser::QueryStdioOptions::default(),
        ));
    }
    if hints.tmux {
        text.push_str("\x1b[6n");
    }
    let want_statuses = if !outer {
        0
    } else {
        attached.unwrap_or(1).max(1)
    };
    let want_positions = u32::from(hints.tmux);
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!("terminal query not written: {e}");
        }
    }
    let mut got = Gathered::default();
    let mut splitter = Splitter::default();
    let deadline = t0 + QUERY_TIMEOUT;
    let mut lone_since: Option<Instant> = None;
    let ended = loop {
        let complete = got.statuses >= want_statuses && got.positions >= want_positions;
        let now = Instant::now();
        if (complete || now >= deadline) && !splitter.pending() {
            break if complete { "complete" } else { "timed out" };
        }
        if now >= deadline + SETTLE {
            break "timed out with an unfinished sequence";
        }
        if tx.is_closed() {
            // The UI stopped listening (it quit, or handed the terminal to an editor).
            break "abandoned";
        }
        let mut wait = if complete || now >= deadline {
            deadline.max(now) + SETTLE - now
        } else {
            deadline - now
        };
        if splitter.lone_esc() {
            let since = *lone_since.get_or_insert(now);
            if complete || now >= since + ESC_GRACE {
                // Nothing more came: the Esc key.
                for p in splitter.flush() {
                    deliver(tx, p, &mut got);
                }
                lone_since = None;
                continue;
            }
            wait = wait.min(since + ESC_GRACE - now);
        } else {
            lone_since = None;
        }
        match read_some(wait.min(POLL_SLICE)) {
            Ok(Some(bytes)) => {
                for p in splitter.push(&bytes) {
                    deliver(tx, p, &mut got);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("terminal query: reading stopped: {e}");
                break "read error";
            }
        }
    };
    for p in splitter.flush() {
        deliver(tx, p, &mut got);
    }
    tracing::info!(
        "terminal query {ended} after {} ms: {got:?}",
        t0.elapsed().as_millis()
    );
    // A resize while this reader had the terminal was not seen by crossterm.
    if let (Some(before), Ok(now)) = (size, ratatui::crossterm::terminal::size())
        && before != now
    {
        let _ = tx.send(HostEvent::Term(Event::Resize(now.0, now.1)));
    }
    if got.any {
        let answer = QueryAnswer::Answered {
            kitty: got.kitty,
            sixel: got.sixel,
        };
        send_setup(decide(choice, hints, answer, got.cell), &mut shown);
        save_answer(
            cache_path,
            &key,
            Remembered {
                kitty: got.kitty,
                sixel: got.sixel,
                cell: got.cell,
            },
        );
    } else if remembered.is_none() {
        send_setup(decide(choice, hints, QueryAnswer::Silent, None), &mut shown);
    }
    // A terminal that does not understand the query may have printed some of it.
    if outer {
        let _ = tx.send(HostEvent::Repaint);
    }
}

fn font_of(s: &Setup) -> (u16, u16) {
    s.picker.as_ref().map_or((0, 0), |p| {
        let f = p.font_size();
        (f.width, f.height)
    })
}

fn deliver(tx: &UnboundedSender<HostEvent>, p: Piece, got: &mut Gathered) {
    match p {
        Piece::Reply(r) => got.add(r),
        Piece::Event(e) => {
            let _ = tx.send(HostEvent::Term(e));
        }
    }
}

/// Waits up to `wait` for input on stdin and reads what is there (`None`: nothing came).
fn read_some(wait: Duration) -> std::io::Result<Option<Vec<u8>>> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    let ts = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut buf = [0u8; 1024];
    match rustix::io::read(&stdin, &mut buf) {
        Ok(0) => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the terminal closed",
        )),
        Ok(n) => Ok(Some(buf[..n].to_vec())),
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &mut Splitter, bytes: &[u8]) -> Vec<Piece> {
        s.push(bytes)
    }

    fn k(c: char) -> Piece {
        char_key(c)
    }

    fn code(c: KeyCode) -> Piece {
        key(c, KeyModifiers::NONE)
    }

    #[test]
    fn answers_interleaved_with_keys_are_split_out_in_order() {
        let mut s = Splitter::default();
        let input = b"j\x1b_Gi=31;OK\x1b\\k\x1b[?62;4;22cj\x1b[6;20;10t\x1b[15~\x1b[0nq";
        assert_eq!(
            keys(&mut s, input),
            vec![
                k('j'),
                Piece::Reply(Reply::Kitty(true)),
                k('k'),
                Piece::Reply(Reply::Attributes { sixel: true }),
                k('j'),
                Piece::Reply(Reply::CellSize(Some((10, 20)))),
                code(KeyCode::F(5)),
                Piece::Reply(Reply::Status),
                k('q'),
            ]
        );
        assert!(!s.pending());
    }

    #[test]
    fn sequences_split_across_reads_are_joined() {
        let input: &[u8] =
            b"\x1b_Gi=31;ENOTSUPPORTED\x1b\\\x1b[?62;22c\x1b[A\x1b[1;5C\xc3\xa9\x1b[0n";
        let want = vec![
            Piece::Reply(Reply::Kitty(false)),
            Piece::Reply(Reply::Attributes { sixel: false }),
            code(KeyCode::Up),
            key(KeyCode::Right, KeyModifiers::CONTROL),
            k('é'),
            Piece::Reply(Reply::Status),
        ];
        // Every split point, and byte by byte.
        for cut in 0..input.len() {
            let mut s = Splitter::default();
            let mut got = s.push(&input[..cut]);
            got.extend(s.push(&input[cut..]));
            assert_eq!(got, want, "cut at {cut}");
        }
        let mut s = Splitter::default();
        let got: Vec<Piece> = input.iter().flat_map(|b| s.push(&[*b])).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_lone_esc_waits_and_is_the_esc_key_when_nothing_follows() {
        let mut s = Splitter::default();
        assert!(s.push(b"\x1b").is_empty());
        assert!(s.lone_esc());
        assert_eq!(s.flush(), vec![code(KeyCode::Esc)]);
        // An Esc that starts an answer is part of the answer.
        let mut s = Splitter::default();
        assert!(s.push(b"\x1b").is_empty());
        assert_eq!(s.push(b"[0n"), vec![Piece::Reply(Reply::Status)]);
        // Esc Esc: the first is the key.
        let mut s = Splitter::default();
        assert_eq!(
            s.push(b"\x1b\x1b[0n"),
            vec![code(KeyCode::Esc), Piece::Reply(Reply::Status)]
        );
        // Esc and a letter is Alt+letter; Esc _ and not G is Alt+_.
        let mut s = Splitter::default();
        assert_eq!(
            s.push(b"\x1bx\x1b_a"),
            vec![
                key(KeyCode::Char('x'), KeyModifiers::ALT),
                key(KeyCode::Char('_'), KeyModifiers::ALT),
                k('a')
            ]
        );
        let mut s = Splitter::default();
        assert!(s.push(b"\x1b_").is_empty());
        assert_eq!(s.flush(), vec![key(KeyCode::Char('_'), KeyModifiers::ALT)]);
    }

    #[test]
    fn common_keys_parse_as_crossterm_reads_them() {
        let mut s = Splitter::default();
        let got = s.push(
            b"J\r\t\x1b[Z\x7f\x01\x1bOP\x1b[24~\x1b[5~\x1b[6~\x1b[H\x1b[F\x1b[3;2~\x1b[1;2D\x1b[<0;5;3M\x1b[<0;5;3m\x1b[200~a\x1b[Ab\x1b[201~",
        );
        let m = |kind, column, row| {
            Piece::Event(Event::Mouse(MouseEvent {
                kind,
                column,
                row,
                modifiers: KeyModifiers::NONE,
            }))
        };
        assert_eq!(
            got,
            vec![
                key(KeyCode::Char('J'), KeyModifiers::SHIFT),
                code(KeyCode::Enter),
                code(KeyCode::Tab),
                key(KeyCode::BackTab, KeyModifiers::SHIFT),
                code(KeyCode::Backspace),
                key(KeyCode::Char('a'), KeyModifiers::CONTROL),
                code(KeyCode::F(1)),
                code(KeyCode::F(12)),
                code(KeyCode::PageUp),
                code(KeyCode::PageDown),
                code(KeyCode::Home),
                code(KeyCode::End),
                key(KeyCode::Delete, KeyModifiers::SHIFT),
                key(KeyCode::Left, KeyModifiers::SHIFT),
                m(MouseEventKind::Down(MouseButton::Left), 4, 2),
                m(MouseEventKind::Up(MouseButton::Left), 4, 2),
                Piece::Event(Event::Paste("a\x1b[Ab".into())),
            ]
        );
        // A paste split across reads waits for its end.
        let mut s = Splitter::default();
        assert!(s.push(b"\x1b[200~hello ").is_empty());
        assert_eq!(
            s.push(b"world\x1b[201~j"),
            vec![Piece::Event(Event::Paste("hello world".into())), k('j')]
        );
    }

    #[test]
    fn a_cursor_position_report_and_unknown_sequences_are_not_keys() {
        let mut s = Splitter::default();
        assert_eq!(
            s.push(b"\x1b[12;40Rj\x1b[?1u\x1b[5;1xk"),
            vec![Piece::Reply(Reply::CursorPosition), k('j'), k('k')]
        );
    }

    fn hints() -> EnvHints {
        EnvHints {
            term: "xterm-256color".into(),
            tty: true,
            ..Default::default()
        }
    }

    #[test]
    fn answers_are_remembered_per_terminal_and_bad_files_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join(CACHE_FILE);
        let key = cache_key(&hints(), "");
        assert_eq!(load_answer(&path, &key), None);
        let a = Remembered {
            kitty: true,
            sixel: false,
            cell: Some((9, 18)),
        };
        save_answer(&path, &key, a);
        assert_eq!(load_answer(&path, &key), Some(a));
        let other = cache_key(
            &EnvHints {
                tmux: true,
                ..hints()
            },
            "xterm-kitty",
        );
        assert_eq!(load_answer(&path, &other), None);
        for bad in ["{not json", "[1,2]", r#"{"version":99,"terminals":{}}"#, ""] {
            std::fs::write(&path, bad).expect("write");
            assert_eq!(load_answer(&path, &key), None, "{bad:?}");
            // A corrupt file is replaced on the next answer, never an error.
            save_answer(&path, &key, a);
            assert_eq!(load_answer(&path, &key), Some(a));
        }
    }

    #[test]
    fn the_decision_uses_the_answer_and_the_cell_size() {
        let s = decide(
            ProtocolChoice::Auto,
            &hints(),
            QueryAnswer::Answered {
                kitty: true,
                sixel: false,
            },
            Some((9, 18)),
        );
        assert_eq!(s.protocol, Protocol::Kitty);
        assert_eq!(font_of(&s), (9, 18));
        assert_eq!(
            decide(ProtocolChoice::None, &hints(), QueryAnswer::NotAsked, None).protocol,
            Protocol::None
        );
    }
}
