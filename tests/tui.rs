//! The terminal UI: snapshots of every pane in its main states (TestBackend), key sequences
//! driven through `App::update`, and the real event loop against the embedded mock.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use volcv::api::client::{Attempt, Auth, Client, Exchange, Options, Target, TransportError};
use volcv::api::response::parse_response;
use volcv::api::schema;
use volcv::tui::app::{App, Info, Pane, Tab};
use volcv::tui::event_loop::{Events, Host, HostEvent, run_loop};
use volcv::tui::form::Reference;
use volcv::tui::history::EntryState;
use volcv::tui::keymap::{Key, KeyMap};
use volcv::tui::msg::{Cmd, EditTarget, ImageSource, Msg};
use volcv::tui::overlay::{Overlay, OverlayKind};
use volcv::tui::preview::{ImageKey, Previews};

mod common;
use common::term::{Sink, find, kitty_commands_well_formed, sequences, sixel_well_formed};
use volcv::tui::theme::Theme;
use volcv::tui::view::{Verdict, view_of};
use volcv::tui::worker::Worker;

fn app_sized(w: u16, h: u16) -> App {
    let body = schema::default_schema().default_body();
    App::new(
        &body,
        KeyMap::default(),
        Theme::builtin_default(),
        Info {
            profile: "default".into(),
            endpoint: "http://127.0.0.1:8787/".into(),
            log_path: "/home/me/.local/state/volcv/tui.log".into(),
        },
        Rect::new(0, 0, w, h),
    )
}

fn app() -> App {
    app_sized(100, 30)
}

/// An app whose form is ready to send.
fn ready_app() -> App {
    let mut a = app();
    a.form.reference = Reference::Url("https://example.com/cat.jpg".into());
    let mut body = a.form.editable_json();
    body["prompt"] = json!("一只戴帽子的猫 in the snow");
    a.form.replace_values(&body);
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

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
}

fn select(app: &mut App, field: &str) {
    let row = app.form.row_of(field).expect("row");
    app.form.select(row, 20);
}

fn jpeg_b64(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .expect("encode");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn exchange(status: u16, content_type: &str, body: &[u8], result: &str) -> Exchange {
    let request = json!({
        "req_key": "high_aes_ip_v20",
        "image_urls": ["https://example.com/cat.jpg"],
        "prompt": "一只戴帽子的猫 in the snow",
        "seed": -1
    });
    Exchange {
        method: "POST".into(),
        url: "http://127.0.0.1:8787/?Action=CVProcess&Version=2022-08-31".into(),
        action: "CVProcess".into(),
        request_headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), "Bearer <redacted>".into()),
        ],
        request_body: request.to_string(),
        http_status: Some(status),
        response_headers: vec![
            ("content-type".into(), content_type.into()),
            ("content-length".into(), body.len().to_string()),
        ],
        response_bytes: body.to_vec(),
        started_at: time::macros::datetime!(2024-01-02 03:04:05 UTC),
        duration: Duration::from_millis(1520),
        attempts: vec![Attempt {
            at: Duration::ZERO,
            duration: Duration::from_millis(1520),
            http_status: Some(status),
            result: result.into(),
        }],
        result: Ok(parse_response(status, Some(content_type), body)),
        scrubbed: 0,
    }
}

fn success_exchange() -> Exchange {
    let body = json!({
        "code": 10000,
        "data": {
            "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
            "binary_data_base64": [jpeg_b64(96, 64)],
            "image_urls": null,
            "rephraser_result": "a cat wearing a hat, in the snow",
            "request_id": "8d9c5b0b3e0f4c3a9a1f2e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b"
        },
        "message": "Success",
        "request_id": "2024010203040500001",
        "status": 10000,
        "time_elapsed": "7.545501615s"
    });
    exchange(
        200,
        "application/json",
        body.to_string().as_bytes(),
        "10000",
    )
}

fn service_error_exchange() -> Exchange {
    let body = json!({
        "code": 50411,
        "data": null,
        "message": "Pre Img Risk Not Pass",
        "request_id": "2024010203040500002",
        "status": 50411,
        "time_elapsed": "104.85ms"
    });
    exchange(
        400,
        "application/json",
        body.to_string().as_bytes(),
        "50411",
    )
}

fn non_json_exchange() -> Exchange {
    let body = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    exchange(502, "text/html", body.as_bytes(), "HTTP 502")
}

