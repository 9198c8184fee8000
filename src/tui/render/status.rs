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
        f.render_widget(Paragraph::new(hint_line(app)), keys);
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
    f.render_widget(Paragraph::new(hint_line(app)), keys);
}

pub(super) fn hint_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    let k = |a: Action| app.keymap.label(a);
    let pairs: Vec<(String, &str)> = if app.overlays.has(OverlayKind::Search) {
        vec![
            ("Enter".into(), "keep the search"),
            ("Esc".into(), "clear it"),
            ("is:starred is:error model:KEY since:7d".into(), "filters"),
        ]
    } else if app.form.prompt_active {
        vec![
            ("Tab".into(), "keep"),
            ("Esc".into(), "discard"),
            ("Ctrl-u".into(), "clear"),
            (k(Action::Send), "send"),
            (first(app, Action::ExternalEditor), "editor"),
        ]
    } else if let Some(e) = &app.form.editing {
        let mut v = vec![
            ("Enter".into(), "commit"),
            ("Esc".into(), "discard"),
            ("Ctrl-u".into(), "clear"),
        ];
        if app.form.rows.get(e.row).map(|r| r.kind) == Some(RowKind::Reference) {
            v.push(("Tab".into(), "complete path"));
        }
        v
    } else {
        let mut v = vec![(k(Action::Send), "send")];
        match app.focus {
            Pane::Params => {
                v.push((k(Action::Edit), "edit"));
                v.push((pair(app, Action::Decrease, Action::Increase), "nudge"));
                v.push((k(Action::Toggle), "toggle"));
                v.push((pair(app, Action::RandomSeed, Action::ResetSeed), "seed"));
                v.push((first(app, Action::ExternalEditor), "editor"));
            }
            Pane::Response => {
                v.push((pair(app, Action::Decrease, Action::Increase), "tab"));
                if app.tab == Tab::Images {
                    v.push((pair(app, Action::Down, Action::Up), "select"));
                    v.push(("f".into(), "full screen"));
                    v.push(("s/o".into(), "save one/all"));
                } else {
                    v.push((pair(app, Action::Down, Action::Up), "scroll"));
                }
                v.push((k(Action::Copy), "copy"));
            }
            Pane::History => {
                if !app.history.filter.is_empty() {
                    v.push(("Esc".into(), "clear search"));
                }
                v.push((pair(app, Action::Down, Action::Up), "select"));
                v.push((first(app, Action::Edit), "open"));
                v.push((first(app, Action::Replay), "reuse"));
                v.push((first(app, Action::Search), "search"));
                v.push((first(app, Action::Star), "star"));
                v.push((first(app, Action::Note), "note"));
                v.push((first(app, Action::Delete), "delete"));
                v.push((pair(app, Action::Mark, Action::Compare), "mark/compare"));
            }
        }
        v.push((first(app, Action::Help), "help"));
        v.push((first(app, Action::Quit), "quit"));
        v.push((first(app, Action::NextPane), "pane"));
        v
    };
    let mut spans = Vec::new();
    for (key, what) in pairs {
        spans.push(Span::styled(format!(" {key}"), t.key));
        spans.push(Span::styled(format!(" {what} "), t.dim));
    }
    Line::from(spans)
}
