//! Signals that ask a command to stop: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the SSH session
//! went away). The first one cancels what is in flight and lets the command wind down: the
//! request is cancelled, a file being written is finished (files appear complete or not at
//! all), the history entry is completed as cancelled, and the process exits with 128 + the
//! signal's number. A second signal ends the process at once, which is as safe as a kill:
//! SQLite transactions and image files are atomic, and a pending entry becomes `interrupted`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio_util::sync::CancellationToken;

/// A signal that asked us to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal {
    /// `SIGINT`, `SIGTERM` or `SIGHUP`.
    pub name: &'static str,
    /// Its number (the same on every Unix).
    pub number: i32,
}

const SIGNALS: [StopSignal; 3] = [
    StopSignal {
        name: "SIGHUP",
        number: 1,
    },
    StopSignal {
        name: "SIGINT",
        number: 2,
    },
    StopSignal {
        name: "SIGTERM",
        number: 15,
    },
];

impl StopSignal {
    /// The exit code of a process that stopped because of it: 128 + its number.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.number).unwrap_or(u8::MAX)
    }

    fn from_number(n: i32) -> Option<StopSignal> {
        SIGNALS.into_iter().find(|s| s.number == n)
    }

    /// The signal called `name` (`SIGQUIT` too: the TUI handles it like SIGTERM).
    pub fn named(name: &str) -> Option<StopSignal> {
        const QUIT: StopSignal = StopSignal {
            name: "SIGQUIT",
            number: 3,
        };
        SIGNALS
            .into_iter()
            .chain(std::iter::once(QUIT))
            .find(|s| s.name == name)
    }
}

/// Watches for the stop signals from the moment it is installed.
#[derive(Debug, Clone)]
pub struct Stop {
    token: CancellationToken,
    which: Arc<AtomicI32>,
}

impl Stop {
    /// Installs the handlers (they replace the default action of terminating at once) and
    /// watches on `runtime`.
    pub fn install(runtime: &tokio::runtime::Runtime) -> std::io::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let _enter = runtime.enter();
        let mut hup = signal(SignalKind::hangup())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let stop = Stop {
            token: CancellationToken::new(),
            which: Arc::new(AtomicI32::new(0)),
        };
        let watcher = stop.clone();
        runtime.spawn(async move {
            loop {
                let n = tokio::select! {
                    Some(()) = hup.recv() => 1,
                    Some(()) = int.recv() => 2,
                    Some(()) = term.recv() => 15,
                    else => return,
                };
                if watcher
                    .which
                    .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    watcher.token.cancel();
                } else {
                    // Asked twice: stop now.
                    std::process::exit(128 + n);
                }
            }
        });
        Ok(stop)
    }

    /// Cancelled when a stop signal arrives.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The signal that asked us to stop, if one did.
    pub fn requested(&self) -> Option<StopSignal> {
        StopSignal::from_number(self.which.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tui_signals_are_known_by_name() {
        let codes: Vec<Option<u8>> = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1"]
            .iter()
            .map(|n| StopSignal::named(n).map(StopSignal::exit_code))
            .collect();
        assert_eq!(codes, [Some(129), Some(130), Some(131), Some(143), None]);
    }

    #[test]
    fn exit_codes_are_128_plus_the_signal_number() {
        let codes: Vec<(&str, u8)> = SIGNALS.iter().map(|s| (s.name, s.exit_code())).collect();
        assert_eq!(codes, [("SIGHUP", 129), ("SIGINT", 130), ("SIGTERM", 143)]);
        assert_eq!(
            (
                super::super::EXIT_HUP,
                super::super::EXIT_INT,
                super::super::EXIT_TERM
            ),
            (129, 130, 143)
        );
        assert_eq!(StopSignal::from_number(0), None);
    }
}
