//! Sending, cancelling and the ends of requests, and the curl command of the form.

use super::*;

impl App {
    /// Whether any request is in flight (the tick runs only then).
    pub fn busy(&self) -> bool {
        self.history.entries().iter().any(Entry::in_flight)
    }

    /// How many requests are in flight (a running sweep counts as one).
    pub fn in_flight(&self) -> usize {
        self.history
            .entries()
            .iter()
            .filter(|e| e.in_flight())
            .count()
            + usize::from(self.sweep.as_ref().is_some_and(|v| v.running))
    }

    /// What the quit dialog says is lost: the requests in flight, and a running sweep's
    /// cells in flight and those that will never be sent.
    pub fn quit_question(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let requests = self
            .history
            .entries()
            .iter()
            .filter(|e| e.in_flight())
            .count();
        if requests > 0 {
            lines.push(format!("{requests} request(s) still in flight."));
        }
        if let Some(v) = self.sweep.as_ref().filter(|v| v.running) {
            let n = v.counts();
            lines.push(format!(
                "A sweep runs: {} cell(s) in flight, {} not sent yet;",
                n.in_flight, n.waiting
            ));
            if n.waiting > 0 {
                lines.push(format!(
                    "quitting cancels those in flight; the {} others never run.",
                    n.waiting
                ));
            } else {
                lines.push("quitting cancels those in flight.".to_owned());
            }
        }
        lines
    }

    /// A request ended: its answer goes in its history row, its headline in the status bar.
    pub(super) fn on_finished(
        &mut self,
        id: u64,
        view: Box<ResponseView>,
        duration: std::time::Duration,
    ) {
        let verdict = view.verdict;
        let shown = self.shown().map(|e| e.id) == Some(id);
        if shown && !verdict.is_ok() && self.tab == Tab::Images {
            // An error has no images: show what the server said instead.
            self.tab = Tab::Body;
            self.response_scroll = 0;
            self.response_skip = 0;
        }
        // The first summary line says how it ended: `✔ 10000 success`, `✘ 50411 ...`.
        let headline: String = view
            .summary
            .first()
            .map(|l| l.iter().map(|(_, t)| t.as_str()).collect())
            .unwrap_or_default();
        let label = self.label_of(id);
        let text = format!(
            "{label}: {headline} ({})",
            crate::tui::view::fmt_duration(duration)
        );
        match verdict {
            crate::tui::view::Verdict::Success | crate::tui::view::Verdict::Cancelled => {
                self.info_msg(text);
            }
            _ => self.error_msg(text),
        }
        if let Some(e) = self.history.get_mut(id) {
            e.state = EntryState::Done {
                view: Arc::from(view),
                duration,
            };
        }
    }

    /// The curl command of the form: copied, or written to a script when too long to copy.
    pub(super) fn on_curl_ready(&mut self, result: Result<String, String>) -> Vec<Cmd> {
        match result {
            Err(e) => {
                self.error_msg(format!("no curl command: {e}"));
                Vec::new()
            }
            Ok(text) if text.len() <= COPY_CAP => {
                self.info_msg(format!(
                    "curl command copied ({} bytes; secrets as $VOLCV_API_KEY / \
                 $VOLC_ACCESSKEY references, signature valid 15 min)",
                    text.len()
                ));
                vec![Cmd::Copy(text)]
            }
            Ok(text) => {
                let stamp = local_time(self.now_ms).replace(':', "");
                let path = self.save_dir.join(format!("volcv-curl-{stamp}.sh"));
                // A script (the body in its here-document) ends with a line break.
                let text = format!("{text}\n");
                vec![Cmd::WriteText { text, path }]
            }
        }
    }

