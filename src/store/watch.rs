//! Waiting for a write to the history from any process, without waking up while nothing
//! happens.
//!
//! On Linux the data dir is watched with inotify: every write SQLite makes goes through the
//! database file or its `-wal` journal, which are in that dir, so a write by this or another
//! volcv process wakes the watcher, and an idle UI sleeps. (Reads only touch the `-shm` file
//! through shared memory, which inotify does not report, so checking the change counter after
//! a wake-up does not wake it again.) Where inotify is not available (another OS, the
//! per-user watch limit reached), [`DirWatch::changed`] falls back to a fixed interval.

use std::path::Path;
use std::time::Duration;

/// Even with inotify, [`DirWatch::changed`] returns at least this often: a safety net for an
/// event lost to a queue overflow or a file system that does not report every write.
pub const SAFETY_INTERVAL: Duration = Duration::from_secs(60);

/// How long to wait after the first event for the rest of a transaction's writes, so one
/// write elsewhere costs one look at the store rather than several.
pub const SETTLE: Duration = Duration::from_millis(30);

/// Watches a data dir for writes. Create and use it inside a tokio runtime.
#[derive(Debug)]
pub struct DirWatch {
    #[cfg(target_os = "linux")]
    inotify: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    fallback: Duration,
}

impl DirWatch {
    /// Watches `dir` (which must exist); without inotify, [`DirWatch::changed`] waits
    /// `fallback` instead.
    pub fn new(dir: &Path, fallback: Duration) -> DirWatch {
        #[cfg(target_os = "linux")]
        {
            let inotify = match linux::watch(dir) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    tracing::info!(
                        "history: no inotify on {} ({e}); checking every {fallback:?}",
                        dir.display()
                    );
                    None
                }
            };
            DirWatch { inotify, fallback }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            DirWatch { fallback }
        }
    }

    /// Whether writes are reported as they happen (else a fixed interval is used).
    pub fn is_live(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.inotify.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Returns after something was written in the dir (plus [`SETTLE`]), after
    /// [`SAFETY_INTERVAL`] at the latest; without inotify, after the fallback interval.
    pub async fn changed(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.inotify {
            if tokio::time::timeout(SAFETY_INTERVAL, linux::readable(fd))
                .await
                .is_ok()
            {
                tokio::time::sleep(SETTLE).await;
                linux::drain(fd);
            }
            return;
        }
        tokio::time::sleep(self.fallback).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    use std::os::fd::OwnedFd;
    use std::path::Path;
    use tokio::io::unix::AsyncFd;

    pub fn watch(dir: &Path) -> std::io::Result<AsyncFd<OwnedFd>> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        inotify::add_watch(
            &fd,
            dir,
            WatchFlags::MODIFY
                | WatchFlags::CREATE
                | WatchFlags::DELETE
                | WatchFlags::MOVED_TO
                | WatchFlags::CLOSE_WRITE,
        )?;
        // Deprecated for raw fds that could be closed while registered; the AsyncFd owns
        // this one and closes it only after deregistering (its `register` is `unsafe`,
        // which the crate forbids).
        #[allow(deprecated)]
        AsyncFd::new(fd)
    }

    /// Waits until events are queued (without reading them).
    pub async fn readable(fd: &AsyncFd<OwnedFd>) {
        loop {
            match fd.readable().await {
                Ok(mut guard) => {
                    // Readiness may be stale: check there is something to read.
                    let mut probe = [0u8; 0];
                    match rustix::io::read(fd.get_ref(), &mut probe) {
                        Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                        // EINVAL (buffer too small for an event) means events are queued.
                        _ => return,
                    }
                }
                // The fd cannot be polled any more: never report a change from it again
                // (the safety interval still runs).
                Err(_) => std::future::pending::<()>().await,
            }
        }
    }

    /// Reads and drops every queued event: only "something changed" matters.
    pub fn drain(fd: &AsyncFd<OwnedFd>) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = rustix::io::read(fd.get_ref(), &mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_in_the_dir_ends_the_wait() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = DirWatch::new(dir.path(), Duration::from_millis(10));
        let path = dir.path().join("history.sqlite3-wal");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            std::fs::write(path, b"x").expect("write");
        });
        // Without inotify this returns after the 10 ms fallback; with it, after the write.
        // Either way it returns long before the safety interval.
        tokio::time::timeout(Duration::from_secs(30), w.changed())
            .await
            .expect("woken by the write");
        writer.await.expect("writer");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn inotify_reports_writes_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = DirWatch::new(dir.path(), Duration::from_secs(3600));
        assert!(w.is_live(), "inotify is available on Linux");
        // Nothing written: still waiting after a while.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), w.changed())
                .await
                .is_err()
        );
        std::fs::write(dir.path().join("history.sqlite3"), b"x").expect("write");
        tokio::time::timeout(Duration::from_secs(30), w.changed())
            .await
            .expect("woken by the write");
        // The events were drained: waiting again blocks.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), w.changed())
                .await
                .is_err()
        );
    }
}
