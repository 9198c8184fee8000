//! Parameter sweeps as a user runs them: `volcv sweep` against the embedded mock on 127.0.0.1
//! (rate limits, history, contact sheet, Ctrl-C), and the library runner with its controls.

mod common;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use volcv::api::client::{Auth, Client, DEFAULT_ACTION, DEFAULT_VERSION, Options, Target};
use volcv::api::schema::{default_schema, set_path};
use volcv::mock::{MockConfig, MockServer};
use volcv::store::{OutcomeKind, Query, Store, SweepStatus};
use volcv::sweep::sheet::{Geometry, SheetLayout, tile_side_for};
use volcv::sweep::{self, CellStatus, Controls, Grid, Settings, SweepEvent};

struct Run {
    out: Output,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

fn command(home: &Path, args: &[&str]) -> Command {
    common::volcv_with(home, &[], args)
}

async fn volcv(home: &Path, args: &[&str]) -> Run {
    let out = common::output_async(command(home, args)).await;
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        out,
    }
}

async fn mock(cfg: MockConfig) -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..cfg
    })
    .await
    .expect("mock starts")
}

fn data_dir(home: &Path) -> PathBuf {
    home.join("data").join("volcv")
}

fn grid(args: &[&str]) -> Grid {
    Grid::new(
        args.iter()
            .map(|a| sweep::parse_vary(default_schema(), a).expect("axis"))
            .collect(),
    )
    .expect("grid")
}

