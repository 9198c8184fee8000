//! Image files named by their SHA-256, and the replacement of inline base64 images in JSON
//! bodies by references to those files (and back).
//!
//! A stored body is the exact body text with every JSON string literal that holds a base64
//! image replaced by the literal `"$volcv_image:sha256:<64 hex>"`. The byte offset of each
//! reference is kept beside the body, so restoring never depends on searching for the marker
//! (a prompt that happens to contain the marker text is left alone). Only literals that can be
//! restored byte for byte are replaced: canonical standard base64 of bytes that sniff as an
//! image, written either plainly or with every `/` escaped as `\/`.

use crate::images;
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// The prefix of the string that stands in for an inline image in a stored body.
pub const REF_PREFIX: &str = "$volcv_image:sha256:";

/// String literals shorter than this are never taken for images.
const MIN_BASE64_LEN: usize = 64;

/// An inline image found in a body.
#[derive(Debug, Clone)]
pub struct Found {
    /// Byte offset of the reference literal (its opening quote) in the reduced body.
    pub pos: usize,
    /// The image's bytes.
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
    /// File extension from the content (`bin` when unknown).
    pub ext: &'static str,
    /// Whether the literal wrote `/` as `\/`.
    pub slash_escaped: bool,
}

/// A body with its inline images replaced by references.
#[derive(Debug, Clone)]
pub struct Reduced {
    /// The body with references in place of the images.
    pub text: Vec<u8>,
    /// The images replaced, in order.
    pub images: Vec<Found>,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::api::auth::sha256_hex(bytes)
}

/// The extension an image file gets.
pub fn extension(bytes: &[u8]) -> &'static str {
    images::sniff(bytes).map_or("bin", images::Format::extension)
}

/// The reference literal (with quotes) for a hash.
fn ref_literal(sha256: &str) -> String {
    format!("\"{REF_PREFIX}{sha256}\"")
}

/// Replaces inline base64 images in `body`. A body that is not JSON comes back unchanged.
pub fn reduce(body: &[u8]) -> Reduced {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Reduced {
            text: body.to_vec(),
            images: Vec::new(),
        };
    }
    let mut text = Vec::with_capacity(body.len().min(64 * 1024));
    let mut images = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + 1;
        while j < body.len() && body[j] != b'"' {
            j += if body[j] == b'\\' { 2 } else { 1 };
        }
        let end = j.min(body.len());
        if let Some((bytes, slash_escaped)) = image_literal(&body[start + 1..end]) {
            text.extend_from_slice(&body[copied..start]);
            let sha256 = sha256_hex(&bytes);
            let pos = text.len();
            text.extend_from_slice(ref_literal(&sha256).as_bytes());
            images.push(Found {
                pos,
                ext: extension(&bytes),
                bytes,
                sha256,
                slash_escaped,
            });
            copied = end + 1;
        }
        i = end + 1;
    }
    text.extend_from_slice(&body[copied.min(body.len())..]);
    Reduced { text, images }
}

/// Puts the images of `reduced` for which `inline` says so back into its text as base64 (the
/// exact literal they came from), keeping the others as references: for a body whose image
/// files cannot be written, which then restores without them.
pub fn inline_some(reduced: &Reduced, inline: impl Fn(&Found) -> bool) -> Reduced {
    let mut found: Vec<&Found> = reduced.images.iter().collect();
    found.sort_by_key(|f| f.pos);
    let mut text = Vec::with_capacity(reduced.text.len());
    let mut images = Vec::new();
    let mut copied = 0;
    for f in found {
        let lit = ref_literal(&f.sha256);
        let end = f.pos + lit.len();
        if f.pos < copied || reduced.text.get(f.pos..end) != Some(lit.as_bytes()) {
            // Not a reference this body holds: left as it is.
            continue;
        }
        text.extend_from_slice(&reduced.text[copied..f.pos]);
        if inline(f) {
            text.push(b'"');
            text.extend_from_slice(encode_literal(&f.bytes, f.slash_escaped).as_bytes());
            text.push(b'"');
        } else {
            images.push(Found {
                pos: text.len(),
                ..f.clone()
            });
            text.extend_from_slice(lit.as_bytes());
        }
        copied = end;
    }
    text.extend_from_slice(&reduced.text[copied..]);
    Reduced { text, images }
}