/// Sends, then finishes the request with `ex` at a fixed time of day.
fn app_with(ex: &Exchange) -> App {
    let mut a = ready_app();
    let cmds = press(&mut a, "F5");
    let Some(Cmd::Send { id, .. }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    let id = *id;
    fix_time(&mut a);
    a.update(Msg::Finished {
        id,
        view: Box::new(view_of(ex)),
        duration: ex.duration,
    });
    a
}

fn fix_time(a: &mut App) {
    let ids: Vec<u64> = a.history.entries().iter().map(|e| e.id).collect();
    for id in ids {
        if let Some(e) = a.history.get_mut(id) {
            e.time = "12:34:56".into();
        }
    }
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshot_empty() {
    insta::assert_snapshot!("empty_100x30", screen(&app()));
    insta::assert_snapshot!("empty_80x24", screen(&app_sized(80, 24)));
}

#[test]
fn snapshot_editing_with_a_validation_error() {
    let mut a = ready_app();
    select(&mut a, "width");
    press(&mut a, "enter");
    for _ in 0..3 {
        press(&mut a, "backspace");
    }
    type_text(&mut a, "wide");
    press(&mut a, "enter");
    select(&mut a, "scale");
    press(&mut a, "enter");
    press(&mut a, "backspace");
    press(&mut a, "backspace");
    press(&mut a, "backspace");
    type_text(&mut a, "12");
    insta::assert_snapshot!("editing_invalid_100x30", screen(&a));
    // Sending is blocked and points at the first bad field.
    assert!(press(&mut a, "F5").is_empty());
    insta::assert_snapshot!("send_blocked_80x24", {
        a.size = Rect::new(0, 0, 80, 24);
        screen(&a)
    });
}

#[test]
fn snapshot_in_flight() {
    let mut a = ready_app();
    assert!(matches!(press(&mut a, "F5")[..], [Cmd::Send { .. }]));
    fix_time(&mut a);
    let later = a.clock() + Duration::from_millis(3200);
    a.update(Msg::Tick(later));
    insta::assert_snapshot!("in_flight_100x30", screen(&a));
}

#[test]
fn update_takes_the_time_from_the_message_and_reads_no_clock() {
    let mut a = ready_app();
    // 2023-11-14 22:13:20 UTC; the test process never reads its local offset (UTC).
    let wall = 1_700_000_000_000;
    let sent_at = a.clock() + Duration::from_secs(40);
    let k = Key::parse("F5").expect("key");
    let cmds = a.update_at(Msg::Key(KeyEvent::new(k.code, k.mods)), sent_at, wall);
    assert!(matches!(cmds[..], [Cmd::Send { .. }]));
    let e = &a.history.entries()[0];
    assert_eq!(e.time, "22:13:20");
    assert!(matches!(e.state, EntryState::InFlight { started, .. } if started == sent_at));
    // Elapsed times move with the times messages bring, whenever they are handled.
    a.update_at(
        Msg::Resize(100, 30),
        sent_at + Duration::from_millis(1500),
        wall,
    );
    let started = match a.history.entries()[0].state {
        EntryState::InFlight { started, .. } => started,
        _ => panic!("not in flight"),
    };
    assert!((a.elapsed_since(started) - 1.5).abs() < 1e-9);
    // A history row listed at that time is labelled against it (the same day: no date),
    // not against the machine's today.
    let an_hour_before = volcv::store::Summary {
        id: 7,
        created_ms: wall - 3_600_000,
        finished_ms: Some(wall - 3_599_000),
        profile: "default".into(),
        outcome: volcv::store::OutcomeKind::Success,
        req_key: Some("high_aes_ip_v20".into()),
        prompt: Some("a cat".into()),
        http_status: Some(200),
        code: Some(10000),
        summary: None,
        request_id: None,
        duration_ms: Some(12.0),
        star: false,
        note: None,
        result_images: 1,
        updated_seq: 7,
        task_id: None,
        task_status: None,
        sweep: None,
    };
    a.update_at(
        Msg::HistoryLoaded {
            generation: a.history.generation,
            append: false,
            result: Ok((vec![an_hour_before], Some(1))),
        },
        sent_at,
        wall,
    );
    let row = a
        .history
        .entries()
        .iter()
        .find(|e| e.store_id == Some(7))
        .expect("listed");
    assert_eq!(row.time, "21:13:20");
}

#[test]
fn snapshot_success() {
    let mut a = app_with(&success_exchange());
    a.focus = Pane::Response;
    insta::assert_snapshot!("success_images_100x30", screen(&a));
    press(&mut a, "l");
    assert_eq!(a.tab, Tab::Body);
    insta::assert_snapshot!("success_body_100x30", screen(&a));
    press(&mut a, "l");
    insta::assert_snapshot!("success_request_100x30", screen(&a));
    a.size = Rect::new(0, 0, 80, 24);
    press(&mut a, "l");
    insta::assert_snapshot!("success_headers_80x24", screen(&a));
}

#[test]
fn snapshot_service_error() {
    let a = app_with(&service_error_exchange());
    let status = a.status.clone().expect("status");
    assert!(status.error);
    assert!(
        status
            .text
            .starts_with("#1: ✘ 50411 input image failed moderation"),
        "{}",
        status.text
    );
    insta::assert_snapshot!("service_error_100x30", screen(&a));
}

#[test]
fn snapshot_non_json_error() {
    let mut a = app_with(&non_json_exchange());
    a.focus = Pane::History;
    insta::assert_snapshot!("non_json_100x30", screen(&a));
}

#[test]
fn snapshot_transport_error_and_cancelled() {
    let mut ex = success_exchange();
    ex.result = Err(TransportError::Connect("connection refused".into()));
    ex.http_status = None;
    let a = app_with(&ex);
    insta::assert_snapshot!("transport_error_100x30", screen(&a));
}

#[test]
fn snapshot_help_overlay() {
    let mut a = app();
    press(&mut a, "?");
    assert!(a.overlays().has(OverlayKind::Help));
    insta::assert_snapshot!("help_100x30", screen(&a));
    a.size = Rect::new(0, 0, 80, 24);
    insta::assert_snapshot!("help_80x24", screen(&a));
    press(&mut a, "esc");
    assert!(!a.overlays().has(OverlayKind::Help));
}

/// The help's bottom border, where the position mark is.
fn help_mark(a: &App) -> String {
    let shown = screen(a);
    shown
        .lines()
        .find(|l| l.contains('╚'))
        .unwrap_or_default()
        .trim_matches(|c| c == '"' || c == '╚' || c == '╝' || c == '═')
        .trim()
        .to_owned()
}

#[test]
fn help_scrolls_at_80x24_and_shows_where_it_is() {
    let mut a = app_sized(80, 24);
    let seed = a.form.editable_json()["seed"].clone();
    press(&mut a, "?");
    // At 80x24 it does not fit: the Images-tab keys and the log path are below, and the
    // mark says so.
    let shown = screen(&a);
    assert!(
        !shown.contains("Images tab") && !shown.contains("tui.log"),
        "{shown}"
    );
    assert_eq!(help_mark(&a), "▼ 1-22/25 · j/k PgUp/PgDn g/G");
    press(&mut a, "j");
    assert_eq!(help_mark(&a), "▲▼ 2-23/25 · j/k PgUp/PgDn g/G");
    // G: the end, with what fell off before.
    press(&mut a, "G");
    let shown = screen(&a);
    assert!(shown.contains("Images tab: j/k select"), "{shown}");
    assert!(
        shown.contains("/home/me/.local/state/volcv/tui.log"),
        "{shown}"
    );
    assert_eq!(help_mark(&a), "▲ 4-25/25 · j/k PgUp/PgDn g/G");
    // Past the end stays at the end; k goes back one from there, not from beyond it.
    keys(&mut a, &["j", "pagedown", "k"]);
    assert_eq!(help_mark(&a), "▲▼ 3-24/25 · j/k PgUp/PgDn g/G");
    keys(&mut a, &["pageup"]);
    assert_eq!(help_mark(&a), "▼ 1-22/25 · j/k PgUp/PgDn g/G");
    keys(&mut a, &["pagedown", "g"]);
    assert_eq!(help_mark(&a), "▼ 1-22/25 · j/k PgUp/PgDn g/G");
    // Any other key does nothing and leaves it open, as before; Esc, ?, x and q close it.
    assert!(press(&mut a, "r").is_empty());
    assert!(a.overlays().has(OverlayKind::Help));
    assert_eq!(a.form.editable_json()["seed"], seed);
    press(&mut a, "esc");
    for close in ["esc", "?", "x", "q"] {
        press(&mut a, "?");
        assert!(a.overlays().has(OverlayKind::Help), "{close}");
        assert!(press(&mut a, close).is_empty(), "{close}");
        assert!(!a.overlays().has(OverlayKind::Help), "{close}");
        assert!(!a.quit(), "{close}");
    }
}

#[test]
fn help_uses_the_width_three_columns_when_it_holds_them() {
    // At 100x30 two columns fit it all; at 130x24 three columns do, with no mark.
    for (w, h) in [(100, 30), (130, 24)] {
        let mut a = app_sized(w, h);
        press(&mut a, "?");
        let shown = screen(&a);
        assert!(shown.contains("Images tab: j/k select"), "{w}x{h}: {shown}");
        assert!(
            shown.contains("/home/me/.local/state/volcv/tui.log"),
            "{shown}"
        );
        assert!(!help_mark(&a).contains("j/k"), "{w}x{h}: {shown}");
        // Scrolling keys do nothing when it all fits.
        press(&mut a, "G");
        assert_eq!(screen(&a), shown);
    }
}

#[test]
fn snapshot_too_small() {
    insta::assert_snapshot!("too_small_60x20", screen(&app_sized(60, 20)));
}

#[test]
fn snapshot_prompt_editor_with_chinese() {
    let mut a = ready_app();
    select(&mut a, "prompt");
    press(&mut a, "enter");
    assert!(a.form.prompt_active);
    press(&mut a, "end");
    press(&mut a, "enter");
    type_text(&mut a, "第二行，写意");
    insta::assert_snapshot!("prompt_editor_100x30", screen(&a));
    press(&mut a, "tab");
    assert!(!a.form.prompt_active);
    assert_eq!(
        a.form.prompt_text(),
        "一只戴帽子的猫 in the snow\n第二行，写意"
    );
}

#[test]
fn esc_in_the_prompt_editor_discards_the_edit_and_ctrl_u_clears_it() {
    let mut a = ready_app();
    select(&mut a, "prompt");
    press(&mut a, "enter");
    // Ctrl-u clears the whole text (not the textarea's undo), Ctrl-z brings it back.
    press(&mut a, "ctrl-u");
    assert_eq!(a.form.prompt_text(), "");
    press(&mut a, "ctrl-z");
    assert_eq!(a.form.prompt_text(), "一只戴帽子的猫 in the snow");
    press(&mut a, "ctrl-u");
    type_text(&mut a, "a dog");
    assert_eq!(a.form.prompt_text(), "a dog");
    // Esc abandons the edit: the prompt from before it is back.
    press(&mut a, "esc");
    assert!(!a.form.prompt_active);
    assert_eq!(a.form.prompt_text(), "一只戴帽子的猫 in the snow");
    assert_eq!(status_text(&a), "prompt edit discarded");
    // Sending from the editor keeps what was typed.
    keys(&mut a, &["enter", "end"]);
    type_text(&mut a, "!");
    let cmds = press(&mut a, "F5");
    assert!(matches!(&cmds[..], [Cmd::Send { .. }]), "{cmds:?}");
    assert!(!a.form.prompt_active);
    assert_eq!(a.form.prompt_text(), "一只戴帽子的猫 in the snow!");
}

fn loads(cmds: &[Cmd]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Cmd::History(volcv::tui::msg::HistoryCmd::Load { filter, .. }) => Some(filter.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ctrl_u_clears_the_search_line_and_esc_in_history_drops_a_kept_search() {
    let mut a = app();
    a.history.stored = true;
    press(&mut a, "/");
    type_text(&mut a, "moon");
    assert_eq!(a.history.filter, "moon");
    // Ctrl-u clears the whole line (it used to delete one character) and lists everything.
    let cmds = press(&mut a, "ctrl-u");
    assert_eq!(loads(&cmds), [""]);
    assert_eq!(a.history.filter, "");
    // A filter that does not parse says why in the title, not `(0 found)` of the last one.
    type_text(&mut a, "is:sta");
    let shown = screen(&a);
    assert!(shown.contains("/is:sta ✘ search: unknown"), "{shown}");
    assert!(!shown.contains("found"), "{shown}");
    type_text(&mut a, "rred");
    assert_eq!(a.history.filter, "is:starred");
    // A word that starts a filter's name says what the filter takes while nothing matches.
    keys(&mut a, &["ctrl-u"]);
    type_text(&mut a, "is");
    a.history.total = Some(0);
    let shown = screen(&a);
    assert!(
        shown.contains("/is (0 found; \"is\" is searched as a word"),
        "{shown}"
    );
    keys(&mut a, &["ctrl-u"]);
    type_text(&mut a, "moon");
    // Enter keeps the search; Esc in the History pane then drops it.
    press(&mut a, "enter");
    assert!(!a.overlays().has(OverlayKind::Search));
    assert_eq!(a.focus, Pane::History);
    assert_eq!(a.history.filter, "moon");
    assert!(screen(&a).contains("Esc clear search"), "{}", screen(&a));
    let cmds = press(&mut a, "esc");
    assert_eq!(loads(&cmds), [""]);
    assert_eq!(a.history.filter, "");
    assert_eq!(status_text(&a), "search cleared");
    // A paste into the search line searches, its line breaks as spaces.
    press(&mut a, "/");
    let cmds = a.update(Msg::Paste("blue\rmoon".into()));
    assert_eq!(loads(&cmds), ["blue moon"]);
}

#[test]
fn the_sweep_dialog_prefill_is_replaced_by_a_field_name_and_ctrl_u_clears_it() {
    let line = |a: &App| match a.overlays().get(OverlayKind::SweepInput) {
        Some(Overlay::SweepInput(input)) => input.lines().join(" "),
        _ => panic!("the sweep dialog is not open"),
    };
    let mut a = ready_app();
    select(&mut a, "seed");
    press(&mut a, "S");
    assert_eq!(line(&a), "seed=");
    // The issue's repro: typing the whole spec over the pre-filled one.
    type_text(&mut a, "seed=1..6");
    assert_eq!(line(&a), "seed=1..6");
    // Values alone go after it; another field replaces it.
    press(&mut a, "esc");
    press(&mut a, "S");
    type_text(&mut a, "1..3");
    assert_eq!(line(&a), "seed=1..3");
    press(&mut a, "esc");
    press(&mut a, "S");
    type_text(&mut a, "scale=2,3");
    assert_eq!(line(&a), "scale=2,3");
    // Ctrl-u clears the line, pre-filled part included.
    press(&mut a, "ctrl-u");
    assert_eq!(line(&a), "");
    let cmds = press(&mut a, "esc");
    assert!(cmds.is_empty() && !a.overlays().has(OverlayKind::SweepInput));
}

#[test]
fn one_line_inputs_clear_with_ctrl_u_and_esc_restores_the_value() {
    let mut a = ready_app();
    select(&mut a, "seed");
    keys(&mut a, &["enter", "ctrl-u"]);
    assert_eq!(
        a.form.editing.as_ref().expect("editing").input.lines(),
        [""]
    );
    type_text(&mut a, "77");
    press(&mut a, "esc");
    assert_eq!(a.form.body["seed"], json!(-1));
    keys(&mut a, &["enter", "ctrl-u"]);
    type_text(&mut a, "77");
    press(&mut a, "enter");
    assert_eq!(a.form.body["seed"], json!(77));
}

#[test]
fn a_paste_with_cr_line_endings_keeps_its_lines_everywhere() {
    let mut a = ready_app();
    select(&mut a, "prompt");
    press(&mut a, "enter");
    keys(&mut a, &["ctrl-u"]);
    // What tmux and most terminals send in a bracketed paste: CR between lines.
    a.update(Msg::Paste("line one\rline two\r\nline three".into()));
    assert_eq!(a.form.prompt_text(), "line one\nline two\nline three");
    press(&mut a, "tab");
    // A one-line field: each line break is one space.
    select(&mut a, "seed");
    press(&mut a, "enter");
    press(&mut a, "ctrl-u");
    a.update(Msg::Paste("12\r34".into()));
    assert_eq!(
        a.form.editing.as_ref().expect("editing").input.lines(),
        ["12 34"]
    );
    press(&mut a, "esc");
    // A multi-line curl command with CR endings: its lines are continued, nothing is ignored.
    let body = json!({"req_key": "high_aes_ip_v20", "prompt": "a fox", "seed": 5});
    let curl = format!(
        "curl -X POST 'https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31' \\\r  -H 'Content-Type: application/json' \\\r  -d '{body}'\r"
    );
    a.update(Msg::Paste(curl));
    let status = status_text(&a);
    assert!(
        status.starts_with("form filled from a curl command"),
        "{status}"
    );
    assert!(!status.contains("ignored"), "{status}");
    assert_eq!(a.form.prompt_text(), "a fox");
    assert_eq!(a.form.body["seed"], json!(5));
    // Under a dialog without an input the paste changes nothing, and says so.
    press(&mut a, "?");
    a.update(Msg::Paste(v21_body("a cat").to_string()));
    assert_eq!(a.form.prompt_text(), "a fox");
    assert!(
        status_text(&a).starts_with("paste ignored"),
        "{}",
        status_text(&a)
    );
}

#[test]
fn monochrome_still_marks_focus_selection_and_errors() {
    let mut a = ready_app();
    a.theme = Theme::monochrome();
    select(&mut a, "width");
    a.form
        .commit_text(schema::default_schema().field("width").expect("f"), "wide");
    let mut t = Terminal::new(TestBackend::new(100, 30)).expect("term");
    t.draw(|f| volcv::tui::render::render(&a, f)).expect("draw");
    let buf = t.backend().buffer();
    let mut reversed = false;
    let mut bold_underlined = false;
    for cell in buf.content() {
        assert!(
            cell.fg == ratatui::style::Color::Reset,
            "colour in NO_COLOR mode"
        );
        let m = cell.modifier;
        reversed |= m.contains(ratatui::style::Modifier::REVERSED);
        bold_underlined |=
            m.contains(ratatui::style::Modifier::BOLD | ratatui::style::Modifier::UNDERLINED);
    }
    assert!(reversed, "the selected row is reversed");
    assert!(bold_underlined, "the error is bold and underlined");
}

// ---------------------------------------------------------------- key sequences

#[test]
fn edit_a_number_in_place() {
    let mut a = app();
    select(&mut a, "ddim_steps");
    press(&mut a, "enter");
    assert!(a.form.editing.is_some());
    press(&mut a, "backspace");
    type_text(&mut a, "12");
    press(&mut a, "enter");
    assert!(a.form.editing.is_none());
    assert_eq!(a.form.body["ddim_steps"], json!(12));
    // Ctrl-u clears the line.
    press(&mut a, "enter");
    press(&mut a, "ctrl-u");
    type_text(&mut a, "7");
    press(&mut a, "enter");
    assert_eq!(a.form.body["ddim_steps"], json!(7));
    press(&mut a, "enter");
    type_text(&mut a, "2");
    press(&mut a, "enter");
    assert_eq!(a.form.body["ddim_steps"], json!(72));
    // Esc discards an edit.
    press(&mut a, "enter");
    type_text(&mut a, "999");
    press(&mut a, "esc");
    assert_eq!(a.form.body["ddim_steps"], json!(72));
}

#[test]
fn nudging_steps_and_clamps_to_the_range() {
    let mut a = app();
    select(&mut a, "width");
    press(&mut a, "l");
    assert_eq!(a.form.body["width"], json!(520));
    for _ in 0..40 {
        press(&mut a, "+");
    }
    assert_eq!(a.form.body["width"], json!(768));
    press(&mut a, "H");
    assert_eq!(a.form.body["width"], json!(688));
    select(&mut a, "scale");
    press(&mut a, "L");
    assert_eq!(a.form.body["scale"], json!(4.5));
    for _ in 0..6 {
        press(&mut a, "L");
    }
    assert_eq!(a.form.body["scale"], json!(10.0));
    for _ in 0..100 {
        press(&mut a, "-");
    }
    assert_eq!(a.form.body["scale"], json!(1.0));
    assert!(a.form.row_error(a.form.selected).is_none());
}

#[test]
fn toggle_a_bool_and_cycle_an_enum() {
    let mut a = app();
    select(&mut a, "use_sr");
    press(&mut a, "space");
    assert_eq!(a.form.body["use_sr"], json!(false));
    press(&mut a, "enter");
    assert_eq!(a.form.body["use_sr"], json!(true));
    select(&mut a, "logo_info.position");
    press(&mut a, "l");
    assert_eq!(a.form.body["logo_info"]["position"], json!(1));
    press(&mut a, "h");
    press(&mut a, "h");
    assert_eq!(a.form.body["logo_info"]["position"], json!(3));
    // Enter edits an enum by label.
    press(&mut a, "enter");
    for _ in 0..20 {
        press(&mut a, "backspace");
    }
    type_text(&mut a, "top-left");
    press(&mut a, "enter");
    assert_eq!(a.form.body["logo_info"]["position"], json!(2));
}

#[test]
fn seed_keys() {
    let mut a = app();
    press(&mut a, "r");
    let seed = a.form.body["seed"].as_i64().expect("seed");
    assert!((0..=schema::SEED_MAX).contains(&seed));
    press(&mut a, "R");
    assert_eq!(a.form.body["seed"], json!(-1));
}

#[test]
fn invalid_value_blocks_sending_and_names_every_bad_field_once() {
    let mut a = ready_app();
    select(&mut a, "logo_info.opacity");
    press(&mut a, "enter");
    for _ in 0..5 {
        press(&mut a, "backspace");
    }
    type_text(&mut a, "2");
    press(&mut a, "enter");
    select(&mut a, "seed");
    press(&mut a, "enter");
    type_text(&mut a, "x");
    press(&mut a, "enter");
    a.focus = Pane::History;
    assert!(press(&mut a, "F5").is_empty(), "nothing is sent");
    let status = a.status.clone().expect("status");
    assert!(status.error);
    // Every problem is counted and named, each field once (not `seed: seed must ...`).
    assert!(
        status
            .text
            .starts_with("cannot send: seed must be a whole number"),
        "{}",
        status.text
    );
    assert!(
        status.text.contains("(+1 more: logo_info.opacity;"),
        "{}",
        status.text
    );
    assert_eq!(a.focus, Pane::Params);
    assert_eq!(a.form.rows[a.form.selected].label(), "seed");
    assert!(a.history.entries().is_empty());
    // Fixing seed moves the complaint to the next bad field.
    press(&mut a, "R");
    assert!(press(&mut a, "ctrl-s").is_empty());
    let text = a.status.clone().expect("status").text;
    assert!(
        text.contains("logo_info.opacity 2.0 is outside 0..1"),
        "{text}"
    );
}

#[test]
fn send_and_cancel_an_in_flight_request() {
    let mut a = ready_app();
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { id, body }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!(body["prompt"], json!("一只戴帽子的猫 in the snow"));
    assert!(a.busy());
    // Typing stays possible while it runs.
    select(&mut a, "seed");
    press(&mut a, "l");
    assert_eq!(a.form.body["seed"], json!(0));
    // x asks first: the request is on the wire.
    assert_eq!(press(&mut a, "x"), []);
    let cancel = press(&mut a, "y");
    assert_eq!(cancel, [Cmd::Cancel(*id)]);
    assert!(matches!(
        a.history.entries()[0].state,
        EntryState::InFlight {
            cancelling: true,
            ..
        }
    ));
    let mut ex = success_exchange();
    ex.result = Err(TransportError::Cancelled);
    a.update(Msg::Finished {
        id: *id,
        view: Box::new(view_of(&ex)),
        duration: ex.duration,
    });
    assert!(!a.busy());
    assert_eq!(
        a.history.entries()[0].view().map(|v| v.verdict),
        Some(Verdict::Cancelled)
    );
    assert_eq!(press(&mut a, "esc"), []);
}

/// Every command of a key sequence.
fn keys(app: &mut App, keys: &[&str]) -> Vec<Cmd> {
    keys.iter().flat_map(|k| press(app, k)).collect()
}

fn status_text(a: &App) -> String {
    a.status.clone().map(|s| s.text).unwrap_or_default()
}

#[test]
fn a_cancel_question_under_another_prompt_is_asked_again_when_it_is_back_on_top() {
    let mut a = ready_app();
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { id, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    let id = *id;
    assert_eq!(press(&mut a, "x"), []);
    // A worker answer opens the fit prompt over the question; answering it writes the
    // status bar.
    a.form.reference = Reference::Loading("/photos/pano.jpg".into());
    a.update(Msg::ReferenceOverLimits {
        input: "/photos/pano.jpg".into(),
        problems: vec!["too wide".into()],
    });
    assert!(screen(&a).contains("y fit it"));
    assert_eq!(press(&mut a, "n"), []);
    // The next key answers the cancel question again: it is on screen.
    let shown = screen(&a);
    assert!(shown.contains(&format!("cancel request #{id}?")), "{shown}");
    assert_eq!(press(&mut a, "y"), [Cmd::Cancel(id)]);
}

#[test]
fn esc_closes_things_and_never_cancels_a_sent_request() {
    let mut a = ready_app();
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { id, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    let id = *id;
    // The issue's repro: open an edit, type, Esc discards it, a reflexive second Esc.
    select(&mut a, "seed");
    let cmds = keys(&mut a, &["j", "enter", "7", "esc", "esc"]);
    assert!(
        !cmds.iter().any(|c| matches!(c, Cmd::Cancel(_))),
        "{cmds:?}"
    );
    assert!(matches!(
        a.history.entries()[0].state,
        EntryState::InFlight {
            cancelling: false,
            ..
        }
    ));
    assert!(status_text(&a).contains("x cancels"), "{}", status_text(&a));
    // Esc in the prompt editor, the help overlay: closes, cancels nothing.
    select(&mut a, "prompt");
    let cmds = keys(&mut a, &["enter", "esc", "esc", "?", "esc", "esc"]);
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(!a.overlays().has(OverlayKind::Help) && !a.form.prompt_active);
    // The deliberate key asks, saying it may still be billed; anything but y keeps it.
    assert_eq!(press(&mut a, "x"), []);
    let asked = status_text(&a);
    assert!(
        asked.contains("already sent") && asked.contains("bill"),
        "{asked}"
    );
    assert_eq!(press(&mut a, "esc"), []);
    assert!(a.busy());
    assert_eq!(keys(&mut a, &["x", "y"]), [Cmd::Cancel(id)]);
    assert!(
        status_text(&a).contains("may still be billed"),
        "{}",
        status_text(&a)
    );
}

/// A reference as a fit leaves it: read from a file, with other bytes than the file's.
fn fitted_reference() -> Reference {
    Reference::Image(volcv::tui::form::LoadedImage {
        path: Some("/tmp/volcv-ref.png".into()),
        bytes: 300,
        format: "JPEG",
        dims: Some((32, 32)),
        base64: std::sync::Arc::from(jpeg_b64(32, 32)),
    })
}

#[test]
fn switching_models_keeps_the_reference_and_undo_brings_each_form_back() {
    let mut a = ready_app();
    a.form.reference = fitted_reference();
    a.form.revalidate();
    select(&mut a, "req_key");
    // high_aes_ip_v20 -> byteedit_v2.0 (h wraps round): both take a reference.
    press(&mut a, "h");
    assert_eq!(a.form.schema.req_key, "byteedit_v2.0");
    assert_eq!(a.form.reference, fitted_reference());
    assert_eq!(a.form.prompt_text(), "一只戴帽子的猫 in the snow");
    assert!(a.form.request().is_ok(), "{:?}", a.form.request());
    press(&mut a, "l");
    assert_eq!(a.form.schema.req_key, "high_aes_ip_v20");
    assert_eq!(a.form.reference, fitted_reference());
    // To a text-to-image model: the reference is dropped, and named.
    press(&mut a, "l");
    assert_eq!(a.form.schema.req_key, "high_aes_general_v20");
    assert_eq!(a.form.reference, Reference::Empty);
    let text = status_text(&a);
    assert!(
        text.contains("dropped:") && text.contains("reference (/tmp/volcv-ref.png)"),
        "{text}"
    );
    // u walks back through every switch, the reference included.
    press(&mut a, "u");
    assert_eq!(a.form.schema.req_key, "high_aes_ip_v20");
    assert_eq!(a.form.reference, fitted_reference());
    press(&mut a, "u");
    assert_eq!(a.form.schema.req_key, "byteedit_v2.0");
    press(&mut a, "u");
    assert_eq!(a.form.schema.req_key, "high_aes_ip_v20");
    assert_eq!(a.form.reference, fitted_reference());
    press(&mut a, "u");
    assert_eq!(status_text(&a), "nothing to undo");
}

/// A General 2.1 body, ready to send.
fn v21_body(prompt: &str) -> Value {
    let s = schema::schema_for("high_aes_general_v21_L").expect("model");
    let mut b = s.default_body();
    b["prompt"] = json!(prompt);
    b
}

#[test]
fn a_pasted_replayed_or_loaded_body_switches_the_model_and_can_be_undone() {
    let mut a = ready_app();
    let before = a.form.state();
    // A body of another model: the form takes its schema, and F5 sends it.
    a.update(Msg::Paste(v21_body("a fox").to_string()));
    assert_eq!(a.form.schema.req_key, "high_aes_general_v21_L");
    assert!(!screen(&a).contains("req_key ✘"), "{}", screen(&a));
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { body, .. }] = &cmds[..] else {
        panic!("not sent: {:?}", a.status)
    };
    assert_eq!(body["req_key"], json!("high_aes_general_v21_L"));
    assert_eq!(body["prompt"], json!("a fox"));
    // u: the form that was replaced, reference and all.
    press(&mut a, "1");
    press(&mut a, "u");
    assert_eq!(a.form.state(), before);
    // An unknown model is an error naming it; nothing changes (and nothing to undo).
    let mut odd = v21_body("x");
    odd["req_key"] = json!("high_aes_general_v99");
    a.update(Msg::Paste(odd.to_string()));
    assert_eq!(a.form.state(), before);
    let text = status_text(&a);
    assert!(
        text.contains("\"high_aes_general_v99\" is not a model") && text.contains("unchanged"),
        "{text}"
    );
    // Replay (e in History) of the General 2.1 request switches too.
    press(&mut a, "3");
    press(&mut a, "e");
    assert_eq!(a.form.schema.req_key, "high_aes_general_v21_L");
    assert_eq!(a.form.prompt_text(), "a fox");
    assert!(a.form.request().is_ok());
    press(&mut a, "u");
    assert_eq!(a.form.state(), before);
    // --load FILE at start: the same, and u goes back to the defaults.
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = options("", false, dir.path());
    o.load = Some(("req.json".into(), v21_body("an owl").to_string()));
    let mut p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.app.form.schema.req_key, "high_aes_general_v21_L");
    assert!(p.app.form.request().is_ok());
    press(&mut p.app, "u");
    assert_eq!(p.app.form.schema.req_key, "high_aes_ip_v20");
    assert_eq!(p.app.form.prompt_text(), "");
}

#[test]
fn an_edited_request_that_cannot_be_used_is_never_thrown_away() {
    let mut a = ready_app();
    let before = a.form.state();
    let cmds = press(&mut a, "ctrl-e");
    let [Cmd::OpenEditor { text, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    let broken = text.replace("\"seed\": -1,", "\"seed\": 5");
    assert_ne!(&broken, text);
    // The editor opens again on the user's text, the error on top.
    let cmds = a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok(broken.clone()),
    });
    let [
        Cmd::OpenEditor {
            target,
            text: again,
        },
    ] = &cmds[..]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(*target, EditTarget::Request);
    assert!(
        again.starts_with("// volcv: the edited request is not valid JSON"),
        "{again}"
    );
    assert!(again.ends_with(&broken), "{again}");
    assert_eq!(a.form.state(), before);
    // Saved unchanged: no loop; the text is kept and Ctrl-e opens it again.
    let cmds = a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok(again.clone()),
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(
        status_text(&a).contains("Ctrl-e opens it again"),
        "{}",
        status_text(&a)
    );
    assert_eq!(a.form.state(), before);
    let cmds = press(&mut a, "ctrl-e");
    let [Cmd::OpenEditor { text: kept, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!(kept, &broken);
    // Fixed (with the note still on top): applied, and undoable.
    let fixed = format!(
        "// volcv: a note\n{}",
        broken.replace("\"seed\": 5", "\"seed\": 5,")
    );
    let cmds = a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok(fixed),
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    assert_eq!(a.form.body["seed"], json!(5));
    press(&mut a, "u");
    assert_eq!(a.form.state(), before);
    // A model volcv does not know: the same, the error naming it.
    let cmds = a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok("{\"req_key\": \"nope\"}".into()),
    });
    assert!(
        matches!(&cmds[..], [Cmd::OpenEditor { text, .. }] if text.contains("\"nope\" is not a model")),
        "{cmds:?}"
    );
}

#[test]
fn quit_asks_while_requests_are_in_flight_and_ctrl_c_always_quits() {
    let mut a = ready_app();
    press(&mut a, "F5");
    press(&mut a, "q");
    assert!(a.overlays().has(OverlayKind::ConfirmQuit) && !a.quit());
    fix_time(&mut a);
    a.size = Rect::new(0, 0, 80, 24);
    insta::assert_snapshot!("confirm_quit_80x24", screen(&a));
    press(&mut a, "n");
    assert!(!a.overlays().has(OverlayKind::ConfirmQuit) && !a.quit());
    press(&mut a, "q");
    press(&mut a, "y");
    assert!(a.quit());
    let mut b = ready_app();
    press(&mut b, "F5");
    press(&mut b, "ctrl-c");
    assert!(b.quit());
}

#[test]
fn pane_keys_and_tabs() {
    let mut a = app_with(&success_exchange());
    press(&mut a, "2");
    assert_eq!(a.focus, Pane::Response);
    press(&mut a, "tab");
    assert_eq!(a.focus, Pane::History);
    press(&mut a, "shift-tab");
    press(&mut a, "shift-tab");
    assert_eq!(a.focus, Pane::Params);
    press(&mut a, "3");
    press(&mut a, "enter");
    assert_eq!(
        a.focus,
        Pane::Response,
        "Enter in History shows the entry in the Response pane"
    );
    press(&mut a, "3");
    press(&mut a, "e");
    assert_eq!(a.focus, Pane::Params, "e in History reuses the parameters");
}

#[test]
fn external_editor_broken_json_keeps_previous_values() {
    let mut a = ready_app();
    select(&mut a, "width");
    let cmds = press(&mut a, "ctrl-e");
    let [Cmd::OpenEditor { target, text }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!(*target, EditTarget::Request);
    let v: Value = serde_json::from_str(text).expect("editor gets valid JSON");
    assert_eq!(v["width"], json!(512));
    let before = a.form.editable_json();
    a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok("{\"width\": 600,".into()),
    });
    assert_eq!(a.form.editable_json(), before);
    assert!(
        a.status
            .clone()
            .expect("status")
            .text
            .contains("previous values kept")
    );
    a.update(Msg::EditorClosed {
        target: EditTarget::Request,
        result: Ok(text.replace("\"width\": 512", "\"width\": 600")),
    });
    assert_eq!(a.form.body["width"], json!(600));
    assert_eq!(a.form.prompt_text(), "一只戴帽子的猫 in the snow");
    // The prompt alone.
    select(&mut a, "prompt");
    let cmds = press(&mut a, "ctrl-e");
    assert!(matches!(
        &cmds[..],
        [Cmd::OpenEditor {
            target: EditTarget::Prompt,
            ..
        }]
    ));
    a.update(Msg::EditorClosed {
        target: EditTarget::Prompt,
        result: Ok("新的提示\n".into()),
    });
    assert_eq!(a.form.prompt_text(), "新的提示");
    assert_eq!(a.form.body["width"], json!(600));
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text == "prompt updated from the editor"),
        "{:?}",
        a.status
    );
    // `:q!` (the text comes back as it went): nothing changed, and the status says so.
    press(&mut a, "ctrl-e");
    a.update(Msg::EditorClosed {
        target: EditTarget::Prompt,
        result: Ok("新的提示\n".into()),
    });
    assert_eq!(a.form.prompt_text(), "新的提示");
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.starts_with("prompt unchanged")),
        "{:?}",
        a.status
    );
}

