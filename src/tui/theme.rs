//! Themes: `themes/*.toml` built into the binary, overridable by `<config dir>/themes/NAME.toml`.
//!
//! A theme file names styles by role; each is a colour (`"red"`, `"#ff8800"`, `"142"`) or a
//! table `{ fg, bg, bold, italic, underline, reverse, dim }`. Every theme is applied over the
//! built-in default, so a file that sets one role is a complete theme.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

const DEFAULT: &str = include_str!("../../themes/default.toml");

/// The built-in themes by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", DEFAULT),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Styles by role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Theme {
    /// Plain text and the background.
    pub base: Style,
    /// Secondary text: help lines, ranges, units.
    pub dim: Style,
    /// Borders of panes without focus.
    pub border: Style,
    /// Border and title of the focused pane.
    pub focus: Style,
    /// The selected row.
    pub selected: Style,
    /// Group headings and labels.
    pub heading: Style,
    /// Errors: invalid values, failed requests.
    pub error: Style,
    /// Warnings: values outside the recommended range.
    pub warning: Style,
    /// Success.
    pub ok: Style,
    /// In-flight requests and the spinner.
    pub busy: Style,
    /// Recommended-range hints.
    pub hint: Style,
    /// The status bar.
    pub status: Style,
    /// Key names in hints and help.
    pub key: Style,
    /// The active tab.
    pub tab_active: Style,
    /// JSON object keys.
    pub json_key: Style,
    /// JSON strings.
    pub json_string: Style,
    /// JSON numbers.
    pub json_number: Style,
    /// JSON true/false.
    pub json_bool: Style,
    /// JSON null.
    pub json_null: Style,
    /// Shortened base64 chips like `<jpeg 1024x1024, 213 KB>`.
    pub json_chip: Style,
}

/// One style in a theme file.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum StyleSpec {
    Fg(String),
    Full {
        #[serde(default)]
        fg: Option<String>,
        #[serde(default)]
        bg: Option<String>,
        #[serde(default)]
        bold: bool,
        #[serde(default)]
        italic: bool,
        #[serde(default)]
        underline: bool,
        #[serde(default)]
        reverse: bool,
        #[serde(default)]
        dim: bool,
    },
}

fn color(name: &str, role: &str, warnings: &mut Vec<String>) -> Option<Color> {
    match name.parse::<Color>() {
        Ok(c) => Some(c),
        Err(_) => {
            warnings.push(format!("theme: {role}: unknown colour {name:?}"));
            None
        }
    }
}

impl StyleSpec {
    fn to_style(&self, role: &str, warnings: &mut Vec<String>) -> Style {
        match self {
            StyleSpec::Fg(c) => {
                let mut s = Style::default();
                if let Some(c) = color(c, role, warnings) {
                    s = s.fg(c);
                }
                s
            }
            StyleSpec::Full {
                fg,
                bg,
                bold,
                italic,
                underline,
                reverse,
                dim,
            } => {
                let mut s = Style::default();
                if let Some(c) = fg.as_deref().and_then(|c| color(c, role, warnings)) {
                    s = s.fg(c);
                }
                if let Some(c) = bg.as_deref().and_then(|c| color(c, role, warnings)) {
                    s = s.bg(c);
                }
                for (on, m) in [
                    (bold, Modifier::BOLD),
                    (italic, Modifier::ITALIC),
                    (underline, Modifier::UNDERLINED),
                    (reverse, Modifier::REVERSED),
                    (dim, Modifier::DIM),
                ] {
                    if *on {
                        s = s.add_modifier(m);
                    }
                }
                s
            }
        }
    }
}

impl Theme {
    fn slot(&mut self, role: &str) -> Option<&mut Style> {
        Some(match role {
            "base" => &mut self.base,
            "dim" => &mut self.dim,
            "border" => &mut self.border,
            "focus" => &mut self.focus,
            "selected" => &mut self.selected,
            "heading" => &mut self.heading,
            "error" => &mut self.error,
            "warning" => &mut self.warning,
            "ok" => &mut self.ok,
            "busy" => &mut self.busy,
            "hint" => &mut self.hint,
            "status" => &mut self.status,
            "key" => &mut self.key,
            "tab_active" => &mut self.tab_active,
            "json_key" => &mut self.json_key,
            "json_string" => &mut self.json_string,
            "json_number" => &mut self.json_number,
            "json_bool" => &mut self.json_bool,
            "json_null" => &mut self.json_null,
            "json_chip" => &mut self.json_chip,
            _ => return None,
        })
    }

