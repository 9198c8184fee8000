//! The mock's image generator for `high_aes_ip_v20`.
//!
//! The real model draws a new picture whose subject looks like the subject of one reference
//! image and which follows a prompt. Offline there is no model, so [`render`] fakes one with a
//! pure, deterministic function whose every parameter visibly changes the picture:
//!
//! * The **prompt** (hashed with SHA-256) picks a colour palette and a pattern family (stripes,
//!   rings, waves, checks, blobs, plasma, mosaic, spiral); a colour word in the prompt ("red",
//!   "蓝", ...) steers the palette's hue. The **seed** (hashed together with the prompt) picks
//!   the pattern's layout: frequencies, angles, centres, phases.
//! * The **reference** is centre-cropped to the output's aspect ratio, resampled to the output
//!   size, recoloured towards the palette and blended with the pattern. `ref_ip_weight` is the
//!   reference's share of the whole picture (0 = pure pattern, 1 = mostly reference);
//!   `ref_id_weight` restores the reference's exact pixels inside a central oval (the "face").
//!   A URL reference cannot be fetched offline, so a synthetic portrait derived from a hash of
//!   the URL stands in for it; without a reference the picture is the pattern alone.
//! * `scale` sets the pattern's contrast (1 = faint and soft, 10 = hard-edged), `cfg_rescale`
//!   the tone curve (0 = bright and washed out, 0.7 = neutral, 1 = dark and contrasty), and
//!   `ddim_steps` the finish: few steps give a coarse, blocky pattern with heavy grain, many steps
//!   a fine, smooth one.
//! * An optional visible watermark is drawn last, in the API's four corners.
//!
//! Only integer arithmetic and the basic IEEE-754 operations (`+ - * /`, `sqrt`, `floor`) are
//! used, never the platform's `sin`/`pow`, so a given [`RenderSpec`] yields the same pixels on
//! every platform, and [`render_jpeg`] the same bytes.

use std::fmt;

use font8x8::UnicodeFonts;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageError, RgbImage};
use sha2::{Digest, Sha256};

/// JPEG quality used by [`render_jpeg`].
pub const JPEG_QUALITY: u8 = 88;

/// Largest reference side, in pixels, that [`decode_reference`] accepts.
pub const MAX_REFERENCE_SIDE: u32 = 4096;

/// Largest reference area, in pixels, that [`decode_reference`] accepts.
pub const MAX_REFERENCE_PIXELS: u64 = 20_000_000;

/// Most bytes the image decoders may allocate for one reference image.
const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// Watermark characters beyond this many are ignored (they could never fit on the image).
const MAX_WATERMARK_CHARS: usize = 256;

// The API's defaults, used when a knob is not a finite number.
const DEFAULT_SCALE: f32 = 3.5;
const DEFAULT_DDIM_STEPS: u32 = 9;
const DEFAULT_CFG_RESCALE: f32 = 0.7;
const DEFAULT_REF_IP_WEIGHT: f32 = 0.7;
const DEFAULT_REF_ID_WEIGHT: f32 = 0.36;

/// The reference image the generated subject should resemble.
#[derive(Clone, Copy)]
pub enum Reference<'a> {
    /// No reference: the picture comes from the prompt and the seed alone.
    None,
    /// A decoded reference image (see [`decode_reference`]). An empty (0-pixel) image counts as
    /// no reference.
    Image(&'a RgbImage),
    /// A reference given by URL. The offline mock cannot fetch it, so a synthetic portrait
    /// derived from a hash of the URL stands in for it.
    Url(&'a str),
}

impl fmt::Debug for Reference<'_> {
    // Hand-written so that debug output shows the image's size, not its pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::None => f.write_str("None"),
            Reference::Image(img) => write!(f, "Image({}x{})", img.width(), img.height()),
            Reference::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// A visible watermark (the API's `logo_info`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermark<'a> {
    /// The text to draw: `logo_text_content` when non-empty, otherwise
    /// [`default_watermark_text`]. Blank text draws nothing; characters without a glyph draw
    /// as a hollow box.
    pub text: &'a str,
    /// Corner: 0 bottom-right, 1 bottom-left, 2 top-left, 3 top-right; other values fall back
    /// to bottom-right (the API's default).
    pub position: u8,
    /// 0 (invisible) to 1 (opaque); values outside are clamped, a non-finite value counts as 1.
    pub opacity: f32,
}

/// Everything that determines a mock `high_aes_ip_v20` picture.
///
/// Knobs outside their documented range are clamped into it; non-finite ones fall back to the
/// API's defaults.
#[derive(Debug, Clone, Copy)]
pub struct RenderSpec<'a> {
    /// Output width in pixels, after any super-resolution doubling.
    pub width: u32,
    /// Output height in pixels, after any super-resolution doubling.
    pub height: u32,
    /// The seed actually used (the caller resolves the API's -1 to a concrete value).
    pub seed: u64,
    /// The text prompt.
    pub prompt: &'a str,
    /// The reference image.
    pub reference: Reference<'a>,
    /// Text strength, 1..=10: the pattern's contrast.
    pub scale: f32,
    /// Diffusion steps, 1..=200: few steps look coarse and grainy, many look smooth.
    pub ddim_steps: u32,
    /// 0..=1: tone curve (0 bright and flat, 0.7 neutral, 1 dark and contrasty).
    pub cfg_rescale: f32,
    /// 0..=1: the reference's share of the whole picture.
    pub ref_ip_weight: f32,
    /// 0..=1: how exactly the central oval (the "face") keeps the reference's pixels.
    pub ref_id_weight: f32,
    /// The visible watermark, if any.
    pub watermark: Option<Watermark<'a>>,
}

impl<'a> RenderSpec<'a> {
    /// A spec of the given size and prompt with the API's defaults for everything else: seed 0,
    /// no reference, scale 3.5, 9 steps, cfg_rescale 0.7, ref_ip_weight 0.7, ref_id_weight
    /// 0.36 and no watermark.
    pub fn new(width: u32, height: u32, prompt: &'a str) -> Self {
        RenderSpec {
            width,
            height,
            seed: 0,
            prompt,
            reference: Reference::None,
            scale: DEFAULT_SCALE,
            ddim_steps: DEFAULT_DDIM_STEPS,
            cfg_rescale: DEFAULT_CFG_RESCALE,
            ref_ip_weight: DEFAULT_REF_IP_WEIGHT,
            ref_id_weight: DEFAULT_REF_ID_WEIGHT,
            watermark: None,
        }
    }
}

