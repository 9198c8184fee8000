//! The sweep's pacing: a token bucket that hands out send times at a given rate and slows down
//! when the service says it is rate limited, plus the ETA estimate. Pure state over a virtual
//! clock (a [`Duration`] since the sweep began), so it is tested without sleeping.
//!
//! - The bucket holds one token: sends are spaced `1 / rate` apart, never bunched, which keeps
//!   under a server-side bucket of the same rate whatever its burst.
//! - A rate-limit answer (50429 QPS, 50430 concurrency) halves the rate (down to
//!   `qps / 64`) and pushes the next send back by one new interval. Answers to requests sent
//!   before that slowdown do not halve again: a burst of 50429s from one too-fast period
//!   counts once (each slowdown starts a new epoch; tickets carry theirs).
//! - Each success then adds back a tenth of the configured rate, up to the configured rate
//!   (additive increase, multiplicative decrease).

use std::time::Duration;

/// Each success adds this fraction of the configured rate back after a slowdown.
pub const RECOVERY_STEP: f64 = 0.1;
/// The rate never drops below the configured rate divided by this.
pub const MAX_SLOWDOWN: f64 = 64.0;
/// Highest rate accepted (a request every 10 microseconds is already far beyond any account).
pub const MAX_QPS: f64 = 100_000.0;
/// Lowest rate accepted: one request every 1000 s (about 17 minutes; after the largest
/// slowdown one every 18 hours). Anything slower is a typo (`1e-20` would put the second send
/// past the end of time).
pub const MIN_QPS: f64 = 0.001;
/// The longest gap between two sends, whatever the rate: the virtual clock stays far from
/// the limits of `Duration` and `Instant` however long a sweep runs.
const MAX_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Permission to send at `at`, issued in `epoch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticket {
    /// When the request may go out (since the sweep began).
    pub at: Duration,
    /// The bucket's epoch when the ticket was issued.
    pub epoch: u64,
}

/// A token bucket with a one-token capacity and an adaptive rate.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    target: f64,
    rate: f64,
    next_free: Duration,
    epoch: u64,
    slowdowns: u32,
}

/// Checks a requests-per-second value for a bucket (`--qps`, the profile's `qps`).
pub fn check_qps(qps: f64) -> Result<f64, String> {
    if qps.is_finite() && (MIN_QPS..=MAX_QPS).contains(&qps) {
        Ok(qps)
    } else {
        Err(format!(
            "qps {qps} must be a number of requests per second from {MIN_QPS} (one every \
             1000 s) to {MAX_QPS} (e.g. 0.5, 2, 10)"
        ))
    }
}

fn interval(rate: f64) -> Duration {
    Duration::try_from_secs_f64(1.0 / rate)
        .unwrap_or(MAX_INTERVAL)
        .min(MAX_INTERVAL)
}

impl TokenBucket {
    /// A bucket at `qps` requests per second (checked by [`check_qps`]).
    pub fn new(qps: f64) -> Result<TokenBucket, String> {
        check_qps(qps).map(TokenBucket::clamped)
    }

    /// A bucket at `qps`, or at 1 request per second when `qps` is not a valid rate (check it
    /// with [`check_qps`] first to tell the user).
    pub fn clamped(qps: f64) -> TokenBucket {
        let qps = check_qps(qps).unwrap_or(1.0);
        TokenBucket {
            target: qps,
            rate: qps,
            next_free: Duration::ZERO,
            epoch: 0,
            slowdowns: 0,
        }
    }

    /// The configured rate.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// The current rate (lower than the target after a rate-limit answer).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many times the rate was halved.
    pub fn slowdowns(&self) -> u32 {
        self.slowdowns
    }

    /// Reserves the next send time at or after `now`.
    pub fn reserve(&mut self, now: Duration) -> Ticket {
        let at = self.next_free.max(now);
        self.next_free = at.saturating_add(interval(self.rate));
        Ticket {
            at,
            epoch: self.epoch,
        }
    }

    /// The request sent with `ticket` was answered 50429/50430 at `now`. Halves the rate unless
    /// a slowdown already happened since the ticket was issued; returns whether it did.
    pub fn rate_limited(&mut self, ticket: &Ticket, now: Duration) -> bool {
        if ticket.epoch != self.epoch {
            return false;
        }
        self.rate = (self.rate / 2.0).max(self.target / MAX_SLOWDOWN);
        self.epoch += 1;
        self.slowdowns += 1;
        self.next_free = self.next_free.max(now.saturating_add(interval(self.rate)));
        true
    }

    /// A request succeeded (or failed for a reason other than rate limiting): recover a step.
    pub fn succeeded(&mut self) {
        self.rate = (self.rate + self.target * RECOVERY_STEP).min(self.target);
    }
}

/// Time left for a sweep: the cells not yet started go out at `qps`, then take about
/// `mean_cell` each, with at most `concurrency` at once. `None` until one cell finished (no
/// duration known yet) unless nothing is left.
pub fn eta(
    remaining: usize,
    in_flight: usize,
    qps: f64,
    concurrency: usize,
    mean_cell: Option<Duration>,
) -> Option<Duration> {
    if remaining == 0 {
        return Some(Duration::ZERO);
    }
    let mean = mean_cell?.as_secs_f64();
    let not_started = remaining.saturating_sub(in_flight) as f64;
    let paced = if qps > 0.0 { not_started / qps } else { 0.0 } + mean;
    let parallel = remaining as f64 * mean / concurrency.max(1) as f64;
    Duration::try_from_secs_f64(paced.max(parallel)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sends_are_spaced_at_the_rate_without_a_burst() {
        let mut b = TokenBucket::new(2.0).expect("bucket");
        let at: Vec<Duration> = (0..4).map(|_| b.reserve(Duration::ZERO).at).collect();
        assert_eq!(at, vec![ms(0), ms(500), ms(1000), ms(1500)]);
        // Idle time is not saved up: after a pause the next send is now, then spaced again.
        assert_eq!(b.reserve(ms(10_000)).at, ms(10_000));
        assert_eq!(b.reserve(ms(10_000)).at, ms(10_500));
        let mut fast = TokenBucket::new(10.0).expect("bucket");
        let last = (0..40).map(|_| fast.reserve(Duration::ZERO).at).last();
        assert_eq!(last, Some(ms(3900)));
    }

    #[test]
    fn rate_limits_halve_once_per_epoch_and_push_back() {
        let mut b = TokenBucket::new(4.0).expect("bucket");
        let t1 = b.reserve(ms(0));
        let t2 = b.reserve(ms(0));
        let t3 = b.reserve(ms(0));
        assert_eq!(t3.at, ms(500));
        // Two answers from the same too-fast period: one slowdown.
        assert!(b.rate_limited(&t1, ms(100)));
        assert!(!b.rate_limited(&t2, ms(120)));
        assert_eq!(b.rate(), 2.0);
        assert_eq!(b.slowdowns(), 1);
        // The next send waits one new interval after the answer (and after t3's slot).
        assert_eq!(b.reserve(ms(130)).at, ms(750));
        let t4 = b.reserve(ms(130));
        assert_eq!(t4.at, ms(1250));
        assert!(b.rate_limited(&t4, ms(1300)));
        assert_eq!(b.rate(), 1.0);
    }

    #[test]
    fn the_rate_has_a_floor_and_recovers_step_by_step() {
        let mut b = TokenBucket::new(1.0).expect("bucket");
        for i in 0..20 {
            let t = b.reserve(Duration::from_secs(i));
            b.rate_limited(&t, Duration::from_secs(i));
        }
        assert_eq!(b.rate(), 1.0 / MAX_SLOWDOWN);
        let mut b = TokenBucket::new(10.0).expect("bucket");
        let t = b.reserve(ms(0));
        b.rate_limited(&t, ms(0));
        assert_eq!(b.rate(), 5.0);
        b.succeeded();
        assert!((b.rate() - 6.0).abs() < 1e-9);
        for _ in 0..10 {
            b.succeeded();
        }
        assert_eq!(b.rate(), 10.0);
    }

    #[test]
    fn bad_rates_are_refused() {
        for q in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9, 1e-20, 0.0009] {
            let e = TokenBucket::new(q).expect_err("refused");
            assert!(e.contains("from 0.001"), "{e}");
        }
        assert!(TokenBucket::new(0.01).is_ok());
        assert!(TokenBucket::new(MIN_QPS).is_ok());
    }

    #[test]
    fn the_slowest_bucket_stays_far_from_the_end_of_time() {
        let mut b = TokenBucket::clamped(MIN_QPS);
        let mut t = b.reserve(ms(0));
        for _ in 0..20 {
            b.rate_limited(&t, t.at);
            t = b.reserve(t.at);
        }
        // 20 slowdowns (the rate stops at MIN_QPS / 64) and sends an interval apart.
        assert!(t.at < Duration::from_secs(30 * 24 * 3600), "{:?}", t.at);
        assert!(interval(f64::MIN_POSITIVE) <= MAX_INTERVAL);
    }

    #[test]
    fn eta_takes_the_slower_of_pacing_and_parallelism() {
        assert_eq!(eta(0, 0, 1.0, 1, None), Some(Duration::ZERO));
        assert_eq!(eta(5, 0, 1.0, 4, None), None);
        // 4 left, none in flight, 2 qps, 1 s each, 8 at once: paced (2 s + 1 s) wins.
        assert_eq!(eta(4, 0, 2.0, 8, Some(ms(1000))), Some(ms(3000)));
        // 10 left at 100 qps, 2 s each, 1 at once: parallelism (20 s) wins.
        assert_eq!(eta(10, 1, 100.0, 1, Some(ms(2000))), Some(ms(20_000)));
    }
}
