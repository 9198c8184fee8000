//! `volcv send` stopped by a signal at the worst moments: while the pending history entry is
//! first written, while the request is in flight, while result images are being saved, and
//! while the history entry is being completed. SIGTERM,
//! SIGHUP and Ctrl-C (SIGINT) are caught: the request is cancelled, the entry completed as
//! cancelled (or with the answer that already came), and the exit code is 128 + the signal's
//! number. SIGKILL cannot be caught: the entry is found `interrupted` on the next open. After
//! every one: `PRAGMA integrity_check` is ok, the entry is there, and every image file (in
//! `--out` and in the history's image dir) is complete: no partial file, no temporary file.
//!
//! The windows are hit for real, not through hooks: a canned server answers with many large
//! base64 images, and the test watches the child's open files (`/proc/PID/fd`) and the
//! database's write lock, sending the signal the moment the child is inside the window. A run
//! that raced past the window is retried (a bounded number of times) and must hit it once.
#![cfg(target_os = "linux")]

mod common;

use common::{
    CannedServer, Rng, data_dir, files_under, integrity_check, sha256_hex, success_envelope,
    volcv_cmd, wait_for,
};
use rustix::process::{Pid, Signal};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use volcv::mock::{MockConfig, MockServer};
use volcv::store::{Entry, OutcomeKind, Query, Store};

/// How many times a run that missed its window is repeated.
const ATTEMPTS: usize = 8;
/// Result images per answer, and the size of each.
const IMAGES: usize = 8;
const IMAGE_BYTES: usize = 2_500_000;

fn send_signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, sig).expect("send the signal");
}

struct Finished {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
}

/// Waits (bounded) for the child to end and collects its output.
fn finish(mut child: Child) -> Finished {
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("volcv did not end within 90 s after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).expect("stderr");
    }
    use std::os::unix::process::ExitStatusExt as _;
    Finished {
        code: status.code(),
        signal: status.signal(),
        stderr,
    }
}

fn spawn_send(home: &Path, endpoint: &str, prompt: &str, extra: &[&str]) -> Child {
    volcv_cmd(home)
        .args([
            "send",
            "--endpoint",
            endpoint,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            &format!("prompt={prompt}"),
            "--out",
            "out",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn volcv")
}

/// The one history entry, after a fresh open (which turns a dead writer's pending entry into
/// `interrupted`).
fn only_entry(home: &Path) -> Entry {
    let store = Store::open(&data_dir(home)).expect("open the history");
    let rows = store.list(&Query::default()).expect("list");
    assert_eq!(rows.len(), 1, "exactly one entry: {rows:?}");
    store.get(rows[0].id).expect("get").expect("the entry")
}

/// Whether the process has a file open inside `dir` (an anonymous file being written shows as
/// `DIR/#INODE (deleted)`).
fn has_open_file_in(pid: u32, dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    rd.filter_map(Result::ok)
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir)))
}

/// Whether an established TCP connection has `port` as its local port (the server side of a
/// request in flight). From /proc/net/tcp: `sl local rem st ...`, state 01 = ESTABLISHED.
fn connection_established_to(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "01"
    })
}

/// Every image file volcv left is complete: in `--out`, only visible files whose bytes are one
/// of the served images; in the history's image dir, only files whose content hashes to
/// their name. No partial or temporary file anywhere.
fn assert_only_complete_files(home: &Path, served: &BTreeSet<String>) -> usize {
    let out = home.join("out");
    let mut saved = 0;
    for f in files_under(&out) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(!name.starts_with('.'), "a temporary file was left: {f:?}");
        let sha = sha256_hex(&std::fs::read(&f).expect("read"));
        assert!(
            served.contains(&sha),
            "{f:?} is not a complete served image"
        );
        saved += 1;
    }
    for f in files_under(&data_dir(home).join(volcv::store::IMAGES_DIR)) {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let sha = sha256_hex(&std::fs::read(&f).expect("read"));
        // `<sha>.<ext>`, or (killed between linking a complete file and renaming it) the
        // hidden `.<sha>.<pid>.<rand>.tmp`, complete too.
        let named = name.trim_start_matches('.').split('.').next().unwrap_or("");
        assert_eq!(
            named, sha,
            "{f:?} does not hold the image it is named after"
        );
    }
    saved
}

