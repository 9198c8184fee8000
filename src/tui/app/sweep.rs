//! Sweeps: the dialog, the run and its contact sheet.

use super::*;

impl App {
    /// Whether `o` is the contact sheet of a sweep there is (a sheet without one is not drawn).
    pub(super) fn sheet_shown(&self, o: &Overlay) -> bool {
        matches!(o, Overlay::Sheet) && self.sweep.is_some()
    }

    /// Whether the contact sheet of the current sweep is open.
    pub fn sheet_open(&self) -> bool {
        self.sweep.is_some() && self.overlays.has(OverlayKind::Sheet)
    }

    /// Opens (on top) or closes the contact sheet of the current sweep.
    pub fn show_sheet(&mut self, open: bool) {
        if open {
            self.overlays.open(Overlay::Sheet);
        } else {
            self.overlays.close(OverlayKind::Sheet);
        }
    }

    /// `S`: in the History pane, reopens the selected entry's sweep; elsewhere shows the
    /// current sweep's sheet, or opens the sweep dialog on the selected parameter.
    pub(super) fn sweep_key(&mut self) -> Vec<Cmd> {
        if self.focus == Pane::History {
            let Some(e) = self.shown() else {
                return Vec::new();
            };
            return match e.sweep_id.clone() {
                Some(id) => {
                    if self.sweep.as_ref().is_some_and(|v| v.id == id) {
                        self.show_sheet(true);
                        return Vec::new();
                    }
                    if self.sweep.as_ref().is_some_and(|v| v.running) {
                        self.info_msg("a sweep is running: S in the Parameters pane shows it");
                        return Vec::new();
                    }
                    let n = self.next_sweep;
                    self.next_sweep += 1;
                    self.info_msg(format!("reading sweep {id}…"));
                    vec![Cmd::OpenSweep { n, id }]
                }
                None if matches!(e.state, EntryState::Stored { .. }) => {
                    self.info_msg("reading the entry…");
                    Vec::new()
                }
                None => {
                    self.info_msg(format!("{} is not part of a sweep", e.label()));
                    Vec::new()
                }
            };
        }
        if self.sweep.as_ref().is_some_and(|v| v.running) {
            self.show_sheet(true);
            return Vec::new();
        }
        let field = match self.form.rows.get(self.form.selected).map(|r| r.kind) {
            Some(RowKind::Field(f)) => f.name,
            _ => "seed",
        };
        let mut input = line_input(&format!("{field}="));
        input.move_cursor(ratatui_textarea::CursorMove::End);
        self.overlays.open(Overlay::SweepInput(input));
        Vec::new()
    }

    pub(super) fn on_sweep_input_key(
        &mut self,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::line_edit::{Outcome, line_key};
        match line_key(&mut input, ev) {
            Outcome::Discard => {
                self.info_msg("no sweep");
                return (None, Vec::new());
            }
            Outcome::Commit => {}
            Outcome::Changed => {
                Self::replace_prefill(&mut input);
                return (Some(Overlay::SweepInput(input)), Vec::new());
            }
            Outcome::Tab | Outcome::Unchanged => {
                return (Some(Overlay::SweepInput(input)), Vec::new());
            }
        }
        let line = input.lines().join(" ");
        let keep = Some(Overlay::SweepInput(input));
        let args = crate::tui::sweep::vary_args(&line);
        if args.is_empty() {
            self.error_msg("sweep: give FIELD=VALUES, e.g. seed=1..4 scale=2.5,3.5");
            return (keep, Vec::new());
        }
        self.form.revalidate();
        let base = match self.form.request() {
            Ok(b) => b,
            Err(b) => {
                self.error_msg(format!("cannot sweep: {}", b.summary()));
                return (keep, Vec::new());
            }
        };
        self.info_msg("checking the sweep's cells…");
        (keep, vec![Cmd::PrepareSweep { base, args }])
    }

    /// The dialog opens with `FIELD=` of the selected field: typing values goes after it,
    /// typing a field name (`seed=`, `scale=`) over it replaces it, so the line never reads
    /// `seed=seed=1..6`.
    pub(super) fn replace_prefill(input: &mut TextArea<'static>) {
        let line = input.lines().join(" ");
        if let Some(rest) = prefill_typed_over(&line) {
            *input = line_input(rest);
        }
    }

