//! The mock's options (no CLI types: `volcv mock` maps its flags onto [`MockConfig`]) and the
//! help text shared by `volcv mock --help` and the README.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::api::secret::Secret;

/// The address `volcv mock` listens on unless told otherwise.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);

/// Largest request body the mock reads (32 MiB); larger bodies get business code 50213.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How long a client may take to send a request's headers, or to start the next request on
/// a kept-alive connection, or between two pieces of a body, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once by default; more wait in the kernel's backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The largest `max_connections`.
pub const MAX_CONNECTIONS: usize = 65_536;
/// Request-body bytes held in memory at once (all requests together) by default; a request
/// whose body would go over it is answered 50430 (HTTP 429) without being read.
pub const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT: usize = 256 * 1024 * 1024;

/// The largest `concurrency` (tokio's semaphore panics beyond `usize::MAX >> 3`; no test
/// suite needs more requests in flight than this).
pub const MAX_CONCURRENCY: usize = 100_000;

/// How the mock behaves. `Default` is an open (no auth), fault-free server on
/// [`DEFAULT_ADDR`] that logs one line per request to stderr.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Where to listen; port 0 picks a free port (see [`super::MockServer::addr`]).
    pub addr: SocketAddr,
    /// When set, every API request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<Secret>,
    /// When set, API requests may be signed with this access key / secret key pair
    /// (HMAC-SHA256, region `cn-north-1`, service `cv`).
    pub ak_sk: Option<(String, Secret)>,
    /// Added before every API answer that gets past the gateway checks.
    pub latency: Duration,
    /// A uniformly random extra `0..=jitter` added to `latency`.
    pub jitter: Duration,
    /// Requests per second allowed (token bucket holding `max(qps, 1)` tokens); over it the
    /// answer is 50429 (HTTP 429).
    pub qps: Option<f64>,
    /// Requests handled at once; one more is answered 50430 (HTTP 429).
    pub concurrency: Option<usize>,
    /// Probability (0..=1) that a request fails with `fail_code`.
    pub fail_rate: f64,
    /// The business code of random failures.
    pub fail_code: i64,
    /// How long returned image URLs work.
    pub url_ttl: Duration,
    /// How long an async task reports `in_queue`.
    pub task_queue_time: Duration,
    /// How long an async task then reports `generating` before `done`.
    pub task_generate_time: Duration,
    /// How long after submission an async task reports `expired`.
    pub task_ttl: Duration,
    /// No request log on stderr (set it when the mock runs inside the TUI).
    pub quiet: bool,
    /// Base URL of the image URLs the mock returns (e.g. `http://myhost:8787` when clients
    /// reach the mock through another name). Default: `http://` + the bound address, with an
    /// unspecified bind address (`0.0.0.0`, `::`) replaced by loopback.
    pub public_base: Option<String>,
    /// A connection is closed when its client takes longer than this to send a request's
    /// headers (or to begin the next request), or pauses longer inside a body.
    pub read_timeout: Duration,
    /// Connections served at once; further ones wait (in the kernel's backlog) until one ends.
    pub max_connections: usize,
    /// Request-body bytes held at once, all requests together; over it: 50430 (HTTP 429).
    pub max_body_bytes_in_flight: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR,
            api_key: None,
            ak_sk: None,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            qps: None,
            concurrency: None,
            fail_rate: 0.0,
            fail_code: 50500,
            url_ttl: Duration::from_secs(3600),
            task_queue_time: Duration::from_secs(1),
            task_generate_time: Duration::from_secs(3),
            task_ttl: Duration::from_secs(12 * 3600),
            quiet: false,
            public_base: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes_in_flight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
        }
    }
}

/// What the mock does and how to make it misbehave: printed by `volcv mock --help` and copied
/// into the README.
pub const MOCK_HELP: &str = "\
The mock speaks the CVProcess API offline: POST / (direct) and POST /volcv/v1 (gateway),
with Action and Version in the query. It renders a deterministic synthetic JPEG for every
valid request: the same seed and parameters give the same bytes; seed -1 draws one. A
reference given in image_urls is never fetched: a stand-in derived from the URL is used.

Actions (Version 2022-08-31):
  CVProcess               synchronous; the envelope of the user's sample, key for key
  CVSync2AsyncSubmitTask  same body; return_url and logo_info are ignored, as the service
                          does; answers data.task_id
  CVSync2AsyncGetResult   {req_key, task_id, req_json}; req_json is a JSON-encoded string
                          with return_url and logo_info; data.status is in_queue, then
                          generating, then done (images as in CVProcess); not_found for an
                          unknown (or evicted) task_id; expired after the task TTL.
                          Defaults: 1 s in_queue, 3 s generating, expired after 12 h;
                          the last 1024 tasks (at most 256 MiB of references) are kept
Anything else answers the gateway error 100008 InvalidActionOrVersion (HTTP 404).

