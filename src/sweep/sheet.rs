//! The contact sheet: where each cell goes ([`SheetLayout`], pure, shared with the TUI), the
//! pixel geometry of the PNG montage ([`Geometry`]) and its rendering ([`render_png`]).
//!
//! - One field: a strip of tiles in grid order, wrapped after [`STRIP_WRAP`] tiles, each tile
//!   labelled with its value underneath.
//! - Two fields: rows are the first field's values, columns the second's; the row labels run
//!   down the left, the column labels across the top.
//! - Three fields: one two-field block per value of the third, stacked, each with a title.
//!
//! Tiles show the cell's first result image scaled to fit (aspect kept, centred). A failed
//! cell is a dark red tile crossed out with its code (`50411`, `transport error`...), a cell
//! never run a grey one saying so. Labels use the 8x8 bitmap font (ASCII; other characters
//! show as `?`).

use super::spec::Grid;
use crate::images::decode;
use image::{Rgb, RgbImage};
use serde::Serialize;

/// A one-field sweep wraps to a new line of tiles after this many.
pub const STRIP_WRAP: usize = 8;
/// Longest row label drawn, in characters (longer ones are cut).
pub const MAX_ROW_LABEL: usize = 24;

/// Strip or grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    /// One field: tiles in a row (wrapped), each labelled.
    Strip,
    /// Two or three fields: row and column headers.
    Grid,
}

/// One block of tiles: the whole sheet, or one page of a three-field sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetBlock {
    /// The third field's value (`opacity=0.5`) for three-field sweeps.
    pub title: Option<String>,
    /// Labels down the left, one per row (empty for a strip).
    pub row_labels: Vec<String>,
    /// Labels across the top, one per column (empty for a strip).
    pub col_labels: Vec<String>,
    /// `cells[row][col]`: the cell shown there, `None` for the unused end of a strip.
    pub cells: Vec<Vec<Option<usize>>>,
}

/// Where every cell of a grid goes on a contact sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetLayout {
    pub kind: SheetKind,
    pub blocks: Vec<SheetBlock>,
    /// For a strip, each tile's own label (`seed=3`), by cell; empty for a grid.
    pub tile_labels: Vec<String>,
}

impl SheetLayout {
    /// The layout of `grid` (see the module docs).
    pub fn new(grid: &Grid) -> SheetLayout {
        let [rows, cols, pages] = grid.shape();
        if grid.axes.len() <= 1 {
            let n = grid.len();
            let width = n.clamp(1, STRIP_WRAP);
            let lines = n.div_ceil(width);
            let cells = (0..lines)
                .map(|r| {
                    (0..width)
                        .map(|c| Some(r * width + c).filter(|i| *i < n))
                        .collect()
                })
                .collect();
            let tile_labels = (0..n).map(|i| grid.label(i)).collect();
            return SheetLayout {
                kind: SheetKind::Strip,
                blocks: vec![SheetBlock {
                    title: None,
                    row_labels: Vec::new(),
                    col_labels: Vec::new(),
                    cells,
                }],
                tile_labels,
            };
        }
        let rows_axis = &grid.axes[0];
        let cols_axis = &grid.axes[1];
        let blocks = (0..pages)
            .map(|page| SheetBlock {
                title: grid.axes.get(2).map(|a| a.label(page)),
                row_labels: (0..rows).map(|r| rows_axis.label(r)).collect(),
                col_labels: (0..cols).map(|c| cols_axis.label(c)).collect(),
                cells: (0..rows)
                    .map(|r| (0..cols).map(|c| Some(grid.index([r, c, page]))).collect())
                    .collect(),
            })
            .collect();
        SheetLayout {
            kind: SheetKind::Grid,
            blocks,
            tile_labels: Vec::new(),
        }
    }

    /// `(block, row, col)` of a cell.
    pub fn position(&self, cell: usize) -> Option<(usize, usize, usize)> {
        self.blocks.iter().enumerate().find_map(|(b, block)| {
            block
                .cells
                .iter()
                .enumerate()
                .find_map(|(r, row)| row.iter().position(|c| *c == Some(cell)).map(|c| (b, r, c)))
        })
    }

    /// The cell at `(block, row, col)`, if any.
    pub fn cell_at(&self, block: usize, row: usize, col: usize) -> Option<usize> {
        self.blocks
            .get(block)?
            .cells
            .get(row)?
            .get(col)
            .copied()
            .flatten()
    }