#[test]
fn reference_path_is_loaded_by_the_worker_and_problems_show_inline() {
    let mut a = app();
    select(&mut a, "binary_data_base64");
    press(&mut a, "enter");
    type_text(&mut a, "/nonexistent/cat.png");
    let cmds = press(&mut a, "enter");
    assert_eq!(cmds, [Cmd::LoadReference("/nonexistent/cat.png".into())]);
    a.update(Msg::ReferenceLoaded {
        input: "/nonexistent/cat.png".into(),
        result: Err("no such file: /nonexistent/cat.png".into()),
    });
    let row = a.form.selected;
    assert_eq!(
        a.form.row_error(row).as_deref(),
        Some("no such file: /nonexistent/cat.png")
    );
    press(&mut a, "enter");
    let tab = press(&mut a, "tab");
    assert_eq!(tab, [Cmd::Complete("/nonexistent/cat.png".into())]);
}

#[test]
fn key_table_names_every_action() {
    // That docs/tui.md's generated keys block is exactly this table is checked in
    // tests/readme.rs, beside the other generated blocks.
    let md = volcv::tui::key_table_markdown();
    for a in volcv::tui::keymap::Action::ALL {
        assert!(md.contains(&format!("| `{}` |", a.name())), "{a:?}");
    }
}