fn big_answer(seed: u64) -> (Vec<u8>, BTreeSet<String>) {
    let mut rng = Rng(seed);
    let images: Vec<Vec<u8>> = (0..IMAGES)
        .map(|_| {
            let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
            b.extend(rng.bytes(IMAGE_BYTES));
            b
        })
        .collect();
    let served = images.iter().map(|i| sha256_hex(i)).collect();
    // A long rephraser_result makes the history's full-text index work inside the write.
    let rephrased = "a long rephrased prompt with many words ".repeat(4_000);
    (success_envelope(&images, &rephrased), served)
}

#[test]
fn a_signal_during_the_request_cancels_it_and_records_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (sig, code, name) in [
        (Signal::TERM, Some(143), "SIGTERM"),
        (Signal::HUP, Some(129), "SIGHUP"),
        (Signal::INT, Some(130), "SIGINT"),
        (Signal::KILL, None, "SIGKILL"),
    ] {
        let mock = rt
            .block_on(MockServer::start(MockConfig {
                addr: "127.0.0.1:0".parse().expect("addr"),
                quiet: true,
                ..Default::default()
            }))
            .expect("mock");
        let home = tempfile::tempdir().expect("tmp");
        let child = spawn_send(home.path(), &mock.url(), "[mock:slow=60s] a cat", &[]);
        let port = mock.addr().port();
        wait_for("the request to reach the mock", 60, || {
            connection_established_to(port).then_some(())
        });
        send_signal(&child, sig);
        let done = finish(child);
        assert_eq!(done.code, code, "{name}: {}", done.stderr);
        let entry = only_entry(home.path());
        if let Some(_code) = code {
            assert!(
                done.stderr
                    .contains(&format!("error: cancelled by {name} after")),
                "{}",
                done.stderr
            );
            assert!(
                done.stderr.contains(&format!("volcv: stopped by {name}")),
                "{}",
                done.stderr
            );
            assert!(done.stderr.contains("history: entry 1"), "{}", done.stderr);
            assert_eq!(entry.summary.outcome, OutcomeKind::Cancelled, "{name}");
        } else {
            assert_eq!(done.signal, Some(9));
            assert_eq!(entry.summary.outcome, OutcomeKind::Interrupted);
        }
        assert_eq!(integrity_check(&data_dir(home.path())), "ok");
        assert!(files_under(&home.path().join("out")).is_empty());
        assert_eq!(mock.stats().requests, 0, "the slow answer never went out");
    }
}

