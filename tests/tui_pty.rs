//! The real binary on a pseudo-terminal, typed at the moment its first frame is complete:
//! the start-up image query must not swallow or misread a key. One terminal never answers
//! the query; one answers like xterm, but only after some keys were typed. Either way, every
//! key is handled: `j j j` moves the form's selection to `scale` and F5 sends the request to
//! the demo mock, and both are drawn. The screen is rebuilt from the output by a small
//! emulator (cursor moves, printed text, clears), enough for ratatui's output.
#![cfg(target_os = "linux")]

mod common;
use common::term::open_pty;
use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COLS: usize = 120;
const ROWS: usize = 40;
/// Every wait is bounded by this (a debug build on a loaded machine).
const WAIT: Duration = Duration::from_secs(30);

/// What the terminal side has seen.
#[derive(Default)]
struct Seen {
    out: Vec<u8>,
}

struct Pty {
    master: std::fs::File,
    seen: Arc<Mutex<Seen>>,
    child: Child,
    _home: tempfile::TempDir,
}

impl Pty {
    fn spawn() -> Pty {
        let (master, slave) = open_pty(COLS as u16, ROWS as u16, (0, 0));
        let home = tempfile::tempdir().expect("tempdir");
        let h = home.path();
        // setsid -c: a session of its own with this pty as its controlling terminal, as in a
        // real terminal (crossterm reads the size from /dev/tty).
        let child = Command::new("setsid")
            .arg("-c")
            .arg(env!("CARGO_BIN_EXE_volcv"))
            .arg("--demo")
            .env_clear()
            .envs(common::home_env(h))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .current_dir(h)
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("run setsid -c volcv (setsid is in util-linux)");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s, mut r) = (Arc::clone(&seen), master.try_clone().expect("dup"));
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = s.lock() {
                    s.out.extend_from_slice(&buf[..n]);
                }
            }
        });
        Pty {
            master,
            seen,
            child,
            _home: home,
        }
    }

    fn write(&mut self, b: &[u8]) {
        self.master.write_all(b).expect("write to the pty");
    }

    fn output(&self) -> Vec<u8> {
        self.seen.lock().map(|s| s.out.clone()).unwrap_or_default()
    }

    /// Waits until `done` holds for the output (bytes) and the screen (rows of text).
    fn wait(&self, what: &str, done: impl Fn(&[u8], &[String]) -> bool) {
        let start = Instant::now();
        loop {
            let out = self.output();
            let screen = emulate(&out);
            if done(&out, &screen) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: not seen within {WAIT:?}; screen:\n{}",
                screen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn first_frame(&self) {
        // The last row (the key hints) is the last thing the first frame writes.
        self.wait("the first frame", |_, s| {
            s.iter().any(|r| r.contains("1 Parameters")) && s[ROWS - 1].contains("pane")
        });
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.master.write_all(b"q");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The screen as text, from ratatui's output: printed characters, `CSI row;col H`, `CSI 2J`;
/// other sequences are skipped.
fn emulate(out: &[u8]) -> Vec<String> {
    let mut grid = vec![vec![' '; COLS]; ROWS];
    let (mut row, mut col) = (0usize, 0usize);
    let text = String::from_utf8_lossy(out);
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            match it.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = ' ';
                    for d in it.by_ref() {
                        if ('\x40'..='\x7e').contains(&d) {
                            fin = d;
                            break;
                        }
                        params.push(d);
                    }
                    let n: Vec<usize> = params.split(';').map(|p| p.parse().unwrap_or(1)).collect();
                    match fin {
                        'H' => {
                            row = n
                                .first()
                                .copied()
                                .unwrap_or(1)
                                .saturating_sub(1)
                                .min(ROWS - 1);
                            col = n
                                .get(1)
                                .copied()
                                .unwrap_or(1)
                                .saturating_sub(1)
                                .min(COLS - 1);
                        }
                        'J' if params == "2" => grid = vec![vec![' '; COLS]; ROWS],
                        _ => {}
                    }
                }
                // OSC, APC, DCS strings: up to BEL or ST.
                Some(']' | '_' | 'P') => {
                    while let Some(d) = it.next() {
                        if d == '\x07' || (d == '\x1b' && it.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if c == '\r' {
            col = 0;
        } else if c == '\n' {
            row = (row + 1).min(ROWS - 1);
        } else if !c.is_control() && col < COLS {
            grid[row][col] = c;
            col += 1;
        }
    }
    grid.into_iter().map(|r| r.into_iter().collect()).collect()
}

const F5: &[u8] = b"\x1b[15~";

fn selection_on_scale_and_sent(_: &[u8], s: &[String]) -> bool {
    s.iter().any(|r| r.contains("▸ scale")) && s.iter().any(|r| r.contains("10000 success"))
}

#[test]
fn keys_typed_at_once_on_a_terminal_that_never_answers_are_all_handled() {
    let mut t = Pty::spawn();
    t.first_frame();
    t.write(b"jjj");
    t.write(F5);
    t.wait(
        "j j j moved the selection to scale and F5 sent",
        selection_on_scale_and_sent,
    );
}

#[test]
fn keys_before_and_after_a_late_xterm_answer_are_all_kept() {
    let mut t = Pty::spawn();
    t.first_frame();
    // The query is out (it ends with a status request); the answer is held back.
    t.wait("the start-up query", |o, _| {
        o.windows(4).any(|w| w == b"\x1b[5n")
    });
    t.write(b"j");
    t.write(b"j");
    std::thread::sleep(Duration::from_millis(50));
    // xterm's answer: device attributes (no sixel), then the status report "OK".
    t.write(b"\x1b[?62;22c\x1b[0n");
    t.write(b"j");
    t.write(F5);
    t.wait(
        "j j (answer) j moved the selection to scale and F5 sent",
        selection_on_scale_and_sent,
    );
    let screen = emulate(&t.output());
    assert!(
        !screen.iter().any(|r| r.contains("62;22")),
        "the answer is not typed into the UI:\n{}",
        screen.join("\n")
    );
}