#[test]
fn mouse_click_focuses_panes_and_rows_and_the_wheel_scrolls() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = app_with(&success_exchange());
    let click = |a: &mut App, column: u16, row: u16, kind: MouseEventKind| {
        a.update(Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }));
    };
    let areas = a.areas();
    // The history row.
    click(
        &mut a,
        areas.history.x + 3,
        areas.history.y + 1,
        MouseEventKind::Down(MouseButton::Left),
    );
    assert_eq!(a.focus, Pane::History);
    // The `width` row of the form: find its line on screen.
    let line = a
        .form
        .lines
        .iter()
        .position(|l| *l == volcv::tui::form::FormLine::Row(a.form.row_of("width").expect("row")))
        .expect("line");
    let y = areas.params.y + 1 + (line - a.form.scroll) as u16;
    click(
        &mut a,
        areas.params.x + 4,
        y,
        MouseEventKind::Down(MouseButton::Left),
    );
    assert_eq!(a.focus, Pane::Params);
    assert_eq!(a.form.rows[a.form.selected].label(), "width");
    // The Body tab title, then the wheel over the Response pane.
    let tabs_y = areas.response.y + 1 + 6;
    click(
        &mut a,
        areas.response.x + 1 + 10,
        tabs_y,
        MouseEventKind::Down(MouseButton::Left),
    );
    assert_eq!((a.focus, a.tab), (Pane::Response, Tab::Body));
    click(
        &mut a,
        areas.response.x + 5,
        areas.response.y + 12,
        MouseEventKind::ScrollDown,
    );
    assert_eq!(a.response_scroll(), 3);
    click(
        &mut a,
        areas.response.x + 5,
        areas.response.y + 12,
        MouseEventKind::ScrollUp,
    );
    assert_eq!(a.response_scroll(), 0);
}

#[test]
fn copy_takes_the_focused_thing_and_refuses_huge_text() {
    let mut a = app_with(&success_exchange());
    select(&mut a, "width");
    assert_eq!(press(&mut a, "y"), [Cmd::Copy("512".into())]);
    press(&mut a, "2");
    press(&mut a, "l");
    let cmds = press(&mut a, "y");
    let [Cmd::Copy(text)] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    // The body as received: the base64 itself, not the tab's `<jpeg 96x64, …>` chip.
    assert!(text.contains("\"code\":10000") && !text.contains("<jpeg 96x64"));
    press(&mut a, "3");
    assert_eq!(
        press(&mut a, "y"),
        [Cmd::Copy("2024010203040500001".into())]
    );
    // Over the cap: nothing is copied and the status says why.
    let mut b = ready_app();
    let mut body = b.form.editable_json();
    body["prompt"] = json!("x".repeat(200_000));
    b.form.replace_values(&body);
    select(&mut b, "prompt");
    assert!(press(&mut b, "y").is_empty());
    assert!(b.status.clone().expect("status").text.contains("cap"));
}

#[test]
fn an_error_answer_opens_on_the_body_tab() {
    let a = app_with(&service_error_exchange());
    assert_eq!(a.tab, Tab::Body);
}

#[test]
fn config_key_overrides_reach_the_app() {
    let table: std::collections::BTreeMap<String, toml::Value> =
        toml::from_str("send = \"F9\"\n").expect("toml");
    let (keymap, warnings) = KeyMap::with_overrides(&table);
    assert!(warnings.is_empty());
    let mut a = ready_app();
    a.keymap = keymap;
    assert!(press(&mut a, "F5").is_empty());
    assert!(matches!(press(&mut a, "F9")[..], [Cmd::Send { .. }]));
    press(&mut a, "?");
    assert!(screen(&a).contains("F9"));
}

fn client_for(endpoint: &str) -> Client {
    Client::new(
        Target {
            endpoint: url::Url::parse(endpoint).expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client")
}

fn options(config_toml: &str, demo: bool, dir: &std::path::Path) -> volcv::tui::TuiOptions {
    let client = Client::new(
        Target {
            endpoint: url::Url::parse("http://127.0.0.1:9/").expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client");
    volcv::tui::TuiOptions {
        mode: volcv::api::tasks::Mode::Sync,
        sweep_limits: (1.0, 4),
        load: None,
        send_blocked: None,
        client,
        loaded: volcv::config::Loaded {
            config: volcv::config::parse(config_toml).expect("config"),
            paths: volcv::config::Paths {
                config_file: dir.join("config.toml"),
                data_dir: dir.join("data"),
                state_dir: dir.join("state"),
            },
            from_file: true,
            warnings: Vec::new(),
        },
        demo: demo.then(|| "http://127.0.0.1:9/".to_owned()),
        theme: None,
        profile_label: "work".into(),
        image_protocol: None,
    }
}

#[test]
fn prepare_applies_config_defaults_theme_keys_and_demo_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = volcv::tui::prepare(
        &options(
            "[defaults]\nseed = 42\n[ui]\ntheme = \"light\"\n[keys]\nsend = \"F9\"\nbogus = \"x\"\n",
            true,
            dir.path(),
        ),
        "log",
        Rect::new(0, 0, 100, 30),
    );
    let a = p.app;
    assert_eq!(a.form.body["seed"], json!(42));
    assert_eq!(a.theme, Theme::load("light", None).0);
    assert_eq!(a.keymap.label(volcv::tui::keymap::Action::Send), "F9");
    assert_eq!(p.warnings, ["[keys]: unknown action \"bogus\""]);
    assert!(a.status.clone().expect("status").text.contains("bogus"));
    assert_eq!(a.info().profile, "demo (mock)");
    assert!(a.form.request().is_ok(), "the demo form is ready to send");
    // The demo keeps its own history, apart from requests to the real service.
    assert_eq!(p.history_dir, dir.path().join("data/demo"));
    assert_eq!(p.images_dir, dir.path().join("data/demo/images"));
    // Without --demo nothing is invented.
    let p = volcv::tui::prepare(
        &options("", false, dir.path()),
        "log",
        Rect::new(0, 0, 100, 30),
    );
    assert!(p.app.form.request().is_err());
    assert_eq!(p.app.info().profile, "work");
}

#[test]
fn the_image_protocol_comes_from_the_flag_then_the_config() {
    use volcv::tui::preview::ProtocolChoice;
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = options("[ui]\nimage_protocol = \"sixel\"\n", false, dir.path());
    assert_eq!(
        volcv::tui::protocol_choice(&o),
        (ProtocolChoice::Sixel, None)
    );
    o.image_protocol = Some(ProtocolChoice::None);
    assert_eq!(volcv::tui::protocol_choice(&o).0, ProtocolChoice::None);
    // An unknown value is a warning and means auto.
    let o = options("[ui]\nimage_protocol = \"png\"\n", false, dir.path());
    let (choice, warning) = volcv::tui::protocol_choice(&o);
    assert_eq!(choice, ProtocolChoice::Auto);
    assert!(warning.is_some_and(|w| w.starts_with("ui.image_protocol: unknown image protocol")));
    let p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert!(
        p.warnings.iter().any(|w| w.contains("\"png\"")),
        "{:?}",
        p.warnings
    );
}

// ---------------------------------------------------------------- the real loop

struct TestHost {
    terminal: Terminal<TestBackend>,
    events: Option<tokio::sync::mpsc::UnboundedReceiver<HostEvent>>,
}

impl Host for TestHost {
    type B = TestBackend;

    fn terminal(&mut self) -> &mut Terminal<TestBackend> {
        &mut self.terminal
    }

    fn events(&mut self) -> Events {
        use futures::StreamExt as _;
        match self.events.take() {
            Some(rx) => {
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
                )
                .boxed()
            }
            None => futures::stream::pending().boxed(),
        }
    }

    async fn edit(&mut self, _: EditTarget, text: &str) -> Result<String, String> {
        Ok(text.to_owned())
    }

    fn copy(&mut self, _: &str) {}
}

fn key_event(k: &str) -> HostEvent {
    let k = Key::parse(k).expect("key");
    HostEvent::Term(ratatui::crossterm::event::Event::Key(KeyEvent::new(
        k.code, k.mods,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_loop_sends_to_the_mock_and_shows_the_answer() {
    let mock = volcv::mock::MockServer::start(volcv::mock::MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        latency: Duration::from_millis(300),
        quiet: true,
        ..Default::default()
    })
    .await
    .expect("mock");
    let client = Client::new(
        Target {
            endpoint: url::Url::parse(&mock.url()).expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client");
    let data = tempfile::tempdir().expect("tmp");
    let mut a = ready_app();
    // The mock answers with base64 so the image is decoded and saved by the worker.
    select(&mut a, "return_url");
    press(&mut a, "space");
    let (worker_tx, mut worker_rx) = tokio::sync::mpsc::unbounded_channel();
    let (loop_tx, mut loop_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(worker_tx, client, data.path().join("images"));
    // Forward worker messages to the loop; once the image is saved, press q.
    let quit_tx = ev_tx.clone();
    let forward = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(m) = worker_rx.recv().await {
            let done = matches!(m, Msg::ImageSaved { .. });
            seen.push(format!("{m:?}").chars().take(40).collect::<String>());
            let _ = loop_tx.send(m);
            if done {
                let _ = quit_tx.send(key_event("q"));
            }
        }
        seen
    });
    ev_tx.send(key_event("F5")).expect("send");
    let mut host = TestHost {
        terminal: Terminal::new(TestBackend::new(100, 30)).expect("term"),
        events: Some(ev_rx),
    };
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(30),
        run_loop(&mut host, &mut a, &worker, &mut loop_rx),
    )
    .await
    .expect("the loop ends within 30 s")
    .expect("the loop runs cleanly");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(a.quit());
    let shown = host.terminal.backend().to_string();
    assert!(shown.contains("✔ 10000 success"), "{shown}");
    let entry = &a.history.entries()[0];
    let view = entry.view().expect("finished");
    assert_eq!(view.verdict, Verdict::Success);
    assert!(
        view.body.to_text().contains("<jpeg 1024x1024, "),
        "{}",
        view.body.to_text()
    );
    let saved = std::fs::read_dir(data.path().join("images"))
        .expect("images dir")
        .count();
    assert_eq!(saved, 1);
    drop(worker);
    drop(ev_tx);
    mock.shutdown().await;
    let _ = forward.await;
}

/// A host whose editor answers from a script, and that reports a signal during an edit.
struct ScriptedHost {
    terminal: Terminal<TestBackend>,
    /// Shared by every input stream: one dropped while the editor runs loses no event.
    events: std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<HostEvent>>>,
    /// What each edit returns, in order (then the text unchanged).
    answers: std::collections::VecDeque<String>,
    /// The texts each edit was opened on.
    opened: Vec<String>,
    /// The signal "received" while the edit with this index ran.
    signal_during: Option<usize>,
    signal: Option<&'static str>,
}

impl ScriptedHost {
    fn new(events: tokio::sync::mpsc::UnboundedReceiver<HostEvent>) -> ScriptedHost {
        ScriptedHost {
            terminal: Terminal::new(TestBackend::new(100, 30)).expect("term"),
            events: std::sync::Arc::new(tokio::sync::Mutex::new(events)),
            answers: Default::default(),
            opened: Vec::new(),
            signal_during: None,
            signal: None,
        }
    }
}

impl Host for ScriptedHost {
    type B = TestBackend;

    fn terminal(&mut self) -> &mut Terminal<TestBackend> {
        &mut self.terminal
    }

    fn events(&mut self) -> Events {
        use futures::StreamExt as _;
        futures::stream::unfold(std::sync::Arc::clone(&self.events), |rx| async move {
            let e = rx.lock().await.recv().await;
            e.map(|e| (Ok(e), rx))
        })
        .boxed()
    }

    async fn edit(&mut self, _: EditTarget, text: &str) -> Result<String, String> {
        if self.signal_during == Some(self.opened.len()) {
            self.signal = Some("SIGTERM");
        }
        self.opened.push(text.to_owned());
        Ok(self.answers.pop_front().unwrap_or_else(|| text.to_owned()))
    }

    fn copy(&mut self, _: &str) {}

    fn take_signal(&mut self) -> Option<&'static str> {
        self.signal.take()
    }
}

fn idle_worker(dir: &std::path::Path) -> (Worker, tokio::sync::mpsc::UnboundedReceiver<Msg>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client_for("http://127.0.0.1:9/"), dir.join("images"));
    (worker, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_reopens_the_editor_on_a_broken_request_and_a_signal_meanwhile_ends_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (worker, mut rx) = idle_worker(dir.path());
    let mut a = ready_app();
    let before = a.form.state();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    ev_tx.send(key_event("ctrl-e")).expect("send");
    let mut host = ScriptedHost::new(ev_rx);
    host.answers.push_back("{\"seed\": 5".into());
    host.answers.push_back("{\"seed\": 5}".into());
    ev_tx.send(key_event("q")).expect("send");
    tokio::time::timeout(
        Duration::from_secs(30),
        run_loop(&mut host, &mut a, &worker, &mut rx),
    )
    .await
    .expect("the loop ends")
    .expect("cleanly");
    // Broken, so opened again on the same text with the error on top; then fixed.
    assert_eq!(host.opened.len(), 2, "{:?}", host.opened);
    assert!(
        host.opened[1].starts_with("// volcv: "),
        "{}",
        host.opened[1]
    );
    assert!(
        host.opened[1].ends_with("{\"seed\": 5"),
        "{}",
        host.opened[1]
    );
    assert_eq!(a.form.body["seed"], json!(5));
    // A SIGTERM while the editor runs: the loop ends once it is closed, opens no editor again,
    // and keeps the unusable text.
    let mut a = ready_app();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    ev_tx.send(key_event("ctrl-e")).expect("send");
    let mut host = ScriptedHost::new(ev_rx);
    host.answers.push_back("{\"seed\": 5".into());
    host.signal_during = Some(0);
    tokio::time::timeout(
        Duration::from_secs(30),
        run_loop(&mut host, &mut a, &worker, &mut rx),
    )
    .await
    .expect("the loop ends on the signal, with no key")
    .expect("cleanly");
    assert!(a.quit());
    assert_eq!(host.opened.len(), 1);
    assert_eq!(a.form.state(), before);
    assert_eq!(a.unapplied_request(), Some("{\"seed\": 5"));
    drop(ev_tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_is_kept_as_a_draft_and_restored_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = options("", false, dir.path());
    let draft = dir.path().join("data").join(volcv::tui::draft::DRAFT_FILE);
    // First run: the form is changed, the loop ends, the draft is on disk.
    let p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.draft_path, draft);
    let mut a = p.app;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client_for("http://127.0.0.1:9/"), p.images_dir)
        .with_draft(p.draft_path.clone());
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut host = TestHost {
        terminal: Terminal::new(TestBackend::new(100, 30)).expect("term"),
        events: Some(ev_rx),
    };
    a.update(Msg::Paste(
        json!({
            "req_key": "byteedit_v2.0",
            "prompt": "make it blue",
            "image_urls": ["https://example.com/cat.jpg"],
            "seed": 77
        })
        .to_string(),
    ));
    select(&mut a, "seed");
    for k in ["enter", "w", "i", "d", "e", "enter", "q"] {
        ev_tx.send(key_event(k)).expect("send");
    }
    tokio::time::timeout(
        Duration::from_secs(30),
        run_loop(&mut host, &mut a, &worker, &mut rx),
    )
    .await
    .expect("the loop ends")
    .expect("cleanly");
    let saved = a.form.state();
    assert_eq!(
        saved.raw.get("seed").map(|(t, _)| t.as_str()),
        Some("77wide")
    );
    assert!(draft.exists(), "no draft at {}", draft.display());
    // Next start: the same form (model, values, typed text, reference), with a note.
    let mut p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.app.form.state(), saved);
    assert_eq!(p.app.form.schema.req_key, "byteedit_v2.0");
    assert_eq!(p.app.form.body["seed"], json!(77));
    let seed_row = p.app.form.row_of("seed").expect("row");
    assert_eq!(p.app.form.display(seed_row), ("77wide".to_owned(), true));
    let note = status_text(&p.app);
    assert!(
        note.starts_with("form restored from the last draft"),
        "{note}"
    );
    press(&mut p.app, "u");
    assert_eq!(p.app.form.schema.req_key, "high_aes_ip_v20");
    // A corrupt draft: a note, a fresh form, the file kept aside (not deleted).
    std::fs::write(&draft, "{\"volcv_draft\": 1, \"req_key\": ").expect("write");
    let p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.app.form.schema.req_key, "high_aes_ip_v20");
    let w = p.warnings.join("\n");
    assert!(w.contains("is unusable") && w.contains("kept as"), "{w}");
    assert!(!draft.exists());
    let aside: Vec<_> = std::fs::read_dir(draft.parent().expect("dir"))
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("draft.unusable-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read_to_string(aside[0].path()).expect("read"),
        "{\"volcv_draft\": 1, \"req_key\": "
    );
    drop(ev_tx);
}

// ---------------------------------------------------------------- images and previews

const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [50, 80, 230], [240, 220, 40]];
const GREY: [u8; 3] = [128, 128, 128];

