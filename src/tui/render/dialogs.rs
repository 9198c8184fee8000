//! The overlays' drawings: help, confirmations, prompts, presets, comparison and the contact sheet.

use super::*;

pub(super) fn render_sheet(app: &App, f: &mut Frame, area: Rect, v: &crate::tui::sweep::SweepView) {
    use crate::tui::sweep::CellState;
    let t = &app.theme;
    let a = crate::tui::sweep::sheet_area(v, area);
    let pages = v.layout.blocks.len();
    let page = if pages > 1 {
        format!(" · page {}/{pages} (PgUp/PgDn)", v.page + 1)
    } else {
        String::new()
    };
    let title = format!(
        " Sweep {} · {}{page} · arrows select · f full screen · Enter entry · x stop · Esc close ",
        v.id,
        v.summary()
    );
    let inner = overlay(
        f,
        a.frame,
        fit(&title, usize::from(a.frame.width)),
        t.focus,
        true,
        t,
    );
    if let Some(block) = v.layout.blocks.get(v.page)
        && let Some(title) = &block.title
    {
        f.render_widget(
            Paragraph::new(Line::styled(title.clone(), t.heading)),
            Rect::new(inner.x, inner.y, inner.width, 1),
        );
    }
    for (r, label) in &a.row_labels {
        f.render_widget(
            Paragraph::new(Line::styled(fit(label, usize::from(r.width)), t.heading)),
            *r,
        );
    }
    for (r, label) in &a.col_labels {
        f.render_widget(
            Paragraph::new(Line::styled(fit(label, usize::from(r.width)), t.heading))
                .alignment(Alignment::Center),
            *r,
        );
    }
    for (cell, picture, label_area) in &a.tiles {
        let Some(c) = v.cells.get(*cell) else {
            continue;
        };
        let key = ImageKey::Cell {
            sweep: v.n,
            cell: *cell,
        };
        let spin = SPINNER[app.spinner % SPINNER.len()];
        let (note, style) = match &c.state {
            CellState::Waiting | CellState::NotRun | CellState::Cancelled => {
                (c.state.mark(), t.dim)
            }
            CellState::Running => (format!("{spin} {}", c.state.mark()), t.busy),
            CellState::RateLimited => (c.state.mark(), t.warning),
            CellState::Succeeded => (String::new(), t.ok),
            CellState::Failed(_) => (c.state.mark(), t.error),
        };
        if c.state == CellState::Succeeded && app.previews.enabled {
            render_picture(app, f, *picture, &key);
        } else if picture.height > 0 {
            let text = if note.is_empty() {
                "✔"
            } else {
                note.as_str()
            };
            f.render_widget(
                Paragraph::new(Line::styled(fit(text, usize::from(picture.width)), style)),
                Rect::new(picture.x, picture.y + picture.height / 2, picture.width, 1),
            );
        }
        let tile_label = match v.layout.kind {
            crate::sweep::sheet::SheetKind::Strip => c.label.clone(),
            crate::sweep::sheet::SheetKind::Grid => match &c.state {
                CellState::Succeeded => "✔".to_owned(),
                _ => note.clone(),
            },
        };
        let label_style = if *cell == v.selected {
            t.selected
        } else {
            style.patch(t.base)
        };
        let w = usize::from(label_area.width);
        let text = format!(
            "{}{}",
            if *cell == v.selected { "▸" } else { " " },
            tile_label
        );
        f.render_widget(
            Paragraph::new(Line::styled(format!("{:<w$}", fit(&text, w)), label_style)),
            *label_area,
        );
    }
    if a.tiles.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled(
                "Too small to draw the sheet: enlarge the terminal.",
                t.dim,
            )),
            inner,
        );
    }
}