/// The decoded image if a string literal's raw content is canonical base64 of an image.
fn image_literal(raw: &[u8]) -> Option<(Vec<u8>, bool)> {
    if raw.len() < MIN_BASE64_LEN {
        return None;
    }
    let raw = std::str::from_utf8(raw).ok()?;
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\\'))
    {
        return None;
    }
    let slash_escaped = raw.contains('\\');
    let plain = if slash_escaped {
        raw.replace("\\/", "/")
    } else {
        raw.to_owned()
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&plain)
        .ok()?;
    images::sniff(&bytes)?;
    // Only what re-encodes to the very same text is replaced, so restoring is exact.
    if encode_literal(&bytes, slash_escaped) != raw {
        return None;
    }
    Some((bytes, slash_escaped))
}

/// Base64 of `bytes` as it appears inside a JSON string literal.
fn encode_literal(bytes: &[u8], slash_escaped: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    if slash_escaped {
        b64.replace('/', "\\/")
    } else {
        b64
    }
}

/// A reference inside a stored body, as kept beside it.
#[derive(Debug, Clone)]
pub struct Ref {
    /// Byte offset of the reference literal in the stored body.
    pub pos: usize,
    /// The image's hash.
    pub sha256: String,
    /// Whether the original literal wrote `/` as `\/`.
    pub slash_escaped: bool,
}

/// Why a stored body cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The stored body does not hold the reference literal where its [`Ref`] says (the body
    /// and its references were changed apart, or two references overlap).
    #[error("no image reference for sha256 {sha256} at byte {pos} of the stored body")]
    Mismatch {
        /// The byte offset the reference claimed.
        pos: usize,
        /// The hash the reference names.
        sha256: String,
    },
    /// The image file could not be loaded, or its content does not hash to its name.
    #[error("image file for sha256 {sha256}: {detail}")]
    Image {
        /// The hash of the image wanted (lowercase hex SHA-256).
        sha256: String,
        /// Why it could not be used: the loader's error, or the hash mismatch.
        detail: String,
    },
}

