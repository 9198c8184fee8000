//! `volcv history stats`: the figures of a history whose entries are known (outcomes, codes,
//! retries, times, images), through the binary, in JSON and as a table, in total, by model, by
//! day and within an age.

mod common;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use volcv::api::client::{Attempt, Exchange};
use volcv::api::response::parse_response;
use volcv::store::{NewEntry, Store};

fn exchange(
    body: &str,
    status: u16,
    response: &[u8],
    started: OffsetDateTime,
    took_ms: u64,
    attempts: &[&str],
) -> Exchange {
    Exchange {
        method: "POST".into(),
        url: "https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31".into(),
        action: "CVProcess".into(),
        request_headers: vec![("Content-Type".into(), "application/json".into())],
        request_body: body.to_owned(),
        http_status: Some(status),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_bytes: response.to_vec(),
        started_at: started,
        duration: Duration::from_millis(took_ms),
        attempts: attempts
            .iter()
            .map(|r| Attempt {
                at: Duration::ZERO,
                duration: Duration::from_millis(took_ms),
                http_status: Some(status),
                result: (*r).to_owned(),
            })
            .collect(),
        result: Ok(parse_response(status, Some("application/json"), response)),
        scrubbed: 0,
    }
}

fn error_body(code: i64) -> Vec<u8> {
    format!(
        r#"{{"code":{code},"message":"no","request_id":"r","status":{code},"time_elapsed":"3ms","data":null}}"#
    )
    .into_bytes()
}

/// Records one finished exchange for `req_key`, `days_ago` days back.
#[allow(clippy::too_many_arguments, reason = "a test table row")]
fn record(
    store: &Store,
    req_key: &str,
    days_ago: i64,
    status: u16,
    response: &[u8],
    took_ms: u64,
    attempts: &[&str],
) {
    let body = format!(r#"{{"req_key":"{req_key}","prompt":"a cat","seed":-1}}"#);
    let started = OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    let entry = NewEntry {
        profile: "default",
        endpoint: "https://visual.volcengineapi.com",
        action: "CVProcess",
        request_headers: &[],
        request_body: body.as_bytes(),
    };
    let ex = exchange(&body, status, response, started, took_ms, attempts);
    store.record(&entry, &ex, &[]).expect("record");
}

/// The history the tests read: model A with two successes (the same image twice, and one new
/// image), one success after a 50429 retry, one 50411 failure and one pending entry; model B
/// with one success 10 days ago and one relay answer (no code).
fn build(data: &Path) -> usize {
    let store = Store::open(data).expect("open");
    let a = common::jpeg(64, 64, 1);
    let b = common::jpeg(64, 64, 2);
    let ok_a = common::success_envelope(std::slice::from_ref(&a), "r");
    let ok_ab = common::success_envelope(&[a.clone(), b.clone()], "r");
    record(&store, "model_a", 0, 200, &ok_a, 1000, &["10000"]);
    record(&store, "model_a", 0, 200, &ok_ab, 2000, &["10000"]);
    record(&store, "model_a", 1, 200, &ok_a, 3000, &["50429", "10000"]);
    record(
        &store,
        "model_a",
        1,
        400,
        &error_body(50411),
        100,
        &["50411"],
    );
    let pending = r#"{"req_key":"model_a","prompt":"later","seed":-1}"#;
    store
        .begin(&NewEntry {
            profile: "default",
            endpoint: "https://visual.volcengineapi.com",
            action: "CVProcess",
            request_headers: &[],
            request_body: pending.as_bytes(),
        })
        .expect("begin");
    record(&store, "model_b", 10, 200, &ok_a, 500, &["10000"]);
    let relay = br#"{"error":{"message":"upstream","type":"upstream_error"}}"#;
    record(&store, "model_b", 10, 502, relay, 50, &["502"]);
    a.len() + b.len()
}

fn stats_json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["history", "stats", "--json"];
    all.extend_from_slice(args);
    let out = common::volcv_with(home, &[], &all).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stats JSON")
}

fn group<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|f| f["key"] == key))
        .unwrap_or_else(|| panic!("no group {key} in {v}"))
}

