//! The Response pane: its tabs, scrolling, the Images tab's selection, saving images and copying.

use super::*;

impl App {
    /// The images of the shown request in the Images tab's order: the reference first, then
    /// every result. Empty while it is in flight or when it failed.
    pub fn tab_images(&self) -> Vec<(ImageKey, &ImageItem)> {
        let Some(e) = self.shown() else {
            return Vec::new();
        };
        let Some(v) = e.view() else {
            return Vec::new();
        };
        let mut out: Vec<(ImageKey, &ImageItem)> = v
            .images
            .iter()
            .filter(|i| i.state == ImageState::Reference)
            .map(|i| (ImageKey::Reference { id: e.id }, i))
            .collect();
        out.extend(
            v.images
                .iter()
                .enumerate()
                .filter(|(_, i)| i.state != ImageState::Reference)
                .map(|(index, i)| (ImageKey::Result { id: e.id, index }, i)),
        );
        out
    }

    /// The selected image's index in [`App::tab_images`]: the one picked, else the first
    /// result (what the user came for), else the reference.
    pub fn image_selection(&self) -> usize {
        let imgs = self.tab_images();
        let first_result = imgs
            .iter()
            .position(|(k, _)| matches!(k, ImageKey::Result { .. }))
            .unwrap_or(0);
        self.image_selected
            .unwrap_or(first_result)
            .min(imgs.len().saturating_sub(1))
    }

    /// A result image was saved (or failed to be): its row in the Images tab follows.
    pub(super) fn on_image_saved(
        &mut self,
        id: u64,
        index: usize,
        state: ImageState,
        facts: Option<crate::tui::msg::ImageFacts>,
    ) {
        if let Some(e) = self.history.get_mut(id)
            && let EntryState::Done { view, .. } = &mut e.state
            && let Some(item) = Arc::make_mut(view).images.get_mut(index)
        {
            item.state = state;
            if let Some(f) = facts {
                item.format = f.format;
                item.dims = f.dims;
                item.bytes = Some(f.bytes);
            }
        }
    }

    /// `f` full screen, `s` save the selected image, `o` save all (Images tab).
    pub(super) fn image_key(&mut self, c: char) {
        let imgs: Vec<(ImageKey, ImageItem)> = self
            .tab_images()
            .into_iter()
            .map(|(k, i)| (k, i.clone()))
            .collect();
        let Some((key, item)) = imgs.get(self.image_selection()) else {
            self.info_msg("no image to show or save");
            return;
        };
        match c {
            'f' => {
                if self.previews.enabled {
                    self.overlays.open(Overlay::Fullscreen(key.clone()));
                } else {
                    self.info_msg("previews are off (--image-protocol none)");
                }
            }
            's' => match self.image_source(key, item) {
                Some((source, name)) => {
                    let path = self.save_dir.join(name);
                    self.overlays.open(Overlay::Save(SavePrompt {
                        what: SaveWhat::One(source),
                        input: line_input(&path.display().to_string()),
                    }));
                }
                None => self.info_msg(format!("{}: nothing to save yet", item.label)),
            },
            _ => {
                let items: Vec<(ImageSource, String)> = imgs
                    .iter()
                    .filter_map(|(k, i)| self.image_source(k, i))
                    .map(|(src, name)| {
                        let stem = name
                            .rsplit_once('.')
                            .map_or(name.as_str(), |(s, _)| s)
                            .to_owned();
                        (src, stem)
                    })
                    .collect();
                if items.is_empty() {
                    self.info_msg("nothing to save yet");
                    return;
                }
                let dir = self.save_dir.join(self.file_stem());
                self.overlays.open(Overlay::Save(SavePrompt {
                    what: SaveWhat::All(items),
                    input: line_input(&dir.display().to_string()),
                }));
            }
        }
    }

    /// The stem of the shown entry's file names: the CLI's `volcv-<date>-<time>-<request id>`,
    /// or `volcv-<number>` for an exchange that never got an answer.
    fn file_stem(&self) -> String {
        match self.shown() {
            Some(e) => match &e.state {
                EntryState::Done { view, .. } if !view.file_stem.is_empty() => {
                    view.file_stem.clone()
                }
                _ => format!("volcv-{}", e.id),
            },
            None => "volcv".to_owned(),
        }
    }

