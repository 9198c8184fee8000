//! The preview jobs: images decoded (bombs refused) and encoded for the terminal's graphics
//! protocol, and the preview setup the start-up query chose.

use super::files::source_bytes;
use super::{Worker, report_panic_in_status};
use crate::images;
use crate::tui::form::LoadedImage;
use crate::tui::msg::{ImageSource, Msg};
use crate::tui::preview::{Encoded, ImageKey, PREVIEW_MAX_SIDE, Setup};
use base64::Engine as _;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Decodes untrusted image bytes for a preview (bombs refused from the header), shrunk to
/// [`PREVIEW_MAX_SIDE`]. Slow for big images: call it on the blocking pool.
pub fn decode_for_preview(bytes: &[u8]) -> crate::tui::preview::Decoded {
    images::decode::decode_preview(bytes, PREVIEW_MAX_SIDE)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Encodes a decoded image for the picker's protocol to fit `width` x `height` cells (scaled
/// up when smaller, aspect kept). Slow: call it on the blocking pool.
pub fn encode_preview(
    picker: &ratatui_image::picker::Picker,
    image: &image::DynamicImage,
    width: u16,
    height: u16,
) -> Result<Encoded, String> {
    if picker.protocol_type() == ratatui_image::picker::ProtocolType::Kitty
        && !picker.tmux_detected()
    {
        let f = picker.font_size();
        return crate::tui::preview::kitty_placed(image, width, height, (f.width, f.height));
    }
    picker
        .new_protocol(
            image.clone(),
            ratatui::layout::Size::new(width, height),
            ratatui_image::Resize::Scale(Some(image::imageops::FilterType::Triangle)),
        )
        .map(|mut p| {
            if let ratatui_image::protocol::Protocol::Sixel(s) = &mut p
                && s.is_tmux
            {
                crate::tui::preview::close_tmux_sixel(&mut s.data);
            }
            Encoded::Widget(Arc::new(p))
        })
        .map_err(|e| e.to_string())
}

pub(super) async fn reference_loaded(
    tx: &UnboundedSender<Msg>,
    input: String,
    result: Result<LoadedImage, String>,
    decode: bool,
    done: Vec<String>,
) {
    let preview = match (&result, decode) {
        (Ok(img), true) => Some((
            img.path
                .as_ref()
                .map_or_else(|| input.clone(), |p| p.display().to_string()),
            Arc::clone(&img.base64),
        )),
        _ => None,
    };
    if !done.is_empty() && result.is_ok() {
        let _ = tx.send(Msg::Saved {
            text: format!("reference fitted: {}", done.join(", ")),
            error: false,
        });
    }
    let _ = tx.send(Msg::ReferenceLoaded { input, result });
    if let Some((key, b64)) = preview {
        let result = tokio::task::spawn_blocking(move || {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| e.to_string())?;
            decode_for_preview(&bytes)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let _ = tx.send(Msg::PreviewDecoded {
            key: ImageKey::Form(key),
            result,
        });
    }
}

impl Worker {
    pub(super) fn use_previews(&self, setup: Setup) {
        if let Ok(mut p) = self.previews.lock() {
            *p = setup;
        }
    }

    fn picker(&self) -> Option<ratatui_image::picker::Picker> {
        self.previews.lock().ok().and_then(|p| p.picker.clone())
    }

    pub(super) fn decoding(&self) -> bool {
        self.previews.lock().is_ok_and(|p| p.picker.is_some())
    }

    /// Encodes a decoded image for the preview protocol, sized in cells.
    pub(super) fn encode_preview(
        &self,
        key: ImageKey,
        generation: u64,
        image: Arc<image::DynamicImage>,
        width: u16,
        height: u16,
    ) {
        let tx = self.tx.clone();
        let picker = self.picker();
        let task = tokio::spawn(async move {
            let result = match picker {
                None => Err("previews are off".to_owned()),
                Some(p) => {
                    tokio::task::spawn_blocking(move || encode_preview(&p, &image, width, height))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                }
            };
            let _ = tx.send(Msg::PreviewEncoded {
                key,
                generation,
                width,
                height,
                result,
            });
        });
        report_panic_in_status(&self.tx, "encoding a preview", task);
    }

    /// Decodes an image for a preview.
    pub(super) fn decode_preview(&self, key: ImageKey, source: ImageSource) {
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let result = match source_bytes(source).await {
                Ok(bytes) => tokio::task::spawn_blocking(move || decode_for_preview(&bytes))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
                Err(e) => Err(e),
            };
            let _ = tx.send(Msg::PreviewDecoded { key, result });
        });
        report_panic_in_status(&self.tx, "decoding a preview", task);
    }
}
