//! The History pane: pages of the store, the selected entry, search, notes, stars, deletion and comparison.

use super::*;

/// Why a row cannot be starred, noted or deleted yet.
const NOT_RECORDED: &str = "not in the history store (not recorded yet, or no store)";

/// The History pane's own state beside its rows.
#[derive(Debug, Default)]
pub(crate) struct HistoryPane {
    /// Selected row (also the exchange the Response pane shows).
    pub(crate) selected: usize,
    /// First visible row.
    pub(crate) scroll: usize,
    /// The row marked with `m`, to compare with.
    pub(crate) marked: Option<u64>,
    /// The comparison's rows, computed once both requests are in memory (not every frame:
    /// describing a base64 reference hashes it).
    pub(crate) compare_rows: Option<Vec<crate::tui::compare::DiffRow>>,
    /// A row whose parameters go into the form as soon as it is read from the store.
    pub(crate) replay_pending: Option<u64>,
    /// What is wrong with the search line as typed (the title shows it instead of a count).
    pub(crate) search_problem: Option<String>,
    /// `G` was pressed before every page was read: each further page is read and the
    /// selection follows it, until the last entry is selected (another move stops it).
    pub(crate) to_bottom: bool,
}

impl App {
    /// The two rows of the open comparison.
    pub(super) fn compared(&self) -> Option<(u64, u64)> {
        match self.overlays.get(OverlayKind::Compare) {
            Some(Overlay::Compare { a, b, .. }) => Some((*a, *b)),
            _ => None,
        }
    }

    /// Computes the comparison's rows once both requests are known; drops them when it closes.
    pub(super) fn refresh_compare(&mut self) {
        let Some((a, b)) = self.compared() else {
            self.history_pane.compare_rows = None;
            return;
        };
        if self.history_pane.compare_rows.is_some() {
            return;
        }
        let body = |id: u64| self.history.get(id).and_then(|e| e.request.clone());
        if let (Some(ra), Some(rb)) = (body(a), body(b)) {
            self.history_pane.compare_rows = Some(crate::tui::compare::diff_rows(&ra, &rb));
        }
    }

    /// The commands to run once at start: read the first page of the history store.
    pub fn start(&mut self) -> Vec<Cmd> {
        self.reload_history()
    }

    /// Reads the first page for the current search line, replacing the rows when it comes.
    pub(super) fn reload_history(&mut self) -> Vec<Cmd> {
        self.history.generation += 1;
        self.history.loading = true;
        self.history.exhausted = false;
        vec![Cmd::History(HistoryCmd::Load {
            generation: self.history.generation,
            filter: self.history.filter.clone(),
            before: None,
        })]
    }