    /// Validates and hands the request to the worker, or says what blocks it.
    pub fn send(&mut self) -> Vec<Cmd> {
        if let Some(why) = &self.send_blocked {
            self.error_msg(format!("cannot send: {why}"));
            return Vec::new();
        }
        self.form.revalidate();
        match self.form.request() {
            Err(b) => {
                self.focus = Pane::Params;
                let h = self.form_height();
                self.form.select(b.row, h);
                self.error_msg(format!("cannot send: {}", b.summary()));
                Vec::new()
            }
            Ok(body) => {
                let id = self.next_id;
                self.next_id += 1;
                let req_key = body
                    .get("req_key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                // Elapsed times count from the time of this message.
                let now = self.clock;
                self.history.push(Entry {
                    id,
                    store_id: None,
                    time: local_time(self.now_ms),
                    req_key,
                    prompt: self.form.prompt_text().replace('\n', " "),
                    request: Some(Arc::new(body.clone())),
                    state: EntryState::InFlight {
                        started: now,
                        cancelling: false,
                    },
                    summary: None,
                    local: true,
                    task: None,
                    sweep_id: None,
                    awaiting_id: self.records,
                });
                self.select_history(0);
                let label = self.history.get(id).map(Entry::label).unwrap_or_default();
                let mut text = self.sent_text(&label);
                let unknown = self.form.unknown_fields();
                if !unknown.is_empty() {
                    text.push_str(&format!(
                        "; with {} (not fields of {}, sent as they are)",
                        unknown.join(", "),
                        self.form.schema.req_key
                    ));
                }
                self.info_msg(text);
                if self.mode == crate::api::tasks::Mode::Async {
                    vec![Cmd::SendAsync { id, body }]
                } else {
                    vec![Cmd::Send { id, body }]
                }
            }
        }
    }

    /// The status line of a request just sent, under its label (`#…` until its row is
    /// written, then the store id: see `App::on_recorded`).
    pub(super) fn sent_text(&self, label: &str) -> String {
        if self.mode == crate::api::tasks::Mode::Async {
            format!("request {label} submitted as an async task")
        } else {
            format!("request {label} sent")
        }
    }

    pub(super) fn cancel(&mut self) -> Vec<Cmd> {
        let entries = self.history.entries();
        let target = entries
            .get(self.history_pane.selected)
            .filter(|e| e.in_flight())
            .or_else(|| entries.iter().find(|e| e.in_flight()))
            .map(|e| e.id);
        let Some(id) = target else {
            self.info_msg("nothing in flight to cancel");
            return Vec::new();
        };
        let task = self.history.get(id).is_some_and(|e| e.task.is_some());
        let label = self.label_of(id);
        // Every request in flight is already on the wire: cancelling stops waiting, not the
        // service, so it is asked for once more.
        let question = if task {
            format!(
                "stop polling request {label}? Its task stays on the service and may still be billed. \
                 y stops, any other key keeps it"
            )
        } else {
            format!(
                "cancel request {label}? It is already sent: the service may still run and bill it. \
                 y cancels, any other key keeps it"
            )
        };
        self.info_msg(question.clone());
        self.overlays.open(Overlay::ConfirmCancel { id, question });
        Vec::new()
    }

    /// Cancels request `id` (confirmed), if it is still in flight.
    pub(super) fn cancel_now(&mut self, id: u64) -> Vec<Cmd> {
        let Some(e) = self.history.get(id).filter(|e| e.in_flight()) else {
            let label = self.label_of(id);
            self.info_msg(format!("request {label} is no longer in flight"));
            return Vec::new();
        };
        let task = e.task.is_some();
        let label = e.label();
        if let Some(e) = self.history.get_mut(id)
            && let EntryState::InFlight { cancelling, .. } = &mut e.state
        {
            *cancelling = true;
        }
        self.info_msg(if task {
            format!("stopped polling request {label}; its task may still run and be billed")
        } else {
            format!("cancelling request {label} (it was sent: it may still be billed)")
        });
        vec![Cmd::Cancel(id)]
    }

    /// What the user calls the request with UI id `id` (see [`Entry::label`]).
    pub(super) fn label_of(&self, id: u64) -> String {
        self.history
            .get(id)
            .map_or_else(|| format!("#{id}"), Entry::label)
    }

    /// Seconds since an instant, measured against the last tick.
    pub fn elapsed_since(&self, t: Instant) -> f64 {
        self.clock.saturating_duration_since(t).as_secs_f64()
    }
}

/// The local time of `ms` (since the Unix epoch) as `HH:MM:SS` (UTC when the offset is
/// unknown).
fn local_time(ms: i64) -> String {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(crate::text::local_offset());
    format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
}
