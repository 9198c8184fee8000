//! The Parameters pane.

use super::*;

pub(super) fn render_params(app: &App, f: &mut Frame, a: &Areas) {
    let t = &app.theme;
    let form = &app.form;
    let mode = if app.mode == crate::api::tasks::Mode::Async {
        " · async"
    } else {
        ""
    };
    let block = pane_block(
        app,
        Pane::Params,
        1,
        &format!(": {}{mode}", form.schema.req_key),
    );
    f.render_widget(block, a.params);
    let [list, editor, preview, footer] =
        layout::params_parts(a, form.prompt_active, app.params_preview());
    if let Some(key) = app.form_preview_key()
        && app.params_preview()
    {
        render_picture(app, f, preview, &key);
    }
    let label_w = form
        .rows
        .iter()
        .map(|r| short_label(r.label()).chars().count())
        .max()
        .unwrap_or(10)
        + 1;
    let width = usize::from(list.width);
    let mut lines = Vec::new();
    for line in form
        .lines
        .iter()
        .skip(form.scroll)
        .take(usize::from(list.height))
    {
        match line {
            FormLine::Heading(g) => lines.push(Line::styled(g.title(), t.heading)),
            FormLine::UnknownHeading => lines.push(Line::styled(
                format!("Not fields of {} (sent as is)", form.schema.req_key),
                t.heading,
            )),
            FormLine::Row(i) => lines.push(param_row(app, *i, label_w, width)),
        }
    }
    f.render_widget(Paragraph::new(lines), list);
    if form.prompt_active {
        let mut ta = form.prompt.clone();
        ta.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.focus)
                .title(Span::styled(" prompt (Tab: keep, Esc: discard) ", t.focus)),
        );
        ta.set_style(t.base);
        ta.set_cursor_line_style(Style::default());
        ta.set_cursor_style(t.base.add_modifier(Modifier::REVERSED));
        f.render_widget(&ta, editor);
    }
    // The focused row's help and its problem.
    let row = form.selected;
    let mut foot = Vec::new();
    if let Some(e) = form.editing.as_ref().filter(|e| !e.completions.is_empty()) {
        let names: Vec<&str> = e
            .completions
            .iter()
            .map(|c| {
                c.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(c.as_str())
            })
            .collect();
        foot.push(Line::styled(fit(&names.join("  "), width), t.hint));
    } else if form
        .rows
        .get(row)
        .is_some_and(|r| r.kind == RowKind::Unknown)
    {
        let hint = format!(
            "{} removes it; not a field of {}, it is sent as it is.",
            app.keymap.label(Action::Delete),
            form.schema.req_key
        );
        foot.push(Line::styled(fit(&hint, width), t.dim));
    } else if let Some(field) = form.rows.get(row).and_then(|r| r.field()) {
        foot.push(Line::styled(fit(field.help, width), t.dim));
    } else {
        foot.push(Line::styled(
            fit(
                "A local JPEG/PNG path (Tab completes) or an http(s) URL.",
                width,
            ),
            t.dim,
        ));
    }
    if let Some(e) = form.row_error(row) {
        foot.push(Line::styled(fit(&format!("✘ {e}"), width), t.error));
    } else if let Some(w) = form.row_warning(row).filter(|_| {
        form.rows
            .get(row)
            .is_none_or(|r| r.kind != RowKind::Unknown)
    }) {
        foot.push(Line::styled(fit(&format!("! {w}"), width), t.warning));
    }
    f.render_widget(Paragraph::new(foot), footer);
    // Place the cursor for in-place editing.
    if let Some(e) = &form.editing
        && let Some(pos) = form.lines.iter().position(|l| *l == FormLine::Row(e.row))
        && pos >= form.scroll
        && pos < form.scroll + usize::from(list.height)
    {
        let y = list.y + (pos - form.scroll) as u16;
        let x0 = list.x + 2 + label_w as u16;
        let avail = list.width.saturating_sub(2 + label_w as u16);
        let input_area = Rect::new(x0, y, avail, 1);
        // Blank the value underneath: the textarea draws only its own text.
        f.render_widget(Clear, input_area);
        f.render_widget(Block::default().style(t.selected), input_area);
        let mut ta = e.input.clone();
        ta.set_style(t.selected);
        ta.set_cursor_line_style(Style::default());
        ta.set_cursor_style(t.selected.add_modifier(Modifier::REVERSED));
        f.render_widget(&ta, input_area);
    }
}

/// The label without the group's object prefix (`logo_info.opacity` -> `opacity`).
pub(super) fn short_label(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

pub(super) fn param_row<'a>(app: &App, i: usize, label_w: usize, width: usize) -> Line<'a> {
    let t = &app.theme;
    let form = &app.form;
    let Some(row) = form.rows.get(i) else {
        return Line::raw("");
    };
    let selected = i == form.selected && app.focus == Pane::Params;
    let marker = if i == form.selected { "▸ " } else { "  " };
    // A field the model does not know keeps its whole name: it has no group of its own.
    let name = if row.kind == RowKind::Unknown {
        row.label()
    } else {
        short_label(row.label())
    };
    let label = format!("{:<label_w$}", fit(name, label_w));
    let (value, raw) = form.display(i);
    let error = form.row_error(i).is_some();
    let warning = form.row_warning(i).is_some();
    let (allowed, hint) = match row.kind {
        RowKind::Field(fd) | RowKind::Fixed(fd) => {
            let a = match fd.kind {
                crate::api::schema::Kind::Enum(_) => "h/l cycles".to_owned(),
                crate::api::schema::Kind::Bool => String::new(),
                _ if fd.fixed => String::new(),
                _ => fd.allowed(),
            };
            (a, fd.recommended.map(|r| format!(" rec {r}")))
        }
        RowKind::Prompt(_) => ("Enter: edit".to_owned(), None),
        RowKind::Reference => (String::new(), None),
        RowKind::Unknown => (format!("{} removes", first(app, Action::Delete)), None),
    };
    let value_style = if error || raw {
        t.error
    } else if warning || row.kind == RowKind::Unknown {
        t.warning
    } else if matches!(row.kind, RowKind::Fixed(_)) {
        t.dim
    } else {
        t.base
    };
    let fixed = 2 + label_w;
    let room = width.saturating_sub(fixed);
    let tail = format!(
        "{}{}",
        if allowed.is_empty() {
            String::new()
        } else {
            format!(" {allowed}")
        },
        hint.clone().unwrap_or_default()
    );
    let show_tail = !tail.is_empty() && str_width(&value) + 2 + tail.chars().count() <= room;
    let value_w = if show_tail {
        room - tail.chars().count()
    } else {
        room
    };
    let mark = if error || raw {
        "✘ "
    } else if row.kind == RowKind::Unknown {
        "? "
    } else {
        ""
    };
    let value_text = fit(&format!("{mark}{value}"), value_w);
    let mut spans = vec![
        Span::styled(marker, if selected { t.focus } else { t.base }),
        Span::styled(label, if selected { t.selected } else { t.base }),
        Span::styled(
            format!("{value_text:<value_w$}", value_w = value_w.min(room)),
            value_style,
        ),
    ];
    if show_tail {
        if !allowed.is_empty() {
            spans.push(Span::styled(format!(" {allowed}"), t.dim));
        }
        if let Some(h) = hint {
            spans.push(Span::styled(h, t.hint));
        }
    }
    Line::from(spans)
}
