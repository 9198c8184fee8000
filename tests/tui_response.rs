//! The Response pane can be read and its keys work (issue #15): `y` copies the data rather
//! than what is drawn, long lines wrap with a position in the title, and the History keys
//! (`*`, `n`, `e`, `d`) act on the shown entry.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use serde_json::{Value, json};
use std::time::Duration;
use volcv::api::client::{Attempt, Exchange};
use volcv::api::response::parse_response;
use volcv::api::schema;
use volcv::tui::app::{App, Info, Pane, Tab};
use volcv::tui::form::Reference;
use volcv::tui::keymap::{Key, KeyMap};
use volcv::tui::msg::{Cmd, HistoryCmd, Msg};
use volcv::tui::overlay::Overlay;
use volcv::tui::theme::Theme;
use volcv::tui::view::view_of;

fn app_sized(w: u16, h: u16) -> App {
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
        Rect::new(0, 0, w, h),
    );
    a.form.reference = Reference::Url("https://example.com/cat.jpg".into());
    let mut b = a.form.editable_json();
    b["prompt"] = json!("a cat in the snow");
    a.form.replace_values(&b);
    a
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

fn exchange(request: &Value, body: &Value) -> Exchange {
    let bytes = body.to_string().into_bytes();
    Exchange {
        method: "POST".into(),
        url: "http://127.0.0.1:8787/?Action=CVProcess&Version=2022-08-31".into(),
        action: "CVProcess".into(),
        request_headers: vec![("Content-Type".into(), "application/json".into())],
        request_body: request.to_string(),
        http_status: Some(200),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_bytes: bytes.clone(),
        started_at: time::macros::datetime!(2024-01-02 03:04:05 UTC),
        duration: Duration::from_millis(1520),
        attempts: vec![Attempt {
            at: Duration::ZERO,
            duration: Duration::from_millis(1520),
            http_status: Some(200),
            result: "10000".into(),
        }],
        result: Ok(parse_response(200, Some("application/json"), &bytes)),
        scrubbed: 0,
    }
}

/// A base64 string long enough to be shown as a chip (any bytes: the chip says `?`).
fn b64() -> String {
    "QUJD".repeat(100)
}

fn success_body(rephrased: &str) -> Value {
    json!({
        "code": 10000,
        "data": {
            "binary_data_base64": [b64()],
            "rephraser_result": rephrased,
        },
        "message": "Success",
        "request_id": "2024010203040500001",
        "status": 10000,
    })
}

/// An app that sent its form and got `body` back; the Response pane is focused.
fn answered(a: &mut App, body: &Value) {
    let cmds = press(a, "F5");
    let Some(Cmd::Send { id, body: sent, .. }) = cmds.first() else {
        panic!("not sent: {:?}", a.status)
    };
    let ex = exchange(sent, body);
    a.update(Msg::Finished {
        id: *id,
        view: Box::new(view_of(&ex)),
        duration: ex.duration,
    });
    press(a, "2");
}

fn copied(a: &mut App) -> String {
    let cmds = press(a, "y");
    match &cmds[..] {
        [Cmd::Copy(text)] => text.clone(),
        _ => panic!("nothing copied: {cmds:?} {}", status(a)),
    }
}

#[test]
fn y_on_the_body_tab_copies_the_json_as_received_not_the_chips() {
    let mut a = app_sized(100, 30);
    let body = success_body("a cat");
    answered(&mut a, &body);
    a.tab = Tab::Body;
    let text = copied(&mut a);
    assert!(text.contains(&b64()), "the data, not its chip: {text}");
    let back: Value = serde_json::from_str(&text).expect("the copy is JSON");
    assert_eq!(back, body);
}

#[test]
fn a_body_over_the_copy_cap_is_not_kept_twice_and_y_says_why() {
    let mut a = app_sized(100, 30);
    let mut body = success_body("a cat");
    body["data"]["binary_data_base64"] = json!(["QUJD".repeat(40_000)]);
    answered(&mut a, &body);
    a.tab = Tab::Body;
    assert!(press(&mut a, "y").is_empty(), "nothing copied");
    assert!(
        status(&a).contains("over the 100000 byte clipboard cap"),
        "{}",
        status(&a)
    );
    let ex = exchange(&json!({}), &body);
    let v = view_of(&ex);
    assert!(
        v.raw_body.is_none(),
        "a body no copy can take is not held a second time"
    );
    assert_eq!(v.body_len, ex.response_bytes.len());
}

#[test]
fn y_on_the_request_tab_copies_the_request_json() {
    let mut a = app_sized(100, 30);
    answered(&mut a, &success_body("a cat"));
    a.tab = Tab::Request;
    let text = copied(&mut a);
    let back: Value = serde_json::from_str(&text).expect("the copy is JSON, without the POST line");
    assert_eq!(back["prompt"], json!("a cat in the snow"));
    assert_eq!(back["image_urls"], json!(["https://example.com/cat.jpg"]));
}

