//! `volcv history stats`: what the work cost, from the history: requests, outcomes, failures
//! by code (with what each code means), retries, rate limiting, latency and the images kept;
//! in total and grouped by model, day or outcome. Read-only: it works on a history that can
//! only be read.

use super::EXIT_OK;
use crate::store::stats::{Figures, GroupBy, Spread, Stats};
use crate::store::{Store, StoreError};
use crate::text::{escape_terminal, json_for_terminal};
use clap::Args;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only entries created within this age, e.g. 12h, 7d, 2w.
    #[arg(long, value_name = "AGE", value_parser = crate::store::age::parse_age)]
    pub since: Option<Duration>,
    /// Also one row per model (req_key), per UTC day or per outcome.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub by: Option<GroupBy>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The config's `[prices]` (empty when there are none; a config that cannot be read is said
/// on stderr, and the figures are shown without spend).
pub(super) fn prices(cli: &super::Cli) -> Prices {
    match crate::config::load(&cli.overrides()) {
        Ok(l) => l.config.prices,
        Err(e) => {
            eprintln!(
                "volcv: no spend shown: {}",
                escape_terminal(&e.to_string(), false)
            );
            Prices::new()
        }
    }
}

/// Price of one successful request, by model.
pub(super) type Prices = BTreeMap<String, f64>;

/// Spend of one group at `prices`: the total of the priced successes, and how many successes
/// have no price.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spend {
    /// Successes of priced models times their price.
    pub total: f64,
    /// Successes of models without a price (not in the total).
    pub unpriced_successes: u64,
}

fn spend(f: &Figures, prices: &Prices) -> Spend {
    let mut s = Spend {
        total: 0.0,
        unpriced_successes: 0,
    };
    for (model, n) in &f.successes_by_model {
        match prices.get(model) {
            Some(p) => s.total += p * *n as f64,
            None => s.unpriced_successes += n,
        }
    }
    s
}

/// Runs `volcv history stats` on an opened store.
pub(super) fn stats(store: &Store, a: &StatsArgs, prices: &Prices) -> Result<u8, StoreError> {
    let since_ms = a.since.map(|d| {
        crate::clock::now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    });
    let s = store.stats(since_ms, a.by)?;
    if a.json {
        let mut v = serde_json::to_value(&s).unwrap_or(serde_json::Value::Null);
        // Spend beside each group's figures, only when prices are set (`null` otherwise).
        let with_spend = |f: &Figures, v: &mut serde_json::Value| {
            v["spend"] = if prices.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::to_value(spend(f, prices)).unwrap_or_default()
            };
        };
        with_spend(&s.total, &mut v["total"]);
        for (i, g) in s.groups.iter().enumerate() {
            with_spend(g, &mut v["groups"][i]);
        }
        outln!("{}", json_for_terminal(&v));
    } else {
        out!("{}", table(&s, a.since, prices));
    }
    Ok(EXIT_OK)
}

/// `9.60`, or `9.60 (+3 unpriced)`.
fn spend_text(s: Spend) -> String {
    if s.unpriced_successes == 0 {
        format!("{:.2}", s.total)
    } else {
        format!("{:.2} (+{} unpriced)", s.total, s.unpriced_successes)
    }
}

