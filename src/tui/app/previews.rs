//! Image previews: which images are on screen where, and the worker's decodes and encodings of them.

use super::*;

impl App {
    /// The reference loaded in the form, as a preview key (local files only).
    pub fn form_preview_key(&self) -> Option<ImageKey> {
        match &self.form.reference {
            Reference::Image(img) => img
                .path
                .as_ref()
                .map(|p| ImageKey::Form(p.display().to_string())),
            _ => None,
        }
    }

    /// Whether the Parameters pane shows the reference preview.
    pub fn params_preview(&self) -> bool {
        self.previews.enabled && self.form_preview_key().is_some()
    }

    /// The image the History pane shows beside the list: the selected request's first result,
    /// once decoded.
    pub fn history_thumb(&self) -> Option<ImageKey> {
        if !self.previews.enabled {
            return None;
        }
        let key = ImageKey::Result {
            id: self.shown()?.id,
            index: 0,
        };
        matches!(self.previews.decoded.get(&key), Some(Ok(_))).then_some(key)
    }

    /// Every image on screen now with the area it is drawn in: what the renderer will look up
    /// in the preview cache.
    pub fn visible_previews(&self) -> Vec<(ImageKey, Rect)> {
        if layout::too_small(self.size) {
            return Vec::new();
        }
        // The topmost overlay that covers the panes decides what is under it.
        let cover = self
            .overlays
            .iter()
            .rev()
            .find(|o| matches!(o, Overlay::Fullscreen(_)) || self.sheet_shown(o));
        if let Some(Overlay::Fullscreen(k)) = cover {
            return vec![(k.clone(), layout::fullscreen_picture(self.size))];
        }
        if let Some(v) = self.sweep.as_ref().filter(|_| cover.is_some()) {
            // The contact sheet covers the panes: only its tiles are on screen.
            let a = crate::tui::sweep::sheet_area(v, self.size);
            return a
                .tiles
                .iter()
                .filter(|(_, p, _)| p.width >= 2 && p.height >= 1)
                .map(|(cell, p, _)| {
                    (
                        ImageKey::Cell {
                            sweep: v.n,
                            cell: *cell,
                        },
                        *p,
                    )
                })
                .collect();
        }
        let a = self.areas();
        let mut out = Vec::new();
        if let Some(k) = self.form_preview_key()
            && self.previews.enabled
        {
            let [_, _, preview, _] = layout::params_parts(&a, self.form.prompt_active, true);
            out.push((k, preview));
        }
        if let Some(k) = self.history_thumb() {
            let [_, thumb] = layout::history_parts(a.history, true);
            out.push((k, thumb));
        }
        if self.tab == Tab::Images
            && let Some(v) = self.shown_view()
        {
            let [_, _, body] = layout::response_parts(&a, v.summary.len());
            let imgs = self.tab_images();
            for ((k, _), cell) in imgs.iter().zip(layout::image_cells(body, imgs.len())) {
                out.push((k.clone(), layout::cell_picture(cell)));
            }
        }
        out
    }

    /// Asks the worker to encode what is on screen and not cached at its size yet.
    pub(super) fn preview_cmds(&mut self) -> Vec<Cmd> {
        let wanted = self.visible_previews();
        let mut cmds: Vec<Cmd> = Vec::new();
        // The History pane's thumbnail of the selected request is wanted even when the
        // Images tab is not on screen.
        let thumb = self
            .shown()
            .map(|e| ImageKey::Result { id: e.id, index: 0 });
        let decode: Vec<ImageKey> = wanted
            .iter()
            .map(|(k, _)| k.clone())
            .chain(thumb.filter(|_| self.previews.enabled))
            .collect();
        // Images dropped from memory (or read back from the store) are decoded from their
        // bytes when shown.
        for key in &decode {
            if self.previews.evicted.contains(key)
                && !self.previews.decoding.contains(key)
                && let Some(source) = self.preview_source(key)
            {
                self.previews.decoding.insert(key.clone());
                cmds.push(Cmd::DecodePreview {
                    key: key.clone(),
                    source,
                });
            }
        }
        let generation = self.preview_generation;
        cmds.extend(self.previews.missing(&wanted).into_iter().map(
            |(key, image, width, height)| Cmd::EncodePreview {
                key,
                generation,
                image,
                width,
                height,
            },
        ));
        cmds
    }

    /// Where the bytes of a previewed image are now.
    pub(super) fn preview_source(&self, key: &ImageKey) -> Option<ImageSource> {
        match key {
            ImageKey::Form(path) => Some(ImageSource::File(PathBuf::from(path))),
            ImageKey::Result { id, index } => {
                let e = self.history.entries().iter().find(|e| e.id == *id)?;
                match &e.view()?.images.get(*index)?.state {
                    ImageState::Saved(p) => Some(ImageSource::File(p.clone())),
                    _ => None,
                }
            }
            ImageKey::Cell { sweep, cell } => {
                let v = self.sweep.as_ref().filter(|v| v.n == *sweep)?;
                v.cells.get(*cell)?.image.clone().map(ImageSource::File)
            }
            ImageKey::Reference { id } => {
                let e = self.history.entries().iter().find(|e| e.id == *id)?;
                let b64 = e
                    .request
                    .as_ref()?
                    .get(schema::REFERENCE_BASE64)?
                    .as_array()?
                    .first()?
                    .as_str()?;
                Some(ImageSource::Base64(Arc::from(b64)))
            }
        }
    }

    /// An image was decoded for previews.
    pub(super) fn on_preview_decoded(
        &mut self,
        key: ImageKey,
        result: crate::tui::preview::Decoded,
    ) {
        if let Err(e) = &result {
            tracing::warn!(?key, "no preview: {e}");
        }
        // A new decode of the same key (a reloaded reference) invalidates encodings.
        let visible = self.visible_previews();
        self.previews.insert_decoded(key, result, &visible);
    }

    /// The start-up query decided (or changed) the image protocol.
    pub(super) fn on_protocol_detected(
        &mut self,
        setup: crate::tui::termquery::SetupRef,
    ) -> Vec<Cmd> {
        // Previews are switched, never blocked on: what was encoded for the old
        // protocol goes, and what is on screen is encoded again.
        self.preview_generation += 1;
        self.previews.enabled = setup.0.protocol != crate::tui::preview::Protocol::None;
        self.previews.encoded.clear();
        self.previews.pending.clear();
        vec![Cmd::UsePreviews(setup)]
    }

    /// An image was encoded at a size for the protocol in use.
    pub(super) fn on_preview_encoded(
        &mut self,
        key: ImageKey,
        generation: u64,
        (width, height): (u16, u16),
        result: Result<crate::tui::preview::Encoded, String>,
    ) {
        if generation != self.preview_generation {
            return;
        }
        let k = (key, width, height);
        self.previews.pending.remove(&k);
        if self.previews.decoded.contains_key(&k.0) {
            self.previews.encoded.insert(k, result);
        }
    }
}
