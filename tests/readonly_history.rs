//! A history that can only be read (a read-only mount: a backup, a box's data dir shared
//! read-only, a full disk remounted read-only) can still be listed, shown and exported; what
//! would write says so clearly, and `send` says that what it sends is not recorded.
//!
//! The read-only mount is made in a private mount namespace (`unshare -rm`), so it needs no
//! privileges beyond user namespaces and vanishes with the command.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `volcv ARGS` (with the clean environment of `home`) with `data` mounted read-only.
/// `None` when this machine cannot make a private read-only mount.
fn run_on_read_only(home: &Path, data: &Path, args: &[&str]) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount --bind -o ro \"$1\" \"$1\"", "sh"])
        .arg(data)
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let mut cmd = common::clean_cmd("unshare", home);
    cmd.args([
        "-rm",
        "sh",
        "-c",
        "mount --bind -o ro \"$1\" \"$1\" && shift && exec \"$@\"",
        "sh",
    ])
    .arg(data)
    .arg(env!("CARGO_BIN_EXE_volcv"))
    .args(args)
    .env("VOLCV_DATA_DIR", data)
    .stdin(std::process::Stdio::null());
    Some(cmd.output().expect("run unshare"))
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_read_only_history_is_listed_shown_and_exported() {
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("history");
    let png = common::png(16, 16, 7);
    let server = common::CannedServer::json(common::success_envelope(&[png], "a calm sea"));
    let out = common::volcv_with(
        home.path(),
        &[("VOLCV_DATA_DIR", data.to_str().expect("utf8"))],
        &[
            "send",
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=在海边",
            "--out",
            "out",
        ],
    )
    .output()
    .expect("send");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.answered(), 1);

    let Some(list) = run_on_read_only(home.path(), &data, &["history", "list", "--json"]) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the read-only history check (unshare -rm and a bind mount)"
        );
        eprintln!("skipped: no private read-only mount here (unshare -rm)");
        return;
    };
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["prompt"], "在海边");
    let err = String::from_utf8_lossy(&list.stderr);
    assert!(err.contains("can only be read here"), "{err}");

    let show = run_on_read_only(home.path(), &data, &["history", "show", "1"]).expect("ns");
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("a calm sea"),
        "{}",
        text(&show)
    );

    let stats = run_on_read_only(home.path(), &data, &["history", "stats", "--json"]).expect("ns");
    assert_eq!(stats.status.code(), Some(0), "{}", text(&stats));
    let figures: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert_eq!(figures["total"]["requests"], 1, "{figures}");

    let dest = home.path().join("exported");
    let export = run_on_read_only(
        home.path(),
        &data,
        &[
            "history",
            "export",
            "1",
            "--out",
            dest.to_str().expect("utf8"),
        ],
    )
    .expect("ns");
    assert_eq!(export.status.code(), Some(0), "{}", text(&export));
    assert!(!common::files_under(&dest).is_empty(), "{}", text(&export));

    let rm = run_on_read_only(home.path(), &data, &["history", "rm", "1"]).expect("ns");
    assert_eq!(rm.status.code(), Some(2), "{}", text(&rm));
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("nothing can be removed"),
        "{}",
        text(&rm)
    );

    // `send` still sends (its images are saved under --out) and says it could not record.
    let send = run_on_read_only(
        home.path(),
        &data,
        &[
            "send",
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=x",
            "--out",
            "out2",
        ],
    )
    .expect("ns");
    assert_eq!(send.status.code(), Some(0), "{}", text(&send));
    assert!(
        String::from_utf8_lossy(&send.stderr).contains("not recorded in the history"),
        "{}",
        text(&send)
    );
    assert_eq!(common::files_under(&home.path().join("out2")).len(), 1);
}

/// The terminal UI on a history that can only be read: it opens, lists the recorded entry,
/// says once that nothing will be recorded, and still sends (the images go to the working
/// directory, as without a store). Runs in tmux inside the private read-only mount; skipped
/// where neither is possible outside CI.
#[test]
fn the_ui_browses_a_read_only_history_and_still_sends() {
    let tmux_ok = Command::new("tmux").arg("-V").output().is_ok();
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let data = h.join("history");
    let server = common::CannedServer::json(common::success_envelope(
        &[common::png(16, 16, 3)],
        "a quiet harbour",
    ));
    let out = common::volcv_with(
        h,
        &[("VOLCV_DATA_DIR", data.to_str().expect("utf8"))],
        &[
            "send",
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=港口",
            "--out",
            "out",
        ],
    )
    .output()
    .expect("send");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The probe: can this machine make the mount at all?
    if !tmux_ok || run_on_read_only(h, &data, &["history", "list"]).is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this (tmux and unshare -rm)"
        );
        return;
    }
    let request = h.join("request.json");
    std::fs::write(
        &request,
        r#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/ref.jpg"],"prompt":"a lighthouse"}"#,
    )
    .expect("request");
    let work = h.join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let sock = format!("volcv-ro-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    };
    let script = format!(
        "cd '{work}' && unshare -rm sh -c 'mount --bind -o ro \"$1\" \"$1\" && shift && exec \"$@\"' \
         sh '{data}' env -i {env} VOLCV_DATA_DIR='{data}' PATH=/usr/bin:/bin TERM=xterm-256color \
         LANG=C.UTF-8 '{bin}' --endpoint '{url}' --auth none --image-protocol none \
         --load '{req}'; sleep 30",
        work = work.display(),
        data = data.display(),
        env = common::home_env_line(h),
        bin = env!("CARGO_BIN_EXE_volcv"),
        url = server.url,
        req = request.display(),
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "ro",
        "-x",
        "160",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-t", "ro", "-p"]).stdout).into_owned();
    let shown = |what: &str, secs: u64| {
        common::wait_for(what, secs, || {
            let s = screen();
            s.contains(what).then_some(s)
        })
    };
    let result = std::panic::catch_unwind(|| {
        shown("History (1)", 30);
        shown("can only be read here", 10);
        let _ = tmux(&["send-keys", "-t", "ro", "F5"]);
        shown("✔ 10000 success", 30);
        common::wait_for("the result image in the working directory", 30, || {
            (common::files_under(&work).iter().any(|p| {
                p.extension()
                    .is_some_and(|e| e == "png" || e == "jpg" || e == "jpeg")
            }))
            .then_some(())
        });
    });
    let last = screen();
    let _ = tmux(&["kill-server"]);
    assert!(result.is_ok(), "screen:\n{last}");
    assert!(!last.contains("cannot save"), "{last}");
    assert_eq!(server.answered(), 2, "the UI's request went out: {last}");
}
