//! Patterns: a scalar field in 0..=1 of one of the style's families, laid out by the seed.

use super::maths::{SplitMix, atan2_turns, cos_turns, sin_turns, smoothstep, to_u8};
use super::style::Family;

const MOSAIC_SITES: usize = 14;
const BLOBS: usize = 6;

pub(super) enum Pattern {
    Stripes {
        dir: (f32, f32),
        freq: f32,
        phase: f32,
        warp: f32,
        warp_freq: f32,
        warp_phase: f32,
    },
    Rings {
        centres: [(f32, f32); 2],
        freq: f32,
        phases: [f32; 2],
    },
    Waves {
        dir: (f32, f32),
        freq: f32,
        amp: f32,
        warp_freq: f32,
        phases: [f32; 3],
    },
    Checks {
        dir: (f32, f32),
        freq: f32,
        phases: [f32; 2],
    },
    Blobs {
        balls: [(f32, f32, f32); BLOBS],
        height: f32,
    },
    Plasma {
        freqs: [f32; 4],
        phases: [f32; 4],
        centre: (f32, f32),
    },
    Mosaic {
        sites: [(f32, f32, f32); MOSAIC_SITES],
    },
    Spiral {
        centre: (f32, f32),
        arms: f32,
        twist: f32,
        phase: f32,
    },
}

impl Pattern {
    /// Coordinates are in units of the output's shorter side: x in 0..=w/m, y in 0..=h/m.
    pub(super) fn new(family: Family, rng: &mut SplitMix, w: usize, h: usize) -> Self {
        let m = w.min(h) as f32;
        let (span_x, span_y) = (w as f32 / m, h as f32 / m);
        let dir = |rng: &mut SplitMix| {
            let angle = rng.unit();
            (cos_turns(angle), sin_turns(angle))
        };
        match family {
            Family::Stripes => Pattern::Stripes {
                dir: dir(rng),
                freq: rng.range(3.0, 8.0),
                phase: rng.unit(),
                warp: rng.range(0.05, 0.3),
                warp_freq: rng.range(0.5, 2.0),
                warp_phase: rng.unit(),
            },
            Family::Rings => {
                let centre = |rng: &mut SplitMix| {
                    (
                        rng.range(0.15, 0.85) * span_x,
                        rng.range(0.15, 0.85) * span_y,
                    )
                };
                Pattern::Rings {
                    centres: [centre(rng), centre(rng)],
                    freq: rng.range(3.0, 7.0),
                    phases: [rng.unit(), rng.unit()],
                }
            }
            Family::Waves => Pattern::Waves {
                dir: dir(rng),
                freq: rng.range(2.0, 5.0),
                amp: rng.range(0.4, 1.0),
                warp_freq: rng.range(0.6, 1.8),
                phases: [rng.unit(), rng.unit(), rng.unit()],
            },
            Family::Checks => Pattern::Checks {
                dir: dir(rng),
                freq: rng.range(2.0, 5.0),
                phases: [rng.unit(), rng.unit()],
            },
            Family::Blobs => {
                let mut balls = [(0.0, 0.0, 0.0); BLOBS];
                for ball in &mut balls {
                    *ball = (
                        rng.unit() * span_x,
                        rng.unit() * span_y,
                        rng.range(0.08, 0.22),
                    );
                }
                Pattern::Blobs {
                    balls,
                    height: span_y,
                }
            }
            Family::Plasma => Pattern::Plasma {
                freqs: [
                    rng.range(1.0, 3.0),
                    rng.range(1.0, 3.0),
                    rng.range(1.0, 2.5),
                    rng.range(2.0, 5.0),
                ],
                phases: [rng.unit(), rng.unit(), rng.unit(), rng.unit()],
                centre: (rng.unit() * span_x, rng.unit() * span_y),
            },
            Family::Mosaic => {
                let mut sites = [(0.0, 0.0, 0.0); MOSAIC_SITES];
                for site in &mut sites {
                    *site = (
                        rng.unit() * span_x,
                        rng.unit() * span_y,
                        rng.range(0.25, 1.0),
                    );
                }
                Pattern::Mosaic { sites }
            }
            Family::Spiral => Pattern::Spiral {
                centre: (rng.range(0.3, 0.7) * span_x, rng.range(0.3, 0.7) * span_y),
                arms: (1 + rng.below(5)) as f32,
                twist: rng.range(2.0, 6.0),
                phase: rng.unit(),
            },
        }
    }

