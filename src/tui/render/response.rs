//! The Response pane: summary, tabs and the Images tab.

use super::*;

/// `1024x1024 JPEG 312 KB`, or `url, downloading` before the bytes are in.
pub(super) fn image_facts(img: &crate::tui::view::ImageItem) -> String {
    let mut parts = Vec::new();
    if let Some((w, h)) = img.dims {
        parts.push(format!("{w}x{h}"));
    }
    parts.push(img.format.clone());
    if let Some(b) = img.bytes {
        parts.push(human_size(b));
    }
    parts.join(" ")
}

pub(super) fn render_response(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let entry = app.shown();
    let extra = entry
        .map(|e| format!(": {}", e.label()))
        .unwrap_or_default();
    let block = pane_block(app, Pane::Response, 2, &extra);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(entry) = entry else {
        let keys = app.keymap.label(Action::Send);
        let lines = vec![
            Line::styled("No request yet.", t.dim),
            Line::raw(""),
            Line::from(vec![
                Span::raw("Fill in the reference image and the prompt, then press "),
                Span::styled(keys, t.key),
                Span::raw(" to send."),
            ]),
        ];
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    };
    let view = match &entry.state {
        EntryState::InFlight {
            started,
            cancelling,
        } => {
            let spin = SPINNER[app.spinner % SPINNER.len()];
            let secs = app.elapsed_since(*started);
            let what = if *cancelling {
                "cancelling"
            } else {
                "in flight"
            };
            let mut lines = vec![
                Line::styled(
                    format!("{spin} request {} {what}… {secs:.1}s", entry.label()),
                    t.busy,
                ),
                Line::raw(""),
            ];
            if let Some(task) = &entry.task {
                lines.push(Line::styled(
                    fit(&format!("async task: {task}"), usize::from(inner.width)),
                    t.base,
                ));
                lines.push(Line::raw(""));
            }
            lines.extend([
                Line::styled(fit(&entry.prompt, usize::from(inner.width)), t.dim),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(app.keymap.label(Action::Cancel), t.key),
                    Span::raw(if entry.task.is_some() {
                        " stops polling (the task stays pending and is collected later)."
                    } else {
                        " cancels it (asks: it is sent and may still be billed)."
                    }),
                ]),
            ]);
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
        EntryState::Done { view, .. } => view,
        EntryState::Stored { .. } => {
            let lines = vec![Line::styled(
                format!("reading {} from the history…", entry.label()),
                t.dim,
            )];
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
    };
    let sh = layout::summary_height(view.summary.len());
    let [summary, tabs, body] = Layout::vertical([
        Constraint::Length(sh),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    let lines: Vec<Line> = view
        .summary
        .iter()
        .take(usize::from(sh))
        .map(|l| doc_line(t, l))
        .collect();
    f.render_widget(Paragraph::new(lines), summary);
    let mut spans = Vec::new();
    for tab in Tab::ALL {
        let style = if tab == app.tab { t.tab_active } else { t.dim };
        spans.push(Span::styled(format!(" {} ", tab.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    let doc = match app.tab {
        Tab::Images => {
            render_images(app, f, view, body);
            let n = app.tab_images().len();
            if n > 0 {
                let at = format!("{}/{n}", app.image_selection() + 1);
                position_mark(app, f, area, &at, false, false);
            }
            return;
        }
        Tab::Body => &view.body,
        Tab::Request => &view.request,
        Tab::Headers => &view.headers,
    };
    // Long lines wrap at the pane's width (by display columns: a CJK character takes two).
    let h = usize::from(body.height);
    let w = usize::from(body.width);
    let mut lines: Vec<Line> = Vec::with_capacity(h);
    let mut i = app.response_scroll;
    let mut skip = app.response_skip;
    let mut below = false;
    while i < doc.len() && lines.len() < h {
        let rows = doc.wrapped(i, w);
        let avail = rows.len().saturating_sub(skip);
        let shown = avail.min(h - lines.len());
        // A line cut at the bottom: more below.
        below = shown < avail;
        lines.extend(
            rows.into_iter()
                .skip(skip)
                .take(shown)
                .map(|r| styled_line(t, r.into_iter())),
        );
        skip = 0;
        i += 1;
    }
    below = below || i < doc.len();
    let last = i.min(doc.len());
    f.render_widget(Paragraph::new(lines), body);
    let above = app.response_scroll > 0 || app.response_skip > 0;
    let first = (app.response_scroll + 1).min(last);
    let at = if first == last {
        format!("{first}/{}", doc.len())
    } else {
        format!("{first}-{last}/{}", doc.len())
    };
    position_mark(app, f, area, &at, above, below);
}

/// Where the view is, on the pane's bottom border, right-aligned: `▲ 12-30/96 ▼`, the marks
/// only when there is more above or below.
fn position_mark(app: &App, f: &mut Frame, area: Rect, pos: &str, above: bool, below: bool) {
    let style = if app.focus == Pane::Response {
        app.theme.focus
    } else {
        app.theme.heading
    };
    let text = format!(
        " {}{pos}{} ",
        if above { "▲ " } else { "" },
        if below { " ▼" } else { "" }
    );
    let width = str_width(&text) as u16;
    if area.width < width + 4 || area.height < 2 {
        return;
    }
    let x = area.x + area.width - width - 2;
    let y = area.y + area.height - 1;
    f.render_widget(
        Paragraph::new(Line::styled(text, style)),
        Rect::new(x, y, width, 1),
    );
}

pub(super) fn render_images(
    app: &App,
    f: &mut Frame,
    view: &crate::tui::view::ResponseView,
    body: Rect,
) {
    let t = &app.theme;
    if view.images.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("(no images in this response)", t.dim)),
            body,
        );
        return;
    }
    let imgs = app.tab_images();
    let cells = layout::image_cells(body, imgs.len());
    let sel = app.image_selection();
    for (i, ((key, img), cell)) in imgs.iter().zip(&cells).enumerate() {
        let w = usize::from(cell.width.saturating_sub(1));
        let selected = i == sel;
        let marker = if selected { "▸ " } else { "  " };
        let label_style = if selected && app.focus == Pane::Response {
            t.selected
        } else if selected {
            t.focus
        } else {
            t.heading
        };
        let lines = vec![
            Line::styled(fit(&format!("{marker}{}", img.label), w), label_style),
            Line::styled(fit(&format!("  {}", image_facts(img)), w), t.dim),
        ];
        f.render_widget(
            Paragraph::new(lines),
            Rect::new(
                cell.x,
                cell.y,
                cell.width,
                cell.height.min(layout::IMAGE_LABEL),
            ),
        );
        let picture = layout::cell_picture(*cell);
        let note = |text: &str, style| {
            Paragraph::new(Line::styled(fit(text, usize::from(picture.width)), style))
        };
        // Images that will never be decoded say why instead of "decoding…".
        let decoded = app.previews.decoded.contains_key(key);
        match &img.state {
            ImageState::Failed(e) if app.previews.enabled && !decoded => {
                f.render_widget(note(&format!("✘ {e}"), t.error), picture);
            }
            ImageState::Reference if app.previews.enabled && img.bytes.is_none() => {
                f.render_widget(note("a URL: not downloaded", t.dim), picture);
            }
            ImageState::Saving if app.previews.enabled && !decoded => {
                let what = if img.format == "url" {
                    "downloading…"
                } else {
                    "saving…"
                };
                f.render_widget(note(what, t.busy), picture);
            }
            _ => render_picture(app, f, picture, key),
        }
    }
    // The selected image's state on the last line.
    if let Some((_, img)) = imgs.get(sel) {
        let (state, style) = match &img.state {
            ImageState::Saving => ("downloading and saving…".to_owned(), t.busy),
            ImageState::Saved(p) => (format!("→ {}", p.display()), t.ok),
            ImageState::Failed(e) => (format!("✘ {e}"), t.error),
            ImageState::Reference => ("the reference sent with the request".to_owned(), t.dim),
        };
        // The state first (where it was saved matters most once it is saved), then when the
        // signed URL expires.
        let expires = img
            .expires
            .as_ref()
            .map(|e| format!(" · URL {e}"))
            .unwrap_or_default();
        let y = body.y + body.height.saturating_sub(1);
        f.render_widget(
            Paragraph::new(Line::styled(
                fit(
                    &format!("{}: {state}{expires}", img.label),
                    usize::from(body.width),
                ),
                style,
            )),
            Rect::new(body.x, y, body.width, 1),
        );
    }
}
