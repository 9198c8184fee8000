//! The HTTP side of the mock: routes, gateway checks (auth, QPS, concurrency), the three
//! actions, fault delivery, signed image URLs, and the server's lifecycle.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, get};
use base64::Engine as _;
use futures::StreamExt as _;
use hmac::{Hmac, KeyInit, Mac};
use image::RgbImage;
use percent_encoding::percent_decode_str;
use rand::Rng as _;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::auth::{self, ExpectedScope, IncomingRequest};
use crate::api::codes::SUCCESS;
use crate::api::schema::{SEED_MAX, json_type};

use super::config::{MAX_BODY_BYTES, MockConfig};
use super::faults::{Delivery, Fault, NthCounters, TokenBucket, parse_triggers};
use super::render::{self, Reference, RenderError, RenderSpec, Watermark};
use super::rephrase::rephrase;
use super::state::{ImageStore, MockStats, StoredImage, TaskStore};
use super::validate::{
    ImageInput, OutputOpts, Params, Rejection, WatermarkOpts, check_generation,
    check_output_options, output_options, parse_object, schema_of,
};
use super::wire::{
    REGION, SERVICE, VERSION, business_http_status, business_message, envelope, gateway_error,
    gateway_name_and_status, generation_data, task_id, top_request_id,
};

const JSON: &str = "application/json; charset=utf-8";

/// How long [`MockServer::shutdown`] waits for in-flight requests before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Distinct watermark variants rendered and kept per async task.
const MAX_RENDERS_PER_TASK: usize = 8;

/// The page an nginx in front of a dead upstream answers with.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The API's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Process,
    Submit,
    GetResult,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "CVProcess" => Some(Action::Process),
            "CVSync2AsyncSubmitTask" => Some(Action::Submit),
            "CVSync2AsyncGetResult" => Some(Action::GetResult),
            _ => None,
        }
    }
}

/// A running mock server. Dropping it stops the server in the background (it stops accepting
/// connections and pending delays end at once); [`MockServer::shutdown`] also waits for that.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    join: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds `cfg.addr`, starts serving on the current tokio runtime, and returns once the
    /// socket is listening. Fails on a bind error or an option out of range (`fail_rate`
    /// outside 0..=1, `qps` not positive, `concurrency` 0).
    pub async fn start(cfg: MockConfig) -> io::Result<MockServer> {
        check_config(&cfg)?;
        let listener = TcpListener::bind(cfg.addr).await?;
        let addr = listener.local_addr()?;
        let public_base = match &cfg.public_base {
            Some(base) => base.trim_end_matches('/').to_owned(),
            None => format!("http://{}", reachable(addr)),
        };
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared::new(cfg, public_base, cancel.clone()));
        let app = router(shared.clone());
        let stop = cancel.clone();
        let quiet = shared.cfg.quiet;
        let join = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served
                && !quiet
            {
                eprintln!("mock: server error: {e}");
            }
        });
        Ok(MockServer {
            addr,
            shared,
            cancel,
            join: Some(join),
        })
    }

    /// The address the server is bound to (with the actual port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, e.g. `http://127.0.0.1:8787/` (loopback when bound to an
    /// unspecified address).
    pub fn url(&self) -> String {
        format!("http://{}/", reachable(self.addr))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        lock(&self.shared.stats).clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (pending delays are cut
    /// short) for up to 5 seconds, then stops.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(join) = self.join.take() {
            let abort = join.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, join).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts the mock for `volcv mock`: prints the base URL (e.g. `http://127.0.0.1:8787/`) as the
/// first line of stdout, then serves until Ctrl-C or SIGTERM and shuts down gracefully.
pub async fn run_until_ctrl_c(cfg: MockConfig) -> io::Result<()> {
    use std::io::Write as _;
    let quiet = cfg.quiet;
    let server = MockServer::start(cfg).await?;
    let url = server.url();
    {
        let mut out = io::stdout().lock();
        writeln!(out, "{url}")?;
        out.flush()?;
    }
    if !quiet {
        eprintln!("mock: listening on {url} (Ctrl-C to stop)");
    }
    wait_for_stop_signal().await?;
    if !quiet {
        eprintln!("mock: stopping");
    }
    server.shutdown().await;
    Ok(())
}

async fn wait_for_stop_signal() -> io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

fn check_config(cfg: &MockConfig) -> io::Result<()> {
    let invalid = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
    if !(0.0..=1.0).contains(&cfg.fail_rate) {
        return invalid(format!("fail rate {} is outside 0..1", cfg.fail_rate));
    }
    if let Some(q) = cfg.qps
        && !(q.is_finite() && q > 0.0)
    {
        return invalid(format!("qps {q} must be a positive number"));
    }
    if cfg.concurrency == Some(0) {
        return invalid("concurrency must be at least 1".to_owned());
    }
    Ok(())
}

/// The address to put in URLs: loopback instead of an unspecified bind address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// Locks a mutex, ignoring poisoning (every critical section leaves its data consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    cfg: MockConfig,
    public_base: String,
    /// Key of the image URL signatures, fresh for every server.
    url_key: [u8; 64],
    images: Mutex<ImageStore>,
    tasks: Mutex<TaskStore<Task>>,
    stats: Mutex<MockStats>,
    bucket: Option<Mutex<TokenBucket>>,
    permits: Option<Arc<Semaphore>>,
    nth: Mutex<NthCounters>,
    cancel: CancellationToken,
}

