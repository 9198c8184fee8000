//! The key map: every action the UI knows, its default keys, and user overrides from the
//! config's `[keys]` table. The help overlay, the status bar hints and the README key table
//! are all generated from this one map.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Something the user can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Validate and send.
    Send,
    /// Cancel selected request (asks: a sent request may still be billed).
    Cancel,
    /// Quit (asks if busy).
    Quit,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PrevPane,
    /// Parameters pane.
    FocusParams,
    /// Response pane.
    FocusResponse,
    /// History pane.
    FocusHistory,
    /// Down / scroll.
    Down,
    /// Up / scroll.
    Up,
    /// Page down.
    PageDown,
    /// Page up.
    PageUp,
    /// Top.
    Top,
    /// Bottom.
    Bottom,
    /// Edit value, reuse request.
    Edit,
    /// Nudge down, prev tab.
    Decrease,
    /// Nudge up, next tab.
    Increase,
    /// Nudge down x10.
    DecreaseMore,
    /// Nudge up x10.
    IncreaseMore,
    /// Toggle true/false.
    Toggle,
    /// Random seed.
    RandomSeed,
    /// Seed -1 (server picks).
    ResetSeed,
    /// Prompt/request in $EDITOR.
    ExternalEditor,
    /// Copy (OSC 52).
    Copy,
    /// This help.
    Help,
    /// Search the history.
    Search,
    /// Star / unstar an entry.
    Star,
    /// Edit an entry's note.
    Note,
    /// Delete an entry (asks).
    Delete,
    /// Mark an entry to compare.
    Mark,
    /// Compare with the marked entry.
    Compare,
    /// Load an entry's parameters.
    Replay,
    /// The request as a curl command.
    Curl,
    /// Sync or async requests.
    ToggleMode,
    /// Presets: load, save, delete.
    Presets,
    /// Undo the last replacement of the form.
    Undo,
    /// Sweep dialog, contact sheet, reopen a sweep.
    Sweep,
}

/// Where an action applies, for the help overlay and the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere.
    Global,
    /// In the Parameters pane (nudge keys also switch Response tabs).
    Params,
    /// In panes with a list or text to move through.
    Lists,
    /// In the History pane.
    History,
}

