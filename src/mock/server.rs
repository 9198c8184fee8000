//! The server's lifecycle (start, stats, shutdown, `volcv mock`) and its routes; the state
//! the handlers share is [`Shared`] in `state`.
//!
//! Connections are served here rather than by `axum::serve`, for the bounds a server that
//! others run in their test suites needs: at most `max_connections` at once (more wait in the
//! kernel's backlog, costing no file descriptor), and a connection whose client does not send
//! a request's headers (or the next request) within `read_timeout` is closed (hyper's
//! header-read timeout, which also bounds an idle kept-alive connection).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{MAX_CONCURRENCY, MAX_CONNECTIONS, MockConfig};
use super::handler::{api, no_route};
use super::images::image;
use super::state::{MockStats, Shared};
use super::util::lock;

/// How long [`MockServer::shutdown`] waits for in-flight requests before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// outside 0..=1, `qps` not positive, `concurrency` 0 or above [`MAX_CONCURRENCY`]).
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
        let join = tokio::spawn(serve(listener, app, shared.clone(), cancel.clone()));
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

    /// From now on, keep the body of each API request, for [`MockServer::last_body`] (a test
    /// hook: off unless asked for, it holds one body at a time).
    pub fn keep_last_body(&self) {
        self.shared
            .keep_bodies
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The body of the last API request read in full since [`MockServer::keep_last_body`],
    /// byte for byte.
    pub fn last_body(&self) -> Option<Vec<u8>> {
        lock(&self.shared.last_body).clone()
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

/// Accepts connections until `stop`, serving each on its own task under the bounds (see the
/// module doc); then waits for the connections in flight to finish (gracefully: a request
/// being answered is answered).
async fn serve(listener: TcpListener, app: Router, shared: Arc<Shared>, stop: CancellationToken) {
    let cap = shared.cfg.max_connections;
    let slots = Arc::new(Semaphore::new(cap));
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment (connections in flight may end) and go on.
                    shared.log(format_args!("accept failed: {e}"));
                    drop(slot);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        () = stop.cancelled() => break,
                    }
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let read_timeout = shared.cfg.read_timeout;
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(read_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = stop.cancelled() => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    // Every slot back: every connection has ended.
    let _ = slots
        .acquire_many(u32::try_from(cap).unwrap_or(u32::MAX))
        .await;
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
    if let Some(n) = cfg.concurrency
        && !(1..=MAX_CONCURRENCY).contains(&n)
    {
        return invalid(format!("concurrency {n} is outside 1..={MAX_CONCURRENCY}"));
    }
    if cfg.read_timeout.is_zero() {
        return invalid("read timeout must be above 0".to_owned());
    }
    if !(1..=MAX_CONNECTIONS).contains(&cfg.max_connections) {
        return invalid(format!(
            "max connections {} is outside 1..={MAX_CONNECTIONS}",
            cfg.max_connections
        ));
    }
    if cfg.max_body_bytes_in_flight == 0 {
        return invalid("max body bytes in flight must be above 0".to_owned());
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

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", any(api))
        .route("/volcv/v1", any(api))
        .route("/images/{file}", get(image))
        .fallback(no_route)
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_replaces_unspecified_addresses() {
        let a: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert_eq!(reachable(a).to_string(), "127.0.0.1:80");
        let a: SocketAddr = "[::]:80".parse().expect("addr");
        assert_eq!(reachable(a).to_string(), "[::1]:80");
    }
}
