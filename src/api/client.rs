//! The HTTP client: one shared `reqwest::Client`, a total timeout that covers the body,
//! cancellation, retries where the code table says they help, a fresh signature per attempt,
//! and the capture of every exchange as an [`Exchange`] with secrets redacted.
//!
//! Once the service has answered (a status line came back) the request is never sent again
//! for a failure of the transport: a body cut short is recorded as the cut answer it is, since
//! a second POST would be a second, billed, generation. API calls never follow a redirect
//! (the API does not redirect; a redirect would re-POST the prompt and reference to another
//! host): the 3xx is the answer, with where it pointed. Every known secret that comes back in
//! an answer (a gateway echoing `Authorization`) is replaced before anyone sees or stores it.

use crate::api::auth::{self, AkSk, SignParams};
use crate::api::codes::Retry;
use crate::api::response::{Outcome, parse_response, redirect_outcome};
use crate::api::secret::{REDACTED, Scrubber, Secret};
use serde::Serialize;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The direct Volcengine endpoint (AK/SK signing).
pub const DIRECT_ENDPOINT: &str = "https://visual.volcengineapi.com/";
/// The default `Action`: the synchronous call that answers with the images.
pub const DEFAULT_ACTION: &str = "CVProcess";
/// The default `Version`, the one every CVProcess action (sync and async) takes.
pub const DEFAULT_VERSION: &str = "2022-08-31";
/// The default region in the signature scope.
pub const DEFAULT_REGION: &str = "cn-north-1";
/// The default service in the signature scope.
pub const DEFAULT_SERVICE: &str = "cv";

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <key>` (relays and gateways).
    Bearer(Secret),
    /// Volcengine HMAC-SHA256 signing.
    Volc {
        /// The access key pair (and session token, for temporary credentials) to sign with.
        creds: AkSk,
        /// The region in the credential scope: [`DEFAULT_REGION`] for the visual API.
        region: String,
        /// The service in the credential scope: [`DEFAULT_SERVICE`] for the visual API.
        service: String,
    },
}

impl Auth {
    /// The mode's name as used in config and flags.
    pub fn mode(&self) -> AuthMode {
        match self {
            Auth::None => AuthMode::None,
            Auth::Bearer(_) => AuthMode::Bearer,
            Auth::Volc { .. } => AuthMode::Volc,
        }
    }

    /// Every raw secret this auth holds, so callers can prove none leaked into output.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(k) => vec![k.expose()],
            Auth::Volc { creds, .. } => {
                let mut v = vec![creds.access_key.as_str(), creds.secret_key.expose()];
                if let Some(t) = &creds.session_token {
                    v.push(t.expose());
                }
                v
            }
        }
    }
}

/// The name of an auth mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Volcengine HMAC-SHA256 signing with AK/SK.
    Volc,
    /// `Authorization: Bearer` with an API key.
    Bearer,
    /// No authentication.
    None,
}

impl AuthMode {
    /// The mode used when none is configured: `volc` for the direct Volcengine host, else
    /// `bearer`.
    pub fn default_for(endpoint: &Url) -> AuthMode {
        if endpoint.host_str() == Some("visual.volcengineapi.com") {
            AuthMode::Volc
        } else {
            AuthMode::Bearer
        }
    }

    /// The mode's name in the config file and on the command line: `volc`, `bearer` or
    /// `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Volc => "volc",
            AuthMode::Bearer => "bearer",
            AuthMode::None => "none",
        }
    }
}

/// Timeouts, retries and limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connecting (TCP + TLS).
    pub connect_timeout: Duration,
    /// One attempt from start to the last byte of the body.
    pub timeout: Duration,
    /// Retries after the first attempt for retryable answers (50429, 50430).
    pub max_retries: u32,
    /// First backoff; doubled each retry, with up to 50% jitter added.
    pub backoff: Duration,
    /// Largest response body accepted.
    pub body_cap: usize,
    /// Certificate authorities trusted besides the system's (a company CA), for API calls and
    /// image downloads alike. The system's store already follows `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR`; proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (either case).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            body_cap: 64 * 1024 * 1024,
            extra_roots: Vec::new(),
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The full URL to POST to, without the Action/Version query (the client adds it).
    pub endpoint: Url,
    /// The `Action` of ordinary calls ([`DEFAULT_ACTION`], `CVProcess`); the async calls name
    /// their own action per call.
    pub action: String,
    /// The `Version` sent with every action ([`DEFAULT_VERSION`], `2022-08-31`).
    pub version: String,
    /// How each request is authenticated; Volcengine signatures are made afresh per attempt.
    pub auth: Auth,
}

