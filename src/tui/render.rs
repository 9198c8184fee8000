//! Drawing: reads `App`, never changes it. Only visible lines are styled.

use crate::tui::app::{App, Pane, Tab};
use crate::tui::doc::{DocLine, Tok};
use crate::tui::form::{FormLine, RowKind, human_size};
use crate::tui::history::EntryState;
use crate::tui::keymap::{Action, Scope};
use crate::tui::layout::{self, Areas};
use crate::tui::overlay::{Overlay, OverlayKind};
use crate::tui::preview::{Encoded, ImageKey};
use crate::tui::theme::Theme;
use crate::tui::view::{ImageState, fmt_duration};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// How an image is on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Cells like text: half-blocks, kitty's U+10EEEE image cells.
    Cells,
    /// Pixels painted over the text (sixel, iTerm2), until the screen is erased.
    Pixels,
    /// A kitty placement: pixels that stay until deleted with a graphics command.
    KittyPlaced,
}

/// The images a frame drew, where, and how (see [`Layer`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drawn(Vec<(ImageKey, Rect, Layer)>);

impl Drawn {
    /// Whether the screen must be cleared and painted whole to show this frame after `before`.
    /// Painted pixels are not cells: the cell-by-cell update skips an image's cells, kitty keeps
    /// a placement over whatever text is written there until it is deleted, and whether text
    /// erases sixel or iTerm2 pixels differs from terminal to terminal. So whenever the pixel
    /// images on screen change (one goes, moves, or comes), the frame is painted on a cleared
    /// screen; frames
    /// that keep the same images on screen are sent as the usual difference, which does not
    /// repeat their data.
    pub fn needs_repaint(&self, before: &Drawn) -> bool {
        let pixels = |d: &Drawn| -> Vec<(ImageKey, Rect)> {
            d.0.iter()
                .filter(|(_, _, l)| *l != Layer::Cells)
                .map(|(k, r, _)| (k.clone(), *r))
                .collect()
        };
        let (now, then) = (pixels(self), pixels(before));
        (!now.is_empty() || !then.is_empty()) && now != then
    }

    /// Whether any image was a kitty placement (which only a graphics command removes).
    pub fn has_kitty_placements(&self) -> bool {
        self.0.iter().any(|(_, _, l)| *l == Layer::KittyPlaced)
    }
}

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
        Overlay::Help => render_help(app, f, area),
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
        Overlay::ConfirmCancel(_) | Overlay::Search(_) => {}
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

fn render_sheet(app: &App, f: &mut Frame, area: Rect, v: &crate::tui::sweep::SweepView) {
    use crate::tui::sweep::CellState;
    let t = &app.theme;
    let a = crate::tui::sweep::sheet_area(v, area);
    let pages = v.layout.blocks.len();
    let page = if pages > 1 {
        format!(" · page {}/{pages} (PgUp/PgDn)", v.page + 1)
    } else {
        String::new()
    };
    let title = format!(
        " Sweep {} · {}{page} · arrows select · f full screen · Enter entry · x stop · Esc close ",
        v.id,
        v.summary()
    );
    let inner = overlay(
        f,
        a.frame,
        fit(&title, usize::from(a.frame.width)),
        t.focus,
        true,
        t,
    );
    if let Some(block) = v.layout.blocks.get(v.page)
        && let Some(title) = &block.title
    {
        f.render_widget(
            Paragraph::new(Line::styled(title.clone(), t.heading)),
            Rect::new(inner.x, inner.y, inner.width, 1),
        );
    }
    for (r, label) in &a.row_labels {
        f.render_widget(
            Paragraph::new(Line::styled(fit(label, usize::from(r.width)), t.heading)),
            *r,
        );
    }
    for (r, label) in &a.col_labels {
        f.render_widget(
            Paragraph::new(Line::styled(fit(label, usize::from(r.width)), t.heading))
                .alignment(Alignment::Center),
            *r,
        );
    }
    for (cell, picture, label_area) in &a.tiles {
        let Some(c) = v.cells.get(*cell) else {
            continue;
        };
        let key = ImageKey::Cell {
            sweep: v.n,
            cell: *cell,
        };
        let spin = SPINNER[app.spinner % SPINNER.len()];
        let (note, style) = match &c.state {
            CellState::Waiting => ("waiting".to_owned(), t.dim),
            CellState::Running => (format!("{spin} running"), t.busy),
            CellState::RateLimited => ("rate-limited, retrying".to_owned(), t.warning),
            CellState::Succeeded => (String::new(), t.ok),
            CellState::Failed(mark) => (format!("✘ {mark}"), t.error),
        };
        if c.state == CellState::Succeeded && app.previews.enabled {
            render_picture(app, f, *picture, &key);
        } else if picture.height > 0 {
            let text = if note.is_empty() {
                "✔"
            } else {
                note.as_str()
            };
            f.render_widget(
                Paragraph::new(Line::styled(fit(text, usize::from(picture.width)), style)),
                Rect::new(picture.x, picture.y + picture.height / 2, picture.width, 1),
            );
        }
        let tile_label = match v.layout.kind {
            crate::sweep::sheet::SheetKind::Strip => c.label.clone(),
            crate::sweep::sheet::SheetKind::Grid => match &c.state {
                CellState::Succeeded => "✔".to_owned(),
                _ => note.clone(),
            },
        };
        let label_style = if *cell == v.selected {
            t.selected
        } else {
            style.patch(t.base)
        };
        let w = usize::from(label_area.width);
        let text = format!(
            "{}{}",
            if *cell == v.selected { "▸" } else { " " },
            tile_label
        );
        f.render_widget(
            Paragraph::new(Line::styled(format!("{:<w$}", fit(&text, w)), label_style)),
            *label_area,
        );
    }
    if a.tiles.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled(
                "Too small to draw the sheet: enlarge the terminal.",
                t.dim,
            )),
            inner,
        );
    }
}