/// Puts the base64 back into a reduced body. `load` gives an image's bytes by hash.
pub fn restore(
    reduced: &[u8],
    refs: &[Ref],
    mut load: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, RestoreError> {
    let mut refs: Vec<&Ref> = refs.iter().collect();
    refs.sort_by_key(|r| r.pos);
    let mut out = Vec::with_capacity(reduced.len());
    let mut copied = 0;
    for r in refs {
        let lit = ref_literal(&r.sha256);
        let end = r.pos + lit.len();
        if r.pos < copied || reduced.get(r.pos..end) != Some(lit.as_bytes()) {
            return Err(RestoreError::Mismatch {
                pos: r.pos,
                sha256: r.sha256.clone(),
            });
        }
        let bytes = load(&r.sha256).map_err(|detail| RestoreError::Image {
            sha256: r.sha256.clone(),
            detail,
        })?;
        if sha256_hex(&bytes) != r.sha256 {
            return Err(RestoreError::Image {
                sha256: r.sha256.clone(),
                detail: "the file's content does not match its name (damaged)".into(),
            });
        }
        out.extend_from_slice(&reduced[copied..r.pos]);
        out.push(b'"');
        out.extend_from_slice(encode_literal(&bytes, r.slash_escaped).as_bytes());
        out.push(b'"');
        copied = end;
    }
    out.extend_from_slice(&reduced[copied..]);
    Ok(out)
}

/// The directory of image files, `<sha256>.<ext>`.
#[derive(Debug, Clone)]
pub struct ImageDir {
    dir: PathBuf,
}

impl ImageDir {
    /// The image directory at `dir` (created by [`ImageDir::create`]).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Creates the directory if needed, readable only by the owner (0700).
    pub fn create(&self) -> std::io::Result<()> {
        crate::images::staged::create_private_dir_all(&self.dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file of an image lives.
    pub fn path(&self, sha256: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.{ext}"))
    }

    /// Writes an image unless a complete file of it is already there. The bytes are written
    /// and synced first (into an anonymous file on Linux, see [`crate::images::staged`]) and
    /// renamed into place, so the final name never shows a partial file.
    pub fn put(&self, sha256: &str, ext: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path(sha256, ext);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(path);
        }
        crate::images::staged::Staged::write(&self.dir, sha256, "tmp", bytes)?.persist(&path)?;
        Ok(path)
    }

    /// Reads an image's bytes.
    pub fn read(&self, sha256: &str, ext: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(sha256, ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(seed: u8) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend((0..200u16).map(|i| (i as u8).wrapping_mul(seed)));
        v
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn load_from(images: &[Found]) -> impl FnMut(&str) -> Result<Vec<u8>, String> + '_ {
        |sha| {
            images
                .iter()
                .find(|f| f.sha256 == sha)
                .map(|f| f.bytes.clone())
                .ok_or_else(|| "missing".to_owned())
        }
    }

    fn refs(r: &Reduced) -> Vec<Ref> {
        r.images
            .iter()
            .map(|f| Ref {
                pos: f.pos,
                sha256: f.sha256.clone(),
                slash_escaped: f.slash_escaped,
            })
            .collect()
    }

    #[test]
    fn reduces_and_restores_exactly() {
        let a = b64(&png(3));
        let b = b64(&png(7));
        let body = format!(
            r#"{{"req_key":"k","binary_data_base64":["{a}", "{b}"],"prompt":"x \"q\" {}","n":1.50}}"#,
            REF_PREFIX
        );
        let r = reduce(body.as_bytes());
        assert_eq!(r.images.len(), 2);
        let text = String::from_utf8(r.text.clone()).expect("utf8");
        assert!(!text.contains(&a) && !text.contains(&b), "{text}");
        assert!(text.contains(&format!("\"{REF_PREFIX}{}\"", sha256_hex(&png(3)))));
        let back = restore(&r.text, &refs(&r), load_from(&r.images)).expect("restore");
        assert_eq!(String::from_utf8(back).expect("utf8"), body);
    }

    #[test]
    fn escaped_slashes_restore_exactly_and_odd_literals_stay() {
        // Find an image whose base64 contains '/'.
        let bytes = (1..=255u8)
            .map(png)
            .find(|p| b64(p).contains('/'))
            .expect("some base64 has a slash");
        let escaped = b64(&bytes).replace('/', "\\/");
        let not_image = b64(&[7u8; 120]);
        let body = format!(r#"{{"data":{{"binary_data_base64":["{escaped}","{not_image}"]}}}}"#);
        let r = reduce(body.as_bytes());
        assert_eq!(r.images.len(), 1, "only the image is replaced");
        assert!(r.images[0].slash_escaped);
        assert!(String::from_utf8_lossy(&r.text).contains(&not_image));
        let back = restore(&r.text, &refs(&r), load_from(&r.images)).expect("restore");
        assert_eq!(back, body.as_bytes());
    }

    #[test]
    fn inlined_images_restore_exactly_without_their_files() {
        let (a, b, c) = (png(3), png(7), png(11));
        let body = format!(
            r#"{{"binary_data_base64":["{}","{}","{}"],"x":1}}"#,
            b64(&a),
            b64(&b),
            b64(&c)
        );
        let r = reduce(body.as_bytes());
        assert_eq!(r.images.len(), 3);
        let middle = sha256_hex(&b);
        let kept = inline_some(&r, |f| f.sha256 != middle);
        assert_eq!(
            kept.images.len(),
            1,
            "only the middle one stays a reference"
        );
        assert_eq!(kept.images[0].sha256, middle);
        let text = String::from_utf8(kept.text.clone()).expect("utf8");
        assert!(text.contains(&b64(&a)) && text.contains(&b64(&c)), "{text}");
        assert!(!text.contains(&b64(&b)), "{text}");
        // Restores with only the kept image's file at hand.
        let back = restore(&kept.text, &refs(&kept), load_from(&kept.images)).expect("restore");
        assert_eq!(back, body.as_bytes());
        let all = inline_some(&r, |_| true);
        assert!(all.images.is_empty());
        assert_eq!(all.text, body.as_bytes());
    }

    #[test]
    fn non_json_is_kept_verbatim() {
        let body = format!("<html>{}</html>", b64(&png(1))).into_bytes();
        let r = reduce(&body);
        assert!(r.images.is_empty());
        assert_eq!(r.text, body);
    }

    #[test]
    fn restore_refuses_a_reference_that_is_not_there() {
        let r = reduce(br#"{"a":"b"}"#);
        let bad = [Ref {
            pos: 1,
            sha256: "00".repeat(32),
            slash_escaped: false,
        }];
        assert!(matches!(
            restore(&r.text, &bad, |_| Ok(Vec::new())),
            Err(RestoreError::Mismatch { .. })
        ));
    }

    #[test]
    fn put_writes_once_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let images = ImageDir::new(dir.path().join("images"));
        images.create().expect("create");
        let bytes = png(5);
        let sha = sha256_hex(&bytes);
        let p1 = images.put(&sha, "png", &bytes).expect("put");
        let p2 = images.put(&sha, "png", &bytes).expect("put again");
        assert_eq!(p1, p2);
        assert_eq!(std::fs::read(&p1).expect("read"), bytes);
        let names: Vec<_> = std::fs::read_dir(images.dir())
            .expect("list")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(names.len(), 1);
    }
}