/// A duration in milliseconds as the rest of volcv writes it (`1.52s`, `850ms`).
fn ms_text(ms: f64) -> String {
    crate::text::fmt_duration(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

fn spread_text(s: Option<Spread>) -> String {
    s.map_or_else(
        || "-".to_owned(),
        |s| {
            format!(
                "{}/{}/{}",
                ms_text(s.p50_ms),
                ms_text(s.p95_ms),
                ms_text(s.max_ms)
            )
        },
    )
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The human table: a header line, one row per group and the total, then the failures by code
/// with their meaning.
fn table(s: &Stats, since: Option<Duration>, prices: &Prices) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let scope = match since {
        Some(d) => format!(" created in the last {}", age_text(d)),
        None => String::new(),
    };
    if s.total.requests == 0 {
        let _ = writeln!(out, "(no entries{scope})");
        return out;
    }
    let _ = writeln!(
        out,
        "{} entries{scope}; latency is volcv's whole exchange (retries included), server is the \
         service's time_elapsed, as p50/p95/max",
        s.total.requests
    );
    let rows: Vec<&Figures> = s.groups.iter().chain(std::iter::once(&s.total)).collect();
    let keys: Vec<String> = rows
        .iter()
        .map(|f| escape_terminal(&f.key, false))
        .collect();
    let width = keys
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        out,
        "{:<width$}  {:>8} {:>5} {:>6} {:>6} {:>10} {:>7} {:>8}  {:<20} {:<20} {:>6} {:>9}{}",
        "GROUP",
        "REQUESTS",
        "OK",
        "OK%",
        "FAILED",
        "UNFINISHED",
        "RETRIED",
        "LIMITED",
        "LATENCY",
        "SERVER",
        "IMAGES",
        "SIZE",
        if prices.is_empty() { "" } else { "  SPEND" },
    );
    for (f, key) in rows.iter().zip(&keys) {
        let _ = writeln!(
            out,
            "{key:<width$}  {:>8} {:>5} {:>6} {:>6} {:>10} {:>7} {:>8}  {:<20} {:<20} {:>6} {:>9}{}",
            f.requests,
            f.successes,
            percent(f.successes, f.requests),
            f.failures,
            f.unfinished,
            f.retried,
            f.rate_limited,
            spread_text(f.latency),
            spread_text(f.server_time),
            f.images,
            crate::text::human_size(f.image_bytes),
            if prices.is_empty() {
                String::new()
            } else {
                format!("  {}", spend_text(spend(f, prices)))
            },
        );
    }
    if s.total.retries > 0 {
        let _ = writeln!(
            out,
            "{} attempt(s) beyond the first, over {} request(s)",
            s.total.retries, s.total.retried
        );
    }
    if prices.is_empty() {
        let _ = writeln!(
            out,
            "set [prices] in the config to see spend (what one successful request costs, by model)"
        );
    }
    if !s.total.failures_by_code.is_empty() {
        let _ = writeln!(out, "failures by code:");
        let mut codes: Vec<(&i64, &u64)> = s.total.failures_by_code.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (code, n) in codes {
            let what = if *code == 0 {
                "no code: a transport error, a relay's answer or one that is not JSON".to_owned()
            } else {
                crate::api::codes::lookup(*code).map_or_else(
                    || "not a documented code".to_owned(),
                    |c| format!("{}: {}", c.name, c.meaning),
                )
            };
            let _ = writeln!(out, "  {code:>6}  {n:>5}x  {what}");
        }
    }
    out
}

/// `7d`, `12h`, `90m` for the header.
fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s >= 3_600 && s.is_multiple_of(3_600) {
        format!("{}h", s / 3_600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn figures(key: &str) -> Figures {
        Figures {
            key: key.to_owned(),
            requests: 4,
            successes: 3,
            failures: 1,
            failures_by_code: BTreeMap::from([(50411, 1)]),
            retried: 1,
            retries: 2,
            rate_limited: 1,
            latency: Spread::of(vec![100.0, 200.0, 1500.0]),
            images: 3,
            image_bytes: 157_000,
            ..Figures::default()
        }
    }

    #[test]
    fn the_table_names_the_codes_and_the_scope() {
        let s = Stats {
            since_ms: Some(0),
            total: figures("all"),
            groups: vec![figures("high_aes_ip_v20")],
        };
        let t = table(&s, Some(Duration::from_secs(7 * 86_400)), &Prices::new());
        assert!(t.starts_with("4 entries created in the last 7d"), "{t}");
        assert!(t.contains("high_aes_ip_v20"), "{t}");
        assert!(t.contains("75%"), "{t}");
        assert!(t.contains("200ms/1.50s/1.50s"), "{t}");
        assert!(t.contains("157 KB"), "{t}");
        assert!(t.contains("set [prices] in the config"), "{t}");
        assert!(
            t.contains("2 attempt(s) beyond the first, over 1 request(s)"),
            "{t}"
        );
        let code_line = t.lines().find(|l| l.contains("50411")).unwrap_or_default();
        assert!(code_line.contains("1x"), "{t}");
        let name = crate::api::codes::lookup(50411)
            .map(|c| c.name)
            .unwrap_or("?");
        assert!(code_line.contains(name), "{t}");
    }

    #[test]
    fn spend_counts_priced_successes_and_names_the_unpriced() {
        let mut f = figures("all");
        f.successes_by_model = BTreeMap::from([("a".to_owned(), 3), ("b".to_owned(), 2)]);
        let prices = Prices::from([("a".to_owned(), 0.2)]);
        let s = spend(&f, &prices);
        assert!((s.total - 0.6).abs() < 1e-9, "{s:?}");
        assert_eq!(s.unpriced_successes, 2);
        assert_eq!(spend_text(s), "0.60 (+2 unpriced)");
        let st = Stats {
            since_ms: None,
            total: f,
            groups: Vec::new(),
        };
        let t = table(&st, None, &prices);
        assert!(
            t.contains("SPEND") && t.contains("0.60 (+2 unpriced)"),
            "{t}"
        );
        assert!(!t.contains("set [prices]"), "{t}");
    }

    #[test]
    fn an_empty_scope_says_so() {
        let s = Stats {
            since_ms: None,
            total: Figures {
                key: "all".into(),
                ..Figures::default()
            },
            groups: Vec::new(),
        };
        assert_eq!(table(&s, None, &Prices::new()), "(no entries)\n");
    }

    #[test]
    fn a_hostile_group_key_is_escaped() {
        let s = Stats {
            since_ms: None,
            total: figures("all"),
            groups: vec![figures("evil\u{1b}]0;title\u{7}")],
        };
        assert!(!table(&s, None, &Prices::new()).contains('\u{1b}'));
    }
}