    /// The worker checked the dialog's sweep: run it, or keep the dialog open with the problem.
    pub(super) fn on_sweep_prepared(
        &mut self,
        result: Result<Box<crate::sweep::Prepared>, Vec<String>>,
    ) -> Vec<Cmd> {
        if !self.overlays.has(OverlayKind::SweepInput) {
            return Vec::new(); // The dialog was closed meanwhile.
        }
        match result {
            Err(errors) => {
                let line = match self.overlays.get(OverlayKind::SweepInput) {
                    Some(Overlay::SweepInput(input)) => input.lines().join(" "),
                    _ => String::new(),
                };
                let args = crate::tui::sweep::vary_args(&line);
                let mut errors = errors.iter().map(|e| dialog_words(e, &args));
                let first = errors.next().unwrap_or_else(|| "invalid".to_owned());
                let rest: Vec<String> = errors.collect();
                let more = if rest.is_empty() {
                    String::new()
                } else {
                    format!(" (+{} more: {})", rest.len(), rest.join("; "))
                };
                self.error_msg(format!("sweep: {first}{more}"));
                Vec::new()
            }
            Ok(p) => {
                if let Some(why) = &self.send_blocked {
                    self.error_msg(format!("cannot start the sweep: {why}"));
                    return Vec::new();
                }
                if self.sweep.as_ref().is_some_and(|v| v.running) {
                    self.error_msg("a sweep is already running: x on its sheet stops it");
                    return Vec::new();
                }
                self.overlays.close(OverlayKind::SweepInput);
                let n = self.next_sweep;
                self.next_sweep += 1;
                let cells = p.plan.grid.len();
                self.sweep = Some(crate::tui::sweep::SweepView::new(n, &p.plan));
                self.show_sheet(true);
                let mut text = format!("sweep {} started: {cells} cells", p.plan.id);
                if let Some(w) = p.warnings.first() {
                    text.push_str(&format!("; warning: {w}"));
                }
                self.info_msg(text);
                vec![Cmd::Sweep {
                    n,
                    plan: crate::tui::msg::PlanRef(Arc::new(p.plan)),
                }]
            }
        }
    }

    pub(super) fn on_sheet_key(&mut self, ev: &KeyEvent) -> (Option<Overlay>, Vec<Cmd>) {
        let keep = Some(Overlay::Sheet);
        let Some(key) = Key::from_event(ev) else {
            return (keep, Vec::new());
        };
        let action = self.keymap.action(key);
        let Some(v) = self.sweep.as_mut() else {
            return (None, Vec::new());
        };
        match (key.code, action) {
            (_, Some(Action::Down)) => v.step(1, 0),
            (_, Some(Action::Up)) => v.step(-1, 0),
            (_, Some(Action::Decrease)) => v.step(0, -1),
            (_, Some(Action::Increase)) => v.step(0, 1),
            (_, Some(Action::PageDown)) => v.turn(1),
            (_, Some(Action::PageUp)) => v.turn(-1),
            (KeyCode::Char('f'), _) => {
                let key = ImageKey::Cell {
                    sweep: v.n,
                    cell: v.selected,
                };
                if self.previews.decoded.get(&key).is_some_and(Result::is_ok) {
                    self.overlays.open(Overlay::Fullscreen(key));
                } else {
                    self.info_msg("no image for this cell (yet)");
                }
            }
            (KeyCode::Enter, _) => {
                let id = v.cells.get(v.selected).and_then(|c| c.history_id);
                self.focus = Pane::History;
                match id.and_then(|id| self.history.position_of_store_id(id)) {
                    Some(i) => self.select_history(i),
                    None => self.info_msg(match id {
                        Some(id) => format!("#{id} is not listed (a search is on?)"),
                        None => "this cell has no history entry".to_owned(),
                    }),
                }
                return (None, Vec::new());
            }
            (_, Some(Action::Cancel)) if key.code != KeyCode::Esc && v.running => {
                let abort = v.stopping;
                v.stopping = true;
                let n = v.n;
                self.info_msg(if abort {
                    "sweep: cutting off the cells in flight (recorded as cancelled)"
                } else {
                    "sweep: no more cells start; those in flight finish (x again cuts them off)"
                });
                return (keep, vec![Cmd::StopSweep { n, abort }]);
            }
            (_, Some(Action::Quit)) if !v.running => self.quit = true,
            _ => return (None, Vec::new()),
        }
        (keep, Vec::new())
    }

