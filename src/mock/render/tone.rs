//! Tone curve, grain, the face oval, and the synthetic portrait that stands in for a URL
//! reference.

use image::RgbImage;

use super::maths::{SplitMix, digest, fixed, hsv, smoothstep, to_u8};

pub(super) const NOISE_PAD: usize = 64;
pub(super) const MAX_NOISE: u32 = 48;
const NOISE_LEN: usize = 8192;
pub(super) const NOISE_MASK: usize = NOISE_LEN - 1;

/// Tone curve indexed by `level + NOISE_PAD + grain`, clamping what grain pushes out of range.
/// cfg_rescale 0.7 is the identity; lower brightens and flattens, higher darkens and hardens.
pub(super) fn tone_lut(cfg: f32) -> [u8; 256 + 2 * NOISE_PAD] {
    let bias = 0.5 + (0.7 - cfg) * 0.45;
    let contrast = 1.0 + (cfg - 0.7) * 0.8;
    let mut lut = [0u8; 256 + 2 * NOISE_PAD];
    for (i, slot) in lut.iter_mut().enumerate() {
        let v = (i as f32 - NOISE_PAD as f32).clamp(0.0, 255.0) / 255.0;
        // Schlick's bias curve: v stays 0 and 1, mid-tones move.
        let exposed = v / ((1.0 / bias - 2.0) * (1.0 - v) + 1.0);
        *slot = to_u8(0.5 + (exposed - 0.5) * contrast);
    }
    lut
}

/// Triangular grain in -amplitude..=amplitude, stored offset by `NOISE_PAD`.
pub(super) fn noise_table(amplitude: u32, rng: &mut SplitMix) -> Vec<u8> {
    let span = u64::from(2 * amplitude + 1);
    (0..NOISE_LEN)
        .map(|_| {
            let r = rng.next_u64();
            let sum = (r & 0xFFFF_FFFF) % span + (r >> 32) % span;
            (sum / 2 + NOISE_PAD as u64 - u64::from(amplitude)) as u8
        })
        .collect()
}

// The "face": an upright oval above the centre, in units of the shorter side.
const FACE_CX: f32 = 0.5;
const FACE_CY: f32 = 0.45;
const FACE_RX: f32 = 0.2;
const FACE_RY: f32 = 0.27;
const OVAL_ONE: u32 = 1 << 12;

/// Where and how strongly the reference's own pixels are restored.
pub(super) struct FaceOval {
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
    /// Squared normalised distance along x, times `OVAL_ONE`, for x0..x1.
    dx2: Vec<u32>,
    dy2: Vec<u32>,
    /// Restoration weight (out of 256) by squared distance / 16.
    weight: [u32; 256],
}

impl FaceOval {
    pub(super) fn new(w: usize, h: usize, id: f32) -> Option<Self> {
        let strength = fixed(id);
        if strength == 0 {
            return None;
        }
        let m = w.min(h) as f32;
        let (cx, cy) = (FACE_CX * w as f32, FACE_CY * h as f32);
        let (rx, ry) = (FACE_RX * m, FACE_RY * m);
        let span = |c: f32, r: f32, len: usize| {
            let lo = (c - r).floor().max(0.0) as usize;
            let hi = ((c + r).ceil().max(0.0) as usize).min(len);
            (lo.min(hi), hi)
        };
        let (x0, x1) = span(cx, rx, w);
        let (y0, y1) = span(cy, ry, h);
        let dist = |i: usize, c: f32, r: f32| {
            let d = (i as f32 + 0.5 - c) / r;
            (d * d * OVAL_ONE as f32) as u32
        };
        let dx2 = (x0..x1).map(|x| dist(x, cx, rx)).collect();
        let dy2 = (y0..y1).map(|y| dist(y, cy, ry)).collect();
        let mut weight = [0u32; 256];
        for (k, slot) in weight.iter_mut().enumerate() {
            let d = ((k as f32 + 0.5) / 256.0).sqrt();
            let inside = 1.0 - smoothstep(0.55, 1.0, d);
            *slot = (inside * strength as f32 + 0.5) as u32;
        }
        Some(FaceOval {
            x0,
            x1,
            y0,
            y1,
            dx2,
            dy2,
            weight,
        })
    }