/// Why a reference could not be decoded or a picture could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The bytes are neither a JPEG nor a PNG.
    #[error("the reference image is not a JPEG or PNG")]
    UnsupportedFormat,
    /// The image's header claims a size beyond [`MAX_REFERENCE_SIDE`] or
    /// [`MAX_REFERENCE_PIXELS`]; nothing was decoded.
    #[error(
        "the reference image is {width}x{height} px; at most {MAX_REFERENCE_SIDE} px a side and {MAX_REFERENCE_PIXELS} px in total are accepted"
    )]
    TooLarge {
        /// Width claimed by the header.
        width: u32,
        /// Height claimed by the header.
        height: u32,
    },
    /// The reference image is corrupt or uses an unsupported variant of its format.
    #[error("could not decode the reference image: {0}")]
    Decode(#[source] ImageError),
    /// A JPEG cannot have this size (a side of 0 or above 65535 px).
    #[error("cannot encode a {width}x{height} px JPEG")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The JPEG encoder failed.
    #[error("could not encode the JPEG: {0}")]
    Encode(#[source] ImageError),
}

/// The API's default watermark text: `"AI生成"` for language 0 (Chinese), `"Generated by AI"`
/// for any other language.
pub fn default_watermark_text(language: u8) -> &'static str {
    if language == 0 {
        "AI生成"
    } else {
        "Generated by AI"
    }
}

/// Decodes a JPEG or PNG reference image to RGB.
///
/// The size claimed by the header is checked against [`MAX_REFERENCE_SIDE`] and
/// [`MAX_REFERENCE_PIXELS`] before any pixel is decoded, so a decompression bomb is refused
/// without allocating its pixel buffer. Alpha is dropped; 16-bit images are reduced to 8 bits.
pub fn decode_reference(bytes: &[u8]) -> Result<RgbImage, RenderError> {
    use crate::images::decode::{Bounds, DecodeError, decode_bounded};
    let bounds = Bounds {
        max_side: MAX_REFERENCE_SIDE,
        max_pixels: MAX_REFERENCE_PIXELS,
        max_alloc: MAX_DECODE_ALLOC,
    };
    match decode_bounded(bytes, bounds) {
        Ok(image) => Ok(image.into_rgb8()),
        Err(DecodeError::Unsupported) => Err(RenderError::UnsupportedFormat),
        Err(DecodeError::TooLarge { width, height, .. }) => {
            Err(RenderError::TooLarge { width, height })
        }
        Err(DecodeError::Decode(e)) => Err(RenderError::Decode(e)),
    }
}

/// Renders the mock picture for `spec`: a `spec.width` x `spec.height` image (empty if either
/// is 0). Deterministic: the same spec always gives the same pixels, on every platform.
///
/// The caller bounds the size (the API allows at most 1536 px a side); the picture is built
/// in memory at full size.
pub fn render(spec: &RenderSpec) -> RgbImage {
    let (width, height) = (spec.width, spec.height);
    let mut out = RgbImage::new(width, height);
    if width == 0 || height == 0 {
        return out;
    }
    let (w, h) = (width as usize, height as usize);
    let knobs = Knobs::from_spec(spec);

    let style = Style::from_prompt(spec.prompt);
    let layout = digest(
        "volcv/mock/render/layout",
        &[spec.prompt.as_bytes(), &spec.seed.to_le_bytes()],
    );
    let mut rng = SplitMix::from_digest(&layout);
    let pattern = Pattern::new(style.family, &mut rng, w, h);

    // The pattern is evaluated on a grid whose resolution grows with the step count and is
    // stretched to the output: blocky (nearest) for very few steps, smooth (bilinear) above.
    let grid = FieldGrid::new(&pattern, w, h, knobs.steps, knobs.contrast());
    let mut field = RowSampler::new(
        &grid.values,
        grid.width,
        grid.height,
        1,
        Crop::whole(grid.width, grid.height),
        w,
        h,
        knobs.steps <= 4,
    );

    let synthetic;
    let source: Option<(&[u8], usize, usize)> = match spec.reference {
        Reference::Image(img) if img.width() > 0 && img.height() > 0 => {
            Some((img.as_raw(), img.width() as usize, img.height() as usize))
        }
        Reference::Image(_) | Reference::None => None,
        Reference::Url(url) => {
            synthetic = synthetic_portrait(url, w, h);
            Some((
                synthetic.as_raw(),
                synthetic.width() as usize,
                synthetic.height() as usize,
            ))
        }
    };
    let mut reference = source.map(|(buf, sw, sh)| {
        RowSampler::new(buf, sw, sh, 3, Crop::centred(sw, sh, w, h), w, h, false)
    });

    // Fixed-point shares (out of 256) of the reference, its recoloured version and the
    // pattern. With ref_ip_weight 0 the pattern is all there is; at 1 the reference dominates,
    // the less so the higher the scale (the text's strength).
    let (ref_share, recolour_share) = if reference.is_some() {
        let ip = knobs.ip;
        let r = ip * knobs.reference_strength();
        let g = (1.0 - r) * 0.5 * ip;
        (fixed(r), fixed(g))
    } else {
        (0, 0)
    };
    let pattern_share = 256 - ref_share - recolour_share;
    let palette = &style.palette;
    let mut pattern_lut = [[0u16; 3]; 256];
    let mut recolour_lut = [[0u16; 256]; 3];
    for (v, colour) in palette.iter().enumerate() {
        for c in 0..3 {
            pattern_lut[v][c] = (pattern_share * u32::from(colour[c])) as u16;
            recolour_lut[c][v] =
                (ref_share * v as u32 + recolour_share * u32::from(colour[c])) as u16;
        }
    }
    let tone = tone_lut(knobs.cfg);
    let noise = noise_table(knobs.noise_amplitude(), &mut rng);
    let noise_seed = rng.next_u64();
    let face = if reference.is_some() {
        FaceOval::new(w, h, knobs.id)
    } else {
        None
    };

    {
        let buf: &mut [u8] = &mut out;
        let tone: &[u8] = &tone;
        let noise: &[u8] = &noise;
        let (lut_r, lut_g, lut_b) = (&recolour_lut[0], &recolour_lut[1], &recolour_lut[2]);
        for y in 0..h {
            let frow = field.row(y);
            let orow = &mut buf[y * w * 3..(y + 1) * w * 3];
            let offset = (mix64(noise_seed ^ y as u64) & NOISE_MASK as u64) as usize;
            match reference.as_mut() {
                Some(sampler) => {
                    let rrow = sampler.row(y);
                    // `while`, not `for`: see `RowSampler::ensure`.
                    let mut x = 0;
                    while x < w {
                        let p = &pattern_lut[frow[x] as usize];
                        let n = noise[(offset + x) & NOISE_MASK] as usize;
                        let i = 3 * x;
                        let r = (u32::from(lut_r[rrow[i] as usize]) + u32::from(p[0])) >> 8;
                        let g = (u32::from(lut_g[rrow[i + 1] as usize]) + u32::from(p[1])) >> 8;
                        let b = (u32::from(lut_b[rrow[i + 2] as usize]) + u32::from(p[2])) >> 8;
                        orow[i] = tone[r as usize + n];
                        orow[i + 1] = tone[g as usize + n];
                        orow[i + 2] = tone[b as usize + n];
                        x += 1;
                    }
                    if let Some(face) = &face {
                        face.restore_row(y, orow, rrow);
                    }
                }
                None => {
                    let mut x = 0;
                    while x < w {
                        let p = &pattern_lut[frow[x] as usize];
                        let n = noise[(offset + x) & NOISE_MASK] as usize;
                        let i = 3 * x;
                        orow[i] = tone[(p[0] >> 8) as usize + n];
                        orow[i + 1] = tone[(p[1] >> 8) as usize + n];
                        orow[i + 2] = tone[(p[2] >> 8) as usize + n];
                        x += 1;
                    }
                }
            }
        }
    }

    if let Some(watermark) = &spec.watermark {
        draw_watermark(&mut out, watermark);
    }
    out
}

