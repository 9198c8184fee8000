//! Parameter sweeps in the UI: the dialog's parsing (`S` in the Parameters pane), the state of
//! a running or reopened sweep, and the contact sheet: a grid of thumbnails labelled by the
//! varied values (rows and columns for two fields, a strip for one, a page per value of a
//! third), drawn over the panes. The sweep itself runs in the worker (`crate::sweep`).

use crate::store::OutcomeKind;
use crate::sweep::runner::{CellReport, CellStatus, Progress};
use crate::sweep::sheet::{SheetKind, SheetLayout};
use crate::sweep::{Grid, Plan};
use ratatui::layout::Rect;
use std::path::PathBuf;

/// Where a cell stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// Not started yet.
    Waiting,
    /// Sent, no answer yet.
    Running,
    /// Answered 50429/50430; waits for the slowed bucket.
    RateLimited,
    /// Finished with a result.
    Succeeded,
    /// Finished without one; the mark says why (`50411`, `HTTP 502`, `interrupted`).
    Failed(String),
    /// Started, then stopped by the user (recorded as cancelled).
    Cancelled,
    /// Never sent: the sweep was stopped first (or, reopened, the cell has no entry).
    NotRun,
}

impl CellState {
    /// The tile's mark: a glyph and a word; a cell that did not fail never shows the failure
    /// cross.
    pub fn mark(&self) -> String {
        match self {
            CellState::Waiting => "waiting".to_owned(),
            CellState::Running => "running".to_owned(),
            CellState::RateLimited => "rate-limited, retrying".to_owned(),
            CellState::Succeeded => "✔".to_owned(),
            CellState::Failed(why) => format!("✘ {why}"),
            CellState::Cancelled => "⊘ cancelled".to_owned(),
            CellState::NotRun => "○ not run".to_owned(),
        }
    }
}

/// How many cells of a sweep stand where: the one count behind the sheet's title, the status
/// line when a sweep ends and the quit dialog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every cell.
    pub total: usize,
    /// Finished with a result.
    pub succeeded: usize,
    /// Finished without one.
    pub failed: usize,
    /// Stopped by the user after they were sent.
    pub cancelled: usize,
    /// Never sent (the sweep was stopped first).
    pub not_run: usize,
    /// Sent, no answer yet (rate-limited ones included).
    pub in_flight: usize,
    /// Not sent yet, while the sweep runs.
    pub waiting: usize,
}

impl Counts {
    /// Cells that were sent and finished, whatever their end.
    pub fn done(&self) -> usize {
        self.succeeded + self.failed + self.cancelled
    }

    /// `6 cells: 3 succeeded, 3 not run` (nothing said of what is zero).
    pub fn words(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.succeeded, "succeeded"),
            (self.failed, "failed"),
            (self.cancelled, "cancelled"),
            (self.not_run, "not run"),
            (self.in_flight, "in flight"),
            (self.waiting, "waiting"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let cells = if self.total == 1 { "cell" } else { "cells" };
        if parts.is_empty() {
            format!("{} {cells}", self.total)
        } else {
            format!("{} {cells}: {}", self.total, parts.join(", "))
        }
    }
}

/// One cell of the sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `seed=2 scale=3.5`.
    pub label: String,
    /// Where it stands.
    pub state: CellState,
    /// Its history entry.
    pub history_id: Option<i64>,
    /// The store's file of its first result image, once known.
    pub image: Option<PathBuf>,
}

/// A sweep shown in the UI: running now, or reopened from the history.
#[derive(Debug, Clone)]
pub struct SweepView {
    /// This run's number for the sweep (its thumbnails' preview keys).
    pub n: u64,
    /// The sweep's id in the history (`sw-...`).
    pub id: String,
    /// The varied fields.
    pub grid: Grid,
    /// Where each cell goes.
    pub layout: SheetLayout,
    /// Every cell, in grid order.
    pub cells: Vec<Cell>,
    /// The latest progress (running sweeps).
    pub progress: Option<Progress>,
    /// The worker is running it.
    pub running: bool,
    /// Stop was asked once (a second time aborts the cells in flight).
    pub stopping: bool,
    /// The selected cell.
    pub selected: usize,
    /// The page (block) shown, for three-field sweeps.
    pub page: usize,
}

