//! History store benchmark (not a test): fills a fresh store with 100 000 entries and reports
//! median and p95 times for what the history pane and `volcv history` do most.
//!
//! Run with `cargo bench --bench history` (release build). `VOLCV_BENCH_ROWS` changes the
//! number of rows. Every entry shares one reference image (stored once, as in real use
//! with a favourite reference) and has a URL result, so no per-row image files are written.

use std::time::{Duration, Instant};
use time::OffsetDateTime;
use volcv::api::client::{Attempt, Exchange};
use volcv::api::response::parse_response;
use volcv::store::{NewEntry, OutcomeKind, Query, Store};

const WORDS: &[&str] = &[
    "lighthouse",
    "kite",
    "harbour",
    "fox",
    "lantern",
    "glacier",
    "orchard",
    "violin",
    "comet",
    "meadow",
    "castle",
    "robot",
    "teapot",
    "canyon",
    "sparrow",
    "bridge",
    "desert",
    "forest",
    "一只猫",
    "在海边",
    "夕阳",
    "雪山",
    "城市夜景",
    "水彩",
    "油画",
    "赛博朋克",
];

/// A small deterministic generator (no dependency on the rand crate's stream).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() as usize) % list.len()]
    }
}

fn reference_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(256, 256, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    if let Err(e) = img.write_to(&mut out, image::ImageFormat::Jpeg) {
        eprintln!("cannot encode the reference image: {e}");
        std::process::exit(1);
    }
    out.into_inner()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` `n` times and prints median and p95.
fn measure<T>(name: &str, n: usize, mut f: impl FnMut(usize) -> T) {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        std::hint::black_box(f(i));
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{name:<48} median {:>9.3} ms   p95 {:>9.3} ms   ({n} runs)",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
    );
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1);
}

fn main() {
    let rows: usize = std::env::var("VOLCV_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let store = Store::open(dir.path()).unwrap_or_else(|e| fail("open", e));
    let reference = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(reference_jpeg())
    };
    let mut rng = Lcg(42);
    let start = OffsetDateTime::now_utc() - time::Duration::days(100);
    let fill = Instant::now();
    for i in 0..rows {
        let prompt = format!(
            "{} {} {} #{i}",
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.pick(WORDS)
        );
        let body = format!(
            r#"{{"req_key":"high_aes_ip_v20","binary_data_base64":["{reference}"],"prompt":"{prompt}","seed":{},"scale":3.5,"ddim_steps":9,"width":512,"height":512,"return_url":true}}"#,
            rng.next()
        );
        let ok = i % 10 != 0;
        let response = if ok {
            format!(
                r#"{{"code":10000,"data":{{"binary_data_base64":[],"image_urls":["https://cdn.example/{i}.jpeg"],"rephraser_result":"{prompt}, cinematic light, rich detail"}},"message":"Success","request_id":"2026{i:030}","status":10000,"time_elapsed":"7.5s"}}"#
            )
        } else {
            r#"{"code":50412,"message":"Post Text Risk Not Pass","request_id":"x","status":50412,"data":null}"#.to_owned()
        };
        let status = if ok { 200 } else { 400 };
        let ex = Exchange {
            method: "POST".into(),
            url: "https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31".into(),
            action: "CVProcess".into(),
            request_headers: vec![("Content-Type".into(), "application/json".into())],
            request_body: body.clone(),
            http_status: Some(status),
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_bytes: response.clone().into_bytes(),
            started_at: start + time::Duration::seconds((i as i64) * 86),
            duration: Duration::from_millis(7600),
            attempts: vec![Attempt {
                at: Duration::ZERO,
                duration: Duration::from_millis(7600),
                http_status: Some(status),
                result: "10000".into(),
            }],
            result: Ok(parse_response(
                status,
                Some("application/json"),
                response.as_bytes(),
            )),
            scrubbed: 0,
        };
        let entry = NewEntry {
            profile: "default",
            endpoint: "https://visual.volcengineapi.com/",
            action: "CVProcess",
            request_headers: &[],
            request_body: body.as_bytes(),
        };
        store
            .record(&entry, &ex, &[])
            .unwrap_or_else(|e| fail("record", e));
        if i > 0 && i % 20_000 == 0 {
            eprintln!("  filled {i} rows in {:.1} s", fill.elapsed().as_secs_f64());
        }
    }
    let fill = fill.elapsed();
    let db_size = std::fs::metadata(store.db_path()).map_or(0, |m| m.len());
    println!(
        "filled {rows} rows in {:.1} s ({:.0} rows/s, one transaction each); database {:.1} MB",
        fill.as_secs_f64(),
        rows as f64 / fill.as_secs_f64(),
        db_size as f64 / 1e6
    );
    drop(store);

    measure("open store (migrations checked, recovery)", 20, |_| {
        Store::open(dir.path()).unwrap_or_else(|e| fail("open", e))
    });
    let store = Store::open(dir.path()).unwrap_or_else(|e| fail("open", e));
    let q = |f: &dyn Fn(&mut Query)| {
        let mut q = Query::default();
        f(&mut q);
        q
    };
    let first = q(&|_| {});
    measure("list first page (100, newest first)", 200, |_| {
        store.list(&first).unwrap_or_else(|e| fail("list", e))
    });
    let mut cursor = None;
    measure("list next page (keyset, walking back)", 200, |_| {
        let page = store
            .list(&Query {
                before_id: cursor,
                ..Query::default()
            })
            .unwrap_or_else(|e| fail("list", e));
        cursor = page.last().map(|s| s.id);
        page
    });
    let errors = q(&|q| q.outcomes = vec![OutcomeKind::ServiceError]);
    measure("list first page, outcome = service_error", 200, |_| {
        store.list(&errors).unwrap_or_else(|e| fail("list", e))
    });
    let starred = q(&|q| q.starred = Some(true));
    measure("list first page, starred (none exist)", 200, |_| {
        store.list(&starred).unwrap_or_else(|e| fail("list", e))
    });
    for (label, text) in [
        ("search common word 'lighthouse' (FTS)", "lighthouse"),
        ("search two words 'kite castle' (FTS)", "kite castle"),
        ("search rare '#4242' (FTS)", "#4242 "),
        ("search Chinese '在海边' (FTS trigram)", "在海边"),
        ("search 2-char '夕阳' (LIKE scan)", "夕阳"),
        ("search no match 'zeppelin' (FTS)", "zeppelin"),
        ("search 2-char no match 'zq' (LIKE, full scan)", "zq"),
    ] {
        let search = q(&|q| q.search = Some(text.to_owned()));
        measure(label, 50, |_| {
            store.list(&search).unwrap_or_else(|e| fail("search", e))
        });
    }
    measure("count all", 50, |_| {
        store.count(&first).unwrap_or_else(|e| fail("count", e))
    });
    // What the History pane does (src/tui/worker.rs, HistoryCmd::Load): the search line
    // parsed, the matches counted for the title, the first page of 200 rows read.
    for (label, line) in [
        ("TUI open pane: count + first 200 rows", ""),
        ("TUI search 'lighthouse': count + first 200", "lighthouse"),
        ("TUI search '在海边': count + first 200", "在海边"),
        ("TUI filter is:error: count + first 200", "is:error"),
        ("TUI search 'zq' (2 chars, no match: LIKE scan)", "zq"),
    ] {
        measure(label, 20, |_| {
            let mut q =
                volcv::tui::history::parse_search(line).unwrap_or_else(|e| fail("parse", e));
            q.limit = volcv::tui::history::PAGE;
            let total = store.count(&q).unwrap_or_else(|e| fail("count", e));
            (total, store.list(&q).unwrap_or_else(|e| fail("list", e)))
        });
    }
    measure("change_seq (poll)", 1000, |_| {
        store.change_seq().unwrap_or_else(|e| fail("seq", e))
    });
    let mut rng = Lcg(7);
    let n = rows as u64;
    measure("open entry: get(id), random id", 500, |_| {
        let id = 1 + (rng.next() % n) as i64;
        store.get(id).unwrap_or_else(|e| fail("get", e))
    });
    measure(
        "TUI open entry: read + format for the Response pane",
        200,
        |_| {
            let id = 1 + (rng.next() % n) as i64;
            volcv::tui::worker::open_entry(&store, id).unwrap_or_else(|e| fail("open_entry", e))
        },
    );
    measure("open entry: export(id) with base64 restored", 200, |_| {
        let id = 1 + (rng.next() % n) as i64;
        store.export(id).unwrap_or_else(|e| fail("export", e))
    });
    measure("star toggle (one write transaction)", 200, |i| {
        let id = 1 + (rng.next() % n) as i64;
        store
            .set_star(id, i % 2 == 0)
            .unwrap_or_else(|e| fail("star", e))
    });
}
