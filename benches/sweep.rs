//! Sweep benchmark (not a test): 40 cells at QPS 10 against the embedded mock with no
//! latency, recorded in a fresh history with the images written out, as `volcv sweep` does.
//! Reports the wall time against the ideal bound of cells / QPS (4 s), and the time from the
//! last send to the end (what the bookkeeping after the last answer costs).
//!
//! Run with `cargo bench --bench sweep` (release build). `VOLCV_BENCH_RUNS` sets how many
//! sweeps are timed (default 3; the median is reported).

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use volcv::api::client::{Auth, Client, DEFAULT_ACTION, DEFAULT_VERSION, Options, Target};
use volcv::api::schema::{default_schema, set_path};
use volcv::mock::{MockConfig, MockServer};
use volcv::store::Store;
use volcv::sweep::{self, Controls, Settings, SweepEvent};

const CELLS: usize = 40;
const QPS: f64 = 10.0;
const CONCURRENCY: usize = 4;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1);
}

/// One sweep; returns the wall time and the time from the last cell's start to the end.
async fn one(server: &MockServer, rate_limited: &mut u32) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let store =
        Arc::new(Store::open(&dir.path().join("data")).unwrap_or_else(|e| fail("store", e)));
    let client = Client::new(
        Target {
            endpoint: url::Url::parse(&server.url()).unwrap_or_else(|e| fail("url", e)),
            action: DEFAULT_ACTION.into(),
            version: DEFAULT_VERSION.into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .unwrap_or_else(|e| fail("client", e));
    let mut base = default_schema().default_body();
    set_path(&mut base, "prompt", json!("a lighthouse at dusk"));
    set_path(
        &mut base,
        "image_urls",
        json!(["https://example.com/ref.jpg"]),
    );
    let vary = [format!("seed=1..{CELLS}")];
    let plan = sweep::prepare(base, &vary)
        .unwrap_or_else(|e| fail("plan", e.join("; ")))
        .plan;
    let settings = Settings {
        qps: QPS,
        concurrency: CONCURRENCY,
        rate_limit_retries: sweep::runner::DEFAULT_RATE_LIMIT_RETRIES,
        out_dir: Some(dir.path().join("out")),
        profile: "bench".into(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let t0 = Instant::now();
    let run = tokio::spawn(sweep::run(
        plan,
        client,
        Some(store),
        settings,
        tx,
        Controls::default(),
    ));
    let mut last_start = Duration::ZERO;
    while let Some(ev) = rx.recv().await {
        if let SweepEvent::CellStarted { .. } = ev {
            last_start = t0.elapsed();
        }
    }
    let report = run.await.unwrap_or_else(|e| fail("join", e));
    let wall = t0.elapsed();
    if report.succeeded != CELLS {
        fail(
            "sweep",
            format!("{} of {CELLS} cells succeeded", report.succeeded),
        );
    }
    *rate_limited += report.rate_limited;
    (wall, wall.saturating_sub(last_start))
}

fn main() {
    let runs: usize = std::env::var("VOLCV_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    rt.block_on(async {
        let server = MockServer::start(MockConfig {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            quiet: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| fail("mock", e));
        let ideal = CELLS as f64 / QPS;
        let mut walls = Vec::new();
        let mut tails = Vec::new();
        let mut rate_limited = 0;
        for i in 0..runs {
            let (wall, tail) = one(&server, &mut rate_limited).await;
            eprintln!("  run {}: {:.3} s", i + 1, wall.as_secs_f64());
            walls.push(wall);
            tails.push(tail);
        }
        walls.sort();
        tails.sort();
        let median = walls[walls.len() / 2].as_secs_f64();
        println!(
            "{CELLS} cells at {QPS} qps, {CONCURRENCY} at once, mock latency 0: median wall {:.3} s \
             vs ideal {ideal:.1} s ({:+.1}%), last start to end {:.0} ms, {rate_limited} \
             rate-limit answers ({runs} runs)",
            median,
            (median / ideal - 1.0) * 100.0,
            tails[tails.len() / 2].as_secs_f64() * 1000.0,
        );
    });
}
