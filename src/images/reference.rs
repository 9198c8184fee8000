//! The reference image a request sends, loaded once for the CLI's `--image` and the TUI's
//! reference field: read with every file check of [`super::input`] (at most
//! [`READ_CAP`]), checked against the service's limits (JPEG/PNG, at
//! most 4.7 MB, 128..4096 px a side, aspect at most 3:1) and, when asked, fitted to them (crop
//! to 3:1, scale into 128..4096 px, re-encode as JPEG under 4.7 MB). A file is never changed:
//! a fitted copy lives in memory. Blocking (it reads and may decode): call it off a UI task.

use super::decode::{self, DecodeError, NotWhole, PREVIEW_BOUNDS};
use super::input::{self, InputError, READ_CAP};
use crate::api::schema::MAX_IMAGE_BYTES;
use std::path::Path;

/// Why a reference image was not taken as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A readable JPEG or PNG over the service's limits, each broken limit in words: it can
    /// be fitted on request ([`fit`]).
    OverLimits(Vec<String>),
    /// Anything else (missing, not an image, a decompression bomb...).
    Other(String),
}

impl From<String> for Refusal {
    fn from(e: String) -> Refusal {
        Refusal::Other(e)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OverLimits(p) => write!(f, "over the limits: {}", p.join("; ")),
            Refusal::Other(e) => f.write_str(e),
        }
    }
}

/// A reference within the limits, ready to send.
#[derive(Debug, Clone)]
pub struct Reference {
    pub bytes: Vec<u8>,
    /// Width and height, when known.
    pub dims: Option<(u32, u32)>,
}

/// Reads a reference file and checks it from its header first (a decompression bomb is
/// refused without decoding, a cut-off file is refused, not offered a fit); one within the
/// limits is then decoded whole. A readable image over the limits is refused with
/// [`Refusal::OverLimits`], so the user can choose to [`fit`] it.
pub fn load(path: &Path) -> Result<Reference, Refusal> {
    let (bytes, _) =
        input::read_image_bytes(path, READ_CAP).map_err(|e| Refusal::Other(e.to_string()))?;
    let dims = match decode::probe(&bytes, PREVIEW_BOUNDS) {
        Ok((_, w, h)) => (w, h),
        Err(e @ DecodeError::TooLarge { .. }) => {
            return Err(Refusal::Other(format!("refused: {e}")));
        }
        Err(_) if bytes.len() > MAX_IMAGE_BYTES => {
            // Over 4.7 MB: always shown in MB (as `tui::form::human_size` does).
            let mb = bytes.len() as f64 / 1_000_000.0;
            return Err(Refusal::Other(format!(
                "too large: {mb:.1} MB (at most 4.7 MB)"
            )));
        }
        Err(e) => return Err(Refusal::Other(format!("unreadable image: {e}"))),
    };
    if let Err(e) = decode::check_structure(&bytes) {
        return Err(Refusal::Other(format!("{}: {e}", path.display())));
    }
    let problems = decode::reference_problems(&bytes);
    if !problems.is_empty() {
        return Err(Refusal::OverLimits(problems));
    }
    if let Err(e) = decode::check_complete(&bytes) {
        return Err(Refusal::Other(format!("{}: {e}", path.display())));
    }
    Ok(Reference {
        bytes,
        dims: Some(dims),
    })
}

/// Reads a reference file and fits it to the limits. Returns the fitted copy and what was
/// done, in words.
pub fn fit(path: &Path) -> Result<(Reference, Vec<String>), String> {
    let (bytes, _) = input::read_image_bytes(path, READ_CAP).map_err(|e| e.to_string())?;
    let (out, done) = decode::fit_reference(&bytes).map_err(|e| e.to_string())?;
    let dims = super::dimensions(&out);
    Ok((Reference { bytes: out, dims }, done))
}

/// Why [`load_whole`] gave no reference.
#[derive(Debug)]
pub enum WholeError {
    /// The file is missing, not a whole JPEG/PNG, ...
    Read(InputError),
    /// Over the service's limits, each broken limit in words (not fitted: not asked to).
    OverLimits(Vec<String>),
    /// Over the limits and the fit failed.
    Fit(NotWhole),
}

/// What [`load_whole`] took.
#[derive(Debug)]
pub struct Whole {
    pub bytes: Vec<u8>,
    /// Set when the file was over the limits and a fitted copy was taken: the broken limits
    /// and what the fit did, in words.
    pub fitted: Option<(Vec<String>, Vec<String>)>,
}

/// Reads a reference file checked whole ([`input::read_image`]: type, size, format,
/// complete and decodable). A file over the limits is an error, or with `fit` a fitted copy.
pub fn load_whole(path: &Path, fit: bool) -> Result<Whole, WholeError> {
    let file = input::read_image(path, READ_CAP).map_err(WholeError::Read)?;
    let problems = decode::reference_problems(&file.bytes);
    if problems.is_empty() {
        return Ok(Whole {
            bytes: file.bytes,
            fitted: None,
        });
    }
    if !fit {
        return Err(WholeError::OverLimits(problems));
    }
    let (bytes, done) = decode::fit_reference(&file.bytes).map_err(WholeError::Fit)?;
    Ok(Whole {
        bytes,
        fitted: Some((problems, done)),
    })
}
