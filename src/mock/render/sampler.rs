//! Resampling the reference to the output, one output row at a time (centre crop, bilinear or
//! nearest taps).

/// A source rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Crop {
    pub(super) x: usize,
    pub(super) y: usize,
    pub(super) w: usize,
    pub(super) h: usize,
}

impl Crop {
    pub(super) fn whole(w: usize, h: usize) -> Self {
        Crop { x: 0, y: 0, w, h }
    }

    /// The largest centred rectangle of a `sw` x `sh` source with the aspect ratio of `w` x `h`.
    pub(super) fn centred(sw: usize, sh: usize, w: usize, h: usize) -> Self {
        let (sw64, sh64, w64, h64) = (sw as u64, sh as u64, w as u64, h as u64);
        let (cw, ch) = if sw64 * h64 > sh64 * w64 {
            (((sh64 * w64 + h64 / 2) / h64).clamp(1, sw64) as usize, sh)
        } else {
            (sw, ((sw64 * h64 + w64 / 2) / w64).clamp(1, sh64) as usize)
        };
        Crop {
            x: (sw - cw) / 2,
            y: (sh - ch) / 2,
            w: cw,
            h: ch,
        }
    }
}

/// Two source samples and the second one's weight, out of 256.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tap {
    pub(super) a: usize,
    b: usize,
    pub(super) f: u32,
}

/// Maps `out_len` output positions onto `len` source positions starting at `start`: bilinear
/// (centre-aligned, exact when the lengths match) or nearest.
pub(super) fn taps(out_len: usize, start: usize, len: usize, nearest: bool) -> Vec<Tap> {
    let ratio = len as f64 / out_len as f64;
    (0..out_len)
        .map(|i| {
            if nearest {
                let s = (((i as f64 + 0.5) * ratio) as usize).min(len - 1);
                return Tap {
                    a: start + s,
                    b: start + s,
                    f: 0,
                };
            }
            let pos = ((i as f64 + 0.5) * ratio - 0.5).clamp(0.0, (len - 1) as f64);
            let mut a = pos.floor() as usize;
            let mut f = ((pos - a as f64) * 256.0 + 0.5) as u32;
            if f >= 256 {
                a += 1;
                f = 0;
            }
            let a = a.min(len - 1);
            Tap {
                a: start + a,
                b: start + (a + 1).min(len - 1),
                f,
            }
        })
        .collect()
}

/// Produces the rows of a resampled image on demand, caching horizontally resampled source
/// rows, so no full-size intermediate image is ever built.
pub(super) struct RowSampler<'a> {
    src: &'a [u8],
    stride: usize,
    /// Horizontal taps per output byte, as byte offsets within a source row.
    byte_taps: Vec<Tap>,
    ys: Vec<Tap>,
    /// Byte offset of the crop within a source row when horizontal sampling is a plain copy.
    identity_x: Option<usize>,
    rows: [Vec<u8>; 2],
    row_ids: [usize; 2],
    out: Vec<u8>,
}

impl<'a> RowSampler<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        src: &'a [u8],
        sw: usize,
        sh: usize,
        channels: usize,
        crop: Crop,
        w: usize,
        h: usize,
        nearest: bool,
    ) -> Self {
        debug_assert_eq!(src.len(), sw * sh * channels);
        let identity_x = (crop.w == w).then_some(crop.x * channels);
        let row_len = w * channels;
        let byte_taps = taps(w, crop.x, crop.w, nearest)
            .iter()
            .flat_map(|t| {
                (0..channels).map(move |c| Tap {
                    a: t.a * channels + c,
                    b: t.b * channels + c,
                    f: t.f,
                })
            })
            .collect();
        RowSampler {
            src,
            stride: sw * channels,
            byte_taps,
            ys: taps(h, crop.y, crop.h, nearest),
            identity_x,
            rows: [vec![0; row_len], vec![0; row_len]],
            row_ids: [usize::MAX; 2],
            out: vec![0; row_len],
        }
    }

    pub(super) fn row(&mut self, y: usize) -> &[u8] {
        let tap = self.ys[y];
        let row_len = self.out.len();
        if let Some(offset) = self.identity_x
            && tap.f == 0
        {
            let start = tap.a * self.stride + offset;
            return &self.src[start..start + row_len];
        }
        self.ensure(0, tap.a);
        if tap.f == 0 {
            return &self.rows[0];
        }
        self.ensure(1, tap.b);
        blend_rows(&self.rows[0], &self.rows[1], tap.f, &mut self.out);
        &self.out
    }

    /// Puts source row `r`, horizontally resampled, into cache slot `slot`.
    fn ensure(&mut self, slot: usize, r: usize) {
        if self.row_ids[slot] == r {
            return;
        }
        let other = 1 - slot;
        if self.row_ids[other] == r {
            self.rows.swap(0, 1);
            self.row_ids.swap(0, 1);
            return;
        }
        let line = &self.src[r * self.stride..(r + 1) * self.stride];
        let dst: &mut [u8] = &mut self.rows[slot];
        let taps: &[Tap] = &self.byte_taps;
        // A `while` loop: in unoptimised (test) builds a range iterator costs a call per byte.
        let mut i = 0;
        while i < taps.len() {
            let Tap { a, b, f } = taps[i];
            dst[i] = ((u32::from(line[a]) * (256 - f) + u32::from(line[b]) * f + 128) >> 8) as u8;
            i += 1;
        }
        self.row_ids[slot] = r;
    }
}

/// `out = (top * (256 - f) + bottom * f + 128) >> 8` byte by byte, computed eight bytes at a
/// time in 16-bit lanes of a `u64` (no lane can carry: the sum stays below 65536). Unoptimised
/// test builds run per-byte loops many times slower.
fn blend_rows(top: &[u8], bottom: &[u8], f: u32, out: &mut [u8]) {
    const LANES: u64 = 0x00FF_00FF_00FF_00FF;
    const ROUND: u64 = 0x0080_0080_0080_0080;
    let (f64_, g64) = (u64::from(f), u64::from(256 - f));
    let words = out.len() / 8;
    let mut i = 0;
    while i < words {
        let range = i * 8..i * 8 + 8;
        let (mut t, mut b) = ([0u8; 8], [0u8; 8]);
        t.copy_from_slice(&top[range.clone()]);
        b.copy_from_slice(&bottom[range.clone()]);
        let (t, b) = (u64::from_le_bytes(t), u64::from_le_bytes(b));
        let even = ((t & LANES) * g64 + (b & LANES) * f64_ + ROUND) >> 8 & LANES;
        let odd = ((t >> 8 & LANES) * g64 + (b >> 8 & LANES) * f64_ + ROUND) >> 8 & LANES;
        out[range].copy_from_slice(&(even | odd << 8).to_le_bytes());
        i += 1;
    }
    for j in words * 8..out.len() {
        out[j] = ((u32::from(top[j]) * (256 - f) + u32::from(bottom[j]) * f + 128) >> 8) as u8;
    }
}
