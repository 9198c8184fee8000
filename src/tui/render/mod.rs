//! Drawing: reads `App`, never changes it. Only visible lines are styled.

mod dialogs;
mod history;
mod images;
mod params;
mod response;
mod status;

pub use images::{Drawn, Layer};

use crate::tui::app::{App, Pane, Tab};
use crate::tui::doc::{DocLine, Tok};
use crate::tui::form::{FormLine, RowKind, human_size};
use crate::tui::history::EntryState;
use crate::tui::keymap::Action;
use crate::tui::layout::{self, Areas};
use crate::tui::overlay::{HelpLine, Overlay, OverlayKind, help_layout};
use crate::tui::preview::{Encoded, ImageKey};
use crate::tui::theme::Theme;
use crate::tui::view::{ImageState, fmt_duration};
use dialogs::*;
use history::*;
use images::*;
use params::*;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use response::*;
use status::*;

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Draws the whole UI.
pub fn render(app: &App, f: &mut Frame) {
    let _ = render_frame(app, f);
}

/// Draws the whole UI and says which images it drew (see [`Drawn::needs_repaint`]).
pub fn render_frame(app: &App, f: &mut Frame) -> Drawn {
    PLACED.with(|p| p.borrow_mut().clear());
    let area = f.area();
    f.render_widget(Block::default().style(app.theme.base), area);
    if layout::too_small(area) {
        render_too_small(app, f, area);
        return Drawn::default();
    }
    let a = layout::areas(area);
    render_params(app, f, &a);
    render_response(app, f, a.response);
    render_history(app, f, a.history);
    render_status(app, f, a.status);
    // The overlays from the bottom up: the top one, which gets the next key, is drawn last.
    for o in app.overlays.iter() {
        render_overlay(app, f, area, o);
    }
    // Everything drawn so far is text: scrubbed as a whole. Images are drawn after it, by
    // ratatui-image alone, into the places `render_picture` reserved; their escape sequences
    // are never scrubbed, and no text can reach the cells they occupy.
    scrub(f.buffer_mut());
    let placed = PLACED.with(|p| std::mem::take(&mut *p.borrow_mut()));
    draw_images(app, f.buffer_mut(), &placed)
}

/// Draws one overlay over what is drawn already.
fn render_overlay(app: &App, f: &mut Frame, area: Rect, o: &Overlay) {
    match o {
        Overlay::Fullscreen(key) => render_fullscreen(app, f, area, key),
        Overlay::Help { scroll } => render_help(app, f, area, *scroll),
        Overlay::ConfirmQuit => render_confirm(app, f, area),
        Overlay::ConfirmFit { problems, .. } => render_confirm_fit(app, f, area, problems),
        Overlay::Save(p) => render_save_prompt(app, f, area, p),
        Overlay::ConfirmDelete(id) => render_confirm_delete(app, f, area, *id),
        Overlay::Note { id, input } => render_note_input(app, f, area, *id, input),
        Overlay::Compare { a, b, scroll } => render_compare(app, f, area, *a, *b, *scroll),
        Overlay::Presets(p) => render_presets(app, f, area, p),
        Overlay::SweepInput(input) => render_line_input(
            app,
            f,
            area,
            " Sweep: FIELD=VALUES, up to 3 (1..8, 0.2..0.6:0.1, 2.5,3.5) · Enter runs · Esc ",
            input,
        ),
        Overlay::Sheet => {
            if let Some(v) = &app.sweep {
                render_sheet(app, f, area, v);
            }
        }
        // Asked in the status bar, and typed there.
        Overlay::ConfirmCancel { .. } | Overlay::Search(_) => {}
    }
}