impl SweepView {
    /// A sweep about to run.
    pub fn new(n: u64, plan: &Plan) -> SweepView {
        SweepView::with_grid(n, plan.id.clone(), plan.grid.clone(), true)
    }

    /// A sweep read back from the history: cells without an entry show as not run.
    pub fn reopened(n: u64, id: String, grid: Grid) -> SweepView {
        let mut v = SweepView::with_grid(n, id, grid, false);
        for c in &mut v.cells {
            c.state = CellState::NotRun;
        }
        v
    }

    fn with_grid(n: u64, id: String, grid: Grid, running: bool) -> SweepView {
        let layout = SheetLayout::new(&grid);
        let cells = (0..grid.len())
            .map(|i| Cell {
                label: grid.label(i),
                state: CellState::Waiting,
                history_id: None,
                image: None,
            })
            .collect();
        SweepView {
            n,
            id,
            grid,
            layout,
            cells,
            progress: None,
            running,
            stopping: false,
            selected: 0,
            page: 0,
        }
    }

    /// Applies a finished cell's report.
    pub fn finished(&mut self, r: &CellReport, image: Option<PathBuf>) {
        let Some(c) = self.cells.get_mut(r.cell) else {
            return;
        };
        c.history_id = r.history_id.or(c.history_id);
        c.image = image.or(c.image.take());
        c.state = match r.status {
            CellStatus::Success => CellState::Succeeded,
            CellStatus::Cancelled => CellState::Cancelled,
            CellStatus::NotRun => CellState::NotRun,
            CellStatus::Failed => CellState::Failed(r.failure_mark()),
        };
    }

    /// Applies a recorded cell read from the store.
    pub fn recorded(
        &mut self,
        cell: usize,
        outcome: OutcomeKind,
        code: Option<i64>,
        history_id: i64,
        image: Option<PathBuf>,
    ) {
        let Some(c) = self.cells.get_mut(cell) else {
            return;
        };
        c.history_id = Some(history_id);
        c.image = image;
        c.state = match (outcome, code) {
            (OutcomeKind::Success, _) => CellState::Succeeded,
            (OutcomeKind::Pending, _) => CellState::Running,
            (OutcomeKind::Cancelled, _) => CellState::Cancelled,
            (_, Some(code)) => CellState::Failed(code.to_string()),
            (o, None) => CellState::Failed(o.as_str().replace('_', " ")),
        };
    }

    /// How many cells stand where (the tiles' states, counted).
    pub fn counts(&self) -> Counts {
        let mut n = Counts {
            total: self.cells.len(),
            ..Counts::default()
        };
        for c in &self.cells {
            match c.state {
                CellState::Waiting => n.waiting += 1,
                CellState::Running | CellState::RateLimited => n.in_flight += 1,
                CellState::Succeeded => n.succeeded += 1,
                CellState::Failed(_) => n.failed += 1,
                CellState::Cancelled => n.cancelled += 1,
                CellState::NotRun => n.not_run += 1,
            }
        }
        n
    }

    /// `3/6 done, 1 failed, ETA 4s` for the status bar and the sheet's title (from
    /// [`SweepView::counts`], as the tiles are).
    pub fn summary(&self) -> String {
        let n = self.counts();
        let mut s = format!("{}/{} done", n.done(), n.total);
        for (k, what) in [
            (n.failed, "failed"),
            (n.cancelled, "cancelled"),
            (n.not_run, "not run"),
        ] {
            if k > 0 {
                s.push_str(&format!(", {k} {what}"));
            }
        }
        if self.running {
            if let Some(p) = &self.progress {
                if p.rate_limited > 0 {
                    s.push_str(&format!(", {} rate-limited", p.rate_limited));
                }
                s.push_str(&format!(", {:.1} qps", p.qps));
                if let Some(eta) = p.eta {
                    s.push_str(&format!(", ETA {}", crate::tui::view::fmt_duration(eta)));
                }
            }
            if self.stopping {
                s.push_str(", stopping");
            }
        }
        s
    }