fn solid_png_b64(w: u32, h: u32, rgb: [u8; 3]) -> String {
    use base64::Engine as _;
    let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .expect("encode");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A success with `n` solid-colour results and a grey reference sent inline.
fn images_exchange(n: usize) -> Exchange {
    let results: Vec<String> = COLOURS[..n]
        .iter()
        .map(|c| solid_png_b64(64, 64, *c))
        .collect();
    let body = json!({
        "code": 10000,
        "data": {"binary_data_base64": results, "image_urls": null, "request_id": "r"},
        "message": "Success",
        "request_id": "2024010203040500009",
        "status": 10000,
        "time_elapsed": "1.2s"
    });
    let mut ex = exchange(
        200,
        "application/json",
        body.to_string().as_bytes(),
        "10000",
    );
    ex.request_body = json!({
        "req_key": "high_aes_ip_v20",
        "binary_data_base64": [solid_png_b64(48, 64, GREY)],
        "prompt": "a cat",
        "seed": -1
    })
    .to_string();
    ex
}

/// Runs what the worker would for the encodings the app asks for (half-blocks), feeding the
/// answers back until it asks for nothing more. Returns how many encodings were made.
fn pump(a: &mut App, cmds: Vec<Cmd>) -> usize {
    pump_with(a, cmds, &ratatui_image::picker::Picker::halfblocks())
}

/// [`pump`] with the encodings made by `picker` (any protocol), as the worker makes them.
fn pump_with(a: &mut App, cmds: Vec<Cmd>, picker: &ratatui_image::picker::Picker) -> usize {
    pump_encoding(a, cmds, &|image, width, height| {
        volcv::tui::worker::encode_preview(picker, image, width, height)
    })
}

type Encoder<'a> =
    dyn Fn(&image::DynamicImage, u16, u16) -> Result<volcv::tui::preview::Encoded, String> + 'a;

/// [`pump`] with the encodings `encode` makes.
fn pump_encoding(a: &mut App, mut cmds: Vec<Cmd>, encode: &Encoder<'_>) -> usize {
    let mut n = 0;
    while let Some(c) = cmds.pop() {
        if let Cmd::EncodePreview {
            key,
            generation,
            image,
            width,
            height,
        } = c
        {
            n += 1;
            let result = encode(&image, width, height);
            cmds.extend(a.update(Msg::PreviewEncoded {
                key,
                generation,
                width,
                height,
                result,
            }));
        }
    }
    n
}

/// Plays the worker's decoding of the shown request's images, then its encodings.
fn decode_all(a: &mut App, ex: &Exchange) {
    decode_all_with(a, ex, &ratatui_image::picker::Picker::halfblocks());
}

/// [`decode_all`] with the encodings made by `picker`.
fn decode_all_with(a: &mut App, ex: &Exchange, picker: &ratatui_image::picker::Picker) {
    decode_all_encoding(a, ex, &|image, width, height| {
        volcv::tui::worker::encode_preview(picker, image, width, height)
    });
}

/// [`decode_all`] with the encodings `encode` makes.
fn decode_all_encoding(a: &mut App, ex: &Exchange, encode: &Encoder<'_>) {
    use base64::Engine as _;
    let id = a.shown().expect("shown").id;
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("b64")
    };
    let req: Value = serde_json::from_str(&ex.request_body).expect("json");
    let reference = b64(req["binary_data_base64"][0].as_str().expect("ref"));
    let resp: Value = serde_json::from_slice(&ex.response_bytes).expect("json");
    let mut msgs = vec![Msg::PreviewDecoded {
        key: ImageKey::Reference { id },
        result: volcv::tui::worker::decode_for_preview(&reference),
    }];
    for (index, r) in resp["data"]["binary_data_base64"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
    {
        msgs.push(Msg::PreviewDecoded {
            key: ImageKey::Result { id, index },
            result: volcv::tui::worker::decode_for_preview(&b64(r.as_str().expect("s"))),
        });
    }
    for m in msgs {
        let cmds = a.update(m);
        pump_encoding(a, cmds, encode);
    }
}

fn images_app(n: usize) -> (App, Exchange) {
    let ex = images_exchange(n);
    // The form sends the same inline reference the exchange records.
    let mut a = ready_app();
    a.form.reference = Reference::Image(volcv::tui::form::LoadedImage {
        path: None,
        bytes: 329,
        format: "PNG",
        dims: Some((48, 64)),
        base64: solid_png_b64(48, 64, GREY).into(),
    });
    a.form.revalidate();
    let cmds = press(&mut a, "F5");
    let Some(Cmd::Send { id, body }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    assert_eq!(
        body["binary_data_base64"][0].as_str(),
        Some(solid_png_b64(48, 64, GREY).as_str())
    );
    let id = *id;
    fix_time(&mut a);
    a.update(Msg::Finished {
        id,
        view: Box::new(view_of(&ex)),
        duration: ex.duration,
    });
    a.previews = Previews::new(true);
    a.focus = Pane::Response;
    (a, ex)
}

fn render_buffer(app: &App) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("term");
    t.draw(|f| volcv::tui::render::render(app, f))
        .expect("draw");
    t.backend().buffer().clone()
}

/// Cells whose half-block colours are within a few steps of `rgb`.
fn cells_coloured(buf: &ratatui::buffer::Buffer, rgb: [u8; 3]) -> usize {
    let near = |c: ratatui::style::Color| match c {
        ratatui::style::Color::Rgb(r, g, b) => {
            [r, g, b].iter().zip(rgb).all(|(x, y)| x.abs_diff(y) <= 6)
        }
        _ => false,
    };
    buf.content()
        .iter()
        .filter(|c| near(c.fg) || near(c.bg))
        .count()
}

/// The Response pane as letters for the half-block colours of each cell (upper half, then
/// lower half): R G B Y for the results' colours, `.` for the grey reference, `-` otherwise.
fn colour_map(a: &App, buf: &ratatui::buffer::Buffer) -> String {
    let letter = |c: ratatui::style::Color| {
        let ratatui::style::Color::Rgb(r, g, b) = c else {
            return '-';
        };
        let near = |rgb: [u8; 3]| [r, g, b].iter().zip(rgb).all(|(x, y)| x.abs_diff(y) <= 6);
        match COLOURS.iter().position(|c| near(*c)) {
            Some(i) => ['R', 'G', 'B', 'Y'][i],
            None if near(GREY) => '.',
            None => '-',
        }
    };
    let r = a.areas().response;
    let mut out = String::new();
    for y in r.y..r.y + r.height {
        for x in r.x..r.x + r.width {
            let cell = &buf[(x, y)];
            // Half-blocks draw `▀` with the upper colour as fg and the lower as bg, or a
            // space with only bg when both halves agree.
            let (up, down) = if cell.symbol() == "▀" {
                (cell.fg, cell.bg)
            } else {
                (cell.bg, cell.bg)
            };
            out.push(letter(up));
            out.push(letter(down));
        }
        out.push('\n');
    }
    out
}

#[test]
fn snapshot_images_tab_with_one_two_and_four_results() {
    for n in [1, 2, 4] {
        let (mut a, ex) = images_app(n);
        decode_all(&mut a, &ex);
        insta::assert_snapshot!(format!("images_{n}_results_100x30"), screen(&a));
        let buf = render_buffer(&a);
        insta::assert_snapshot!(format!("images_{n}_results_colours"), colour_map(&a, &buf));
        // Every picture is drawn, in its own colour, beside the others.
        assert!(cells_coloured(&buf, GREY) >= 4, "reference not drawn ({n})");
        for c in &COLOURS[..n] {
            assert!(
                cells_coloured(&buf, *c) >= 4,
                "result {c:?} not drawn ({n})"
            );
        }
        for c in &COLOURS[n..] {
            assert_eq!(cells_coloured(&buf, *c), 0, "{c:?} drawn with only {n}");
        }
    }
}

#[test]
fn the_history_pane_shows_a_thumbnail_of_the_selected_request() {
    let (mut a, ex) = images_app(1);
    let before = render_buffer(&a);
    decode_all(&mut a, &ex);
    let after = render_buffer(&a);
    let h = a.areas().history;
    let red_in_history = |buf: &ratatui::buffer::Buffer| {
        (h.y..h.y + h.height)
            .flat_map(|y| (h.x..h.x + h.width).map(move |x| (x, y)))
            .filter(|p| {
                let c = &buf[*p];
                [c.fg, c.bg].contains(&ratatui::style::Color::Rgb(220, 40, 40))
            })
            .count()
    };
    assert_eq!(red_in_history(&before), 0);
    assert!(red_in_history(&after) >= 10);
    // The list keeps its text beside it.
    assert!(screen(&a).contains("12:34:56 ✔"));
}

#[test]
fn previews_say_decoding_until_the_worker_answers_and_are_encoded_once() {
    let (mut a, ex) = images_app(2);
    let text = screen(&a);
    // The inline reference is decoding; the results are still being saved (two cells, and
    // the selected result's state line).
    assert_eq!(text.matches("decoding…").count(), 1, "{text}");
    assert_eq!(text.matches("saving…").count(), 3, "{text}");
    decode_all(&mut a, &ex);
    assert!(!screen(&a).contains("decoding…"));
    // Only the state line still says the file is being saved; the pictures are drawn.
    assert_eq!(screen(&a).matches("saving…").count(), 1);
    // Redrawing and unrelated keys ask for no new encoding: the cache serves them.
    for k in ["j", "k", "j"] {
        let cmds = press(&mut a, k);
        assert_eq!(pump(&mut a, cmds), 0, "re-encoded after {k}");
    }
    // A new size is encoded once (three cells and the History thumbnail), then cached too.
    let cmds = a.update(Msg::Resize(120, 40));
    assert_eq!(pump(&mut a, cmds), 4);
    let cmds = a.update(Msg::Resize(120, 40));
    assert_eq!(pump(&mut a, cmds), 0);
    // A picture that cannot be decoded says why instead of waiting forever.
    let (mut b, _) = images_app(1);
    let id = b.shown().expect("shown").id;
    b.update(Msg::PreviewDecoded {
        key: ImageKey::Result { id, index: 0 },
        result: volcv::tui::worker::decode_for_preview(b"<html>"),
    });
    assert!(screen(&b).contains("✘ not a JPEG or PNG"), "{}", screen(&b));
}

#[test]
fn image_keys_select_show_full_screen_and_save() {
    let (mut a, ex) = images_app(2);
    decode_all(&mut a, &ex);
    let id = a.shown().expect("shown").id;
    // Files are named as the CLI names them: volcv-<date>-<time>-<request id tail>.
    let stem = volcv::exchange::results::file_stem(&ex);
    assert!(stem.starts_with("volcv-20"), "{stem}");
    // The first result is selected at first (the reference comes before it).
    assert_eq!(a.image_selection(), 1);
    press(&mut a, "j");
    press(&mut a, "j");
    assert_eq!(a.image_selection(), 2, "stops at the last image");
    press(&mut a, "g");
    assert_eq!(a.image_selection(), 0);
    press(&mut a, "j");
    assert_eq!(a.image_selection(), 1);
    // f: full screen at the terminal's size, encoded for it; any key returns.
    let cmds = press(&mut a, "f");
    assert!(matches!(
        a.overlays().top(),
        Some(Overlay::Fullscreen(k)) if *k == ImageKey::Result { id, index: 0 }
    ));
    assert_eq!(pump(&mut a, cmds), 1);
    let text = screen(&a);
    assert!(text.contains("result 1 · 64x64 PNG"), "{text}");
    assert!(text.contains("any key returns"), "{text}");
    assert!(cells_coloured(&render_buffer(&a), COLOURS[0]) > 200);
    press(&mut a, "q");
    assert!(!a.overlays().has(OverlayKind::Fullscreen));
    assert!(
        !a.quit(),
        "the key that closes full screen does nothing else"
    );
    // s: a path prompt with a default; not saved yet (the result is still being saved).
    a.save_dir = "/tmp/out".into();
    let cmds = press(&mut a, "s");
    assert!(cmds.is_empty());
    assert!(!a.overlays().has(OverlayKind::Save));
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("nothing to save yet")),
        "{:?}",
        a.status
    );
    a.update(Msg::ImageSaved {
        id,
        index: 0,
        state: volcv::tui::view::ImageState::Saved("/data/volcv-1-1.png".into()),
        facts: None,
    });
    press(&mut a, "s");
    let Some(Overlay::Save(prompt)) = a.overlays().top() else {
        panic!("no save prompt");
    };
    // The stored file's hash name is not offered: the readable one is.
    assert_eq!(
        prompt.input.lines().join(""),
        format!("/tmp/out/{stem}-1.png")
    );
    assert!(screen(&a).contains("Save the image as"));
    press(&mut a, "ctrl-u");
    type_text(&mut a, "~/cat.png");
    let cmds = press(&mut a, "enter");
    assert_eq!(
        cmds,
        [Cmd::SaveImage {
            source: ImageSource::File("/data/volcv-1-1.png".into()),
            path: "~/cat.png".into(),
        }]
    );
    // o: everything that has bytes (the inline reference and the saved result) into a folder.
    press(&mut a, "o");
    let cmds = press(&mut a, "enter");
    let [Cmd::SaveAll { items, dir }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(dir, &std::path::PathBuf::from(format!("/tmp/out/{stem}")));
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[0].0, ImageSource::Base64(_)));
    assert_eq!(items[0].1, format!("{stem}-reference"));
    assert_eq!(items[1].1, format!("{stem}-1"));
    // Esc in the prompt saves nothing.
    press(&mut a, "o");
    assert!(press(&mut a, "esc").is_empty());
    assert!(!a.overlays().has(OverlayKind::Save));
}