impl Target {
    /// The URL of a call, with `Action` and `Version` (and any query the endpoint already had).
    pub fn url_for(&self, action: &str) -> Url {
        let mut url = self.endpoint.clone();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "Action" && k != "Version")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.append_pair("Action", action);
            q.append_pair("Version", &self.version);
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
        }
        url
    }
}

/// A request ready to go on the wire (also what `--dry-run` prints).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The HTTP method: always `POST` for the CVProcess API.
    pub method: &'static str,
    /// The full URL, with `Action` and `Version` in the query.
    pub url: Url,
    /// Headers as sent, secrets included: never print these, print [`Prepared::redacted_headers`].
    headers: Vec<(String, String)>,
    /// The exact body bytes sent, the ones `X-Content-Sha256` and the signature cover.
    pub body: Vec<u8>,
}

impl Prepared {
    /// The headers as they go on the wire, secrets included: only for `volcv curl
    /// --reveal-secrets` and the transport itself.
    pub(crate) fn raw_headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The headers with every secret replaced.
    pub fn redacted_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), redact_header(k, v)))
            .collect()
    }

    /// The request as text: request line, headers (redacted) and body.
    pub fn to_http_text(&self) -> String {
        let mut s = format!(
            "{} {}{} HTTP/1.1\n",
            self.method,
            self.url.path(),
            self.url
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        );
        // Every HTTP/1.1 request carries a Host (reqwest adds it from the URL): shown even when
        // the signature did not need it (bearer, no auth), so the text says where it goes.
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            s.push_str(&format!("Host: {}\n", host_header(&self.url)));
        }
        for (k, v) in self.redacted_headers() {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push('\n');
        s.push_str(&String::from_utf8_lossy(&self.body));
        s.push('\n');
        s
    }
}

/// Replaces the secret parts of a header's value.
pub fn redact_header(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "authorization" => {
            if let Some(rest) = value.strip_prefix("HMAC-SHA256 ") {
                // Keep the shape (scope and signed headers help debugging); hide AK and signature.
                let parts: Vec<String> = rest
                    .split(", ")
                    .map(|p| {
                        if let Some(cred) = p.strip_prefix("Credential=") {
                            match cred.split_once('/') {
                                Some((_, scope)) => format!("Credential={REDACTED}/{scope}"),
                                None => format!("Credential={REDACTED}"),
                            }
                        } else if p.starts_with("Signature=") {
                            format!("Signature={REDACTED}")
                        } else {
                            p.to_owned()
                        }
                    })
                    .collect();
                format!("HMAC-SHA256 {}", parts.join(", "))
            } else if value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") {
                format!("Bearer {REDACTED}")
            } else {
                REDACTED.to_owned()
            }
        }
        "x-security-token" | "x-api-key" | "cookie" | "proxy-authorization" => REDACTED.to_owned(),
        _ => value.to_owned(),
    }
}

/// Why no usable HTTP answer came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum TransportError {
    /// No connection was made (refused, DNS, TLS handshake, proxy); the text says which.
    /// Retried once, since nothing reached the service.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The attempt ran out of [`Options::timeout`] (the value given) before the last byte of
    /// the answer. Not retried: the service may be generating the image already.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The caller's cancellation token fired before an answer came back.
    #[error("cancelled")]
    Cancelled,
    /// The answer's body exceeded [`Options::body_cap`] (the value given, in bytes).
    #[error("response body larger than the {0} byte cap")]
    TooLarge(usize),
    /// The connection failed after it was made but before a status line came back (reset,
    /// closed, a read that timed out); retried once.
    #[error("connection failed: {0}")]
    Io(String),
}