    /// The most columns any block has.
    pub fn max_cols(&self) -> usize {
        self.blocks
            .iter()
            .flat_map(|b| b.cells.iter().map(Vec::len))
            .max()
            .unwrap_or(0)
    }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// The pixel geometry of a rendered sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// Side of a tile's square box.
    pub tile: u32,
    /// Space between tiles.
    pub gap: u32,
    /// Space around the sheet.
    pub margin: u32,
    /// Font scale: glyphs are `8 * scale` px.
    pub scale: u32,
    /// Height of one line of labels (glyph plus padding).
    pub line: u32,
    /// Width of the row-label column (0 for a strip).
    pub header_w: u32,
    /// Height of the column-label row (0 for a strip).
    pub col_header_h: u32,
    /// Height of the label under each tile (strip only).
    pub tile_label_h: u32,
    /// Height of the sheet's title line (0 without a title).
    pub title_h: u32,
    /// Height of a block's title (three-field sweeps).
    pub block_title_h: u32,
    /// Top of each block.
    pub block_tops: Vec<u32>,
    pub width: u32,
    pub height: u32,
}

/// The tile side for a sheet of `cells` cells: smaller for larger sweeps, so a 1000-cell
/// sheet stays a few tens of megabytes while drawn.
pub fn tile_side_for(cells: usize) -> u32 {
    match cells {
        0..=16 => 256,
        17..=64 => 192,
        65..=256 => 128,
        _ => 96,
    }
}

impl Geometry {
    /// The geometry of `layout` with tiles of `tile` px (see [`tile_side_for`]), with a title
    /// line when `title` is set.
    pub fn new(layout: &SheetLayout, tile: u32, title: bool) -> Geometry {
        let tile = tile.max(16);
        let scale = if tile >= 192 { 2 } else { 1 };
        let cw = 8 * scale;
        let pad = 3 * scale;
        let line = cw + 2 * pad;
        let gap = 4 * scale;
        let margin = 8 * scale;
        let grid = layout.kind == SheetKind::Grid;
        let longest_row_label = layout
            .blocks
            .iter()
            .flat_map(|b| b.row_labels.iter())
            .map(|l| l.chars().count().min(MAX_ROW_LABEL))
            .max()
            .unwrap_or(0);
        let header_w = if grid {
            longest_row_label as u32 * cw + 2 * pad
        } else {
            0
        };
        let col_header_h = if grid { line } else { 0 };
        let tile_label_h = if grid { 0 } else { line };
        let title_h = if title { line + pad } else { 0 };
        let block_title_h = if layout.blocks.iter().any(|b| b.title.is_some()) {
            line
        } else {
            0
        };
        let cols = layout.max_cols().max(1) as u32;
        let width = 2 * margin + header_w + cols * tile + (cols - 1) * gap;
        let mut y = margin + title_h;
        let mut block_tops = Vec::new();
        for (i, b) in layout.blocks.iter().enumerate() {
            if i > 0 {
                y += 3 * gap;
            }
            block_tops.push(y);
            let rows = b.cells.len().max(1) as u32;
            y += block_title_h + col_header_h + rows * (tile + tile_label_h) + (rows - 1) * gap;
        }
        Geometry {
            tile,
            gap,
            margin,
            scale,
            line,
            header_w,
            col_header_h,
            tile_label_h,
            title_h,
            block_title_h,
            block_tops,
            width,
            height: y + margin,
        }
    }

    /// The tile box of `(block, row, col)`.
    pub fn tile_rect(&self, block: usize, row: usize, col: usize) -> Rect {
        let top = self.block_tops.get(block).copied().unwrap_or(0);
        let step_x = self.tile + self.gap;
        let step_y = self.tile + self.tile_label_h + self.gap;
        Rect {
            x: self.margin + self.header_w + col as u32 * step_x,
            y: top + self.block_title_h + self.col_header_h + row as u32 * step_y,
            w: self.tile,
            h: self.tile,
        }
    }
}

/// What a tile shows.
#[derive(Debug, Clone)]
pub enum Tile {
    /// The cell's first result image (JPEG or PNG bytes, decoded with bomb-safe bounds).
    Image(Vec<u8>),
    /// A failed cell, with its mark (the code, or the kind of failure).
    Failed(String),
    /// A cell with nothing to show (never run, no image kept), with why.
    Empty(String),
}