#[test]
fn a_signal_while_images_are_saved_leaves_only_complete_files() {
    let (body, served) = big_answer(0x51_6E_A1);
    let server = CannedServer::json(body);
    for (sig, code, name) in [
        (Signal::TERM, Some(143), "SIGTERM"),
        (Signal::HUP, Some(129), "SIGHUP"),
        (Signal::KILL, None, "SIGKILL"),
    ] {
        let mut hit = false;
        for attempt in 0..ATTEMPTS {
            let home = tempfile::tempdir().expect("tmp");
            let out = home.path().join("out");
            std::fs::create_dir(&out).expect("mkdir out");
            let mut child = spawn_send(
                home.path(),
                &server.url,
                "x",
                &["--set", "return_url=false"],
            );
            let pid = child.id();
            // Signal the moment an image file is open in --out.
            let mut seen = false;
            while child.try_wait().expect("try_wait").is_none() {
                if has_open_file_in(pid, &out) {
                    send_signal(&child, sig);
                    seen = true;
                    break;
                }
            }
            let done = finish(child);
            let saved = assert_only_complete_files(home.path(), &served);
            assert_eq!(integrity_check(&data_dir(home.path())), "ok");
            let entry = only_entry(home.path());
            if !seen {
                assert_eq!(done.code, Some(0), "{}", done.stderr);
                continue;
            }
            match code {
                Some(code) => {
                    if done.code == Some(0) {
                        // The signal came as the last file was done: nothing left to stop.
                        assert_eq!(saved, IMAGES);
                        continue;
                    }
                    assert_eq!(done.code, Some(code), "{name}: {}", done.stderr);
                    // The answer came: the entry is the success it was, and the history keeps
                    // every image even where --out did not get it.
                    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
                    let store = Store::open(&data_dir(home.path())).expect("open");
                    let export = store.export(entry.summary.id).expect("export");
                    let v: serde_json::Value =
                        serde_json::from_slice(&export.response.expect("response")).expect("json");
                    assert_eq!(
                        v["data"]["binary_data_base64"].as_array().map(Vec::len),
                        Some(IMAGES)
                    );
                    if saved < IMAGES {
                        assert!(
                            done.stderr
                                .contains(&format!("not saved: stopped by {name}")),
                            "{}",
                            done.stderr
                        );
                        hit = true;
                    }
                }
                None => {
                    assert_eq!(done.signal, Some(9));
                    assert_eq!(entry.summary.outcome, OutcomeKind::Interrupted);
                    hit = true;
                }
            }
            if hit {
                eprintln!("{name}: hit the save window on attempt {}", attempt + 1);
                break;
            }
        }
        assert!(hit, "{name} never landed while an image was being saved");
    }
}

/// Whether another connection holds the database's write lock (a write transaction is open).
fn write_locked(conn: &rusqlite::Connection) -> bool {
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => false,
        Err(rusqlite::Error::SqliteFailure(e, _)) => e.code == rusqlite::ErrorCode::DatabaseBusy,
        Err(_) => false,
    }
}

#[test]
fn a_signal_during_the_history_write_leaves_a_consistent_database() {
    let (body, served) = big_answer(0xD8_17E);
    let server = CannedServer::json(body);
    for (sig, code, name) in [
        (Signal::TERM, Some(143), "SIGTERM"),
        (Signal::HUP, Some(129), "SIGHUP"),
        (Signal::KILL, None, "SIGKILL"),
    ] {
        let mut hit = false;
        for attempt in 0..ATTEMPTS {
            let home = tempfile::tempdir().expect("tmp");
            let data = data_dir(home.path());
            let images = data.join(volcv::store::IMAGES_DIR);
            let before = server.answered();
            let mut child = spawn_send(
                home.path(),
                &server.url,
                "x",
                &["--set", "return_url=false"],
            );
            let pid = child.id();
            let mut probe: Option<rusqlite::Connection> = None;
            let mut seen = false;
            while child.try_wait().expect("try_wait").is_none() {
                // The pending row is written before the request; the completion after the
                // answer: look for the completion only.
                if server.answered() == before {
                    continue;
                }
                if probe.is_none() {
                    probe = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).ok();
                    if let Some(c) = &probe {
                        c.busy_timeout(Duration::ZERO).expect("busy timeout");
                    }
                }
                let writing =
                    has_open_file_in(pid, &images) || probe.as_ref().is_some_and(write_locked);
                if writing {
                    send_signal(&child, sig);
                    seen = true;
                    break;
                }
            }
            drop(probe);
            let done = finish(child);
            let saved = assert_only_complete_files(home.path(), &served);
            assert_eq!(integrity_check(&data), "ok");
            let entry = only_entry(home.path());
            if !seen {
                continue;
            }
            match code {
                Some(code) => {
                    // A caught signal lets the write finish: the entry is complete.
                    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
                    assert_eq!(saved, IMAGES, "the images were saved before the write");
                    if done.code == Some(0) {
                        // The signal came as the write ended: nothing left to stop.
                        continue;
                    }
                    assert_eq!(done.code, Some(code), "{name}: {}", done.stderr);
                    assert!(
                        done.stderr.contains(&format!("volcv: stopped by {name}")),
                        "{}",
                        done.stderr
                    );
                    hit = true;
                }
                None => {
                    assert_eq!(done.signal, Some(9));
                    // Killed inside the write: the transaction never committed (interrupted),
                    // or it had just committed (success). Never anything else.
                    assert!(
                        matches!(
                            entry.summary.outcome,
                            OutcomeKind::Interrupted | OutcomeKind::Success
                        ),
                        "{:?}",
                        entry.summary.outcome
                    );
                    hit = true;
                }
            }
            if hit {
                eprintln!(
                    "{name}: hit the history write on attempt {} ({:?})",
                    attempt + 1,
                    entry.summary.outcome
                );
                break;
            }
        }
        assert!(hit, "{name} never landed during the history write");
    }
}