#[test]
fn y_on_the_reference_row_copies_the_url_alone() {
    let mut a = app_sized(100, 30);
    let row = a
        .form
        .row_of(schema::REFERENCE_URL)
        .expect("a reference row");
    assert!(
        a.form.display(row).0.starts_with("URL "),
        "the row shows a label"
    );
    a.form.select(row, 20);
    assert_eq!(a.focus, Pane::Params);
    assert_eq!(copied(&mut a), "https://example.com/cat.jpg");
}

/// An answered app whose entry was recorded as history row 7.
fn recorded() -> App {
    let mut a = app_sized(100, 30);
    answered(&mut a, &success_body("a cat"));
    let id = a.shown().map(|e| e.id).expect("an entry");
    a.update(Msg::Recorded { id, result: Ok(7) });
    assert_eq!(a.focus, Pane::Response);
    a
}

#[test]
fn star_in_the_response_pane_stars_the_shown_entry() {
    let mut a = recorded();
    assert_eq!(
        press(&mut a, "*"),
        [Cmd::History(HistoryCmd::Star {
            store_id: 7,
            star: true
        })]
    );
}

#[test]
fn note_and_delete_in_the_response_pane_ask_about_the_shown_entry() {
    let mut a = recorded();
    let id = a.shown().map(|e| e.id).expect("an entry");
    press(&mut a, "n");
    assert!(
        matches!(a.overlays().top(), Some(Overlay::Note { id: n, .. }) if *n == id),
        "no note dialog: {:?}",
        a.overlays().top().map(Overlay::kind)
    );
    press(&mut a, "esc");
    assert!(a.overlays().is_empty());
    press(&mut a, "d");
    assert!(
        matches!(a.overlays().top(), Some(Overlay::ConfirmDelete(d)) if *d == id),
        "no delete question: {:?}",
        a.overlays().top().map(Overlay::kind)
    );
}

#[test]
fn e_in_the_response_pane_loads_the_shown_entry_into_the_form() {
    let mut a = recorded();
    let mut b = a.form.editable_json();
    b["prompt"] = json!("a dog");
    a.form.replace_values(&b);
    press(&mut a, "e");
    assert_eq!(a.form.prompt_text(), "a cat in the snow", "{}", status(&a));
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("term");
    t.draw(|f| volcv::tui::render::render(app, f))
        .expect("draw");
    t.backend().to_string()
}

/// The screen's text without line breaks and borders, so that wrapped text reads on.
fn joined(app: &App) -> String {
    let areas = app.areas();
    let r = areas.response;
    screen(app)
        .lines()
        .skip(usize::from(r.y) + 1)
        .take(usize::from(r.height.saturating_sub(2)))
        .map(|l| {
            l.chars()
                .skip(usize::from(r.x) + 1)
                .take(usize::from(r.width.saturating_sub(2)))
                .collect::<String>()
        })
        .collect::<String>()
        .replace(' ', "")
}

#[test]
fn a_long_line_on_the_body_tab_wraps_by_display_width_and_can_be_read_to_its_end() {
    let mut a = app_sized(100, 30);
    let long = format!("{}END", "一只戴帽子的猫in the snow,".repeat(12));
    answered(&mut a, &success_body(&long));
    a.tab = Tab::Body;
    // Scrolled to the end, every row of the long line is on screen at some point: read it all.
    let mut seen = joined(&a);
    for _ in 0..40 {
        press(&mut a, "j");
        seen.push_str(&joined(&a));
    }
    assert!(
        seen.contains("END\""),
        "the end of the line is never shown: {seen}"
    );
}

#[test]
fn the_response_border_shows_the_position_and_more_marks() {
    let mut a = app_sized(100, 30);
    answered(&mut a, &success_body("a cat"));
    a.tab = Tab::Request;
    let total = a.tab_len();
    let s = screen(&a);
    assert!(s.contains(" 1-"), "{s}");
    assert!(
        s.contains(&format!("/{total} ▼ ")),
        "no position or more-below mark: {s}"
    );
    assert!(!s.contains("▲"), "{s}");
    press(&mut a, "G");
    let s = screen(&a);
    assert!(s.contains(&format!("-{total}/{total} ")), "{s}");
    assert!(s.contains("▲ ") && !s.contains(" ▼"), "{s}");
    // The Images tab says which image is selected (the result, after the reference).
    a.tab = Tab::Images;
    assert!(screen(&a).contains(" 2/2 "), "{}", screen(&a));
}

#[test]
fn scrolling_reaches_the_last_row_of_a_line_taller_than_the_pane() {
    let mut a = app_sized(100, 24);
    // About 30 rows at the pane's width, more than the pane shows at once.
    let long = format!("{}END", "word ".repeat(300));
    answered(&mut a, &success_body(&long));
    a.tab = Tab::Body;
    press(&mut a, "G");
    let s = joined(&a);
    assert!(
        s.contains("wordEND\""),
        "the long line's end is not reached: {s}"
    );
    assert!(s.ends_with('}'), "the last line is not at the bottom: {s}");
    // And back up to the top.
    press(&mut a, "g");
    assert_eq!((a.response_scroll(), a.response_skip()), (0, 0));
    for _ in 0..5 {
        press(&mut a, "j");
    }
    for _ in 0..5 {
        press(&mut a, "k");
    }
    assert_eq!((a.response_scroll(), a.response_skip()), (0, 0));
}
