//! Terminal UI benchmarks (not tests): what the UI task does between a key press or an answer
//! and the frame on the terminal, at 200x50, with the real worker, the real history store and
//! ratatui's crossterm backend writing escape sequences (into a counting sink instead of a tty).
//!
//! Run with `cargo bench --bench tui` (release build). Cases:
//!
//! - `json`: a 1 MB JSON answer. From the last byte written by a local HTTP server to the
//!   first frame that shows the summary and the Body tab (the worker receives and formats it,
//!   the UI task takes the view and draws). Median over runs, and the peak RSS of the process.
//! - `images`: four 2048x2048 JPEG results as base64 (an ~8 MB body). From the last byte
//!   written to the frame where every preview is drawn with half-blocks (decoded, shrunk and
//!   encoded by the worker off the UI task), with the longest UI frame meanwhile and the peak
//!   RSS.
//! - `keys`: key press to frame (`App::update`, render, diff and escape sequences) p50 / p99 /
//!   max, with 5 000 rows in the history store, pages of it loaded, and the four-image
//!   answer on screen.
//!
//! Every run happens in a fresh child process (this binary with `--child CASE`), so the peak
//! RSS is that of a process doing just the UI side; the HTTP server lives in the parent.
//! "Body received" is when the server's last write returned; the client may still be reading
//! the last bytes from the socket then, so the times err on the long side.
//!
//! `cargo bench --bench tui -- json` runs one case; `VOLCV_BENCH_RUNS` sets the number of runs
//! of `json` and `images` (default 9 and 5); `-- --write-bodies DIR` writes the two answer
//! bodies for `benches/ptydrive.py` (the real binary answering them, in a pseudo-terminal).

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc::UnboundedReceiver;
use volcv::api::client::{Attempt, Auth, Client, Exchange, Options, Target};
use volcv::api::response::parse_response;
use volcv::api::schema;
use volcv::store::{NewEntry, Store};
use volcv::tui::app::{App, Info, Pane, Tab};
use volcv::tui::form::Reference;
use volcv::tui::keymap::KeyMap;
use volcv::tui::msg::{Cmd, Msg};
use volcv::tui::preview::{ImageKey, Previews, Protocol, Setup};
use volcv::tui::theme::Theme;
use volcv::tui::worker::Worker;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1);
}

fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Peak and current resident set of this process, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