#[test]
fn a_fit_prompt_opened_under_the_help_is_drawn_on_top_and_answers_the_next_key() {
    // The worker's answer comes while the help is shown: the question must be on screen
    // before a key answers it, and the key must go to what is on screen.
    let mut a = app();
    press(&mut a, "?");
    assert!(a.overlays().has(OverlayKind::Help));
    a.form.reference = Reference::Loading("/photos/pano.jpg".into());
    a.update(Msg::ReferenceOverLimits {
        input: "/photos/pano.jpg".into(),
        problems: vec!["9000x1000 px: aspect ratio over 3:1".into()],
    });
    let text = screen(&a);
    assert!(text.contains("aspect ratio over 3:1"), "{text}");
    assert!(text.contains("y fit it"), "{text}");
    assert_eq!(
        press(&mut a, "y"),
        [Cmd::FitReference("/photos/pano.jpg".into())]
    );
    // The help is back on top, and the next key is the help's.
    assert!(!a.overlays().has(OverlayKind::ConfirmFit));
    assert!(matches!(a.overlays().top(), Some(Overlay::Help { .. })));
    press(&mut a, "esc");
    assert!(a.overlays().is_empty());
}

#[test]
fn a_reference_over_the_limits_asks_before_fitting() {
    let mut a = app();
    a.form.reference = Reference::Loading("/photos/pano.jpg".into());
    a.update(Msg::ReferenceOverLimits {
        input: "/photos/pano.jpg".into(),
        problems: vec!["9000x1000 px: aspect ratio over 3:1".into()],
    });
    assert!(matches!(a.form.reference, Reference::Failed { .. }));
    let text = screen(&a);
    assert!(text.contains("aspect ratio over 3:1"), "{text}");
    assert!(text.contains("y fit it"), "{text}");
    // Any other key leaves it alone.
    assert!(press(&mut a, "n").is_empty());
    assert!(!a.overlays().has(OverlayKind::ConfirmFit));
    assert!(matches!(a.form.reference, Reference::Failed { .. }));
    // y asks the worker for a fitted copy.
    a.form.reference = Reference::Loading("/photos/pano.jpg".into());
    a.update(Msg::ReferenceOverLimits {
        input: "/photos/pano.jpg".into(),
        problems: vec!["too wide".into()],
    });
    assert_eq!(
        press(&mut a, "y"),
        [Cmd::FitReference("/photos/pano.jpg".into())]
    );
    assert_eq!(
        a.form.reference,
        Reference::Loading("/photos/pano.jpg".into())
    );
}

#[tokio::test]
async fn the_parameters_pane_previews_a_loaded_reference() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("ref.png");
    image::RgbImage::from_pixel(300, 200, image::Rgb(COLOURS[2]))
        .save(&path)
        .expect("save");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(
        tx,
        client_for("http://127.0.0.1:9/"),
        dir.path().join("out"),
    )
    .with_previews(volcv::tui::preview::Setup::halfblocks());
    let mut a = app();
    a.previews = Previews::new(true);
    let input = path.display().to_string();
    a.form.reference = Reference::Loading(input.clone());
    worker.run(Cmd::LoadReference(input));
    // ReferenceLoaded, then PreviewDecoded, then the encoding the app asks for.
    let mut encoded = false;
    while !encoded {
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("in time")
            .expect("msg");
        encoded = matches!(m, Msg::PreviewEncoded { .. });
        for c in a.update(m) {
            worker.run(c);
        }
    }
    assert!(matches!(a.form.reference, Reference::Image(_)));
    assert!(a.params_preview());
    assert!(cells_coloured(&render_buffer(&a), COLOURS[2]) >= 10);
}

/// A JPEG of pseudo-random pixels: large on disk (no compression to speak of).
fn noisy_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761);
        image::Rgb([(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 100)
        .encode_image(&img)
        .expect("jpeg");
    out
}

/// The UI task stands in as a timer on a single-threaded runtime: if the worker decoded,
/// resized or encoded on it, the timer would stall for the whole decode.
#[tokio::test(flavor = "current_thread")]
async fn a_20_mb_jpeg_never_stalls_the_ui_task() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("huge.jpg");
    let bytes = noisy_jpeg(2600, 1950);
    assert!(bytes.len() > 19_000_000, "{} bytes", bytes.len());
    std::fs::write(&path, &bytes).expect("write");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(
        tx,
        client_for("http://127.0.0.1:9/"),
        dir.path().join("out"),
    )
    .with_previews(volcv::tui::preview::Setup::halfblocks());
    let mut a = app();
    a.previews = Previews::new(true);
    let input = path.display().to_string();
    // Over the limits (bytes and size): offered a fit, which decodes, crops, scales and
    // re-encodes the whole image; then the preview is decoded and encoded.
    a.form.reference = Reference::Loading(input.clone());
    worker.run(Cmd::LoadReference(input.clone()));
    let started = Instant::now();
    let mut last = Instant::now();
    let mut max_gap = Duration::ZERO;
    let mut ticks = 0u32;
    let mut keys = 0u32;
    loop {
        tokio::select! {
            m = rx.recv() => {
                let m = m.expect("worker alive");
                let done = matches!(m, Msg::PreviewEncoded { .. });
                for c in a.update(m) {
                    worker.run(c);
                }
                if a.overlays().has(OverlayKind::ConfirmFit) {
                    for c in press(&mut a, "y") {
                        worker.run(c);
                    }
                }
                if done {
                    break;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {
                // Typing goes on meanwhile.
                press(&mut a, "j");
                keys += 1;
                ticks += 1;
                max_gap = max_gap.max(last.elapsed());
                last = Instant::now();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker too slow"
        );
    }
    let work = started.elapsed();
    assert!(
        matches!(a.form.reference, Reference::Image(_)),
        "{:?}",
        a.status
    );
    assert!(
        work > Duration::from_millis(200),
        "too little work to prove anything: {work:?}"
    );
    assert!(ticks > 10 && keys > 10);
    assert!(
        max_gap < Duration::from_millis(150),
        "the UI task stalled {max_gap:?} during {work:?} of image work"
    );
}

#[test]
fn an_image_dropped_from_memory_is_decoded_again_from_its_file_when_shown() {
    let (mut a, ex) = images_app(1);
    decode_all(&mut a, &ex);
    let id = a.shown().expect("shown").id;
    let key = ImageKey::Result { id, index: 0 };
    a.update(Msg::ImageSaved {
        id,
        index: 0,
        state: volcv::tui::view::ImageState::Saved("/data/r.png".into()),
        facts: None,
    });
    // As if evicted while another request was shown.
    a.previews.decoded.remove(&key);
    a.previews.evicted.insert(key.clone());
    let cmds = a.update(Msg::Resize(100, 30));
    assert_eq!(
        cmds,
        [Cmd::DecodePreview {
            key: key.clone(),
            source: ImageSource::File("/data/r.png".into()),
        }]
    );
    // Asked once, not on every message.
    assert!(a.update(Msg::Resize(100, 30)).is_empty());
    let cmds = a.update(Msg::PreviewDecoded {
        key: key.clone(),
        result: Ok(std::sync::Arc::new(image::DynamicImage::new_rgb8(8, 8))),
    });
    assert!(!a.previews.evicted.contains(&key));
    assert!(
        matches!(cmds.as_slice(), [Cmd::EncodePreview { .. }, ..]),
        "{cmds:?}"
    );
}

// ---------------------------------------------------------------- hostile text

/// Characters that must never reach a terminal cell raw.
fn raw_controls(screen: &ratatui::buffer::Buffer) -> Vec<String> {
    screen
        .content
        .iter()
        .map(|c| c.symbol().to_owned())
        .filter(|s| {
            s.chars().any(|c| {
                let n = c as u32;
                n < 0x20
                    || n == 0x7f
                    || (0x80..0xa0).contains(&n)
                    || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            })
        })
        .collect()
}

#[test]
fn hostile_server_text_is_shown_escaped_in_every_tab() {
    let evil = "\u{202E}gnp.exe\u{1b}]0;pwned\u{7}\u{1b}[2J\u{0}\u{9b}31m";
    let huge = "x".repeat(1_000_000);
    let body = json!({
        "code": 50411,
        "message": evil,
        "request_id": format!("rid{evil}"),
        "data": {"rephraser_result": huge, "note": evil},
    })
    .to_string();
    let mut ex = exchange(200, "application/json", body.as_bytes(), "50411");
    ex.response_headers.push(("x-evil".into(), evil.into()));
    let mut a = app_with(&ex);
    let html = format!("<html>{evil}</html>");
    let non_json = exchange(502, "text/html", html.as_bytes(), "HTTP 502");
    let mut b = app_with(&non_json);
    for app in [&mut a, &mut b] {
        for tab in Tab::ALL {
            app.tab = tab;
            let buf = render_buffer(app);
            assert_eq!(raw_controls(&buf), Vec::<String>::new(), "{tab:?}");
        }
    }
    a.tab = Tab::Body;
    let text = screen(&a);
    assert!(
        text.contains("\\u{202e}gnp.exe\\x1b]0;pwned\\x07"),
        "{text}"
    );
    // A million-character string is cut, not drawn.
    assert!(text.contains("(1000000 chars)") || !text.contains(&"x".repeat(300)));
}

#[test]
fn the_last_guard_drops_controls_that_reach_a_cell() {
    // Text drawn without escaping (a widget handed raw text) puts zero-width bidi overrides
    // into cells; the scrub every frame ends with removes them and any control character.
    use ratatui::widgets::{Paragraph, Widget as _};
    let area = Rect::new(0, 0, 30, 1);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    Paragraph::new("abc\u{202E}def\u{2066}ghi").render(area, &mut buf);
    buf.content[20].set_symbol("\u{1b}");
    assert!(!raw_controls(&buf).is_empty(), "the raw text reached cells");
    volcv::tui::render::scrub(&mut buf);
    assert_eq!(raw_controls(&buf), Vec::<String>::new());
    let text: String = buf.content.iter().map(|c| c.symbol()).collect();
    assert!(text.starts_with("abcdefghi"), "{text:?}");
}

// ---------------------------------------------------------------- curl out and in

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_action_copies_a_command_without_the_key_and_a_paste_imports_it_back() {
    const KEY: &str = "sk-test-9f8e7d6c5b4a";
    let client = Client::new(
        Target {
            endpoint: url::Url::parse("http://127.0.0.1:9/").expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::Bearer(volcv::api::secret::Secret::new(KEY)),
        },
        Options::default(),
    )
    .expect("client");
    let data = tempfile::tempdir().expect("tmp");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client, data.path().join("images"));
    let mut a = ready_app();
    a.form.set("seed", json!(4242));
    let cmds = press(&mut a, "C");
    let Some(Cmd::Curl(body)) = cmds.first().cloned() else {
        panic!("no curl command asked for: {cmds:?}")
    };
    assert_eq!(body["seed"], json!(4242));
    worker.run(Cmd::Curl(body.clone()));
    let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("in time")
        .expect("a message");
    let cmds = a.update(msg);
    let Some(Cmd::Copy(text)) = cmds.first() else {
        panic!("not copied: {cmds:?} {:?}", a.status)
    };
    assert!(text.starts_with("curl -sS -X POST 'http://127.0.0.1:9/?Action=CVProcess"));
    assert!(text.contains("${VOLCV_API_KEY}"), "{text}");
    assert!(!text.contains(KEY), "the key never reaches the clipboard");

    // Pasting it (with an extra field) into a fresh form fills every value back.
    let mut b = app();
    let with_extra = text.replacen("\"seed\":4242", "\"seed\":4242,\"x_extra\":1", 1);
    b.update(Msg::Paste(with_extra));
    assert_eq!(b.form.body["seed"], json!(4242));
    assert_eq!(b.form.prompt_text(), "一只戴帽子的猫 in the snow");
    assert_eq!(
        b.form.reference,
        Reference::Url("https://example.com/cat.jpg".into())
    );
    let status = b.status.clone().expect("status").text;
    assert!(
        status.contains("curl command") && status.contains("x_extra"),
        "{status}"
    );
    // A JSON body works too; anything else leaves the form as it was.
    let mut c = app();
    c.update(Msg::Paste(
        r#"{"req_key":"high_aes_ip_v20","prompt":"from json","seed":7}"#.into(),
    ));
    assert_eq!(c.form.body["seed"], json!(7));
    assert_eq!(c.form.prompt_text(), "from json");
    c.update(Msg::Paste("just some words".into()));
    assert_eq!(c.form.prompt_text(), "from json");
    c.update(Msg::Paste("{ not json".into()));
    assert!(c.status.expect("status").error);

    // A command too long for the clipboard is written to a file instead.
    let long = format!("curl -sS {}", "x".repeat(volcv::tui::app::COPY_CAP + 1));
    let cmds = a.update(Msg::CurlReady(Ok(long)));
    assert!(
        matches!(cmds.first(), Some(Cmd::WriteText { path, .. }) if path.to_string_lossy().contains("volcv-curl-")),
        "{cmds:?}"
    );
}

#[test]
fn load_fills_the_form_from_a_file_and_a_bad_one_is_a_named_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = options("", false, dir.path());
    o.load = Some((
        "req.json".into(),
        r#"{"req_key":"high_aes_ip_v20","prompt":"loaded","seed":31,"image_urls":["https://example.com/x.jpg"]}"#.into(),
    ));
    let p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.app.form.body["seed"], json!(31));
    assert_eq!(p.app.form.prompt_text(), "loaded");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    o.load = Some(("notes.txt".into(), "hello there".into()));
    let p = volcv::tui::prepare(&o, "log", Rect::new(0, 0, 100, 30));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].starts_with("--load notes.txt: "),
        "{:?}",
        p.warnings
    );
}

