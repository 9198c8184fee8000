//! The one editing model of every text input in the UI (a field edited in place, the prompt
//! editor, the search line, the note, save, preset-name and sweep dialogs): `Enter` commits
//! (in the multi-line prompt editor `Tab` does, `Enter` is a new line), `Esc` discards and
//! restores the value from before the edit, `Ctrl-u` clears the text being edited (`Ctrl-z`
//! brings it back), and text that arrives (a paste, the editor) has its line endings made
//! one: CR, LF and CRLF are all a new line.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;
use std::borrow::Cow;

/// What a key did to an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `Enter`: keep the text.
    Commit,
    /// `Esc`: throw the edit away.
    Discard,
    /// `Tab` (the caller decides: path completion, or nothing).
    Tab,
    /// The text changed.
    Changed,
    /// Nothing changed (a cursor move, a key the input does not take).
    Unchanged,
}

/// The text with every CRLF and lone CR turned into LF: what terminals send in a bracketed
/// paste (most send CR), an editor's CRLF file and typed text mean the same lines.
pub fn newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Text for a one-line input: line breaks of any kind become one space each.
pub fn one_line(text: &str) -> String {
    newlines(text).replace('\n', " ")
}

fn ctrl(ev: &KeyEvent, c: char) -> bool {
    ev.code == KeyCode::Char(c) && ev.modifiers == KeyModifiers::CONTROL
}

/// Clears the whole text (undoable with `Ctrl-z`); whether there was any.
pub fn clear(input: &mut TextArea<'static>) -> bool {
    input.select_all();
    input.delete_str(0)
}

/// The keys every input shares, multi-line or not: `Ctrl-u` clears, `Ctrl-z` undoes (the
/// textarea's own `Ctrl-u` would undo, which is not what the help says). `None`: not one.
fn shared_key(input: &mut TextArea<'static>, ev: &KeyEvent) -> Option<Outcome> {
    let changed = |b: bool| {
        if b {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        }
    };
    if ctrl(ev, 'u') {
        Some(changed(clear(input)))
    } else if ctrl(ev, 'z') {
        Some(changed(input.undo()))
    } else {
        None
    }
}

/// A key for a one-line input: `Enter` commits, `Esc` discards, `Tab` is the caller's, a
/// new line can never get in.
pub fn line_key(input: &mut TextArea<'static>, ev: &KeyEvent) -> Outcome {
    let plain = ev.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    match ev.code {
        KeyCode::Esc if plain => return Outcome::Discard,
        KeyCode::Enter if plain => return Outcome::Commit,
        KeyCode::Tab if plain => return Outcome::Tab,
        KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab | KeyCode::Char('\n' | '\r') => {
            return Outcome::Unchanged;
        }
        _ => {}
    }
    if ctrl(ev, 'm') || ctrl(ev, 'j') {
        // The textarea takes Ctrl-m for a new line.
        return Outcome::Unchanged;
    }
    if let Some(o) = shared_key(input, ev) {
        return o;
    }
    if input.input(*ev) {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

/// A key for the multi-line prompt editor: `Tab` commits (`Enter` is a new line), `Esc`
/// discards, `Ctrl-u` clears the whole text.
pub fn text_key(input: &mut TextArea<'static>, ev: &KeyEvent) -> Outcome {
    let plain = ev.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    match ev.code {
        KeyCode::Esc if plain => return Outcome::Discard,
        KeyCode::Tab if plain => return Outcome::Commit,
        KeyCode::BackTab => return Outcome::Unchanged,
        _ => {}
    }
    if let Some(o) = shared_key(input, ev) {
        return o;
    }
    if input.input(*ev) {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

/// Pastes text into a one-line input (line breaks become spaces).
pub fn paste_line(input: &mut TextArea<'static>, text: &str) -> bool {
    input.insert_str(one_line(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn cr_lf_and_crlf_are_one_new_line() {
        assert_eq!(newlines("a\rb\r\nc\nd"), "a\nb\nc\nd");
        assert_eq!(newlines("a\r\r\nb"), "a\n\nb");
        assert!(matches!(newlines("plain"), Cow::Borrowed("plain")));
        assert_eq!(one_line("line one\rline two\r\n"), "line one line two ");
    }

    #[test]
    fn ctrl_u_clears_ctrl_z_undoes_and_no_new_line_gets_in() {
        let mut t = crate::tui::form::line_input("seed=");
        t.move_cursor(ratatui_textarea::CursorMove::Head);
        assert_eq!(
            line_key(&mut t, &key(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            Outcome::Changed
        );
        assert_eq!(t.lines(), [""]);
        assert_eq!(
            line_key(&mut t, &key(KeyCode::Char('z'), KeyModifiers::CONTROL)),
            Outcome::Changed
        );
        assert_eq!(t.lines(), ["seed="]);
        for k in [
            key(KeyCode::Char('m'), KeyModifiers::CONTROL),
            key(KeyCode::Enter, KeyModifiers::ALT),
        ] {
            assert_eq!(line_key(&mut t, &k), Outcome::Unchanged);
        }
        assert_eq!(t.lines(), ["seed="]);
        assert_eq!(
            line_key(&mut t, &key(KeyCode::Esc, KeyModifiers::NONE)),
            Outcome::Discard
        );
        assert_eq!(
            line_key(&mut t, &key(KeyCode::Enter, KeyModifiers::NONE)),
            Outcome::Commit
        );
    }

    #[test]
    fn the_prompt_editor_takes_enter_as_a_new_line_and_tab_commits() {
        let mut t = TextArea::new(vec!["one".to_owned(), "two".to_owned()]);
        assert_eq!(
            text_key(&mut t, &key(KeyCode::Enter, KeyModifiers::NONE)),
            Outcome::Changed
        );
        assert_eq!(t.lines().len(), 3);
        assert_eq!(
            text_key(&mut t, &key(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            Outcome::Changed
        );
        assert_eq!(t.lines(), [""]);
        text_key(&mut t, &key(KeyCode::Char('z'), KeyModifiers::CONTROL));
        assert_eq!(t.lines(), ["", "one", "two"]);
        assert_eq!(
            text_key(&mut t, &key(KeyCode::Tab, KeyModifiers::NONE)),
            Outcome::Commit
        );
    }
}