impl Action {
    /// Every action, in help order.
    pub const ALL: &'static [Action] = &[
        Action::Send,
        Action::Cancel,
        Action::Quit,
        Action::NextPane,
        Action::PrevPane,
        Action::FocusParams,
        Action::FocusResponse,
        Action::FocusHistory,
        Action::Down,
        Action::Up,
        Action::PageDown,
        Action::PageUp,
        Action::Top,
        Action::Bottom,
        Action::Edit,
        Action::Decrease,
        Action::Increase,
        Action::DecreaseMore,
        Action::IncreaseMore,
        Action::Toggle,
        Action::RandomSeed,
        Action::ResetSeed,
        Action::ExternalEditor,
        Action::Copy,
        Action::Help,
        Action::Search,
        Action::Star,
        Action::Note,
        Action::Delete,
        Action::Mark,
        Action::Compare,
        Action::Replay,
        Action::Curl,
        Action::ToggleMode,
        Action::Presets,
        Action::Undo,
        Action::Sweep,
    ];

    /// The name used in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Cancel => "cancel",
            Action::Quit => "quit",
            Action::NextPane => "next_pane",
            Action::PrevPane => "prev_pane",
            Action::FocusParams => "focus_params",
            Action::FocusResponse => "focus_response",
            Action::FocusHistory => "focus_history",
            Action::Down => "down",
            Action::Up => "up",
            Action::PageDown => "page_down",
            Action::PageUp => "page_up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Edit => "edit",
            Action::Decrease => "decrease",
            Action::Increase => "increase",
            Action::DecreaseMore => "decrease_more",
            Action::IncreaseMore => "increase_more",
            Action::Toggle => "toggle",
            Action::RandomSeed => "random_seed",
            Action::ResetSeed => "reset_seed",
            Action::ExternalEditor => "external_editor",
            Action::Copy => "copy",
            Action::Help => "help",
            Action::Search => "search",
            Action::Star => "star",
            Action::Note => "note",
            Action::Delete => "delete",
            Action::Mark => "mark",
            Action::Compare => "compare",
            Action::Replay => "replay",
            Action::Curl => "curl",
            Action::ToggleMode => "toggle_mode",
            Action::Presets => "presets",
            Action::Undo => "undo",
            Action::Sweep => "sweep",
        }
    }

    /// A few words saying what the action does (the help overlay has two narrow columns).
    pub fn describe(self) -> &'static str {
        match self {
            Action::Send => "validate and send",
            Action::Cancel => "cancel (asks first)",
            Action::Quit => "quit (asks if busy)",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::FocusParams => "Parameters pane",
            Action::FocusResponse => "Response pane",
            Action::FocusHistory => "History pane",
            Action::Down => "down / scroll",
            Action::Up => "up / scroll",
            Action::PageDown => "page down",
            Action::PageUp => "page up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Edit => "edit value, open entry",
            Action::Decrease => "nudge down, prev tab",
            Action::Increase => "nudge up, next tab",
            Action::DecreaseMore => "nudge down x10",
            Action::IncreaseMore => "nudge up x10",
            Action::Toggle => "toggle true/false",
            Action::RandomSeed => "random seed",
            Action::ResetSeed => "seed -1 (server picks)",
            Action::ExternalEditor => "prompt/request in $EDITOR",
            Action::Copy => "copy (OSC 52)",
            Action::Help => "this help",
            Action::Search => "search (as you type)",
            Action::Star => "star / unstar",
            Action::Note => "edit the note",
            Action::Delete => "delete (asks)",
            Action::Mark => "mark to compare",
            Action::Compare => "compare with marked",
            Action::Replay => "load its parameters",
            Action::Curl => "request as curl (copy)",
            Action::ToggleMode => "async/sync requests",
            Action::Presets => "presets (load/save)",
            Action::Undo => "undo form replacement",
            Action::Sweep => "sweep / contact sheet",
        }
    }

    /// Where the action applies.
    pub fn scope(self) -> Scope {
        match self {
            Action::Send
            | Action::Cancel
            | Action::Quit
            | Action::NextPane
            | Action::PrevPane
            | Action::FocusParams
            | Action::FocusResponse
            | Action::FocusHistory
            | Action::ExternalEditor
            | Action::Copy
            | Action::Curl
            | Action::Sweep
            | Action::Help => Scope::Global,
            Action::Down
            | Action::Up
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom => Scope::Lists,
            Action::Edit
            | Action::Decrease
            | Action::Increase
            | Action::DecreaseMore
            | Action::IncreaseMore
            | Action::Toggle
            | Action::RandomSeed
            | Action::ResetSeed
            | Action::ToggleMode
            | Action::Presets
            | Action::Undo => Scope::Params,
            Action::Search
            | Action::Star
            | Action::Note
            | Action::Delete
            | Action::Mark
            | Action::Compare
            | Action::Replay => Scope::History,
        }
    }

    /// The action with this config name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }

    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Action::Send => &["F5", "ctrl-s"],
            // Never Esc: Esc closes things (an edit, an overlay, a search), and a reflexive
            // second Esc must not cancel a request that costs money.
            Action::Cancel => &["x"],
            Action::Quit => &["q"],
            Action::NextPane => &["tab"],
            Action::PrevPane => &["shift-tab"],
            Action::FocusParams => &["1"],
            Action::FocusResponse => &["2"],
            Action::FocusHistory => &["3"],
            Action::Down => &["j", "down"],
            Action::Up => &["k", "up"],
            Action::PageDown => &["pagedown", "ctrl-d"],
            Action::PageUp => &["pageup", "ctrl-u"],
            Action::Top => &["g", "home"],
            Action::Bottom => &["G", "end"],
            Action::Edit => &["enter"],
            Action::Decrease => &["h", "-", "left"],
            Action::Increase => &["l", "+", "right"],
            Action::DecreaseMore => &["H"],
            Action::IncreaseMore => &["L"],
            Action::Toggle => &["space"],
            Action::RandomSeed => &["r"],
            Action::ResetSeed => &["R"],
            Action::ExternalEditor => &["ctrl-e"],
            Action::Copy => &["y"],
            Action::Help => &["?", "F1"],
            Action::Search => &["/"],
            Action::Star => &["*"],
            Action::Note => &["n"],
            Action::Delete => &["d", "delete"],
            Action::Mark => &["m"],
            Action::Compare => &["c"],
            Action::Replay => &["e"],
            Action::Curl => &["C"],
            Action::ToggleMode => &["A"],
            Action::Presets => &["p"],
            Action::Undo => &["u"],
            Action::Sweep => &["S"],
        }
    }
}