/// A second signal stops at once, without waiting for the write the first one let finish:
/// sent again and again while the history entry is being written, until the process ends.
#[test]
fn a_second_signal_stops_at_once() {
    let (body, served) = big_answer(0x2_516);
    let server = CannedServer::json(body);
    let mut hit = false;
    for attempt in 0..ATTEMPTS {
        let home = tempfile::tempdir().expect("tmp");
        let data = data_dir(home.path());
        let images = data.join(volcv::store::IMAGES_DIR);
        let before = server.answered();
        let mut child = spawn_send(
            home.path(),
            &server.url,
            "x",
            &["--set", "return_url=false"],
        );
        let pid = child.id();
        let mut signals = 0;
        while child.try_wait().expect("try_wait").is_none() {
            if signals > 0 || (server.answered() > before && has_open_file_in(pid, &images)) {
                send_signal(&child, Signal::TERM);
                signals += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let done = finish(child);
        assert_only_complete_files(home.path(), &served);
        assert_eq!(integrity_check(&data), "ok");
        let outcome = only_entry(home.path()).summary.outcome;
        assert!(
            matches!(outcome, OutcomeKind::Interrupted | OutcomeKind::Success),
            "{outcome:?}"
        );
        if signals >= 2 && done.code == Some(143) && !done.stderr.contains("stopped by") {
            // Ended by the second signal, before the report of the first.
            eprintln!(
                "second SIGTERM ended the process on attempt {}",
                attempt + 1
            );
            hit = true;
            break;
        }
    }
    assert!(hit, "a second SIGTERM never ended the process at once");
}

/// A signal while the pending entry is first written (its large reference image going into
/// the history's image dir), before anything is sent: SIGTERM marks the entry cancelled and
/// sends nothing; after SIGKILL the entry is `interrupted`, or absent when its transaction
/// never committed, and then nothing was sent either.
#[test]
fn a_signal_while_the_entry_is_first_written_sends_nothing() {
    let (body, served) = big_answer(0xBE_61);
    let server = CannedServer::json(body);
    let inputs = tempfile::tempdir().expect("tmp");
    // A 1400x1000 noise PNG: about 4.2 MB, within the service's limits, slow to write.
    let reference = inputs.path().join("noise.png");
    let mut rng = Rng(0x4015E);
    image::RgbImage::from_fn(1400, 1000, |_, _| {
        let v = rng.next();
        image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
    .save(&reference)
    .expect("write the reference");
    for (sig, name) in [(Signal::TERM, "SIGTERM"), (Signal::KILL, "SIGKILL")] {
        let mut hit = false;
        for attempt in 0..ATTEMPTS {
            let home = tempfile::tempdir().expect("tmp");
            let data = data_dir(home.path());
            let images = data.join(volcv::store::IMAGES_DIR);
            let before = server.answered();
            let mut child = volcv_cmd(home.path())
                .args([
                    "send",
                    "--endpoint",
                    &server.url,
                    "--auth",
                    "none",
                    "--image",
                    reference.to_str().expect("utf8"),
                    "--set",
                    "prompt=x",
                    "--out",
                    "out",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn volcv");
            let pid = child.id();
            let mut seen = false;
            while child.try_wait().expect("try_wait").is_none() {
                if server.answered() == before && has_open_file_in(pid, &images) {
                    send_signal(&child, sig);
                    seen = true;
                    break;
                }
            }
            let done = finish(child);
            assert_eq!(integrity_check(&data), "ok");
            // An attempt that missed the window (or whose signal came after the request left)
            // ran to the end: its files are the served images, whole.
            assert_only_complete_files(home.path(), &served);
            if !seen {
                continue;
            }
            let store = Store::open(&data).expect("open");
            let rows = store.list(&Query::default()).expect("list");
            if sig == Signal::KILL {
                assert_eq!(done.signal, Some(9));
                match rows.as_slice() {
                    [] => {}
                    [row] => assert_eq!(row.outcome, OutcomeKind::Interrupted),
                    more => panic!("{more:?}"),
                }
                assert_eq!(server.answered(), before, "nothing was sent");
                hit = true;
            } else {
                assert_eq!(done.code, Some(143), "{}", done.stderr);
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0].outcome, OutcomeKind::Cancelled, "{}", done.stderr);
                if done
                    .stderr
                    .contains("stopped by SIGTERM before sending; nothing was sent")
                {
                    assert!(
                        done.stderr.contains("history entry 1 marked cancelled"),
                        "{}",
                        done.stderr
                    );
                    assert_eq!(server.answered(), before, "nothing was sent");
                    hit = true;
                }
            }
            if hit {
                eprintln!("{name}: hit the first write on attempt {}", attempt + 1);
                break;
            }
        }
        assert!(hit, "{name} never landed while the entry was first written");
    }
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            // `PID (COMM) STATE PPID ...`: the fields after the last `)`.
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// SIGTERM while the TUI has handed the terminal to the `Ctrl-e` editor: it is remembered,
/// and once the editor is closed the UI ends as it does on any SIGTERM (terminal restored:
/// the alternate screen left; exit status 143), instead of running on. The UI runs on a real
/// pseudo-terminal (util-linux `script`), the editor is a script that waits to be released.
#[test]
fn a_signal_while_the_editor_is_open_ends_the_ui_once_it_is_closed() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().expect("tmp");
    let editor = home.path().join("editor.sh");
    let started = home.path().join("editor.started");
    let release = home.path().join("editor.release");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\ntouch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n",
            started.display(),
            release.display()
        ),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let command = format!(
        "stty cols 100 rows 30; exec '{}' --demo --image-protocol none",
        env!("CARGO_BIN_EXE_volcv")
    );
    let mut script = common::clean_cmd("script", home.path())
        .args(["-qfec", &command, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm-256color")
        .env("EDITOR", &editor)
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script (util-linux)");
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let stdin = std::sync::Arc::new(std::sync::Mutex::new(script.stdin.take()));
    let mut out = script.stdout.take().expect("stdout");
    let (sink, answer) = (
        std::sync::Arc::clone(&output),
        std::sync::Arc::clone(&stdin),
    );
    // Plays the terminal's part: answers each cursor position query (ESC [ 6 n).
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut all = sink.lock().expect("output");
            let from = all.len().saturating_sub(3);
            all.extend_from_slice(&buf[..n]);
            let queries = all[from..].windows(4).filter(|w| w == b"\x1b[6n").count();
            drop(all);
            if let Some(i) = answer.lock().expect("stdin").as_mut() {
                for _ in 0..queries {
                    let _ = i.write_all(b"\x1b[1;1R");
                    let _ = i.flush();
                }
            }
        }
    });
    let shown = |from: usize, what: &[u8]| {
        let o = output.lock().expect("output");
        o.get(from..)
            .is_some_and(|tail| tail.windows(what.len()).any(|w| w == what))
    };
    const ENTER_ALT: &[u8] = b"\x1b[?1049h";
    const LEAVE_ALT: &[u8] = b"\x1b[?1049l";
    wait_for("the UI to start", 60, || shown(0, ENTER_ALT).then_some(()));
    let volcv = wait_for("the volcv process", 30, || {
        children_of(script.id()).into_iter().find(|p| {
            std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| {
                e.ends_with(
                    Path::new(env!("CARGO_BIN_EXE_volcv"))
                        .file_name()
                        .expect("name"),
                )
            })
        })
    });
    // Ctrl-e on the Parameters pane: the whole request in $EDITOR.
    if let Some(i) = stdin.lock().expect("stdin").as_mut() {
        i.write_all(b"\x05").expect("type");
        i.flush().expect("flush");
    }
    wait_for("the editor to open", 30, || started.exists().then_some(()));
    let pid = Pid::from_raw(i32::try_from(volcv).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, Signal::TERM).expect("SIGTERM");
    // The UI waits for the editor: the terminal is the editor's until it is closed.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        script.try_wait().expect("try_wait").is_none(),
        "volcv ended while the editor still had the terminal"
    );
    let before_release = output.lock().expect("output").len();
    std::fs::write(&release, "").expect("release the editor");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = script.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = script.kill();
            let _ = script.wait();
            panic!("volcv kept running after the editor closed: the SIGTERM was lost");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    stdin.lock().expect("stdin").take();
    let _ = reader.join();
    let text = String::from_utf8_lossy(&output.lock().expect("output")).into_owned();
    let last: String = text
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(status.code(), Some(143), "{status:?}: {last:?}");
    assert!(
        shown(before_release, LEAVE_ALT),
        "the terminal was not restored after the editor"
    );
}

