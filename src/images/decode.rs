//! Decoding untrusted image bytes without trusting their headers: the size an image claims is
//! checked before any pixel buffer is allocated, so a decompression bomb (a small file that
//! claims 60000x60000 px) is refused at once. Also the service's input limits, and fitting an
//! image to them.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// How large an image [`decode_bounded`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Largest width or height, in pixels.
    pub max_side: u32,
    /// Largest width x height.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

/// Bounds for previews of images from the network or the user's disk: generous enough for a
/// 20 MB camera JPEG, small enough that one decode cannot take the machine's memory.
pub const PREVIEW_BOUNDS: Bounds = Bounds {
    max_side: 16_384,
    max_pixels: 64_000_000,
    max_alloc: 512 * 1024 * 1024,
};

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Neither JPEG nor PNG.
    #[error("not a JPEG or PNG image")]
    Unsupported,
    /// The header claims a size over the bounds; nothing was decoded.
    #[error("the image claims {width}x{height} px, over the {max_side} px / {max_pixels} px limit")]
    TooLarge {
        /// Width claimed by the header.
        width: u32,
        /// Height claimed by the header.
        height: u32,
        /// The side limit in force.
        max_side: u32,
        /// The area limit in force.
        max_pixels: u64,
    },
    /// Corrupt or unsupported data.
    #[error("cannot decode the image: {0}")]
    Decode(#[source] ImageError),
}

/// Why bytes are not a whole image (see [`check_complete`]).
#[derive(Debug, thiserror::Error)]
pub enum NotWhole {
    /// The header is refused or the pixels do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The structure ends early or is broken: the file was cut off.
    #[error("a truncated or damaged image: {0}")]
    Cut(String),
}

/// The size in a PNG's IHDR chunk (which always comes first, right after the signature).
pub fn png_claimed_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(12..24)?;
    if &ihdr[..4] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]]);
    let height = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    Some((width, height))
}

fn limits(b: Bounds) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(b.max_side);
    l.max_image_height = Some(b.max_side);
    l.max_alloc = Some(b.max_alloc);
    l
}

/// Width and height of a JPEG or PNG from its header alone (PNG with strict limits, as its
/// decoder reads on construction), checked against `b`.
pub fn probe(bytes: &[u8], b: Bounds) -> Result<(ImageFormat, u32, u32), DecodeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Decode(ImageError::IoError(e)))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => return Err(DecodeError::Unsupported),
    };
    let too_large = |width, height| DecodeError::TooLarge {
        width,
        height,
        max_side: b.max_side,
        max_pixels: b.max_pixels,
    };
    let mut probe = reader;
    probe.limits(if format == ImageFormat::Png {
        limits(b)
    } else {
        Limits::no_limits()
    });
    let (width, height) = match probe.into_dimensions() {
        Ok(size) => size,
        Err(ImageError::Limits(e)) => {
            return Err(png_claimed_size(bytes)
                .map(|(w, h)| too_large(w, h))
                .unwrap_or(DecodeError::Decode(ImageError::Limits(e))));
        }
        Err(e) => return Err(DecodeError::Decode(e)),
    };
    if width > b.max_side
        || height > b.max_side
        || u64::from(width) * u64::from(height) > b.max_pixels
    {
        return Err(too_large(width, height));
    }
    Ok((format, width, height))
}

/// Decodes a JPEG or PNG whose header-claimed size is within `b`; a bomb is refused from its
/// header without allocating its pixel buffer.
pub fn decode_bounded(bytes: &[u8], b: Bounds) -> Result<DynamicImage, DecodeError> {
    let (format, _, _) = probe(bytes, b)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits(b));
    reader.decode().map_err(DecodeError::Decode)
}

