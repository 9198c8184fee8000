//! The overlay stack: every dialog, prompt and overlay drawn over the panes, newest on top.
//! Its top alone gets the keys, and the renderer draws the stack from the bottom up, so what
//! the user sees on top is always what the next key answers.

use crate::tui::keymap::{KeyMap, Scope};
use crate::tui::msg::ImageSource;
use crate::tui::preview::ImageKey;
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

/// The presets overlay (`p`).
#[derive(Debug, Clone, Default)]
pub struct PresetsView {
    /// The presets, as listed (empty until the worker answers).
    pub items: Vec<crate::presets::PresetInfo>,
    /// The highlighted one.
    pub selected: usize,
    /// The list is being read.
    pub loading: bool,
    /// The name being typed for "save the form as".
    pub naming: Option<TextArea<'static>>,
    /// `d` was pressed once: the next `y` deletes the highlighted preset.
    pub confirm_delete: bool,
}

/// What the save prompt saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveWhat {
    /// One image, to the file typed.
    One(ImageSource),
    /// Every image of the shown request, into the directory typed, under these stems.
    All(Vec<(ImageSource, String)>),
}

/// The path prompt of `s` (save the selected image) and `o` (save all).
#[derive(Debug, Clone)]
pub struct SavePrompt {
    /// What is saved.
    pub what: SaveWhat,
    /// The path being typed.
    pub input: TextArea<'static>,
}

/// One dialog or overlay over the panes.
#[derive(Debug, Clone)]
pub enum Overlay {
    /// An image shown full screen (any key returns).
    Fullscreen(ImageKey),
    /// The key help.
    Help {
        /// Its first visible line (the renderer keeps it within the help).
        scroll: usize,
    },
    /// "Quit with requests in flight?"
    ConfirmQuit,
    /// A request on the wire waiting for the user's yes to cancel it (asked in the status bar,
    /// which shows the question whenever it is on top).
    ConfirmCancel {
        /// The request.
        id: u64,
        /// The question.
        question: String,
    },
    /// A reference over the limits, waiting for the user's yes to fit it.
    ConfirmFit {
        /// What was typed in the reference row.
        input: String,
        /// Which limits it is over.
        problems: Vec<String>,
    },
    /// The path prompt of `s` (save the selected image) and `o` (save all).
    Save(SavePrompt),
    /// A history row waiting for the user's yes to delete it.
    ConfirmDelete(u64),
    /// The note of a history row being edited.
    Note {
        /// The row.
        id: u64,
        /// The text.
        input: TextArea<'static>,
    },
    /// The History search line while it is typed (in the status bar).
    Search(TextArea<'static>),
    /// The comparison of two history rows.
    Compare {
        /// The marked row.
        a: u64,
        /// The selected row.
        b: u64,
        /// The first visible line.
        scroll: usize,
    },
    /// The presets list.
    Presets(PresetsView),
    /// The sweep dialog's line while it is typed (`seed=1..4 scale=2.5,3.5`).
    SweepInput(TextArea<'static>),
    /// The contact sheet of the current sweep.
    Sheet,
}

/// What kind of overlay an [`Overlay`] is, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayKind {
    /// [`Overlay::Fullscreen`].
    Fullscreen,
    /// [`Overlay::Help`].
    Help,
    /// [`Overlay::ConfirmQuit`].
    ConfirmQuit,
    /// [`Overlay::ConfirmCancel`].
    ConfirmCancel,
    /// [`Overlay::ConfirmFit`].
    ConfirmFit,
    /// [`Overlay::Save`].
    Save,
    /// [`Overlay::ConfirmDelete`].
    ConfirmDelete,
    /// [`Overlay::Note`].
    Note,
    /// [`Overlay::Search`].
    Search,
    /// [`Overlay::Compare`].
    Compare,
    /// [`Overlay::Presets`].
    Presets,
    /// [`Overlay::SweepInput`].
    SweepInput,
    /// [`Overlay::Sheet`].
    Sheet,
}

impl Overlay {
    /// Its kind.
    pub fn kind(&self) -> OverlayKind {
        match self {
            Overlay::Fullscreen(_) => OverlayKind::Fullscreen,
            Overlay::Help { .. } => OverlayKind::Help,
            Overlay::ConfirmQuit => OverlayKind::ConfirmQuit,
            Overlay::ConfirmCancel { .. } => OverlayKind::ConfirmCancel,
            Overlay::ConfirmFit { .. } => OverlayKind::ConfirmFit,
            Overlay::Save(_) => OverlayKind::Save,
            Overlay::ConfirmDelete(_) => OverlayKind::ConfirmDelete,
            Overlay::Note { .. } => OverlayKind::Note,
            Overlay::Search(_) => OverlayKind::Search,
            Overlay::Compare { .. } => OverlayKind::Compare,
            Overlay::Presets(_) => OverlayKind::Presets,
            Overlay::SweepInput(_) => OverlayKind::SweepInput,
            Overlay::Sheet => OverlayKind::Sheet,
        }
    }

