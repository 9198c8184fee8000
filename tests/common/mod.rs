//! Helpers shared by the integration tests that run the `volcv` binary as a user would: a
//! clean environment, canned loopback servers, file scans and history checks.
#![allow(
    dead_code,
    reason = "each test binary uses only some of these helpers; an #[expect] would go unfulfilled in the binaries that use them all"
)]

pub mod net;
pub mod term;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The clean environment every test runs `volcv` in, rooted at `home`: its own HOME and XDG
/// dirs (config in `home/config`, data in `home/data`, state in `home/state`). With
/// [`clean_cmd`] nothing else is inherited but PATH (no keys, no TERM, no TMUX).
pub fn home_env(home: &Path) -> [(&'static str, PathBuf); 4] {
    [
        ("HOME", home.to_path_buf()),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_STATE_HOME", home.join("state")),
    ]
}

/// [`home_env`] as shell assignments (`HOME='…' XDG_CONFIG_HOME='…' …`), for command lines a
/// shell runs: tmux panes, X terminals, `script`.
pub fn home_env_line(home: &Path) -> String {
    home_env(home)
        .iter()
        .map(|(k, v)| format!("{k}='{}'", v.display()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `program` with the [`home_env`] environment and PATH only, run in `home`.
pub fn clean_cmd(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .envs(home_env(home))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(home);
    cmd
}

/// `volcv` with a clean environment rooted at `home` ([`clean_cmd`]): the one way the tests
/// build a `volcv` run.
pub fn volcv_cmd(home: &Path) -> Command {
    clean_cmd(env!("CARGO_BIN_EXE_volcv"), home)
}

/// [`volcv_cmd`] with `args` and extra `env` pairs, stdin closed.
pub fn volcv_with(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = volcv_cmd(home);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `cmd` to its end on a blocking thread (for tests on a tokio runtime that also serves
/// a mock server).
pub async fn output_async(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run volcv")
}

/// The data dir (history and its images) of a [`volcv_cmd`] environment.
pub fn data_dir(home: &Path) -> PathBuf {
    home.join("data").join("volcv")
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    volcv::store::blobs::sha256_hex(bytes)
}

/// `PRAGMA integrity_check` of the history database in `data`.
pub fn integrity_check(data: &Path) -> String {
    let conn = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).expect("open db");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check")
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `secs` seconds
/// (a bound against hanging, never an assertion about speed).
pub fn wait_for<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads one HTTP request (head and Content-Length body).
pub fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

/// A loopback server on 127.0.0.1:0 that answers every request with the same HTTP 200 JSON
/// body. Counts the answers it finished sending; stops when dropped.
pub struct CannedServer {
    pub url: String,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl CannedServer {
    pub fn json(body: Vec<u8>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let body = Arc::new(body);
        let (count, halt) = (answered.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let (body, count) = (body.clone(), count.clone());
                std::thread::spawn(move || {
                    read_request(&mut stream);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    if stream.write_all(head.as_bytes()).is_ok() && stream.write_all(&body).is_ok()
                    {
                        let _ = stream.flush();
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        CannedServer {
            url: format!("http://{addr}/"),
            answered,
            stop,
            addr,
        }
    }

    /// How many answers were sent completely.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A success envelope carrying `images` as base64, in the service's shape.
pub fn success_envelope(images: &[Vec<u8>], rephrased: &str) -> Vec<u8> {
    use base64::Engine as _;
    let list: Vec<String> = images
        .iter()
        .map(|i| base64::engine::general_purpose::STANDARD.encode(i))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "code": 10000,
        "data": {
            "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
            "binary_data_base64": list,
            "image_urls": null,
            "rephraser_result": rephrased,
            "request_id": "ab".repeat(16),
        },
        "message": "Success",
        "request_id": "20261124120000ABCDEF",
        "status": 10000,
        "time_elapsed": "1.5s",
    }))
    .expect("json")
}

/// xorshift64*: deterministic bytes for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// A small real PNG, `w`x`h`, whose pixels depend on `seed`.
pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// A small real JPEG, `w`x`h`, whose pixels depend on `seed`.
pub fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}