const BACKGROUND: Rgb<u8> = Rgb([24, 24, 28]);
const TILE_BACKGROUND: Rgb<u8> = Rgb([40, 40, 46]);
const TEXT: Rgb<u8> = Rgb([232, 232, 232]);
const DIM_TEXT: Rgb<u8> = Rgb([170, 170, 180]);
const FAILED_FILL: Rgb<u8> = Rgb([72, 22, 24]);
const FAILED_MARK: Rgb<u8> = Rgb([200, 60, 60]);
const EMPTY_FILL: Rgb<u8> = Rgb([52, 52, 56]);

/// The 8x8 bitmap of a character (`?` for characters the font lacks).
fn glyph(c: char) -> [u8; 8] {
    use font8x8::UnicodeFonts as _;
    font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        .or_else(|| font8x8::GREEK_FONTS.get(c))
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// `text` cut to `max` characters, ending in `..` when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else if max <= 2 {
        text.chars().take(max).collect()
    } else {
        let mut s: String = text.chars().take(max - 2).collect();
        s.push_str("..");
        s
    }
}

fn fill(img: &mut RgbImage, r: Rect, color: Rgb<u8>) {
    for y in r.y..(r.y + r.h).min(img.height()) {
        for x in r.x..(r.x + r.w).min(img.width()) {
            img.put_pixel(x, y, color);
        }
    }
}

/// Draws `text` with its top-left corner at `(x, y)`, clipped to the image.
fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: Rgb<u8>) {
    let cw = 8 * scale;
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as u32 * cw;
        if gx >= img.width() {
            break;
        }
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..8u32 {
                if bits >> col & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = gx + col * scale + dx;
                            let py = y + row as u32 * scale + dy;
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Draws `text` centred horizontally in `[x, x + w)`, cut to fit.
fn draw_centred(img: &mut RgbImage, x: u32, w: u32, y: u32, text: &str, g: &Geometry, c: Rgb<u8>) {
    let cw = 8 * g.scale;
    let max = (w / cw) as usize;
    let t = fit(text, max);
    let tw = t.chars().count() as u32 * cw;
    draw_text(img, x + w.saturating_sub(tw) / 2, y, &t, g.scale, c);
}

fn draw_line(img: &mut RgbImage, from: (i64, i64), to: (i64, i64), thick: i64, c: Rgb<u8>) {
    let steps = (to.0 - from.0).abs().max((to.1 - from.1).abs()).max(1);
    for s in 0..=steps {
        let x = from.0 + (to.0 - from.0) * s / steps;
        let y = from.1 + (to.1 - from.1) * s / steps;
        for d in 0..thick {
            let (px, py) = (x + d, y);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, c);
            }
        }
    }
}

/// A box with a centred message, optionally crossed out.
fn draw_marked(
    img: &mut RgbImage,
    r: Rect,
    g: &Geometry,
    fill_c: Rgb<u8>,
    text: &str,
    cross: bool,
) {
    fill(img, r, fill_c);
    if cross {
        let (x0, y0) = (i64::from(r.x), i64::from(r.y));
        let (x1, y1) = (x0 + i64::from(r.w) - 1, y0 + i64::from(r.h) - 1);
        let t = i64::from(g.scale) * 2;
        draw_line(img, (x0, y0), (x1 - t, y1), t, FAILED_MARK);
        draw_line(img, (x1 - t, y0), (x0, y1), t, FAILED_MARK);
    }
    let cw = 8 * g.scale;
    let t = fit(text, (r.w / cw) as usize);
    let tw = t.chars().count() as u32 * cw;
    let label = Rect {
        x: r.x + r.w.saturating_sub(tw) / 2 - g.scale.min(r.x),
        y: r.y + r.h / 2 - g.line / 2,
        w: tw + 2 * g.scale,
        h: g.line,
    };
    fill(img, label, fill_c);
    draw_text(
        img,
        label.x + g.scale,
        label.y + (g.line - cw) / 2,
        &t,
        g.scale,
        TEXT,
    );
}

