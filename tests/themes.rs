//! Every built-in theme can be read: the contrast of each role's colours against the
//! background the theme is made for (its `background` key), computed as WCAG 2 relative
//! luminance with ANSI colour names mapped to xterm's default palette.
//!
//! Minimums (docs/tui.md, "Themes"): 4.5:1 for the text one reads (plain text, the selected
//! row, the status bar, the active tab, key names, headings, errors), 3:1 for everything
//! else (borders, secondary text, ranges, hints, accents, JSON colours).

use ratatui::style::{Color, Modifier, Style};
use volcv::tui::theme::{BUILTIN, Theme};

/// Roles that carry text one has to read, held to 4.5:1; the rest are held to 3:1.
const TEXT_ROLES: &[&str] = &[
    "base",
    "selected",
    "status",
    "tab_active",
    "key",
    "heading",
    "error",
];
const TEXT_MIN: f64 = 4.5;
const OTHER_MIN: f64 = 3.0;

/// xterm's default colours 0–15.
const XTERM16: [(u8, u8, u8); 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

/// The colour as xterm draws it, or `None` for the terminal's own colour (`reset`).
fn rgb(c: Color) -> Option<(u8, u8, u8)> {
    let i = match c {
        Color::Reset => return None,
        Color::Rgb(r, g, b) => return Some((r, g, b)),
        Color::Black => 0,
        Color::Red => 1,
        Color::Green => 2,
        Color::Yellow => 3,
        Color::Blue => 4,
        Color::Magenta => 5,
        Color::Cyan => 6,
        Color::Gray => 7,
        Color::DarkGray => 8,
        Color::LightRed => 9,
        Color::LightGreen => 10,
        Color::LightYellow => 11,
        Color::LightBlue => 12,
        Color::LightMagenta => 13,
        Color::LightCyan => 14,
        Color::White => 15,
        Color::Indexed(i) => i,
    };
    Some(match i {
        0..=15 => XTERM16[usize::from(i)],
        16..=231 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let v = i - 16;
            (level(v / 36), level(v / 6 % 6), level(v % 6))
        }
        _ => {
            let g = 8 + 10 * (i - 232);
            (g, g, g)
        }
    })
}

/// WCAG 2 relative luminance.
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |v: u8| {
        let c = f64::from(v) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The `background` key of a theme file, parsed as the app parses colours.
fn background(name: &str, text: &str) -> (u8, u8, u8) {
    let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let bg = table
        .get("background")
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{name}: no background = \"...\" key"));
    let c: Color = bg
        .parse()
        .unwrap_or_else(|e| panic!("{name}: background {bg:?}: {e:?}"));
    rgb(c).unwrap_or_else(|| panic!("{name}: background must be a colour, not {bg:?}"))
}

/// The (foreground, background) a style draws with on a terminal of background `bg` whose
/// own text colour is `fg`.
fn drawn(s: Style, fg: (u8, u8, u8), bg: (u8, u8, u8)) -> ((u8, u8, u8), (u8, u8, u8)) {
    let f = s.fg.and_then(rgb).unwrap_or(fg);
    let b = s.bg.and_then(rgb).unwrap_or(bg);
    if s.add_modifier.contains(Modifier::REVERSED) {
        (b, f)
    } else {
        (f, b)
    }
}

/// Every role below its minimum, as `role: ratio < min`.
fn too_faint(name: &str, text: &str) -> Vec<String> {
    let bg = background(name, text);
    let mut t = Theme::builtin_default();
    let warnings = t.overlay(text, name);
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    // The terminal's own text colour, for roles that leave it: the theme's plain text, or
    // xterm's default (black on a light background, light grey on a dark one).
    let own = t.base.fg.and_then(rgb).unwrap_or(if luminance(bg) > 0.5 {
        (0, 0, 0)
    } else {
        XTERM16[7]
    });
    let mut bad = Vec::new();
    for (role, style) in t.roles() {
        let (f, b) = drawn(style, own, bg);
        let ratio = contrast(f, b);
        let min = if TEXT_ROLES.contains(&role) {
            TEXT_MIN
        } else {
            OTHER_MIN
        };
        if ratio < min {
            bad.push(format!("{role}: {ratio:.2} < {min}"));
        }
    }
    bad
}

#[test]
fn every_builtin_theme_file_is_built_in_and_readable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut files = 0;
    let mut faint = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("themes/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        files += 1;
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let text = std::fs::read_to_string(&path).expect("read");
        let builtin = BUILTIN.iter().find(|(n, _)| *n == name);
        assert_eq!(
            builtin.map(|(_, t)| *t),
            Some(text.as_str()),
            "{name}.toml is not the built-in {name}"
        );
        faint.extend(
            too_faint(name, &text)
                .into_iter()
                .map(|b| format!("{name}: {b}")),
        );
    }
    assert!(faint.is_empty(), "too faint: {faint:#?}");
    assert_eq!(files, BUILTIN.len());
}

#[test]
fn the_old_light_theme_is_too_faint() {
    // ANSI 7 borders, ranges and labels on white (issue #15): the check must see it.
    let old = "background = \"white\"\nbase = \"black\"\ndim = \"gray\"\nborder = \"gray\"\n";
    let bad = too_faint("old-light", old);
    assert!(bad.iter().any(|b| b.starts_with("dim:")), "{bad:?}");
    assert!(bad.iter().any(|b| b.starts_with("border:")), "{bad:?}");
}

#[test]
fn contrast_matches_wcag_reference_values() {
    assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
    assert!((contrast((0x77, 0x77, 0x77), (255, 255, 255)) - 4.48).abs() < 0.01);
    assert_eq!(rgb(Color::Indexed(196)), Some((255, 0, 0)));
    assert_eq!(rgb(Color::Indexed(244)), Some((128, 128, 128)));
}
