//! `volcv mock`: the embedded mock CVProcess server as a command.

use super::{EXIT_INVALID, EXIT_NO_ANSWER, EXIT_OK};
use crate::api::response::parse_go_duration;
use crate::api::secret::Secret;
use crate::mock::{self, MAX_CONCURRENCY, MockConfig};
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_long_help = mock::MOCK_HELP)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free one. The first line of stdout is the URL.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    /// Require `Authorization: Bearer KEY`. Prefer the env variable VOLCV_MOCK_API_KEY: a
    /// flag's value is in the process's command line, which every local user can read (ps).
    #[arg(
        long,
        env = "VOLCV_MOCK_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Verify Volcengine HMAC-SHA256 signatures made with this access key (needs --sk).
    /// Prefer VOLCV_MOCK_AK: a flag's value is visible to every local user (ps).
    #[arg(
        long,
        env = "VOLCV_MOCK_AK",
        value_name = "AK",
        requires = "sk",
        hide_env_values = true
    )]
    pub ak: Option<String>,
    /// The secret key for --ak. Prefer the env variable VOLCV_MOCK_SK: a flag's value is in
    /// the process's command line, which every local user can read (ps).
    #[arg(
        long,
        env = "VOLCV_MOCK_SK",
        value_name = "SK",
        requires = "ak",
        hide_env_values = true
    )]
    pub sk: Option<String>,
    /// Delay before every answer, e.g. 1.5s, 300ms, 2 (seconds).
    #[arg(long, default_value = "0s", value_parser = duration, value_name = "DURATION")]
    pub latency: Duration,
    /// Random extra delay, up to this much.
    #[arg(long, default_value = "0s", value_parser = duration, value_name = "DURATION")]
    pub jitter: Duration,
    /// Requests per second allowed; over it: 50429 (HTTP 429).
    #[arg(long, value_name = "N")]
    pub qps: Option<f64>,
    /// Requests handled at once; over it: 50430 (HTTP 429). At most 100000.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Probability (0..1) of a random failure with --fail-code.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_rate: f64,
    /// The business code of random failures.
    #[arg(long, default_value_t = 50500, value_name = "CODE")]
    pub fail_code: i64,
    /// How long returned image URLs work; then 403 like an expired signed URL.
    #[arg(long, default_value = "1h", value_parser = duration, value_name = "DURATION")]
    pub url_ttl: Duration,
    /// Async tasks: how long a task reports in_queue.
    #[arg(long, default_value = "1s", value_parser = duration, value_name = "DURATION")]
    pub task_queue_time: Duration,
    /// Async tasks: how long a task then reports generating.
    #[arg(long, default_value = "2s", value_parser = duration, value_name = "DURATION")]
    pub task_generate_time: Duration,
    /// Async tasks: how long after submission a task reports expired.
    #[arg(long, default_value = "12h", value_parser = duration, value_name = "DURATION")]
    pub task_ttl: Duration,
    /// Base URL of returned image URLs (when clients reach the mock by another name).
    #[arg(long, value_name = "URL")]
    pub public_base: Option<String>,
    /// Close a connection whose client takes longer than this to send a request's headers
    /// (or to begin the next one), or pauses longer inside a body.
    #[arg(long, default_value = "30s", value_parser = duration, value_name = "DURATION")]
    pub read_timeout: Duration,
    /// Connections served at once; more wait until one ends (1..=65536).
    #[arg(long, default_value_t = mock::config::DEFAULT_MAX_CONNECTIONS, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_connections: usize,
    /// No request log on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `1.5s`, `300ms`, `1h30m` (Go durations) or a plain number of seconds.
fn duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.trim().parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?} is not a non-negative number of seconds"));
    }
    parse_go_duration(s).ok_or_else(|| {
        format!("{s:?} is not a duration; use e.g. 1.5s, 300ms, 1h or a number of seconds")
    })
}

impl MockArgs {
    fn config(&self) -> Result<MockConfig, String> {
        if !(0.0..=1.0).contains(&self.fail_rate) {
            return Err(format!("--fail-rate {} is outside 0..1", self.fail_rate));
        }
        if self.qps.is_some_and(|q| !(q > 0.0 && q.is_finite())) {
            return Err("--qps must be a positive number".to_owned());
        }
        if let Some(n) = self.concurrency
            && !(1..=MAX_CONCURRENCY).contains(&n)
        {
            return Err(format!(
                "--concurrency {n} is outside 1..={MAX_CONCURRENCY} (requests handled at once)"
            ));
        }
        Ok(MockConfig {
            addr: self.addr,
            api_key: self.api_key.clone().map(Secret::new),
            ak_sk: match (&self.ak, &self.sk) {
                (Some(ak), Some(sk)) => Some((ak.clone(), Secret::new(sk.clone()))),
                _ => None,
            },
            latency: self.latency,
            jitter: self.jitter,
            qps: self.qps,
            concurrency: self.concurrency,
            fail_rate: self.fail_rate,
            fail_code: self.fail_code,
            url_ttl: self.url_ttl,
            task_queue_time: self.task_queue_time,
            task_generate_time: self.task_generate_time,
            task_ttl: self.task_ttl,
            quiet: self.quiet,
            public_base: self.public_base.clone(),
            read_timeout: self.read_timeout,
            max_connections: self.max_connections,
            ..MockConfig::default()
        })
    }
}

pub fn run(args: &MockArgs) -> u8 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("volcv mock: {e}");
            return EXIT_INVALID;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("volcv mock: {e}");
            return EXIT_NO_ANSWER;
        }
    };
    match runtime.block_on(mock::run_until_ctrl_c(cfg)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("volcv mock: cannot serve on {}: {e}", args.addr);
            EXIT_NO_ANSWER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("-1").is_err());
        assert!(duration("soon").expect_err("bad").contains("e.g. 1.5s"));
    }
}