/// Where a JPEG's structure ends: walks the marker segments and the entropy-coded scans to
/// the end-of-image marker. A file cut short (the usual damage: an interrupted copy or
/// download) is caught here even where a tolerant decoder would fill in the missing rows.
fn jpeg_structure(b: &[u8]) -> Result<(), String> {
    let cut = || "the file ends before the image does (no JPEG end marker)".to_owned();
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err("no JPEG start marker".into());
    }
    let mut i = 2;
    loop {
        if i >= b.len() {
            return Err(cut());
        }
        if b[i] != 0xFF {
            return Err(format!("broken JPEG structure at byte {i}"));
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return Err(cut());
        };
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = match b.get(i..i + 2) {
                    Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
                    None => return Err(cut()),
                };
                if len < 2 {
                    return Err(format!("broken JPEG segment length at byte {i}"));
                }
                i += len;
                if i > b.len() {
                    return Err(cut());
                }
                if marker == 0xDA {
                    // Entropy-coded data: up to the next marker that is not a stuffed 0xFF00
                    // or a restart marker.
                    loop {
                        match (b.get(i), b.get(i + 1)) {
                            (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                            (Some(0xFF), Some(_)) => break,
                            (Some(_), _) => i += 1,
                            (None, _) => return Err(cut()),
                        }
                    }
                }
            }
        }
    }
}