impl Shared {
    fn new(cfg: MockConfig, public_base: String, cancel: CancellationToken) -> Self {
        let mut url_key = [0u8; 64];
        rand::rng().fill(&mut url_key[..]);
        Self {
            bucket: cfg.qps.map(|q| Mutex::new(TokenBucket::new(q))),
            permits: cfg.concurrency.map(|n| Arc::new(Semaphore::new(n))),
            cfg,
            public_base,
            url_key,
            images: Mutex::default(),
            tasks: Mutex::default(),
            stats: Mutex::default(),
            nth: Mutex::default(),
            cancel,
        }
    }

    /// Sleeps, or returns early when the server shuts down.
    async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.cancel.cancelled() => {}
        }
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.cfg.quiet {
            eprintln!("mock: {line}");
        }
    }

    /// The signature of an image URL.
    fn url_signature(&self, id: &str, expires: u64) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.url_key.into());
        mac.update(id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Keeps a JPEG for download and returns its signed URL.
    fn store_image(&self, jpeg: Arc<Vec<u8>>) -> String {
        let now = Instant::now();
        let id = hex::encode(rand::rng().random::<[u8; 16]>());
        let ttl = self.cfg.url_ttl;
        let expires = unix_now()
            .saturating_add(ttl.as_secs())
            .saturating_add(u64::from(ttl.subsec_nanos() > 0));
        let sig = self.url_signature(&id, expires);
        let expires_at = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86400 * 365));
        lock(&self.images).insert(id.clone(), StoredImage { jpeg, expires_at }, now);
        format!(
            "{}/images/{id}.jpg?x-expires={expires}&x-signature={sig}",
            self.public_base
        )
    }

    /// The `(binary_data_base64, image_urls)` lists for one result image.
    fn deliver(&self, jpeg: Arc<Vec<u8>>, return_url: bool) -> (Vec<String>, Vec<String>) {
        if return_url {
            (Vec::new(), vec![self.store_image(jpeg)])
        } else {
            (
                vec![base64::engine::general_purpose::STANDARD.encode(jpeg.as_slice())],
                Vec::new(),
            )
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", any(api))
        .route("/volcv/v1", any(api))
        .route("/images/{file}", get(image))
        .fallback(no_route)
        .with_state(shared)
}

/// What an API request is answered with, before delivery.
#[derive(Debug)]
enum Answer {
    /// The service envelope; `data` only with code 10000.
    Envelope {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// A gateway error in the `ResponseMetadata` shape.
    Gateway {
        code_n: u32,
        name: &'static str,
        message: String,
        status: u16,
    },
    /// A fault that is not an envelope (HTML, plain text, relay JSON, empty).
    Raw(Fault),
}

impl Answer {
    fn success(data: Value) -> Self {
        Answer::Envelope {
            code: SUCCESS,
            message: "Success".to_owned(),
            data: Some(data),
        }
    }

    fn business(code: i64) -> Self {
        Answer::Envelope {
            code,
            message: business_message(code),
            data: None,
        }
    }

    fn gateway(code_n: u32, message: impl Into<String>) -> Self {
        let (name, status) = gateway_name_and_status(code_n);
        Answer::Gateway {
            code_n,
            name,
            message: message.into(),
            status,
        }
    }

    fn from_fault(f: &Fault) -> Self {
        match f {
            Fault::Business(code) => Answer::business(*code),
            Fault::Gateway(code_n) => Answer::gateway(
                *code_n,
                format!("mock gateway error {code_n} requested by the prompt"),
            ),
            other => Answer::Raw(other.clone()),
        }
    }
}

impl From<Rejection> for Answer {
    fn from(r: Rejection) -> Self {
        Answer::Envelope {
            code: r.code,
            message: r.message,
            data: None,
        }
    }
}

impl From<auth::VerifyError> for Answer {
    fn from(e: auth::VerifyError) -> Self {
        let (code_n, name) = e.gateway_code();
        let mut message = e.to_string();
        if let auth::VerifyError::Mismatch {
            canonical_request, ..
        } = &e
            && !canonical_request.is_empty()
        {
            message.push_str("; the canonical request the server computed:\n");
            message.push_str(canonical_request);
        }
        Answer::Gateway {
            code_n,
            name,
            message,
            status: e.http_status(),
        }
    }
}

/// One API request in flight.
struct Call {
    shared: Arc<Shared>,
    start: Instant,
    request_id: String,
    action: String,
    version: String,
    req_key: Option<String>,
    delivery: Delivery,
}

async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = query_pairs(uri.query());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut call = Call {
        shared,
        start: Instant::now(),
        request_id: top_request_id(),
        action: param("Action"),
        version: param("Version"),
        req_key: None,
        delivery: Delivery::default(),
    };
    let answer = match call.run(&method, &uri, &query, &headers, body).await {
        Ok(a) | Err(a) => a,
    };
    call.respond(&method, answer)
}

impl Call {
    async fn run(
        &mut self,
        method: &Method,
        uri: &Uri,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Answer, Answer> {
        let action = match (Action::parse(&self.action), self.version == VERSION) {
            (Some(a), true) => a,
            _ if self.action.is_empty() || self.version.is_empty() => {
                return Err(Answer::gateway(
                    100008,
                    "Action and Version are required in the query string",
                ));
            }
            _ => {
                return Err(Answer::gateway(
                    100008,
                    format!(
                        "The Action {:?} with Version {:?} is not valid for service {SERVICE}",
                        self.action, self.version
                    ),
                ));
            }
        };
        let signed = self.check_credentials(headers)?;
        let bytes = self.read_body(headers, body).await?;
        if signed {
            self.verify_signature(method, uri, query, headers, &bytes)?;
        }
        let shared = self.shared.clone();
        if let Some(bucket) = &shared.bucket
            && !lock(bucket).try_take(Instant::now())
        {
            return Err(Answer::business(50429));
        }
        let _permit: Option<OwnedSemaphorePermit> = match &shared.permits {
            Some(sem) => Some(
                sem.clone()
                    .try_acquire_owned()
                    .map_err(|_| Answer::business(50430))?,
            ),
            None => None,
        };
        shared.sleep(self.latency()).await;
        let answer = match action {
            Action::Process => self.process(&bytes).await,
            Action::Submit => self.submit(&bytes).await,
            Action::GetResult => self.get_result(&bytes).await,
        };
        if let Some(d) = self.delivery.slow {
            shared.sleep(d).await;
        }
        answer
    }

    fn latency(&self) -> Duration {
        let cfg = &self.shared.cfg;
        let jitter = if cfg.jitter.is_zero() {
            Duration::ZERO
        } else {
            cfg.jitter.mul_f64(rand::rng().random::<f64>())
        };
        cfg.latency + jitter
    }

    /// Checks the `Authorization` header as far as possible without the body. Returns whether
    /// the request is signed and needs [`Call::verify_signature`].
    fn check_credentials(&self, headers: &HeaderMap) -> Result<bool, Answer> {
        let cfg = &self.shared.cfg;
        if cfg.api_key.is_none() && cfg.ak_sk.is_none() {
            return Ok(false);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Answer::gateway(
                100003,
                "The request has no Authorization header",
            ));
        };
        let value = value.as_bytes();
        let bearer = value
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
            .map(|_| value[7..].trim_ascii());
        match (bearer, &cfg.api_key, &cfg.ak_sk) {
            (Some(token), Some(key), _) => {
                if constant_time_eq(token, key.expose().as_bytes()) {
                    Ok(false)
                } else {
                    Err(Answer::gateway(100009, "The API key is not valid"))
                }
            }
            (Some(_), None, _) => Err(Answer::gateway(
                100005,
                "This endpoint expects an HMAC-SHA256 signature, not a Bearer token",
            )),
            (None, _, Some(_)) => Ok(true),
            (None, _, None) => Err(Answer::gateway(
                100009,
                "Expected `Authorization: Bearer <API key>`",
            )),
        }
    }

    fn verify_signature(
        &self,
        method: &Method,
        uri: &Uri,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Answer> {
        let Some((access_key, secret_key)) = &self.shared.cfg.ak_sk else {
            return Ok(());
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let req = IncomingRequest {
            method: method.as_str(),
            host: &host,
            path: uri.path(),
            query,
            header: &header,
            body,
        };
        let secret_for = |ak: &str| (ak == access_key).then(|| secret_key.clone());
        auth::verify(
            &req,
            &secret_for,
            ExpectedScope {
                region: REGION,
                service: SERVICE,
            },
            time::OffsetDateTime::now_utc(),
        )
        .map_err(Answer::from)
    }

    /// Reads the body, refusing more than [`MAX_BODY_BYTES`] with 50213.
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Answer> {
        let too_large = || {
            Answer::from(Rejection::new(
                50213,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            ))
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let capacity = declared.map_or(0, |n| n as usize);
        let mut bytes = Vec::with_capacity(capacity);
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Answer::from(Rejection::new(
                    50204,
                    format!("the request body could not be read: {e}"),
                ))
            })?;
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Records the body's `req_key` for the log.
    fn note_req_key(&mut self, body: &Map<String, Value>) {
        if let Some(key) = body.get("req_key").and_then(Value::as_str) {
            self.req_key = Some(printable(key));
        }
    }

    /// Applies the prompt's `[mock:...]` triggers: sets the delivery, and answers the fault
    /// when one applies. Returns the prompt with the triggers cut out.
    fn apply_triggers(&mut self, body: &Map<String, Value>) -> Result<String, Answer> {
        let Some(prompt) = body.get("prompt").and_then(Value::as_str) else {
            return Ok(String::new());
        };
        let (triggers, clean) =
            parse_triggers(prompt).map_err(|e| Answer::from(Rejection::new(50200, e)))?;
        self.delivery = triggers.delivery.clone();
        if let Some((k, fault)) = &triggers.nth
            && lock(&self.shared.nth).bump(prompt) <= *k
        {
            return Err(Answer::from_fault(fault));
        }
        match &triggers.fault {
            Some(Fault::Business(SUCCESS)) | None => Ok(clean),
            Some(fault) => Err(Answer::from_fault(fault)),
        }
    }

    /// The configured random failure.
    fn random_failure(&self) -> Result<(), Answer> {
        let cfg = &self.shared.cfg;
        if cfg.fail_rate > 0.0 && rand::rng().random::<f64>() < cfg.fail_rate {
            return Err(Answer::business(cfg.fail_code));
        }
        Ok(())
    }

    async fn process(&mut self, bytes: &[u8]) -> Result<Answer, Answer> {
        let body = parse_object(bytes)?;
        self.note_req_key(&body);
        let prompt = self.apply_triggers(&body)?;
        self.random_failure()?;
        let checked = check_generation(&body, false)?;
        let opts = output_options(checked.schema, &body);
        let job = Arc::new(Job::new(prompt, checked.params, checked.image));
        let jpeg = generate(job.clone(), opts.watermark.clone()).await?;
        let (b64, urls) = self.shared.deliver(jpeg, opts.return_url);
        Ok(Answer::success(generation_data(b64, urls, &job.rephrased)))
    }

    async fn submit(&mut self, bytes: &[u8]) -> Result<Answer, Answer> {
        let body = parse_object(bytes)?;
        self.note_req_key(&body);
        let prompt = self.apply_triggers(&body)?;
        self.random_failure()?;
        let checked = check_generation(&body, true)?;
        if let ImageInput::Bytes(b) = &checked.image {
            check_reference(Arc::new(b.clone())).await?;
        }
        let req_key = checked.schema.req_key;
        let job = Job::new(prompt, checked.params, checked.image);
        let size = job.size();
        let id = task_id();
        let task = Task {
            created: Instant::now(),
            req_key,
            job: Arc::new(job),
            renders: Mutex::default(),
        };
        lock(&self.shared.tasks).insert(id.clone(), task, size);
        Ok(Answer::success(json!({ "task_id": id })))
    }

    async fn get_result(&mut self, bytes: &[u8]) -> Result<Answer, Answer> {
        let body = parse_object(bytes)?;
        self.note_req_key(&body);
        self.random_failure()?;
        let schema = schema_of(&body)?;
        let task_id = match body.get("task_id") {
            None | Some(Value::Null) => {
                return Err(Rejection::new(50201, "task_id is required").into());
            }
            Some(Value::String(s)) => s.trim(),
            Some(other) => {
                return Err(Rejection::new(
                    50204,
                    format!("task_id must be a string, got {}", json_type(other)),
                )
                .into());
            }
        };
        let opts = match body.get("req_json") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => m,
                Ok(other) => {
                    return Err(Rejection::new(
                        50204,
                        format!(
                            "req_json must encode a JSON object, got {}",
                            json_type(&other)
                        ),
                    )
                    .into());
                }
                Err(e) => {
                    return Err(
                        Rejection::new(50204, format!("req_json is not valid JSON: {e}")).into(),
                    );
                }
            },
            Some(other) => {
                return Err(Rejection::new(
                    50204,
                    format!(
                        "req_json must be a string holding JSON, got {}",
                        json_type(other)
                    ),
                )
                .into());
            }
        };
        check_output_options(schema, &opts)?;
        let opts = output_options(schema, &opts);
        let task = lock(&self.shared.tasks)
            .get(task_id)
            .filter(|t| t.req_key == schema.req_key);
        let Some(task) = task else {
            return Ok(Answer::success(task_data(
                "not_found",
                Vec::new(),
                Vec::new(),
                "",
            )));
        };
        let cfg = &self.shared.cfg;
        let age = task.created.elapsed();
        let status = if age >= cfg.task_ttl {
            "expired"
        } else if age < cfg.task_queue_time {
            "in_queue"
        } else if age < cfg.task_queue_time + cfg.task_generate_time {
            "generating"
        } else {
            "done"
        };
        if status != "done" {
            return Ok(Answer::success(task_data(
                status,
                Vec::new(),
                Vec::new(),
                "",
            )));
        }
        let jpeg = task.rendered(&opts).await?;
        let (b64, urls) = self.shared.deliver(jpeg, opts.return_url);
        Ok(Answer::success(task_data(
            "done",
            b64,
            urls,
            &task.job.rephrased,
        )))
    }

    /// Turns the answer into the HTTP response, applying the delivery triggers; logs and
    /// counts it.
    fn respond(self, method: &Method, answer: Answer) -> Response {
        let (status, content_type, body, code) = self.render_answer(answer);
        let shown = match code {
            Some(c) => c.to_string(),
            None => format!("HTTP {status}"),
        };
        self.shared.log(format_args!(
            "{} {} {} -> {shown} in {}",
            method,
            printable(or_dash(&self.action)),
            self.req_key.as_deref().unwrap_or("-"),
            log_duration(self.start.elapsed())
        ));
        lock(&self.shared.stats).record(code, status);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = deliver(body, &self.delivery, &self.shared.cancel);
        *response.status_mut() = status;
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            h.insert("x-tt-logid", v);
        }
        response
    }

    /// `(HTTP status, Content-Type, body, code for the log and the counters)`.
    fn render_answer(&self, answer: Answer) -> (u16, &'static str, Vec<u8>, Option<i64>) {
        let to_vec = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
        match answer {
            Answer::Envelope {
                code,
                message,
                data,
            } => {
                let data = if code == SUCCESS { data } else { None };
                let v = envelope(code, &message, data, &self.request_id, self.start.elapsed());
                (business_http_status(code), JSON, to_vec(&v), Some(code))
            }
            Answer::Gateway {
                code_n,
                name,
                message,
                status,
            } => {
                let v = gateway_error(
                    &self.request_id,
                    &self.action,
                    &self.version,
                    code_n,
                    name,
                    &message,
                );
                (status, JSON, to_vec(&v), Some(i64::from(code_n)))
            }
            Answer::Raw(Fault::Html502) => (502, "text/html", NGINX_502.as_bytes().to_vec(), None),
            Answer::Raw(Fault::Text500) => (
                500,
                "text/plain; charset=utf-8",
                b"Internal Server Error\n".to_vec(),
                None,
            ),
            Answer::Raw(Fault::Relay) => {
                let v = json!({"error": {
                    "message": format!(
                        "bad response status code 502 from upstream (request id: {})",
                        self.request_id
                    ),
                    "type": "upstream_error",
                }});
                (502, JSON, to_vec(&v), None)
            }
            Answer::Raw(Fault::Empty) => (200, JSON, Vec::new(), None),
            // Business and gateway faults become envelopes in `Answer::from_fault`.
            Answer::Raw(Fault::Business(code)) => self.render_answer(Answer::business(code)),
            Answer::Raw(Fault::Gateway(code_n)) => {
                self.render_answer(Answer::gateway(code_n, "mock gateway error"))
            }
        }
    }
}