/// Draws the sheet of `grid`. `tile_for(cell)` says what each cell's tile shows; it is called
/// once per cell, in order, so images are decoded one at a time. Returns the image and its
/// geometry.
pub fn render(
    grid: &Grid,
    title: Option<&str>,
    mut tile_for: impl FnMut(usize) -> Tile,
) -> (RgbImage, Geometry) {
    let layout = SheetLayout::new(grid);
    let g = Geometry::new(&layout, tile_side_for(grid.len()), title.is_some());
    let mut img = RgbImage::from_pixel(g.width, g.height, BACKGROUND);
    let cw = 8 * g.scale;
    let text_y = |top: u32| top + (g.line - cw) / 2;
    if let Some(t) = title {
        let max = ((g.width - 2 * g.margin) / cw) as usize;
        draw_text(
            &mut img,
            g.margin,
            text_y(g.margin),
            &fit(t, max),
            g.scale,
            TEXT,
        );
    }
    for (b, block) in layout.blocks.iter().enumerate() {
        let top = g.block_tops.get(b).copied().unwrap_or(0);
        if let Some(t) = &block.title {
            let max = ((g.width - 2 * g.margin) / cw) as usize;
            draw_text(&mut img, g.margin, text_y(top), &fit(t, max), g.scale, TEXT);
        }
        for (c, label) in block.col_labels.iter().enumerate() {
            let r = g.tile_rect(b, 0, c);
            let y = text_y(top + g.block_title_h);
            draw_centred(&mut img, r.x, r.w, y, label, &g, DIM_TEXT);
        }
        for (row, label) in block.row_labels.iter().enumerate() {
            let r = g.tile_rect(b, row, 0);
            let t = fit(label, MAX_ROW_LABEL);
            let y = r.y + r.h / 2 - cw / 2;
            draw_text(&mut img, g.margin + 3 * g.scale, y, &t, g.scale, DIM_TEXT);
        }
        for (row, line) in block.cells.iter().enumerate() {
            for (col, cell) in line.iter().enumerate() {
                let Some(cell) = *cell else { continue };
                let r = g.tile_rect(b, row, col);
                draw_tile(&mut img, r, &g, tile_for(cell));
                if let Some(label) = layout.tile_labels.get(cell) {
                    let y = text_y(r.y + r.h);
                    draw_centred(&mut img, r.x, r.w, y, label, &g, DIM_TEXT);
                }
            }
        }
    }
    (img, g)
}

fn draw_tile(img: &mut RgbImage, r: Rect, g: &Geometry, tile: Tile) {
    match tile {
        Tile::Image(bytes) => {
            let decoded = decode::decode_preview(&bytes, r.w.max(r.h))
                .map(|i| i.resize(r.w, r.h, image::imageops::FilterType::Triangle));
            match decoded {
                Ok(thumb) => {
                    fill(img, r, TILE_BACKGROUND);
                    let thumb = thumb.to_rgb8();
                    let ox = r.x + (r.w.saturating_sub(thumb.width())) / 2;
                    let oy = r.y + (r.h.saturating_sub(thumb.height())) / 2;
                    image::imageops::overlay(img, &thumb, i64::from(ox), i64::from(oy));
                }
                Err(_) => draw_marked(img, r, g, FAILED_FILL, "undecodable", true),
            }
        }
        Tile::Failed(mark) => draw_marked(img, r, g, FAILED_FILL, &mark, true),
        Tile::Empty(why) => draw_marked(img, r, g, EMPTY_FILL, &why, false),
    }
}