fn render_presets(app: &App, f: &mut Frame, area: Rect, p: &crate::tui::app::PresetsView) {
    let t = &app.theme;
    if let Some(input) = &p.naming {
        render_line_input(
            app,
            f,
            area,
            " Save the form's parameters as preset (Enter saves, Esc cancels) ",
            input,
        );
        return;
    }
    let h = u16::try_from(p.items.len()).unwrap_or(20).clamp(1, 20) + 4;
    let r = centered(area, 72, h);
    let inner = overlay(
        f,
        r,
        " Presets · Enter apply · s save the form as · d delete · Esc close ",
        t.focus,
        false,
        t,
    );
    let w = usize::from(inner.width);
    let mut lines = Vec::new();
    if p.loading {
        lines.push(Line::styled("reading the presets…", t.dim));
    } else if p.items.is_empty() {
        lines.push(Line::styled(
            "No presets yet: press s to save the form's parameters as one.",
            t.dim,
        ));
    }
    for (i, item) in p.items.iter().enumerate() {
        let style = if i == p.selected { t.selected } else { t.base };
        let model = item.req_key.as_deref().unwrap_or("?");
        let problems = if item.problems.is_empty() {
            String::new()
        } else {
            format!(" ✘ {}", item.problems.join("; "))
        };
        let text = format!(
            "{:<20} {:<24} {} value(s){problems}",
            fit(&item.name, 20),
            fit(model, 24),
            item.values
        );
        lines.push(Line::styled(
            fit(&crate::tui::history::one_line(&text), w),
            style,
        ));
    }
    if p.confirm_delete
        && let Some(item) = p.items.get(p.selected)
    {
        lines.push(Line::styled(
            fit(
                &format!(
                    "delete preset {:?}? y deletes, any other key keeps it",
                    item.name
                ),
                w,
            ),
            t.warning,
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_confirm_delete(app: &App, f: &mut Frame, area: Rect, id: u64) {
    let t = &app.theme;
    let Some(e) = app.history.get(id) else {
        return;
    };
    let r = centered(area, 60, 5);
    let inner = overlay(
        f,
        r,
        format!(" Delete {}? ", e.label()),
        t.warning,
        false,
        t,
    );
    let w = usize::from(r.width.saturating_sub(2));
    let lines = vec![
        Line::raw(fit(&format!("{} {}", e.time, e.prompt), w)),
        Line::from(vec![
            Span::styled("y", t.key),
            Span::raw(fit(
                " delete it and its unused images · any other key keeps it",
                w.saturating_sub(1),
            )),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_note_input(
    app: &App,
    f: &mut Frame,
    area: Rect,
    id: u64,
    input: &ratatui_textarea::TextArea<'static>,
) {
    let label = app
        .history
        .get(id)
        .map_or_else(|| format!("#{id}"), |e| e.label());
    let title = format!(" Note for {label} (Enter saves, empty clears, Esc cancels) ");
    render_line_input(app, f, area, &title, input);
}

/// A one-line text input in a box over the middle of the screen.
fn render_line_input(
    app: &App,
    f: &mut Frame,
    area: Rect,
    title: &str,
    input: &ratatui_textarea::TextArea<'static>,
) {
    let t = &app.theme;
    let r = centered(area, 70, 3);
    let inner = overlay(f, r, title.to_owned(), t.focus, false, t);
    let mut ta = input.clone();
    ta.set_style(t.base);
    ta.set_cursor_line_style(Style::default());
    ta.set_cursor_style(t.base.add_modifier(Modifier::REVERSED));
    f.render_widget(&ta, inner);
}

/// One side's title in the comparison: label, time, outcome.
fn compare_title(app: &App, id: u64) -> (String, Option<&crate::tui::history::Entry>) {
    match app.history.get(id) {
        None => (format!("#{id} (gone)"), None),
        Some(e) => (format!("{} {}", e.label(), e.time), Some(e)),
    }
}

fn outcome_line(e: Option<&crate::tui::history::Entry>) -> String {
    let Some(e) = e else {
        return "-".to_owned();
    };
    match &e.state {
        EntryState::Done { view, duration } => {
            let head: String = view
                .summary
                .first()
                .map(|l| l.iter().map(|(_, t)| t.as_str()).collect())
                .unwrap_or_default();
            let n = view
                .images
                .iter()
                .filter(|i| i.state != ImageState::Reference)
                .count();
            format!("{head} · {} · {n} image(s)", fmt_duration(*duration))
        }
        EntryState::InFlight { .. } => "in flight…".to_owned(),
        EntryState::Stored { .. } => "reading…".to_owned(),
    }
}

fn render_compare(app: &App, f: &mut Frame, area: Rect, a: u64, b: u64, scroll: usize) {
    let t = &app.theme;
    let r = Rect::new(
        area.x + 2,
        area.y + 1,
        area.width.saturating_sub(4),
        area.height.saturating_sub(3),
    );
    let inner = overlay(
        f,
        r,
        " Compare: marked (A) and selected (B) · j/k scroll · any other key closes ",
        t.focus,
        true,
        t,
    );
    let (ta, ea) = compare_title(app, a);
    let (tb, eb) = compare_title(app, b);
    let w = usize::from(inner.width);
    let name_w = 22.min(w / 4);
    let col = w.saturating_sub(name_w + 2) / 2;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<name_w$} ", ""), t.dim),
            Span::styled(
                format!("{:<col$} ", fit(&format!("A {ta}"), col)),
                t.heading,
            ),
            Span::styled(fit(&format!("B {tb}"), col), t.heading),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<name_w$} ", "outcome"), t.dim),
            Span::styled(format!("{:<col$} ", fit(&outcome_line(ea), col)), t.base),
            Span::styled(fit(&outcome_line(eb), col), t.base),
        ]),
    ];
    let Some(rows) = &app.compare_rows else {
        lines.push(Line::styled("reading the entries from the history…", t.dim));
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let changed = rows.iter().filter(|r| r.changed).count();
    lines.push(Line::styled(
        fit(&format!("{changed} of {} parameters differ", rows.len()), w),
        t.dim,
    ));
    let room = usize::from(inner.height).saturating_sub(lines.len());
    for row in rows.iter().skip(scroll).take(room) {
        let (style, mark) = if row.changed {
            (t.warning.add_modifier(Modifier::BOLD), "≠")
        } else {
            (t.dim, " ")
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{mark}{:<w$} ", fit(&row.name, name_w - 1), w = name_w - 1),
                style,
            ),
            Span::styled(format!("{:<col$} ", fit(&row.a, col)), style),
            Span::styled(fit(&row.b, col), style),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// kitty's image-cell character: in a cell it shows part of an image named by the cell's colour.
/// Only ratatui-image may put it on the screen.
const KITTY_IMAGE_CELL: char = '\u{10EEEE}';

/// A place reserved for an image in the frame being drawn: which image, the area it was
/// encoded for, and the style of the reserved cells.
type Placed = (ImageKey, Rect, Style);

thread_local! {
    /// The images reserved while [`render`] runs, in drawing order; emptied at its end. A
    /// scratch list of the one frame being drawn (rendering happens on one thread and does not
    /// nest), so that the drawing functions keep their `(&App, &mut Frame, Rect)` shape.
    static PLACED: std::cell::RefCell<Vec<Placed>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What a reserved cell holds until its image is drawn: blank, in the pane's style, and marked
/// `Skip`, which nothing else in the UI uses. Text drawn over it later (an overlay, which
/// always starts with `Clear`) replaces the mark, so the image pass sees that it is covered.
fn reserved_cell(style: Style) -> ratatui::buffer::Cell {
    let mut c = ratatui::buffer::Cell::EMPTY;
    c.set_style(style)
        .set_diff_option(ratatui::buffer::CellDiffOption::Skip);
    c
}

/// Reserves `area` for the encoded image `key`: it is drawn at the end of the frame, after the
/// text has been scrubbed, if nothing was drawn over it meanwhile.
fn reserve(buf: &mut ratatui::buffer::Buffer, area: Rect, key: &ImageKey, style: Style) {
    let mark = reserved_cell(style);
    for p in area.intersection(buf.area).positions() {
        if let Some(c) = buf.cell_mut(p) {
            *c = mark.clone();
        }
    }
    PLACED.with(|p| p.borrow_mut().push((key.clone(), area, style)));
}

/// The image pass, after the text pass and its scrub. An image whose reserved cells are all
/// still reserved (no overlay, full-screen view or later image over any of them) is drawn by
/// ratatui-image, escape sequences and all. A covered one is not drawn: its cells become plain
/// cells again (so the terminal is told to repaint them, and no old pixels stay), except for
/// half-blocks, which are ordinary coloured cells and are drawn where they are not covered.
/// kitty, sixel and iTerm2 images are placed as a whole or not at all: a partly hidden
/// sixel would paint over the overlay, and kitty would lose its transmission under it.
fn draw_images(app: &App, buf: &mut ratatui::buffer::Buffer, placed: &[Placed]) -> Drawn {
    use ratatui::widgets::Widget as _;
    let covered: Vec<bool> = placed
        .iter()
        .enumerate()
        .map(|(i, (_, area, style))| {
            let mark = reserved_cell(*style);
            let clip = area.intersection(buf.area);
            placed[i + 1..].iter().any(|(_, b, _)| b.intersects(clip))
                || clip
                    .positions()
                    .any(|p| buf.cell(p).is_some_and(|c| *c != mark))
        })
        .collect();
    let drawn = |p: ratatui::layout::Position| {
        placed
            .iter()
            .zip(&covered)
            .any(|((_, b, _), cov)| !cov && b.contains(p))
    };
    for ((key, area, style), cov) in placed.iter().zip(&covered) {
        if !cov {
            continue;
        }
        let clip = area.intersection(buf.area);
        let mark = reserved_cell(*style);
        let mut scratch = None;
        if let Some(Ok(Encoded::Widget(p))) = app.previews.get(key, *area)
            && matches!(**p, ratatui_image::protocol::Protocol::Halfblocks(_))
        {
            let mut b = ratatui::buffer::Buffer::empty(clip);
            ratatui_image::Image::new(p)
                .allow_clipping(true)
                .render(clip, &mut b);
            scratch = Some(b);
        }
        for p in clip.positions() {
            if drawn(p) {
                continue;
            }
            let Some(c) = buf.cell_mut(p) else { continue };
            if *c == mark
                && let Some(from) = scratch.as_ref().and_then(|b| b.cell(p))
            {
                *c = from.clone();
            }
            c.set_diff_option(ratatui::buffer::CellDiffOption::None);
        }
    }
    let mut drawn = Drawn::default();
    for ((key, area, _), cov) in placed.iter().zip(&covered) {
        if *cov {
            continue;
        }
        let Some(Ok(enc)) = app.previews.get(key, *area) else {
            continue;
        };
        let clip = area.intersection(buf.area);
        for p in clip.positions() {
            if let Some(c) = buf.cell_mut(p) {
                c.set_diff_option(ratatui::buffer::CellDiffOption::None);
            }
        }
        let layer = match enc {
            Encoded::Widget(p) => {
                ratatui_image::Image::new(p)
                    .allow_clipping(true)
                    .render(*area, buf);
                match **p {
                    ratatui_image::protocol::Protocol::Sixel(_)
                    | ratatui_image::protocol::Protocol::ITerm2(_) => Layer::Pixels,
                    _ => Layer::Cells,
                }
            }
            Encoded::KittyPlaced { seq, cells } => {
                place_sequence(buf, *area, seq, *cells);
                Layer::KittyPlaced
            }
        };
        drawn.0.push((key.clone(), *area, layer));
    }
    drawn
}

/// Puts a graphics sequence that draws at the cursor into the top-left cell of `area` and
/// marks the rest of the `cells` it covers as not to be written: the terminal paints them.
fn place_sequence(buf: &mut ratatui::buffer::Buffer, area: Rect, seq: &str, cells: (u16, u16)) {
    let covered = Rect::new(
        area.x,
        area.y,
        cells.0.min(area.width),
        cells.1.min(area.height),
    )
    .intersection(buf.area);
    for p in covered.positions() {
        if let Some(c) = buf.cell_mut(p) {
            c.set_diff_option(ratatui::buffer::CellDiffOption::Skip);
        }
    }
    if let Some(c) = buf.cell_mut((area.x, area.y)) {
        c.set_symbol(seq)
            .set_diff_option(ratatui::buffer::CellDiffOption::ForcedWidth(
                std::num::NonZeroU16::MIN,
            ));
    }
}

/// Draws the cached encoding of `key` at `area`'s size, or says why there is none yet.
fn render_picture(app: &App, f: &mut Frame, area: Rect, key: &ImageKey) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let t = &app.theme;
    let note =
        |text: &str, style| Paragraph::new(Line::styled(fit(text, usize::from(area.width)), style));
    if !app.previews.enabled {
        return;
    }
    match (app.previews.decoded.get(key), app.previews.get(key, area)) {
        (Some(Err(e)), _) => f.render_widget(note(&format!("✘ {e}"), t.error), area),
        (_, Some(Err(e))) => f.render_widget(note(&format!("✘ {e}"), t.error), area),
        (_, Some(Ok(_))) => reserve(f.buffer_mut(), area, key, t.base),
        (None, None) => f.render_widget(note("decoding…", t.busy), area),
        (Some(Ok(_)), None) => f.render_widget(note("encoding…", t.busy), area),
    }
}

/// `1024x1024 JPEG 312 KB`, or `url, downloading` before the bytes are in.
fn image_facts(img: &crate::tui::view::ImageItem) -> String {
    let mut parts = Vec::new();
    if let Some((w, h)) = img.dims {
        parts.push(format!("{w}x{h}"));
    }
    parts.push(img.format.clone());
    if let Some(b) = img.bytes {
        parts.push(human_size(b));
    }
    parts.join(" ")
}

fn render_fullscreen(app: &App, f: &mut Frame, area: Rect, key: &ImageKey) {
    let t = &app.theme;
    f.render_widget(Clear, area);
    f.render_widget(Block::default().style(t.base), area);
    let label = app
        .tab_images()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, i)| format!("{} · {}", i.label, image_facts(i)))
        .unwrap_or_else(|| match key {
            ImageKey::Cell { cell, .. } => app
                .sweep
                .as_ref()
                .and_then(|v| v.cells.get(*cell))
                .map_or_else(
                    || "sweep cell".to_owned(),
                    |c| format!("sweep cell {}", c.label),
                ),
            _ => "reference".to_owned(),
        });
    let caption = Line::from(vec![
        Span::styled(format!(" {label} "), t.heading),
        Span::styled(" any key returns", t.dim),
    ]);
    f.render_widget(
        Paragraph::new(caption),
        Rect::new(area.x, area.y, area.width, 1),
    );
    render_picture(app, f, layout::fullscreen_picture(area), key);
}

fn render_confirm_fit(app: &App, f: &mut Frame, area: Rect, problems: &[String]) {
    let t = &app.theme;
    let h = u16::try_from(problems.len()).unwrap_or(8).min(8) + 5;
    let r = centered(area, 70, h);
    let inner = overlay(
        f,
        r,
        " Reference over the service's limits ",
        t.warning,
        false,
        t,
    );
    let w = usize::from(r.width.saturating_sub(2));
    let mut lines: Vec<Line> = problems
        .iter()
        .map(|p| Line::styled(fit(&format!("• {p}"), w), t.error))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", t.key),
        Span::raw(fit(
            " fit it: crop to 3:1, scale into 128..4096 px, re-encode as JPEG",
            w.saturating_sub(1),
        )),
    ]));
    lines.push(Line::styled(
        fit("any other key: leave it (the file is never changed)", w),
        t.dim,
    ));
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_save_prompt(app: &App, f: &mut Frame, area: Rect, p: &crate::tui::app::SavePrompt) {
    let title = match &p.what {
        crate::tui::app::SaveWhat::One(_) => " Save the image as (Enter saves, Esc cancels) ",
        crate::tui::app::SaveWhat::All(_) => " Save all images into (Enter saves, Esc cancels) ",
    };
    render_line_input(app, f, area, title, &p.input);
}

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

fn render_params(app: &App, f: &mut Frame, a: &Areas) {
    let t = &app.theme;
    let form = &app.form;
    let mode = if app.mode == crate::api::tasks::Mode::Async {
        " · async"
    } else {
        ""
    };
    let block = pane_block(
        app,
        Pane::Params,
        1,
        &format!(": {}{mode}", form.schema.req_key),
    );
    f.render_widget(block, a.params);
    let [list, editor, preview, footer] =
        layout::params_parts(a, form.prompt_active, app.params_preview());
    if let Some(key) = app.form_preview_key()
        && app.params_preview()
    {
        render_picture(app, f, preview, &key);
    }
    let label_w = form
        .rows
        .iter()
        .map(|r| short_label(r.label()).chars().count())
        .max()
        .unwrap_or(10)
        + 1;
    let width = usize::from(list.width);
    let mut lines = Vec::new();
    for line in form
        .lines
        .iter()
        .skip(form.scroll)
        .take(usize::from(list.height))
    {
        match line {
            FormLine::Heading(g) => lines.push(Line::styled(g.title(), t.heading)),
            FormLine::Row(i) => lines.push(param_row(app, *i, label_w, width)),
        }
    }
    f.render_widget(Paragraph::new(lines), list);
    if form.prompt_active {
        let mut ta = form.prompt.clone();
        ta.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.focus)
                .title(Span::styled(
                    " prompt (Esc: done, Ctrl-e: $EDITOR) ",
                    t.focus,
                )),
        );
        ta.set_style(t.base);
        ta.set_cursor_line_style(Style::default());
        ta.set_cursor_style(t.base.add_modifier(Modifier::REVERSED));
        f.render_widget(&ta, editor);
    }
    // The focused row's help and its problem.
    let row = form.selected;
    let mut foot = Vec::new();
    if let Some(e) = form.editing.as_ref().filter(|e| !e.completions.is_empty()) {
        let names: Vec<&str> = e
            .completions
            .iter()
            .map(|c| {
                c.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(c.as_str())
            })
            .collect();
        foot.push(Line::styled(fit(&names.join("  "), width), t.hint));
    } else if let Some(field) = form.rows.get(row).and_then(|r| r.field()) {
        foot.push(Line::styled(fit(field.help, width), t.dim));
    } else {
        foot.push(Line::styled(
            fit(
                "A local JPEG/PNG path (Tab completes) or an http(s) URL.",
                width,
            ),
            t.dim,
        ));
    }
    if let Some(e) = form.row_error(row) {
        foot.push(Line::styled(fit(&format!("✘ {e}"), width), t.error));
    } else if let Some(w) = form.row_warning(row) {
        foot.push(Line::styled(fit(&format!("! {w}"), width), t.warning));
    }
    f.render_widget(Paragraph::new(foot), footer);
    // Place the cursor for in-place editing.
    if let Some(e) = &form.editing
        && let Some(pos) = form.lines.iter().position(|l| *l == FormLine::Row(e.row))
        && pos >= form.scroll
        && pos < form.scroll + usize::from(list.height)
    {
        let y = list.y + (pos - form.scroll) as u16;
        let x0 = list.x + 2 + label_w as u16;
        let avail = list.width.saturating_sub(2 + label_w as u16);
        let input_area = Rect::new(x0, y, avail, 1);
        // Blank the value underneath: the textarea draws only its own text.
        f.render_widget(Clear, input_area);
        f.render_widget(Block::default().style(t.selected), input_area);
        let mut ta = e.input.clone();
        ta.set_style(t.selected);
        ta.set_cursor_line_style(Style::default());
        ta.set_cursor_style(t.selected.add_modifier(Modifier::REVERSED));
        f.render_widget(&ta, input_area);
    }
}

