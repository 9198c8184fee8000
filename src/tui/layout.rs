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
/// Height of the reference preview under the form, when a reference image is loaded.
pub const PARAMS_PREVIEW: u16 = 8;
/// Lines above each image in the Images tab (label; size, format and bytes).
pub const IMAGE_LABEL: u16 = 2;
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

/// Lines of the form visible at once (`preview`: the reference preview is shown under it).
pub fn form_rows(a: &Areas, prompt_open: bool, preview: bool) -> usize {
    let mut h = inner(a.params).height.saturating_sub(PARAMS_FOOTER);
    if prompt_open {
        h = h.saturating_sub(PROMPT_EDITOR);
    }
    if preview {
        h = h.saturating_sub(PARAMS_PREVIEW);
    }
    usize::from(h.max(1))
}

/// The form's list, the prompt editor, the reference preview and the footer inside the
/// Parameters pane.
pub fn params_parts(a: &Areas, prompt_open: bool, preview: bool) -> [Rect; 4] {
    let editor_h = if prompt_open { PROMPT_EDITOR } else { 0 };
    let preview_h = if preview { PARAMS_PREVIEW } else { 0 };
    Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(editor_h),
        Constraint::Length(preview_h),
        Constraint::Length(PARAMS_FOOTER),
    ])
    .areas(inner(a.params))
}

/// The summary, the tab bar and the tab's body inside the Response pane.
pub fn response_parts(a: &Areas, summary_lines: usize) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(summary_height(summary_lines)),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner(a.response))
}

/// The cells of `n` images side by side in the Images tab's `body` (its last line is left for
/// the selected image's state): one row of up to three, else two rows.
pub fn image_cells(body: Rect, n: usize) -> Vec<Rect> {
    if n == 0 || body.height < 2 {
        return Vec::new();
    }
    let n16 = u16::try_from(n).unwrap_or(u16::MAX);
    let cols = if n16 <= 3 { n16 } else { n16.div_ceil(2) };
    let rows = n16.div_ceil(cols);
    let h = (body.height - 1) / rows;
    let w = body.width / cols;
    (0..n16)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            Rect::new(body.x + c * w, body.y + r * h, w, h)
        })
        .collect()
}

/// Width of the thumbnail at the right of the History pane.
pub const HISTORY_THUMB: u16 = 16;

/// The list and the thumbnail (empty when `thumb` is false) inside the History pane.
pub fn history_parts(history: Rect, thumb: bool) -> [Rect; 2] {
    let w = if thumb { HISTORY_THUMB } else { 0 };
    Layout::horizontal([Constraint::Min(1), Constraint::Length(w)]).areas(inner(history))
}

/// Where the picture goes in an image cell: under the label, one column of gap at the right.
pub fn cell_picture(cell: Rect) -> Rect {
    Rect {
        x: cell.x,
        y: cell.y.saturating_add(IMAGE_LABEL),
        width: cell.width.saturating_sub(1),
        height: cell.height.saturating_sub(IMAGE_LABEL),
    }
}

/// The full-screen image: everything but the caption line at the top and the last line (a
/// sixel image reaching the last line makes some terminals scroll the whole screen).
pub fn fullscreen_picture(area: Rect) -> Rect {
    Rect {
        x: area.x,
        y: area.y.saturating_add(1),
        width: area.width,
        height: area.height.saturating_sub(2),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_cells_sit_side_by_side_then_in_two_rows() {
        let body = Rect::new(10, 5, 60, 21);
        let one = image_cells(body, 1);
        assert_eq!(one, [Rect::new(10, 5, 60, 20)]);
        let three = image_cells(body, 3);
        assert_eq!(three.len(), 3);
        assert!(three.iter().all(|c| c.y == 5 && c.width == 20));
        let five = image_cells(body, 5);
        assert_eq!(five[2], Rect::new(50, 5, 20, 10));
        assert_eq!(five[3], Rect::new(10, 15, 20, 10));
        assert!(image_cells(body, 0).is_empty());
        assert_eq!(cell_picture(five[0]), Rect::new(10, 7, 19, 8));
    }
}