/// Checks sheet.png against the layout's geometry: the right size, and every tile drawn
/// with a picture (many colours, not the background).
fn assert_sheet(path: &Path, grid: &Grid, pictures: &[usize]) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8();
    let layout = SheetLayout::new(grid);
    let geo = Geometry::new(&layout, tile_side_for(grid.len()), true);
    assert_eq!(
        (img.width(), img.height()),
        (geo.width, geo.height),
        "sheet size"
    );
    for &cell in pictures {
        let (b, r, c) = layout.position(cell).expect("every cell is placed");
        let rect = geo.tile_rect(b, r, c);
        let mut colours = std::collections::HashSet::new();
        for y in (rect.y..rect.y + rect.h).step_by(3) {
            for x in (rect.x..rect.x + rect.w).step_by(3) {
                colours.insert(img.get_pixel(x, y).0);
            }
        }
        assert!(
            colours.len() > 50,
            "tile of cell {cell} looks blank: {} colours",
            colours.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2x3_sweep_at_the_mocks_qps_records_every_cell_and_draws_the_grid() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        qps: Some(2.0),
        ..Default::default()
    })
    .await;
    let run = volcv(
        home.path(),
        &[
            "sweep",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=a lighthouse at dusk",
            "--vary",
            "seed=1..2",
            "--vary",
            "scale=2.5,3.5,4.5",
            "--qps",
            "2",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["total"], 6);
    assert_eq!(v["succeeded"], 6, "{v}");
    assert_eq!(v["failed"], 0);
    assert_eq!(v["stopped"], false);
    assert_eq!(v["shape"], json!({"rows": 2, "cols": 3, "pages": 1}));
    // Rate-limit answers, if the timing produced any, were retried, never failures.
    for c in v["cells"].as_array().expect("cells") {
        assert_eq!(c["status"], "success", "{c}");
        assert_eq!(c["code"], 10000, "{c}");
    }
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    let stats = server.stats();
    let limited = stats.by_code.get(&50429).copied().unwrap_or(0);
    assert_eq!(v["rate_limited"], limited, "{stats:?}");
    assert_eq!(stats.requests, 6 + limited, "{stats:?}");
    let id = v["sweep_id"].as_str().expect("sweep id").to_owned();

    // Every cell is a history entry with the sweep id and its values.
    let store = Store::open(&data_dir(home.path())).expect("store");
    let rec = store.sweep(&id).expect("query").expect("sweep recorded");
    assert_eq!(rec.status, SweepStatus::Done);
    assert_eq!((rec.cells, rec.recorded, rec.succeeded), (6, 6, 6));
    assert_eq!(rec.prompt.as_deref(), Some("a lighthouse at dusk"));
    let g = grid(&["seed=1..2", "scale=2.5,3.5,4.5"]);
    let cells = store.sweep_cells(&id).expect("cells");
    assert_eq!(cells.len(), 6);
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(c.cell, Some(i));
        assert_eq!(c.values, g.values_json(i), "cell {i}");
        assert_eq!(c.summary.outcome, OutcomeKind::Success);
        assert!(c.first_image.as_ref().is_some_and(|p| p.is_file()));
        let entry = store.get(c.summary.id).expect("get").expect("entry");
        assert_eq!(entry.sweep_id.as_deref(), Some(id.as_str()));
        let body: Value = serde_json::from_str(&entry.request_body).expect("body");
        assert!(g.matches(&body, i), "cell {i} sent {body}");
        let tag: Value = serde_json::from_str(entry.tag.as_deref().expect("tag")).expect("tag");
        assert_eq!(tag, json!({"cell": i, "values": g.values_json(i)}));
    }
    let listed = store
        .list(&Query {
            sweep_id: Some(id.clone()),
            ..Query::default()
        })
        .expect("list");
    assert_eq!(listed.len(), 6);

    // Images named by their values, the sheet with the grid's geometry, the summary.
    let out = home.path().join("out");
    for name in ["01_seed-1_scale-2.5.jpg", "06_seed-2_scale-4.5.jpg"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    assert_sheet(&out.join("sheet.png"), &g, &[0, 1, 2, 3, 4, 5]);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep.json")).expect("sweep.json"))
            .expect("json");
    assert_eq!(summary["sweep_id"], id.as_str());
    assert_eq!(
        summary["cells"][4]["values"],
        json!({"seed": 2, "scale": 3.5})
    );
    assert_eq!(summary["cells"][4]["row"], 1);
    assert_eq!(summary["cells"][4]["col"], 1);

    // The sweep can be reopened later: list, show, and its sheet rebuilt from the history.
    let list = volcv(home.path(), &["sweep", "list", "--json"]).await;
    assert_eq!(list.code(), 0, "{}", list.stderr);
    assert_eq!(list.json()[0]["id"], id.as_str());
    let show = volcv(
        home.path(),
        &["sweep", "show", &id, "--out", "again", "--json"],
    )
    .await;
    assert_eq!(show.code(), 0, "{}", show.stderr);
    let s = show.json();
    assert_eq!(s["succeeded"], 6);
    assert_eq!(s["sweep"]["status"], "done");
    let again = home.path().join("again");
    assert_sheet(&again.join("sheet.png"), &g, &[0, 1, 2, 3, 4, 5]);
    assert_eq!(
        std::fs::read(again.join("03_seed-1_scale-4.5.jpg")).expect("re-exported image"),
        std::fs::read(out.join("03_seed-1_scale-4.5.jpg")).expect("image"),
    );
    let text = volcv(home.path(), &["history", "list", "--sweep", &id]).await;
    assert_eq!(
        text.stdout
            .lines()
            .filter(|l| l.contains("success"))
            .count(),
        6
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_answers_are_retried_through_the_slowed_bucket() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    // The mock answers 50429 to the first two requests with this prompt, then normally.
    let run = volcv(
        home.path(),
        &[
            "sweep",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=[mock:nth=2:50429] a kite",
            "--set",
            "return_url=false",
            "--vary",
            "seed=1..4",
            "--qps",
            "20",
            "--concurrency",
            "1",
            "--out",
            "out",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["succeeded"], 4, "{v}");
    assert_eq!(v["rate_limited"], 2, "{v}");
    assert!(v["final_qps"].as_f64().expect("qps") < 20.0, "{v}");
    // With one cell at a time, the first cell took both 50429s: one entry, three attempts.
    assert_eq!(v["cells"][0]["rate_limited"], 2, "{v}");
    assert_eq!(v["cells"][0]["attempts"], 3, "{v}");
    let id = v["cells"][0]["history_id"].as_i64().expect("history id");
    let store = Store::open(&data_dir(home.path())).expect("store");
    let entry = store.get(id).expect("get").expect("entry");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    let results: Vec<&str> = entry
        .attempts
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(results, vec!["50429", "50429", "10000"]);
    let stats = server.stats();
    assert_eq!(stats.requests, 6, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sweeps_are_refused_before_anything_is_sent() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let url = server.url();
    let base = [
        "sweep",
        "--endpoint",
        url.as_str(),
        "--auth",
        "none",
        "--image",
        "https://example.com/ref.jpg",
        "--set",
        "prompt=x",
    ];
    let cases: &[(&[&str], &str)] = &[
        (&[], "nothing to vary"),
        (
            &["--vary", "scale=0.5..2"],
            "scale value 0.5 is outside the allowed 1..10",
        ),
        (
            &["--vary", "seed=1..4", "--vary", "seed=5"],
            "seed is varied twice",
        ),
        (&["--vary", "sed=1"], "unknown field \"sed\""),
        (&["--vary", "seed=1..2000"], "at most 1000"),
        (&["--vary", "seed=1", "--qps", "0"], "--qps: qps 0 must be"),
        (
            &["--vary", "seed=1", "--concurrency", "0"],
            "--concurrency: concurrency 0",
        ),
    ];
    for (extra, needle) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let run = volcv(home.path(), &args).await;
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    // A prompt may be left to the sweep, but then every cell needs one.
    let run = volcv(
        home.path(),
        &[
            "sweep",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--vary",
            "prompt=a cat,a dog",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("prompt=a dog"), "{}", run.stdout);
    assert!(
        run.stdout.contains("set a price for this model"),
        "{}",
        run.stdout
    );
    // With a price for the model, the dry run says what the sweep costs if all succeed.
    let config = home.path().join("config").join("volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("config.toml"),
        "[prices]\nhigh_aes_ip_v20 = 0.35\n",
    )
    .expect("config");
    let priced = volcv(
        home.path(),
        &[
            "sweep",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=a fox",
            "--vary",
            "seed=1..4",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(priced.code(), 0, "{}", priced.stderr);
    assert!(
        priced
            .stdout
            .contains("about 1.40 at your prices if all 4 succeed"),
        "{}",
        priced.stdout
    );
    assert_eq!(server.stats().requests, 0, "nothing was sent");
    assert!(
        Store::open(&data_dir(home.path()))
            .expect("store")
            .sweeps(10)
            .expect("sweeps")
            .is_empty()
    );
}

fn client(server: &MockServer) -> Client {
    Client::new(
        Target {
            endpoint: url::Url::parse(&server.url()).expect("url"),
            action: DEFAULT_ACTION.into(),
            version: DEFAULT_VERSION.into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client")
}

fn base(prompt: &str) -> Value {
    let mut b = default_schema().default_body();
    set_path(&mut b, "prompt", json!(prompt));
    set_path(&mut b, "image_urls", json!(["https://example.com/ref.jpg"]));
    set_path(&mut b, "return_url", json!(false));
    b
}

fn settings(qps: f64, concurrency: usize, out: Option<PathBuf>) -> Settings {
    Settings {
        qps,
        concurrency,
        rate_limit_retries: sweep::runner::DEFAULT_RATE_LIMIT_RETRIES,
        out_dir: out,
        profile: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_keeps_finished_cells_and_starts_no_more() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let store = Arc::new(Store::open(home.path()).expect("store"));
    let plan = sweep::prepare(base("a kite"), &["seed=1..10".into()])
        .expect("valid")
        .plan;
    let id = plan.id.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let controls = Controls::default();
    let stop = controls.clone();
    let run = tokio::spawn(sweep::run(
        plan,
        client(&server),
        Some(store.clone()),
        settings(100.0, 1, Some(home.path().join("out"))),
        tx,
        controls,
    ));
    let mut thumbnails = 0;
    while let Some(ev) = rx.recv().await {
        match ev {
            SweepEvent::CellFinished { report, images } => {
                assert_eq!(report.status, CellStatus::Success);
                thumbnails += images.len();
                stop.stop.cancel();
            }
            SweepEvent::Finished(_) => break,
            _ => {}
        }
    }
    let report = run.await.expect("join");
    assert!(report.stopped);
    assert!(report.succeeded >= 1, "{report:?}");
    assert!(report.not_run >= 1, "{report:?}");
    // In-flight cells finished (and are kept): nothing is half done.
    assert_eq!(report.succeeded + report.not_run, 10, "{report:?}");
    assert_eq!(report.cancelled, 0);
    assert_eq!(thumbnails, report.succeeded);
    let rec = store.sweep(&id).expect("query").expect("recorded");
    assert_eq!(rec.status, SweepStatus::Cancelled);
    assert_eq!(rec.recorded, report.succeeded);
    assert_eq!(rec.succeeded, report.succeeded);
    for c in &report.cells {
        match c.status {
            CellStatus::Success => {
                let e = store
                    .get(c.history_id.expect("recorded"))
                    .expect("get")
                    .expect("entry");
                assert_eq!(e.summary.outcome, OutcomeKind::Success);
                assert_eq!(c.images.len(), 1);
            }
            CellStatus::NotRun => assert!(c.history_id.is_none()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server.stats().requests as usize, report.succeeded);
}

#[tokio::test(flavor = "multi_thread")]
async fn aborting_cuts_off_cells_in_flight_and_records_them_cancelled() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        latency: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let store = Arc::new(Store::open(home.path()).expect("store"));
    let plan = sweep::prepare(base("a kite"), &["seed=1..3".into()])
        .expect("valid")
        .plan;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let controls = Controls::default();
    let stop = controls.clone();
    let run = tokio::spawn(sweep::run(
        plan,
        client(&server),
        Some(store.clone()),
        settings(100.0, 2, None),
        tx,
        controls,
    ));
    let mut started = 0;
    while let Some(ev) = rx.recv().await {
        if let SweepEvent::CellStarted { .. } = ev {
            started += 1;
            if started == 2 {
                stop.stop.cancel();
                stop.abort.cancel();
            }
        }
    }
    let report = run.await.expect("join");
    assert_eq!(report.cancelled, 2, "{report:?}");
    assert_eq!(report.not_run, 1, "{report:?}");
    for c in report
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Cancelled)
    {
        let e = store
            .get(c.history_id.expect("recorded"))
            .expect("get")
            .expect("entry");
        assert_eq!(e.summary.outcome, OutcomeKind::Cancelled);
    }
    assert_eq!(
        store
            .count(&Query {
                outcomes: vec![OutcomeKind::Pending],
                ..Query::default()
            })
            .expect("count"),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_past_the_retries_is_a_failure() {
    let server = mock(MockConfig::default()).await;
    let plan = sweep::prepare(base("[mock:nth=100:50429] a kite"), &["seed=1".into()])
        .expect("valid")
        .plan;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut s = settings(10_000.0, 1, None);
    s.rate_limit_retries = 2;
    let report = sweep::run(plan, client(&server), None, s, tx, Controls::default()).await;
    let c = &report.cells[0];
    assert_eq!(c.status, CellStatus::Failed);
    assert_eq!(c.code, Some(50429));
    assert_eq!((c.attempts, c.rate_limited), (3, 3));
    assert!(!report.recorded);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_cli_and_keeps_finished_cells() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut cmd = command(
        home.path(),
        &[
            "sweep",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=a kite",
            "--vary",
            "seed=1..40",
            "--qps",
            "100",
            "--concurrency",
            "1",
            "--out",
            "out",
            "--json",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let pid = child.id().to_string();
    // Wait until a cell is in the history, then press Ctrl-C.
    let dir = data_dir(home.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(std::time::Instant::now() < deadline, "no cell finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(store) = Store::open(&dir) else {
            continue;
        };
        let done = store
            .count(&Query {
                outcomes: vec![OutcomeKind::Success],
                ..Query::default()
            })
            .unwrap_or(0);
        if done >= 1 {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["stopped"], true);
    let ok = v["succeeded"].as_u64().expect("n") as usize;
    assert!((1..40).contains(&ok), "{v}");
    assert_eq!(v["not_run"].as_u64().expect("n") as usize, 40 - ok, "{v}");
    let store = Store::open(&dir).expect("store");
    let id = v["sweep_id"].as_str().expect("id");
    let rec = store.sweep(id).expect("query").expect("recorded");
    assert_eq!(rec.status, SweepStatus::Cancelled);
    assert_eq!((rec.recorded, rec.succeeded), (ok, ok));
    let g = grid(&["seed=1..40"]);
    let pictures: Vec<usize> = (0..ok).collect();
    assert_sheet(&home.path().join("out/sheet.png"), &g, &pictures);
}