/// One attempt of an exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// When the attempt started, relative to the exchange's start.
    #[serde(with = "duration_ms")]
    pub at: Duration,
    /// How long the attempt took, from sending to the last byte (or the failure).
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// The HTTP status of the answer, or `None` when no status line came back.
    pub http_status: Option<u16>,
    /// The business or gateway code, or the transport error.
    pub result: String,
}

/// Everything about one call: what was sent, what came back, how long it took. Secrets are
/// redacted here, at the single place exchanges are captured.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// The HTTP method sent (`POST`).
    pub method: String,
    /// The URL of the last attempt, with its query.
    pub url: String,
    /// The `Action` called (`CVProcess`, `CVSync2AsyncSubmitTask`, ...).
    pub action: String,
    /// The headers of the last attempt, with [`redact_header`] applied: safe to show and store.
    pub request_headers: Vec<(String, String)>,
    /// The exact request body bytes, as text.
    pub request_body: String,
    /// The HTTP status of the last attempt's answer, or `None` when no answer came back.
    pub http_status: Option<u16>,
    /// The last answer's headers, scrubbed of known secrets; empty when no answer came back.
    pub response_headers: Vec<(String, String)>,
    /// The response body of the last attempt (lossless bytes are kept in `response_bytes`).
    #[serde(skip)]
    pub response_bytes: Vec<u8>,
    /// When the first attempt started (UTC wall clock).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The whole exchange: every attempt and the backoffs between them.
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// Every attempt in order; more than one only when an answer or failure was retryable.
    pub attempts: Vec<Attempt>,
    /// The last attempt's answer parsed into an [`Outcome`] (whatever the HTTP status), or why
    /// there was no usable answer.
    pub result: Result<Outcome, TransportError>,
    /// How many copies of a known secret (API key, access key, the `Authorization` value as
    /// sent...) the answer carried; each was replaced by [`REDACTED`] in the body, the headers
    /// and the error text before anything else saw them. Zero for an honest server.
    #[serde(skip_serializing_if = "is_zero")]
    pub scrubbed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What the attempt log and the CLI say when an answer carried secrets.
pub fn scrubbed_note(n: usize) -> String {
    format!(
        "the answer carried {n} cop{} of a credential sent with the request (a gateway or \
         relay echoing Authorization?); replaced by {REDACTED} before it was shown or stored",
        if n == 1 { "y" } else { "ies" }
    )
}

impl Exchange {
    /// The response body as text (lossy for invalid UTF-8).
    pub fn response_text(&self) -> String {
        String::from_utf8_lossy(&self.response_bytes).into_owned()
    }

    /// The parsed answer, or `None` when the transport failed.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.result.as_ref().ok()
    }
}

mod duration_ms {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
    }
}

/// Redirects a result-image download follows (API calls follow none).
pub const DOWNLOAD_REDIRECTS: usize = 5;

/// The client. Cheap to clone: all clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    /// For API calls: follows no redirect.
    api: reqwest::Client,
    /// For result-image downloads: follows up to [`DOWNLOAD_REDIRECTS`] redirects. It never
    /// carries credentials (downloads add none, and reqwest drops `Authorization`, `Cookie`
    /// and the like on a redirect to another host) and sends no `Referer`.
    http: reqwest::Client,
    /// Where calls go and how they are authenticated.
    pub target: Target,
    /// The timeouts, retries and limits every call uses.
    pub options: Options,
}

impl Client {
    /// A client for `target`, with one connection pool for API calls and image downloads.
    /// Errs (with the reason) only when the TLS setup fails, e.g. an unusable certificate in
    /// [`Options::extra_roots`]; no connection is made here.
    pub fn new(target: Target, options: Options) -> Result<Self, String> {
        let build = |policy| {
            reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .user_agent(concat!("volcv/", env!("CARGO_PKG_VERSION")))
                .redirect(policy)
                .referer(false)
                .tls_certs_merge(options.extra_roots.iter().cloned())
                .build()
                .map_err(|e| format!("could not set up the HTTP client: {e}"))
        };
        let api = build(reqwest::redirect::Policy::none())?;
        let http = build(reqwest::redirect::Policy::limited(DOWNLOAD_REDIRECTS))?;
        Ok(Self {
            api,
            http,
            target,
            options,
        })
    }

