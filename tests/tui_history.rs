//! The History pane on the real history store: requests recorded by the CLI listed at start,
//! TUI sends recorded, star / note / delete written through, search, replay, compare, rows
//! from another process appearing live, and lazy paging. The app is driven through
//! `App::update` with the real worker against the embedded mock on 127.0.0.1.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use volcv::api::client::{Auth, Client, Options, Target};
use volcv::api::schema;
use volcv::mock::{MockConfig, MockServer};
use volcv::store::{OutcomeKind, Query, Store};
use volcv::tui::app::{App, Info, Pane};
use volcv::tui::form::Reference;
use volcv::tui::history::EntryState;
use volcv::tui::keymap::{Key, KeyMap};
use volcv::tui::msg::Msg;
use volcv::tui::overlay::{Overlay, OverlayKind};
use volcv::tui::theme::Theme;
use volcv::tui::view::{ImageState, Verdict};
use volcv::tui::worker::Worker;

mod common;
use common::term::Sink;

const REFERENCE_URL: &str = "https://example.com/volcv-test-reference.jpg";

async fn mock() -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..Default::default()
    })
    .await
    .expect("mock")
}

fn client(url: &str) -> Client {
    Client::new(
        Target {
            endpoint: url::Url::parse(url).expect("url"),
            action: "CVProcess".into(),
            version: "2022-08-31".into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client")
}

/// `volcv send` recording into `data`, as a user would run it from another shell.
fn cli_send(home: &Path, data: &Path, url: &str, prompt: &str, seed: i64) {
    let out = common::volcv_cmd(home)
        .env("VOLCV_DATA_DIR", data)
        .args([
            "send",
            "--endpoint",
            url,
            "--auth",
            "none",
            "--image",
            REFERENCE_URL,
            "--set",
            &format!("prompt={prompt}"),
            "--set",
            &format!("seed={seed}"),
            "--out",
            "out",
        ])
        .output()
        .expect("run volcv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An app whose form is ready to send (a reference URL and a prompt).
fn ready_app() -> App {
    let body = schema::default_schema().default_body();
    let mut a = App::new(
        &body,
        KeyMap::default(),
        Theme::builtin_default(),
        Info::default(),
        Rect::new(0, 0, 120, 36),
    );
    a.form.reference = Reference::Url(REFERENCE_URL.into());
    let mut body = a.form.editable_json();
    body["prompt"] = json!("a lighthouse at dusk, oil painting");
    body["seed"] = json!(777);
    a.form.replace_values(&body);
    a
}

struct Ui {
    app: App,
    worker: Worker,
    rx: UnboundedReceiver<Msg>,
}

impl Ui {
    fn new(url: &str, data: &Path) -> Ui {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let worker =
            Worker::new(tx, client(url), data.join("images")).with_history(data.into(), "test");
        let mut app = ready_app();
        for c in app.start() {
            worker.run(c);
        }
        Ui { app, worker, rx }
    }

    fn key(&mut self, k: &str) {
        let k = Key::parse(k).expect("key");
        for c in self.app.update(Msg::Key(KeyEvent::new(k.code, k.mods))) {
            self.worker.run(c);
        }
    }

    fn type_text(&mut self, text: &str) {
        for ch in text.chars() {
            let k = if ch == ' ' {
                "space".to_owned()
            } else {
                ch.to_string()
            };
            self.key(&k);
        }
    }

    /// Feeds worker messages to the app until `done` holds (30 s at most).
    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let wait = async {
            while !done(&self.app) {
                let m = self.rx.recv().await.expect("worker alive");
                for c in self.app.update(m) {
                    self.worker.run(c);
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for: {what}; status {:?}",
                    self.app.status
                )
            });
    }

    fn prompts(&self) -> Vec<String> {
        self.app
            .history
            .entries()
            .iter()
            .map(|e| e.prompt.clone())
            .collect()
    }

    fn screen(&self) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 36)).expect("term");
        t.draw(|f| volcv::tui::render::render(&self.app, f))
            .expect("draw");
        t.backend().to_string()
    }
}

