//! The overlay stack: every dialog, prompt and overlay drawn over the panes, newest on top.
//! Its top alone gets the keys, and the renderer draws the stack from the bottom up, so what
//! the user sees on top is always what the next key answers.

use crate::tui::msg::ImageSource;
use crate::tui::preview::ImageKey;
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
    Help,
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
            Overlay::Help => OverlayKind::Help,
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
                | Overlay::Help
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_each_kind_and_the_newest_on_top() {
        let mut s = Overlays::default();
        s.open(Overlay::Help);
        s.open(Overlay::ConfirmDelete(1));
        s.open(Overlay::Help);
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
}