    /// The shared `reqwest::Client` for image downloads (follows a few redirects, carries no
    /// credentials).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Builds the request for `action` with `body` as the exact bytes to send, signed now.
    pub fn prepare(&self, action: &str, body: Vec<u8>) -> Prepared {
        self.prepare_at(action, body, OffsetDateTime::now_utc())
    }

    /// [`Client::prepare`] at a given time (for tests and reproducible output).
    pub fn prepare_at(&self, action: &str, body: Vec<u8>, now: OffsetDateTime) -> Prepared {
        let url = self.target.url_for(action);
        let content_type = "application/json";
        let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        match &self.target.auth {
            Auth::None => {}
            Auth::Bearer(key) => {
                headers.push((
                    "Authorization".to_owned(),
                    format!("Bearer {}", key.expose()),
                ));
            }
            Auth::Volc {
                creds,
                region,
                service,
            } => {
                let host = host_header(&url);
                let query: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let x_date = auth::format_x_date(now);
                let signed = auth::sign(
                    creds,
                    &SignParams {
                        method: "POST",
                        host: &host,
                        path: url.path(),
                        query: &query,
                        content_type,
                        body: &body,
                        x_date: &x_date,
                        region,
                        service,
                    },
                );
                headers.push(("Host".to_owned(), host));
                for (k, v) in signed.headers() {
                    headers.push((k.to_owned(), v));
                }
            }
        }
        Prepared {
            method: "POST",
            url,
            headers,
            body,
        }
    }

    /// Sends `body` with the default action.
    pub async fn send(&self, body: &serde_json::Value, cancel: &CancellationToken) -> Exchange {
        let action = self.target.action.clone();
        self.call(&action, body, cancel).await
    }

