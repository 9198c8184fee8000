//! The reference jobs: a local reference image loaded and checked, or fitted to the limits
//! ([`crate::images::reference`]), then handed to the form.

use super::files::expand_home;
use super::previews::reference_loaded;
use super::{Worker, report_panic_in_status};
use crate::images;
use crate::images::reference::Refusal;
use crate::tui::form::LoadedImage;
use crate::tui::msg::Msg;
use base64::Engine as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads a local reference file on the blocking pool: `~/` expanded, then `job` (a loader
/// of [`images::reference`]) with the path.
async fn on_reference<T: Send + 'static, E: From<String> + Send + 'static>(
    input: &str,
    job: impl FnOnce(&std::path::Path) -> Result<T, E> + Send + 'static,
) -> Result<(PathBuf, T), E> {
    let path = expand_home(input.trim());
    tokio::task::spawn_blocking(move || job(&path).map(|t| (path, t)))
        .await
        .map_err(|e| E::from(e.to_string()))?
}

fn loaded(path: PathBuf, bytes: &[u8], dims: Option<(u32, u32)>) -> LoadedImage {
    LoadedImage {
        path: Some(path),
        bytes: bytes.len(),
        format: if images::sniff(bytes) == Some(images::Format::Png) {
            "PNG"
        } else {
            "JPEG"
        },
        dims,
        base64: Arc::from(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// Reads and checks a reference image against the service's limits
/// ([`images::reference::load`]: from the header first, a decompression bomb refused without
/// decoding). Returns it base64-encoded; a readable image over the limits is refused with
/// [`Refusal::OverLimits`] so the user can choose to fit it.
pub async fn load_reference(input: &str) -> Result<LoadedImage, Refusal> {
    let (path, r) = on_reference(input, images::reference::load).await?;
    Ok(loaded(path, &r.bytes, r.dims))
}

/// Reads a local reference image and fits it to the limits ([`images::reference::fit`]).
/// Returns it and what was done, in words.
pub async fn fit_reference_file(input: &str) -> Result<(LoadedImage, Vec<String>), String> {
    let (path, (r, done)) = on_reference(input, images::reference::fit).await?;
    Ok((loaded(path, &r.bytes, r.dims), done))
}

impl Worker {
    /// Loads and checks a local reference image.
    pub(super) fn load_reference(&self, input: String) {
        let tx = self.tx.clone();
        let decode = self.decoding();
        let task = tokio::spawn(async move {
            let result = match load_reference(&input).await {
                Err(Refusal::OverLimits(problems)) => {
                    let _ = tx.send(Msg::ReferenceOverLimits { input, problems });
                    return;
                }
                Err(Refusal::Other(e)) => Err(e),
                Ok(img) => Ok(img),
            };
            reference_loaded(&tx, input, result, decode, Vec::new()).await;
        });
        report_panic_in_status(&self.tx, "loading the reference", task);
    }

    /// Loads a local reference image fitted to the limits.
    pub(super) fn fit_reference(&self, input: String) {
        let tx = self.tx.clone();
        let decode = self.decoding();
        let task = tokio::spawn(async move {
            let (result, done) = match fit_reference_file(&input).await {
                Ok((img, done)) => (Ok(img), done),
                Err(e) => (Err(e), Vec::new()),
            };
            reference_loaded(&tx, input, result, decode, done).await;
        });
        report_panic_in_status(&self.tx, "fitting the reference", task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::MAX_IMAGE_BYTES;
    use crate::images;

    #[tokio::test]
    async fn reference_checks_existence_format_and_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("nope.png");
        let e = load_reference(&missing.display().to_string())
            .await
            .expect_err("missing")
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "hello").expect("write");
        let e = load_reference(&text.display().to_string())
            .await
            .expect_err("text")
            .to_string();
        assert!(e.contains("not an image"), "{e}");
        let big = dir.path().join("big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(MAX_IMAGE_BYTES + 1, 0);
        std::fs::write(&big, &bytes).expect("write");
        let e = load_reference(&big.display().to_string())
            .await
            .expect_err("big")
            .to_string();
        assert!(e.starts_with("too large"), "{e}");
        let png = dir.path().join("ok.png");
        image::RgbImage::new(200, 150).save(&png).expect("save");
        let ok = load_reference(&png.display().to_string())
            .await
            .expect("ok");
        assert_eq!((ok.format, ok.dims), ("PNG", Some((200, 150))));
    }

    #[tokio::test]
    async fn a_reference_over_the_limits_is_offered_a_fit_never_changed_silently() {
        let dir = tempfile::tempdir().expect("tmp");
        let small = dir.path().join("small.png");
        image::RgbImage::new(20, 10).save(&small).expect("save");
        let input = small.display().to_string();
        let problems = match load_reference(&input).await {
            Err(Refusal::OverLimits(p)) => p,
            other => panic!("expected OverLimits, got {other:?}"),
        };
        assert!(
            problems.iter().any(|p| p.contains("under 128")),
            "{problems:?}"
        );
        // The file itself is never touched; the fitted copy lives in memory.
        let before = std::fs::read(&small).expect("read");
        let (img, done) = fit_reference_file(&input).await.expect("fits");
        assert_eq!(std::fs::read(&small).expect("read"), before);
        assert_eq!((img.format, img.dims), ("JPEG", Some((256, 128))));
        assert!(
            done.iter().any(|d| d.contains("resized 20x10 to 256x128")),
            "{done:?}"
        );
        // A decompression bomb is refused outright, not offered a fit.
        let bomb = dir.path().join("bomb.png");
        std::fs::write(&bomb, images::decode::png_claiming(60_000, 60_000)).expect("write");
        match load_reference(&bomb.display().to_string()).await {
            Err(Refusal::Other(e)) => assert!(e.starts_with("refused"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
