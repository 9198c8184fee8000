//! The visible watermark: light text with a drop shadow on a faint box, in one of the API's
//! four corners, and the alpha blending it is drawn with.

use image::RgbImage;

use super::Watermark;
use super::glyphs::{glyph_mask, glyph_px, layout_text};
use super::maths::fixed;

fn blend_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3], alpha: u32) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let (x0, x1) = (x.clamp(0, iw), (x + w).clamp(0, iw));
    let (y0, y1) = (y.clamp(0, ih), (y + h).clamp(0, ih));
    let stride = iw as usize * 3;
    let buf: &mut [u8] = img;
    for py in y0..y1 {
        let row = &mut buf[py as usize * stride..(py as usize + 1) * stride];
        for px in x0..x1 {
            blend_px(row, px as usize, colour, alpha);
        }
    }
}

fn blend_px(row: &mut [u8], x: usize, colour: [u8; 3], alpha: u32) {
    let keep = 256 - alpha;
    for (c, &v) in colour.iter().enumerate() {
        let dst = &mut row[3 * x + c];
        *dst = ((u32::from(*dst) * keep + u32::from(v) * alpha + 128) >> 8) as u8;
    }
}

/// Blends a glyph mask, clipped, with its top-left corner at (x, y).
fn blend_mask(
    img: &mut RgbImage,
    mask: &[bool],
    px: u32,
    x: i64,
    y: i64,
    colour: [u8; 3],
    alpha: u32,
) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let size = i64::from(px);
    let stride = iw as usize * 3;
    let buf: &mut [u8] = img;
    for dy in (0 - y).max(0)..size.min(ih - y) {
        let py = (y + dy) as usize;
        let row = &mut buf[py * stride..(py + 1) * stride];
        for dx in (0 - x).max(0)..size.min(iw - x) {
            if mask[(dy * size + dx) as usize] {
                blend_px(row, (x + dx) as usize, colour, alpha);
            }
        }
    }
}

/// Draws the watermark: light text with a drop shadow on a faint dark box, all at the
/// watermark's opacity, `margin` px from the chosen corner. Text too wide for the image is
/// drawn smaller (down to 8 px glyphs), then left-aligned and clipped.
pub(super) fn draw_watermark(img: &mut RgbImage, watermark: &Watermark) {
    let opacity = if watermark.opacity.is_finite() {
        watermark.opacity.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let alpha = fixed(opacity);
    if alpha == 0 || watermark.text.trim().is_empty() || img.width() == 0 || img.height() == 0 {
        return;
    }
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let margin = ((w.min(h) as f32 / 40.0 + 0.5) as i64).max(1);
    let mut px = glyph_px(img.height());
    let (placed, text_w) = loop {
        let (placed, text_w) = layout_text(watermark.text, px);
        let pad = i64::from((px / 4).max(1));
        if px <= 8 || i64::from(text_w) + 2 * pad + 2 * margin <= w {
            break (placed, text_w);
        }
        px = if px > 16 { px - 16 } else { 8 };
    };
    let pad = i64::from((px / 4).max(1));
    let (box_w, box_h) = (i64::from(text_w) + 2 * pad, i64::from(px) + 2 * pad);
    let right = w - margin - box_w;
    let bottom = h - margin - box_h;
    let (mut x, y) = match watermark.position {
        1 => (margin, bottom),
        2 => (margin, margin),
        3 => (right, margin),
        _ => (right, bottom),
    };
    if box_w + 2 * margin > w {
        x = margin;
    }

    blend_rect(img, x, y, box_w, box_h, [0, 0, 0], alpha * 115 / 256);
    let shadow = i64::from((px / 16).max(1));
    let mut gx = x + pad;
    let gy = y + pad;
    for glyph in &placed {
        if gx >= w {
            break;
        }
        if glyph.bitmap != [0; 16] && gx + i64::from(px) + shadow > 0 {
            let mask = glyph_mask(&glyph.bitmap, px);
            blend_mask(
                img,
                &mask,
                px,
                gx + shadow,
                gy + shadow,
                [0, 0, 0],
                alpha * 180 / 256,
            );
            blend_mask(img, &mask, px, gx, gy, [250, 250, 250], alpha);
        }
        gx += i64::from(glyph.advance);
    }
}
