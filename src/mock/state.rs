//! The mock's memory: [`Shared`], the state every handler sees, with its stores of generated
//! images behind signed URLs, async tasks, and counters. Every store is bounded and evicts its
//! oldest entries.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::config::MockConfig;
use super::faults::{NthCounters, TokenBucket};
use super::jobs::Task;
use super::util::lock;

/// Most images kept for URL downloads.
pub const MAX_STORED_IMAGES: usize = 256;
/// Most bytes of images kept for URL downloads (256 MiB).
pub const MAX_STORED_IMAGE_BYTES: usize = 256 * 1024 * 1024;
/// Most async tasks kept.
pub const MAX_TASKS: usize = 1024;
/// Most bytes of reference images kept with async tasks (256 MiB).
pub const MAX_TASK_BYTES: usize = 256 * 1024 * 1024;

/// One image behind a signed URL.
#[derive(Debug, Clone)]
pub(crate) struct StoredImage {
    pub jpeg: Arc<Vec<u8>>,
    /// When the URL stops working.
    pub expires_at: Instant,
}

/// Generated images, oldest first.
#[derive(Debug, Default)]
pub(crate) struct ImageStore {
    entries: VecDeque<(String, StoredImage)>,
    bytes: usize,
}

impl ImageStore {
    /// Keeps an image under `id`, evicting expired and then the oldest images to stay within
    /// [`MAX_STORED_IMAGES`] and [`MAX_STORED_IMAGE_BYTES`].
    pub fn insert(&mut self, id: String, image: StoredImage, now: Instant) {
        self.entries.retain(|(_, e)| e.expires_at > now);
        self.bytes = self.entries.iter().map(|(_, e)| e.jpeg.len()).sum();
        let size = image.jpeg.len();
        while !self.entries.is_empty()
            && (self.entries.len() >= MAX_STORED_IMAGES
                || self.bytes + size > MAX_STORED_IMAGE_BYTES)
        {
            if let Some((_, old)) = self.entries.pop_front() {
                self.bytes -= old.jpeg.len();
            }
        }
        self.bytes += size;
        self.entries.push_back((id, image));
    }

    /// The image stored under `id`, expired or not.
    pub fn get(&self, id: &str) -> Option<&StoredImage> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, e)| e)
    }

    /// How many images are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Async tasks by id, with their insertion order and size for eviction.
#[derive(Debug)]
pub(crate) struct TaskStore<T> {
    by_id: HashMap<String, Arc<T>>,
    order: VecDeque<(String, usize)>,
    bytes: usize,
}

impl<T> Default for TaskStore<T> {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T> TaskStore<T> {
    /// Keeps a task that holds `size` bytes, evicting the oldest tasks to stay within
    /// [`MAX_TASKS`] and [`MAX_TASK_BYTES`].
    pub fn insert(&mut self, id: String, task: T, size: usize) {
        while !self.order.is_empty()
            && (self.order.len() >= MAX_TASKS || self.bytes + size > MAX_TASK_BYTES)
        {
            if let Some((old, old_size)) = self.order.pop_front() {
                self.by_id.remove(&old);
                self.bytes -= old_size;
            }
        }
        self.bytes += size;
        self.order.push_back((id.clone(), size));
        self.by_id.insert(id, Arc::new(task));
    }

    pub fn get(&self, id: &str) -> Option<Arc<T>> {
        self.by_id.get(id).cloned()
    }
}

/// Counters of what the mock answered, for tests and for curious users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockStats {
    /// Requests answered on the API routes (`POST /`, `POST /volcv/v1`) and on unknown paths,
    /// whatever their outcome; image downloads are counted apart.
    pub requests: u64,
    /// Answers per code: the envelope's business `code` (10000 included) or, for gateway
    /// errors, `ResponseMetadata.Error.CodeN`. Answers with neither (HTML, plain text, relay,
    /// empty) are counted only in `by_http_status`.
    pub by_code: BTreeMap<i64, u64>,
    /// API answers per HTTP status.
    pub by_http_status: BTreeMap<u16, u64>,
    /// Images downloaded through their URLs (HTTP 200 only).
    pub image_downloads: u64,
    /// Image URL requests refused (expired, bad signature, unknown image).
    pub image_refusals: u64,
}

impl MockStats {
    /// How many answers carried `code` (a business code or a gateway `CodeN`).
    pub fn count(&self, code: i64) -> u64 {
        self.by_code.get(&code).copied().unwrap_or(0)
    }

    /// How many API answers had HTTP status `status`.
    pub fn count_status(&self, status: u16) -> u64 {
        self.by_http_status.get(&status).copied().unwrap_or(0)
    }