    /// Where an image's bytes are, and a file name for it.
    pub(super) fn image_source(
        &self,
        key: &ImageKey,
        item: &ImageItem,
    ) -> Option<(ImageSource, String)> {
        let stem = self.file_stem();
        match (&item.state, key) {
            (ImageState::Saved(p), ImageKey::Result { index, .. }) => {
                // The store keeps files by hash; the user gets the one readable name the CLI
                // uses too: <stem>-<N>.<ext>.
                let ext = p
                    .extension()
                    .map_or_else(|| "bin".to_owned(), |e| e.to_string_lossy().into_owned());
                Some((
                    ImageSource::File(p.clone()),
                    format!("{stem}-{}.{ext}", index + 1),
                ))
            }
            (ImageState::Saved(p), _) => Some((
                ImageSource::File(p.clone()),
                p.file_name()?.to_string_lossy().into_owned(),
            )),
            (ImageState::Reference, ImageKey::Reference { .. }) => {
                let b64 = self
                    .shown()?
                    .request
                    .as_ref()?
                    .get(schema::REFERENCE_BASE64)?
                    .as_array()?
                    .first()?
                    .as_str()?;
                let ext = if item.format.eq_ignore_ascii_case("png") {
                    "png"
                } else {
                    "jpg"
                };
                Some((
                    ImageSource::Base64(Arc::from(b64)),
                    format!("{stem}-reference.{ext}"),
                ))
            }
            _ => None,
        }
    }

    pub(super) fn on_save_prompt_key(
        &mut self,
        mut prompt: SavePrompt,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::line_edit::{Outcome, line_key};
        match line_key(&mut prompt.input, ev) {
            Outcome::Discard => {
                self.info_msg("not saved");
                (None, Vec::new())
            }
            Outcome::Commit => {
                let text = prompt.input.lines().join("").trim().to_owned();
                if text.is_empty() {
                    self.info_msg("not saved: no path");
                    return (None, Vec::new());
                }
                self.info_msg("saving…");
                let path = PathBuf::from(text);
                (
                    None,
                    vec![match prompt.what {
                        SaveWhat::One(source) => Cmd::SaveImage { source, path },
                        SaveWhat::All(items) => Cmd::SaveAll { items, dir: path },
                    }],
                )
            }
            _ => (Some(Overlay::Save(prompt)), Vec::new()),
        }
    }

    pub(super) fn response_action(&mut self, a: Action) {
        if self.tab == Tab::Images
            && matches!(a, Action::Down | Action::Up | Action::Top | Action::Bottom)
        {
            let n = self.tab_images().len();
            let s = self.image_selection();
            self.image_selected = Some(match a {
                Action::Down => (s + 1).min(n.saturating_sub(1)),
                Action::Up => s.saturating_sub(1),
                Action::Top => 0,
                _ => n.saturating_sub(1),
            });
            return;
        }
        if matches!(a, Action::Decrease | Action::Increase) {
            self.tab = self.tab.step(if a == Action::Decrease { -1 } else { 1 });
            self.response_scroll = 0;
            self.response_skip = 0;
            return;
        }
        let Some(view) = self.shown_view().cloned() else {
            return;
        };
        let Some(doc) = tab_doc(&view, self.tab) else {
            return;
        };
        let areas = self.areas();
        let height = layout::response_rows(&areas, view.summary.len());
        let width = usize::from(layout::inner(areas.response).width);
        // Positions are (line, rows of it skipped): long lines wrap, and one can be taller
        // than the pane, so scrolling goes by rows.
        let last = doc.last_position(height, width);
        let mut pos = (self.response_scroll, self.response_skip);
        let down = |p: (usize, usize)| {
            if p.1 + 1 < doc.rows(p.0, width) {
                (p.0, p.1 + 1)
            } else {
                (p.0 + 1, 0)
            }
        };
        let up = |p: (usize, usize)| match p {
            (0, 0) => (0, 0),
            (l, 0) => (l - 1, doc.rows(l - 1, width).saturating_sub(1)),
            (l, s) => (l, s - 1),
        };
        let steps = |a: Action| match a {
            Action::PageDown | Action::PageUp => height,
            _ => 1,
        };
        pos = match a {
            Action::Down | Action::PageDown => {
                for _ in 0..steps(a) {
                    if pos >= last {
                        break;
                    }
                    pos = down(pos);
                }
                pos.min(last)
            }
            Action::Up | Action::PageUp => {
                for _ in 0..steps(a) {
                    pos = up(pos);
                }
                pos
            }
            Action::Top => (0, 0),
            Action::Bottom => last,
            _ => pos,
        };
        (self.response_scroll, self.response_skip) = pos;
    }