    /// Whether the mouse is ignored while it is open (it covers the panes or asks a question).
    pub(crate) fn blocks_mouse(&self) -> bool {
        matches!(
            self,
            Overlay::Fullscreen(_)
                | Overlay::Help { .. }
                | Overlay::ConfirmQuit
                | Overlay::ConfirmFit { .. }
                | Overlay::Save(_)
        )
    }
}

/// The open overlays, bottom first; at most one of each kind.
#[derive(Debug, Clone, Default)]
pub struct Overlays(Vec<Overlay>);

impl Overlays {
    /// The overlay on top: the one that gets the next key and is drawn over the rest.
    pub fn top(&self) -> Option<&Overlay> {
        self.0.last()
    }

    /// The open overlays, bottom first (the order they are drawn in).
    pub fn iter(&self) -> std::slice::Iter<'_, Overlay> {
        self.0.iter()
    }

    /// How many are open.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts `o` on top; one of the same kind already open is replaced (and moves up).
    pub(crate) fn open(&mut self, o: Overlay) {
        self.close(o.kind());
        self.0.push(o);
    }

    /// Puts `o` back at `depth` (where it was before [`Overlays::pop`] took it), under
    /// anything opened since.
    pub(crate) fn put_back(&mut self, depth: usize, o: Overlay) {
        self.close(o.kind());
        let at = depth.min(self.0.len());
        self.0.insert(at, o);
    }

    /// Takes the overlay on top off the stack.
    pub(crate) fn pop(&mut self) -> Option<Overlay> {
        self.0.pop()
    }

    /// Closes the overlay of this kind, if open, and returns it.
    pub(crate) fn close(&mut self, kind: OverlayKind) -> Option<Overlay> {
        let i = self.0.iter().position(|o| o.kind() == kind)?;
        Some(self.0.remove(i))
    }

    /// The open overlay of this kind.
    pub fn get(&self, kind: OverlayKind) -> Option<&Overlay> {
        self.0.iter().find(|o| o.kind() == kind)
    }

    /// The open overlay of this kind, to change it.
    pub(crate) fn get_mut(&mut self, kind: OverlayKind) -> Option<&mut Overlay> {
        self.0.iter_mut().find(|o| o.kind() == kind)
    }

    /// Whether an overlay of this kind is open.
    pub fn has(&self, kind: OverlayKind) -> bool {
        self.get(kind).is_some()
    }
}

/// One line of the key help, before it is styled and fitted to its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpLine {
    /// A section heading.
    Heading(&'static str),
    /// Keys and what they do; the keys are padded to `key_w` columns.
    Key {
        /// The keys, as labelled (`j/Down`).
        keys: String,
        /// What they do.
        what: &'static str,
        /// The width of the section's key column.
        key_w: usize,
    },
    /// A line of secondary text.
    Note(String),
}

/// The key help laid out for a terminal: its box, its columns (read top to bottom, left to
/// right), their width, and how many lines show at once. Drawing and the scroll keys both
/// use it, so they agree on where the help ends.
#[derive(Debug, Clone)]
pub struct HelpLayout {
    /// The box, borders included.
    pub rect: Rect,
    /// The columns' lines.
    pub columns: Vec<Vec<HelpLine>>,
    /// The width of a column (one space between columns).
    pub col: u16,
    /// Lines shown at once.
    pub visible: usize,
    /// Lines of the longest column.
    pub total: usize,
}

impl HelpLayout {
    /// The last first line the help can scroll to (0 when it all shows).
    pub fn max_scroll(&self) -> usize {
        self.total.saturating_sub(self.visible)
    }
}

/// The narrowest help column; the help has as many (up to 3) as the width holds.
const HELP_COL_MIN: u16 = 38;
/// The widest help column.
const HELP_COL_MAX: u16 = 48;

