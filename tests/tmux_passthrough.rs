//! Images through tmux, byte for byte: `volcv --demo` runs in a tmux pane with
//! `--image-protocol kitty` (U+10EEEE image cells, what kitty gets inside tmux) or `sixel`, a
//! tmux client is attached on a pseudo-terminal of ours, and after F5 the bytes tmux sends to
//! that client, the outer terminal, must hold the image sequences unwrapped from passthrough
//! and whole: kitty's transmissions (APC, base64, terminated) and the image cells tmux
//! redraws as text; sixel's DCS with nothing but sixel data in it.
//!
//! No graphics terminal is needed: the bytes are what a kitty or an xterm outside would get.
//! Skips with a message when tmux is missing, except under `CI`, which installs it.
#![cfg(target_os = "linux")]

mod common;
use common::term::{find, kitty_commands_well_formed, open_pty, sequences, sixel_well_formed};
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every wait is bounded by this (a debug build on a loaded machine).
const WAIT: Duration = Duration::from_secs(60);

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI must run the tmux passthrough test (install tmux)"
    );
    ok
}

/// A tmux server of its own with volcv in its one pane, and a client attached on a pty whose
/// output is kept.
struct Session {
    socket: String,
    out: Arc<Mutex<Vec<u8>>>,
    client: Child,
    _home: tempfile::TempDir,
}

impl Session {
    fn start(protocol: &str) -> Session {
        let home = tempfile::tempdir().expect("tempdir");
        let socket = format!("volcv-pt-{}-{protocol}", std::process::id());
        let bin = env!("CARGO_BIN_EXE_volcv");
        let pane = format!(
            "env {env} LANG=C.UTF-8 '{bin}' --demo --image-protocol {protocol}",
            env = common::home_env_line(home.path())
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "p",
            ])
            .args(["-x", "120", "-y", "40", &pane])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux new-session");
        assert!(status.success(), "tmux new-session failed");
        let (master, slave) = open_pty(120, 40, (1200, 800));
        let client = Command::new("setsid")
            .args(["-c", "tmux", "-L", &socket, "attach", "-t", "p"])
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("tmux attach (setsid is in util-linux)");
        let out = Arc::new(Mutex::new(Vec::new()));
        let (o, mut r) = (Arc::clone(&out), master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut o) = o.lock() {
                    o.extend_from_slice(&buf[..n]);
                }
            }
        });
        Session {
            socket,
            out,
            client,
            _home: home,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn output(&self) -> Vec<u8> {
        self.out.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Waits until `done` holds for what the client received (bounded; a hang, not a speed).
    fn wait(&self, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let start = Instant::now();
        loop {
            let out = self.output();
            if done(&out) {
                return out;
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: not seen within {WAIT:?}; the pane:\n{}",
                self.tmux(&["capture-pane", "-p", "-t", "p"])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts, sends one request and waits for its answer on the pane.
    fn answered(&self) {
        self.wait("the first frame", |_| {
            self.tmux(&["capture-pane", "-p", "-t", "p"])
                .contains("1 Parameters")
        });
        self.tmux(&["send-keys", "-t", "p", "F5"]);
        self.wait("the answer", |_| {
            self.tmux(&["capture-pane", "-p", "-t", "p"])
                .contains("10000 success")
        });
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = self.client.kill();
        let _ = self.client.wait();
    }
}

#[test]
fn kitty_cell_images_reach_the_outer_terminal_through_tmux_whole() {
    if !have_tmux() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let s = Session::start("kitty");
    s.answered();
    // The result in the Images tab and its thumbnail in History: two transmissions.
    let out = s.wait("two kitty transmissions", |o| {
        sequences(o, b"\x1b_G", b"\x1b\\")
            .iter()
            .filter(|q| find(q, b"a=T,U=1,f=32,").is_some())
            .count()
            >= 2
    });
    let apcs = sequences(&out, b"\x1b_G", b"\x1b\\");
    assert!(
        find(&out, b"\x1bPtmux;").is_none(),
        "tmux passed its passthrough wrapper on"
    );
    assert!(
        kitty_commands_well_formed(&apcs),
        "a transmission is not whole"
    );
    // The image cells, redrawn by tmux as text, reach the outer terminal too.
    let text = String::from_utf8_lossy(&out);
    let cells = text.matches('\u{10EEEE}').count();
    assert!(cells > 50, "image cells: {cells}");
}

#[test]
fn sixel_reaches_the_outer_terminal_through_tmux_whole() {
    if !have_tmux() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let s = Session::start("sixel");
    s.answered();
    let out = s.wait("two sixel images", |o| {
        sequences(o, b"\x1bP", b"\x1b\\")
            .iter()
            .filter(|q| q.contains(&b'q') && !q.starts_with(b"\x1bPtmux;"))
            .count()
            >= 2
    });
    let images: Vec<&[u8]> = sequences(&out, b"\x1bP", b"\x1b\\")
        .into_iter()
        .filter(|q| q.contains(&b'q'))
        .collect();
    assert!(
        images.iter().all(|q| !q.starts_with(b"\x1bPtmux;")),
        "tmux passed its wrapper on"
    );
    assert!(
        images.iter().all(|q| sixel_well_formed(q)),
        "a sixel image that is not whole"
    );
}
