//! The daily budget (`[budget]` in the config): before `send` or `sweep` sends, the requests
//! and the spend of the day so far (local time, from the history) plus what this run adds are
//! checked against it. Over it, volcv asks on the terminal; `--yes` goes over without asking;
//! with no terminal to ask (a script) it refuses, saying how to go on. `--demo` costs nothing
//! and is never checked.

use super::HistoryDir;
use crate::config::Loaded;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

/// What the day has used so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Used {
    requests: u64,
    spend: f64,
}

/// Start of today in local time, as Unix ms.
fn start_of_today_ms() -> i64 {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(crate::clock::now_ms()) * 1_000_000,
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    .to_offset(crate::text::local_offset());
    let midnight = now.replace_time(time::Time::MIDNIGHT);
    i64::try_from(midnight.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Why this run would go over the budget, or `None` when it stays within (or there is none).
fn over(loaded: &Loaded, used: Used, adding: u64, req_key: &str) -> Option<String> {
    let b = &loaded.config.budget;
    let mut why = Vec::new();
    if let Some(limit) = b.requests
        && used.requests + adding > limit
    {
        why.push(format!(
            "{} of {limit} requests used today, and this adds {adding}",
            used.requests
        ));
    }
    if let Some(limit) = b.spend {
        let price = loaded.config.prices.get(req_key).copied().unwrap_or(0.0);
        let adds = price * adding as f64;
        if used.spend + adds > limit + 1e-9 {
            why.push(format!(
                "{:.2} of {limit:.2} spent today, and this adds up to {adds:.2}",
                used.spend
            ));
        }
    }
    (!why.is_empty()).then(|| format!("over the daily [budget]: {}", why.join("; ")))
}

/// Checks a run that adds `adding` requests for `req_key`. `Ok(Some(note))`: going over,
/// allowed (`--yes` or the user said yes); `Ok(None)`: within; `Err(message)`: refused.
pub(super) fn check(
    loaded: &Loaded,
    history: &HistoryDir,
    adding: u64,
    req_key: &str,
    yes: bool,
) -> Result<Option<String>, String> {
    let b = &loaded.config.budget;
    if history.demo || (b.requests.is_none() && b.spend.is_none()) {
        return Ok(None);
    }
    let stats = match history.open_for_reading() {
        Ok(store) => store.stats(Some(start_of_today_ms()), None),
        // No history yet: nothing used today.
        Err(_) if !history.path.join(crate::store::DB_FILE).exists() => {
            Ok(crate::store::stats::Stats {
                since_ms: None,
                total: crate::store::stats::Figures::default(),
                groups: Vec::new(),
            })
        }
        Err(e) => Err(e),
    };
    let stats = stats.map_err(|e| {
        format!("cannot check the daily [budget]: {e}; nothing was sent (--yes sends anyway)")
    });
    let used = match stats {
        Ok(s) => Used {
            requests: s.total.requests,
            spend: s
                .total
                .successes_by_model
                .iter()
                .map(|(m, n)| loaded.config.prices.get(m).copied().unwrap_or(0.0) * *n as f64)
                .sum(),
        },
        Err(e) if yes => return Ok(Some(e)),
        Err(e) => return Err(e),
    };
    let Some(why) = over(loaded, used, adding, req_key) else {
        return Ok(None);
    };
    if yes {
        return Ok(Some(format!("{why} (going on: --yes)")));
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{why}; nothing was sent (--yes goes over it, or raise [budget] in the config)"
        ));
    }
    eprint!("volcv: {why}. Send anyway? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(Some(format!("{why} (going on: you said yes)")))
    } else {
        Err(format!("{why}; nothing was sent"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(toml: &str) -> Loaded {
        Loaded {
            config: crate::config::parse(toml).expect("config"),
            paths: crate::config::Paths {
                config_file: "/nonexistent/config.toml".into(),
                data_dir: "/nonexistent".into(),
                state_dir: "/nonexistent".into(),
            },
            from_file: true,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn requests_and_spend_are_checked_with_what_the_run_adds() {
        let l = loaded("[prices]\nm = 0.5\n[budget]\nrequests = 10\nspend = 3.0\n");
        let used = Used {
            requests: 8,
            spend: 2.0,
        };
        assert_eq!(
            over(&l, used, 2, "m"),
            None,
            "10 requests, 3.00: at the limit"
        );
        let why = over(&l, used, 3, "m").expect("over");
        assert!(
            why.contains("8 of 10 requests used today, and this adds 3"),
            "{why}"
        );
        assert!(
            why.contains("2.00 of 3.00 spent today, and this adds up to 1.50"),
            "{why}"
        );
        // A model without a price adds no spend.
        let why = over(&l, used, 3, "other").expect("over");
        assert!(!why.contains("spent"), "{why}");
    }

    #[test]
    fn a_bad_budget_is_named() {
        let e = crate::config::parse("[budget]\nspend = -2\n").expect_err("negative");
        assert!(e.contains("budget.spend"), "{e}");
        let e = crate::config::parse("[budget]\nrequest = 5\n").expect_err("typo");
        assert!(e.contains("request"), "{e}");
    }
}
