//! The status bar and the key hints under it.

use super::*;

pub(super) fn render_status(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let [top, keys] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut spans = vec![Span::styled(
        format!(" {} · {} ", app.info.profile, app.info.endpoint),
        t.status,
    )];
    if let Some(v) = app.sweep.as_ref().filter(|v| v.running) {
        spans.push(Span::styled(
            format!(
                " {} sweep {} ",
                SPINNER[app.spinner % SPINNER.len()],
                v.summary()
            ),
            t.busy,
        ));
    }
    if let Some(Overlay::Search(input)) = app.overlays.get(OverlayKind::Search) {
        spans.push(Span::styled(" / ", t.key));
        spans.push(Span::styled(
            format!("{}▏", input.lines().join(" ")),
            t.base,
        ));
        f.render_widget(
            Paragraph::new(Line::from(fit_spans(spans, usize::from(area.width)))),
            top,
        );
        f.render_widget(
            Paragraph::new(hint_line(app, usize::from(area.width))),
            keys,
        );
        return;
    }
    let inflight: Vec<_> = app
        .history
        .entries()
        .iter()
        .filter(|e| e.in_flight())
        .collect();
    if !inflight.is_empty() {
        let oldest = inflight
            .iter()
            .filter_map(|e| match e.state {
                EntryState::InFlight { started, .. } => Some(started),
                _ => None,
            })
            .min()
            .map_or(0.0, |s| app.elapsed_since(s));
        spans.push(Span::styled(
            format!(
                " {} {} in flight {oldest:.1}s ",
                SPINNER[app.spinner % SPINNER.len()],
                inflight.len()
            ),
            t.busy,
        ));
    }
    // A question waiting for its answer stays on screen while it is on top, whatever the
    // status bar said since (the next key answers it).
    let question = match app.overlays.top() {
        Some(Overlay::ConfirmCancel { question, .. }) => Some(question),
        _ => None,
    };
    match (&app.status, &app.last_error) {
        _ if let Some(q) = question => spans.push(Span::styled(format!(" {q}"), t.base)),
        (Some(s), _) => spans.push(Span::styled(
            format!(" {}", s.text),
            if s.error { t.error } else { t.base },
        )),
        (None, Some(e)) => spans.push(Span::styled(format!(" last error: {e}"), t.error)),
        (None, None) => {}
    }
    f.render_widget(
        Paragraph::new(Line::from(fit_spans(spans, usize::from(area.width)))),
        top,
    );
    f.render_widget(
        Paragraph::new(hint_line(app, usize::from(area.width))),
        keys,
    );
}

/// The key hints that fit in `width` columns, chosen by rank (see [`hints`]) and shown in
/// their order, each whole: a hint that does not fit is left out, never cut.
pub(super) fn hint_line(app: &App, width: usize) -> Line<'static> {
    let t = &app.theme;
    let hints = hints(app);
    let mut order: Vec<usize> = (0..hints.len()).collect();
    order.sort_by_key(|&i| hints[i].2);
    let cost = |(key, what, _): &(String, &str, u8)| str_width(key) + str_width(what) + 3;
    // The last hint's trailing space may fall off the edge: it is only a space.
    let mut used = 0;
    let mut shown = vec![false; hints.len()];
    for i in order {
        let c = cost(&hints[i]);
        if used + c <= width + 1 {
            used += c;
            shown[i] = true;
        }
    }
    let mut spans = Vec::new();
    for ((key, what, _), on) in hints.into_iter().zip(shown) {
        if on {
            spans.push(Span::styled(format!(" {key}"), t.key));
            spans.push(Span::styled(format!(" {what} "), t.dim));
        }
    }
    Line::from(spans)
}

/// Every hint for what has the keys now, in the order shown, as `(key, what, rank)`: the
/// lowest ranks are kept when the line is short (`? help` is rank 0, always kept outside
/// editing, where `?` is a key like any other).
fn hints(app: &App) -> Vec<(String, &'static str, u8)> {
    let k = |a: Action| app.keymap.label(a);
    if app.overlays.has(OverlayKind::Search) {
        vec![
            ("Enter".into(), "keep the search", 0),
            ("Esc".into(), "clear it", 1),
            (
                "is:starred is:error model:KEY since:7d".into(),
                "filters",
                2,
            ),
        ]
    } else if app.form.prompt_active {
        vec![
            ("Tab".into(), "keep", 0),
            ("Esc".into(), "discard", 1),
            ("Ctrl-u".into(), "clear", 2),
            (k(Action::Send), "send", 3),
            (first(app, Action::ExternalEditor), "editor", 4),
        ]
    } else if let Some(e) = &app.form.editing {
        let mut v = vec![
            ("Enter".into(), "commit", 0),
            ("Esc".into(), "discard", 1),
            ("Ctrl-u".into(), "clear", 3),
        ];
        if app.form.rows.get(e.row).map(|r| r.kind) == Some(RowKind::Reference) {
            v.push(("Tab".into(), "complete path", 2));
        }
        v
    } else {
        let mut v = vec![(k(Action::Send), "send", 1)];
        match app.focus {
            Pane::Params => {
                v.push((k(Action::Edit), "edit", 2));
                v.push((pair(app, Action::Decrease, Action::Increase), "nudge", 3));
                v.push((k(Action::Toggle), "toggle", 5));
                v.push((pair(app, Action::RandomSeed, Action::ResetSeed), "seed", 6));
                v.push((first(app, Action::ExternalEditor), "editor", 7));
            }
            Pane::Response => {
                v.push((pair(app, Action::Decrease, Action::Increase), "tab", 2));
                if app.tab == Tab::Images {
                    v.push((pair(app, Action::Down, Action::Up), "select", 3));
                    v.push(("f".into(), "full screen", 5));
                    v.push(("s/o".into(), "save one/all", 6));
                } else {
                    v.push((pair(app, Action::Down, Action::Up), "scroll", 3));
                }
                v.push((k(Action::Copy), "copy", 7));
            }
            Pane::History => {
                if !app.history.filter.is_empty() {
                    v.push(("Esc".into(), "clear search", 0));
                }
                v.push((pair(app, Action::Down, Action::Up), "select", 2));
                v.push((first(app, Action::Edit), "open", 3));
                v.push((first(app, Action::Replay), "reuse", 5));
                v.push((first(app, Action::Search), "search", 6));
                v.push((first(app, Action::Star), "star", 7));
                v.push((first(app, Action::Note), "note", 9));
                v.push((first(app, Action::Delete), "delete", 8));
                v.push((pair(app, Action::Mark, Action::Compare), "mark/compare", 10));
            }
        }
        v.push((first(app, Action::Help), "help", 0));
        v.push((first(app, Action::Quit), "quit", 4));
        v.push((first(app, Action::NextPane), "pane", 11));
        v
    }
}