/// The last guard between text and the terminal: control characters (ESC, BEL, NUL...) and
/// bidi overrides or isolates that reached a cell are dropped, and kitty's image-cell character
/// character (which would show one of our images wherever a server put it) is replaced. Text
/// from servers and files is escaped visibly where it enters the state; this catches anything
/// that was missed, so a server can never move the cursor, ring, set the title, reorder what
/// is shown or draw an image.
///
/// It runs over the text of a frame only: [`render`] calls it before any image is drawn, so
/// whether a cell is kept as it is depends on who wrote it, not on what it contains.
pub fn scrub(buf: &mut ratatui::buffer::Buffer) {
    fn bad(c: char) -> bool {
        let n = c as u32;
        n < 0x20
            || n == 0x7f
            || (0x80..0xa0).contains(&n)
            || c == KITTY_IMAGE_CELL
            || matches!(
                c,
                '\u{202A}'..='\u{202E}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{200E}'
                    | '\u{200F}'
                    | '\u{061C}'
            )
    }
    for cell in &mut buf.content {
        let sym = cell.symbol();
        if sym.chars().any(bad) {
            let clean: String = sym.chars().filter(|c| !bad(*c)).collect();
            cell.set_symbol(if clean.is_empty() { " " } else { &clean });
        }
    }
}

/// kitty's image-cell character: in a cell it shows part of an image named by the cell's colour.
/// Only ratatui-image may put it on the screen.
const KITTY_IMAGE_CELL: char = '\u{10EEEE}';

/// Clears `r` and draws a dialog box there; returns the area inside its border.
fn overlay(
    f: &mut Frame,
    r: Rect,
    title: impl Into<String>,
    style: Style,
    double: bool,
    t: &Theme,
) -> Rect {
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if double {
            BorderType::Double
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(Span::styled(title.into(), style))
        .style(t.base);
    let inner = block.inner(r);
    f.render_widget(block, r);
    inner
}

fn pane_block<'a>(app: &App, pane: Pane, n: usize, extra: &str) -> Block<'a> {
    let t = &app.theme;
    let focused = app.focus == pane;
    let title = format!(" {n} {}{extra} ", pane.title());
    let (border, title_style, kind) = if focused {
        (t.focus, t.focus, BorderType::Thick)
    } else {
        (t.border, t.heading, BorderType::Plain)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(kind)
        .border_style(border)
        .title(Span::styled(title, title_style))
}

fn render_too_small(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let text = vec![
        Line::styled("Terminal too small", t.error),
        Line::raw(""),
        Line::raw(format!(
            "volcv needs at least {}x{}; this one is {}x{}.",
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT,
            area.width,
            area.height
        )),
        Line::raw("Enlarge the window, or press q to quit."),
    ];
    let h = (text.len() as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    let p = Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    f.render_widget(p, Rect::new(area.x, y, area.width, h));
}

fn tok_style(t: &Theme, tok: Tok) -> Style {
    match tok {
        Tok::Plain | Tok::Punct => t.base,
        Tok::Key => t.json_key,
        Tok::Str => t.json_string,
        Tok::Num => t.json_number,
        Tok::Bool => t.json_bool,
        Tok::Null => t.json_null,
        Tok::Chip => t.json_chip,
        Tok::Dim => t.dim,
        Tok::Error => t.error,
    }
}

fn doc_line<'a>(t: &Theme, l: &'a DocLine) -> Line<'a> {
    styled_line(t, l.iter().map(|(tok, s)| (*tok, s.as_str())))
}

fn styled_line<'a>(t: &Theme, pieces: impl Iterator<Item = (Tok, &'a str)>) -> Line<'a> {
    Line::from(
        pieces
            .map(|(tok, s)| Span::styled(s, tok_style(t, tok)))
            .collect::<Vec<_>>(),
    )
}

/// Display columns of a character (through ratatui's own width rules).
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Display columns of a string.
fn str_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Cuts text to `width` display columns (by characters; wide characters count two).
fn fit(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw > width {
            if width > 0 {
                // Leave room for the ellipsis.
                while w + 1 > width {
                    match out.pop() {
                        Some(p) => w -= char_width(p),
                        None => break,
                    }
                }
                out.push('…');
            }
            return out;
        }
        w += cw;
        out.push(c);
    }
    out
}

fn fit_spans(spans: Vec<Span<'_>>, width: usize) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = str_width(&s.content);
        if used + w <= width {
            used += w;
            out.push(s);
        } else {
            let cut = fit(&s.content, width - used);
            out.push(Span::styled(cut, s.style));
            break;
        }
    }
    out
}

/// `h/l`: the first keys of two actions.
fn pair(app: &App, a: Action, b: Action) -> String {
    format!("{}/{}", first(app, a), first(app, b))
}

fn first(app: &App, a: Action) -> String {
    app.keymap
        .keys(a)
        .first()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