/// [`render`] encoded as PNG.
pub fn render_png(
    grid: &Grid,
    title: Option<&str>,
    tile_for: impl FnMut(usize) -> Tile,
) -> Result<(Vec<u8>, Geometry), String> {
    let (img, g) = render(grid, title, tile_for);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| format!("cannot encode the contact sheet: {e}"))?;
    Ok((out.into_inner(), g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::default_schema;
    use crate::sweep::spec::parse_vary;

    fn grid(args: &[&str]) -> Grid {
        Grid::new(
            args.iter()
                .map(|a| parse_vary(default_schema(), a).expect("axis"))
                .collect(),
        )
        .expect("grid")
    }

    #[test]
    fn one_field_is_a_wrapped_strip_with_tile_labels() {
        let g = grid(&["seed=1..10"]);
        let l = SheetLayout::new(&g);
        assert_eq!(l.kind, SheetKind::Strip);
        assert_eq!(l.blocks.len(), 1);
        assert_eq!(l.blocks[0].cells.len(), 2);
        assert_eq!(l.blocks[0].cells[1][1], Some(9));
        assert_eq!(l.blocks[0].cells[1][2], None);
        assert_eq!(l.tile_labels[9], "seed=10");
        assert_eq!(l.position(9), Some((0, 1, 1)));
        assert_eq!(l.cell_at(0, 0, 7), Some(7));
        let small = SheetLayout::new(&grid(&["seed=1..3"]));
        assert_eq!(small.max_cols(), 3);
    }

    #[test]
    fn two_fields_are_rows_and_columns_three_are_pages() {
        let g = grid(&["seed=1..2", "scale=2.5,3.5,4.5"]);
        let l = SheetLayout::new(&g);
        assert_eq!(l.kind, SheetKind::Grid);
        let b = &l.blocks[0];
        assert_eq!(b.row_labels, vec!["seed=1", "seed=2"]);
        assert_eq!(b.col_labels, vec!["scale=2.5", "scale=3.5", "scale=4.5"]);
        assert_eq!(b.cells[1][2], Some(5));
        assert!(l.tile_labels.is_empty());
        let g3 = grid(&["seed=1..2", "scale=2,3", "use_sr=true,false"]);
        let l3 = SheetLayout::new(&g3);
        assert_eq!(l3.blocks.len(), 2);
        assert_eq!(l3.blocks[1].title.as_deref(), Some("use_sr=false"));
        assert_eq!(l3.position(7), Some((1, 1, 1)));
    }

    #[test]
    fn geometry_adds_up() {
        let g = grid(&["seed=1..2", "scale=2.5,3.5,4.5"]);
        let l = SheetLayout::new(&g);
        let geo = Geometry::new(&l, 256, true);
        assert_eq!(geo.scale, 2);
        let last = geo.tile_rect(0, 1, 2);
        assert_eq!(last.x + last.w + geo.margin, geo.width);
        assert_eq!(last.y + last.h + geo.margin, geo.height);
        let first = geo.tile_rect(0, 0, 0);
        // The row labels fit left of the tiles, the column labels above.
        assert_eq!(first.x, geo.margin + geo.header_w);
        assert!(geo.header_w >= "seed=1".len() as u32 * 16);
        assert_eq!(first.y, geo.margin + geo.title_h + geo.col_header_h);
        let strip = Geometry::new(&SheetLayout::new(&grid(&["seed=1..3"])), 96, false);
        assert_eq!(strip.header_w, 0);
        let r = strip.tile_rect(0, 0, 2);
        assert_eq!(r.y + r.h + strip.tile_label_h + strip.margin, strip.height);
    }

    fn png(color: [u8; 3], w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([color[0] ^ (x as u8), color[1] ^ (y as u8), color[2]])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    #[test]
    fn tiles_show_images_failures_and_gaps() {
        let g = grid(&["seed=1..2", "scale=2,3"]);
        let (bytes, geo) = render_png(&g, Some("sw-test"), |cell| match cell {
            0 => Tile::Image(png([200, 30, 30], 300, 200)),
            1 => Tile::Failed("50411".into()),
            2 => Tile::Empty("not run".into()),
            _ => Tile::Image(b"not an image".to_vec()),
        })
        .expect("render");
        let img = image::load_from_memory(&bytes).expect("decodes").to_rgb8();
        assert_eq!((img.width(), img.height()), (geo.width, geo.height));
        let layout = SheetLayout::new(&g);
        let at = |cell: usize, dx: u32, dy: u32| {
            let (b, r, c) = layout.position(cell).expect("placed");
            let rect = geo.tile_rect(b, r, c);
            *img.get_pixel(rect.x + dx, rect.y + dy)
        };
        // The 3:2 image is letterboxed: tile background above, picture in the middle.
        assert_eq!(at(0, 128, 5), TILE_BACKGROUND);
        assert_ne!(at(0, 128, 128), TILE_BACKGROUND);
        assert_eq!(at(1, 128, 20), FAILED_FILL);
        assert_eq!(at(1, 1, 1), FAILED_MARK);
        assert_eq!(at(2, 5, 5), EMPTY_FILL);
        assert_eq!(
            at(3, 1, 1),
            FAILED_MARK,
            "undecodable bytes are a failed tile"
        );
    }

    #[test]
    fn a_decompression_bomb_is_not_decoded() {
        // A PNG header claiming 100000 x 100000 px.
        let mut bomb = png([0, 0, 0], 4, 4);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let g = grid(&["seed=1"]);
        let (img, geo) = render(&g, None, |_| Tile::Image(bomb.clone()));
        let r = geo.tile_rect(0, 0, 0);
        assert_eq!(*img.get_pixel(r.x + 1, r.y + 1), FAILED_MARK);
    }
}
