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

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageError, RgbImage};

mod glyphs;
mod maths;
mod pattern;
mod sampler;
mod style;
mod tone;
mod watermark;

use maths::{SplitMix, digest, fixed, mix64};
use pattern::{FieldGrid, Pattern};
use sampler::{Crop, RowSampler};
use style::Style;
use tone::{FaceOval, MAX_NOISE, NOISE_MASK, noise_table, synthetic_portrait, tone_lut};
use watermark::draw_watermark;

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
    /// The text prompt; its hash picks the palette and the pattern, colour words steer the hue.
    pub prompt: &'a str,
    /// The reference image the subject is taken from, or none (text-to-image models).
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
// Knobs: the spec's numbers, clamped

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

#[cfg(test)]
mod tests;
