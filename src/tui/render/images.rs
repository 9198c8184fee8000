//! Images in a frame: cells reserved while the text is drawn, then the image pass after the scrub, and what it drew (for the repaint decision).

use super::*;

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

/// A place reserved for an image in the frame being drawn: which image, the area it was
/// encoded for, and the style of the reserved cells.
pub(super) type Placed = (ImageKey, Rect, Style);

thread_local! {
    /// The images reserved while [`render`] runs, in drawing order; emptied at its end. A
    /// scratch list of the one frame being drawn (rendering happens on one thread and does not
    /// nest), so that the drawing functions keep their `(&App, &mut Frame, Rect)` shape.
    pub(super) static PLACED: std::cell::RefCell<Vec<Placed>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What a reserved cell holds until its image is drawn: blank, in the pane's style, and marked
/// `Skip`, which nothing else in the UI uses. Text drawn over it later (an overlay, which
/// always starts with `Clear`) replaces the mark, so the image pass sees that it is covered.
pub(super) fn reserved_cell(style: Style) -> ratatui::buffer::Cell {
    let mut c = ratatui::buffer::Cell::EMPTY;
    c.set_style(style)
        .set_diff_option(ratatui::buffer::CellDiffOption::Skip);
    c
}

/// Reserves `area` for the encoded image `key`: it is drawn at the end of the frame, after the
/// text has been scrubbed, if nothing was drawn over it meanwhile.
pub(super) fn reserve(buf: &mut ratatui::buffer::Buffer, area: Rect, key: &ImageKey, style: Style) {
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
pub(super) fn draw_images(
    app: &App,
    buf: &mut ratatui::buffer::Buffer,
    placed: &[Placed],
) -> Drawn {
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
pub(super) fn place_sequence(
    buf: &mut ratatui::buffer::Buffer,
    area: Rect,
    seq: &str,
    cells: (u16, u16),
) {
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
pub(super) fn render_picture(app: &App, f: &mut Frame, area: Rect, key: &ImageKey) {
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

pub(super) fn render_fullscreen(app: &App, f: &mut Frame, area: Rect, key: &ImageKey) {
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