    /// Lines in the current tab (before wrapping).
    pub fn tab_len(&self) -> usize {
        self.shown_view().map_or(0, |v| match self.tab {
            Tab::Images => v.images.len() + 1,
            Tab::Body => v.body.len(),
            Tab::Request => v.request.len(),
            Tab::Headers => v.headers.len(),
        })
    }

    pub(super) fn copy(&mut self) -> Vec<Cmd> {
        let text = match self.focus {
            Pane::Params => {
                let row = self.form.selected;
                match self.form.rows.get(row).map(|r| r.kind) {
                    Some(RowKind::Prompt(_)) => self.form.prompt_text(),
                    // The reference itself (its URL or file), not the row's `URL ` label.
                    Some(RowKind::Reference) => match &self.form.reference {
                        Reference::Url(u) => u.clone(),
                        Reference::Loading(p) => p.clone(),
                        Reference::Failed { input, .. } => input.clone(),
                        Reference::Image(img) => match &img.path {
                            Some(p) => p.display().to_string(),
                            None => {
                                self.info_msg(
                                    "nothing to copy: the reference is inline base64 \
                                     (the Request tab's y copies the request with it)",
                                );
                                return Vec::new();
                            }
                        },
                        Reference::Empty => String::new(),
                    },
                    _ => self.form.display(row).0,
                }
            }
            Pane::Response => match (self.shown_view(), self.tab) {
                (None, _) => String::new(),
                (Some(v), Tab::Images) => v
                    .images
                    .iter()
                    .filter_map(|i| match &i.state {
                        crate::tui::view::ImageState::Saved(p) => Some(p.display().to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                // The data, not the tab's text (which shows base64 as chips): the body as
                // received, the request body as sent.
                (Some(v), Tab::Body) => match &v.raw_body {
                    Some(b) => b.to_string(),
                    None => {
                        self.error_msg(format!(
                            "not copied: {} bytes is over the {COPY_CAP} byte clipboard cap",
                            v.body_len
                        ));
                        return Vec::new();
                    }
                },
                (Some(v), Tab::Request) => match self.shown().and_then(|e| e.request.as_ref()) {
                    Some(r) => serde_json::to_string_pretty(r.as_ref())
                        .unwrap_or_else(|_| v.request.to_text()),
                    None => v.request.to_text(),
                },
                (Some(v), Tab::Headers) => v.headers.to_text(),
            },
            Pane::History => self
                .shown_view()
                .and_then(|v| v.request_id.clone())
                .unwrap_or_default(),
        };
        if text.is_empty() {
            self.info_msg("nothing to copy");
            Vec::new()
        } else if text.len() > COPY_CAP {
            self.error_msg(format!(
                "not copied: {} bytes is over the {COPY_CAP} byte clipboard cap",
                text.len()
            ));
            Vec::new()
        } else {
            self.info_msg(format!("copied {} bytes (OSC 52)", text.len()));
            vec![Cmd::Copy(text)]
        }
    }

    /// The body text of the shown exchange, for tests and copying.
    pub fn shown_body(&self) -> Option<&Doc> {
        self.shown_view().map(|v| &v.body)
    }
}

/// The text of a tab, for the tabs that are text.
fn tab_doc(view: &ResponseView, tab: Tab) -> Option<&Doc> {
    match tab {
        Tab::Images => None,
        Tab::Body => Some(&view.body),
        Tab::Request => Some(&view.request),
        Tab::Headers => Some(&view.headers),
    }
}
