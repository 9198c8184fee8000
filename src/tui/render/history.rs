//! The History pane: the list and the selected request's thumbnail.

use super::*;

pub(super) fn render_history(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let n = app.history.entries().len();
    let total = app.history.total.map_or(n as u64, |t| t.max(n as u64));
    let filter = app.history.filter.trim();
    let typed = match app.overlays.get(OverlayKind::Search) {
        Some(Overlay::Search(input)) => Some(input.lines().join(" ")),
        _ => None,
    };
    let extra = match (&app.history_pane.search_problem, typed) {
        // The line as typed cannot be used: say why instead of a count of the old one.
        (Some(problem), Some(typed)) => format!(" /{} ✘ {problem}", typed.trim()),
        _ => match (filter.is_empty(), total) {
            (true, 0) => String::new(),
            (true, total) => format!(" ({total})"),
            (false, 0) => match crate::tui::history::search_hint(filter) {
                Some(hint) => format!(" /{filter} (0 found; {hint})"),
                None => format!(" /{filter} (0 found)"),
            },
            (false, total) => format!(" /{filter} ({total} found)"),
        },
    };
    let block = pane_block(app, Pane::History, 3, &extra);
    let mut inner = block.inner(area);
    f.render_widget(block, area);
    let thumb = app.history_thumb();
    if let Some(key) = &thumb {
        let [list, picture] = layout::history_parts(area, true);
        inner = list;
        render_picture(app, f, picture, key);
    }
    if n == 0 {
        let text = if !filter.is_empty() {
            "Nothing matches the search (Esc clears it)."
        } else if app.history.loading {
            "Reading the history…"
        } else if app.history.stored {
            "Requests appear here, kept across runs."
        } else {
            "Requests of this run appear here."
        };
        f.render_widget(Paragraph::new(Line::styled(text, t.dim)), inner);
        return;
    }
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (i, e) in app
        .history
        .entries()
        .iter()
        .enumerate()
        .skip(app.history_pane.scroll)
        .take(usize::from(inner.height))
    {
        let stored = e.summary.as_ref();
        let stored_dur = stored
            .and_then(|s| s.duration_ms)
            .and_then(|ms| std::time::Duration::try_from_secs_f64(ms / 1000.0).ok())
            .map_or_else(|| "-".to_owned(), fmt_duration);
        let (glyph, glyph_style, dur) = match (&e.state, stored) {
            (EntryState::InFlight { started, .. }, _) => (
                SPINNER[app.spinner % SPINNER.len()].to_owned(),
                t.busy,
                format!("{:.1}s", app.elapsed_since(*started)),
            ),
            (EntryState::Done { view, duration }, _) if e.local => (
                view.verdict.glyph().to_owned(),
                if view.verdict.is_ok() { t.ok } else { t.error },
                fmt_duration(*duration),
            ),
            (_, Some(s)) => {
                let style = match s.outcome {
                    crate::store::OutcomeKind::Success => t.ok,
                    crate::store::OutcomeKind::Pending => t.busy,
                    crate::store::OutcomeKind::Cancelled => t.dim,
                    crate::store::OutcomeKind::Interrupted => t.warning,
                    _ => t.error,
                };
                (
                    crate::tui::history::outcome_glyph(s.outcome).to_owned(),
                    style,
                    stored_dur,
                )
            }
            (EntryState::Done { view, duration }, None) => (
                view.verdict.glyph().to_owned(),
                if view.verdict.is_ok() { t.ok } else { t.error },
                fmt_duration(*duration),
            ),
            (EntryState::Stored { .. }, None) => ("?".to_owned(), t.dim, "-".to_owned()),
        };
        let flag = if app.history_pane.marked == Some(e.id) {
            "◆"
        } else if e.star() {
            "★"
        } else {
            " "
        };
        let head = format!("{} ", e.time);
        let key = format!(" {} ", e.req_key);
        let room =
            width.saturating_sub(str_width(&head) + 2 + str_width(&key) + str_width(&dur) + 1);
        // A sweep cell shows its mark and varied values first, leaving the prompt at least a
        // third of the room (a cut list still ends with a space before the prompt).
        let sweep = sweep_mark(e);
        let most = room
            .saturating_sub(str_width(&e.prompt).min(room / 3))
            .max(2);
        let sweep = if sweep.is_empty() || str_width(&sweep) <= most {
            sweep
        } else if most < 4 {
            "⊞ ".to_owned()
        } else {
            format!("{} ", fit(&sweep, most - 1))
        };
        let room = room.saturating_sub(str_width(&sweep));
        let prompt = fit(&e.prompt, room);
        let note = e
            .note()
            .map(|n| {
                let n = crate::tui::history::one_line(n);
                fit(&format!(" · {n}"), room.saturating_sub(str_width(&prompt)))
            })
            .unwrap_or_default();
        let pad = room.saturating_sub(str_width(&prompt) + str_width(&note));
        let selected = i == app.history_pane.selected;
        let base = if selected && app.focus == Pane::History {
            t.selected
        } else {
            t.base
        };
        lines.push(Line::from(vec![
            Span::styled(head, if selected { base } else { t.dim }),
            Span::styled(glyph, glyph_style),
            Span::styled(
                flag,
                if app.history_pane.marked == Some(e.id) {
                    t.key
                } else {
                    t.warning
                },
            ),
            Span::styled(key, base),
            Span::styled(sweep, if selected { base } else { t.key }),
            Span::styled(prompt, base),
            Span::styled(note, if selected { base } else { t.dim }),
            Span::styled(format!("{} {dur}", " ".repeat(pad)), base),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// `⊞ seed=3 scale=2.5 ` for an entry that is a sweep's cell (its varied values, in the
/// order of the fields' names), `⊞ ` when its values are not known; empty for other entries.
fn sweep_mark(e: &crate::tui::history::Entry) -> String {
    let cell = e.summary.as_ref().and_then(|s| s.sweep.as_deref());
    if e.sweep_id.is_none() && cell.is_none() {
        return String::new();
    }
    let values = cell.and_then(|c| c.values.as_object());
    let mut text = "⊞ ".to_owned();
    for (k, v) in values.into_iter().flatten() {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let pair = format!("{}={v} ", super::params::short_label(k));
        text.push_str(&crate::tui::history::one_line(&pair));
    }
    text
}