pub(super) fn render_presets(
    app: &App,
    f: &mut Frame,
    area: Rect,
    p: &crate::tui::app::PresetsView,
) {
    let t = &app.theme;
    if let Some(input) = &p.naming {
        render_line_input(
            app,
            f,
            area,
            " Save the form's parameters as preset (Enter saves, Esc cancels) ",
            input,
        );
        return;
    }
    let h = u16::try_from(p.items.len()).unwrap_or(20).clamp(1, 20) + 4;
    let r = centered(area, 72, h);
    let inner = overlay(
        f,
        r,
        " Presets · Enter apply · s save the form as · d delete · Esc close ",
        t.focus,
        false,
        t,
    );
    let w = usize::from(inner.width);
    let mut lines = Vec::new();
    if p.loading {
        lines.push(Line::styled("reading the presets…", t.dim));
    } else if p.items.is_empty() {
        lines.push(Line::styled(
            "No presets yet: press s to save the form's parameters as one.",
            t.dim,
        ));
    }
    for (i, item) in p.items.iter().enumerate() {
        let style = if i == p.selected { t.selected } else { t.base };
        let model = item.req_key.as_deref().unwrap_or("?");
        let problems = if item.problems.is_empty() {
            String::new()
        } else {
            format!(" ✘ {}", item.problems.join("; "))
        };
        let text = format!(
            "{:<20} {:<24} {} value(s){problems}",
            fit(&item.name, 20),
            fit(model, 24),
            item.values
        );
        lines.push(Line::styled(
            fit(&crate::tui::history::one_line(&text), w),
            style,
        ));
    }
    if p.confirm_delete
        && let Some(item) = p.items.get(p.selected)
    {
        lines.push(Line::styled(
            fit(
                &format!(
                    "delete preset {:?}? y deletes, any other key keeps it",
                    item.name
                ),
                w,
            ),
            t.warning,
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn render_confirm_delete(app: &App, f: &mut Frame, area: Rect, id: u64) {
    let t = &app.theme;
    let Some(e) = app.history.get(id) else {
        return;
    };
    let r = centered(area, 60, 5);
    let inner = overlay(
        f,
        r,
        format!(" Delete {}? ", e.label()),
        t.warning,
        false,
        t,
    );
    let w = usize::from(r.width.saturating_sub(2));
    let lines = vec![
        Line::raw(fit(&format!("{} {}", e.time, e.prompt), w)),
        Line::from(vec![
            Span::styled("y", t.key),
            Span::raw(fit(
                " delete it and its unused images · any other key keeps it",
                w.saturating_sub(1),
            )),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn render_note_input(
    app: &App,
    f: &mut Frame,
    area: Rect,
    id: u64,
    input: &ratatui_textarea::TextArea<'static>,
) {
    let label = app
        .history
        .get(id)
        .map_or_else(|| format!("#{id}"), |e| e.label());
    let title = format!(" Note for {label} (Enter saves, empty clears, Esc cancels) ");
    render_line_input(app, f, area, &title, input);
}

/// A one-line text input in a box over the middle of the screen.
pub(super) fn render_line_input(
    app: &App,
    f: &mut Frame,
    area: Rect,
    title: &str,
    input: &ratatui_textarea::TextArea<'static>,
) {
    let t = &app.theme;
    let r = centered(area, 70, 3);
    let inner = overlay(f, r, title.to_owned(), t.focus, false, t);
    let mut ta = input.clone();
    ta.set_style(t.base);
    ta.set_cursor_line_style(Style::default());
    ta.set_cursor_style(t.base.add_modifier(Modifier::REVERSED));
    f.render_widget(&ta, inner);
}

/// One side's title in the comparison: label, time, outcome.
pub(super) fn compare_title(app: &App, id: u64) -> (String, Option<&crate::tui::history::Entry>) {
    match app.history.get(id) {
        None => (format!("#{id} (gone)"), None),
        Some(e) => (format!("{} {}", e.label(), e.time), Some(e)),
    }
}

pub(super) fn outcome_line(e: Option<&crate::tui::history::Entry>) -> String {
    let Some(e) = e else {
        return "-".to_owned();
    };
    match &e.state {
        EntryState::Done { view, duration } => {
            let head: String = view
                .summary
                .first()
                .map(|l| l.iter().map(|(_, t)| t.as_str()).collect())
                .unwrap_or_default();
            let n = view
                .images
                .iter()
                .filter(|i| i.state != ImageState::Reference)
                .count();
            format!("{head} · {} · {n} image(s)", fmt_duration(*duration))
        }
        EntryState::InFlight { .. } => "in flight…".to_owned(),
        EntryState::Stored { .. } => "reading…".to_owned(),
    }
}

pub(super) fn render_compare(app: &App, f: &mut Frame, area: Rect, a: u64, b: u64, scroll: usize) {
    let t = &app.theme;
    let r = Rect::new(
        area.x + 2,
        area.y + 1,
        area.width.saturating_sub(4),
        area.height.saturating_sub(3),
    );
    let inner = overlay(
        f,
        r,
        " Compare: marked (A) and selected (B) · j/k scroll · any other key closes ",
        t.focus,
        true,
        t,
    );
    let (ta, ea) = compare_title(app, a);
    let (tb, eb) = compare_title(app, b);
    let w = usize::from(inner.width);
    let name_w = 22.min(w / 4);
    let col = w.saturating_sub(name_w + 2) / 2;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<name_w$} ", ""), t.dim),
            Span::styled(
                format!("{:<col$} ", fit(&format!("A {ta}"), col)),
                t.heading,
            ),
            Span::styled(fit(&format!("B {tb}"), col), t.heading),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<name_w$} ", "outcome"), t.dim),
            Span::styled(format!("{:<col$} ", fit(&outcome_line(ea), col)), t.base),
            Span::styled(fit(&outcome_line(eb), col), t.base),
        ]),
    ];
    let Some(rows) = &app.history_pane.compare_rows else {
        lines.push(Line::styled("reading the entries from the history…", t.dim));
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let changed = rows.iter().filter(|r| r.changed).count();
    lines.push(Line::styled(
        fit(&format!("{changed} of {} parameters differ", rows.len()), w),
        t.dim,
    ));
    let room = usize::from(inner.height).saturating_sub(lines.len());
    for row in rows.iter().skip(scroll).take(room) {
        let (style, mark) = if row.changed {
            (t.warning.add_modifier(Modifier::BOLD), "≠")
        } else {
            (t.dim, " ")
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{mark}{:<w$} ", fit(&row.name, name_w - 1), w = name_w - 1),
                style,
            ),
            Span::styled(format!("{:<col$} ", fit(&row.a, col)), style),
            Span::styled(fit(&row.b, col), style),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn render_confirm_fit(app: &App, f: &mut Frame, area: Rect, problems: &[String]) {
    let t = &app.theme;
    let h = u16::try_from(problems.len()).unwrap_or(8).min(8) + 5;
    let r = centered(area, 70, h);
    let inner = overlay(
        f,
        r,
        " Reference over the service's limits ",
        t.warning,
        false,
        t,
    );
    let w = usize::from(r.width.saturating_sub(2));
    let mut lines: Vec<Line> = problems
        .iter()
        .map(|p| Line::styled(fit(&format!("• {p}"), w), t.error))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", t.key),
        Span::raw(fit(
            " fit it: crop to 3:1, scale into 128..4096 px, re-encode as JPEG",
            w.saturating_sub(1),
        )),
    ]));
    lines.push(Line::styled(
        fit("any other key: leave it (the file is never changed)", w),
        t.dim,
    ));
    f.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn render_save_prompt(
    app: &App,
    f: &mut Frame,
    area: Rect,
    p: &crate::tui::app::SavePrompt,
) {
    let title = match &p.what {
        crate::tui::app::SaveWhat::One(_) => " Save the image as (Enter saves, Esc cancels) ",
        crate::tui::app::SaveWhat::All(_) => " Save all images into (Enter saves, Esc cancels) ",
    };
    render_line_input(app, f, area, title, &p.input);
}

pub(super) fn render_help(app: &App, f: &mut Frame, area: Rect, scroll: usize) {
    let t = &app.theme;
    let l = help_layout(&app.keymap, &app.info.log_path, area);
    let max = l.max_scroll();
    let scroll = scroll.min(max);
    let inner = overlay(f, l.rect, " Keys (? or Esc closes) ", t.focus, true, t);
    let col = usize::from(l.col);
    let mut x = inner.x;
    for column in &l.columns {
        let lines: Vec<Line> = column
            .iter()
            .skip(scroll)
            .map(|line| match line {
                HelpLine::Heading(h) => Line::styled(*h, t.heading),
                HelpLine::Key { keys, what, key_w } => {
                    let key_w = *key_w;
                    Line::from(vec![
                        Span::styled(format!(" {:<key_w$} ", fit(keys, key_w)), t.key),
                        Span::styled(fit(what, col.saturating_sub(key_w + 3)), t.base),
                    ])
                }
                HelpLine::Note(n) => Line::styled(fit(n, col), t.dim),
            })
            .collect();
        let r = Rect::new(
            x,
            inner.y,
            l.col.min(inner.right().saturating_sub(x)),
            inner.height,
        );
        f.render_widget(Paragraph::new(lines), r);
        x = x.saturating_add(l.col + 1);
    }
    if max > 0 {
        // Where the view is, on the bottom border: `▲`/`▼` say there is more that way.
        let up = if scroll > 0 { "▲" } else { "" };
        let down = if scroll < max { "▼" } else { "" };
        let mark = format!(
            " {up}{down} {}-{}/{} · j/k PgUp/PgDn g/G ",
            scroll + 1,
            scroll + l.visible,
            l.total
        );
        let mw = str_width(&mark) as u16;
        let r = l.rect;
        if r.width > mw + 2 && r.height > 0 {
            let at = Rect::new(r.right() - mw - 1, r.bottom() - 1, mw, 1);
            f.render_widget(Paragraph::new(Line::styled(mark, t.focus)), at);
        }
    }
}

pub(super) fn render_confirm(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = app.quit_question().into_iter().map(Line::raw).collect();
    // Wider when a sweep's cells are listed too.
    let w = if lines.len() > 1 { 64 } else { 50 };
    lines.push(Line::from(vec![
        Span::styled("y", t.key),
        Span::raw(" quit and cancel them · any other key stays"),
    ]));
    let r = centered(area, w, lines.len() as u16 + 3);
    let inner = overlay(f, r, " Quit? ", t.warning, false, t);
    f.render_widget(Paragraph::new(lines), inner);
}