    /// Sends `body` with `action`, retrying where the code table says it helps: 50429 and
    /// 50430 up to `max_retries` times with exponential backoff and jitter; 50500/50501, a
    /// 5xx without a known code and a failed connection once. A timeout is not retried (the
    /// service may still be generating, and paying, for the first attempt).
    pub async fn call(
        &self,
        action: &str,
        body: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Exchange {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.call_bytes(action, bytes, cancel).await
    }

    /// [`Client::call`] with the exact body bytes.
    pub async fn call_bytes(
        &self,
        action: &str,
        bytes: Vec<u8>,
        cancel: &CancellationToken,
    ) -> Exchange {
        let started_at = OffsetDateTime::now_utc();
        let start = Instant::now();
        let mut attempts = Vec::new();
        let mut once_used = false;
        let mut backoff_used = 0u32;
        loop {
            // A fresh signature (and X-Date) on every attempt.
            let prepared = self.prepare(action, bytes.clone());
            let scrubber = Scrubber::new(&wire_secrets(&prepared));
            let at = start.elapsed();
            let t0 = Instant::now();
            // Scrubbed before anything reads it; parsed once: the outcome decides the retry
            // and goes into the exchange.
            let result = match self.attempt(&prepared, cancel).await {
                Ok(raw) => Ok(answer_of(scrub_raw(raw, &scrubber), &prepared.url)),
                Err(e) => Err(scrub_error(e, &scrubber)),
            };
            let duration = t0.elapsed();
            let (retry, summary, status) = match &result {
                Ok((raw, outcome)) => {
                    let mut summary = outcome
                        .code()
                        .map_or_else(|| format!("HTTP {}", raw.status), |c| c.to_string());
                    if raw.cut.is_some() {
                        summary.push_str(", body cut short");
                    }
                    if raw.scrubbed > 0 {
                        summary.push_str(&format!("; {}", scrubbed_note(raw.scrubbed)));
                    }
                    // The service answered: a transport failure after the status line is
                    // never a reason to POST again (it would be generated and billed twice).
                    let retry = if raw.cut.is_some() {
                        Retry::No
                    } else {
                        outcome.retry()
                    };
                    (retry, summary, Some(raw.status))
                }
                Err(TransportError::Connect(_)) | Err(TransportError::Io(_)) => (
                    Retry::Once,
                    result
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    None,
                ),
                Err(e) => (Retry::No, e.to_string(), None),
            };
            attempts.push(Attempt {
                at,
                duration,
                http_status: status,
                result: summary,
            });
            let again = match retry {
                Retry::Backoff | Retry::AfterInflight
                    if backoff_used < self.options.max_retries =>
                {
                    backoff_used += 1;
                    Some(self.backoff_delay(backoff_used))
                }
                Retry::Once if !once_used => {
                    once_used = true;
                    Some(self.backoff_delay(1))
                }
                _ => None,
            };
            if let Some(delay) = again {
                tokio::select! {
                    () = cancel.cancelled() => {
                        return self.finish(action, prepared, started_at, start, attempts, Err(TransportError::Cancelled));
                    }
                    () = tokio::time::sleep(delay) => continue,
                }
            }
            return self.finish(action, prepared, started_at, start, attempts, result);
        }
    }

    fn backoff_delay(&self, n: u32) -> Duration {
        let base = self.options.backoff.saturating_mul(1 << (n - 1).min(10));
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        base + jitter
    }

    fn finish(
        &self,
        action: &str,
        prepared: Prepared,
        started_at: OffsetDateTime,
        start: Instant,
        attempts: Vec<Attempt>,
        result: Result<(RawResponse, Outcome), TransportError>,
    ) -> Exchange {
        let request_headers = prepared.redacted_headers();
        let request_body = String::from_utf8_lossy(&prepared.body).into_owned();
        let (http_status, response_headers, response_bytes, scrubbed, result) = match result {
            Ok((raw, outcome)) => (
                Some(raw.status),
                raw.headers,
                raw.body,
                raw.scrubbed,
                Ok(outcome),
            ),
            Err(e) => (None, Vec::new(), Vec::new(), 0, Err(e)),
        };
        Exchange {
            method: prepared.method.to_owned(),
            url: prepared.url.to_string(),
            action: action.to_owned(),
            request_headers,
            request_body,
            http_status,
            response_headers,
            response_bytes,
            started_at,
            duration: start.elapsed(),
            attempts,
            result,
            scrubbed,
        }
    }

    async fn attempt(
        &self,
        prepared: &Prepared,
        cancel: &CancellationToken,
    ) -> Result<RawResponse, TransportError> {
        let timeout = self.options.timeout;
        let work = async {
            let mut req = self.api.post(prepared.url.clone());
            for (k, v) in &prepared.headers {
                // reqwest derives Host from the URL; sending it twice confuses some servers.
                if !k.eq_ignore_ascii_case("host") {
                    req = req.header(k, v);
                }
            }
            let mut resp = req
                .body(prepared.body.clone())
                .send()
                .await
                .map_err(classify)?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let cap = self.options.body_cap;
            if resp.content_length().is_some_and(|n| n > cap as u64) {
                return Err(TransportError::TooLarge(cap));
            }
            // Sized once when the length is announced (it is within the cap, checked above).
            let mut body = Vec::with_capacity(
                resp.content_length()
                    .map_or(0, |n| usize::try_from(n).unwrap_or(0)),
            );
            // Past the status line the service has answered: a failure now (a reset, a body
            // shorter than its Content-Length) is recorded with what arrived, not retried.
            let mut cut = None;
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if body.len() + chunk.len() > cap {
                            return Err(TransportError::TooLarge(cap));
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let why = match classify(e) {
                            TransportError::Connect(m) | TransportError::Io(m) => m,
                            other => other.to_string(),
                        };
                        cut = Some(why);
                        break;
                    }
                }
            }
            Ok(RawResponse {
                status,
                headers,
                body,
                cut,
                scrubbed: 0,
            })
        };
        tokio::select! {
            () = cancel.cancelled() => Err(TransportError::Cancelled),
            r = tokio::time::timeout(timeout, work) => match r {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout(timeout)),
            },
        }
    }
}