fn shown_done(a: &App) -> bool {
    a.shown().is_some_and(|e| e.view().is_some())
}

fn selected_store_id(a: &App) -> i64 {
    a.shown().and_then(|e| e.store_id).expect("a recorded row")
}

/// The presets overlay, when open.
fn presets(a: &App) -> Option<&volcv::tui::app::PresetsView> {
    match a.overlays().get(OverlayKind::Presets) {
        Some(Overlay::Presets(p)) => Some(p),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_pane_works_on_the_store_shared_with_the_cli() {
    let mock = mock().await;
    let url = mock.url();
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    cli_send(home.path(), &data, &url, "a red fox in the snow", 11);
    cli_send(home.path(), &data, &url, "a blue moon over the sea", 22);

    // Start: the CLI's requests are listed, newest first, and the newest is opened.
    let mut ui = Ui::new(&url, &data);
    ui.until("first page and the newest entry opened", |a| {
        a.history.entries().len() == 2 && shown_done(a)
    })
    .await;
    assert_eq!(
        ui.prompts(),
        ["a blue moon over the sea", "a red fox in the snow"]
    );
    let view = ui.app.shown().and_then(|e| e.view()).expect("opened");
    assert_eq!(view.verdict, Verdict::Success);
    let images_dir = data.join("images");
    let result = view
        .images
        .iter()
        .find(|i| i.state != ImageState::Reference)
        .expect("a result image");
    match &result.state {
        ImageState::Saved(p) => assert!(p.starts_with(&images_dir), "{}", p.display()),
        other => panic!("result not pointing at the store: {other:?}"),
    }
    assert!(ui.screen().contains("(2)"), "{}", ui.screen());

    // A TUI send is recorded: pending first, then success with its image in the store.
    ui.key("F5");
    ui.until("the TUI request recorded and its image saved", |a| {
        a.history.entries().len() == 3
            && a.history.entries()[0].store_id.is_some()
            && a.history.entries()[0].view().is_some_and(|v| {
                v.images
                    .iter()
                    .any(|i| matches!(i.state, ImageState::Saved(_)))
            })
    })
    .await;
    let store = Store::open(&data).expect("open");
    let sent_id = ui.app.history.entries()[0].store_id.expect("recorded");
    let entry = store.get(sent_id).expect("get").expect("row");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    assert_eq!(
        entry.summary.prompt.as_deref(),
        Some("a lighthouse at dusk, oil painting")
    );
    assert!(entry.summary.result_images >= 1);

    // Star and note are written to the store.
    ui.key("3");
    assert_eq!(ui.app.focus, Pane::History);
    ui.key("*");
    ui.until("starred", |a| a.history.entries()[0].star()).await;
    ui.key("n");
    ui.type_text("keeper");
    ui.key("enter");
    ui.until("noted", |a| a.history.entries()[0].note() == Some("keeper"))
        .await;
    let s = store.get(sent_id).expect("get").expect("row").summary;
    assert!(s.star);
    assert_eq!(s.note.as_deref(), Some("keeper"));
    assert!(ui.screen().contains("★"), "{}", ui.screen());

    // Search as you type; Esc lists everything again.
    ui.key("/");
    ui.type_text("moon");
    ui.until("search results", |a| {
        !a.history.loading && a.history.entries().len() == 1
    })
    .await;
    assert_eq!(ui.prompts(), ["a blue moon over the sea"]);
    ui.key("esc");
    ui.until("all rows again", |a| {
        !a.history.loading && a.history.entries().len() == 3
    })
    .await;
    ui.key("/");
    ui.type_text("is:starred");
    ui.until("starred only", |a| {
        !a.history.loading && a.history.entries().len() == 1
    })
    .await;
    assert_eq!(ui.prompts(), ["a lighthouse at dusk, oil painting"]);
    ui.key("esc");
    ui.until("all rows again", |a| {
        !a.history.loading && a.history.entries().len() == 3
    })
    .await;

    // Compare the TUI's request (marked) with the fox (selected): seeds and prompts differ.
    ui.key("g");
    ui.key("m");
    ui.key("G");
    ui.until("the fox opened", shown_done).await;
    ui.key("c");
    assert!(ui.app.overlays().has(OverlayKind::Compare));
    ui.until("both requests read", |a| {
        let Some(Overlay::Compare { a: x, b: y, .. }) = a.overlays().get(OverlayKind::Compare)
        else {
            panic!("the comparison is not open");
        };
        [*x, *y]
            .iter()
            .all(|id| a.history.get(*id).is_some_and(|e| e.request.is_some()))
    })
    .await;
    let screen = ui.screen();
    assert!(screen.contains("≠seed"), "{screen}");
    assert!(screen.contains("777") && screen.contains("11"), "{screen}");
    assert!(screen.contains("parameters differ"), "{screen}");
    ui.key("esc");
    assert!(!ui.app.overlays().has(OverlayKind::Compare));

    // Replay the fox: its parameters (seed 11, its prompt, its reference) go into the form.
    ui.key("e");
    assert_eq!(ui.app.focus, Pane::Params);
    assert_eq!(ui.app.form.body["seed"], json!(11));
    assert_eq!(ui.app.form.prompt_text(), "a red fox in the snow");
    assert_eq!(ui.app.form.reference, Reference::Url(REFERENCE_URL.into()));

    // Delete asks; `y` removes the row from the pane and the store.
    ui.key("3");
    let fox = selected_store_id(&ui.app);
    ui.key("d");
    assert!(ui.app.overlays().has(OverlayKind::ConfirmDelete));
    ui.key("n");
    assert_eq!(ui.app.history.entries().len(), 3, "any other key keeps it");
    ui.key("d");
    ui.key("y");
    ui.until("deleted", |a| a.history.entries().len() == 2)
        .await;
    assert!(store.get(fox).expect("get").is_none());

    // A request another process finishes shows up at the top while the selection stays put.
    let selected_before = selected_store_id(&ui.app);
    cli_send(
        home.path(),
        &data,
        &url,
        "a green comet, from another shell",
        33,
    );
    ui.until("the other process's row", |a| {
        a.history.entries().len() == 3
    })
    .await;
    assert_eq!(ui.prompts()[0], "a green comet, from another shell");
    assert_eq!(selected_store_id(&ui.app), selected_before);

    drop(ui);
    mock.shutdown().await;
}

/// Rows straight into the store (no network): a reduced, valid success envelope each.
fn fill(store: &Store, n: usize) {
    use volcv::api::client::{Attempt, Exchange};
    for i in 0..n {
        let body = format!(
            r#"{{"req_key":"high_aes_ip_v20","prompt":"row {i}","seed":{i},"image_urls":["{REFERENCE_URL}"]}}"#
        );
        let id = store
            .begin(&volcv::store::NewEntry {
                profile: "test",
                endpoint: "http://127.0.0.1:9/",
                action: "CVProcess",
                request_headers: &[],
                request_body: body.as_bytes(),
            })
            .expect("begin");
        let response =
            br#"{"code":50411,"message":"Pre Img Risk Not Pass","request_id":"r","data":null}"#;
        let ex = Exchange {
            method: "POST".into(),
            url: "http://127.0.0.1:9/?Action=CVProcess&Version=2022-08-31".into(),
            action: "CVProcess".into(),
            request_headers: Vec::new(),
            request_body: body.clone(),
            http_status: Some(200),
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_bytes: response.to_vec(),
            started_at: time::OffsetDateTime::now_utc(),
            duration: Duration::from_millis(5),
            attempts: vec![Attempt {
                at: Duration::ZERO,
                duration: Duration::from_millis(5),
                http_status: Some(200),
                result: "50411".into(),
            }],
            result: Ok(volcv::api::response::parse_response(
                200,
                Some("application/json"),
                response,
            )),
            scrubbed: 0,
        };
        store.complete(id, &ex, &[]).expect("complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_paged_lazily_and_recorded_errors_open_like_fresh_ones() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let store = Store::open(&data).expect("open");
    fill(&store, 450);
    // Nothing listens here: no request is sent in this test.
    let mut ui = Ui::new("http://127.0.0.1:9/", &data);
    ui.until("first page", |a| a.history.stored && !a.history.loading)
        .await;
    assert_eq!(ui.app.history.entries().len(), 200, "one page at start");
    assert_eq!(ui.app.history.total, Some(450));
    assert!(ui.screen().contains("(450)"));
    ui.until("newest opened", shown_done).await;
    let v = ui.app.shown().and_then(|e| e.view()).expect("view");
    assert_eq!(v.verdict, Verdict::Service);
    assert!(
        v.summary[0].iter().any(|(_, t)| t.contains("50411")),
        "{:?}",
        v.summary
    );
    // Going to the bottom reads the next pages, one at a time, until the end.
    ui.key("3");
    for _ in 0..4 {
        ui.key("G");
        ui.until("page read", |a| !a.history.loading).await;
    }
    assert_eq!(ui.app.history.entries().len(), 450);
    assert!(ui.app.history.exhausted);
    assert_eq!(ui.prompts().last().map(String::as_str), Some("row 0"));
    let ids: Vec<i64> = ui
        .app
        .history
        .entries()
        .iter()
        .filter_map(|e| e.store_id)
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    // Only a few opened entries stay in memory.
    let opened = ui
        .app
        .history
        .entries()
        .iter()
        .filter(|e| matches!(e.state, EntryState::Done { .. }))
        .count();
    assert!(opened <= volcv::tui::history::OPENED_KEPT, "{opened}");
    assert_eq!(store.count(&Query::default()).expect("count"), 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_opened_is_reported_and_sending_still_works() {
    let mock = mock().await;
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    // Another program's file where the database goes: refused, never replaced.
    std::fs::write(data.join("history.sqlite3"), b"not a database, keep me").expect("write");
    let mut ui = Ui::new(&mock.url(), &data);
    ui.until("the error reported", |a| {
        a.last_error().is_some_and(|e| e.contains("history"))
    })
    .await;
    ui.key("F5");
    ui.until("sent and saved as a named file", |a| {
        a.history.entries().first().is_some_and(|e| {
            e.view().is_some_and(|v| {
                v.images
                    .iter()
                    .any(|i| matches!(i.state, ImageState::Saved(_)))
            })
        })
    })
    .await;
    assert_eq!(
        std::fs::read(data.join("history.sqlite3")).expect("read"),
        b"not a database, keep me"
    );
    let named = std::fs::read_dir(data.join("images"))
        .expect("images dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("volcv-"))
        .count();
    assert_eq!(named, 1, "the paid-for result is kept as a named file");
    drop(ui);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mode_shows_the_task_status_and_a_pending_task_is_collected_at_start() {
    let mock = MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        task_queue_time: Duration::from_millis(400),
        task_generate_time: Duration::from_millis(800),
        ..Default::default()
    })
    .await
    .expect("mock");
    let url = mock.url();
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    // A task left pending by a `volcv send --mode async` that stopped waiting (as a killed
    // process or a dropped SSH session would).
    let out = common::volcv_cmd(home.path())
        .env("VOLCV_DATA_DIR", &data)
        .args([
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--image",
            REFERENCE_URL,
            "--set",
            "prompt=left pending",
            "--mode",
            "async",
            "--max-wait",
            "1s",
            "--out",
            "out",
        ])
        .output()
        .expect("run volcv");
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&data).expect("open");
    let pending = store.pending_tasks().expect("pending");
    assert_eq!(pending.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let left = pending[0].id;

    // Starting the UI collects it; the row turns into a success through the store.
    let mut ui = Ui::new(&url, &data);
    ui.until("the left task collected", |a| {
        a.history.entries().iter().any(|e| {
            e.store_id == Some(left)
                && e.summary
                    .as_ref()
                    .is_some_and(|s| s.outcome == OutcomeKind::Success)
        })
    })
    .await;

    // An async request from the UI: statuses shown while it runs, then the images.
    ui.key("A");
    assert_eq!(ui.app.mode(), volcv::api::tasks::Mode::Async);
    assert!(ui.screen().contains("· async"));
    ui.key("F5");
    ui.until("a task status", |a| {
        a.history.entries()[0]
            .task
            .as_deref()
            .is_some_and(|t| t.starts_with("in_queue") || t.starts_with("generating"))
    })
    .await;
    ui.until("the async result saved", |a| {
        a.history.entries()[0].view().is_some_and(|v| {
            v.images
                .iter()
                .any(|i| matches!(i.state, ImageState::Saved(_)))
        })
    })
    .await;
    let id = ui.app.history.entries()[0].store_id.expect("recorded");
    let s = store.get(id).expect("get").expect("row").summary;
    assert_eq!(s.outcome, OutcomeKind::Success);
    assert!(s.task_id.is_some());
    drop(ui);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_switch_on_the_model_row_and_presets_save_and_apply() {
    let home = tempfile::tempdir().expect("tmp");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let defaults = volcv::api::schema::SCHEMAS
        .iter()
        .map(|s| (s.req_key, s.default_body()))
        .collect();
    let presets_file = home.path().join("presets.toml");
    let worker = Worker::new(
        tx,
        client("http://127.0.0.1:9/"),
        home.path().join("images"),
    )
    .with_presets(volcv::presets::PresetStore::new(&presets_file), defaults);
    let mut ui = Ui {
        app: ready_app(),
        worker,
        rx,
    };
    // h/l on the model row walks through every model; the form follows.
    ui.key("1");
    ui.key("g");
    let first = ui.app.form.schema.req_key;
    assert_eq!(first, "high_aes_ip_v20");
    ui.key("l");
    let second = ui.app.form.schema.req_key;
    assert_ne!(second, first);
    assert_eq!(ui.app.form.body["req_key"], json!(second));
    let status = ui.app.status.clone().expect("status").text;
    assert!(status.starts_with(&format!("model: {second}")), "{status}");
    assert_eq!(
        ui.app.form.prompt_text(),
        "a lighthouse at dusk, oil painting",
        "the prompt stays"
    );
    ui.key("h");
    assert_eq!(ui.app.form.schema.req_key, first);

    // Save the form's parameters as a preset, change them, apply the preset back.
    ui.key("p");
    ui.until("presets listed", |a| presets(a).is_some_and(|p| !p.loading))
        .await;
    ui.key("s");
    ui.type_text("crisp");
    ui.key("enter");
    ui.until("saved and listed again", |a| {
        presets(a).is_some_and(|p| p.items.len() == 1)
    })
    .await;
    let file = std::fs::read_to_string(&presets_file).expect("presets file");
    assert!(file.contains("[crisp]") || file.contains("crisp"), "{file}");
    assert!(file.contains("777"), "the seed is kept: {file}");
    assert!(!file.contains("lighthouse"), "never the prompt: {file}");
    ui.key("esc");
    assert!(!ui.app.overlays().has(OverlayKind::Presets));
    ui.app.form.set("seed", json!(1));
    ui.key("p");
    ui.until("listed", |a| presets(a).is_some_and(|p| p.items.len() == 1))
        .await;
    ui.key("enter");
    ui.until("applied", |a| a.form.body["seed"] == json!(777))
        .await;
    assert_eq!(
        ui.app.form.prompt_text(),
        "a lighthouse at dusk, oil painting"
    );
    // Delete asks first.
    ui.key("p");
    ui.until("listed", |a| presets(a).is_some_and(|p| p.items.len() == 1))
        .await;
    ui.key("d");
    ui.key("y");
    ui.until("deleted", |a| {
        presets(a).is_some_and(|p| p.items.is_empty() && !p.loading)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_from_the_dialog_fills_the_contact_sheet_and_reopens_from_history() {
    let mock = mock().await;
    let url = mock.url();
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client(&url), data.join("images"))
        .with_history(data.clone(), "test")
        .with_sweep_limits(20.0, 4);
    let mut app = ready_app();
    for c in app.start() {
        worker.run(c);
    }
    let mut ui = Ui { app, worker, rx };
    ui.until("history read", |a| a.history.stored).await;

    // A bad line keeps the dialog open and names the problem.
    ui.key("S");
    assert!(ui.app.overlays().has(OverlayKind::SweepInput));
    for _ in 0..40 {
        ui.key("backspace");
    }
    ui.type_text("seed=1..2 scale=99");
    ui.key("enter");
    ui.until("the sweep checked", |a| {
        a.status.as_ref().is_some_and(|s| s.error)
    })
    .await;
    assert!(
        ui.app.overlays().has(OverlayKind::SweepInput),
        "the dialog stays open"
    );
    let err = ui.app.status.clone().expect("status");
    assert!(err.error && err.text.contains("scale"), "{}", err.text);
    for _ in 0..2 {
        ui.key("backspace");
    }
    ui.type_text("2.5,3.5,4.5");
    ui.key("enter");
    ui.until("the sweep started", |a| {
        !a.overlays().has(OverlayKind::SweepInput)
    })
    .await;
    ui.until("the sweep is over", |a| {
        a.sweep.as_ref().is_some_and(|v| !v.running)
    })
    .await;
    let v = ui.app.sweep.clone().expect("sweep");
    assert_eq!(v.cells.len(), 6);
    assert!(
        v.cells
            .iter()
            .all(|c| c.state == volcv::tui::sweep::CellState::Succeeded && c.history_id.is_some()),
        "{:?}",
        v.cells
    );
    let screen = ui.screen();
    assert!(screen.contains(&format!("Sweep {}", v.id)), "{screen}");
    assert!(
        screen.contains("seed=1") && screen.contains("scale=4.5"),
        "{screen}"
    );
    assert!(screen.contains("6/6 done"), "{screen}");
    let store = Store::open(&data).expect("open");
    assert_eq!(store.sweep_cells(&v.id).expect("cells").len(), 6);

    // The cells show up in History (live); Enter on the sheet selects the cell's entry.
    ui.until("cells listed", |a| a.history.entries().len() >= 6)
        .await;
    // Rows arriving into an empty list leave a row selected and the rows on screen.
    assert!(ui.app.shown().is_some());
    ui.app.show_sheet(false);
    assert!(
        ui.screen().contains("a lighthouse at dusk"),
        "{}",
        ui.screen()
    );
    ui.app.show_sheet(true);
    if let Some(s) = ui.app.sweep.as_mut() {
        s.step(1, 2);
    }
    let last = ui.app.sweep.as_ref().and_then(|s| s.cells[5].history_id);
    ui.key("enter");
    assert_eq!(ui.app.focus, Pane::History);
    assert_eq!(ui.app.shown().and_then(|e| e.store_id), last);
    // Reopening from History: S on a cell's entry reads the sweep back from the store.
    ui.until("the entry opened", shown_done).await;
    ui.app.sweep = None;
    ui.key("S");
    ui.until("the sweep reopened", |a| a.sweep.is_some()).await;
    let r = ui.app.sweep.clone().expect("reopened");
    assert_eq!(r.id, v.id);
    assert!(ui.app.sheet_open() && !r.running);
    assert!(
        r.cells
            .iter()
            .all(|c| c.state == volcv::tui::sweep::CellState::Succeeded && c.image.is_some())
    );
    drop(ui);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_shown_and_recorded_as_the_error_it_was() {
    // A port nothing listens on (bound, then closed): connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let mut ui = Ui::new(&format!("http://127.0.0.1:{port}/"), &data);
    ui.until("history read", |a| a.history.stored).await;
    ui.key("F5");
    ui.until("the error shown", |a| {
        a.history.entries().first().is_some_and(|e| {
            e.store_id.is_some() && e.view().is_some_and(|v| v.verdict == Verdict::Transport)
        })
    })
    .await;
    assert!(ui.app.status.as_ref().is_some_and(|s| s.error));
    let id = ui.app.history.entries()[0].store_id.expect("recorded");
    let store = Store::open(&data).expect("open");
    // The row is completed right after the answer; wait for the write.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = store.get(id).expect("get").expect("row").summary;
        if s.outcome != OutcomeKind::Pending {
            assert_eq!(s.outcome, OutcomeKind::TransportError);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = store.get(id).expect("get").expect("row");
    assert!(
        e.message.as_deref().is_some_and(|m| m.contains("connect")),
        "{:?}",
        e.message
    );
}

#[test]
fn load_names_a_file_it_cannot_use_before_the_ui_starts() {
    let home = tempfile::tempdir().expect("tmp");
    let missing = home.path().join("nope.json");
    let out = common::volcv_cmd(home.path())
        .env("VOLCV_DATA_DIR", home.path().join("data"))
        .args(["--demo", "--load"])
        .arg(&missing)
        .output()
        .expect("run volcv");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--load {}: cannot read it", missing.display())),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_sheet_draws_its_tiles_as_sixel_and_closing_it_repaints() {
    use volcv::tui::preview::{ImageKey, Previews, Protocol, Setup};
    let mock = mock().await;
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(tx, client(&mock.url()), data.join("images"))
        .with_previews(Setup::for_protocol(Protocol::Sixel, (10, 20)))
        .with_history(data.clone(), "test")
        .with_sweep_limits(20.0, 4);
    let mut app = ready_app();
    app.previews = Previews::new(true);
    for c in app.start() {
        worker.run(c);
    }
    let mut ui = Ui { app, worker, rx };
    ui.until("history read", |a| a.history.stored).await;
    ui.key("S");
    for _ in 0..40 {
        ui.key("backspace");
    }
    ui.type_text("seed=1..4");
    ui.key("enter");
    ui.until("the sweep is over", |a| {
        a.sheet_open() && a.sweep.as_ref().is_some_and(|v| !v.running)
    })
    .await;
    // Every tile on screen encoded (the app asks for them as they become visible).
    ui.until("the tiles encoded", |a| {
        let wanted = a.visible_previews();
        !wanted.is_empty()
            && wanted.iter().all(|(k, r)| {
                matches!(k, ImageKey::Cell { .. }) && matches!(a.previews.get(k, *r), Some(Ok(_)))
            })
    })
    .await;
    let tiles = ui.app.visible_previews().len();
    assert_eq!(tiles, 4);
    let sink = Sink::default();
    let backend = volcv::tui::terminal::NoQuery::with_size(
        ratatui::backend::CrosstermBackend::new(sink.clone()),
        ui.app.size.as_size(),
    );
    let mut term = ratatui::Terminal::new(backend).expect("terminal");
    let mut shown = volcv::tui::render::Drawn::default();
    let mut frame = |app: &App| {
        volcv::tui::event_loop::draw_frame(&mut term, app, &mut shown).expect("draw");
        sink.take()
    };
    let dcs = |out: &[u8]| out.windows(2).filter(|w| w == b"\x1bP").count();
    let clears = |out: &[u8]| out.windows(4).filter(|w| w == b"\x1b[2J").count();
    let sheet = frame(&ui.app);
    assert_eq!(dcs(&sheet), tiles, "one sixel per tile");
    // Moving the selection changes no picture: no image data again, no clear.
    ui.key("right");
    let moved = frame(&ui.app);
    assert_eq!((dcs(&moved), clears(&moved)), (0, 0));
    // Closed: the tiles' pixels are erased with the screen.
    ui.key("esc");
    assert!(ui.app.sweep.is_some() && !ui.app.sheet_open());
    let closed = frame(&ui.app);
    assert_eq!(clears(&closed), 1, "the sheet's pixels stay behind");
    drop(ui);
    mock.shutdown().await;
}
