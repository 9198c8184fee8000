//! Who owns a `pending` row, and whether that process still runs.
//!
//! A pending row carries the writer's pid and a token naming the process instance. On Linux
//! the token is `linux:<hostname>:<boot id>:<start time in clock ticks>` read from `/proc`, so a
//! pid reused by another process after a crash or a reboot is not mistaken for the writer.
//! Elsewhere the token is `other:<hostname>` and liveness cannot be checked without unsafe
//! code; such rows are judged only by age ([`STALE_AFTER_MS`]).

/// Pending rows whose owner cannot be checked count as interrupted after this long. It is far
/// above the longest a request can take with retries (timeouts of minutes, a few attempts).
pub const STALE_AFTER_MS: i64 = 6 * 60 * 60 * 1000;

/// This process's identity as stored in `owner_pid` / `owner_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The operating system's process id (reused after the process ends, hence the token).
    pub pid: u32,
    /// Names the process instance (see the module docs).
    pub token: String,
}

/// What is known about the owner of a pending row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The process runs.
    Alive,
    /// The process is gone (exited, killed, zombie, or the machine rebooted).
    Gone,
    /// Cannot tell (another host, or no `/proc`).
    Unknown,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// `(state, start time)` of a process from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain ") ".
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); the start time is field 22.
    let state = fields.first()?.chars().next()?;
    Some((state, (*fields.get(19)?).to_owned()))
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

impl Owner {
    /// The current process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        let token = match (boot_id(), proc_stat(pid)) {
            (Some(boot), Some((_, start))) => format!("linux:{}:{boot}:{start}", hostname()),
            _ => format!("other:{}", hostname()),
        };
        Owner { pid, token }
    }

    /// Whether the process that wrote `pid`/`token` still runs, as far as this host can tell.
    pub fn liveness(&self, pid: u32, token: &str) -> Liveness {
        if pid == self.pid && token == self.token {
            return Liveness::Alive;
        }
        let mut parts = token.splitn(4, ':');
        let (Some("linux"), Some(host), Some(boot), Some(start)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Liveness::Unknown;
        };
        let here = self.token.splitn(4, ':').collect::<Vec<_>>();
        if here.first() != Some(&"linux") || here.get(1) != Some(&host) {
            return Liveness::Unknown;
        }
        if here.get(2) != Some(&boot) {
            return Liveness::Gone;
        }
        match proc_stat(pid) {
            None => Liveness::Gone,
            Some(('Z' | 'X' | 'x', _)) => Liveness::Gone,
            Some((_, s)) if s != start => Liveness::Gone,
            Some(_) => Liveness::Alive,
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive_and_a_reaped_child_is_gone() {
        let me = Owner::current();
        assert!(me.token.starts_with("linux:"), "{}", me.token);
        assert_eq!(me.liveness(me.pid, &me.token), Liveness::Alive);
        // A running child, with its token rebuilt from /proc.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        let (_, start) = proc_stat(pid).expect("child stat");
        let boot = boot_id().expect("boot id");
        let token = format!("linux:{}:{boot}:{start}", hostname());
        assert_eq!(me.liveness(pid, &token), Liveness::Alive);
        // Same pid, other start time: a reused pid is not the writer.
        let reused = format!("linux:{}:{boot}:1", hostname());
        assert_eq!(me.liveness(pid, &reused), Liveness::Gone);
        child.kill().expect("kill");
        // Before reaping it is a zombie, after reaping it is gone: both count as gone. The
        // signal is delivered asynchronously, so wait (bounded) for the zombie state.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while me.liveness(pid, &token) != Liveness::Gone {
            assert!(
                std::time::Instant::now() < deadline,
                "killed child still alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().expect("wait");
        assert_eq!(me.liveness(pid, &token), Liveness::Gone);
        let other_boot = format!("linux:{}:not-this-boot:{start}", hostname());
        assert_eq!(me.liveness(pid, &other_boot), Liveness::Gone);
        let other_host = format!("linux:elsewhere:{boot}:{start}");
        assert_eq!(me.liveness(pid, &other_host), Liveness::Unknown);
        assert_eq!(me.liveness(pid, "other:x"), Liveness::Unknown);
    }
}
