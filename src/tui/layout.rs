//! Screen layout as a pure function of the terminal size, shared by drawing and by mouse
//! hit-testing (so `update` knows where things are without the renderer writing state).

use ratatui::layout::{Constraint, Layout, Rect};

/// The smallest usable terminal.
pub const MIN_WIDTH: u16 = 80;
/// The smallest usable terminal.
pub const MIN_HEIGHT: u16 = 24;
/// Lines under the form for the focused row's help and problem.
pub const PARAMS_FOOTER: u16 = 2;
/// Height of the prompt editor while it is open.
pub const PROMPT_EDITOR: u16 = 7;
/// Most summary lines shown above the response tabs.
pub const SUMMARY_MAX: u16 = 6;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The Parameters pane.
    pub params: Rect,
    /// The Response pane.
    pub response: Rect,
    /// The History pane.
    pub history: Rect,
    /// The two status lines.
    pub status: Rect,
}

/// Whether the terminal is too small for the UI.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// The pane areas for a terminal of `area`.
pub fn areas(area: Rect) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let left = (area.width * 9 / 20).max(40);
    let [params, right] =
        Layout::horizontal([Constraint::Length(left), Constraint::Min(1)]).areas(main);
    let hist = (main.height / 3).max(5);
    let [response, history] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(hist)]).areas(right);
    Areas {
        params,
        response,
        history,
        status,
    }
}

/// The inside of a bordered pane.
pub fn inner(r: Rect) -> Rect {
    Rect {
        x: r.x.saturating_add(1),
        y: r.y.saturating_add(1),
        width: r.width.saturating_sub(2),
        height: r.height.saturating_sub(2),
    }
}

/// Lines of the form visible at once.
pub fn form_rows(a: &Areas, prompt_open: bool) -> usize {
    let mut h = inner(a.params).height.saturating_sub(PARAMS_FOOTER);
    if prompt_open {
        h = h.saturating_sub(PROMPT_EDITOR);
    }
    usize::from(h.max(1))
}

/// Height of the response summary for `lines` summary lines.
pub fn summary_height(lines: usize) -> u16 {
    u16::try_from(lines).unwrap_or(u16::MAX).min(SUMMARY_MAX)
}

/// Lines of response text visible at once.
pub fn response_rows(a: &Areas, summary_lines: usize) -> usize {
    usize::from(
        inner(a.response)
            .height
            .saturating_sub(summary_height(summary_lines) + 1)
            .max(1),
    )
}

/// History rows visible at once.
pub fn history_rows(a: &Areas) -> usize {
    usize::from(inner(a.history).height.max(1))
}
