//! The numbers and counts the UI shows agree: one number per request (status line, Response
//! title, dialogs), one set of sweep counts, and the History list's ends (issue #15).

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use serde_json::json;
use volcv::api::schema;
use volcv::store::{OutcomeKind, Summary};
use volcv::tui::app::{App, Info};
use volcv::tui::form::Reference;
use volcv::tui::keymap::{Key, KeyMap};
use volcv::tui::msg::{Cmd, Msg};
use volcv::tui::theme::Theme;

fn app() -> App {
    let body = schema::default_schema().default_body();
    let mut a = App::new(
        &body,
        KeyMap::default(),
        Theme::builtin_default(),
        Info {
            profile: "default".into(),
            endpoint: "http://127.0.0.1:8787/".into(),
            log_path: "/tmp/tui.log".into(),
        },
        Rect::new(0, 0, 120, 30),
    );
    a.form.reference = Reference::Url("https://example.com/cat.jpg".into());
    let mut b = a.form.editable_json();
    b["prompt"] = json!("a cat in the snow");
    a.form.replace_values(&b);
    a
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("term");
    t.draw(|f| volcv::tui::render::render(app, f))
        .expect("draw");
    t.backend().to_string()
}

fn press(app: &mut App, key: &str) -> Vec<Cmd> {
    let k = Key::parse(key).expect("key");
    app.update(Msg::Key(KeyEvent::new(k.code, k.mods)))
}