/// Where a PNG's structure ends: walks the chunks to `IEND`.
fn png_structure(b: &[u8]) -> Result<(), String> {
    let mut i = 8;
    loop {
        let Some(head) = b.get(i..i + 8) else {
            return Err("the file ends before the image does (no IEND chunk)".into());
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = String::from_utf8_lossy(&head[4..8]).into_owned();
        let end = i.saturating_add(12).saturating_add(len);
        if end > b.len() {
            return Err(format!(
                "the file ends inside its {kind} chunk (the image is cut off)"
            ));
        }
        if kind == "IEND" {
            return Ok(());
        }
        i = end;
    }
}

/// Checks that bytes are a JPEG or PNG whose header is within [`PREVIEW_BOUNDS`] (a bomb is
/// refused before any pixel is allocated) and whose structure is complete to its end marker
/// (a cut-off file is caught). Cheap: no pixel is decoded. Returns the size.
pub fn check_structure(bytes: &[u8]) -> Result<(u32, u32), NotWhole> {
    let (format, width, height) = probe(bytes, PREVIEW_BOUNDS)?;
    match format {
        ImageFormat::Jpeg => jpeg_structure(bytes),
        _ => png_structure(bytes),
    }
    .map_err(NotWhole::Cut)?;
    Ok((width, height))
}

/// [`check_structure`], then every pixel decoded (within bounds): a whole, undamaged image.
/// Returns the size. A full decode: call it off a UI task.
pub fn check_complete(bytes: &[u8]) -> Result<(u32, u32), NotWhole> {
    let size = check_structure(bytes)?;
    decode_bounded(bytes, PREVIEW_BOUNDS)?;
    Ok(size)
}

/// Decodes untrusted bytes for a preview: bounded by [`PREVIEW_BOUNDS`], then shrunk (never
/// enlarged) to at most `max_side` pixels a side. Slow for big images: call it off the UI task.
pub fn decode_preview(bytes: &[u8], max_side: u32) -> Result<DynamicImage, DecodeError> {
    let mut img = decode_bounded(bytes, PREVIEW_BOUNDS)?;
    // Halving with a 2x2 average is several times faster than the general resize (a
    // 2048x2048 result: 4 ms instead of 27), and as good for a preview.
    while img.width().max(img.height()) / 2 >= max_side && img.width().min(img.height()) >= 2 {
        match halve(&img) {
            Some(half) => img = half,
            None => break,
        }
    }
    if img.width() > max_side || img.height() > max_side {
        Ok(img.thumbnail(max_side, max_side))
    } else {
        Ok(img)
    }
}

/// The image at half its width and height, each pixel the average of 2x2 (8-bit RGB and RGBA
/// only; `None` for other pixel types, which take the general path).
fn halve(img: &DynamicImage) -> Option<DynamicImage> {
    fn half<const N: usize>(src: &[u8], w: usize, h: usize) -> Vec<u8> {
        let (hw, hh) = (w / 2, h / 2);
        let mut out = vec![0u8; hw * hh * N];
        for (y, row) in out.chunks_exact_mut(hw * N).enumerate() {
            let a = &src[2 * y * w * N..(2 * y + 1) * w * N];
            let b = &src[(2 * y + 1) * w * N..(2 * y + 2) * w * N];
            for (x, px) in row.chunks_exact_mut(N).enumerate() {
                for (c, v) in px.iter_mut().enumerate() {
                    let i = 2 * x * N + c;
                    let sum = u16::from(a[i])
                        + u16::from(a[i + N])
                        + u16::from(b[i])
                        + u16::from(b[i + N]);
                    *v = ((sum + 2) / 4) as u8;
                }
            }
        }
        out
    }
    let (w, h) = (img.width(), img.height());
    let (hw, hh) = (w / 2, h / 2);
    match img {
        DynamicImage::ImageRgb8(i) => {
            image::RgbImage::from_raw(hw, hh, half::<3>(i.as_raw(), w as usize, h as usize))
                .map(DynamicImage::ImageRgb8)
        }
        DynamicImage::ImageRgba8(i) => {
            image::RgbaImage::from_raw(hw, hh, half::<4>(i.as_raw(), w as usize, h as usize))
                .map(DynamicImage::ImageRgba8)
        }
        _ => None,
    }
}

/// The service's documented input limits for a reference image.
pub mod limits {
    /// Largest file, in bytes (4.7 MB).
    pub const MAX_BYTES: usize = crate::api::schema::MAX_IMAGE_BYTES;
    /// Smallest width or height, in pixels.
    pub const MIN_SIDE: u32 = 128;
    /// Largest width or height, in pixels.
    pub const MAX_SIDE: u32 = 4096;
    /// Largest ratio of the long side to the short side.
    pub const MAX_ASPECT: u32 = 3;
}

/// What is wrong with a reference image, each problem in words. Empty when it fits the
/// service's limits (JPEG/PNG, at most 4.7 MB, 128..4096 px a side, aspect at most 3:1).
/// Reads only the header.
pub fn reference_problems(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if bytes.len() > limits::MAX_BYTES {
        out.push(format!(
            "{} ({} bytes), over the {} limit",
            crate::text::human_size(bytes.len() as u64),
            bytes.len(),
            crate::text::human_size(limits::MAX_BYTES as u64)
        ));
    }
    match probe(bytes, PREVIEW_BOUNDS) {
        Err(DecodeError::Unsupported) => out.push("not a JPEG or PNG".to_owned()),
        Err(e) => out.push(e.to_string()),
        Ok((_, w, h)) => {
            if w.min(h) < limits::MIN_SIDE {
                out.push(format!("{w}x{h} px: a side under {} px", limits::MIN_SIDE));
            }
            if w.max(h) > limits::MAX_SIDE {
                out.push(format!("{w}x{h} px: a side over {} px", limits::MAX_SIDE));
            }
            if u64::from(w.max(h)) > u64::from(w.min(h)) * u64::from(limits::MAX_ASPECT) {
                out.push(format!(
                    "{w}x{h} px: aspect ratio over {}:1",
                    limits::MAX_ASPECT
                ));
            }
        }
    }
    out
}

/// Makes a reference image fit the limits: crops the middle to 3:1 if it is longer, scales so
/// every side is within 128..4096 px, and re-encodes as JPEG (lowering quality, then size,
/// until it is under 4.7 MB). Returns the new JPEG and what was done, in words. Refuses bombs
/// like [`decode_bounded`].
pub fn fit_reference(bytes: &[u8]) -> Result<(Vec<u8>, Vec<String>), NotWhole> {
    // A cut-off file is refused rather than fitted (a tolerant decoder would fill it in).
    check_structure(bytes)?;
    let mut img = decode_bounded(bytes, PREVIEW_BOUNDS)?;
    let mut done = Vec::new();
    let (w, h) = (img.width(), img.height());
    let max_a = limits::MAX_ASPECT;
    if w > h.saturating_mul(max_a) {
        let nw = h * max_a;
        img = img.crop_imm((w - nw) / 2, 0, nw, h);
        done.push(format!("cropped {w}x{h} to {nw}x{h} (3:1)"));
    } else if h > w.saturating_mul(max_a) {
        let nh = w * max_a;
        img = img.crop_imm(0, (h - nh) / 2, w, nh);
        done.push(format!("cropped {w}x{h} to {w}x{nh} (1:3)"));
    }
    let (w, h) = (img.width(), img.height());
    let long = w.max(h);
    let short = w.min(h);
    let scale = if long > limits::MAX_SIDE {
        f64::from(limits::MAX_SIDE) / f64::from(long)
    } else if short < limits::MIN_SIDE {
        f64::from(limits::MIN_SIDE) / f64::from(short)
    } else {
        1.0
    };
    let mut target = (w, h);
    if (scale - 1.0).abs() > f64::EPSILON {
        target = scaled(w, h, scale);
        done.push(format!("resized {w}x{h} to {}x{}", target.0, target.1));
    }
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let mut quality = 90u8;
    loop {
        let resized = if target == (rgb.width(), rgb.height()) {
            rgb.clone()
        } else {
            rgb.resize_exact(target.0, target.1, image::imageops::FilterType::Lanczos3)
        };
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&resized)
            .map_err(|e| NotWhole::Decode(DecodeError::Decode(e)))?;
        if out.len() <= limits::MAX_BYTES {
            done.push(format!(
                "re-encoded as JPEG quality {quality} ({} bytes)",
                out.len()
            ));
            return Ok((out, done));
        }
        if quality > 60 {
            quality -= 10;
        } else {
            let next = scaled(target.0, target.1, 0.8);
            if next.0.min(next.1) < limits::MIN_SIDE {
                // Cannot shrink further inside the limits; the last encoding is the best.
                done.push(format!(
                    "re-encoded as JPEG quality {quality} ({} bytes)",
                    out.len()
                ));
                return Ok((out, done));
            }
            done.push(format!(
                "resized {}x{} to {}x{} to fit 4.7 MB",
                target.0, target.1, next.0, next.1
            ));
            target = next;
        }
    }
}