// ------------------------------------------- graphics protocols on the real crossterm backend

/// What a server might slip into its answer to drive the terminal: a window-title OSC, a sixel
/// image of its own, kitty's image-cell character and a bidi override.
const HOSTILE: &str =
    "\u{10EEEE}x \u{202E}evil \u{1b}]0;pwned\u{7} \u{1b}Pq#0;2;99;0;0#0~~~~\u{1b}\\";

fn picker_for(protocol: ratatui_image::picker::ProtocolType) -> ratatui_image::picker::Picker {
    // The only public constructor with a known cell size (what the start-up query finds).
    #[allow(deprecated)]
    let mut p = ratatui_image::picker::Picker::from_fontsize(ratatui_image::FontSize::new(10, 20));
    p.set_protocol_type(protocol);
    p
}

/// kitty's U+10EEEE image cells, as ratatui-image encodes them (what the worker uses inside
/// tmux, where `encode_preview` detects tmux from the environment).
fn kitty_cell_images(
    image: &image::DynamicImage,
    width: u16,
    height: u16,
) -> Result<volcv::tui::preview::Encoded, String> {
    picker_for(ratatui_image::picker::ProtocolType::Kitty)
        .new_protocol(
            image.clone(),
            ratatui::layout::Size::new(width, height),
            ratatui_image::Resize::Scale(None),
        )
        .map(|p| volcv::tui::preview::Encoded::Widget(std::sync::Arc::new(p)))
        .map_err(|e| e.to_string())
}

/// [`hostile_images_app`] with kitty's U+10EEEE image cells.
fn hostile_cell_images_app() -> App {
    hostile_app_encoding(&kitty_cell_images)
}

/// Four results, a reference, the History thumbnail and a server message with escapes in it,
/// encoded for `protocol` as the worker does.
fn hostile_images_app(protocol: ratatui_image::picker::ProtocolType) -> App {
    let picker = picker_for(protocol);
    hostile_app_encoding(&|image, width, height| {
        volcv::tui::worker::encode_preview(&picker, image, width, height)
    })
}

fn hostile_app_encoding(encode: &Encoder<'_>) -> App {
    let (mut a, mut ex) = images_app(4);
    let mut body: Value = serde_json::from_slice(&ex.response_bytes).expect("json");
    body["message"] = json!(HOSTILE);
    ex.response_bytes = body.to_string().into_bytes();
    ex.result = Ok(parse_response(
        200,
        Some("application/json"),
        &ex.response_bytes,
    ));
    let id = a.shown().expect("shown").id;
    a.update(Msg::Finished {
        id,
        view: Box::new(view_of(&ex)),
        duration: ex.duration,
    });
    decode_all_encoding(&mut a, &ex, encode);
    a
}

/// The real crossterm backend writing into memory, the terminal as the UI's event loop
/// drives it, and the images of the frame on screen.
struct ByteTerm {
    term: Terminal<volcv::tui::terminal::NoQuery<ratatui::backend::CrosstermBackend<Sink>>>,
    sink: Sink,
    shown: volcv::tui::render::Drawn,
}

/// A [`ByteTerm`] the size of `a`'s screen.
fn byte_terminal(a: &App) -> ByteTerm {
    let sink = Sink::default();
    let backend = volcv::tui::terminal::NoQuery::with_size(
        ratatui::backend::CrosstermBackend::new(sink.clone()),
        a.size.as_size(),
    );
    ByteTerm {
        term: Terminal::new(backend).expect("terminal"),
        sink,
        shown: Default::default(),
    }
}

/// Draws one frame as the event loop does and returns the bytes the terminal would receive.
fn frame_bytes(t: &mut ByteTerm, a: &App) -> Vec<u8> {
    volcv::tui::event_loop::draw_frame(&mut t.term, a, &mut t.shown).expect("draw");
    t.sink.take()
}

/// Every ESC in `out` starts a CSI (crossterm's cursor and colour control) or one of `images`.
fn stray_escapes(out: &[u8], images: &[&[u8]]) -> usize {
    let mut rest = out.to_vec();
    for img in images {
        if let Some(at) = find(&rest, img) {
            rest.drain(at..at + img.len());
        }
    }
    rest.windows(2)
        .filter(|w| w[0] == 0x1b && w[1] != b'[')
        .count()
}

#[test]
fn kitty_placed_images_reach_the_terminal_whole_and_once() {
    use ratatui_image::picker::ProtocolType;
    let a = hostile_images_app(ProtocolType::Kitty);
    let mut t = byte_terminal(&a);
    let out = frame_bytes(&mut t, &a);
    let apcs = sequences(&out, b"\x1b_G", b"\x1b\\");
    // Transmit-and-place, PNG, the cursor left alone, answers suppressed: one per image.
    let firsts = apcs
        .iter()
        .filter(|s| s.starts_with(b"\x1b_Ga=T,f=100,i=") && find(s, b",q=2,C=1,").is_some())
        .count();
    assert_eq!(firsts, 6, "placements: {firsts}");
    assert!(
        kitty_commands_well_formed(&apcs),
        "a kitty command is not whole"
    );
    assert_eq!(
        stray_escapes(&out, &apcs),
        0,
        "an escape that is neither CSI nor an image"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("]0;pwned\u{7}"), "the server set the title");
    assert!(
        !text.contains('\u{10EEEE}'),
        "the server's image-cell character passed on"
    );
    let again = frame_bytes(&mut t, &a);
    assert!(
        find(&again, b"\x1b_G").is_none() && again.len() < 2048,
        "a redraw re-sent {} bytes",
        again.len()
    );
}

#[test]
fn kitty_cell_images_reach_the_terminal_whole_and_once() {
    let a = hostile_cell_images_app();
    let mut t = byte_terminal(&a);
    let out = frame_bytes(&mut t, &a);
    // One transmission per image: APC `_G` ... ST, chunked, with a virtual placement.
    let apcs = sequences(&out, b"\x1b_G", b"\x1b\\");
    let firsts: Vec<&&[u8]> = apcs
        .iter()
        .filter(|s| find(s, b"a=T,U=1,f=32,").is_some())
        .collect();
    // Four results and the reference in the Images tab, the first result again in History.
    assert_eq!(firsts.len(), 6, "transmissions: {}", firsts.len());
    assert!(
        kitty_commands_well_formed(&apcs),
        "a kitty command is not whole"
    );
    let text = String::from_utf8_lossy(&out);
    let cells = text.matches('\u{10EEEE}').count();
    assert!(cells > 100, "image cells: {cells}");
    assert_eq!(
        stray_escapes(&out, &apcs),
        0,
        "an escape that is neither CSI nor an image"
    );
    assert!(!text.contains("]0;pwned\u{7}"), "the server set the title");
    assert!(!text.contains("\u{202E}"));
    // The server's image-cell character is not passed on as one (it would show one of our images).
    assert!(!text.contains("\u{10EEEE}x"));
    // The next frame, with nothing changed, sends nothing again.
    let again = frame_bytes(&mut t, &a);
    assert!(
        find(&again, b"\x1b_G").is_none() && again.len() < 2048,
        "a redraw re-sent {} bytes",
        again.len()
    );
}

#[test]
fn sixel_images_reach_the_terminal_whole_and_once() {
    use ratatui_image::picker::ProtocolType;
    let a = hostile_images_app(ProtocolType::Sixel);
    let mut t = byte_terminal(&a);
    let out = frame_bytes(&mut t, &a);
    // DCS P ... q <sixel data> ST, each after the erase of its own area.
    let dcs = sequences(&out, b"\x1bP", b"\x1b\\");
    let ours: Vec<&&[u8]> = dcs.iter().filter(|s| s.contains(&b'q')).collect();
    assert_eq!(ours.len(), 6, "sixel images: {}", ours.len());
    assert!(
        ours.iter().all(|s| sixel_well_formed(s)),
        "a sixel image with a byte outside the sixel alphabet"
    );
    assert_eq!(
        dcs.len(),
        6,
        "a DCS that is not one of ours reached the terminal"
    );
    let images: Vec<&[u8]> = ours.iter().map(|s| **s).collect();
    assert_eq!(
        stray_escapes(&out, &images),
        0,
        "an escape that is neither CSI nor an image"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("]0;pwned\u{7}"));
    let again = frame_bytes(&mut t, &a);
    assert!(
        find(&again, b"\x1bP").is_none() && again.len() < 2048,
        "a redraw re-sent {} bytes",
        again.len()
    );
}