fn status(a: &App) -> String {
    a.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

fn summary(id: i64) -> Summary {
    Summary {
        id,
        created_ms: 1_700_000_000_000 + id,
        finished_ms: Some(1_700_000_000_500 + id),
        profile: "default".into(),
        outcome: OutcomeKind::Success,
        req_key: Some("high_aes_ip_v20".into()),
        prompt: Some(format!("prompt {id}")),
        http_status: Some(200),
        code: Some(10000),
        summary: None,
        request_id: None,
        duration_ms: Some(12.0),
        star: false,
        note: None,
        result_images: 1,
        updated_seq: id,
        task_id: None,
        task_status: None,
        sweep: None,
    }
}

/// Loads a first page of store rows `ids` (newest first) out of `total`.
fn load(a: &mut App, ids: impl Iterator<Item = i64>, total: u64) {
    a.update(Msg::HistoryLoaded {
        generation: a.history.generation,
        append: false,
        result: Ok((ids.map(summary).collect(), Some(total))),
    });
}

#[test]
fn a_request_has_one_number_the_store_id_in_the_status_the_title_and_dialogs() {
    let mut a = app();
    a.set_records(true);
    // A history with gaps in its ids: 19, 17, 12 (this run's own row numbers run 1, 2, 3).
    load(&mut a, [19, 17, 12].into_iter(), 3);
    let cmds = press(&mut a, "F5");
    let Some(Cmd::Send { id, .. }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    let id = *id;
    // Before the row is written there is no number yet, and none is made up.
    assert_eq!(status(&a), "request #… sent");
    assert!(screen(&a).contains("Response: #…"), "{}", screen(&a));
    a.update(Msg::Recorded { id, result: Ok(20) });
    assert_eq!(status(&a), "request #20 sent");
    assert!(screen(&a).contains("Response: #20"), "{}", screen(&a));
    // The cancel question and its answer name the same number.
    assert_eq!(press(&mut a, "x"), []);
    assert!(status(&a).contains("cancel request #20?"), "{}", status(&a));
    press(&mut a, "n");
    assert!(
        status(&a).contains("request #20 not cancelled"),
        "{}",
        status(&a)
    );
    // And so does the answer's headline.
    a.update(Msg::Finished {
        id,
        view: Box::new(volcv::tui::view::ResponseView::transport(
            volcv::tui::view::Verdict::Transport,
            "connection refused",
            volcv::tui::doc::Doc::default(),
            "-",
        )),
        duration: std::time::Duration::from_millis(5),
    });
    assert!(status(&a).starts_with("#20: "), "{}", status(&a));
}

#[test]
fn a_request_that_cannot_be_recorded_keeps_its_run_number_and_says_so() {
    let mut a = app();
    a.set_records(true);
    let cmds = press(&mut a, "F5");
    let Some(Cmd::Send { id, .. }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    let id = *id;
    a.update(Msg::Recorded {
        id,
        result: Err("disk full".into()),
    });
    let s = status(&a);
    assert!(
        s.starts_with(&format!("request #{id} not recorded")) && s.contains("disk full"),
        "{s}"
    );
    assert!(screen(&a).contains(&format!("Response: #{id}")));
}

fn report(cell: usize, status: volcv::sweep::runner::CellStatus) -> Msg {
    use volcv::sweep::runner::{CellReport, CellStatus};
    let ok = status == CellStatus::Success;
    Msg::Sweep {
        n: 1,
        event: volcv::tui::msg::SweepMsg::CellDone {
            report: Box::new(CellReport {
                cell,
                label: format!("seed={}", cell + 1),
                values: json!({ "seed": cell + 1 }),
                status,
                outcome: ok.then_some(OutcomeKind::Success),
                code: ok.then_some(10000),
                message: None,
                http_status: ok.then_some(200),
                request_id: None,
                history_id: ok.then_some(cell as i64 + 1),
                images: Vec::new(),
                image_count: 0,
                image_errors: Vec::new(),
                attempts: usize::from(ok),
                rate_limited: 0,
                duration: std::time::Duration::from_millis(10),
            }),
            image: None,
        },
    }
}

/// An app running a six-cell seed sweep (cells 0..3 sent), its sheet open.
fn sweeping() -> App {
    let mut a = app();
    a.update(Msg::Resize(120, 40));
    press(&mut a, "S");
    let body = a.form.editable_json();
    let p = volcv::sweep::prepare(body, &["seed=1..6".to_owned()]).expect("sweep");
    let cmds = a.update(Msg::SweepPrepared(Ok(Box::new(p))));
    assert!(
        matches!(cmds.first(), Some(Cmd::Sweep { n: 1, .. })),
        "{cmds:?}"
    );
    for cell in 0..3 {
        a.update(Msg::Sweep {
            n: 1,
            event: volcv::tui::msg::SweepMsg::Started {
                cell,
                history_id: None,
            },
        });
    }
    a
}

#[test]
fn a_stopped_sweep_has_one_set_of_counts_and_not_run_tiles_are_not_failures() {
    use volcv::sweep::runner::CellStatus;
    let mut a = sweeping();
    for cell in 0..3 {
        a.update(report(cell, CellStatus::Success));
    }
    let cmds = press(&mut a, "x");
    assert!(
        matches!(cmds.first(), Some(Cmd::StopSweep { .. })),
        "{cmds:?}"
    );
    for cell in 3..6 {
        a.update(report(cell, CellStatus::NotRun));
    }
    a.update(Msg::Sweep {
        n: 1,
        event: volcv::tui::msg::SweepMsg::Done {
            stopped: true,
            result: Ok(std::time::Duration::from_secs(2)),
        },
    });
    let v = a.sweep.as_ref().expect("sweep");
    assert_eq!(v.summary(), "3/6 done, 3 not run");
    let s = status(&a);
    assert!(
        s.contains("stopped: 6 cells: 3 succeeded, 3 not run in 2.00s"),
        "{s}"
    );
    let shown = screen(&a);
    assert!(shown.contains("3/6 done, 3 not run"), "{shown}");
    assert!(shown.contains("○ not run"), "{shown}");
    assert!(
        !shown.contains('✘'),
        "no failure cross on a sweep without failures:\n{shown}"
    );
}

#[test]
fn the_quit_dialog_during_a_sweep_says_its_remaining_cells_will_not_run() {
    let mut a = sweeping();
    press(&mut a, "Esc");
    assert!(!a.sheet_open());
    press(&mut a, "q");
    assert!(!a.quit(), "asks first");
    let shown = screen(&a);
    assert!(
        shown.contains("3 cell(s) in flight, 3 not sent yet"),
        "{shown}"
    );
    assert!(shown.contains("the 3 others never run"), "{shown}");
    assert!(!shown.contains("request(s) still in flight"), "{shown}");
}

/// The `before` of the page load among `cmds`, if one is asked for.
fn page_asked(cmds: &[Cmd]) -> Option<i64> {
    cmds.iter().find_map(|c| match c {
        Cmd::History(volcv::tui::msg::HistoryCmd::Load { before, .. }) => *before,
        _ => None,
    })
}

#[test]
fn g_in_a_long_history_reads_every_page_and_reaches_the_last_entry() {
    let mut a = app();
    // 450 entries: ids 1000 down to 551, read 200 at a time.
    load(&mut a, (801..=1000).rev(), 450);
    press(&mut a, "3");
    let cmds = press(&mut a, "G");
    assert_eq!(page_asked(&cmds), Some(801), "{cmds:?}");
    let cmds = a.update(Msg::HistoryLoaded {
        generation: a.history.generation,
        append: true,
        result: Ok(((601..=800).rev().map(summary).collect(), None)),
    });
    assert_eq!(a.shown().and_then(|e| e.store_id), Some(601));
    assert_eq!(page_asked(&cmds), Some(601), "{cmds:?}");
    a.update(Msg::HistoryLoaded {
        generation: a.history.generation,
        append: true,
        result: Ok(((551..=600).rev().map(summary).collect(), None)),
    });
    assert_eq!(a.history.entries().len(), 450);
    assert_eq!(
        a.shown().and_then(|e| e.store_id),
        Some(551),
        "the last entry"
    );
    assert!(screen(&a).contains("prompt 551"));
}

#[test]
fn moving_away_after_g_stops_following_the_pages() {
    let mut a = app();
    load(&mut a, (801..=1000).rev(), 450);
    press(&mut a, "3");
    press(&mut a, "G");
    press(&mut a, "g");
    a.update(Msg::HistoryLoaded {
        generation: a.history.generation,
        append: true,
        result: Ok(((601..=800).rev().map(summary).collect(), None)),
    });
    assert_eq!(a.shown().and_then(|e| e.store_id), Some(1000));
}

#[test]
fn rows_another_process_adds_are_seen_when_the_list_is_at_the_top() {
    let mut a = app();
    load(&mut a, [10, 9, 8].into_iter(), 3);
    press(&mut a, "3");
    a.update(Msg::HistoryChanged(vec![summary(11), summary(12)]));
    let shown = screen(&a);
    assert!(
        shown.contains("prompt 12") && shown.contains("prompt 11"),
        "{shown}"
    );
    // The selection stays on the row it was on.
    assert_eq!(a.shown().and_then(|e| e.store_id), Some(10));
}

#[test]
fn history_rows_mark_sweep_cells_with_their_values_within_the_row() {
    let mut a = app();
    a.set_records(true);
    let mut cell = summary(31);
    cell.sweep = Some(Box::new(volcv::store::CellOf {
        sweep_id: "sw-1".into(),
        values: json!({"seed": 3, "scale": 2.5}),
    }));
    let mut unread = summary(30);
    unread.sweep = Some(Box::new(volcv::store::CellOf {
        sweep_id: "sw-1".into(),
        values: serde_json::Value::Null,
    }));
    a.update(Msg::HistoryLoaded {
        generation: a.history.generation,
        append: false,
        result: Ok((vec![cell, unread, summary(29)], Some(3))),
    });
    for width in [120, 80] {
        a.size = Rect::new(0, 0, width, 30);
        let s = screen(&a);
        let rows: Vec<&str> = s
            .lines()
            .filter(|l| l.contains("✔  high_aes_ip_v20"))
            .collect();
        assert_eq!(rows.len(), 3, "{s}");
        let full = "⊞ seed=3 scale=2.5 prompt 31";
        assert!(
            rows[0].contains(if width == 120 {
                full
            } else {
                "high_aes_ip_v20 ⊞ "
            }),
            "{s}"
        );
        assert!(rows[1].contains("high_aes_ip_v20 ⊞ "), "{s}");
        assert!(!rows[2].contains('⊞'), "{s}");
        // Within the row: the duration at its end is still there.
        assert!(rows.iter().all(|r| r.contains("12ms│")), "{s}");
    }
}