    /// Moves the selection by rows and columns within the page (wrapping to other pages at
    /// the ends of a three-field sweep).
    pub fn step(&mut self, drow: isize, dcol: isize) {
        let Some((b, r, c)) = self.layout.position(self.selected) else {
            return;
        };
        let block = &self.layout.blocks[b];
        let rows = block.cells.len() as isize;
        let cols = block.cells.first().map_or(0, Vec::len) as isize;
        let nr = (r as isize + drow).clamp(0, rows - 1) as usize;
        let nc = (c as isize + dcol).clamp(0, cols - 1) as usize;
        if let Some(cell) = self.layout.cell_at(b, nr, nc) {
            self.selected = cell;
        }
        self.page = b;
    }

    /// Shows the next or previous page (three-field sweeps).
    pub fn turn(&mut self, by: isize) {
        let n = self.layout.blocks.len() as isize;
        let p = (self.page as isize + by).clamp(0, n - 1) as usize;
        if p != self.page {
            self.page = p;
            if let Some(cell) = self.layout.cell_at(p, 0, 0) {
                self.selected = cell;
            }
        }
    }
}

/// The sheet's geometry on screen: the box, and each visible tile with its cell.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetArea {
    /// The whole box (border included).
    pub frame: Rect,
    /// Row labels' column (grids): each label's area.
    pub row_labels: Vec<(Rect, String)>,
    /// Column labels (grids): each label's area.
    pub col_labels: Vec<(Rect, String)>,
    /// Each tile: its cell, the picture's area and the label line under it.
    pub tiles: Vec<(usize, Rect, Rect)>,
}

/// Lays the sheet's current page out over `screen` (everything but the two status lines).
pub fn sheet_area(v: &SweepView, screen: Rect) -> SheetArea {
    let frame = Rect::new(
        screen.x,
        screen.y,
        screen.width,
        screen.height.saturating_sub(2),
    );
    let inner = Rect::new(
        frame.x + 1,
        frame.y + 1,
        frame.width.saturating_sub(2),
        frame.height.saturating_sub(2),
    );
    let mut out = SheetArea {
        frame,
        row_labels: Vec::new(),
        col_labels: Vec::new(),
        tiles: Vec::new(),
    };
    let Some(block) = v.layout.blocks.get(v.page) else {
        return out;
    };
    let rows = block.cells.len().max(1) as u16;
    let cols = block.cells.first().map_or(1, Vec::len).max(1) as u16;
    let grid = v.layout.kind == SheetKind::Grid;
    let left = if grid {
        let longest = block
            .row_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        (longest as u16 + 1).min(inner.width / 4).min(18)
    } else {
        0
    };
    let top = u16::from(grid) + u16::from(block.title.is_some());
    let area = Rect::new(
        inner.x + left,
        inner.y + top,
        inner.width.saturating_sub(left),
        inner.height.saturating_sub(top),
    );
    let tw = area.width / cols;
    let th = area.height / rows;
    if tw == 0 || th == 0 {
        return out;
    }
    for (r, row) in block.cells.iter().enumerate() {
        let y = area.y + r as u16 * th;
        if grid && let Some(label) = block.row_labels.get(r) {
            out.row_labels.push((
                Rect::new(inner.x, y + th.saturating_sub(1) / 2, left, 1),
                label.clone(),
            ));
        }
        for (c, cell) in row.iter().enumerate() {
            let x = area.x + c as u16 * tw;
            if r == 0
                && grid
                && let Some(label) = block.col_labels.get(c)
            {
                out.col_labels
                    .push((Rect::new(x, area.y.saturating_sub(1), tw, 1), label.clone()));
            }
            if let Some(cell) = cell {
                let picture = Rect::new(x, y, tw.saturating_sub(1), th.saturating_sub(1));
                let label = Rect::new(x, y + th.saturating_sub(1), tw.saturating_sub(1), 1);
                out.tiles.push((*cell, picture, label));
            }
        }
    }
    out
}