// ------------------------------------------------------------------ bodies

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A 2048x2048 JPEG with enough texture to weigh what a generated photo does (~1.5 MB).
fn big_jpeg(seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let img = image::RgbImage::from_fn(2048, 2048, |x, y| {
        let n = (rng.next() % 20) as u32;
        image::Rgb([
            ((x / 8 + n) % 256) as u8,
            ((y / 8 + n / 2) % 256) as u8,
            (((x + y) / 16 + seed as u32 * 40 + n) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    if let Err(e) = img.write_with_encoder(enc) {
        fail("encoding the test JPEG", e);
    }
    out
}

fn envelope(data: Value) -> Value {
    json!({
        "code": 10000,
        "data": data,
        "message": "Success",
        "request_id": "20260101120000ABCDEF0123456789",
        "status": 10000,
        "time_elapsed": "7.545501615s"
    })
}

/// The four-image answer: an ~8 MB body.
fn images_body() -> Vec<u8> {
    use base64::Engine as _;
    let results: Vec<String> = (0..4)
        .map(|i| base64::engine::general_purpose::STANDARD.encode(big_jpeg(i + 1)))
        .collect();
    envelope(json!({
        "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
        "binary_data_base64": results,
        "image_urls": null,
        "rephraser_result": "a corgi astronaut floating above the moon, studio light",
        "request_id": "8d9c5b0b3e0f4c3a9a1f2e4d5c6b7a8f"
    }))
    .to_string()
    .into_bytes()
}

/// A 1 MB JSON answer: a success whose `data` carries a large nested payload (many small
/// objects, numbers, strings), the shape that is costly to pretty-print and lay out.
fn json_body() -> Vec<u8> {
    let mut rng = Lcg(9);
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 1_000_000 {
        let item = json!({
            "id": i,
            "label": format!("object-{}", rng.next() % 1000),
            "score": (rng.next() % 10_000) as f64 / 10_000.0,
            "box": [rng.next() % 2048, rng.next() % 2048, rng.next() % 512, rng.next() % 512],
            "attributes": {"colour": "red", "occluded": i % 3 == 0, "tags": ["a", "b"]},
            "caption": "一只戴帽子的猫 sitting in the snow next to a lantern",
        });
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    envelope(json!({
        "binary_data_base64": [],
        "image_urls": [],
        "rephraser_result": "a cat wearing a hat, in the snow",
        "detections": items,
    }))
    .to_string()
    .into_bytes()
}

// ------------------------------------------------------------------ the server (parent)

/// A loopback HTTP/1.1 server that answers every request with `body` and reports when the
/// last byte of each answer was written (wall clock, comparable across processes).
async fn serve(
    body: Arc<Vec<u8>>,
    written: tokio::sync::mpsc::UnboundedSender<SystemTime>,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = Arc::clone(&body);
            let written = written.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                loop {
                    // Read one request: headers, then Content-Length bytes.
                    let (head_end, len) = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (p + 4, len);
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(&body).await.is_err()
                        || sock.flush().await.is_err()
                    {
                        return;
                    }
                    let _ = written.send(SystemTime::now());
                }
            });
        }
    });
    Ok((url, task))
}

// ------------------------------------------------------------------ the UI side (child)

/// Counts the bytes of escape sequences a frame produces; writes nothing anywhere.
#[derive(Clone, Default)]
struct Sink(Arc<AtomicUsize>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Ui {
    app: App,
    worker: Worker,
    rx: UnboundedReceiver<Msg>,
    term: Terminal<volcv::tui::terminal::NoQuery<CrosstermBackend<Sink>>>,
    /// The images of the frame on screen (the event loop's repaint rule).
    shown: volcv::tui::render::Drawn,
    /// UI task time of every frame: update(s) + render + diff + escape sequences.
    frames: Vec<Duration>,
    /// Bytes written to the terminal so far.
    written: Arc<AtomicUsize>,
    /// When the worker's answer (the formatted view) reached the UI task.
    finished_at: Option<SystemTime>,
    _data: tempfile::TempDir,
}

impl Ui {
    fn new(url: &str, data: tempfile::TempDir, setup: Setup) -> Ui {
        let client = Client::new(
            Target {
                endpoint: url::Url::parse(url).unwrap_or_else(|e| fail("url", e)),
                action: "CVProcess".into(),
                version: "2022-08-31".into(),
                auth: Auth::None,
            },
            Options::default(),
        )
        .unwrap_or_else(|e| fail("client", e));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let worker = Worker::new(tx, client, data.path().join("images"))
            .with_previews(setup)
            .with_history(data.path().to_path_buf(), "bench");
        let body = schema::default_schema().default_body();
        let mut app = App::new(
            &body,
            KeyMap::default(),
            Theme::builtin_default(),
            Info::default(),
            Rect::new(0, 0, WIDTH, HEIGHT),
        );
        app.previews = Previews::new(true);
        app.form.reference = Reference::Url("https://example.com/volcv-bench-reference.jpg".into());
        let mut values = app.form.editable_json();
        values["prompt"] = json!("a corgi astronaut floating above the moon, studio light");
        values["return_url"] = json!(false);
        app.form.replace_values(&values);
        let sink = Sink::default();
        let written = Arc::clone(&sink.0);
        let term = Terminal::new(volcv::tui::terminal::NoQuery::with_size(
            CrosstermBackend::new(sink),
            ratatui::layout::Size::new(WIDTH, HEIGHT),
        ))
        .unwrap_or_else(|e| fail("terminal", e));
        Ui {
            app,
            worker,
            rx,
            term,
            shown: Default::default(),
            frames: Vec::new(),
            written,
            finished_at: None,
            _data: data,
        }
    }

    fn draw(&mut self) {
        // As the event loop draws: the difference, or a cleared screen when the pixel
        // images change.
        if let Err(e) =
            volcv::tui::event_loop::draw_frame(&mut self.term, &self.app, &mut self.shown)
        {
            fail("draw", e);
        }
    }

    fn run(&mut self, cmds: Vec<Cmd>) {
        for c in cmds {
            match c {
                Cmd::OpenEditor { .. } | Cmd::Copy(_) => {}
                other => self.worker.run(other),
            }
        }
    }

    /// One turn of the event loop for `msg`, as `event_loop::run_loop` does it: update, drain
    /// what else is queued, start the commands, draw. Returns the UI task's time.
    fn turn(&mut self, msg: Msg) -> Duration {
        let t = Instant::now();
        if matches!(msg, Msg::Finished { .. }) && self.finished_at.is_none() {
            self.finished_at = Some(SystemTime::now());
        }
        let mut cmds = self.app.update(msg);
        while let Ok(m) = self.rx.try_recv() {
            cmds.extend(self.app.update(m));
        }
        self.run(cmds);
        self.draw();
        let d = t.elapsed();
        self.frames.push(d);
        d
    }

    fn key(&mut self, code: KeyCode) -> Duration {
        self.turn(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    /// Runs the loop (worker messages, the 100 ms tick while busy) until `done` holds after a
    /// frame; returns when that frame was finished.
    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) -> SystemTime {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tick = tokio::time::interval(volcv::tui::event_loop::TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !done(&self.app) {
            let busy = self.app.busy();
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::select! {
                biased;
                m = self.rx.recv() => match m {
                    Some(m) => m,
                    None => fail(what, "the worker went away"),
                },
                _ = tick.tick(), if busy => Msg::Tick(Instant::now()),
                () = tokio::time::sleep(left) => fail(what, stuck(&self.app)),
            };
            self.turn(msg);
        }
        SystemTime::now()
    }

    async fn start(&mut self) {
        let cmds = self.app.start();
        self.run(cmds);
        self.draw();
        self.until("loading the history", |a| !a.history.loading)
            .await;
        self.frames.clear();
    }

    fn send(&mut self) {
        let cmds = self
            .app
            .update(Msg::Key(KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE)));
        if !cmds.iter().any(|c| matches!(c, Cmd::Send { .. })) {
            fail("F5", format!("nothing sent: {:?}", self.app.status));
        }
        self.run(cmds);
        self.draw();
    }
}

/// What the app is at, for a case that never finishes.
fn stuck(a: &App) -> String {
    let decoded: Vec<String> = a
        .previews
        .decoded
        .iter()
        .map(|(k, v)| match v {
            Ok(i) => format!("{k:?} {}x{}", i.width(), i.height()),
            Err(e) => format!("{k:?} {e}"),
        })
        .collect();
    format!(
        "timed out after 30 s; status {:?}; previews on screen {:?}; decoded {decoded:?}; {} encoded",
        a.status,
        a.visible_previews(),
        a.previews.encoded.len(),
    )
}

/// Whether the shown request's answer is on screen.
fn answered(a: &App) -> bool {
    a.shown().is_some_and(|e| e.view().is_some())
}

/// Whether every result preview on screen (the four in the Images tab and the History
/// thumbnail) is drawn, i.e. encoded at its area's size. (The reference is a URL the UI
/// never fetches, so it has no preview.)
fn previews_drawn(a: &App) -> bool {
    let results: Vec<(ImageKey, Rect)> = a
        .visible_previews()
        .into_iter()
        .filter(|(k, _)| matches!(k, ImageKey::Result { .. }))
        .collect();
    answered(a)
        && results.len() >= 4
        && results
            .iter()
            .all(|(k, area)| matches!(a.previews.get(k, *area), Some(Ok(_))))
}

/// Fills the store with `rows` finished entries (URL results, one shared reference).
fn prefill(dir: &Path, rows: usize) {
    let store = Store::open(dir).unwrap_or_else(|e| fail("open store", e));
    let started = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    for i in 0..rows {
        let prompt = format!("lighthouse at dusk number {i}, oil painting");
        let body = format!(
            r#"{{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/ref.jpg"],"prompt":"{prompt}","seed":{i}}}"#
        );
        let response = format!(
            r#"{{"code":10000,"data":{{"binary_data_base64":[],"image_urls":["https://cdn.example/{i}.jpeg"],"rephraser_result":"{prompt}, cinematic"}},"message":"Success","request_id":"2026{i:030}","status":10000,"time_elapsed":"7.5s"}}"#
        );
        let ex = Exchange {
            method: "POST".into(),
            url: "https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31".into(),
            action: "CVProcess".into(),
            request_headers: vec![("Content-Type".into(), "application/json".into())],
            request_body: body.clone(),
            http_status: Some(200),
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_bytes: response.clone().into_bytes(),
            started_at: started + time::Duration::seconds(i as i64 * 60),
            duration: Duration::from_millis(7600),
            attempts: vec![Attempt {
                at: Duration::ZERO,
                duration: Duration::from_millis(7600),
                http_status: Some(200),
                result: "10000".into(),
            }],
            result: Ok(parse_response(
                200,
                Some("application/json"),
                response.as_bytes(),
            )),
            scrubbed: 0,
        };
        let entry = NewEntry {
            profile: "bench",
            endpoint: "https://visual.volcengineapi.com/",
            action: "CVProcess",
            request_headers: &[],
            request_body: body.as_bytes(),
        };
        store
            .record(&entry, &ex, &[])
            .unwrap_or_else(|e| fail("record", e));
    }
}

async fn child(case: &str, url: &str) {
    let data = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    if case == "keys" {
        prefill(data.path(), 5_000);
    }
    let setup = match case {
        "graphics-kitty" => Setup::for_protocol(Protocol::Kitty, (10, 20)),
        "graphics-sixel" => Setup::for_protocol(Protocol::Sixel, (10, 20)),
        _ => Setup::halfblocks(),
    };
    let mut ui = Ui::new(url, data, setup);
    ui.start().await;
    let (_, rss_before) = rss_kib();
    match case {
        "json" => {
            ui.app.tab = Tab::Body;
            ui.send();
            let done = ui.until("the JSON answer", answered).await;
            let (peak, _) = rss_kib();
            let longest = ui.frames.iter().max().copied().unwrap_or_default();
            println!(
                "RESULT done_ns={} finished_ns={} peak_kib={peak} before_kib={rss_before} longest_ms={:.3} lines={}",
                unix_ns(done),
                ui.finished_at.map_or(0, unix_ns),
                ms(longest),
                ui.app.shown_body().map_or(0, |b| b.len()),
            );
        }
        "images" => {
            ui.send();
            let done = ui.until("the previews", previews_drawn).await;
            let (peak, _) = rss_kib();
            let longest = ui.frames.iter().max().copied().unwrap_or_default();
            println!(
                "RESULT done_ns={} finished_ns={} peak_kib={peak} before_kib={rss_before} longest_ms={:.3} frames={}",
                unix_ns(done),
                ui.finished_at.map_or(0, unix_ns),
                ms(longest),
                ui.frames.len()
            );
        }
        "keys" => {
            ui.send();
            ui.until("the previews", previews_drawn).await;
            keys(&mut ui).await;
        }
        "graphics-kitty" | "graphics-sixel" => {
            let before = ui.written.load(Ordering::Relaxed);
            ui.send();
            let done = ui.until("the previews", previews_drawn).await;
            let first = ui.written.load(Ordering::Relaxed) - before;
            let finished = ui.finished_at.map_or(0, unix_ns);
            graphics_keys(&mut ui, unix_ns(done), finished, first);
        }
        other => fail("unknown case", other),
    }
}

/// With four results on screen in kitty or sixel mode: the bytes each key press writes when
/// it changes no image (moving in the form, nudging a value, selecting another image, moving
/// between panes), and when it does (the Body tab and back: the images go and are sent again).
fn graphics_keys(ui: &mut Ui, done_ns: u128, finished_ns: u128, first: usize) {
    use KeyCode::Char;
    let press = |ui: &mut Ui, code: KeyCode| {
        let before = ui.written.load(Ordering::Relaxed);
        ui.key(code);
        ui.written.load(Ordering::Relaxed) - before
    };
    let mut plain = Vec::new();
    for code in [
        Char('1'),
        Char('j'),
        Char('j'),
        Char('l'),
        Char('h'),
        Char('k'),
        Char('2'),
    ] {
        plain.push(press(ui, code) as f64);
    }
    // In the Response pane: j/k select another image (the marker moves, no image changes).
    for code in [Char('j'), Char('j'), Char('k'), Char('k')] {
        plain.push(press(ui, code) as f64);
    }
    let away = press(ui, Char('l'));
    let back = press(ui, Char('h'));
    plain.sort_by(f64::total_cmp);
    println!(
        "RESULT done_ns={done_ns} finished_ns={finished_ns} first_bytes={first} key_bytes_p50={:.0} key_bytes_max={:.0} keys={} tab_away_bytes={away} tab_back_bytes={back}",
        percentile(&plain, 0.5),
        plain.last().copied().unwrap_or(f64::NAN),
        plain.len(),
    );
}

/// Presses keys like a user browsing: moves in the form and nudges a value, switches and
/// scrolls the Response tabs, walks the History list (which reads entries from the store).
/// Each key's frame is timed; worker answers in between are handled (and drawn) as the loop
/// would, but not counted as key frames.
async fn keys(ui: &mut Ui) {
    use KeyCode::Char;
    if let Some(row) = ui.app.form.row_of("seed") {
        ui.app.form.select(row, 20);
    }
    ui.app.focus = Pane::Params;
    let cycle = [
        Char('j'),
        Char('j'),
        Char('k'),
        Char('k'),
        Char('l'),
        Char('h'),
        Char('2'),
        Char('j'),
        Char('k'),
        Char('l'),
        Char('j'),
        Char('j'),
        Char('j'),
        Char('k'),
        Char('k'),
        Char('k'),
        Char('l'),
        Char('l'),
        Char('h'),
        Char('h'),
        Char('h'),
        Char('3'),
        Char('j'),
        Char('j'),
        Char('k'),
        Char('k'),
        Char('1'),
    ];
    let cycles: usize = std::env::var("VOLCV_BENCH_KEY_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    let mut samples = Vec::new();
    let mut bytes = Vec::new();
    let sink = Arc::clone(&ui.written);
    for _ in 0..cycles {
        for k in cycle {
            let before = sink.load(Ordering::Relaxed);
            samples.push(ms(ui.key(k)));
            bytes.push(sink.load(Ordering::Relaxed) - before);
            // The user's next key comes a little later: answers meanwhile are handled.
            let pause = tokio::time::sleep(Duration::from_millis(2));
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    biased;
                    Some(m) = ui.rx.recv() => { ui.turn(m); }
                    () = &mut pause => break,
                }
            }
        }
    }
    let others: Vec<f64> = ui.frames.iter().map(|d| ms(*d)).collect();
    samples.sort_by(f64::total_cmp);
    bytes.sort_unstable();
    let mut all = others;
    all.sort_by(f64::total_cmp);
    println!(
        "RESULT keys={} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} all_frames={} all_p99_ms={:.3} bytes_p50={} rows={}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(f64::NAN),
        all.len(),
        percentile(&all, 0.99),
        bytes.get(bytes.len() / 2).copied().unwrap_or(0),
        ui.app.history.entries().len(),
    );
}

// ------------------------------------------------------------------ the parent

fn field(line: &str, name: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Runs `--child case` once; returns its RESULT line.
fn run_child(case: &str, url: &str) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail("current_exe", e));
    let out = std::process::Command::new(exe)
        .args(["--child", case, "--url", url])
        .output()
        .unwrap_or_else(|e| fail("spawning the child", e));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().find(|l| l.starts_with("RESULT ")) {
        Some(l) if out.status.success() => l.to_owned(),
        _ => fail(
            case,
            format!(
                "the child failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
}

fn answer_case(rt: &tokio::runtime::Runtime, case: &str, body: Vec<u8>, runs: usize) {
    let size = body.len();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (url, server) = rt
        .block_on(serve(Arc::new(body), tx))
        .unwrap_or_else(|e| fail("server", e));
    let (mut times, mut peaks, mut befores, mut longest, mut worker) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut extra = String::new();
    for _ in 0..runs {
        let line = run_child(case, &url);
        let written = rx
            .try_recv()
            .unwrap_or_else(|_| fail(case, "the server wrote no answer"));
        let done = field(&line, "done_ns").unwrap_or(f64::NAN);
        times.push((done - unix_ns(written) as f64) / 1e6);
        worker.push(
            (field(&line, "finished_ns").unwrap_or(f64::NAN) - unix_ns(written) as f64) / 1e6,
        );
        peaks.push(field(&line, "peak_kib").unwrap_or(f64::NAN) / 1024.0);
        befores.push(field(&line, "before_kib").unwrap_or(f64::NAN) / 1024.0);
        longest.push(field(&line, "longest_ms").unwrap_or(f64::NAN));
        extra = line
            .split_whitespace()
            .filter(|kv| kv.starts_with("lines=") || kv.starts_with("frames="))
            .collect::<Vec<_>>()
            .join(" ");
    }
    server.abort();
    let worst_frame = longest.iter().copied().fold(0.0, f64::max);
    let mut all = times.clone();
    all.sort_by(f64::total_cmp);
    let (drawn, worker, frame, peak, peak_max, before) = (
        median(&mut times),
        median(&mut worker),
        median(&mut longest),
        median(&mut peaks),
        peaks.iter().copied().fold(0.0, f64::max),
        median(&mut befores),
    );
    println!(
        "{case}: body {:.1} MB, body received -> drawn median {drawn:.1} ms (min {:.1}, max {:.1}, {runs} runs; \
         the formatted answer reached the UI task after {worker:.1} ms); \
         longest UI frame meanwhile {worst_frame:.1} ms (median of runs {frame:.1} ms); \
         peak RSS median {peak:.1} MB (max {peak_max:.1}), {before:.1} MB before the request; {extra}",
        size as f64 / 1e6,
        all.first().copied().unwrap_or(f64::NAN),
        all.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "RESULT case={case} body_mb={:.2} drawn_ms={drawn:.2} worker_ms={worker:.2} longest_frame_ms={worst_frame:.2} peak_mb={peak:.1} peak_max_mb={peak_max:.1} before_mb={before:.1} runs={runs}",
        size as f64 / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let case = args.get(i + 1).cloned().unwrap_or_default();
        let url = args
            .iter()
            .position(|a| a == "--url")
            .and_then(|j| args.get(j + 1))
            .cloned()
            .unwrap_or_default();
        rt.block_on(child(&case, &url));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--write-bodies") {
        // The bodies of the `json` and `images` cases, for benches/ptydrive.py (the real
        // binary answering them).
        let dir = std::path::PathBuf::from(args.get(i + 1).cloned().unwrap_or_default());
        for (name, body) in [
            ("json-1mb.json", json_body()),
            ("images-8mb.json", images_body()),
        ] {
            if let Err(e) = std::fs::write(dir.join(name), body) {
                fail(&format!("writing {}", dir.join(name).display()), e);
            }
        }
        return;
    }
    // `cargo bench` passes `--bench`; a free argument picks cases.
    let wanted: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |c: &str| wanted.is_empty() || wanted.contains(&c);
    let runs = |default: usize| {
        std::env::var("VOLCV_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    println!("TUI at {WIDTH}x{HEIGHT}, release build, half-block previews");
    if want("json") {
        answer_case(&rt, "json", json_body(), runs(9));
    }
    if want("images") || want("keys") || wanted.iter().any(|w| w.starts_with("graphics")) {
        let t = Instant::now();
        let body = images_body();
        eprintln!(
            "  made the 4-image body ({:.1} MB) in {:.1} s",
            body.len() as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        if want("images") {
            answer_case(&rt, "images", body.clone(), runs(5));
        }
        for case in ["graphics-kitty", "graphics-sixel"] {
            if !want(case) && !want("graphics") {
                continue;
            }
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let (url, server) = rt
                .block_on(serve(Arc::new(body.clone()), tx))
                .unwrap_or_else(|e| fail("server", e));
            let line = run_child(case, &url);
            server.abort();
            let written = rx
                .try_recv()
                .unwrap_or_else(|_| fail(case, "the server wrote no answer"));
            let f = |n| field(&line, n).unwrap_or(f64::NAN);
            let drawn = (f("done_ns") - unix_ns(written) as f64) / 1e6;
            println!(
                "{case}: four 2048x2048 results: body received -> all previews drawn {drawn:.1} ms, \
                 {:.0} KB written for them; a key that changes no image writes {:.0} bytes (median, \
                 max {:.0}, {} keys); the Body tab and back write {:.0} + {:.0} KB (the images go, \
                 then are sent again)",
                f("first_bytes") / 1024.0,
                f("key_bytes_p50"),
                f("key_bytes_max"),
                f("keys"),
                f("tab_away_bytes") / 1024.0,
                f("tab_back_bytes") / 1024.0,
            );
            println!(
                "RESULT case={case} drawn_ms={drawn:.2} first_kb={:.0} key_bytes_p50={:.0} key_bytes_max={:.0} tab_back_kb={:.0}",
                f("first_bytes") / 1024.0,
                f("key_bytes_p50"),
                f("key_bytes_max"),
                f("tab_back_bytes") / 1024.0,
            );
        }
        if want("keys") {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let (url, server) = rt
                .block_on(serve(Arc::new(body), tx))
                .unwrap_or_else(|e| fail("server", e));
            let line = run_child("keys", &url);
            server.abort();
            let f = |n| field(&line, n).unwrap_or(f64::NAN);
            println!(
                "RESULT case=keys p50_ms={:.3} p99_ms={:.3} max_ms={:.3} keys={} rows={}",
                f("p50_ms"),
                f("p99_ms"),
                f("max_ms"),
                f("keys"),
                f("rows")
            );
            println!(
                "keys: key press -> frame p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} keys, {} history rows loaded, {} bytes of escapes per frame, median); \
                 every frame incl. worker answers p99 {:.3} ms",
                f("p50_ms"),
                f("p99_ms"),
                f("max_ms"),
                f("keys"),
                f("rows"),
                f("bytes_p50"),
                f("all_p99_ms"),
            );
        }
    }
}