/// A key with its modifiers, normalized so that `G` and `shift-g` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt, Shift (Shift only for non-character keys).
    pub mods: KeyModifiers,
}

impl Key {
    /// The normalized key of a terminal key event (`None` for releases).
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        Some(Key::normalized(ev.code, ev.modifiers))
    }

    fn normalized(code: KeyCode, mods: KeyModifiers) -> Key {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            // The character already says whether Shift was held.
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            c => c,
        };
        Key { code, mods }
    }

    /// Parses `ctrl-s`, `F5`, `shift-tab`, `space`, `G`, `?`, `alt-enter`.
    pub fn parse(text: &str) -> Result<Key, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty key".to_owned());
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = t;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, n) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == n {
                break;
            }
            mods |= m;
            rest = &rest[n..];
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "minus" => KeyCode::Char('-'),
            "plus" => KeyCode::Char('+'),
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        if mods.contains(KeyModifiers::SHIFT) && c.is_ascii_alphabetic() {
                            KeyCode::Char(c.to_ascii_uppercase())
                        } else {
                            KeyCode::Char(c)
                        }
                    }
                    _ => match lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                        Some(n) if (1..=24).contains(&n) => KeyCode::F(n),
                        _ => return Err(format!("unknown key {text:?}")),
                    },
                }
            }
        };
        Ok(Key::normalized(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Actions bound to keys.
#[derive(Debug, Clone)]
pub struct KeyMap {
    by_key: HashMap<Key, Action>,
    by_action: BTreeMap<Action, Vec<Key>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut by_action = BTreeMap::new();
        for a in Action::ALL {
            let keys = a
                .default_keys()
                .iter()
                .filter_map(|k| Key::parse(k).ok())
                .collect();
            by_action.insert(*a, keys);
        }
        KeyMap::from_actions(by_action)
    }
}

impl KeyMap {
    fn from_actions(by_action: BTreeMap<Action, Vec<Key>>) -> KeyMap {
        let mut by_key = HashMap::new();
        for (a, keys) in &by_action {
            for k in keys {
                by_key.insert(*k, *a);
            }
        }
        KeyMap { by_key, by_action }
    }

    /// The defaults with the config's `[keys]` table applied: each named action gets exactly
    /// the keys given (a string or a list of strings); unnamed actions keep their defaults. A
    /// key taken by an override is removed from the action that had it by default. Problems
    /// are returned as warnings and the rest still applies.
    pub fn with_overrides(table: &BTreeMap<String, toml::Value>) -> (KeyMap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut by_action = KeyMap::default().by_action;
        let mut overridden: Vec<(Action, Vec<Key>)> = Vec::new();
        for (name, value) in table {
            let Some(action) = Action::from_name(name) else {
                warnings.push(format!("[keys]: unknown action {name:?}"));
                continue;
            };
            let texts: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
                _ => {
                    warnings.push(format!("[keys].{name}: expected a key or a list of keys"));
                    continue;
                }
            };
            let given = texts.len();
            let mut keys = Vec::new();
            for t in texts {
                match Key::parse(t) {
                    Ok(k) if is_reserved(k) => {
                        warnings.push(format!("[keys].{name}: {t:?} is reserved (Ctrl-c quits)"));
                    }
                    Ok(k) => keys.push(k),
                    Err(e) => warnings.push(format!("[keys].{name}: {e}")),
                }
            }
            if keys.is_empty() && given > 0 {
                // Nothing usable: keep the defaults rather than leave the action unbound.
                continue;
            }
            overridden.push((action, keys));
        }
        for (action, keys) in &overridden {
            for list in by_action.values_mut() {
                list.retain(|k| !keys.contains(k));
            }
            by_action.insert(*action, keys.clone());
        }
        (KeyMap::from_actions(by_action), warnings)
    }

    /// The action bound to a key.
    pub fn action(&self, key: Key) -> Option<Action> {
        self.by_key.get(&key).copied()
    }

    /// The keys of an action.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The keys of an action as text, e.g. `F5/Ctrl-s`.
    pub fn label(&self, action: Action) -> String {
        let keys = self.keys(action);
        if keys.is_empty() {
            "(unbound)".to_owned()
        } else {
            keys.iter()
                .map(Key::to_string)
                .collect::<Vec<_>>()
                .join("/")
        }
    }

    /// `(keys, description)` rows for every action, in help order.
    pub fn rows(&self) -> Vec<(String, &'static str, Scope)> {
        Action::ALL
            .iter()
            .map(|a| (self.label(*a), a.describe(), a.scope()))
            .collect()
    }

    /// The map as a Markdown table (`action | keys | what it does`).
    pub fn markdown(&self) -> String {
        let mut s = String::from("| action | keys | what it does |\n|---|---|---|\n");
        for a in Action::ALL {
            let keys = self
                .keys(*a)
                .iter()
                .map(|k| format!("`{}`", k.to_string().replace('|', "\\|")))
                .collect::<Vec<_>>()
                .join(" ");
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                a.name(),
                keys,
                a.describe()
            ));
        }
        s.push_str("| (fixed) | `Ctrl-c` | quit at once, even with requests in flight |\n");
        s
    }
}