/// Parses the dialog's line (`seed=1..4 scale=2.5,3.5`) into `--vary` arguments: fields
/// separated by spaces, a JSON array value may hold spaces.
pub fn vary_args(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in line.split_whitespace() {
        match out.last_mut() {
            // Inside a JSON array (`prompt=["a cat", "a dog"]`): keep the spaces.
            Some(prev) if prev.matches('[').count() > prev.matches(']').count() => {
                prev.push(' ');
                prev.push_str(word);
            }
            _ => out.push(word.to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema;
    use serde_json::Value;

    fn view(vary: &[&str]) -> SweepView {
        let s = schema::default_schema();
        let mut base = s.default_body();
        schema::set_path(&mut base, "prompt", Value::from("a fox"));
        schema::set_path(
            &mut base,
            "image_urls",
            Value::from(vec!["https://example.com/a.jpg"]),
        );
        let args: Vec<String> = vary.iter().map(|v| (*v).to_owned()).collect();
        let p = crate::sweep::prepare(base, &args).expect("valid sweep");
        SweepView::new(1, &p.plan)
    }

    #[test]
    fn dialog_lines_split_into_fields() {
        assert_eq!(
            vary_args(" seed=1..4   scale=2.5,3.5 "),
            ["seed=1..4", "scale=2.5,3.5"]
        );
        assert_eq!(
            vary_args(r#"prompt=["a cat", "a dog"] seed=1,2"#),
            [r#"prompt=["a cat", "a dog"]"#, "seed=1,2"]
        );
    }

    #[test]
    fn a_two_field_grid_lays_out_rows_and_columns_and_moves() {
        let mut v = view(&["seed=1..2", "scale=2.5,3.5,4.5"]);
        let a = sheet_area(&v, Rect::new(0, 0, 120, 40));
        assert_eq!(a.tiles.len(), 6);
        assert_eq!(a.row_labels.len(), 2);
        assert_eq!(a.col_labels.len(), 3);
        // Row-major: the second tile is to the right of the first, the fourth below it.
        let (c0, p0, _) = a.tiles[0];
        let (c1, p1, _) = a.tiles[1];
        let (c3, p3, _) = a.tiles[3];
        assert_eq!((c0, c1, c3), (0, 1, 3));
        assert!(p1.x > p0.x && p1.y == p0.y);
        assert!(p3.y > p0.y && p3.x == p0.x);
        v.step(1, 2);
        assert_eq!(v.selected, 5);
        v.step(5, 5);
        assert_eq!(v.selected, 5, "clamped at the edges");
        v.step(-1, -9);
        assert_eq!(v.selected, 0);
    }

    #[test]
    fn one_field_is_a_strip_and_three_fields_are_pages() {
        let v = view(&["seed=1..3"]);
        let a = sheet_area(&v, Rect::new(0, 0, 100, 30));
        assert_eq!(a.tiles.len(), 3);
        assert!(a.row_labels.is_empty() && a.col_labels.is_empty());
        let mut v = view(&["seed=1..2", "scale=2.5,3.5", "cfg_rescale=0.5,0.7"]);
        assert_eq!(sheet_area(&v, Rect::new(0, 0, 100, 30)).tiles.len(), 4);
        v.turn(1);
        assert_eq!(v.page, 1);
        assert_eq!(v.selected, v.layout.cell_at(1, 0, 0).expect("cell"));
        v.turn(5);
        assert_eq!(v.page, 1);
    }

    #[test]
    fn states_and_summary() {
        let mut v = view(&["seed=1..2"]);
        v.cells[0].state = CellState::Succeeded;
        v.cells[1].state = CellState::Failed("50411".into());
        v.running = false;
        assert_eq!(v.summary(), "2/2 done, 1 failed");
        assert_eq!(v.grid.values_json(1)["seed"], 2);
    }

    #[test]
    fn a_stopped_sweep_counts_cells_not_run_apart_from_failures() {
        let mut v = view(&["seed=1..6"]);
        v.running = false;
        for c in &mut v.cells[..3] {
            c.state = CellState::Succeeded;
        }
        for c in &mut v.cells[3..] {
            c.state = CellState::NotRun;
        }
        assert_eq!(v.summary(), "3/6 done, 3 not run");
        assert_eq!(v.counts().words(), "6 cells: 3 succeeded, 3 not run");
        assert!(!CellState::NotRun.mark().contains('✘'));
        assert!(!CellState::Cancelled.mark().contains('✘'));
        assert!(CellState::Failed("50411".into()).mark().starts_with('✘'));
        // Reopened, a cell without an entry is not run, not failed.
        let r = SweepView::reopened(2, v.id.clone(), v.grid.clone());
        assert_eq!(r.counts().not_run, 6);
        assert_eq!(r.counts().failed, 0);
    }
}
