//! The presets overlay: list, apply, save the form as, delete.

use super::*;

impl App {
    /// The presets were listed for the overlay.
    pub(super) fn on_presets_listed(
        &mut self,
        result: Result<Vec<crate::presets::PresetInfo>, String>,
    ) {
        match (result, self.overlays.get_mut(OverlayKind::Presets)) {
            (Ok(items), Some(Overlay::Presets(p))) => {
                p.loading = false;
                p.selected = p.selected.min(items.len().saturating_sub(1));
                p.items = items;
            }
            (Err(e), _) => {
                self.overlays.close(OverlayKind::Presets);
                self.error_msg(format!("presets: {e}"));
            }
            (Ok(_), _) => {}
        }
    }

    /// A preset was applied to the form's body.
    pub(super) fn on_preset_applied(
        &mut self,
        name: &str,
        result: Result<schema::Switched, String>,
    ) {
        match result {
            Ok(sw) => {
                let n = sw.dropped.len();
                self.push_undo(format!("preset {name:?}"));
                self.use_switched(sw);
                self.info_msg(if n == 0 {
                    format!("preset {name:?} applied")
                } else {
                    format!("preset {name:?} applied; {n} field(s) the model does not take dropped")
                });
            }
            Err(e) => self.error_msg(e),
        }
    }

    /// A preset was saved or deleted: the list is read again while it is open.
    pub(super) fn on_presets_changed(&mut self, text: String, error: bool) -> Vec<Cmd> {
        if error {
            self.error_msg(text);
        } else {
            self.info_msg(text);
        }
        if self.overlays.has(OverlayKind::Presets) {
            return vec![Cmd::Presets(crate::tui::msg::PresetCmd::List)];
        }
        Vec::new()
    }

    pub(super) fn on_presets_key(
        &mut self,
        mut p: PresetsView,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::msg::PresetCmd;
        if let Some(input) = p.naming.as_mut() {
            use crate::tui::line_edit::{Outcome, line_key};
            let outcome = line_key(input, ev);
            if outcome == Outcome::Discard {
                p.naming = None;
            } else if outcome == Outcome::Commit {
                let name = input.lines().join("").trim().to_owned();
                p.naming = None;
                if let Err(e) = crate::presets::check_name(&name) {
                    self.error_msg(e.to_string());
                    return (Some(Overlay::Presets(p)), Vec::new());
                }
                let body = self.form.editable_json();
                return (
                    Some(Overlay::Presets(p)),
                    vec![Cmd::Presets(PresetCmd::Save { name, body })],
                );
            }
            return (Some(Overlay::Presets(p)), Vec::new());
        }
        let Some(key) = Key::from_event(ev) else {
            return (Some(Overlay::Presets(p)), Vec::new());
        };
        let name = p.items.get(p.selected).map(|i| i.name.clone());
        if p.confirm_delete {
            p.confirm_delete = false;
            if matches!(key.code, KeyCode::Char('y' | 'Y'))
                && let Some(name) = name
            {
                return (
                    Some(Overlay::Presets(p)),
                    vec![Cmd::Presets(PresetCmd::Delete { name })],
                );
            }
            self.info_msg("preset kept");
            return (Some(Overlay::Presets(p)), Vec::new());
        }
        match (key.code, self.keymap.action(key)) {
            (_, Some(Action::Down)) => {
                p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1))
            }
            (_, Some(Action::Up)) => p.selected = p.selected.saturating_sub(1),
            (KeyCode::Enter, _) => {
                if let Some(name) = name {
                    let body = self.form.editable_json();
                    return (None, vec![Cmd::Presets(PresetCmd::Apply { name, body })]);
                }
            }
            (KeyCode::Char('s'), _) => {
                let mut input = line_input(name.as_deref().unwrap_or(""));
                input.move_cursor(ratatui_textarea::CursorMove::End);
                p.naming = Some(input);
            }
            (KeyCode::Char('d'), _) | (KeyCode::Delete, _) => {
                if name.is_some() {
                    p.confirm_delete = true;
                }
            }
            _ => return (None, Vec::new()),
        }
        (Some(Overlay::Presets(p)), Vec::new())
    }
}