fn scaled(w: u32, h: u32, s: f64) -> (u32, u32) {
    let f = |v: u32| ((f64::from(v) * s).round() as u32).max(1);
    (f(w), f(h))
}

/// A tiny PNG whose header (with a valid CRC) claims `w`x`h`: a decompression bomb's shape.
#[cfg(test)]
pub(crate) fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut bytes = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .expect("png");
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn previews_are_halved_by_averaging_then_fitted() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(4, 2, |x, _| {
            image::Rgb([(x * 10) as u8, 200, 1])
        }));
        let half = halve(&img).expect("rgb8");
        assert_eq!((half.width(), half.height()), (2, 1));
        let px = half.to_rgb8();
        // (0 + 10 + 0 + 10) / 4 = 5, (20 + 30 + 20 + 30) / 4 = 25; 1 rounds to 1.
        assert_eq!(px.get_pixel(0, 0).0, [5, 200, 1]);
        assert_eq!(px.get_pixel(1, 0).0, [25, 200, 1]);
        // Landscape and odd sizes end within the box, aspect kept.
        for (w, h, max, want) in [
            (2048, 1024, 1024, (1024, 512)),
            (3001, 1500, 700, (700, 350)),
        ] {
            let p = decode_preview(&png(w, h), max).expect("decode");
            assert_eq!((p.width(), p.height()), want, "{w}x{h} into {max}");
        }
        // Other pixel types take the general path.
        assert!(halve(&DynamicImage::new_luma8(4, 4)).is_none());
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("png");
        out
    }

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        png_claiming(w, h)
    }

    #[test]
    fn a_bomb_is_refused_from_its_header_at_once() {
        let started = Instant::now();
        let r = decode_preview(&png_header(60_000, 60_000), 512);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(
                r,
                Err(DecodeError::TooLarge {
                    width: 60_000,
                    height: 60_000,
                    ..
                })
            ),
            "{r:?}"
        );
        let p = reference_problems(&png_header(60_000, 60_000));
        assert!(p.iter().any(|p| p.contains("60000x60000")), "{p:?}");
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
            .expect("jpeg");
        out
    }

    #[test]
    fn a_cut_off_image_is_caught_by_its_structure_not_only_its_header() {
        for (name, whole) in [("jpeg", jpeg(300, 200)), ("png", png(300, 200))] {
            assert_eq!(
                check_complete(&whole).expect(name),
                (300, 200),
                "{name} whole"
            );
            // Cut anywhere after the header: the header still reads, the image does not end.
            for keep in [whole.len() / 3, whole.len() / 2, whole.len() - 2] {
                let cut = &whole[..keep];
                assert!(probe(cut, PREVIEW_BOUNDS).is_ok(), "{name} header readable");
                let e = check_complete(cut).expect_err(name).to_string();
                assert!(
                    e.contains("ends before the image does") || e.contains("cut off"),
                    "{name} cut at {keep}: {e}"
                );
                assert!(
                    fit_reference(cut).is_err(),
                    "{name}: a cut file is not fitted"
                );
            }
        }
        // Bytes after the end marker (some cameras append data) are no damage.
        let mut trailer = jpeg(64, 64);
        trailer.extend_from_slice(b"appended by a camera");
        assert!(check_complete(&trailer).is_ok());
        // A bomb is refused from its header.
        assert!(matches!(
            check_complete(&png_header(60_000, 60_000)),
            Err(NotWhole::Decode(DecodeError::TooLarge { .. }))
        ));
        // Damaged entropy data inside a complete structure: the full decode catches what the
        // structure cannot (PNG checks its CRCs).
        let mut bad = png(64, 64);
        let mid = bad.len() / 2;
        bad[mid] ^= 0xFF;
        assert!(check_complete(&bad).is_err());
    }

    #[test]
    fn previews_shrink_but_never_grow() {
        let big = decode_preview(&png(300, 150), 100).expect("decodes");
        assert_eq!((big.width(), big.height()), (100, 50));
        let small = decode_preview(&png(30, 20), 100).expect("decodes");
        assert_eq!((small.width(), small.height()), (30, 20));
        assert!(matches!(
            decode_preview(b"GIF89a....", 100),
            Err(DecodeError::Unsupported)
        ));
    }

    #[test]
    fn reference_limits_are_the_documented_ones() {
        assert!(reference_problems(&png(128, 384)).is_empty());
        assert!(reference_problems(&png(4096, 2048)).is_empty());
        let small = reference_problems(&png(127, 200));
        assert_eq!(small.len(), 1, "{small:?}");
        assert!(small[0].contains("under 128"), "{small:?}");
        let wide = reference_problems(&png(400, 133));
        assert!(wide.iter().any(|p| p.contains("aspect")), "{wide:?}");
        assert!(wide.iter().all(|p| !p.contains("under")), "{wide:?}");
        let long = reference_problems(&png(4097, 2000));
        assert!(long.iter().any(|p| p.contains("over 4096")), "{long:?}");
        assert_eq!(reference_problems(b"hello"), ["not a JPEG or PNG"]);
        let mut heavy = png(200, 200);
        heavy.resize(limits::MAX_BYTES + 1, 0);
        let p = &reference_problems(&heavy)[0];
        assert!(
            p.contains("4.7 MB (4700001 bytes), over the 4.7 MB limit"),
            "{p}"
        );
    }

    #[test]
    fn fitting_crops_scales_and_reencodes_into_the_limits() {
        let (out, done) = fit_reference(&png(1000, 100)).expect("fits");
        assert!(reference_problems(&out).is_empty(), "{done:?}");
        assert_eq!(image::load_from_memory(&out).expect("jpeg").width(), 384);
        assert!(
            done.iter()
                .any(|d| d.starts_with("cropped 1000x100 to 300x100"))
        );
        assert!(
            done.iter()
                .any(|d| d.starts_with("resized 300x100 to 384x128"))
        );
        let (out, _) = fit_reference(&png(5000, 3000)).expect("fits");
        let img = image::load_from_memory(&out).expect("jpeg");
        assert_eq!((img.width(), img.height()), (4096, 2458));
        assert!(fit_reference(&png_header(60_000, 60_000)).is_err());
    }
}