    pub(super) fn on_sweep(&mut self, n: u64, event: crate::tui::msg::SweepMsg) {
        use crate::tui::msg::SweepMsg;
        use crate::tui::sweep::CellState;
        if let SweepMsg::Opened(result) = event {
            match result {
                Ok(o) => {
                    let mut v = crate::tui::sweep::SweepView::reopened(n, o.id, o.grid);
                    for c in o.cells {
                        if let Some(i) = c.cell {
                            if c.first_image.is_some() {
                                self.previews
                                    .on_demand(ImageKey::Cell { sweep: n, cell: i });
                            }
                            v.recorded(
                                i,
                                c.summary.outcome,
                                c.summary.code,
                                c.summary.id,
                                c.first_image,
                            );
                        }
                    }
                    let text = format!("sweep {}: {}", v.id, v.summary());
                    self.sweep = Some(v);
                    self.show_sheet(true);
                    self.info_msg(text);
                }
                Err(e) => self.error_msg(format!("sweep: {e}")),
            }
            return;
        }
        let Some(v) = self.sweep.as_mut().filter(|v| v.n == n) else {
            return;
        };
        match event {
            SweepMsg::Started { cell, history_id } => {
                if let Some(c) = v.cells.get_mut(cell) {
                    c.state = CellState::Running;
                    c.history_id = history_id;
                }
            }
            SweepMsg::RateLimited { cell } => {
                if let Some(c) = v.cells.get_mut(cell) {
                    c.state = CellState::RateLimited;
                }
            }
            SweepMsg::CellDone { report, image } => v.finished(&report, image),
            SweepMsg::Progress(p) => v.progress = Some(p),
            SweepMsg::Warning(w) => self.error_msg(format!("sweep: {w}")),
            SweepMsg::Done { stopped, result } => {
                v.running = false;
                for c in &mut v.cells {
                    if matches!(c.state, CellState::Waiting) {
                        c.state = CellState::NotRun;
                    }
                }
                // The status line counts what the tiles show.
                let how = if stopped { "stopped" } else { "finished" };
                let text = format!("sweep {} {how}: {}", v.id, v.counts().words());
                match result {
                    Ok(took) => self.info_msg(format!(
                        "{text} in {}",
                        crate::tui::view::fmt_duration(took)
                    )),
                    Err(e) => self.error_msg(format!("{text}; {e}")),
                }
            }
            SweepMsg::Opened(_) => {}
        }
    }
}

/// A sweep problem worded for the dialog: the CLI's `--vary ARG: ` in front goes (the problem
/// names its field; when it does not, `ARG: ` stays), and `--vary FIELD=VALUES` in a hint
/// reads `FIELD=VALUES`, as the dialog takes it.
fn dialog_words(e: &str, args: &[String]) -> String {
    let e = args
        .iter()
        .find_map(|arg| {
            let rest = e.strip_prefix("--vary ")?.strip_prefix(arg.as_str())?;
            let rest = rest.strip_prefix(": ")?;
            let field = arg.split('=').next().unwrap_or(arg).trim();
            Some(if rest.contains(field) {
                rest.to_owned()
            } else {
                format!("{arg}: {rest}")
            })
        })
        .unwrap_or_else(|| e.to_owned());
    e.replace("--vary ", "")
}

/// The line without its first `NAME=` when what follows it is another `NAME=` (a field
/// name typed over the dialog's pre-filled one).
fn prefill_typed_over(line: &str) -> Option<&str> {
    fn name_len(s: &str) -> Option<usize> {
        let n = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(s.len());
        let starts = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        (starts && n > 0 && s[n..].starts_with('=')).then_some(n)
    }
    let first = name_len(line)?;
    let rest = &line[first + 1..];
    name_len(rest).map(|_| rest)
}

#[cfg(test)]
mod tests {
    use super::{dialog_words, prefill_typed_over};

    #[test]
    fn sweep_problems_lose_the_cli_syntax_and_name_the_field_once() {
        let args = vec!["seed=".to_owned(), "sed=1".to_owned()];
        assert_eq!(
            dialog_words("--vary seed=: seed: no values given", &args),
            "seed: no values given"
        );
        assert_eq!(
            dialog_words("--vary sed=1: unknown field \"sed\" for x", &args),
            "unknown field \"sed\" for x"
        );
        assert_eq!(
            dialog_words(
                "seed is varied twice; give all its values in one --vary seed=...",
                &args
            ),
            "seed is varied twice; give all its values in one seed=..."
        );
        assert_eq!(
            dialog_words("--vary seed=: over the limit", &args),
            "seed=: over the limit"
        );
    }

    #[test]
    fn a_field_name_typed_over_the_prefill_replaces_it() {
        assert_eq!(prefill_typed_over("seed=seed="), Some("seed="));
        assert_eq!(prefill_typed_over("seed=scale=2,3"), Some("scale=2,3"));
        assert_eq!(prefill_typed_over("seed=1..6"), None);
        assert_eq!(prefill_typed_over("use_sr=true,false"), None);
        assert_eq!(prefill_typed_over("seed=1..3 scale=2"), None);
        assert_eq!(prefill_typed_over("seed="), None);
    }
}
