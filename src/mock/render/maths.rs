//! Hashing, the SplitMix PRNG and the portable maths the renderer uses: trigonometry in turns,
//! smoothstep, HSV, all from the basic IEEE-754 operations so that pixels match on every
//! platform.

use sha2::{Digest, Sha256};

/// SHA-256 over a domain tag and length-prefixed parts.
pub(super) fn digest(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SplitMix64: a tiny, portable generator, seeded from a digest.
pub(super) struct SplitMix(u64);

impl SplitMix {
    pub(super) fn from_digest(d: &[u8; 32]) -> Self {
        let mut state = 0u64;
        for chunk in d.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state = mix64(state ^ u64::from_le_bytes(word));
        }
        SplitMix(state)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub(super) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n.
    pub(super) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// sin(2πx), from basic operations only (the platform's `sin` may differ between systems).
pub(super) fn sin_turns(x: f32) -> f32 {
    let mut u = x - x.floor();
    let mut sign = 1.0;
    if u >= 0.5 {
        u -= 0.5;
        sign = -1.0;
    }
    if u > 0.25 {
        u = 0.5 - u;
    }
    let z = u * std::f32::consts::TAU;
    let z2 = z * z;
    let poly = 1.0
        + z2 * (-1.0 / 6.0 + z2 * (1.0 / 120.0 + z2 * (-1.0 / 5040.0 + z2 * (1.0 / 362_880.0))));
    sign * z * poly
}

pub(super) fn cos_turns(x: f32) -> f32 {
    sin_turns(x + 0.25)
}

/// The angle of (x, y) in turns, in [0, 1); accurate to about 1e-5 rad.
pub(super) fn atan2_turns(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI, TAU};
    let (ax, ay) = (x.abs(), y.abs());
    let big = ax.max(ay);
    if big == 0.0 {
        return 0.0;
    }
    let a = ax.min(ay) / big;
    let s = a * a;
    let mut r = ((-0.046_496_475 * s + 0.159_314_22) * s - 0.327_622_76) * s * a + a;
    if ay > ax {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        r = -r;
    }
    let t = r / TAU;
    if t < 0.0 { t + 1.0 } else { t }
}

pub(super) fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// HSV (hue in turns) to RGB, all in 0..=1.
pub(super) fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = (h - h.floor()) * 6.0;
    // At most 5: a hue a hair below a whole turn can round up to exactly 6.
    let sector = h6.floor().min(5.0);
    let f = h6 - sector;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match sector as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

pub(super) fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// `v` in 0..=1 as a fixed-point fraction of 256.
pub(super) fn fixed(v: f32) -> u32 {
    (v.clamp(0.0, 1.0) * 256.0 + 0.5) as u32
}
