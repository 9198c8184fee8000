//! The watermark's glyphs: font8x8 characters doubled to 16x16, hand-drawn 16x16 bitmaps for
//! the CJK characters of the default text, a tofu for the rest, and their layout and scaling.

use font8x8::UnicodeFonts;

use super::MAX_WATERMARK_CHARS;

/// Parses 16 rows of 16 `#`/`.` cells into a bitmap (bit 15 = leftmost column).
const fn glyph_from_art(rows: [&str; 16]) -> [u16; 16] {
    let mut out = [0u16; 16];
    let mut r = 0;
    while r < 16 {
        let bytes = rows[r].as_bytes();
        assert!(bytes.len() == 16, "glyph rows are 16 cells wide");
        let mut c = 0;
        while c < 16 {
            if bytes[c] == b'#' {
                out[r] |= 1 << (15 - c);
            }
            c += 1;
        }
        r += 1;
    }
    out
}

/// Drawn for characters without a glyph: a hollow box.
pub(super) const TOFU: [u16; 16] = glyph_from_art([
    "................",
    "..############..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..#..........#..",
    "..############..",
    "................",
    "................",
]);

/// Hand-drawn 16x16 glyphs for the CJK characters of the default watermark (font8x8 has none).
pub(super) const CJK_GLYPHS: [(char, [u16; 16]); 2] = [
    (
        '生',
        glyph_from_art([
            "................",
            "....#...#.......",
            "....#...#.......",
            "...#....#.......",
            "...##########...",
            "..#.....#.......",
            ".#......#.......",
            "........#.......",
            "........#.......",
            "..###########...",
            "........#.......",
            "........#.......",
            "........#.......",
            ".##############.",
            "................",
            "................",
        ]),
    ),
    (
        '成',
        glyph_from_art([
            ".........#..#...",
            ".........#...#..",
            ".........#......",
            "..#############.",
            "..#.......#.....",
            "..#.......#...#.",
            "..#.......#..#..",
            "..####.....##...",
            "..#..#.....#....",
            "..#..#....#.#...",
            "..#..#...#..#...",
            "..#..#..#....#..",
            ".#..##.#.....#.#",
            ".#............##",
            "#.............#.",
            "................",
        ]),
    ),
];

/// A character's 16x16 bitmap, whether it is a wide (CJK) glyph, and whether it is the tofu.
pub(super) fn glyph(c: char) -> ([u16; 16], bool) {
    if c.is_whitespace() {
        return ([0; 16], false);
    }
    if let Some((_, bitmap)) = CJK_GLYPHS.iter().find(|(k, _)| *k == c) {
        return (embolden(bitmap), true);
    }
    if c.is_control() {
        return (TOFU, false);
    }
    let small = font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        .or_else(|| font8x8::GREEK_FONTS.get(c))
        .or_else(|| font8x8::BOX_FONTS.get(c))
        .or_else(|| font8x8::BLOCK_FONTS.get(c))
        .or_else(|| font8x8::HIRAGANA_FONTS.get(c))
        .or_else(|| font8x8::MISC_FONTS.get(c));
    match small {
        // font8x8 rows have bit 0 leftmost; double each pixel into a 2x2 block.
        Some(rows) => {
            let mut out = [0u16; 16];
            for (r, byte) in rows.iter().enumerate() {
                let mut wide = 0u16;
                for col in 0..8 {
                    if byte >> col & 1 == 1 {
                        wide |= 0b11 << (14 - 2 * col);
                    }
                }
                out[2 * r] = wide;
                out[2 * r + 1] = wide;
            }
            (out, false)
        }
        None => (TOFU, false),
    }
}

/// Thickens strokes by one cell to the right, closer to font8x8's heavy Latin letters.
fn embolden(bitmap: &[u16; 16]) -> [u16; 16] {
    bitmap.map(|row| row | row >> 1)
}

/// Glyph height in pixels for an image `h` px tall: about 1/25 of it, in whole multiples of the
/// 16-cell grid so strokes stay even, and never below 8 px.
pub(super) fn glyph_px(h: u32) -> u32 {
    let target = h as f32 / 25.0;
    if target < 12.0 {
        8
    } else {
        16 * ((target / 16.0 + 0.5) as u32).max(1)
    }
}

/// One laid-out character: its bitmap and horizontal advance.
pub(super) struct Placed {
    pub(super) bitmap: [u16; 16],
    pub(super) advance: u32,
}

pub(super) fn layout_text(text: &str, px: u32) -> (Vec<Placed>, u32) {
    let gap = (px / 16).max(1);
    let mut width = 0;
    let placed: Vec<Placed> = text
        .chars()
        .take(MAX_WATERMARK_CHARS)
        .map(|c| {
            let (bitmap, wide) = glyph(c);
            let advance = if wide { px + gap } else { px };
            width += advance;
            Placed { bitmap, advance }
        })
        .collect();
    (placed, width)
}

/// Which pixels of a `px` x `px` cell a glyph covers: each pixel covers the bitmap cells under
/// it (a single cell when enlarging, several when shrinking, so thin strokes never vanish).
pub(super) fn glyph_mask(bitmap: &[u16; 16], px: u32) -> Vec<bool> {
    let px = px as usize;
    let span = |i: usize| {
        let lo = i * 16 / px;
        (lo, ((i + 1) * 16 / px).max(lo + 1).min(16))
    };
    let mut mask = vec![false; px * px];
    for dy in 0..px {
        let (r0, r1) = span(dy);
        let rows = bitmap[r0..r1].iter().fold(0u16, |acc, row| acc | row);
        for dx in 0..px {
            let (c0, c1) = span(dx);
            let cols = (0xFFFFu32 >> c0 & !(0xFFFFu32 >> c1)) as u16;
            mask[dy * px + dx] = rows & cols != 0;
        }
    }
    mask
}