    /// Applies a theme file's text over this theme; returns the problems found (the rest still
    /// applies).
    pub fn overlay(&mut self, text: &str, source: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        let table: BTreeMap<String, toml::Value> = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => return vec![format!("theme {source}: {}", e.message())],
        };
        for (role, value) in table {
            // `background` names the terminal background the theme is made for (the contrast
            // test reads it); volcv never paints it.
            if role == "name" || role == "version" || role == "background" {
                continue;
            }
            let spec: StyleSpec = match value.try_into() {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("theme {source}: {role}: {e}"));
                    continue;
                }
            };
            let style = spec.to_style(&role, &mut warnings);
            match self.slot(&role) {
                Some(slot) => *slot = style,
                None => warnings.push(format!("theme {source}: unknown role {role:?}")),
            }
        }
        warnings
    }

    /// Every role with its style, in the order of the fields.
    pub fn roles(&self) -> [(&'static str, Style); 20] {
        [
            ("base", self.base),
            ("dim", self.dim),
            ("border", self.border),
            ("focus", self.focus),
            ("selected", self.selected),
            ("heading", self.heading),
            ("error", self.error),
            ("warning", self.warning),
            ("ok", self.ok),
            ("busy", self.busy),
            ("hint", self.hint),
            ("status", self.status),
            ("key", self.key),
            ("tab_active", self.tab_active),
            ("json_key", self.json_key),
            ("json_string", self.json_string),
            ("json_number", self.json_number),
            ("json_bool", self.json_bool),
            ("json_null", self.json_null),
            ("json_chip", self.json_chip),
        ]
    }

    /// The built-in default theme.
    pub fn builtin_default() -> Theme {
        let mut t = Theme::default();
        // The default theme is a tested built-in file: it has no problems to report.
        let _ = t.overlay(DEFAULT, "default");
        t
    }

    /// The theme `name`: the user's `<config_dir>/themes/NAME.toml` if it exists, else the
    /// built-in one, applied over the default. An unknown name falls back to the default with
    /// a warning. Called once at start-up, before the event loop runs.
    pub fn load(name: &str, config_dir: Option<&Path>) -> (Theme, Vec<String>) {
        let mut theme = Theme::builtin_default();
        let mut warnings = Vec::new();
        let user = config_dir
            .map(|d| d.join("themes").join(format!("{name}.toml")))
            .and_then(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)));
        let builtin = BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
        match (user, builtin) {
            (Some((path, text)), _) => {
                warnings.extend(theme.overlay(&text, &path.display().to_string()));
            }
            (None, Some(text)) => warnings.extend(theme.overlay(text, name)),
            (None, None) => {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                warnings.push(format!(
                    "unknown theme {name:?}; built in: {}",
                    known.join(", ")
                ));
            }
        }
        (theme, warnings)
    }

    /// A theme without colours (for `NO_COLOR`): focus, selection, errors and warnings are
    /// still told apart, by bold, reverse and underline.
    pub fn monochrome() -> Theme {
        let plain = Style::default();
        Theme {
            base: plain,
            dim: plain,
            border: plain,
            focus: plain.add_modifier(Modifier::BOLD),
            selected: plain.add_modifier(Modifier::REVERSED),
            heading: plain.add_modifier(Modifier::BOLD),
            error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            warning: plain.add_modifier(Modifier::UNDERLINED),
            ok: plain.add_modifier(Modifier::BOLD),
            busy: plain.add_modifier(Modifier::BOLD),
            hint: plain,
            status: plain.add_modifier(Modifier::REVERSED),
            key: plain.add_modifier(Modifier::BOLD),
            tab_active: plain.add_modifier(Modifier::REVERSED),
            json_key: plain.add_modifier(Modifier::BOLD),
            json_string: plain,
            json_number: plain,
            json_bool: plain,
            json_null: plain,
            json_chip: plain.add_modifier(Modifier::ITALIC),
        }
    }

    /// Whether the environment asks for no colour (`NO_COLOR` set and not empty).
    pub fn no_color_requested() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse_cleanly_and_default_sets_every_role() {
        for (name, text) in BUILTIN {
            let mut t = Theme::default();
            let w = t.overlay(text, name);
            assert!(w.is_empty(), "{name}: {w:?}");
        }
        let d = Theme::builtin_default();
        let mut probe = d.clone();
        for (role, style) in d.roles() {
            let slot = probe.slot(role).expect("known role");
            assert_eq!(*slot, style, "roles() and the file disagree on {role}");
            assert_ne!(style, Style::default(), "default theme leaves {role} unset");
        }
    }

    #[test]
    fn partial_user_theme_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("themes")).expect("mkdir");
        std::fs::write(
            dir.path().join("themes/mine.toml"),
            "error = { fg = \"#ff0000\", bold = true }\nnope = \"red\"\nok = \"not-a-colour\"\n",
        )
        .expect("write");
        let (t, w) = Theme::load("mine", Some(dir.path()));
        assert_eq!(
            t.error,
            Style::default()
                .fg(Color::Rgb(255, 0, 0))
                .add_modifier(Modifier::BOLD)
        );
        assert_eq!(t.focus, Theme::builtin_default().focus);
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn unknown_theme_falls_back_with_a_warning() {
        let (t, w) = Theme::load("nonexistent", None);
        assert_eq!(t, Theme::builtin_default());
        assert!(w[0].contains("high-contrast"));
    }

    #[test]
    fn monochrome_has_no_colours_but_marks_focus_and_errors() {
        let m = Theme::monochrome();
        assert_eq!(m.error.fg, None);
        assert!(m.error.add_modifier.contains(Modifier::BOLD));
        assert!(m.selected.add_modifier.contains(Modifier::REVERSED));
        assert_ne!(m.focus, m.border);
    }
}