#[test]
fn iterm2_images_reach_the_terminal_whole_and_once() {
    use ratatui_image::picker::ProtocolType;
    let a = hostile_images_app(ProtocolType::Iterm2);
    let mut t = byte_terminal(&a);
    let out = frame_bytes(&mut t, &a);
    let oscs = sequences(&out, b"\x1b]1337;File=", b"\x07");
    assert_eq!(oscs.len(), 6, "iTerm2 images: {}", oscs.len());
    for s in &oscs {
        let colon = s
            .iter()
            .position(|b| *b == b':')
            .expect("':' before the payload");
        assert!(find(&s[..colon], b"inline=1").is_some(), "not inline");
        assert!(
            s[colon + 1..s.len() - 1]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
            "payload is not base64"
        );
    }
    assert_eq!(
        stray_escapes(&out, &oscs),
        0,
        "an escape that is neither CSI nor an image"
    );
    let again = frame_bytes(&mut t, &a);
    assert!(find(&again, b"\x1b]1337").is_none() && again.len() < 2048);
}

#[test]
fn an_overlay_over_images_hides_them_and_closing_it_draws_them_again() {
    use ratatui_image::picker::ProtocolType;
    let mut a = hostile_images_app(ProtocolType::Sixel);
    let mut t = byte_terminal(&a);
    let first = frame_bytes(&mut t, &a);
    assert_eq!(sequences(&first, b"\x1bP", b"\x1b\\").len(), 6);
    // Help over the panes: no image is drawn through it, and every cell an image held is
    // written again (no pixels of the old images stay around it).
    press(&mut a, "?");
    let help = frame_bytes(&mut t, &a);
    assert!(
        find(&help, b"\x1bP").is_none(),
        "an image drawn through the overlay"
    );
    assert!(screen(&a).contains("Help") || screen(&a).contains("help"));
    // Painted pixels stay on a terminal's screen whatever text is written over them: the
    // screen is erased before the overlay is drawn.
    assert!(
        find(&help, b"\x1b[2J").is_some(),
        "old pixels left under the overlay"
    );
    // Closed: the images come back, each sent again once, on a cleared screen.
    press(&mut a, "esc");
    let back = frame_bytes(&mut t, &a);
    assert!(find(&back, b"\x1b[2J").is_some());
    assert_eq!(
        sequences(&back, b"\x1bP", b"\x1b\\").len(),
        6,
        "images not redrawn"
    );
    // A key that changes no image sends no image and does not clear.
    press(&mut a, "j");
    let key = frame_bytes(&mut t, &a);
    assert!(find(&key, b"\x1bP").is_none() && find(&key, b"\x1b[2J").is_none());
}

#[test]
fn full_screen_and_back_repaints_without_the_big_image() {
    use ratatui_image::picker::ProtocolType;
    let picker = picker_for(ProtocolType::Sixel);
    let mut a = hostile_images_app(ProtocolType::Sixel);
    let mut t = byte_terminal(&a);
    frame_bytes(&mut t, &a);
    let cmds = press(&mut a, "f");
    assert!(
        a.overlays().has(OverlayKind::Fullscreen),
        "f did not open the full-screen view"
    );
    pump_with(&mut a, cmds, &picker);
    let full = frame_bytes(&mut t, &a);
    assert!(
        find(&full, b"\x1b[2J").is_some(),
        "the pane images stay under the full-screen view"
    );
    assert_eq!(
        sequences(&full, b"\x1bP", b"\x1b\\").len(),
        1,
        "one image, full screen"
    );
    press(&mut a, "esc");
    assert!(!a.overlays().has(OverlayKind::Fullscreen));
    let back = frame_bytes(&mut t, &a);
    assert!(
        find(&back, b"\x1b[2J").is_some(),
        "the full-screen image stays behind"
    );
    assert_eq!(sequences(&back, b"\x1bP", b"\x1b\\").len(), 6);
    // kitty's placed images are deleted by a graphics command before the repaint.
    let mut k = hostile_images_app(ProtocolType::Kitty);
    let mut t = byte_terminal(&k);
    frame_bytes(&mut t, &k);
    let cmds = press(&mut k, "f");
    pump_with(&mut k, cmds, &picker_for(ProtocolType::Kitty));
    let full = frame_bytes(&mut t, &k);
    assert!(
        find(&full, b"\x1b_Ga=d,d=A,q=2;\x1b\\").is_some(),
        "old placements kept"
    );
    assert_eq!(
        sequences(&full, b"\x1b_Ga=T,", b"\x1b\\").len(),
        1,
        "one placement, full screen"
    );
    press(&mut k, "esc");
    let back = frame_bytes(&mut t, &k);
    assert!(find(&back, b"\x1b_Ga=d,d=A,q=2;\x1b\\").is_some());
    assert_eq!(sequences(&back, b"\x1b_Ga=T,", b"\x1b\\").len(), 6);
    // Image cells (inside tmux) are cells: no clear is needed, and the transmissions are
    // not repeated.
    let mut k = hostile_cell_images_app();
    let mut t = byte_terminal(&k);
    frame_bytes(&mut t, &k);
    let cmds = press(&mut k, "f");
    pump_encoding(&mut k, cmds, &kitty_cell_images);
    let full = frame_bytes(&mut t, &k);
    assert!(find(&full, b"\x1b[2J").is_none());
    press(&mut k, "esc");
    let back = frame_bytes(&mut t, &k);
    assert!(find(&back, b"\x1b[2J").is_none());
    assert!(
        find(&back, b"a=T,").is_none(),
        "kitty images transmitted twice"
    );
    assert!(String::from_utf8_lossy(&back).contains('\u{10EEEE}'));
}

#[test]
fn kitty_images_survive_an_overlay_opened_before_their_first_frame() {
    // Image cells transmit once, in the first frame that draws them: not under an overlay.
    let mut a = hostile_cell_images_app();
    press(&mut a, "?");
    let mut t = byte_terminal(&a);
    let under = frame_bytes(&mut t, &a);
    assert!(
        find(&under, b"\x1b_G").is_none(),
        "transmitted under the overlay"
    );
    press(&mut a, "esc");
    let back = frame_bytes(&mut t, &a);
    let sent = sequences(&back, b"\x1b_G", b"\x1b\\")
        .iter()
        .filter(|s| find(s, b"a=T,").is_some())
        .count();
    assert_eq!(
        sent, 6,
        "an image's transmission was lost under the overlay"
    );
}

#[test]
fn server_text_that_looks_like_an_image_is_text() {
    // Half-blocks: every cell is text, so every escape is scrubbed.
    let a = hostile_images_app(ratatui_image::picker::ProtocolType::Halfblocks);
    let mut t = byte_terminal(&a);
    let out = frame_bytes(&mut t, &a);
    assert_eq!(stray_escapes(&out, &[]), 0);
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains('\u{10EEEE}'));
    assert!(!text.contains('\u{202E}'));
}

#[test]
fn moving_in_history_with_sixel_previews_repaints_and_a_still_key_sends_nothing() {
    use ratatui_image::picker::ProtocolType;
    let picker = picker_for(ProtocolType::Sixel);
    let (mut a, ex) = images_app(2);
    decode_all_with(&mut a, &ex, &picker);
    // A second request with the same answer: the newest is shown, the first below it.
    let cmds = press(&mut a, "F5");
    let Some(Cmd::Send { id, .. }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    let id = *id;
    a.update(Msg::Finished {
        id,
        view: Box::new(view_of(&ex)),
        duration: ex.duration,
    });
    decode_all_with(&mut a, &ex, &picker);
    let mut t = byte_terminal(&a);
    let first = frame_bytes(&mut t, &a);
    assert!(!sequences(&first, b"\x1bP", b"\x1b\\").is_empty());
    a.focus = Pane::History;
    let before = a.shown().map(|e| e.id);
    let cmds = press(&mut a, "j");
    pump_with(&mut a, cmds, &picker);
    assert_ne!(a.shown().map(|e| e.id), before, "j did not move in History");
    // The older request's images, after the screen is cleared of the newer one's.
    let cmds = a.update(Msg::Tick(std::time::Instant::now()));
    pump_with(&mut a, cmds, &picker);
    decode_all_with(&mut a, &ex, &picker);
    let moved = frame_bytes(&mut t, &a);
    assert!(
        find(&moved, b"\x1b[2J").is_some(),
        "the other request's pixels stay"
    );
    assert!(!sequences(&moved, b"\x1bP", b"\x1b\\").is_empty());
    // At the end of the list j moves nothing: no image is sent, nothing cleared.
    press(&mut a, "j");
    let still = frame_bytes(&mut t, &a);
    assert!(find(&still, b"\x1bP").is_none() && find(&still, b"\x1b[2J").is_none());
}

/// The footer's hints as drawn, one `key what` per item.
fn footer_hints(a: &App) -> Vec<String> {
    let shown = screen(a);
    let last = shown.lines().last().unwrap_or_default();
    last.trim_matches('"')
        .split("  ")
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Puts the app in one state of the keys.
type SetUp = fn(&mut App);

#[test]
fn footer_hints_that_do_not_fit_are_left_out_whole_and_help_stays() {
    // Each state of the keys; at 80 and 100 columns every hint drawn is one of the hints
    // drawn at 300 columns (none is cut), and `? help` is there outside editing.
    let states: [(&str, SetUp); 8] = [
        ("params", |_| {}),
        ("response", |a| a.focus = Pane::Response),
        ("images", |a| {
            a.focus = Pane::Response;
            a.tab = Tab::Images;
        }),
        ("history", |a| a.focus = Pane::History),
        ("history kept search", |a| {
            a.focus = Pane::History;
            a.history.filter = "moon".into();
        }),
        ("search line", |a| {
            a.history.stored = true;
            press(a, "/");
        }),
        ("editing", |a| {
            select(a, "seed");
            press(a, "enter");
        }),
        ("prompt", |a| {
            select(a, "prompt");
            press(a, "enter");
        }),
    ];
    for (name, set_up) in states {
        let mut a = app_sized(300, 30);
        set_up(&mut a);
        let all = footer_hints(&a);
        let editing = a.form.editing.is_some()
            || a.form.prompt_active
            || a.overlays().has(OverlayKind::Search);
        for (w, h) in [(80, 24), (100, 30)] {
            a.size = Rect::new(0, 0, w, h);
            let shown = footer_hints(&a);
            assert!(!shown.is_empty(), "{name} at {w}: no hints");
            for hint in &shown {
                assert!(
                    all.contains(hint),
                    "{name} at {w}: {hint:?} cut; all: {all:?}"
                );
            }
            if !editing {
                assert!(
                    shown.iter().any(|h| h == "? help"),
                    "{name} at {w}: {shown:?}"
                );
            }
        }
    }
}

#[test]
fn fields_the_model_does_not_know_are_shown_sent_named_and_removable() {
    let mut a = ready_app();
    let mut body = a.form.editable_json();
    body["x_extra"] = json!(17);
    body["logo_info"]["x_note"] = json!("hi");
    a.update(Msg::Paste(body.to_string()));
    // Each has a row under its own heading, with its value and how to remove it.
    let row = a.form.row_of("x_extra").expect("a row for x_extra");
    assert!(a.form.row_of("logo_info.x_note").is_some());
    assert_eq!(a.form.display(row).0, "17");
    a.form.select(row, 20);
    a.focus = Pane::Params;
    let s = screen(&a);
    assert!(s.contains("Not fields of high_aes_ip_v20"), "{s}");
    let line = s
        .lines()
        .find(|l| l.contains("x_extra"))
        .expect("row drawn");
    assert!(line.contains("? 17") && line.contains("d removes"), "{s}");
    assert!(s.contains("d/Delete removes it; not a field of"), "{s}");
    // Sending says that they go with the request.
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { body, .. }] = &cmds[..] else {
        panic!("not sent: {:?}", a.status)
    };
    assert_eq!(body["x_extra"], json!(17));
    let text = status_text(&a);
    assert!(
        text.contains("sent; with logo_info.x_note, x_extra (not fields of high_aes_ip_v20"),
        "{text}"
    );
    // d on the row removes it (u brings it back); the next send goes without it.
    press(&mut a, "1");
    a.form.select(a.form.row_of("x_extra").expect("row"), 20);
    press(&mut a, "d");
    assert!(a.form.row_of("x_extra").is_none());
    assert!(
        status_text(&a).contains("x_extra removed"),
        "{}",
        status_text(&a)
    );
    let cmds = press(&mut a, "F5");
    let [Cmd::Send { body, .. }] = &cmds[..] else {
        panic!("not sent: {:?}", a.status)
    };
    assert!(body.get("x_extra").is_none(), "{body}");
    assert_eq!(body["logo_info"]["x_note"], json!("hi"));
    press(&mut a, "1");
    press(&mut a, "u");
    assert!(a.form.row_of("x_extra").is_some(), "undone");
    // d on a row of the model's own does nothing.
    select(&mut a, "seed");
    let before = a.form.state();
    press(&mut a, "d");
    assert_eq!(a.form.state(), before);
}

#[test]
fn a_fixed_field_leaves_no_stale_last_error() {
    let mut a = ready_app();
    a.focus = Pane::Params;
    for field in ["scale", "seed"] {
        select(&mut a, field);
        press(&mut a, "enter");
        press(&mut a, "ctrl-u");
        type_text(&mut a, "x");
        press(&mut a, "enter");
    }
    assert!(press(&mut a, "F5").is_empty());
    assert!(a.last_error().is_some_and(|e| e.contains("scale")));
    // Fixing scale: the kept error now names only what still blocks the send.
    select(&mut a, "scale");
    press(&mut a, "enter");
    press(&mut a, "ctrl-u");
    type_text(&mut a, "3");
    press(&mut a, "enter");
    let kept = a.last_error().expect("seed still blocks").to_owned();
    assert!(kept.starts_with("cannot send: seed "), "{kept}");
    assert!(!kept.contains("scale"), "{kept}");
    // Fixing the last one: nothing is left in the status bar.
    select(&mut a, "seed");
    press(&mut a, "R");
    assert_eq!(a.last_error(), None);
    assert!(!screen(&a).contains("last error"), "{}", screen(&a));
}