/// One section of the help: the rows of `scopes`, under the heading of each.
fn help_section(
    scopes: &[(&'static str, Scope)],
    rows: &[(String, &'static str, Scope)],
) -> Vec<HelpLine> {
    let key_w = rows
        .iter()
        .filter(|(_, _, s)| scopes.iter().any(|(_, sc)| sc == s))
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(8)
        .min(16);
    let mut lines = Vec::new();
    for (title, scope) in scopes {
        lines.push(HelpLine::Heading(title));
        for (keys, what, s) in rows {
            if s == scope {
                lines.push(HelpLine::Key {
                    keys: keys.clone(),
                    what,
                    key_w,
                });
            }
        }
    }
    lines
}

/// The help's blocks, in reading order; a block stays in one column.
fn help_blocks(keymap: &KeyMap, log_path: &str, col: usize) -> Vec<Vec<HelpLine>> {
    let rows = keymap.rows();
    let note = |n: &str| HelpLine::Note(n.to_owned());
    let mut global = help_section(&[("Everywhere", Scope::Global)], &rows);
    global.push(HelpLine::Key {
        keys: "Ctrl-c".into(),
        what: "quit at once",
        key_w: 6,
    });
    // The log path is wrapped, not cut: it is there to be copied.
    let mut log = vec![note("Log file:")];
    let chars: Vec<char> = log_path.chars().collect();
    for piece in chars.chunks(col.max(1)) {
        log.push(HelpLine::Note(piece.iter().collect()));
    }
    vec![
        global,
        help_section(&[("Moving", Scope::Lists)], &rows),
        log,
        help_section(&[("Parameters", Scope::Params)], &rows),
        help_section(
            &[("History (and the entry in Response)", Scope::History)],
            &rows,
        ),
        vec![
            note("Editing: Enter commits, Esc discards,"),
            note("Ctrl-u clears, Tab completes paths."),
            note("Prompt: Enter new line, Tab commits."),
        ],
        vec![
            note("Images tab: j/k select, f full screen,"),
            note("s save it, o save all."),
        ],
    ]
}

/// Where to cut `sizes` into at most `n` runs so that the longest run is shortest: the
/// longest run's size and each run's length.
fn shortest_split(sizes: &[usize], n: usize) -> (usize, Vec<usize>) {
    if n <= 1 || sizes.len() <= 1 {
        return (sizes.iter().sum(), vec![sizes.len()]);
    }
    let mut out = (usize::MAX, Vec::new());
    for first in 1..=sizes.len() {
        let head: usize = sizes[..first].iter().sum();
        let (rest, mut runs) = if first == sizes.len() {
            (0, Vec::new())
        } else {
            shortest_split(&sizes[first..], n - 1)
        };
        let tallest = head.max(rest);
        if tallest < out.0 {
            runs.insert(0, first);
            out = (tallest, runs);
        }
    }
    out
}

/// The key help laid out for a terminal of `area`.
pub fn help_layout(keymap: &KeyMap, log_path: &str, area: Rect) -> HelpLayout {
    let n = (area.width.saturating_sub(1) / (HELP_COL_MIN + 1)).clamp(1, 3);
    let w = area.width.min(n * (HELP_COL_MAX + 1) + 3);
    let col = w.saturating_sub(2).saturating_sub(n - 1) / n;
    let blocks = help_blocks(keymap, log_path, usize::from(col));
    let sizes: Vec<usize> = blocks.iter().map(Vec::len).collect();
    let (_, runs) = shortest_split(&sizes, usize::from(n));
    let mut blocks = blocks.into_iter();
    let columns: Vec<Vec<HelpLine>> = runs
        .into_iter()
        .map(|len| blocks.by_ref().take(len).flatten().collect())
        .collect();
    let total = columns.iter().map(Vec::len).max().unwrap_or(0);
    let h = u16::try_from(total)
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    HelpLayout {
        rect,
        columns,
        col,
        visible: usize::from(h.saturating_sub(2)),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_each_kind_and_the_newest_on_top() {
        let mut s = Overlays::default();
        s.open(Overlay::Help { scroll: 0 });
        s.open(Overlay::ConfirmDelete(1));
        s.open(Overlay::Help { scroll: 0 });
        assert_eq!(s.len(), 2);
        assert_eq!(s.top().map(Overlay::kind), Some(OverlayKind::Help));
        let top = s.pop();
        s.open(Overlay::ConfirmQuit);
        if let Some(o) = top {
            s.put_back(1, o);
        }
        let kinds: Vec<OverlayKind> = s.iter().map(Overlay::kind).collect();
        assert_eq!(
            kinds,
            [
                OverlayKind::ConfirmDelete,
                OverlayKind::Help,
                OverlayKind::ConfirmQuit
            ]
        );
        assert!(s.close(OverlayKind::Help).is_some());
        assert!(!s.has(OverlayKind::Help));
    }

    #[test]
    fn help_blocks_are_split_where_the_longest_column_is_shortest() {
        assert_eq!(
            shortest_split(&[14, 9, 2, 12, 8, 3, 2], 2),
            (25, vec![3, 4])
        );
        assert_eq!(shortest_split(&[5, 5, 5], 3), (5, vec![1, 1, 1]));
        assert_eq!(shortest_split(&[3, 4], 1), (7, vec![2]));
        // Every line of the help is in one column, in order.
        let l = help_layout(&KeyMap::default(), "/log", Rect::new(0, 0, 80, 24));
        let lines: usize = l.columns.iter().map(Vec::len).sum();
        let blocks: usize = help_blocks(&KeyMap::default(), "/log", 38)
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!((l.columns.len(), lines), (2, blocks));
    }
}