/// A response as received.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Why the body ended early (a reset, a short Content-Length), when it did.
    cut: Option<String>,
    /// How many secrets [`scrub_raw`] replaced.
    scrubbed: usize,
}

/// The secret values a prepared request carries besides the remembered keys: the whole
/// `Authorization` value (with its signature), the signature alone, a security token.
fn wire_secrets(prepared: &Prepared) -> Vec<&str> {
    let mut out = Vec::new();
    for (k, v) in prepared.raw_headers() {
        match k.to_ascii_lowercase().as_str() {
            "authorization" => {
                out.push(v.as_str());
                if let Some(sig) = v.split(", ").find_map(|p| p.strip_prefix("Signature=")) {
                    out.push(sig);
                }
            }
            "x-security-token" => out.push(v.as_str()),
            _ => {}
        }
    }
    out
}

/// `raw` with every known secret replaced in its body and headers.
fn scrub_raw(mut raw: RawResponse, scrubber: &Scrubber) -> RawResponse {
    let mut n = 0;
    if let Some((body, found)) = scrubber.bytes(&raw.body) {
        raw.body = body;
        n += found;
    }
    for (_, v) in &mut raw.headers {
        *v = scrubber.text(v, &mut n);
    }
    if let Some(cut) = &mut raw.cut {
        *cut = scrubber.text(cut, &mut n);
    }
    raw.scrubbed = n;
    raw
}

/// A transport error with every known secret replaced in its text.
fn scrub_error(e: TransportError, scrubber: &Scrubber) -> TransportError {
    let mut n = 0;
    match e {
        TransportError::Connect(m) => TransportError::Connect(scrubber.text(&m, &mut n)),
        TransportError::Io(m) => TransportError::Io(scrubber.text(&m, &mut n)),
        other => other,
    }
}

/// The outcome of an answer: parsed, with a redirect (never followed) and a body cut short
/// said for what they are.
fn answer_of(raw: RawResponse, url: &Url) -> (RawResponse, Outcome) {
    let mut outcome = if (300..400).contains(&raw.status) {
        let location = raw
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| shown_location(url, v));
        redirect_outcome(
            raw.status,
            raw.content_type(),
            &raw.body,
            location.as_deref(),
        )
    } else {
        parse_response(raw.status, raw.content_type(), &raw.body)
    };
    if let (Some(cut), Outcome::NonJson(n)) = (&raw.cut, &mut outcome) {
        n.reason = format!(
            "answer cut short after {} bytes ({cut}); not sent again, since the service had \
             answered: {}",
            raw.body.len(),
            n.reason
        );
    }
    (raw, outcome)
}

/// Where a redirect pointed, for the message: resolved against the request's URL, without
/// user info and with the query left out (it may carry someone's signature).
fn shown_location(base: &Url, location: &str) -> String {
    match base.join(location) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        Err(_) => crate::text::truncate_chars(location, 200),
    }
}

impl RawResponse {
    fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
    }
}

/// Turns a reqwest error into a message that never contains the URL's query or credentials.
fn classify(e: reqwest::Error) -> TransportError {
    let e = e.without_url();
    // reqwest's chain reads "error sending request: client error (Connect): tcp connect
    // error: Connection refused"; the last two links say what happened.
    let mut chain = vec![e.to_string()];
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let mut msg = chain[chain.len().saturating_sub(2)..].join(": ");
    if msg.contains("InvalidContentType") || msg.contains("corrupt message") {
        msg.push_str(
            " (the server did not answer TLS: is the endpoint http:// rather than https://?)",
        );
    }
    if e.is_connect() {
        TransportError::Connect(msg)
    } else if e.is_timeout() {
        TransportError::Io(format!("timed out: {msg}"))
    } else {
        TransportError::Io(msg)
    }
}

