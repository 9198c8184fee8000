//! Fault injection: the `[mock:...]` triggers a prompt may carry, the QPS token bucket and the
//! per-prompt counters behind `[mock:nth=K:WHAT]`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::api::response::parse_go_duration;

/// The longest stall `[mock:slow=...]` and `[mock:trickle=...]` accept.
pub(crate) const MAX_TRIGGER_DELAY: Duration = Duration::from_secs(600);

/// The default pause between bytes of `[mock:trickle]`.
pub(crate) const DEFAULT_TRICKLE: Duration = Duration::from_millis(500);

/// What a request is answered with instead of its normal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// This business code in the service envelope (`data: null`).
    Business(i64),
    /// A `ResponseMetadata` gateway error with this `CodeN`.
    Gateway(u32),
    /// An answer in neither of the service's shapes.
    Raw(RawFault),
}

/// Answers that are not the service's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawFault {
    /// An nginx-style HTML 502 page.
    Html502,
    /// A plain-text 500.
    Text500,
    /// HTTP 200 with an empty body.
    Empty,
    /// A relay's own error shape, HTTP 502.
    Relay,
}

/// How the bytes of an answer are delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Wait this long before answering.
    pub slow: Option<Duration>,
    /// Send the body one byte at a time with this pause between bytes.
    pub trickle: Option<Duration>,
    /// Cut the body in half (with a matching Content-Length).
    pub truncate: bool,
    /// Declare the full Content-Length, send part of the body, then drop the connection.
    pub reset: bool,
}

/// Every trigger found in a prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Triggers {
    /// The first fault trigger, if any.
    pub fault: Option<Fault>,
    /// `[mock:nth=K:WHAT]`: answer `WHAT` for the first K requests with this prompt.
    pub nth: Option<(u64, Fault)>,
    pub delivery: Delivery,
}

/// Finds the `[mock:...]` triggers in a prompt. Returns them with the prompt they were cut out
/// of (trimmed), or a message naming the first trigger that does not parse.
pub(crate) fn parse_triggers(prompt: &str) -> Result<(Triggers, String), String> {
    const OPEN: &str = "[mock:";
    let mut triggers = Triggers::default();
    let mut clean = String::with_capacity(prompt.len());
    let mut rest = prompt;
    while let Some(start) = rest.find(OPEN) {
        clean.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(']') else {
            return Err(format!(
                "unterminated mock trigger {:?}",
                &rest[start..].chars().take(40).collect::<String>()
            ));
        };
        apply_trigger(after[..end].trim(), &mut triggers)?;
        rest = &after[end + 1..];
    }
    clean.push_str(rest);
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((triggers, clean))
}

fn apply_trigger(spec: &str, t: &mut Triggers) -> Result<(), String> {
    let (name, arg) = match spec.split_once('=') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (spec, None),
    };
    match (name, arg) {
        ("slow", Some(a)) => t.delivery.slow = Some(trigger_delay(spec, a)?),
        ("trickle", None) => t.delivery.trickle = Some(DEFAULT_TRICKLE),
        ("trickle", Some(a)) => t.delivery.trickle = Some(trigger_delay(spec, a)?),
        ("truncate", None) => t.delivery.truncate = true,
        ("reset", None) => t.delivery.reset = true,
        ("nth", Some(a)) => {
            let (k, what) = a
                .split_once(':')
                .ok_or_else(|| format!("[mock:{spec}]: expected nth=K:CODE, e.g. nth=2:50429"))?;
            let k: u64 = k
                .trim()
                .parse()
                .map_err(|_| format!("[mock:{spec}]: K must be a whole number"))?;
            let fault = parse_fault(what.trim())
                .ok_or_else(|| format!("[mock:{spec}]: {what:?} is not a fault trigger"))?;
            if t.nth.is_none() {
                t.nth = Some((k, fault));
            }
        }
        _ => {
            let fault =
                parse_fault(spec).ok_or_else(|| format!("unknown mock trigger [mock:{spec}]"))?;
            if t.fault.is_none() {
                t.fault = Some(fault);
            }
        }
    }
    Ok(())
}

/// A fault trigger: a business code, `html502`, `text500`, `empty`, `relay`, `gateway=CODEN`.
fn parse_fault(spec: &str) -> Option<Fault> {
    match spec {
        "html502" => Some(Fault::Raw(RawFault::Html502)),
        "text500" => Some(Fault::Raw(RawFault::Text500)),
        "empty" => Some(Fault::Raw(RawFault::Empty)),
        "relay" => Some(Fault::Raw(RawFault::Relay)),
        _ => {
            if let Some(n) = spec.strip_prefix("gateway=") {
                return n.trim().parse().ok().map(Fault::Gateway);
            }
            if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
                return spec.parse().ok().map(Fault::Business);
            }
            None
        }
    }
}