    /// Blends row `y` of the output towards the reference row inside the oval.
    pub(super) fn restore_row(&self, y: usize, out: &mut [u8], reference: &[u8]) {
        if y < self.y0 || y >= self.y1 {
            return;
        }
        let dy2 = self.dy2[y - self.y0];
        let dx2: &[u32] = &self.dx2;
        // `while`, not `for`: see `RowSampler::ensure`.
        let mut x = self.x0;
        while x < self.x1 {
            let s = dx2[x - self.x0] + dy2;
            if s < OVAL_ONE {
                let m = self.weight[(s >> 4) as usize];
                let keep = 256 - m;
                let i = 3 * x;
                let (r, g, b) = (
                    u32::from(out[i]),
                    u32::from(out[i + 1]),
                    u32::from(out[i + 2]),
                );
                out[i] = ((r * keep + u32::from(reference[i]) * m + 128) >> 8) as u8;
                out[i + 1] = ((g * keep + u32::from(reference[i + 1]) * m + 128) >> 8) as u8;
                out[i + 2] = ((b * keep + u32::from(reference[i + 2]) * m + 128) >> 8) as u8;
            }
            x += 1;
        }
    }
}

/// A small synthetic head-and-shoulders portrait standing in for an unreachable URL, with the
/// output's aspect ratio (it is upscaled like any reference).
pub(super) fn synthetic_portrait(url: &str, w: usize, h: usize) -> RgbImage {
    let d = digest("volcv/mock/render/url", &[url.as_bytes()]);
    let mut rng = SplitMix::from_digest(&d);
    let longest = w.max(h).min(256);
    let (sw, sh) = if w >= h {
        (longest, ((h * longest + w / 2) / w).max(1))
    } else {
        (((w * longest + h / 2) / h).max(1), longest)
    };

    const SKINS: [[f32; 3]; 4] = [
        [0.96, 0.80, 0.69],
        [0.87, 0.67, 0.53],
        [0.69, 0.48, 0.34],
        [0.45, 0.31, 0.22],
    ];
    const HAIRS: [[f32; 3]; 4] = [
        [0.10, 0.08, 0.07],
        [0.35, 0.22, 0.12],
        [0.78, 0.62, 0.36],
        [0.55, 0.20, 0.10],
    ];
    let bg_hue = rng.unit();
    let top = hsv(bg_hue, rng.range(0.2, 0.5), rng.range(0.75, 0.95));
    let bottom = hsv(
        bg_hue + rng.range(-0.15, 0.15),
        rng.range(0.4, 0.7),
        rng.range(0.3, 0.5),
    );
    let cloth = hsv(rng.unit(), rng.range(0.45, 0.8), rng.range(0.35, 0.7));
    let skin = SKINS[rng.below(4) as usize];
    let hair = HAIRS[rng.below(4) as usize];
    let eyes = [0.12, 0.09, 0.08];
    let mouth = [0.62, 0.22, 0.24];

    let m = sw.min(sh) as f32;
    let (cx, cy) = (FACE_CX * sw as f32, FACE_CY * sh as f32);
    let (hx, hy) = (0.9 * FACE_RX * m, 0.9 * FACE_RY * m);
    let inside = |x: f32, y: f32, ex: f32, ey: f32, rx: f32, ry: f32| {
        let (dx, dy) = ((x - ex) / rx, (y - ey) / ry);
        dx * dx + dy * dy <= 1.0
    };

    let mut img = RgbImage::new(sw as u32, sh as u32);
    for (px, py, pixel) in img.enumerate_pixels_mut() {
        let (x, y) = (px as f32 + 0.5, py as f32 + 0.5);
        let v = y / sh as f32;
        let mut colour = [0.0f32; 3];
        for c in 0..3 {
            colour[c] = top[c] + (bottom[c] - top[c]) * v;
        }
        let head = inside(x, y, cx, cy, hx, hy);
        let hair_cap = inside(x, y, cx, cy - 0.05 * m, hx * 1.12, hy * 1.05);
        if inside(x, y, cx, cy + 0.66 * m, 0.44 * m, 0.34 * m) {
            let shade = 1.0 - 0.35 * ((x - cx) / (0.44 * m)).abs();
            colour = cloth.map(|c| c * shade);
        } else if (x - cx).abs() < 0.08 * m && y > cy && y < cy + 0.4 * m {
            colour = skin.map(|c| c * 0.8);
        }
        if hair_cap && (!head || y < cy - 0.13 * m) {
            colour = hair;
        } else if head {
            let light = 1.05 - 0.18 * ((x - cx) / hx + (y - cy) / hy);
            colour = skin.map(|c| c * light);
            let eye_y = cy - 0.03 * m;
            if inside(x, y, cx - 0.075 * m, eye_y, 0.025 * m, 0.02 * m)
                || inside(x, y, cx + 0.075 * m, eye_y, 0.025 * m, 0.02 * m)
            {
                colour = eyes;
            } else if inside(x, y, cx, cy + 0.12 * m, 0.065 * m, 0.018 * m) {
                colour = mouth;
            }
        }
        pixel.0 = colour.map(to_u8);
    }
    img
}
