//! Style: the palette and pattern family a prompt picks, steered by a colour word.

use super::maths::{SplitMix, digest, hsv, to_u8};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Stripes,
    Rings,
    Waves,
    Checks,
    Blobs,
    Plasma,
    Mosaic,
    Spiral,
}

const FAMILIES: [Family; 8] = [
    Family::Stripes,
    Family::Rings,
    Family::Waves,
    Family::Checks,
    Family::Blobs,
    Family::Plasma,
    Family::Mosaic,
    Family::Spiral,
];

pub(super) struct Style {
    pub(super) family: Family,
    /// 256 colours from dark to light.
    pub(super) palette: [[u8; 3]; 256],
}

/// Colour words (English and Chinese) and the hue, in turns, they pull the palette to.
const COLOUR_WORDS: [(&str, f32); 18] = [
    ("red", 0.0),
    ("红", 0.0),
    ("orange", 0.07),
    ("橙", 0.07),
    ("gold", 0.12),
    ("金", 0.12),
    ("yellow", 0.15),
    ("黄", 0.15),
    ("green", 0.33),
    ("绿", 0.33),
    ("cyan", 0.5),
    ("青", 0.5),
    ("blue", 0.61),
    ("蓝", 0.61),
    ("purple", 0.78),
    ("紫", 0.78),
    ("pink", 0.92),
    ("粉", 0.92),
];

impl Style {
    pub(super) fn from_prompt(prompt: &str) -> Self {
        let d = digest("volcv/mock/render/style", &[prompt.as_bytes()]);
        let family = FAMILIES[usize::from(d[0]) % FAMILIES.len()];
        let mut rng = SplitMix::from_digest(&d);
        let hint = colour_hint(prompt);
        let base = match hint {
            Some(hue) => hue + rng.range(-0.02, 0.02),
            None => rng.unit(),
        };
        let offsets: [f32; 5] = match rng.below(4) {
            0 => [-0.08, -0.04, 0.0, 0.04, 0.08], // analogous
            1 => [0.0, 0.0, 0.5, 0.5, 0.48],      // complementary
            2 => [0.0, 0.333, 0.333, 0.667, 0.0], // triadic
            _ => [0.0, 0.42, 0.58, 0.0, 0.5],     // split complementary
        };
        // With a colour word, the mid-tones carry that hue.
        let offsets = if hint.is_some() {
            [offsets[0] * 0.5, offsets[1] * 0.25, 0.0, 0.0, offsets[4]]
        } else {
            offsets
        };
        const VALUES: [f32; 5] = [0.10, 0.34, 0.58, 0.80, 0.97];
        const SATURATIONS: [f32; 5] = [0.80, 0.85, 0.78, 0.55, 0.22];
        let saturation = rng.range(0.75, 1.0);
        let mut stops = [[0.0f32; 3]; 5];
        for (i, stop) in stops.iter_mut().enumerate() {
            *stop = hsv(base + offsets[i], SATURATIONS[i] * saturation, VALUES[i]);
        }
        let mut palette = [[0u8; 3]; 256];
        for (i, colour) in palette.iter_mut().enumerate() {
            let pos = i as f32 / 255.0 * 4.0;
            let k = (pos.floor() as usize).min(3);
            let f = pos - k as f32;
            for c in 0..3 {
                colour[c] = to_u8(stops[k][c] + (stops[k + 1][c] - stops[k][c]) * f);
            }
        }
        Style { family, palette }
    }
}

/// The hue of the first colour word in the prompt (English words must stand alone).
pub(super) fn colour_hint(prompt: &str) -> Option<f32> {
    let lower = prompt.to_lowercase();
    let mut best: Option<(usize, f32)> = None;
    for (word, hue) in COLOUR_WORDS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(word) {
            let start = from + found;
            let end = start + word.len();
            let standalone = !word.is_ascii()
                || (!lower[..start]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
                    && !lower[end..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric));
            if standalone {
                if best.is_none_or(|(pos, _)| start < pos) {
                    best = Some((start, hue));
                }
                break;
            }
            from = end;
        }
    }
    best.map(|(_, hue)| hue)
}