fn trigger_delay(spec: &str, arg: &str) -> Result<Duration, String> {
    let d = parse_go_duration(arg)
        .ok_or_else(|| format!("[mock:{spec}]: {arg:?} is not a duration (e.g. 1500ms or 5s)"))?;
    if d > MAX_TRIGGER_DELAY {
        return Err(format!(
            "[mock:{spec}]: at most {}s is allowed",
            MAX_TRIGGER_DELAY.as_secs()
        ));
    }
    Ok(d)
}

/// A token bucket: `rate` tokens a second, at most `capacity` stored (`max(rate, 1)`), so a
/// burst of `capacity` requests passes and the rest of the burst is refused.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` requests per second.
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        let capacity = rate.max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How many requests have carried each `[mock:nth=...]` prompt. Bounded: when full, the
/// counters start over (old prompts then fail K more times).
#[derive(Debug, Default)]
pub(crate) struct NthCounters {
    seen: HashMap<String, u64>,
}

/// Most prompts whose `nth` counters are kept.
const MAX_NTH_PROMPTS: usize = 4096;

impl NthCounters {
    /// Counts one more request with `prompt` and returns how many there have been, this one
    /// included.
    pub fn bump(&mut self, prompt: &str) -> u64 {
        if self.seen.len() >= MAX_NTH_PROMPTS && !self.seen.contains_key(prompt) {
            self.seen.clear();
        }
        let n = self.seen.entry(prompt.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_found_and_cut_out() {
        let (t, clean) =
            parse_triggers("a cat [mock:50411] on a mat [mock:slow=1.5s]").expect("parses");
        assert_eq!(clean, "a cat on a mat");
        assert_eq!(t.fault, Some(Fault::Business(50411)));
        assert_eq!(t.delivery.slow, Some(Duration::from_millis(1500)));
        assert_ne!(t, Triggers::default());

        let (t, clean) = parse_triggers("plain prompt").expect("parses");
        assert_eq!(clean, "plain prompt");
        assert_eq!(t, Triggers::default());
    }

    #[test]
    fn every_trigger_word_parses() {
        let cases: &[(&str, Fault)] = &[
            ("[mock:html502]", Fault::Raw(RawFault::Html502)),
            ("[mock:text500]", Fault::Raw(RawFault::Text500)),
            ("[mock:empty]", Fault::Raw(RawFault::Empty)),
            ("[mock:relay]", Fault::Raw(RawFault::Relay)),
            ("[mock:gateway=100010]", Fault::Gateway(100010)),
            ("[mock:99999]", Fault::Business(99999)),
        ];
        for (p, want) in cases {
            let (t, _) = parse_triggers(p).expect("parses");
            assert_eq!(t.fault.as_ref(), Some(want), "{p}");
        }
        let (t, _) = parse_triggers("[mock:trickle][mock:truncate][mock:reset]").expect("parses");
        assert_eq!(t.delivery.trickle, Some(DEFAULT_TRICKLE));
        assert!(t.delivery.truncate && t.delivery.reset);
        let (t, _) = parse_triggers("[mock:trickle=5ms]").expect("parses");
        assert_eq!(t.delivery.trickle, Some(Duration::from_millis(5)));
        let (t, _) = parse_triggers("[mock:nth=2:50429]").expect("parses");
        assert_eq!(t.nth, Some((2, Fault::Business(50429))));
        let (t, _) = parse_triggers("[mock:nth=1:html502]").expect("parses");
        assert_eq!(t.nth, Some((1, Fault::Raw(RawFault::Html502))));
    }

    #[test]
    fn bad_triggers_are_named() {
        for bad in [
            "[mock:bogus]",
            "[mock:slow=5]",
            "[mock:slow=20m]",
            "[mock:nth=x:50429]",
            "[mock:nth=2]",
            "[mock:gateway=abc]",
            "[mock:50411",
        ] {
            let e = parse_triggers(bad).expect_err(bad);
            assert!(e.contains("mock"), "{bad}: {e}");
        }
    }

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let mut b = TokenBucket::new(2.0);
        let t0 = Instant::now();
        let passed = (0..5).filter(|_| b.try_take(t0)).count();
        assert_eq!(passed, 2);
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
    }

    #[test]
    fn nth_counts_per_prompt() {
        let mut c = NthCounters::default();
        assert_eq!(c.bump("a"), 1);
        assert_eq!(c.bump("a"), 2);
        assert_eq!(c.bump("b"), 1);
    }
}