Images: return_url true puts signed URLs in data.image_urls
(GET /images/ID.jpg?x-expires=UNIX&x-signature=HEX); they expire after the URL TTL
(then 403 AccessDenied \"Request has expired\", XML like an object store). return_url false or
absent puts base64 JPEGs in data.binary_data_base64. The last 256 images (at most 256 MiB)
are kept. use_sr doubles width and height. logo_info.add_logo draws the watermark.

Authentication: with an API key, requests need `Authorization: Bearer KEY` (none: 100003
MissingAuthenticationToken; wrong: 100009 InvalidAccessKey; HTTP 401). With an AK/SK pair,
requests must be signed (HMAC-SHA256, cn-north-1, cv): 100010 SignatureDoesNotMatch,
100009 unknown access key, 100006 X-Date more than 900 s off, 100005 malformed
Authorization, 100004 a signed header missing, 100003 none (HTTP 401 or 400). With both,
either works. With neither, anything goes. The Host header is verified as received.

Models: every req_key `volcv schema --all` lists, each checked against its own schema
(ranges, defaults). Text-to-image models (high_aes_general_*) ignore reference images;
high_aes_ip_v20 and byteedit_v2.0 need exactly one.

Validation (HTTP 400, data null): 50204 body not a JSON object or a field of the wrong type;
50201 req_key or prompt missing; 50400 unknown req_key; 50206 no reference image; 50200 two
reference images, a non-http(s) URL, or a number out of range (the message names the field);
50207 a data: prefix, bad base64, or bytes that are not a decodable JPEG/PNG; 50205 a
reference image over 4.7 MB decoded; 50215 a reference image over 4096 px a side or
20000000 px in all; 50213 a body over 32 MiB. Unknown fields are ignored. The mock renders
1..2048 px a side (after use_sr): a size outside that is 50200 (the mock's own limit, for
sizes the schema leaves open).

Limits and faults (options): latency + uniform jitter before each answer; qps (token bucket,
50429, HTTP 429); concurrency (50430, HTTP 429); fail-rate P with fail-code C (random
failures, default 50500). Gateway checks (route, auth, qps, concurrency) answer at once.

Bounds (a server others run in their test suites): a client has the read timeout (default
30 s) to send a request's headers, to begin the next request on a kept-alive connection, and
between two parts of a body (50204), else the connection is closed; at most max-connections
(default 512) are served at once, more wait in the kernel's backlog until one ends; request
bodies held at once total at most 256 MiB (a body that would go over: 50430, HTTP 429).

Triggers: put these in the prompt to get a fault on demand (they are cut out of the prompt
before generation; several may be combined; an unknown one answers 50200):
  [mock:CODE]            answer that business code, e.g. [mock:50411] or [mock:50429];
                         HTTP status from the code table (unknown codes: 505xx 500, else 400)
  [mock:gateway=CODEN]   a ResponseMetadata error, e.g. [mock:gateway=100010]
  [mock:html502]         an nginx-style HTML 502 Bad Gateway page
  [mock:text500]         a plain-text 500
  [mock:relay]           a relay's {\"error\":{\"message\":...,\"type\":\"upstream_error\"}}, HTTP 502
  [mock:empty]           HTTP 200 with an empty body
  [mock:nth=K:WHAT]      answer WHAT (any trigger above) for the first K requests with this
                         exact prompt, then answer normally: [mock:nth=2:50429] succeeds on
                         the third try
  [mock:slow=DUR]        wait DUR (e.g. 1500ms, 5s; at most 10 minutes) before answering
  [mock:trickle]         send the body one byte every 500 ms ([mock:trickle=20ms] sets the pace)
  [mock:truncate]        cut the JSON body in half (Content-Length matches the cut body)
  [mock:reset]           announce the full Content-Length, send half, then drop the connection
Triggers act as soon as the body is a JSON object with a string prompt, before any other
validation; they also work on CVSync2AsyncSubmitTask.
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::MAX_IMAGE_BYTES;
    use crate::mock::render::{MAX_REFERENCE_PIXELS, MAX_REFERENCE_SIDE};
    use crate::mock::{MAX_STORED_IMAGE_BYTES, MAX_STORED_IMAGES, MAX_TASK_BYTES, MAX_TASKS};

    /// The numbers in the help text are the ones the code uses.
    #[test]
    fn help_states_the_real_limits() {
        let d = MockConfig::default();
        let mib = |n: usize| format!("{} MiB", n / (1024 * 1024));
        for needle in [
            format!("body over {}", mib(MAX_BODY_BYTES)),
            format!(
                "last {MAX_STORED_IMAGES} images (at most {})",
                mib(MAX_STORED_IMAGE_BYTES)
            ),
            format!(
                "last {MAX_TASKS} tasks (at most {} of references)",
                mib(MAX_TASK_BYTES)
            ),
            format!("over {MAX_REFERENCE_SIDE} px a side or\n{MAX_REFERENCE_PIXELS} px"),
            format!("over {:.1} MB decoded", MAX_IMAGE_BYTES as f64 / 1e6),
            format!("{} s in_queue", d.task_queue_time.as_secs()),
            format!("{} s generating", d.task_generate_time.as_secs()),
            format!("expired after {} h", d.task_ttl.as_secs() / 3600),
            format!("default {}", d.fail_code),
        ] {
            assert!(MOCK_HELP.contains(&needle), "MOCK_HELP lacks {needle:?}");
        }
        assert_eq!(d.addr.to_string(), "127.0.0.1:8787");
        assert_eq!(d.url_ttl.as_secs(), 3600);
        assert!(MOCK_HELP.lines().all(|l| l.chars().count() <= 100));
    }
}