/// SIGINT and SIGQUIT sent to the running terminal UI from outside (`kill -INT`, `timeout -s
/// INT`; inside the UI Ctrl-C is a key) end it like SIGTERM: it exits with 128 + the
/// signal's number (130, 131), as the CLI does, and the terminal is back in canonical mode. Before, their default action killed it with raw mode
/// (and the alternate screen and mouse reporting) left on. Runs in tmux; skipped without it
/// (CI installs it).
#[test]
fn the_tui_restores_the_terminal_on_sigint_and_sigquit() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "CI must have tmux");
        return;
    }
    for (sig, name, code) in [(Signal::INT, "INT", 130), (Signal::QUIT, "QUIT", 131)] {
        let home = tempfile::tempdir().expect("home");
        let h = home.path();
        let sock = format!("volcv-sig-{}-{name}", std::process::id());
        let tmux = |args: &[&str]| {
            std::process::Command::new("tmux")
                .args(["-L", &sock, "-f", "/dev/null"])
                .args(args)
                .output()
                .expect("run tmux")
        };
        let script = format!(
            "env -i {env} PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 \
             '{bin}' --demo; echo \"exit=$?\" > {h}/exit; stty -a > {h}/stty; sleep 30",
            env = common::home_env_line(h),
            h = h.display(),
            bin = env!("CARGO_BIN_EXE_volcv"),
        );
        let started = tmux(&[
            "new-session",
            "-d",
            "-s",
            "sig",
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ]);
        assert!(started.status.success(), "{started:?}");
        let screen = || {
            String::from_utf8_lossy(&tmux(&["capture-pane", "-t", "sig", "-p"]).stdout).into_owned()
        };
        wait_for("the UI to draw", 30, || {
            screen().contains("Parameters").then_some(())
        });
        let shell: u32 = String::from_utf8_lossy(
            &tmux(&["display-message", "-p", "-t", "sig", "#{pane_pid}"]).stdout,
        )
        .trim()
        .parse()
        .expect("pane pid");
        let ui: i32 = wait_for("the volcv process", 10, || {
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
        rustix::process::kill_process(Pid::from_raw(ui).expect("pid"), sig).expect("kill");
        let stty = wait_for("the shell after the UI", 15, || {
            std::fs::read_to_string(h.join("stty"))
                .ok()
                .filter(|s| !s.is_empty())
        });
        let exit = std::fs::read_to_string(h.join("exit")).unwrap_or_default();
        let _ = tmux(&["kill-server"]);
        assert_eq!(exit.trim(), format!("exit={code}"), "SIG{name}: {stty}");
        assert!(
            stty.split_whitespace().any(|w| w == "icanon"),
            "SIG{name} left the terminal in raw mode: {stty}"
        );
    }
}