/// The label without the group's object prefix (`logo_info.opacity` -> `opacity`).
fn short_label(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn param_row<'a>(app: &App, i: usize, label_w: usize, width: usize) -> Line<'a> {
    let t = &app.theme;
    let form = &app.form;
    let Some(row) = form.rows.get(i) else {
        return Line::raw("");
    };
    let selected = i == form.selected && app.focus == Pane::Params;
    let marker = if i == form.selected { "▸ " } else { "  " };
    let label = format!("{:<label_w$}", short_label(row.label()));
    let (value, raw) = form.display(i);
    let error = form.row_error(i).is_some();
    let warning = form.row_warning(i).is_some();
    let (allowed, hint) = match row.kind {
        RowKind::Field(fd) | RowKind::Fixed(fd) => {
            let a = match fd.kind {
                crate::api::schema::Kind::Enum(_) => "h/l cycles".to_owned(),
                crate::api::schema::Kind::Bool => String::new(),
                _ if fd.fixed => String::new(),
                _ => fd.allowed(),
            };
            (a, fd.recommended.map(|r| format!(" rec {r}")))
        }
        RowKind::Prompt(_) => ("Enter: edit".to_owned(), None),
        RowKind::Reference => (String::new(), None),
    };
    let value_style = if error || raw {
        t.error
    } else if warning {
        t.warning
    } else if matches!(row.kind, RowKind::Fixed(_)) {
        t.dim
    } else {
        t.base
    };
    let fixed = 2 + label_w;
    let room = width.saturating_sub(fixed);
    let tail = format!(
        "{}{}",
        if allowed.is_empty() {
            String::new()
        } else {
            format!(" {allowed}")
        },
        hint.clone().unwrap_or_default()
    );
    let show_tail = !tail.is_empty() && str_width(&value) + 2 + tail.chars().count() <= room;
    let value_w = if show_tail {
        room - tail.chars().count()
    } else {
        room
    };
    let mark = if error || raw { "✘ " } else { "" };
    let value_text = fit(&format!("{mark}{value}"), value_w);
    let mut spans = vec![
        Span::styled(marker, if selected { t.focus } else { t.base }),
        Span::styled(label, if selected { t.selected } else { t.base }),
        Span::styled(
            format!("{value_text:<value_w$}", value_w = value_w.min(room)),
            value_style,
        ),
    ];
    if show_tail {
        if !allowed.is_empty() {
            spans.push(Span::styled(format!(" {allowed}"), t.dim));
        }
        if let Some(h) = hint {
            spans.push(Span::styled(h, t.hint));
        }
    }
    Line::from(spans)
}

fn render_response(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let entry = app.shown();
    let extra = entry
        .map(|e| format!(": {}", e.label()))
        .unwrap_or_default();
    let block = pane_block(app, Pane::Response, 2, &extra);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(entry) = entry else {
        let keys = app.keymap.label(Action::Send);
        let lines = vec![
            Line::styled("No request yet.", t.dim),
            Line::raw(""),
            Line::from(vec![
                Span::raw("Fill in the reference image and the prompt, then press "),
                Span::styled(keys, t.key),
                Span::raw(" to send."),
            ]),
        ];
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    };
    let view = match &entry.state {
        EntryState::InFlight {
            started,
            cancelling,
        } => {
            let spin = SPINNER[app.spinner % SPINNER.len()];
            let secs = app.elapsed_since(*started);
            let what = if *cancelling {
                "cancelling"
            } else {
                "in flight"
            };
            let mut lines = vec![
                Line::styled(
                    format!("{spin} request {} {what}… {secs:.1}s", entry.label()),
                    t.busy,
                ),
                Line::raw(""),
            ];
            if let Some(task) = &entry.task {
                lines.push(Line::styled(
                    fit(&format!("async task: {task}"), usize::from(inner.width)),
                    t.base,
                ));
                lines.push(Line::raw(""));
            }
            lines.extend([
                Line::styled(fit(&entry.prompt, usize::from(inner.width)), t.dim),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(app.keymap.label(Action::Cancel), t.key),
                    Span::raw(if entry.task.is_some() {
                        " stops polling (the task stays pending and is collected later)."
                    } else {
                        " cancels it (asks: it is sent and may still be billed)."
                    }),
                ]),
            ]);
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
        EntryState::Done { view, .. } => view,
        EntryState::Stored { .. } => {
            let lines = vec![Line::styled(
                format!("reading {} from the history…", entry.label()),
                t.dim,
            )];
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
    };
    let sh = layout::summary_height(view.summary.len());
    let [summary, tabs, body] = Layout::vertical([
        Constraint::Length(sh),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    let lines: Vec<Line> = view
        .summary
        .iter()
        .take(usize::from(sh))
        .map(|l| doc_line(t, l))
        .collect();
    f.render_widget(Paragraph::new(lines), summary);
    let mut spans = Vec::new();
    for tab in Tab::ALL {
        let style = if tab == app.tab { t.tab_active } else { t.dim };
        spans.push(Span::styled(format!(" {} ", tab.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    let h = usize::from(body.height);
    let s = app.response_scroll;
    let lines: Vec<Line> = match app.tab {
        Tab::Images => {
            render_images(app, f, view, body);
            return;
        }
        Tab::Body => view
            .body
            .lines_from(s)
            .take(h)
            .map(|l| styled_line(t, l))
            .collect(),
        Tab::Request => view
            .request
            .lines_from(s)
            .take(h)
            .map(|l| styled_line(t, l))
            .collect(),
        Tab::Headers => view
            .headers
            .lines_from(s)
            .take(h)
            .map(|l| styled_line(t, l))
            .collect(),
    };
    f.render_widget(Paragraph::new(lines), body);
}

fn render_images(app: &App, f: &mut Frame, view: &crate::tui::view::ResponseView, body: Rect) {
    let t = &app.theme;
    if view.images.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("(no images in this response)", t.dim)),
            body,
        );
        return;
    }
    let imgs = app.tab_images();
    let cells = layout::image_cells(body, imgs.len());
    let sel = app.image_selection();
    for (i, ((key, img), cell)) in imgs.iter().zip(&cells).enumerate() {
        let w = usize::from(cell.width.saturating_sub(1));
        let selected = i == sel;
        let marker = if selected { "▸ " } else { "  " };
        let label_style = if selected && app.focus == Pane::Response {
            t.selected
        } else if selected {
            t.focus
        } else {
            t.heading
        };
        let lines = vec![
            Line::styled(fit(&format!("{marker}{}", img.label), w), label_style),
            Line::styled(fit(&format!("  {}", image_facts(img)), w), t.dim),
        ];
        f.render_widget(
            Paragraph::new(lines),
            Rect::new(
                cell.x,
                cell.y,
                cell.width,
                cell.height.min(layout::IMAGE_LABEL),
            ),
        );
        let picture = layout::cell_picture(*cell);
        let note = |text: &str, style| {
            Paragraph::new(Line::styled(fit(text, usize::from(picture.width)), style))
        };
        // Images that will never be decoded say why instead of "decoding…".
        let decoded = app.previews.decoded.contains_key(key);
        match &img.state {
            ImageState::Failed(e) if app.previews.enabled && !decoded => {
                f.render_widget(note(&format!("✘ {e}"), t.error), picture);
            }
            ImageState::Reference if app.previews.enabled && img.bytes.is_none() => {
                f.render_widget(note("a URL: not downloaded", t.dim), picture);
            }
            ImageState::Saving if app.previews.enabled && !decoded => {
                let what = if img.format == "url" {
                    "downloading…"
                } else {
                    "saving…"
                };
                f.render_widget(note(what, t.busy), picture);
            }
            _ => render_picture(app, f, picture, key),
        }
    }
    // The selected image's state on the last line.
    if let Some((_, img)) = imgs.get(sel) {
        let (state, style) = match &img.state {
            ImageState::Saving => ("downloading and saving…".to_owned(), t.busy),
            ImageState::Saved(p) => (format!("→ {}", p.display()), t.ok),
            ImageState::Failed(e) => (format!("✘ {e}"), t.error),
            ImageState::Reference => ("the reference sent with the request".to_owned(), t.dim),
        };
        // The state first (where it was saved matters most once it is saved), then when the
        // signed URL expires.
        let expires = img
            .expires
            .as_ref()
            .map(|e| format!(" · URL {e}"))
            .unwrap_or_default();
        let y = body.y + body.height.saturating_sub(1);
        f.render_widget(
            Paragraph::new(Line::styled(
                fit(
                    &format!("{}: {state}{expires}", img.label),
                    usize::from(body.width),
                ),
                style,
            )),
            Rect::new(body.x, y, body.width, 1),
        );
    }
}

fn render_history(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let n = app.history.entries().len();
    let total = app.history.total.map_or(n as u64, |t| t.max(n as u64));
    let filter = app.history.filter.trim();
    let extra = match (filter.is_empty(), total) {
        (true, 0) => String::new(),
        (true, total) => format!(" ({total})"),
        (false, total) => format!(" /{filter} ({total} found)"),
    };
    let block = pane_block(app, Pane::History, 3, &extra);
    let mut inner = block.inner(area);
    f.render_widget(block, area);
    let thumb = app.history_thumb();
    if let Some(key) = &thumb {
        let [list, picture] = layout::history_parts(area, true);
        inner = list;
        render_picture(app, f, picture, key);
    }
    if n == 0 {
        let text = if !filter.is_empty() {
            "Nothing matches the search (Esc in the search line clears it)."
        } else if app.history.loading {
            "Reading the history…"
        } else if app.history.stored {
            "Requests appear here, kept across runs."
        } else {
            "Requests of this run appear here."
        };
        f.render_widget(Paragraph::new(Line::styled(text, t.dim)), inner);
        return;
    }
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (i, e) in app
        .history
        .entries()
        .iter()
        .enumerate()
        .skip(app.history_scroll)
        .take(usize::from(inner.height))
    {
        let stored = e.summary.as_ref();
        let stored_dur = stored
            .and_then(|s| s.duration_ms)
            .and_then(|ms| std::time::Duration::try_from_secs_f64(ms / 1000.0).ok())
            .map_or_else(|| "-".to_owned(), fmt_duration);
        let (glyph, glyph_style, dur) = match (&e.state, stored) {
            (EntryState::InFlight { started, .. }, _) => (
                SPINNER[app.spinner % SPINNER.len()].to_owned(),
                t.busy,
                format!("{:.1}s", app.elapsed_since(*started)),
            ),
            (EntryState::Done { view, duration }, _) if e.local => (
                view.verdict.glyph().to_owned(),
                if view.verdict.is_ok() { t.ok } else { t.error },
                fmt_duration(*duration),
            ),
            (_, Some(s)) => {
                let style = match s.outcome {
                    crate::store::OutcomeKind::Success => t.ok,
                    crate::store::OutcomeKind::Pending => t.busy,
                    crate::store::OutcomeKind::Cancelled => t.dim,
                    crate::store::OutcomeKind::Interrupted => t.warning,
                    _ => t.error,
                };
                (
                    crate::tui::history::outcome_glyph(s.outcome).to_owned(),
                    style,
                    stored_dur,
                )
            }
            (EntryState::Done { view, duration }, None) => (
                view.verdict.glyph().to_owned(),
                if view.verdict.is_ok() { t.ok } else { t.error },
                fmt_duration(*duration),
            ),
            (EntryState::Stored { .. }, None) => ("?".to_owned(), t.dim, "-".to_owned()),
        };
        let flag = if app.marked == Some(e.id) {
            "◆"
        } else if e.star() {
            "★"
        } else {
            " "
        };
        let head = format!("{} ", e.time);
        let key = format!(" {} ", e.req_key);
        let room =
            width.saturating_sub(str_width(&head) + 2 + str_width(&key) + str_width(&dur) + 1);
        let prompt = fit(&e.prompt, room);
        let note = e
            .note()
            .map(|n| {
                let n = crate::tui::history::one_line(n);
                fit(&format!(" · {n}"), room.saturating_sub(str_width(&prompt)))
            })
            .unwrap_or_default();
        let pad = room.saturating_sub(str_width(&prompt) + str_width(&note));
        let selected = i == app.history_selected;
        let base = if selected && app.focus == Pane::History {
            t.selected
        } else {
            t.base
        };
        lines.push(Line::from(vec![
            Span::styled(head, if selected { base } else { t.dim }),
            Span::styled(glyph, glyph_style),
            Span::styled(
                flag,
                if app.marked == Some(e.id) {
                    t.key
                } else {
                    t.warning
                },
            ),
            Span::styled(key, base),
            Span::styled(prompt, base),
            Span::styled(note, if selected { base } else { t.dim }),
            Span::styled(format!("{} {dur}", " ".repeat(pad)), base),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_status(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let [top, keys] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut spans = vec![Span::styled(
        format!(" {} · {} ", app.info.profile, app.info.endpoint),
        t.status,
    )];
    if let Some(v) = app.sweep.as_ref().filter(|v| v.running) {
        spans.push(Span::styled(
            format!(
                " {} sweep {} ",
                SPINNER[app.spinner % SPINNER.len()],
                v.summary()
            ),
            t.busy,
        ));
    }
    if let Some(Overlay::Search(input)) = app.overlays.get(OverlayKind::Search) {
        spans.push(Span::styled(" / ", t.key));
        spans.push(Span::styled(
            format!("{}▏", input.lines().join(" ")),
            t.base,
        ));
        f.render_widget(
            Paragraph::new(Line::from(fit_spans(spans, usize::from(area.width)))),
            top,
        );
        f.render_widget(Paragraph::new(hint_line(app)), keys);
        return;
    }
    let inflight: Vec<_> = app
        .history
        .entries()
        .iter()
        .filter(|e| e.in_flight())
        .collect();
    if !inflight.is_empty() {
        let oldest = inflight
            .iter()
            .filter_map(|e| match e.state {
                EntryState::InFlight { started, .. } => Some(started),
                _ => None,
            })
            .min()
            .map_or(0.0, |s| app.elapsed_since(s));
        spans.push(Span::styled(
            format!(
                " {} {} in flight {oldest:.1}s ",
                SPINNER[app.spinner % SPINNER.len()],
                inflight.len()
            ),
            t.busy,
        ));
    }
    match (&app.status, &app.last_error) {
        (Some(s), _) => spans.push(Span::styled(
            format!(" {}", s.text),
            if s.error { t.error } else { t.base },
        )),
        (None, Some(e)) => spans.push(Span::styled(format!(" last error: {e}"), t.error)),
        (None, None) => {}
    }
    f.render_widget(
        Paragraph::new(Line::from(fit_spans(spans, usize::from(area.width)))),
        top,
    );
    f.render_widget(Paragraph::new(hint_line(app)), keys);
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

fn hint_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    let k = |a: Action| app.keymap.label(a);
    let pairs: Vec<(String, &str)> = if app.overlays.has(OverlayKind::Search) {
        vec![
            ("Enter".into(), "keep the search"),
            ("Esc".into(), "clear it"),
            ("is:starred is:error model:KEY since:7d".into(), "filters"),
        ]
    } else if app.form.prompt_active {
        vec![
            ("Esc".into(), "done"),
            (k(Action::Send), "send"),
            (first(app, Action::ExternalEditor), "editor"),
        ]
    } else if let Some(e) = &app.form.editing {
        let mut v = vec![
            ("Enter".into(), "commit"),
            ("Esc".into(), "discard"),
            ("Ctrl-u".into(), "clear"),
        ];
        if app.form.rows.get(e.row).map(|r| r.kind) == Some(RowKind::Reference) {
            v.push(("Tab".into(), "complete path"));
        }
        v
    } else {
        let mut v = vec![(k(Action::Send), "send")];
        match app.focus {
            Pane::Params => {
                v.push((k(Action::Edit), "edit"));
                v.push((pair(app, Action::Decrease, Action::Increase), "nudge"));
                v.push((k(Action::Toggle), "toggle"));
                v.push((pair(app, Action::RandomSeed, Action::ResetSeed), "seed"));
                v.push((first(app, Action::ExternalEditor), "editor"));
            }
            Pane::Response => {
                v.push((pair(app, Action::Decrease, Action::Increase), "tab"));
                if app.tab == Tab::Images {
                    v.push((pair(app, Action::Down, Action::Up), "select"));
                    v.push(("f".into(), "full screen"));
                    v.push(("s/o".into(), "save one/all"));
                } else {
                    v.push((pair(app, Action::Down, Action::Up), "scroll"));
                }
                v.push((k(Action::Copy), "copy"));
            }
            Pane::History => {
                v.push((pair(app, Action::Down, Action::Up), "select"));
                v.push((first(app, Action::Edit), "open"));
                v.push((first(app, Action::Replay), "reuse"));
                v.push((first(app, Action::Search), "search"));
                v.push((first(app, Action::Star), "star"));
                v.push((first(app, Action::Note), "note"));
                v.push((first(app, Action::Delete), "delete"));
                v.push((pair(app, Action::Mark, Action::Compare), "mark/compare"));
            }
        }
        v.push((first(app, Action::Help), "help"));
        v.push((first(app, Action::Quit), "quit"));
        v.push((first(app, Action::NextPane), "pane"));
        v
    };
    let mut spans = Vec::new();
    for (key, what) in pairs {
        spans.push(Span::styled(format!(" {key}"), t.key));
        spans.push(Span::styled(format!(" {what} "), t.dim));
    }
    Line::from(spans)
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

fn help_column<'a>(
    app: &App,
    sections: &[(&'static str, Scope)],
    rows: &[(String, &'static str, Scope)],
    width: usize,
) -> Vec<Line<'a>> {
    let t = &app.theme;
    let key_w = rows
        .iter()
        .filter(|(_, _, s)| sections.iter().any(|(_, sc)| sc == s))
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(8)
        .min(16);
    let desc_w = width.saturating_sub(key_w + 3);
    let mut lines = Vec::new();
    for (title, scope) in sections {
        lines.push(Line::styled(*title, t.heading));
        for (keys, what, s) in rows {
            if s == scope {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {:<key_w$} ", fit(keys, key_w)), t.key),
                    Span::styled(fit(what, desc_w), t.base),
                ]));
            }
        }
    }
    lines
}

fn render_help(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let rows = app.keymap.rows();
    let w = area.width.min(100);
    let col = usize::from(w.saturating_sub(3) / 2);
    let mut left = help_column(
        app,
        &[("Everywhere", Scope::Global), ("Moving", Scope::Lists)],
        &rows,
        col,
    );
    left.push(Line::from(vec![
        Span::styled(" Ctrl-c ", t.key),
        Span::raw("quit at once"),
    ]));
    left.push(Line::styled(fit("Log file:", col), t.dim));
    left.push(Line::styled(fit(&app.info.log_path, col), t.dim));
    let mut right = help_column(
        app,
        &[("Parameters", Scope::Params), ("History", Scope::History)],
        &rows,
        col,
    );
    right.push(Line::styled(
        fit("Editing: Enter commits, Esc discards,", col),
        t.dim,
    ));
    right.push(Line::styled(
        fit("Ctrl-u clears, Tab completes paths.", col),
        t.dim,
    ));
    right.push(Line::styled(
        fit("Images tab: j/k select, f full screen,", col),
        t.dim,
    ));
    right.push(Line::styled(fit("s save it, o save all.", col), t.dim));
    let h = (left.len().max(right.len()) as u16 + 2).min(area.height);
    let r = centered(area, w, h);
    let inner = overlay(f, r, " Keys (? or Esc closes) ", t.focus, true, t);
    let [l, _, rr] = Layout::horizontal([
        Constraint::Length(col as u16),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(Paragraph::new(right), rr);
}

fn render_confirm(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let n = app.in_flight();
    let r = centered(area, 50, 5);
    let inner = overlay(f, r, " Quit? ", t.warning, false, t);
    let lines = vec![
        Line::raw(format!("{n} request(s) still in flight.")),
        Line::from(vec![
            Span::styled("y", t.key),
            Span::raw(" quit and cancel them · any other key stays"),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), inner);
}
