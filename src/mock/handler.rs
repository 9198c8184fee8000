//! API requests: gateway checks (route, auth, QPS, concurrency), the three actions, fault
//! triggers, and delivery of the answer (whole, cut, trickled or reset).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures::StreamExt as _;
use rand::Rng as _;
use serde_json::{Map, Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::api::auth::{self, ExpectedScope, IncomingRequest};
use crate::api::codes::SUCCESS;
use crate::api::schema::json_type;

use super::config::MAX_BODY_BYTES;
use super::faults::{Delivery, Fault, RawFault, parse_triggers};
use super::jobs::{Job, Task, generate};
use super::state::Shared;
use super::util::{constant_time_eq, lock, log_duration, printable, query_pairs};
use super::validate::{
    Rejection, check_generation, check_output_options, output_options, parse_object, schema_of,
};
use super::wire::{
    REGION, SERVICE, VERSION, business_http_status, business_message, envelope, gateway_error,
    gateway_name_and_status, generation_data, task_data, task_id, top_request_id,
};

const JSON: &str = "application/json; charset=utf-8";

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
    Raw(RawFault),
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
            Fault::Raw(raw) => Answer::Raw(*raw),
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
    /// The path of a request outside the API's routes (logged instead of the action).
    unknown_path: Option<String>,
    delivery: Delivery,
}

/// `POST /` and `POST /volcv/v1`: the API.
pub(super) async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = query_pairs(uri.query());
    let mut call = Call::new(shared, &query, None);
    let answer = match call.run(&method, &uri, &query, &headers, body).await {
        Ok(a) | Err(a) => a,
    };
    call.respond(&method, answer)
}

impl Call {
    /// A call with the query's Action and Version; `unknown_path` for requests outside the
    /// API's routes.
    fn new(shared: Arc<Shared>, query: &[(String, String)], unknown_path: Option<String>) -> Self {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Self {
            shared,
            start: Instant::now(),
            request_id: top_request_id(),
            action: param("Action"),
            version: param("Version"),
            req_key: None,
            unknown_path,
            delivery: Delivery::default(),
        }
    }

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
        // The body's share of the memory budget is held until the answer is made.
        let (bytes, _budget) = self.read_body(headers, body).await?;
        self.shared.keep_body(&bytes);
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
        cfg.latency.saturating_add(jitter)
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

    /// Reads the body, refusing more than [`MAX_BODY_BYTES`] with 50213, a body that would go
    /// over the memory budget of all bodies in flight with 50430 (the service's "too many at
    /// once"), and one that stalls longer than the read timeout with 50204. Returns the bytes
    /// and their share of the budget, released when dropped.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Vec<u8>, Vec<OwnedSemaphorePermit>), Answer> {
        let budget = &self.shared.body_budget;
        let over_budget = || {
            Answer::from(Rejection::new(
                50430,
                "too many request bodies at once: the mock's memory budget for bodies in \
                 flight is used up; retry",
            ))
        };
        let take = |bytes: usize| -> Result<OwnedSemaphorePermit, Answer> {
            let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
            budget
                .clone()
                .try_acquire_many_owned(kib)
                .map_err(|_| over_budget())
        };
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
        // A declared length is budgeted whole, before anything is read or allocated; a body
        // without one as it grows.
        let mut held = vec![take(capacity)?];
        let mut budgeted = capacity.div_ceil(1024) * 1024;
        let mut bytes = Vec::with_capacity(capacity);
        let mut stream = body.into_data_stream();
        let timeout = self.shared.cfg.read_timeout;
        loop {
            let next = tokio::time::timeout(timeout, stream.next())
                .await
                .map_err(|_| {
                    Answer::from(Rejection::new(
                        50204,
                        format!("the request body stalled for more than {timeout:?}"),
                    ))
                })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| {
                Answer::from(Rejection::new(
                    50204,
                    format!("the request body could not be read: {e}"),
                ))
            })?;
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            let needed = bytes.len() + chunk.len();
            if needed > budgeted {
                let more = (needed - budgeted).max(64 * 1024);
                held.push(take(more)?);
                budgeted += more.div_ceil(1024) * 1024;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((bytes, held))
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
        let req_key = checked.schema.req_key;
        let job = Job::new(prompt, checked.params, checked.image);
        job.check_reference().await?;
        let size = job.size();
        let id = task_id();
        lock(&self.shared.tasks).insert(id.clone(), Task::new(req_key, job), size);
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
        } else if age < cfg.task_queue_time.saturating_add(cfg.task_generate_time) {
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
        let what = match &self.unknown_path {
            Some(path) => path.clone(),
            None => format!(
                "{} {}",
                printable(or_dash(&self.action)),
                self.req_key.as_deref().unwrap_or("-")
            ),
        };
        self.shared.log(format_args!(
            "{method} {what} -> {shown} in {}",
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
            Answer::Raw(RawFault::Html502) => {
                (502, "text/html", NGINX_502.as_bytes().to_vec(), None)
            }
            Answer::Raw(RawFault::Text500) => (
                500,
                "text/plain; charset=utf-8",
                b"Internal Server Error\n".to_vec(),
                None,
            ),
            Answer::Raw(RawFault::Relay) => {
                let v = json!({"error": {
                    "message": format!(
                        "bad response status code 502 from upstream (request id: {})",
                        self.request_id
                    ),
                    "type": "upstream_error",
                }});
                (502, JSON, to_vec(&v), None)
            }
            Answer::Raw(RawFault::Empty) => (200, JSON, Vec::new(), None),
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

/// Any other path: the gateway's "no such action" error.
pub(super) async fn no_route(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
) -> Response {
    let path = printable(uri.path());
    let answer = Answer::gateway(
        100008,
        format!(
            "No API at {path}; use POST / or POST /volcv/v1 with Action and Version in the query"
        ),
    );
    let call = Call::new(shared, &query_pairs(uri.query()), Some(path));
    call.respond(&method, answer)
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}