/// Ctrl-c always quits and cannot be rebound.
pub fn is_reserved(k: Key) -> bool {
    k.code == KeyCode::Char('c') && k.mods == KeyModifiers::CONTROL
}

/// The default key map as the Markdown table the README carries.
pub fn key_table_markdown() -> String {
    KeyMap::default().markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> Key {
        Key::from_event(&KeyEvent::new(code, mods)).expect("press")
    }

    #[test]
    fn parses_and_normalizes_keys() {
        assert_eq!(
            Key::parse("ctrl-s").expect("k"),
            ev(KeyCode::Char('s'), KeyModifiers::CONTROL)
        );
        assert_eq!(
            Key::parse("G").expect("k"),
            ev(KeyCode::Char('G'), KeyModifiers::SHIFT)
        );
        assert_eq!(
            Key::parse("shift-g").expect("k"),
            Key::parse("G").expect("k")
        );
        assert_eq!(
            Key::parse("shift-tab").expect("k"),
            ev(KeyCode::BackTab, KeyModifiers::SHIFT)
        );
        assert_eq!(Key::parse("F5").expect("k").code, KeyCode::F(5));
        assert_eq!(Key::parse("-").expect("k").code, KeyCode::Char('-'));
        assert_eq!(Key::parse("ctrl--").expect("k").code, KeyCode::Char('-'));
        assert!(Key::parse("ctrl-").is_err());
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("F99").is_err());
    }

    #[test]
    fn every_action_has_a_default_key_and_no_key_is_bound_twice() {
        let m = KeyMap::default();
        let mut seen = HashMap::new();
        for a in Action::ALL {
            assert!(!m.keys(*a).is_empty(), "{a:?} has no key");
            for k in m.keys(*a) {
                assert_eq!(seen.insert(*k, *a), None, "{k} bound twice");
            }
        }
    }

    #[test]
    fn overrides_are_partial_and_steal_keys() {
        let table: BTreeMap<String, toml::Value> = toml::from_str(
            r#"
            send = ["F9", "x"]
            quit = "ctrl-q"
            nope = "a"
            help = "ctrl-c"
            "#,
        )
        .expect("toml");
        let (m, warnings) = KeyMap::with_overrides(&table);
        assert_eq!(m.label(Action::Send), "F9/x");
        assert_eq!(m.label(Action::Quit), "Ctrl-q");
        // x moved from cancel to send, which has no key left.
        assert_eq!(m.label(Action::Cancel), "(unbound)");
        assert_eq!(m.action(Key::parse("x").expect("k")), Some(Action::Send));
        assert_eq!(m.action(Key::parse("q").expect("k")), None);
        // Untouched actions keep their defaults, and so does one whose override is unusable.
        assert_eq!(m.label(Action::Toggle), "Space");
        assert_eq!(m.label(Action::Help), "?/F1");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("ctrl-c") || warnings[1].contains("ctrl-c"));
    }

    #[test]
    fn markdown_lists_every_action() {
        let md = key_table_markdown();
        for a in Action::ALL {
            assert!(md.contains(&format!("| `{}` |", a.name())), "{a:?}");
        }
        assert!(md.contains("| `send` | `F5` `Ctrl-s` |"));
    }
}