    fn eval(&self, x: f32, y: f32) -> f32 {
        match self {
            Pattern::Stripes {
                dir,
                freq,
                phase,
                warp,
                warp_freq,
                warp_phase,
            } => {
                let (c, s) = *dir;
                let along = x * c + y * s;
                let across = y * c - x * s;
                let bend = warp * sin_turns(warp_freq * across + warp_phase);
                0.5 + 0.5 * sin_turns(freq * along + bend + phase)
            }
            Pattern::Rings {
                centres,
                freq,
                phases,
            } => {
                let d = |(cx, cy): (f32, f32)| ((x - cx) * (x - cx) + (y - cy) * (y - cy)).sqrt();
                0.5 + 0.3 * sin_turns(freq * d(centres[0]) + phases[0])
                    + 0.2 * sin_turns(1.3 * freq * d(centres[1]) + phases[1])
            }
            Pattern::Waves {
                dir,
                freq,
                amp,
                warp_freq,
                phases,
            } => {
                let (c, s) = *dir;
                let along = x * c + y * s;
                let across = y * c - x * s;
                let main = sin_turns(
                    freq * across + amp * sin_turns(warp_freq * along + phases[1]) + phases[0],
                );
                let ripple = sin_turns(
                    2.5 * freq * across
                        + 0.5 * amp * sin_turns(2.0 * warp_freq * along + phases[2]),
                );
                0.5 + 0.4 * main + 0.1 * ripple
            }
            Pattern::Checks { dir, freq, phases } => {
                let (c, s) = *dir;
                let u = x * c + y * s;
                let v = y * c - x * s;
                let prod = sin_turns(freq * u + phases[0]) * sin_turns(freq * v + phases[1]);
                0.5 + 0.5 * (prod * 2.5).clamp(-1.0, 1.0)
            }
            Pattern::Blobs { balls, height } => {
                let mut field = 0.0;
                for &(bx, by, r) in balls {
                    let d2 = (x - bx) * (x - bx) + (y - by) * (y - by);
                    field += r * r / (d2 + 0.001);
                }
                0.12 * y / height + 0.88 * smoothstep(0.6, 1.4, field)
            }
            Pattern::Plasma {
                freqs,
                phases,
                centre,
            } => {
                let r = ((x - centre.0) * (x - centre.0) + (y - centre.1) * (y - centre.1)).sqrt();
                0.5 + 0.125
                    * (sin_turns(freqs[0] * x + phases[0])
                        + sin_turns(freqs[1] * y + phases[1])
                        + sin_turns(freqs[2] * (x + y) + phases[2])
                        + sin_turns(freqs[3] * r + phases[3]))
            }
            Pattern::Mosaic { sites } => {
                let (mut d1, mut d2, mut value) = (f32::MAX, f32::MAX, 0.0);
                for &(sx, sy, v) in sites {
                    let d = ((x - sx) * (x - sx) + (y - sy) * (y - sy)).sqrt();
                    if d < d1 {
                        d2 = d1;
                        d1 = d;
                        value = v;
                    } else if d < d2 {
                        d2 = d;
                    }
                }
                value * ((d2 - d1) * 18.0).clamp(0.0, 1.0)
            }
            Pattern::Spiral {
                centre,
                arms,
                twist,
                phase,
            } => {
                let (dx, dy) = (x - centre.0, y - centre.1);
                let r = (dx * dx + dy * dy).sqrt();
                0.5 + 0.5 * sin_turns(arms * atan2_turns(dy, dx) + twist * r + phase)
            }
        }
    }
}

/// The pattern sampled on a coarse grid, contrast applied, as grey levels.
pub(super) struct FieldGrid {
    pub(super) values: Vec<u8>,
    pub(super) width: usize,
    pub(super) height: usize,
}

impl FieldGrid {
    pub(super) fn new(pattern: &Pattern, w: usize, h: usize, steps: u32, contrast: f32) -> Self {
        let longest = ((24 * steps) as usize).clamp(24, 320).min(w.max(h));
        let (gw, gh) = if w >= h {
            (longest, ((h * longest + w / 2) / w).max(1))
        } else {
            (((w * longest + h / 2) / h).max(1), longest)
        };
        let m = w.min(h) as f32;
        let (span_x, span_y) = (w as f32 / m, h as f32 / m);
        let mut values = Vec::with_capacity(gw * gh);
        for gy in 0..gh {
            let y = (gy as f32 + 0.5) / gh as f32 * span_y;
            for gx in 0..gw {
                let x = (gx as f32 + 0.5) / gw as f32 * span_x;
                let t = pattern.eval(x, y);
                values.push(to_u8(0.5 + (t - 0.5) * contrast));
            }
        }
        FieldGrid {
            values,
            width: gw,
            height: gh,
        }
    }
}