/// A response carrying `body` as the delivery triggers ask: whole, cut in half, trickled one
/// byte at a time, or cut off mid-body after announcing its full length.
fn deliver(mut body: Vec<u8>, d: &Delivery, cancel: &CancellationToken) -> Response {
    let full_len = body.len();
    if d.truncate || d.reset {
        body.truncate(full_len / 2);
    }
    if d.trickle.is_none() && !d.reset {
        return Response::new(Body::from(body));
    }
    let declared = if d.reset { full_len } else { body.len() };
    let pace = d.trickle;
    let fail_at_end = d.reset;
    let cancel = cancel.clone();
    // State: the bytes, how many were sent, whether the error was sent.
    let stream = futures::stream::unfold((body, 0usize, false), move |(body, sent, done)| {
        let cancel = cancel.clone();
        async move {
            if done {
                return None;
            }
            if sent >= body.len() {
                if !fail_at_end {
                    return None;
                }
                // Give the client time to read what was sent before the connection drops.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let err = io::Error::new(io::ErrorKind::ConnectionReset, "mock: [mock:reset]");
                return Some((Err(err), (body, sent, true)));
            }
            let step = match pace {
                Some(p) => {
                    if sent > 0 {
                        tokio::select! {
                            () = tokio::time::sleep(p) => {}
                            () = cancel.cancelled() => {
                                let err = io::Error::other("mock: shutting down");
                                return Some((Err(err), (body, sent, true)));
                            }
                        }
                    }
                    1
                }
                None => body.len() - sent,
            };
            let chunk = Bytes::copy_from_slice(&body[sent..sent + step]);
            Some((Ok(chunk), (body, sent + step, false)))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    response
}

/// The `data` of an async poll: the CVProcess fields plus `status`.
fn task_data(status: &str, b64: Vec<String>, urls: Vec<String>, rephrased: &str) -> Value {
    let mut data = generation_data(b64, urls, rephrased);
    if let Value::Object(map) = &mut data {
        map.insert("status".to_owned(), Value::from(status));
    }
    data
}

/// The reference image a job renders from.
#[derive(Debug)]
enum RefSource {
    None,
    Url(String),
    /// JPEG or PNG bytes, decoded at render time.
    Encoded(Arc<Vec<u8>>),
}

/// Everything needed to render one result (the seed already drawn).
#[derive(Debug)]
struct Job {
    prompt: String,
    rephrased: String,
    params: Params,
    seed: u64,
    reference: RefSource,
}

impl Job {
    fn new(prompt: String, params: Params, image: ImageInput) -> Self {
        let seed = params
            .seed
            .unwrap_or_else(|| rand::rng().random_range(0..=SEED_MAX as u64));
        Self {
            rephrased: rephrase(&prompt, params.desc_pushback),
            prompt,
            seed,
            params,
            reference: match image {
                ImageInput::None => RefSource::None,
                ImageInput::Url(u) => RefSource::Url(u),
                ImageInput::Bytes(b) => RefSource::Encoded(Arc::new(b)),
            },
        }
    }

    /// Bytes the job holds (for the task store's cap).
    fn size(&self) -> usize {
        let reference = match &self.reference {
            RefSource::Encoded(b) => b.len(),
            RefSource::Url(u) => u.len(),
            RefSource::None => 0,
        };
        reference + self.prompt.len()
    }
}

/// An async task.
#[derive(Debug)]
struct Task {
    created: Instant,
    req_key: &'static str,
    job: Arc<Job>,
    /// Results by watermark, each rendered once.
    renders: Mutex<Vec<(Option<WatermarkOpts>, RenderCell)>>,
}

type RenderCell = Arc<OnceCell<Arc<Vec<u8>>>>;

impl Task {
    /// The result for these output options, rendered on first use and kept.
    async fn rendered(&self, opts: &OutputOpts) -> Result<Arc<Vec<u8>>, Rejection> {
        let cell = {
            let mut renders = lock(&self.renders);
            match renders.iter().find(|(w, _)| *w == opts.watermark) {
                Some((_, cell)) => cell.clone(),
                None => {
                    if renders.len() >= MAX_RENDERS_PER_TASK {
                        renders.remove(0);
                    }
                    let cell = RenderCell::default();
                    renders.push((opts.watermark.clone(), cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| generate(self.job.clone(), opts.watermark.clone()))
            .await
            .cloned()
    }
}

/// The business code of a render failure: 50215 for a reference with too many pixels, 50207
/// for one that does not decode, 50500 when the output cannot be encoded.
fn render_rejection(e: &RenderError) -> Rejection {
    match e {
        RenderError::TooLarge { .. } => Rejection::new(50215, e.to_string()),
        RenderError::UnsupportedFormat | RenderError::Decode(_) => {
            Rejection::new(50207, e.to_string())
        }
        RenderError::InvalidSize { .. } | RenderError::Encode(_) => {
            Rejection::new(50500, e.to_string())
        }
    }
}

fn join_failed(e: tokio::task::JoinError) -> Rejection {
    Rejection::new(50500, format!("the renderer stopped: {e}"))
}

/// Checks that reference bytes decode (async submit checks up front what CVProcess finds
/// when rendering).
async fn check_reference(bytes: Arc<Vec<u8>>) -> Result<(), Rejection> {
    tokio::task::spawn_blocking(move || render::decode_reference(&bytes).map(drop))
        .await
        .map_err(join_failed)?
        .map_err(|e| render_rejection(&e))
}

/// Decodes the reference and renders the JPEG on the blocking pool.
async fn generate(
    job: Arc<Job>,
    watermark: Option<WatermarkOpts>,
) -> Result<Arc<Vec<u8>>, Rejection> {
    tokio::task::spawn_blocking(move || {
        let decoded: Option<RgbImage> = match &job.reference {
            RefSource::Encoded(bytes) => {
                Some(render::decode_reference(bytes).map_err(|e| render_rejection(&e))?)
            }
            _ => None,
        };
        let reference = match (&job.reference, &decoded) {
            (_, Some(img)) => Reference::Image(img),
            (RefSource::Url(u), _) => Reference::Url(u),
            _ => Reference::None,
        };
        let text = watermark.as_ref().map(|w| {
            w.text
                .clone()
                .unwrap_or_else(|| render::default_watermark_text(w.language).to_owned())
        });
        let p = &job.params;
        let sr = if p.use_sr { 2 } else { 1 };
        let spec = RenderSpec {
            width: p.width * sr,
            height: p.height * sr,
            seed: job.seed,
            prompt: &job.prompt,
            reference,
            scale: p.scale as f32,
            ddim_steps: p.ddim_steps,
            cfg_rescale: p.cfg_rescale as f32,
            ref_ip_weight: p.ref_ip_weight as f32,
            ref_id_weight: p.ref_id_weight as f32,
            watermark: match (&watermark, &text) {
                (Some(w), Some(text)) => Some(Watermark {
                    text,
                    position: w.position,
                    opacity: w.opacity,
                }),
                _ => None,
            },
        };
        render::render_jpeg(&spec)
            .map(Arc::new)
            .map_err(|e| render_rejection(&e))
    })
    .await
    .map_err(join_failed)?
}

/// `GET /images/{id}.jpg?x-expires=..&x-signature=..`: a generated image behind a signed,
/// expiring URL, refused like an object store refuses (XML errors).
async fn image(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    let start = Instant::now();
    let request_id = top_request_id();
    let query = query_pairs(uri.query());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let result = (|| {
        let id = file
            .strip_suffix(".jpg")
            .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or((404, "NoSuchKey", "The specified key does not exist."))?;
        let (Some(expires), Some(sig)) = (param("x-expires"), param("x-signature")) else {
            return Err((
                403,
                "AccessDenied",
                "Query-string authentication requires the x-expires and x-signature parameters",
            ));
        };
        let expires: u64 = expires
            .parse()
            .map_err(|_| (403, "AccessDenied", "x-expires is not a timestamp"))?;
        let want = shared.url_signature(id, expires);
        if !constant_time_eq(sig.to_ascii_lowercase().as_bytes(), want.as_bytes()) {
            return Err((
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided",
            ));
        }
        let stored = lock(&shared.images).get(id).cloned();
        match stored {
            Some(img) if Instant::now() < img.expires_at && unix_now() <= expires => Ok(img.jpeg),
            Some(_) => Err((403, "AccessDenied", "Request has expired")),
            None if unix_now() > expires => Err((403, "AccessDenied", "Request has expired")),
            None => Err((404, "NoSuchKey", "The specified key does not exist.")),
        }
    })();
    let (response, status) = match result {
        Ok(jpeg) => {
            lock(&shared.stats).image_downloads += 1;
            let mut r = Response::new(Body::from(jpeg.as_slice().to_vec()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            (r, 200)
        }
        Err((status, code, message)) => {
            lock(&shared.stats).image_refusals += 1;
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  \
                 <Message>{message}</Message>\n  <RequestId>{request_id}</RequestId>\n</Error>\n"
            );
            let mut r = Response::new(Body::from(xml));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            (r, status)
        }
    };
    shared.log(format_args!(
        "{method} /images/{} -> HTTP {status} in {}",
        printable(&file),
        log_duration(start.elapsed())
    ));
    response
}

/// Any other path: the gateway's "no such action" error.
async fn no_route(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let call = Call {
        shared,
        start: Instant::now(),
        request_id: top_request_id(),
        action: String::new(),
        version: String::new(),
        req_key: None,
        delivery: Delivery::default(),
    };
    let answer = Answer::gateway(
        100008,
        format!(
            "No API at {}; use POST / or POST /volcv/v1 with Action and Version in the query",
            printable(uri.path())
        ),
    );
    call.respond(&method, answer)
}

/// Query pairs, percent-decoded (RFC 3986: `+` stays `+`).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Client-supplied text made safe for a log line: printable ASCII only, at most 64 chars.
fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// `12.3ms`, `1.25s`: short enough for a log line.
fn log_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_but_keep_plus() {
        assert_eq!(
            query_pairs(Some("Action=CVProcess&Version=2022-08-31&x=a%20b+c&flag")),
            [
                ("Action".to_owned(), "CVProcess".to_owned()),
                ("Version".to_owned(), "2022-08-31".to_owned()),
                ("x".to_owned(), "a b+c".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }

    #[test]
    fn log_text_is_tamed() {
        assert_eq!(printable("CV\x1b[31mProcess"), "CV?[31mProcess");
        assert_eq!(log_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(log_duration(Duration::from_millis(1250)), "1.25s");
    }

    #[test]
    fn reachable_replaces_unspecified_addresses() {
        let a: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert_eq!(reachable(a).to_string(), "127.0.0.1:80");
        let a: SocketAddr = "[::]:80".parse().expect("addr");
        assert_eq!(reachable(a).to_string(), "[::1]:80");
    }
}
