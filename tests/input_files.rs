//! Input files as users get them wrong: every bad reference image given with `--image` (and to
//! the TUI's reference loader, which shares the checks), a bad request file and a bad config
//! file each give a clear error that names the file and says what is expected, nothing is
//! sent, and nothing hangs (a FIFO is never opened in a way that blocks). A symlink to a valid
//! image is followed.
#![cfg(unix)]

mod common;

use common::{jpeg, png, volcv_cmd};
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` and waits at most 60 s (a FIFO that blocked would hang here).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn volcv");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("volcv hung on its input file");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// `volcv send --dry-run` with `--image arg` (nothing could be sent anyway).
fn dry_run_with_image(home: &Path, arg: &str) -> Output {
    let mut cmd = volcv_cmd(home);
    cmd.args([
        "send",
        "--auth",
        "none",
        "--endpoint",
        "http://127.0.0.1:9/",
        "--dry-run",
        "--set",
        "prompt=x",
        "--image",
        arg,
    ]);
    run_bounded(cmd)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The invalid-input exit, with an error that names `path` and contains every piece of `says`.
fn assert_refused(o: &Output, path: &Path, says: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("--image {}: ", path.display())),
        "the error names the file: {err}"
    );
    for s in says {
        assert!(err.contains(s), "expected {s:?} in: {err}");
    }
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(o.stdout.is_empty(), "nothing on stdout");
}

/// A tiny PNG whose header (with a valid CRC) claims `w`x`h`.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut bytes = png(1, 1, 1);
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
}

#[test]
fn bad_reference_images_are_refused_naming_the_file() {
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    let p = |name: &str| -> PathBuf { dir.join(name) };

    let o = dry_run_with_image(dir, p("missing.png").to_str().expect("utf8"));
    assert_refused(&o, &p("missing.png"), &["no such file", "JPEG or PNG"]);

    std::fs::write(p("empty.jpg"), b"").expect("write");
    let o = dry_run_with_image(dir, p("empty.jpg").to_str().expect("utf8"));
    assert_refused(&o, &p("empty.jpg"), &["the file is empty", "JPEG or PNG"]);

    std::fs::write(p("notes.jpg"), "just some notes\n").expect("write");
    let o = dry_run_with_image(dir, p("notes.jpg").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("notes.jpg"),
        &["not an image (it starts with \"just some no", "JPEG or PNG"],
    );

    std::fs::write(p("anim.gif"), b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").expect("write");
    let o = dry_run_with_image(dir, p("anim.gif").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("anim.gif"),
        &["a GIF image; the service takes JPEG or PNG"],
    );

    // Valid headers, cut bodies: only a full check finds these.
    let whole = jpeg(400, 300, 5);
    std::fs::write(p("cut.jpg"), &whole[..whole.len() * 2 / 3]).expect("write");
    let o = dry_run_with_image(dir, p("cut.jpg").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("cut.jpg"),
        &["a truncated or damaged JPEG", "ends before the image does"],
    );
    let whole = png(400, 300, 6);
    std::fs::write(p("cut.png"), &whole[..whole.len() / 2]).expect("write");
    let o = dry_run_with_image(dir, p("cut.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("cut.png"),
        &["a truncated or damaged PNG", "cut off"],
    );

    // 100 MB (sparse: no disk is used), refused from its size without being read.
    let big = std::fs::File::create(p("huge.png")).expect("create");
    big.set_len(100 * 1024 * 1024).expect("grow");
    drop(big);
    let o = dry_run_with_image(dir, p("huge.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("huge.png"),
        &[
            "104.9 MB (104857600 bytes), too large to read",
            "at most 4.7 MB",
        ],
    );

    std::fs::write(p("bomb.png"), png_claiming(60_000, 60_000)).expect("write");
    let o = dry_run_with_image(dir, p("bomb.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("bomb.png"),
        &["refused: the image claims 60000x60000 px"],
    );

    std::fs::create_dir(p("photos")).expect("mkdir");
    let o = dry_run_with_image(dir, p("photos").to_str().expect("utf8"));
    assert_refused(
        &o,
        &p("photos"),
        &["a directory; a JPEG or PNG file is expected"],
    );
}

#[test]
fn symlinks_are_followed_to_images_and_refused_to_anything_else() {
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    let image = png(200, 160, 9);
    std::fs::write(dir.join("real.png"), &image).expect("write");
    symlink(dir.join("real.png"), dir.join("link.png")).expect("symlink");
    let o = dry_run_with_image(dir, dir.join("link.png").to_str().expect("utf8"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&image);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&b64),
        "the linked image is sent"
    );

    symlink(dir.join("gone.png"), dir.join("dangling.png")).expect("symlink");
    let o = dry_run_with_image(dir, dir.join("dangling.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &dir.join("dangling.png"),
        &["a symlink to ", "gone.png, which does not exist"],
    );

    std::fs::create_dir(dir.join("album")).expect("mkdir");
    symlink(dir.join("album"), dir.join("album.png")).expect("symlink");
    let o = dry_run_with_image(dir, dir.join("album.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &dir.join("album.png"),
        &[
            "a directory; a JPEG or PNG file is expected",
            "through the symlink to",
        ],
    );

    // A FIFO nobody writes to: opening it for reading would block forever.
    mkfifo(&dir.join("pipe"));
    symlink(dir.join("pipe"), dir.join("pipe.png")).expect("symlink");
    let o = dry_run_with_image(dir, dir.join("pipe.png").to_str().expect("utf8"));
    assert_refused(
        &o,
        &dir.join("pipe.png"),
        &["a named pipe (FIFO), not a regular file", "JPEG or PNG"],
    );

    for (dev, kind) in [
        ("/dev/zero", "a character device"),
        ("/dev/null", "a character device"),
    ] {
        let link = dir.join(format!("{}.jpg", dev.trim_start_matches("/dev/")));
        symlink(dev, &link).expect("symlink");
        let o = dry_run_with_image(dir, link.to_str().expect("utf8"));
        assert_refused(&o, &link, &[&format!("{kind}, not a regular file")]);
        let o = dry_run_with_image(dir, dev);
        assert_refused(&o, Path::new(dev), &[kind]);
    }
}

/// chmod 000 stops everyone but root. When the tests run as root, the check runs volcv as the
/// unprivileged `nobody` (uid 65534), for whom the mode applies; if that is impossible here,
/// the test says so and checks only that root reads the file (as the OS allows).
#[test]
fn an_unreadable_image_is_refused() {
    use std::os::unix::process::CommandExt as _;
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod home");
    let file = dir.join("secret.png");
    std::fs::write(&file, png(200, 160, 3)).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let root = rustix::process::geteuid().is_root();
    let mut cmd = volcv_cmd(dir);
    cmd.args([
        "send",
        "--auth",
        "none",
        "--dry-run",
        "--set",
        "prompt=x",
        "--image",
        file.to_str().expect("utf8"),
    ]);
    if root {
        // Can `nobody` run the binary at all (the build dir may be private)?
        let mut probe = Command::new(env!("CARGO_BIN_EXE_volcv"));
        probe.arg("--version").uid(65534).gid(65534);
        let probe_ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
        if !probe_ok {
            eprintln!(
                "running as root and `nobody` cannot run {}: chmod 000 does not stop root, so \
                 the permission check is not exercised here",
                env!("CARGO_BIN_EXE_volcv")
            );
            let o = run_bounded(cmd);
            assert_eq!(o.status.code(), Some(0), "root reads it: {}", stderr(&o));
            return;
        }
        cmd.uid(65534).gid(65534);
    }
    let o = run_bounded(cmd);
    assert_refused(&o, &file, &["permission denied", "ls -l"]);
}

/// The TUI loads references through the same checks.
#[tokio::test]
async fn the_tui_reference_loader_shares_the_checks() {
    use volcv::tui::worker::load_reference;
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    let whole = jpeg(400, 300, 7);
    std::fs::write(dir.join("cut.jpg"), &whole[..whole.len() / 2]).expect("write");
    mkfifo(&dir.join("pipe.png"));
    symlink(dir.join("nowhere.png"), dir.join("dangling.png")).expect("symlink");
    std::fs::write(dir.join("ok.jpg"), &whole).expect("write");
    symlink(dir.join("ok.jpg"), dir.join("ok-link.jpg")).expect("symlink");
    for (name, says) in [
        (
            "cut.jpg",
            "a truncated or damaged image: the file ends before",
        ),
        ("pipe.png", "a named pipe (FIFO)"),
        ("dangling.png", "which does not exist"),
    ] {
        let path = dir.join(name);
        let e = tokio::time::timeout(
            Duration::from_secs(60),
            load_reference(path.to_str().expect("utf8")),
        )
        .await
        .expect("no hang")
        .expect_err(name)
        .to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains(says), "{name}: {e}");
    }
    let ok = load_reference(dir.join("ok-link.jpg").to_str().expect("utf8"))
        .await
        .expect("a symlink to an image is followed");
    assert_eq!(ok.dims, Some((400, 300)));
}

fn send_with_request(home: &Path, request: &Path) -> Output {
    let mut cmd = volcv_cmd(home);
    cmd.args([
        "send",
        "--auth",
        "none",
        "--endpoint",
        "http://127.0.0.1:9/",
        "--dry-run",
        request.to_str().expect("utf8"),
    ]);
    run_bounded(cmd)
}

#[test]
fn bad_request_files_are_refused_naming_the_file_and_a_fifo_is_read() {
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    /// A file name, its content (none: missing) and what the error must say.
    type Case<'a> = (&'a str, Option<&'a [u8]>, &'a [&'a str]);
    let cases: Vec<Case<'_>> = vec![
        (
            "missing.json",
            None,
            &["cannot read request file", "No such file"],
        ),
        (
            "empty.json",
            Some(b""),
            &["is empty; a JSON object (the request body) is expected"],
        ),
        (
            "latin1.json",
            Some(b"{\"prompt\":\"caf\xe9\"}"),
            &["is not UTF-8 text"],
        ),
        (
            "broken.json",
            Some(b"{\n  \"prompt\": \"x\",\n}\n"),
            &["is not valid JSON", "line 3"],
        ),
        (
            "list.json",
            Some(b"[1, 2]"),
            &["must be a JSON object, got an array"],
        ),
    ];
    for (name, content, says) in cases {
        let path = dir.join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).expect("write");
        }
        let o = send_with_request(dir, &path);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        if name != "list.json" {
            assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        }
        for s in says {
            assert!(err.contains(s), "{name}: expected {s:?} in {err}");
        }
    }
    let o = send_with_request(dir, dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is a directory; a JSON file"),
        "{}",
        stderr(&o)
    );

    // `volcv send <(generate-request)`: a pipe is a fine request file.
    let fifo = dir.join("request.fifo");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open fifo");
            f.write_all(
                br#"{"req_key":"high_aes_ip_v20","prompt":"from a pipe","image_urls":["https://example.com/a.jpg"]}"#,
            )
            .expect("write fifo");
        })
    };
    let o = send_with_request(dir, &fifo);
    writer.join().expect("writer");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("from a pipe"));
}

#[test]
fn bad_config_files_name_the_file_line_and_key() {
    let home = tempfile::tempdir().expect("tmp");
    let dir = home.path();
    let config = |text: &[u8]| {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).expect("write");
        let mut cmd = volcv_cmd(dir);
        cmd.args(["--config", path.to_str().expect("utf8"), "config", "show"]);
        (path, run_bounded(cmd))
    };
    let (path, o) =
        config(b"version = 1\n[profiles.work]\nendpoint = \"https://x\"\nretries = \"three\"\n");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("line 4") && err.contains("retries"), "{err}");
    let (_, o) = config(b"[ui]\nthem = \"light\"\n");
    let err = stderr(&o);
    assert!(err.contains("line 2") && err.contains("them"), "{err}");
    let (path, o) = config(b"profile = \"\xff\xfe\"\n");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    // A directory where the file should be.
    let mut cmd = volcv_cmd(dir);
    cmd.args(["--config", dir.to_str().expect("utf8"), "config", "show"]);
    let o = run_bounded(cmd);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&dir.display().to_string()),
        "{}",
        stderr(&o)
    );
}