/// [`render`] encoded as a baseline JPEG of quality [`JPEG_QUALITY`]. The same spec always gives
/// the same bytes.
pub fn render_jpeg(spec: &RenderSpec) -> Result<Vec<u8>, RenderError> {
    let (width, height) = (spec.width, spec.height);
    if width == 0 || height == 0 || width > 65535 || height > 65535 {
        return Err(RenderError::InvalidSize { width, height });
    }
    encode_jpeg(&render(spec))
}

fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, RenderError> {
    let mut bytes = Vec::with_capacity(image.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(RenderError::Encode)?;
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Knobs, hashing, deterministic maths

/// The spec's knobs, clamped to their ranges.
struct Knobs {
    scale: f32,
    steps: u32,
    cfg: f32,
    ip: f32,
    id: f32,
}

impl Knobs {
    fn from_spec(spec: &RenderSpec) -> Self {
        Knobs {
            scale: sanitize(spec.scale, 1.0, 10.0, DEFAULT_SCALE),
            steps: spec.ddim_steps.clamp(1, 200),
            cfg: sanitize(spec.cfg_rescale, 0.0, 1.0, DEFAULT_CFG_RESCALE),
            ip: sanitize(spec.ref_ip_weight, 0.0, 1.0, DEFAULT_REF_IP_WEIGHT),
            id: sanitize(spec.ref_id_weight, 0.0, 1.0, DEFAULT_REF_ID_WEIGHT),
        }
    }

    /// Pattern contrast around mid-grey: 0.35 at scale 1 (faint), 0.85 at the default 3.5,
    /// 2.15 at scale 10 (saturated into hard edges).
    fn contrast(&self) -> f32 {
        0.35 + 0.2 * (self.scale - 1.0)
    }

    /// The reference's share at ref_ip_weight 1: 0.95 at scale 1, 0.85 at the default 3.5,
    /// 0.59 at scale 10.
    fn reference_strength(&self) -> f32 {
        0.95 - 0.04 * (self.scale - 1.0)
    }

    /// Grain amplitude in grey levels: 36 at 1 step, 6 at the default 9, 0 from 119 steps.
    fn noise_amplitude(&self) -> u32 {
        let s = self.steps as f32;
        let denom = s.sqrt() * s.sqrt().sqrt();
        ((36.0 / denom) as u32).min(MAX_NOISE)
    }
}

fn sanitize(value: f32, lo: f32, hi: f32, default: f32) -> f32 {
    if value.is_finite() {
        value.clamp(lo, hi)
    } else {
        default
    }
}

/// `v` in 0..=1 as a fixed-point fraction of 256.
fn fixed(v: f32) -> u32 {
    (v.clamp(0.0, 1.0) * 256.0 + 0.5) as u32
}

/// SHA-256 over a domain tag and length-prefixed parts.
fn digest(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SplitMix64: a tiny, portable generator, seeded from a digest.
struct SplitMix(u64);

impl SplitMix {
    fn from_digest(d: &[u8; 32]) -> Self {
        let mut state = 0u64;
        for chunk in d.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state = mix64(state ^ u64::from_le_bytes(word));
        }
        SplitMix(state)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// sin(2πx), from basic operations only (the platform's `sin` may differ between systems).
fn sin_turns(x: f32) -> f32 {
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

fn cos_turns(x: f32) -> f32 {
    sin_turns(x + 0.25)
}

/// The angle of (x, y) in turns, in [0, 1); accurate to about 1e-5 rad.
fn atan2_turns(y: f32, x: f32) -> f32 {
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

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// HSV (hue in turns) to RGB, all in 0..=1.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
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

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

// ---------------------------------------------------------------------------------------------
// Style: palette and pattern family, from the prompt

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
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

struct Style {
    family: Family,
    /// 256 colours from dark to light.
    palette: [[u8; 3]; 256],
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
    fn from_prompt(prompt: &str) -> Self {
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
fn colour_hint(prompt: &str) -> Option<f32> {
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

// ---------------------------------------------------------------------------------------------
// Patterns: a scalar field in 0..=1, laid out by the seed

const MOSAIC_SITES: usize = 14;
const BLOBS: usize = 6;

enum Pattern {
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
    fn new(family: Family, rng: &mut SplitMix, w: usize, h: usize) -> Self {
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
struct FieldGrid {
    values: Vec<u8>,
    width: usize,
    height: usize,
}

impl FieldGrid {
    fn new(pattern: &Pattern, w: usize, h: usize, steps: u32, contrast: f32) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Resampling, one output row at a time

/// A source rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Crop {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

impl Crop {
    fn whole(w: usize, h: usize) -> Self {
        Crop { x: 0, y: 0, w, h }
    }

    /// The largest centred rectangle of a `sw` x `sh` source with the aspect ratio of `w` x `h`.
    fn centred(sw: usize, sh: usize, w: usize, h: usize) -> Self {
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
struct Tap {
    a: usize,
    b: usize,
    f: u32,
}

/// Maps `out_len` output positions onto `len` source positions starting at `start`: bilinear
/// (centre-aligned, exact when the lengths match) or nearest.
fn taps(out_len: usize, start: usize, len: usize, nearest: bool) -> Vec<Tap> {
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
struct RowSampler<'a> {
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
    fn new(
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

    fn row(&mut self, y: usize) -> &[u8] {
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

// ---------------------------------------------------------------------------------------------
// Tone, grain, the face oval, the stand-in reference

const NOISE_PAD: usize = 64;
const MAX_NOISE: u32 = 48;
const NOISE_LEN: usize = 8192;
const NOISE_MASK: usize = NOISE_LEN - 1;

/// Tone curve indexed by `level + NOISE_PAD + grain`, clamping what grain pushes out of range.
/// cfg_rescale 0.7 is the identity; lower brightens and flattens, higher darkens and hardens.
fn tone_lut(cfg: f32) -> [u8; 256 + 2 * NOISE_PAD] {
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
fn noise_table(amplitude: u32, rng: &mut SplitMix) -> Vec<u8> {
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
struct FaceOval {
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
    fn new(w: usize, h: usize, id: f32) -> Option<Self> {
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
    fn restore_row(&self, y: usize, out: &mut [u8], reference: &[u8]) {
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
fn synthetic_portrait(url: &str, w: usize, h: usize) -> RgbImage {
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

// ---------------------------------------------------------------------------------------------
// Watermark

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
const TOFU: [u16; 16] = glyph_from_art([
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
const CJK_GLYPHS: [(char, [u16; 16]); 2] = [
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
fn glyph(c: char) -> ([u16; 16], bool) {
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
fn glyph_px(h: u32) -> u32 {
    let target = h as f32 / 25.0;
    if target < 12.0 {
        8
    } else {
        16 * ((target / 16.0 + 0.5) as u32).max(1)
    }
}

/// One laid-out character: its bitmap and horizontal advance.
struct Placed {
    bitmap: [u16; 16],
    advance: u32,
}

fn layout_text(text: &str, px: u32) -> (Vec<Placed>, u32) {
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
fn glyph_mask(bitmap: &[u16; 16], px: u32) -> Vec<bool> {
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

/// Blends `colour` at `alpha` (out of 256) over the image inside the rectangle, clipped.
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
fn draw_watermark(img: &mut RgbImage, watermark: &Watermark) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageFormat;
    use std::io::Cursor;
    use std::time::{Duration, Instant};

    /// A synthetic reference: a diagonal gradient with a bright disc in the middle.
    fn gradient_with_circle(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let (dx, dy) = (fx - 0.5, fy - 0.45);
            if dx * dx + dy * dy < 0.04 {
                image::Rgb([250, 235, 120])
            } else {
                image::Rgb([
                    (40.0 + 180.0 * fx) as u8,
                    (60.0 + 120.0 * fy) as u8,
                    (200.0 - 150.0 * fx) as u8,
                ])
            }
        })
    }

    fn spec<'a>(w: u32, h: u32, prompt: &'a str, reference: Reference<'a>) -> RenderSpec<'a> {
        RenderSpec {
            seed: 42,
            reference,
            ..RenderSpec::new(w, h, prompt)
        }
    }

    /// Mean absolute per-channel difference over a rectangle.
    fn mean_diff(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> f64 {
        let mut sum = 0u64;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let (p, q) = (a.get_pixel(x, y).0, b.get_pixel(x, y).0);
                sum += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
            }
        }
        sum as f64 / f64::from(w * h * 3)
    }

    fn changed_pixels(a: &RgbImage, b: &RgbImage) -> Vec<(u32, u32)> {
        a.enumerate_pixels()
            .filter(|(x, y, p)| b.get_pixel(*x, *y) != *p)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn output_has_the_requested_size() {
        let reference = gradient_with_circle(300, 200);
        for (w, h) in [(512, 512), (300, 200), (200, 300), (1024, 768), (7, 513)] {
            for r in [
                Reference::None,
                Reference::Image(&reference),
                Reference::Url("https://e.x/a.png"),
            ] {
                let img = render(&spec(w, h, "a cat", r));
                assert_eq!(img.dimensions(), (w, h), "{r:?}");
            }
        }
    }

    #[test]
    fn jpeg_decodes_back_to_the_requested_size() {
        let reference = gradient_with_circle(64, 64);
        let bytes =
            render_jpeg(&spec(320, 256, "a dog", Reference::Image(&reference))).expect("encodes");
        assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
        let decoded = image::load_from_memory(&bytes).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (320, 256));
    }

    #[test]
    fn same_spec_gives_identical_bytes() {
        let reference = gradient_with_circle(100, 80);
        for r in [
            Reference::None,
            Reference::Image(&reference),
            Reference::Url("https://e.x/1.jpg"),
        ] {
            let s = RenderSpec {
                watermark: Some(Watermark {
                    text: "AI生成",
                    position: 0,
                    opacity: 0.8,
                }),
                ..spec(256, 192, "同一个提示 same prompt", r)
            };
            assert_eq!(
                render_jpeg(&s).expect("a"),
                render_jpeg(&s).expect("b"),
                "{r:?}"
            );
        }
    }

    #[test]
    fn seed_and_prompt_change_the_bytes() {
        let reference = gradient_with_circle(128, 128);
        for r in [
            Reference::None,
            Reference::Image(&reference),
            Reference::Url("https://e.x/2.png"),
        ] {
            let base = spec(256, 256, "a red fox in snow", r);
            let bytes = render_jpeg(&base).expect("base");
            let reseeded = render_jpeg(&RenderSpec { seed: 43, ..base }).expect("seed");
            let reprompted = render_jpeg(&RenderSpec {
                prompt: "a blue whale",
                ..base
            })
            .expect("prompt");
            assert_ne!(bytes, reseeded, "{r:?}");
            assert_ne!(bytes, reprompted, "{r:?}");
            // ... and not by a stray pixel: the pictures differ broadly.
            let (a, b, c) = (
                render(&base),
                render(&RenderSpec { seed: 43, ..base }),
                render(&RenderSpec {
                    prompt: "a blue whale",
                    ..base
                }),
            );
            assert!(mean_diff(&a, &b, 0, 0, 256, 256) > 3.0, "{r:?}");
            assert!(mean_diff(&a, &c, 0, 0, 256, 256) > 3.0, "{r:?}");
        }
    }

    #[test]
    fn prompts_pick_different_pattern_families() {
        let families: std::collections::BTreeSet<String> = (0..40)
            .map(|i| format!("{:?}", Style::from_prompt(&format!("prompt {i}")).family))
            .collect();
        assert!(families.len() >= 6, "{families:?}");
    }

    #[test]
    fn colour_words_steer_the_palette() {
        let red = Style::from_prompt("a red car").palette[150];
        let blue = Style::from_prompt("a blue car").palette[150];
        assert!(red[0] > red[2] + 40, "{red:?}");
        assert!(blue[2] > blue[0] + 40, "{blue:?}");
        assert_eq!(colour_hint("a bored cat"), None);
        assert_eq!(colour_hint("红色的花"), Some(0.0));
    }

    #[test]
    fn ip_weight_moves_the_picture_towards_the_reference() {
        let reference = gradient_with_circle(256, 256);
        let base = RenderSpec {
            ref_id_weight: 0.0,
            ..spec(256, 256, "stained glass", Reference::Image(&reference))
        };
        let far = render(&RenderSpec {
            ref_ip_weight: 0.0,
            ..base
        });
        let mid = render(&RenderSpec {
            ref_ip_weight: 0.5,
            ..base
        });
        let near = render(&RenderSpec {
            ref_ip_weight: 1.0,
            ..base
        });
        let (d0, d5, d1) = (
            mean_diff(&far, &reference, 0, 0, 256, 256),
            mean_diff(&mid, &reference, 0, 0, 256, 256),
            mean_diff(&near, &reference, 0, 0, 256, 256),
        );
        assert!(d1 < d5 && d5 < d0, "{d0} {d5} {d1}");
        assert!(d0 > 30.0 && d1 < 0.5 * d0, "{d0} {d1}");
    }

    #[test]
    fn ip_weight_zero_is_pure_pattern() {
        let reference = gradient_with_circle(200, 200);
        let s = RenderSpec {
            ref_ip_weight: 0.0,
            ref_id_weight: 0.0,
            ..spec(200, 200, "waves", Reference::None)
        };
        let alone = render(&s);
        let with_ref = render(&RenderSpec {
            reference: Reference::Image(&reference),
            ..s
        });
        assert_eq!(alone, with_ref);
    }

    #[test]
    fn id_weight_changes_the_centre_not_the_corners() {
        for r in [Reference::Url("https://e.x/face.jpg"), Reference::None] {
            let reference = gradient_with_circle(240, 240);
            let r = if matches!(r, Reference::None) {
                Reference::Image(&reference)
            } else {
                r
            };
            let base = RenderSpec {
                ref_ip_weight: 0.3,
                ..spec(240, 240, "portrait", r)
            };
            let off = render(&RenderSpec {
                ref_id_weight: 0.0,
                ..base
            });
            let on = render(&RenderSpec {
                ref_id_weight: 1.0,
                ..base
            });
            let centre = mean_diff(&off, &on, 100, 88, 40, 40);
            let corners = [(0, 0), (200, 0), (0, 200), (200, 200)]
                .iter()
                .map(|&(x, y)| mean_diff(&off, &on, x, y, 40, 40))
                .fold(0.0, f64::max);
            assert!(centre > 15.0, "{r:?}: centre {centre}");
            assert_eq!(corners, 0.0, "{r:?}");
        }
        // At full strength the middle of the oval is the reference itself.
        let reference = gradient_with_circle(240, 240);
        let on = render(&RenderSpec {
            ref_id_weight: 1.0,
            ..spec(240, 240, "x", Reference::Image(&reference))
        });
        assert_eq!(on.get_pixel(120, 108), reference.get_pixel(120, 108));
    }

    #[test]
    fn scale_raises_pattern_contrast() {
        let spread = |scale: f32| {
            let img = render(&RenderSpec {
                scale,
                ddim_steps: 200,
                ..spec(128, 128, "rings", Reference::None)
            });
            let lum: Vec<f64> = img
                .pixels()
                .map(|p| f64::from(p.0[0]) + f64::from(p.0[1]) + f64::from(p.0[2]))
                .collect();
            let mean = lum.iter().sum::<f64>() / lum.len() as f64;
            (lum.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / lum.len() as f64).sqrt()
        };
        let (low, high) = (spread(1.0), spread(10.0));
        assert!(high > 2.0 * low, "{low} {high}");
    }

    #[test]
    fn scale_strengthens_the_pattern_over_the_reference() {
        let reference = gradient_with_circle(128, 128);
        let distance = |scale: f32| {
            let s = RenderSpec {
                scale,
                ref_id_weight: 0.0,
                ..spec(128, 128, "scale", Reference::Image(&reference))
            };
            mean_diff(&render(&s), &reference, 0, 0, 128, 128)
        };
        let (weak, strong) = (distance(1.0), distance(10.0));
        assert!(strong > weak + 10.0, "{weak} {strong}");
    }

    #[test]
    fn cfg_rescale_shifts_the_tone() {
        let reference = gradient_with_circle(128, 128);
        let mean = |cfg_rescale: f32| {
            let img = render(&RenderSpec {
                cfg_rescale,
                ..spec(128, 128, "tone", Reference::Image(&reference))
            });
            img.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / img.as_raw().len() as f64
        };
        let (bright, neutral, dark) = (mean(0.0), mean(0.7), mean(1.0));
        assert!(
            bright > neutral + 15.0 && neutral > dark + 5.0,
            "{bright} {neutral} {dark}"
        );
        assert_eq!(
            tone_lut(0.7)[NOISE_PAD..NOISE_PAD + 256].to_vec(),
            (0..=255u8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn few_steps_look_rougher_than_many() {
        let reference = gradient_with_circle(192, 192);
        let roughness = |ddim_steps: u32| {
            let img = render(&RenderSpec {
                ddim_steps,
                ..spec(192, 192, "plasma", Reference::Image(&reference))
            });
            let mut sum = 0u64;
            for y in 0..192 {
                for x in 1..192 {
                    sum +=
                        u64::from(img.get_pixel(x, y).0[1].abs_diff(img.get_pixel(x - 1, y).0[1]));
                }
            }
            sum as f64 / (192.0 * 191.0)
        };
        let (rough, default, smooth) = (roughness(1), roughness(9), roughness(200));
        assert!(
            rough > default && default > smooth,
            "{rough} {default} {smooth}"
        );
        assert!(rough > 3.0 * smooth, "{rough} {smooth}");
    }

    #[test]
    fn url_reference_is_a_stable_stand_in() {
        let a = render(&spec(160, 160, "p", Reference::Url("https://e.x/a.png")));
        let a2 = render(&spec(160, 160, "p", Reference::Url("https://e.x/a.png")));
        let b = render(&spec(160, 160, "p", Reference::Url("https://e.x/b.png")));
        let none = render(&spec(160, 160, "p", Reference::None));
        assert_eq!(a, a2);
        assert!(mean_diff(&a, &b, 0, 0, 160, 160) > 3.0);
        assert!(mean_diff(&a, &none, 0, 0, 160, 160) > 3.0);
    }

    #[test]
    fn watermark_lands_in_the_requested_corner_only() {
        let reference = gradient_with_circle(200, 150);
        let (w, h) = (800, 300);
        let plain = spec(w, h, "a lighthouse", Reference::Image(&reference));
        let without = render(&plain);
        for (position, text) in (0..=3u8).flat_map(|p| [(p, "AI生成"), (p, "Generated by AI")]) {
            let marked = render(&RenderSpec {
                watermark: Some(Watermark {
                    text,
                    position,
                    opacity: 1.0,
                }),
                ..plain
            });
            let changed = changed_pixels(&without, &marked);
            assert!(
                changed.len() > 500,
                "position {position}: {} pixels",
                changed.len()
            );
            let right = matches!(position, 0 | 3);
            let bottom = matches!(position, 0 | 1);
            for &(x, y) in &changed {
                assert_eq!(x >= w / 2, right, "position {position}: ({x}, {y})");
                assert_eq!(y >= h / 2, bottom, "position {position}: ({x}, {y})");
            }
            // The diagonally opposite corner is untouched.
            let (ox, oy) = (
                if right { 0 } else { w / 2 },
                if bottom { 0 } else { h / 2 },
            );
            assert_eq!(mean_diff(&without, &marked, ox, oy, w / 2, h / 2), 0.0);
        }
    }

    #[test]
    fn out_of_range_position_falls_back_to_bottom_right() {
        let s = spec(200, 200, "x", Reference::None);
        let mark = |position| {
            render(&RenderSpec {
                watermark: Some(Watermark {
                    text: "AI",
                    position,
                    opacity: 1.0,
                }),
                ..s
            })
        };
        assert_eq!(mark(9), mark(0));
    }

    #[test]
    fn zero_opacity_leaves_the_image_unchanged() {
        let s = spec(256, 256, "fog", Reference::Url("https://e.x/c.png"));
        let without = render(&s);
        for position in 0..=3 {
            let marked = render(&RenderSpec {
                watermark: Some(Watermark {
                    text: "AI生成",
                    position,
                    opacity: 0.0,
                }),
                ..s
            });
            assert_eq!(without, marked);
        }
        let faint = render(&RenderSpec {
            watermark: Some(Watermark {
                text: "AI生成",
                position: 0,
                opacity: 0.3,
            }),
            ..s
        });
        let solid = render(&RenderSpec {
            watermark: Some(Watermark {
                text: "AI生成",
                position: 0,
                opacity: 1.0,
            }),
            ..s
        });
        assert!(
            mean_diff(&without, &faint, 128, 128, 128, 128)
                < mean_diff(&without, &solid, 128, 128, 128, 128)
        );
    }

    /// Draws `text` as a watermark at the top left of a black 800x400 image (16 px glyphs,
    /// 10 px margin, 4 px padding).
    fn draw_on_black(text: &str) -> RgbImage {
        let mut img = RgbImage::new(800, 400);
        draw_watermark(
            &mut img,
            &Watermark {
                text,
                position: 2,
                opacity: 1.0,
            },
        );
        img
    }

    #[test]
    fn chinese_default_text_draws_real_glyphs() {
        assert_eq!(default_watermark_text(0), "AI生成");
        assert_eq!(default_watermark_text(1), "Generated by AI");
        for c in ['生', '成'] {
            let (bitmap, wide) = glyph(c);
            assert!(wide);
            assert_ne!(bitmap, TOFU);
            assert!(
                bitmap.iter().map(|r| r.count_ones()).sum::<u32>() > 30,
                "{c}"
            );
        }
        assert_ne!(glyph('生').0, glyph('成').0);
        // Drawn: the CJK cells differ from tofu boxes and from each other, and are lit.
        let text = draw_on_black("AI生成");
        let tofu = draw_on_black("AI\u{E000}\u{E000}");
        let ai = draw_on_black("AI");
        assert!(!changed_pixels(&ai, &text).is_empty());
        assert_eq!(text.get_pixel(1, 1), ai.get_pixel(1, 1));
        let px = glyph_px(400);
        assert_eq!(px, 16);
        let (x0, y0) = (10 + 4 + 2 * px, 10 + 4); // margin + padding (+ "AI")
        let cell = |img: &RgbImage, i: u32| {
            let mut lit = Vec::new();
            for y in 0..px {
                for x in 0..px {
                    lit.push(img.get_pixel(x0 + i * (px + 1) + x, y0 + y).0[0] > 200);
                }
            }
            lit
        };
        for i in 0..2 {
            let (drawn, boxed) = (cell(&text, i), cell(&tofu, i));
            assert!(
                drawn.iter().filter(|&&b| b).count() > 30,
                "glyph {i} is lit"
            );
            assert_ne!(drawn, boxed, "glyph {i} is not tofu");
        }
        assert_ne!(cell(&text, 0), cell(&text, 1));
    }

    #[test]
    fn unknown_characters_draw_as_tofu() {
        assert_eq!(glyph('\u{E000}').0, TOFU);
        assert_eq!(glyph('猫').0, TOFU);
        assert_eq!(glyph('\u{7}').0, TOFU);
        assert_eq!(glyph(' ').0, [0; 16]);
        let (a, _) = glyph('A');
        assert_ne!(a, TOFU);
        assert_ne!(a, [0; 16]);
        let tofu = draw_on_black("\u{E000}");
        let lit = tofu.pixels().filter(|p| p.0[0] > 200).count();
        // At 16 px glyphs a bitmap cell is one pixel: every box cell is drawn, nothing else.
        assert_eq!(lit as u32, TOFU.iter().map(|r| r.count_ones()).sum::<u32>());
        assert_eq!(draw_on_black("猫"), tofu);
    }

    #[test]
    fn glyph_masks_keep_thin_strokes_when_shrunk() {
        for (c, _) in CJK_GLYPHS {
            let (bitmap, _) = glyph(c);
            for px in [8, 16, 48] {
                let mask = glyph_mask(&bitmap, px);
                assert!(
                    mask.iter().filter(|&&b| b).count() * 8 > (px * px) as usize,
                    "{c} at {px}"
                );
            }
            let full = glyph_mask(&bitmap, 16);
            for r in 0..16 {
                for col in 0..16 {
                    assert_eq!(full[r * 16 + col], bitmap[r] >> (15 - col) & 1 == 1);
                }
            }
        }
    }

    #[test]
    fn watermark_scales_with_the_image_and_clips() {
        assert_eq!(glyph_px(1024), 48);
        assert_eq!(glyph_px(1536), 64);
        assert_eq!(glyph_px(512), 16);
        assert_eq!(glyph_px(100), 8);
        // A long custom text on a narrow image neither panics nor spills into the top half.
        let s = RenderSpec {
            watermark: Some(Watermark {
                text: &"很长的水印 long custom text ".repeat(50),
                position: 0,
                opacity: 1.0,
            }),
            ..spec(300, 300, "x", Reference::None)
        };
        let marked = render(&s);
        let plain = render(&RenderSpec {
            watermark: None,
            ..s
        });
        let changed = changed_pixels(&plain, &marked);
        assert!(!changed.is_empty());
        assert!(changed.iter().all(|&(_, y)| y >= 150));
    }

    #[test]
    fn tiny_and_empty_sizes_do_not_panic() {
        let reference = gradient_with_circle(3, 2);
        let one_px = RgbImage::new(1, 1);
        for (w, h) in [(1, 1), (2, 3), (16, 16), (1, 40), (40, 1)] {
            for r in [
                Reference::None,
                Reference::Image(&reference),
                Reference::Image(&one_px),
                Reference::Url("u"),
            ] {
                for text in ["AI生成", "Generated by AI", "\u{E000}"] {
                    for position in 0..=3 {
                        let s = RenderSpec {
                            watermark: Some(Watermark {
                                text,
                                position,
                                opacity: 1.0,
                            }),
                            ..spec(w, h, "tiny", r)
                        };
                        assert_eq!(render(&s).dimensions(), (w, h));
                        let decoded = image::load_from_memory(&render_jpeg(&s).expect("encodes"))
                            .expect("decodes");
                        assert_eq!((decoded.width(), decoded.height()), (w, h));
                    }
                }
            }
        }
        let empty = RgbImage::new(0, 0);
        let s = spec(0, 5, "none", Reference::Image(&empty));
        assert_eq!(render(&s).dimensions(), (0, 5));
        assert!(matches!(
            render_jpeg(&s),
            Err(RenderError::InvalidSize {
                width: 0,
                height: 5
            })
        ));
        // An empty reference counts as none.
        let s = spec(32, 32, "none", Reference::Image(&empty));
        assert_eq!(render(&s), render(&spec(32, 32, "none", Reference::None)));
    }

    #[test]
    fn odd_knob_values_are_clamped_not_fatal() {
        let reference = gradient_with_circle(50, 50);
        let s = RenderSpec {
            scale: f32::NAN,
            ddim_steps: 0,
            cfg_rescale: -3.0,
            ref_ip_weight: f32::INFINITY,
            ref_id_weight: 7.0,
            watermark: Some(Watermark {
                text: "AI",
                position: 200,
                opacity: f32::NAN,
            }),
            ..spec(64, 64, "", Reference::Image(&reference))
        };
        let clamped = RenderSpec {
            scale: DEFAULT_SCALE,
            ddim_steps: 1,
            cfg_rescale: 0.0,
            ref_ip_weight: DEFAULT_REF_IP_WEIGHT,
            ref_id_weight: 1.0,
            watermark: Some(Watermark {
                text: "AI",
                position: 0,
                opacity: 1.0,
            }),
            ..s
        };
        assert_eq!(render(&s), render(&clamped));
    }

    #[test]
    fn crops_keep_the_centre_and_the_aspect_ratio() {
        assert_eq!(
            Crop::centred(400, 100, 100, 100),
            Crop {
                x: 150,
                y: 0,
                w: 100,
                h: 100
            }
        );
        assert_eq!(
            Crop::centred(100, 400, 200, 100),
            Crop {
                x: 0,
                y: 175,
                w: 100,
                h: 50
            }
        );
        assert_eq!(
            Crop::centred(1, 1, 300, 10),
            Crop {
                x: 0,
                y: 0,
                w: 1,
                h: 1
            }
        );
        let identity = taps(5, 2, 5, false);
        assert!(
            identity
                .iter()
                .enumerate()
                .all(|(i, t)| t.a == i + 2 && t.f == 0)
        );
    }

    #[test]
    fn maths_helpers_are_accurate() {
        assert_eq!(hsv(-1e-9, 1.0, 1.0), [1.0, 0.0, 0.0]);
        assert_eq!(hsv(1.0 / 3.0, 1.0, 1.0).map(to_u8), [0, 255, 0]);
        for i in 0..1000 {
            let x = i as f32 / 137.0 - 3.0;
            let expected = (x as f64 * std::f64::consts::TAU).sin() as f32;
            assert!((sin_turns(x) - expected).abs() < 1e-5, "sin {x}");
            let (y, z) = (sin_turns(x), cos_turns(x));
            let angle = atan2_turns(y, z);
            let wrapped = x - x.floor();
            let err = (angle - wrapped).abs().min(1.0 - (angle - wrapped).abs());
            assert!(err < 1e-4, "atan2 {x}: {angle} vs {wrapped}");
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    /// A PNG signature and IHDR chunk, and nothing else.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&width.to_be_bytes());
        chunk.extend_from_slice(&height.to_be_bytes());
        chunk.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(&crc32(&chunk).to_be_bytes());
        bytes
    }

    #[test]
    fn decode_reference_refuses_a_png_bomb_from_its_header() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let bomb = png_header(60_000, 60_000);
        let started = Instant::now();
        let result = decode_reference(&bomb);
        assert!(started.elapsed() < Duration::from_secs(1));
        // TooLarge (not an allocation or truncation failure) shows the header alone was read.
        assert!(
            matches!(
                result,
                Err(RenderError::TooLarge {
                    width: 60_000,
                    height: 60_000
                })
            ),
            "{result:?}"
        );
        let wide = png_header(4097, 16);
        assert!(matches!(
            decode_reference(&wide),
            Err(RenderError::TooLarge {
                width: 4097,
                height: 16
            })
        ));
    }

    #[test]
    fn decode_reference_refuses_an_oversized_jpeg_from_its_header() {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode(
                gradient_with_circle(64, 48).as_raw(),
                64,
                48,
                ExtendedColorType::Rgb8,
            )
            .expect("encodes");
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("baseline SOF0 marker");
        jpeg[sof + 7..sof + 9].copy_from_slice(&5000u16.to_be_bytes()); // width
        let result = decode_reference(&jpeg);
        assert!(
            matches!(
                result,
                Err(RenderError::TooLarge {
                    width: 5000,
                    height: 48
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn decode_reference_reads_png_and_jpeg() {
        let original = gradient_with_circle(90, 70);
        let mut png = Vec::new();
        original
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .expect("png");
        assert_eq!(decode_reference(&png).expect("decodes png"), original);
        let mut jpeg = Vec::new();
        original
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .expect("jpeg");
        assert_eq!(
            decode_reference(&jpeg).expect("decodes jpeg").dimensions(),
            (90, 70)
        );
        assert!(matches!(
            decode_reference(b"GIF89a......"),
            Err(RenderError::UnsupportedFormat)
        ));
        assert!(matches!(
            decode_reference(b""),
            Err(RenderError::UnsupportedFormat)
        ));
        assert!(matches!(
            decode_reference(&png[..png.len() / 2]),
            Err(RenderError::Decode(_))
        ));
    }

    /// Writes a sample (reference + Chinese watermark) to /tmp for a human to look at:
    /// `cargo test --lib mock::render::tests::write_sample -- --ignored`.
    #[test]
    #[ignore = "writes /tmp/volcv-render-sample.jpg for manual inspection"]
    fn write_sample() {
        let reference = gradient_with_circle(700, 500);
        let s = RenderSpec {
            watermark: Some(Watermark {
                text: default_watermark_text(0),
                position: 0,
                opacity: 0.9,
            }),
            ..spec(
                1024,
                1024,
                "a woman in a red coat, cinematic light",
                Reference::Image(&reference),
            )
        };
        let bytes = render_jpeg(&s).expect("encodes");
        std::fs::write("/tmp/volcv-render-sample.jpg", &bytes).expect("writes");
        image::load_from_memory(&bytes)
            .expect("decodes")
            .save("/tmp/volcv-render-sample.png")
            .expect("png");
        // The watermark at the glyph sizes an image 150, 400, 800 and 2000 px tall gets.
        let mut sheet = RgbImage::from_pixel(760, 420, image::Rgb([90, 120, 160]));
        let mut top = 0;
        for (height, show) in [(150, 30), (400, 50), (800, 70), (2000, 140)] {
            let mut img = RgbImage::from_pixel(2000, height, image::Rgb([90, 120, 160]));
            draw_watermark(
                &mut img,
                &Watermark {
                    text: "AI生成 \u{E000}Ag",
                    position: 2,
                    opacity: 1.0,
                },
            );
            image::imageops::replace(
                &mut sheet,
                &image::imageops::crop_imm(&img, 0, 0, 760, show).to_image(),
                0,
                top,
            );
            top += i64::from(show) + 10;
        }
        sheet.save("/tmp/volcv-render-glyphs.png").expect("png");
    }

    /// Writes a contact sheet of 160 px renders, one knob varied per row, to
    /// /tmp/volcv-render-sheet.png: `cargo test --lib mock::render::tests::write_sheet -- --ignored`.
    #[test]
    #[ignore = "writes /tmp/volcv-render-sheet.png for manual inspection"]
    fn write_sheet() {
        const CELL: u32 = 160;
        let portrait = synthetic_portrait("https://example.com/me.jpg", 320, 320);
        let base = RenderSpec {
            seed: 7,
            ..spec(CELL, CELL, "a knight", Reference::Image(&portrait))
        };
        let prompts: Vec<String> = (0..8).map(|i| format!("prompt {i}")).collect();
        let mut rows: Vec<Vec<(String, RenderSpec)>> = Vec::new();
        rows.push(
            prompts
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        RenderSpec {
                            prompt: p,
                            reference: Reference::None,
                            ..base
                        },
                    )
                })
                .collect(),
        );
        rows.push(
            prompts
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        RenderSpec {
                            prompt: p,
                            reference: Reference::Url("u"),
                            ..base
                        },
                    )
                })
                .collect(),
        );
        rows.push(
            [0.0, 0.35, 0.7, 1.0]
                .iter()
                .map(|&v| {
                    (
                        format!("ip {v}"),
                        RenderSpec {
                            ref_ip_weight: v,
                            ref_id_weight: 0.0,
                            ..base
                        },
                    )
                })
                .chain([0.0, 0.36, 0.7, 1.0].iter().map(|&v| {
                    (
                        format!("id {v}"),
                        RenderSpec {
                            ref_id_weight: v,
                            ..base
                        },
                    )
                }))
                .collect(),
        );
        rows.push(
            [1.0, 3.5, 6.0, 10.0]
                .iter()
                .map(|&v| (format!("scale {v}"), RenderSpec { scale: v, ..base }))
                .chain([0.0, 0.35, 0.7, 1.0].iter().map(|&v| {
                    (
                        format!("cfg {v}"),
                        RenderSpec {
                            cfg_rescale: v,
                            ..base
                        },
                    )
                }))
                .collect(),
        );
        rows.push(
            [1, 2, 4, 9, 20, 200]
                .iter()
                .map(|&v| {
                    (
                        format!("steps {v}"),
                        RenderSpec {
                            ddim_steps: v,
                            ..base
                        },
                    )
                })
                .chain(
                    [8, 9]
                        .iter()
                        .map(|&v| (format!("seed {v}"), RenderSpec { seed: v, ..base })),
                )
                .collect(),
        );
        let mut sheet = RgbImage::from_pixel(
            8 * CELL + 7 * 4,
            rows.len() as u32 * (CELL + 4),
            image::Rgb([20, 20, 20]),
        );
        for (r, row) in rows.iter().enumerate() {
            for (c, (label, s)) in row.iter().enumerate() {
                let mut img = render(s);
                draw_watermark(
                    &mut img,
                    &Watermark {
                        text: label,
                        position: 2,
                        opacity: 0.9,
                    },
                );
                image::imageops::replace(
                    &mut sheet,
                    &img,
                    c as i64 * i64::from(CELL + 4),
                    r as i64 * i64::from(CELL + 4),
                );
            }
        }
        sheet.save("/tmp/volcv-render-sheet.png").expect("png");
    }

    /// Times a 1536x1536 render + encode: `cargo test --lib mock::render::tests::time_1536 -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn time_1536() {
        let reference = gradient_with_circle(768, 768);
        for r in [
            Reference::Image(&reference),
            Reference::Url("https://e.x/t.png"),
            Reference::None,
        ] {
            let s = RenderSpec {
                watermark: Some(Watermark {
                    text: "AI生成",
                    position: 0,
                    opacity: 1.0,
                }),
                ..spec(1536, 1536, "timing", r)
            };
            let started = Instant::now();
            let img = render(&s);
            let rendered = started.elapsed();
            let bytes = encode_jpeg(&img).expect("encodes");
            let total = started.elapsed();
            eprintln!(
                "{r:?}: render {rendered:?}, render + encode {total:?}, {} bytes",
                bytes.len()
            );
        }
    }
}