/// The `Host` header value for a URL: host, plus the port unless it is the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(auth: Auth) -> Target {
        Target {
            endpoint: Url::parse(DIRECT_ENDPOINT).expect("url"),
            action: DEFAULT_ACTION.into(),
            version: DEFAULT_VERSION.into(),
            auth,
        }
    }

    #[test]
    fn url_carries_action_and_version() {
        let t = target(Auth::None);
        assert_eq!(
            t.url_for("CVProcess").as_str(),
            "https://visual.volcengineapi.com/?Action=CVProcess&Version=2022-08-31"
        );
        let mut t = t;
        t.endpoint = Url::parse("https://relay.example/volcv/v1?x=1&Action=Old").expect("url");
        assert_eq!(
            t.url_for("CVSync2AsyncSubmitTask").as_str(),
            "https://relay.example/volcv/v1?Action=CVSync2AsyncSubmitTask&Version=2022-08-31&x=1"
        );
    }

    #[test]
    fn the_request_text_names_the_host_for_every_auth() {
        for auth in [
            Auth::None,
            Auth::Bearer(Secret::new("sk-test-key".to_owned())),
        ] {
            let mut t = target(auth);
            t.endpoint = Url::parse("http://127.0.0.1:8123/volcv/v1").expect("url");
            let client = Client::new(t, Options::default()).expect("client");
            let text = client.prepare("CVProcess", b"{}".to_vec()).to_http_text();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[1], "Host: 127.0.0.1:8123", "{text}");
            assert_eq!(text.matches("Host:").count(), 1, "one Host line: {text}");
            assert!(!text.contains("sk-test-key"), "{text}");
        }
        let client = Client::new(target(Auth::None), Options::default()).expect("client");
        let text = client.prepare("CVProcess", b"{}".to_vec()).to_http_text();
        assert!(
            text.contains("\nHost: visual.volcengineapi.com\n"),
            "{text}"
        );
    }

    #[test]
    fn default_auth_mode_follows_the_host() {
        let direct = Url::parse(DIRECT_ENDPOINT).expect("url");
        let relay = Url::parse("https://ai.example/volcv/v1").expect("url");
        assert_eq!(AuthMode::default_for(&direct), AuthMode::Volc);
        assert_eq!(AuthMode::default_for(&relay), AuthMode::Bearer);
    }

    #[test]
    fn signed_request_matches_test_vector_b_and_redacts() {
        // cvprocess-api.md, test vector B.
        let creds = AkSk {
            access_key: "AKTESTEXAMPLE".into(),
            secret_key: Secret::new("SKTESTEXAMPLE"),
            session_token: None,
        };
        let client = Client::new(
            target(Auth::Volc {
                creds,
                region: DEFAULT_REGION.into(),
                service: DEFAULT_SERVICE.into(),
            }),
            Options::default(),
        )
        .expect("client");
        let body = br#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/a.jpg"],"prompt":"a cat"}"#;
        let now = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        let p = client.prepare_at("CVProcess", body.to_vec(), now);
        let auth = p
            .headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .map(|(_, v)| v.clone())
            .expect("authorization");
        assert_eq!(
            auth,
            "HMAC-SHA256 Credential=AKTESTEXAMPLE/20240102/cn-north-1/cv/request, \
             SignedHeaders=content-type;host;x-content-sha256;x-date, \
             Signature=0ef40e3a2249b36a0bdc2b6f5f4be38b65d032bbdab380159c402d8db6a00629"
        );
        let text = p.to_http_text();
        assert!(!text.contains("AKTESTEXAMPLE"), "{text}");
        assert!(!text.contains("0ef40e3a"), "{text}");
        assert!(text.contains("Credential=<redacted>/20240102/cn-north-1/cv/request"));
        assert!(text.contains("X-Content-Sha256: a4780869feed"));
    }

    #[test]
    fn bearer_is_redacted() {
        assert_eq!(
            redact_header("Authorization", "Bearer sk-123"),
            "Bearer <redacted>"
        );
        assert_eq!(redact_header("authorization", "weird"), "<redacted>");
        assert_eq!(redact_header("X-Security-Token", "tok"), "<redacted>");
        assert_eq!(redact_header("Content-Type", "a/b"), "a/b");
    }
}