#[test]
fn totals_and_groups_by_model_count_what_happened() {
    let home = tempfile::tempdir().expect("tmp");
    let image_bytes = build(&common::data_dir(home.path()));
    let v = stats_json(home.path(), &["--by", "model"]);
    let t = &v["total"];
    assert_eq!(t["requests"], 7, "{v}");
    assert_eq!(t["successes"], 4, "{v}");
    assert_eq!(t["failures"], 2, "{v}");
    assert_eq!(t["unfinished"], 1, "{v}");
    assert_eq!(t["failures_by_code"]["50411"], 1, "{v}");
    assert_eq!(t["failures_by_code"]["0"], 1, "{v}");
    assert_eq!(t["retried"], 1, "{v}");
    assert_eq!(t["retries"], 1, "{v}");
    assert_eq!(t["rate_limited"], 1, "{v}");
    // Five images in answers, two distinct: each counted, stored bytes once.
    assert_eq!(t["images"], 5, "{v}");
    assert_eq!(t["image_bytes"], image_bytes as u64, "{v}");
    // Six finished exchanges have a duration: 50, 100, 500, 1000, 2000, 3000 ms.
    assert_eq!(t["latency"]["n"], 6, "{v}");
    assert_eq!(t["latency"]["p50_ms"], 500.0, "{v}");
    assert_eq!(t["latency"]["max_ms"], 3000.0, "{v}");
    assert_eq!(t["server_time"]["max_ms"], 1500.0, "{v}");

    let a = group(&v, "model_a");
    assert_eq!(a["requests"], 5, "{v}");
    assert_eq!(a["successes"], 3, "{v}");
    assert_eq!(a["unfinished"], 1, "{v}");
    let b = group(&v, "model_b");
    assert_eq!(b["requests"], 2, "{v}");
    assert_eq!(b["failures_by_code"]["0"], 1, "{v}");
}

#[test]
fn since_and_by_day_limit_and_split_by_creation_time() {
    let home = tempfile::tempdir().expect("tmp");
    build(&common::data_dir(home.path()));
    let v = stats_json(home.path(), &["--since", "3d", "--by", "day"]);
    assert_eq!(v["total"]["requests"], 5, "{v}");
    let days = v["groups"].as_array().expect("groups");
    assert_eq!(days.len(), 2, "{v}");
    let sum: u64 = days
        .iter()
        .map(|d| d["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sum, 5, "{v}");
    let v = stats_json(home.path(), &["--by", "outcome"]);
    assert_eq!(group(&v, "success")["requests"], 4, "{v}");
    assert_eq!(group(&v, "pending")["requests"], 1, "{v}");
}

#[test]
fn the_table_explains_the_codes_and_an_empty_history_says_so() {
    let home = tempfile::tempdir().expect("tmp");
    let out = common::volcv_with(home.path(), &[], &["history", "stats"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "(no entries)\n");

    build(&common::data_dir(home.path()));
    let out = common::volcv_with(home.path(), &[], &["history", "stats", "--by", "model"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("7 entries; latency"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("model_a ")), "{text}");
    let name = volcv::api::codes::lookup(50411)
        .map(|c| c.name)
        .expect("50411");
    assert!(
        text.lines()
            .any(|l| l.contains("50411") && l.contains(name)),
        "{text}"
    );
    assert!(text.contains("no code: a transport error"), "{text}");
}

#[test]
fn a_bad_age_names_the_flag_and_the_form() {
    let home = tempfile::tempdir().expect("tmp");
    let out = common::volcv_with(home.path(), &[], &["history", "stats", "--since", "7 days"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--since"), "{err}");
}

#[test]
fn prices_in_the_config_give_spend_and_a_bad_price_is_named() {
    let home = tempfile::tempdir().expect("tmp");
    build(&common::data_dir(home.path()));
    let v = stats_json(home.path(), &["--by", "model"]);
    assert!(v["total"]["spend"].is_null(), "no prices, no spend: {v}");
    let config = home.path().join("config").join("volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("config.toml"), "[prices]\nmodel_a = 0.25\n").expect("config");
    let v = stats_json(home.path(), &["--by", "model"]);
    // model_a: 3 successes at 0.25; model_b's success has no price.
    assert_eq!(v["total"]["spend"]["total"], 0.75, "{v}");
    assert_eq!(v["total"]["spend"]["unpriced_successes"], 1, "{v}");
    assert_eq!(group(&v, "model_a")["spend"]["total"], 0.75, "{v}");
    let out = common::volcv_with(home.path(), &[], &["history", "stats"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SPEND") && text.contains("0.75 (+1 unpriced)"),
        "{text}"
    );

    std::fs::write(config.join("config.toml"), "[prices]\nmodel_a = -1\n").expect("config");
    let out = common::volcv_with(home.path(), &[], &["history", "stats"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("prices.model_a") && err.contains(">= 0"),
        "{err}"
    );
}