    pub(crate) fn record(&mut self, code: Option<i64>, status: u16) {
        self.requests += 1;
        if let Some(c) = code {
            *self.by_code.entry(c).or_insert(0) += 1;
        }
        *self.by_http_status.entry(status).or_insert(0) += 1;
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(super) struct Shared {
    pub cfg: MockConfig,
    pub public_base: String,
    /// Key of the image URL signatures, fresh for every server.
    pub url_key: [u8; 64],
    pub images: Mutex<ImageStore>,
    pub tasks: Mutex<TaskStore<Task>>,
    pub stats: Mutex<MockStats>,
    pub bucket: Option<Mutex<TokenBucket>>,
    pub permits: Option<Arc<Semaphore>>,
    /// Request-body bytes that may be held at once, in KiB (see
    /// [`MockConfig::max_body_bytes_in_flight`]).
    pub body_budget: Arc<Semaphore>,
    pub nth: Mutex<NthCounters>,
    pub cancel: CancellationToken,
    /// Whether request bodies are kept (see [`MockServer::keep_last_body`](super::MockServer::keep_last_body)).
    pub keep_bodies: std::sync::atomic::AtomicBool,
    pub last_body: Mutex<Option<Vec<u8>>>,
}

impl Shared {
    pub(super) fn new(cfg: MockConfig, public_base: String, cancel: CancellationToken) -> Self {
        let mut url_key = [0u8; 64];
        rand::rng().fill(&mut url_key[..]);
        Self {
            bucket: cfg.qps.map(|q| Mutex::new(TokenBucket::new(q))),
            permits: cfg.concurrency.map(|n| Arc::new(Semaphore::new(n))),
            body_budget: Arc::new(Semaphore::new(
                cfg.max_body_bytes_in_flight
                    .div_ceil(1024)
                    .min(Semaphore::MAX_PERMITS),
            )),
            cfg,
            public_base,
            url_key,
            images: Mutex::default(),
            tasks: Mutex::default(),
            stats: Mutex::default(),
            nth: Mutex::default(),
            cancel,
            keep_bodies: std::sync::atomic::AtomicBool::new(false),
            last_body: Mutex::default(),
        }
    }

    /// Keeps a request's body when asked to ([`MockServer::keep_last_body`](super::MockServer::keep_last_body)).
    pub fn keep_body(&self, bytes: &[u8]) {
        if self.keep_bodies.load(std::sync::atomic::Ordering::SeqCst) {
            *lock(&self.last_body) = Some(bytes.to_vec());
        }
    }

    /// Sleeps, or returns early when the server shuts down.
    pub async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.cancel.cancelled() => {}
        }
    }

    pub fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.cfg.quiet {
            eprintln!("mock: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn image(len: usize, expires_at: Instant) -> StoredImage {
        StoredImage {
            jpeg: Arc::new(vec![0; len]),
            expires_at,
        }
    }

    #[test]
    fn image_store_evicts_oldest_and_expired() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut s = ImageStore::default();
        for i in 0..MAX_STORED_IMAGES + 3 {
            s.insert(format!("{i}"), image(10, later), now);
        }
        assert_eq!(s.len(), MAX_STORED_IMAGES);
        assert!(s.get("0").is_none() && s.get("2").is_none());
        assert!(s.get("3").is_some());
        // Expired entries go first.
        s.insert(
            "late".into(),
            image(10, now + Duration::from_secs(120)),
            later,
        );
        assert_eq!(s.len(), 1);
        // The byte cap holds too.
        s.insert(
            "big1".into(),
            image(MAX_STORED_IMAGE_BYTES / 2 + 1, later),
            now,
        );
        s.insert(
            "big2".into(),
            image(MAX_STORED_IMAGE_BYTES / 2 + 1, later),
            now,
        );
        assert!(s.get("big1").is_none() && s.get("big2").is_some());
    }

    #[test]
    fn task_store_is_bounded() {
        let mut s = TaskStore::default();
        for i in 0..MAX_TASKS + 1 {
            s.insert(format!("{i}"), i, 1);
        }
        assert!(s.get("0").is_none());
        assert_eq!(s.get("1").as_deref(), Some(&1));
        s.insert("big".into(), 0, MAX_TASK_BYTES);
        assert!(s.get("1").is_none() && s.get("big").is_some());
    }

    #[test]
    fn stats_count_codes_and_statuses() {
        let mut st = MockStats::default();
        st.record(Some(10000), 200);
        st.record(Some(50429), 429);
        st.record(Some(50429), 429);
        st.record(None, 502);
        assert_eq!(st.requests, 4);
        assert_eq!(st.count(50429), 2);
        assert_eq!(st.count(50430), 0);
        assert_eq!(st.count_status(502), 1);
    }
}
