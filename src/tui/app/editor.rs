//! `Ctrl-e`: the prompt or the whole request in `$EDITOR`, and what comes back from it.

use super::*;

impl App {
    pub(super) fn on_editor_closed(
        &mut self,
        target: EditTarget,
        result: Result<String, String>,
    ) -> Vec<Cmd> {
        let text = match result {
            Ok(t) => t,
            Err(e) => {
                match (target, self.params.editor_retry.take()) {
                    (EditTarget::Request, Some(kept)) => {
                        // The user's text is never thrown away.
                        self.params.unapplied_request = Some(kept);
                        self.error_msg(format!(
                            "editor: {e}; your request text is kept: {} opens it again",
                            self.keymap.label(Action::ExternalEditor)
                        ));
                    }
                    _ => self.error_msg(format!("editor: {e}")),
                }
                return Vec::new();
            }
        };
        match target {
            EditTarget::Prompt => {
                let text = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                if text == self.form.prompt_text() {
                    // `:q!`, or saved as it was: nothing happened, and the status says so.
                    self.end_prompt_edit(true);
                    self.info_msg("prompt unchanged (the editor left it as it was)");
                    return Vec::new();
                }
                let mut body = self.form.editable_json();
                schema::set_path(&mut body, "prompt", Value::String(text));
                self.form.replace_values(&body);
                // What comes back from the editor is kept: the prompt edit ends with it.
                self.end_prompt_edit(true);
                self.info_msg("prompt updated from the editor");
                Vec::new()
            }
            EditTarget::Request => self.on_request_edited(&strip_editor_note(&text)),
        }
    }

    /// The whole request came back from `$EDITOR`: applied, or (not valid JSON, not an
    /// object, an unknown model) the editor opens again on the same text with the error on
    /// top. Text left unchanged is kept for the next `Ctrl-e` instead of looping.
    pub(super) fn on_request_edited(&mut self, text: &str) -> Vec<Cmd> {
        let retry = self.params.editor_retry.take();
        if text.trim().is_empty() {
            self.info_msg("the edited request is empty: nothing changed");
            return Vec::new();
        }
        let problem = if text.trim_start().starts_with("curl") {
            if self.import(text, "the edited text") {
                return Vec::new();
            }
            self.status.as_ref().map_or_else(
                || "not a usable curl command".to_owned(),
                |s| s.text.clone(),
            )
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(v) if v.is_object() => match self.replace_form(&v, "the edited request") {
                    Ok(()) => {
                        let n = self.form.report.errors().count();
                        let undo = self.keymap.label(Action::Undo);
                        if n == 0 {
                            self.info_msg(format!(
                                "request updated from the editor; {undo} undoes"
                            ));
                        } else {
                            self.error_msg(format!(
                                "request updated from the editor; {n} problem(s) to fix; {undo} undoes"
                            ));
                        }
                        return Vec::new();
                    }
                    Err(e) => e,
                },
                Ok(v) => format!(
                    "the edited request must be a JSON object, got {}",
                    schema::json_type(&v)
                ),
                Err(e) => format!("the edited request is not valid JSON: {e}"),
            }
        };
        if retry.as_deref() == Some(text) {
            // Closed again without a change: stop asking, keep the text.
            self.params.unapplied_request = Some(text.to_owned());
            self.error_msg(format!(
                "{problem}; previous values kept, your text too: {} opens it again",
                self.keymap.label(Action::ExternalEditor)
            ));
            return Vec::new();
        }
        self.params.editor_retry = Some(text.to_owned());
        self.error_msg(format!(
            "{problem}; previous values kept; fix it in the editor"
        ));
        vec![Cmd::OpenEditor {
            target: EditTarget::Request,
            text: format!(
                "{EDITOR_NOTE}{}\n{EDITOR_NOTE}Fix it and save, or save it unchanged to keep it for later \
                 (an empty file discards it). Lines starting with {:?} are removed.\n{text}",
                problem.replace('\n', " "),
                EDITOR_NOTE.trim_end()
            ),
        }]
    }

    pub(super) fn external_editor(&mut self) -> Vec<Cmd> {
        let on_prompt = self.focus == Pane::Params
            && matches!(
                self.form.rows.get(self.form.selected).map(|r| r.kind),
                Some(RowKind::Prompt(_))
            );
        if on_prompt {
            vec![Cmd::OpenEditor {
                target: EditTarget::Prompt,
                text: self.form.prompt_text(),
            }]
        } else if let Some(kept) = self.params.unapplied_request.take() {
            // The text that could not be applied last time, as the user left it.
            self.params.editor_retry = Some(kept.clone());
            vec![Cmd::OpenEditor {
                target: EditTarget::Request,
                text: kept,
            }]
        } else {
            let text = serde_json::to_string_pretty(&self.form.editable_json())
                .unwrap_or_else(|_| "{}".to_owned());
            vec![Cmd::OpenEditor {
                target: EditTarget::Request,
                text: format!("{text}\n"),
            }]
        }
    }
}

/// The request text without the lines [`App`] put on top when it reopened the editor.
fn strip_editor_note(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(EDITOR_NOTE.trim_end()) {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_owned()
}