    /// What the history rows on screen need from the store: the selected recorded entry read
    /// (the Response pane shows it), the rows of an open comparison, and the next page when
    /// the selection nears the last loaded row.
    pub(super) fn history_cmds(&mut self) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        let mut want: Vec<u64> = self.shown().map(|e| e.id).into_iter().collect();
        if let Some((a, b)) = self.compared() {
            want.extend([a, b]);
        }
        for id in want {
            if let Some(e) = self.history.get_mut(id)
                && let EntryState::Stored { opening } = &mut e.state
                && !*opening
                && let Some(store_id) = e.store_id
            {
                *opening = true;
                cmds.push(Cmd::History(HistoryCmd::Open { id, store_id }));
            }
        }
        let n = self.history.entries().len();
        if self.history.stored
            && !self.history.loading
            && !self.history.exhausted
            && self.history_pane.selected + PAGE_AHEAD >= n
            && let Some(before) = self.history.oldest_store_id()
        {
            self.history.loading = true;
            cmds.push(Cmd::History(HistoryCmd::Load {
                generation: self.history.generation,
                filter: self.history.filter.clone(),
                before: Some(before),
            }));
        }
        cmds
    }

    pub(super) fn on_history_loaded(
        &mut self,
        generation: u64,
        append: bool,
        result: Result<(Vec<crate::store::Summary>, Option<u64>), String>,
    ) {
        if generation != self.history.generation {
            return;
        }
        self.history.loading = false;
        match result {
            Err(e) => {
                self.history.exhausted = true;
                self.history_pane.to_bottom = false;
                self.error_msg(format!("history: {e}"));
            }
            Ok((rows, total)) => {
                self.history.stored = true;
                self.history.exhausted = rows.len() < crate::tui::history::PAGE;
                if append {
                    self.history.append(rows, &mut self.next_id, self.now_ms);
                    if self.history_pane.to_bottom {
                        // `G` goes on to the last entry, a page at a time.
                        let last = self.history.entries().len().saturating_sub(1);
                        self.select_history(last);
                        if self.history.exhausted {
                            self.history_pane.to_bottom = false;
                            self.info_msg(format!("the last entry ({} listed)", last + 1));
                        }
                    }
                } else {
                    self.history_pane.to_bottom = false;
                    let shown = self.shown().map(|e| e.id);
                    self.history.replace(rows, &mut self.next_id, self.now_ms);
                    self.history.total = total;
                    // Keep the row that was shown selected when it is still listed.
                    let at = shown
                        .and_then(|id| self.history.entries().iter().position(|e| e.id == id))
                        .unwrap_or(0);
                    self.history_pane.selected = usize::MAX;
                    self.select_history(at);
                }
            }
        }
    }

    pub(super) fn on_history_changed(&mut self, rows: Vec<crate::store::Summary>) {
        if !self.history.stored {
            return;
        }
        let insert = self.history.filter.trim().is_empty();
        let had_rows = !self.history.entries().is_empty();
        let shifted = self.history.apply_changes(
            rows,
            insert,
            self.history_pane.selected,
            &mut self.next_id,
            self.now_ms,
        );
        if shifted > 0 && had_rows {
            // Rows from another volcv arrived above: keep the same row selected, and a list
            // scrolled to the top stays at the top so that they are seen.
            self.history_pane.selected += shifted;
            if self.history_pane.scroll > 0 {
                self.history_pane.scroll += shifted;
            }
        }
        let n = self.history.entries().len();
        self.history_pane.selected = self.history_pane.selected.min(n.saturating_sub(1));
        self.history_pane.scroll = self.history_pane.scroll.min(self.history_pane.selected);
        self.keep_visible();
    }

    pub(super) fn on_entry_opened(&mut self, id: u64, result: Result<Opened, String>) {
        let shown = self.shown().map(|e| e.id);
        let Some(e) = self.history.get_mut(id) else {
            return;
        };
        match result {
            Ok(o) => {
                let error_view = !o.view.verdict.is_ok();
                e.request = Some(o.request);
                e.sweep_id = o.sweep_id;
                e.state = EntryState::Done {
                    view: Arc::from(o.view),
                    duration: o.duration,
                };
                if let EntryState::Done { view, .. } = &e.state {
                    for (index, img) in view.images.iter().enumerate() {
                        let key = match img.state {
                            ImageState::Saved(_) => ImageKey::Result { id, index },
                            ImageState::Reference => ImageKey::Reference { id },
                            _ => continue,
                        };
                        self.previews.on_demand(key);
                    }
                }
                for dropped in self.history.opened(id, shown) {
                    self.previews.forget_request(dropped);
                }
                if shown == Some(id) && error_view && self.tab == Tab::Images {
                    self.tab = Tab::Body;
                }
                if self.history_pane.replay_pending == Some(id) {
                    self.history_pane.replay_pending = None;
                    self.replay(id);
                }
            }
            Err(err) => {
                let label = e
                    .store_id
                    .map_or_else(|| format!("#{id}"), |s| format!("#{s}"));
                // Shown in the Response pane; not retried by itself.
                e.state = EntryState::Done {
                    view: Arc::new(ResponseView::transport(
                        crate::tui::view::Verdict::Transport,
                        &format!("cannot read history entry {label}: {err}"),
                        crate::tui::doc::Doc::default(),
                        "-",
                    )),
                    duration: std::time::Duration::ZERO,
                };
                if self.history_pane.replay_pending == Some(id) {
                    self.history_pane.replay_pending = None;
                }
                self.error_msg(format!("history entry {label}: {err}"));
            }
        }
    }

    /// A request of this run was recorded in the history store (or not).
    pub(super) fn on_recorded(&mut self, id: u64, result: Result<i64, String>) {
        match result {
            Ok(store_id) => {
                let before = self.label_of(id);
                if let Some(e) = self.history.get_mut(id) {
                    e.store_id = Some(store_id);
                    e.awaiting_id = false;
                }
                // `request #… sent` becomes `request #20 sent`: one number everywhere.
                // The rest of the line (the unknown fields sent) stays.
                let sent = self.sent_text(&before);
                if let Some(rest) = self
                    .status
                    .as_ref()
                    .and_then(|s| s.text.strip_prefix(&sent))
                    .map(str::to_owned)
                {
                    let now = self.sent_text(&self.label_of(id));
                    self.info_msg(format!("{now}{rest}"));
                }
            }
            Err(e) => {
                if let Some(entry) = self.history.get_mut(id) {
                    entry.awaiting_id = false;
                }
                let label = self.label_of(id);
                self.error_msg(format!(
                    "request {label} not recorded in the history (it is called {label} in this \
                     run only): {e}"
                ));
            }
        }
    }

    /// A history row was starred or noted.
    pub(super) fn on_history_edited(
        &mut self,
        store_id: i64,
        what: &str,
        result: Result<crate::store::Summary, String>,
    ) {
        match result {
            Ok(summary) => {
                let text = format!("#{store_id} {what}");
                self.history
                    .apply_changes(vec![summary], false, 0, &mut self.next_id, self.now_ms);
                self.info_msg(text);
            }
            Err(e) => self.error_msg(format!("history #{store_id}: {e}")),
        }
    }

    /// A history row was deleted (or not).
    pub(super) fn on_history_deleted(&mut self, store_id: i64, result: Result<usize, String>) {
        match result {
            Ok(files) => {
                if let Some(e) = self.history.remove_store_id(store_id) {
                    self.previews.forget_request(e.id);
                    if self.history_pane.marked == Some(e.id) {
                        self.history_pane.marked = None;
                    }
                }
                let n = self.history.entries().len();
                let at = self.history_pane.selected.min(n.saturating_sub(1));
                self.history_pane.selected = usize::MAX;
                self.select_history(at);
                self.info_msg(format!(
                    "#{store_id} deleted ({files} image file(s) no longer used removed)"
                ));
            }
            Err(e) => self.error_msg(format!("#{store_id} not deleted: {e}")),
        }
    }

    pub(super) fn history_action(&mut self, a: Action) -> Vec<Cmd> {
        let n = self.history.entries().len();
        let height = layout::history_rows(&self.areas());
        let s = self.history_pane.selected;
        if matches!(
            a,
            Action::Down | Action::Up | Action::PageDown | Action::PageUp | Action::Top
        ) {
            self.history_pane.to_bottom = false;
        }
        let next = match a {
            Action::Down => (s + 1).min(n.saturating_sub(1)),
            Action::Up => s.saturating_sub(1),
            Action::PageDown => (s + height).min(n.saturating_sub(1)),
            Action::PageUp => s.saturating_sub(height),
            Action::Top => 0,
            Action::Bottom => {
                // Only the pages read are listed: read the others on the way to the last.
                let more = self.history.stored && !self.history.exhausted;
                self.history_pane.to_bottom = more;
                if more {
                    self.info_msg("reading older entries to reach the last one…");
                }
                n.saturating_sub(1)
            }
            Action::Edit => {
                // Enter: the entry in the Response pane (read from the store if needed).
                if self.shown().is_some() {
                    self.focus = Pane::Response;
                }
                s
            }
            Action::Replay => {
                if let Some(id) = self.shown().map(|e| e.id) {
                    self.replay(id);
                }
                s
            }
            Action::Search => {
                let mut input = line_input(&self.history.filter);
                input.move_cursor(ratatui_textarea::CursorMove::End);
                self.history_pane.search_problem = None;
                self.overlays.open(Overlay::Search(input));
                s
            }
            Action::Star => return self.star(),
            Action::Note => {
                match self
                    .shown()
                    .map(|e| (e.id, e.store_id, e.note().unwrap_or("").to_owned()))
                {
                    Some((id, Some(_), note)) => {
                        let mut input = line_input(&note);
                        input.move_cursor(ratatui_textarea::CursorMove::End);
                        self.overlays.open(Overlay::Note { id, input });
                    }
                    Some((_, None, _)) => self.info_msg(NOT_RECORDED),
                    None => self.info_msg("no entry selected"),
                }
                s
            }
            Action::Delete => {
                match self.shown() {
                    Some(e) if e.in_flight() => {
                        self.info_msg("still in flight: cancel it first");
                    }
                    Some(e) if e.store_id.is_none() => self.info_msg(NOT_RECORDED),
                    Some(e) => {
                        let id = e.id;
                        self.overlays.open(Overlay::ConfirmDelete(id));
                    }
                    None => self.info_msg("no entry selected"),
                }
                s
            }
            Action::Mark => {
                if let Some(e) = self.shown() {
                    let (id, label) = (e.id, e.label());
                    if self.history_pane.marked == Some(id) {
                        self.history_pane.marked = None;
                        self.info_msg(format!("{label} unmarked"));
                    } else {
                        self.history_pane.marked = Some(id);
                        self.info_msg(format!(
                            "{label} marked: select another entry and press {} to compare",
                            self.keymap.label(Action::Compare)
                        ));
                    }
                }
                s
            }
            Action::Compare => {
                match (self.history_pane.marked, self.shown().map(|e| e.id)) {
                    (Some(m), Some(sel)) if m != sel && self.history.get(m).is_some() => {
                        self.overlays.open(Overlay::Compare {
                            a: m,
                            b: sel,
                            scroll: 0,
                        });
                        self.history_pane.compare_rows = None;
                    }
                    (Some(m), Some(sel)) if m == sel => {
                        self.info_msg("select another entry than the marked one to compare");
                    }
                    _ => self.info_msg(format!(
                        "mark an entry with {} first, then select another and press {}",
                        self.keymap.label(Action::Mark),
                        self.keymap.label(Action::Compare)
                    )),
                }
                s
            }
            _ => s,
        };
        self.select_history(next);
        Vec::new()
    }

    /// Puts entry `id`'s parameters (reference image included) into the form, reading the
    /// entry from the store first when needed.
    pub(super) fn replay(&mut self, id: u64) {
        let Some(e) = self.history.get(id) else {
            return;
        };
        let label = e.label();
        match &e.request {
            Some(body) => {
                let body = Arc::clone(body);
                match self.replace_form(&body, &format!("the replay of {label}")) {
                    Ok(()) => {
                        self.focus = Pane::Params;
                        self.info_msg(format!(
                            "parameters of {label} loaded ({}); {} undoes",
                            self.form.schema.req_key,
                            self.keymap.label(Action::Undo)
                        ));
                    }
                    Err(e) => self.error_msg(format!("{label}: {e}")),
                }
            }
            None => {
                self.history_pane.replay_pending = Some(id);
                self.info_msg(format!("reading {label} from the history…"));
            }
        }
    }

    pub(super) fn star(&mut self) -> Vec<Cmd> {
        match self.shown() {
            Some(e) => match e.store_id {
                Some(store_id) => vec![Cmd::History(HistoryCmd::Star {
                    store_id,
                    star: !e.star(),
                })],
                None => {
                    self.info_msg(NOT_RECORDED);
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    }

    pub(super) fn on_search_key(
        &mut self,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::line_edit::{Outcome, line_key};
        match line_key(&mut input, ev) {
            // Esc clears the search and lists everything again.
            Outcome::Discard => (None, self.clear_search()),
            Outcome::Commit => {
                if self.history_pane.search_problem.take().is_some() {
                    self.info_msg("the search line had a problem: the last good search is kept");
                }
                (None, Vec::new())
            }
            Outcome::Tab | Outcome::Unchanged => (Some(Overlay::Search(input)), Vec::new()),
            Outcome::Changed => {
                let cmds = self.search_typed(input.lines().join(" "));
                (Some(Overlay::Search(input)), cmds)
            }
        }
    }

    /// The search line as typed: a good one lists its rows, a bad one says what is wrong
    /// (the rows of the last good one stay).
    pub(super) fn search_typed(&mut self, text: String) -> Vec<Cmd> {
        match parse_search_at(&text, self.now_ms) {
            Ok(_) => {
                self.status = None;
                self.history_pane.search_problem = None;
                self.history.filter = text;
                if self.history.stored {
                    self.reload_history()
                } else {
                    self.error_msg("search needs the history store, which is not available");
                    Vec::new()
                }
            }
            Err(e) => {
                self.history_pane.search_problem = Some(e.clone());
                self.error_msg(e);
                Vec::new()
            }
        }
    }

    /// Drops the search filter (the search line's Esc, Esc in the History pane).
    pub(super) fn clear_search(&mut self) -> Vec<Cmd> {
        self.history_pane.search_problem = None;
        if self.history.filter.is_empty() {
            return Vec::new();
        }
        self.history.filter.clear();
        self.info_msg("search cleared");
        self.reload_history()
    }

    pub(super) fn on_note_key(
        &mut self,
        id: u64,
        mut input: TextArea<'static>,
        ev: &KeyEvent,
    ) -> (Option<Overlay>, Vec<Cmd>) {
        use crate::tui::line_edit::{Outcome, line_key};
        match line_key(&mut input, ev) {
            Outcome::Discard => {
                self.info_msg("note not changed");
                (None, Vec::new())
            }
            Outcome::Commit => {
                let note = input.lines().join(" ").trim().to_owned();
                match self.history.get(id).and_then(|e| e.store_id) {
                    Some(store_id) => (
                        None,
                        vec![Cmd::History(HistoryCmd::Note { store_id, note })],
                    ),
                    None => (None, Vec::new()),
                }
            }
            _ => (Some(Overlay::Note { id, input }), Vec::new()),
        }
    }

    pub(super) fn on_compare_key(
        &mut self,
        a: u64,
        b: u64,
        mut scroll: usize,
        key: Key,
    ) -> Option<Overlay> {
        match self.keymap.action(key) {
            Some(Action::Down) => scroll += 1,
            Some(Action::Up) => scroll = scroll.saturating_sub(1),
            Some(Action::PageDown) => scroll += 10,
            Some(Action::PageUp) => scroll = scroll.saturating_sub(10),
            Some(Action::Top) => scroll = 0,
            _ => return None,
        }
        Some(Overlay::Compare { a, b, scroll })
    }

    pub(super) fn select_history(&mut self, i: usize) {
        if i != self.history_pane.selected {
            self.response_scroll = 0;
            self.response_skip = 0;
            self.image_selected = None;
        }
        self.history_pane.selected = i;
        self.keep_visible();
    }

    pub(super) fn keep_visible(&mut self) {
        let a = self.areas();
        let h = layout::history_rows(&a);
        if self.history_pane.selected < self.history_pane.scroll {
            self.history_pane.scroll = self.history_pane.selected;
        } else if self.history_pane.selected >= self.history_pane.scroll + h {
            self.history_pane.scroll = self.history_pane.selected + 1 - h;
        }
        let fh = self.form_height();
        self.form.keep_visible(fh);
    }
}
