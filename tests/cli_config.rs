//! `volcv config` as a user runs it: init writes a private file and never overwrites, show
//! redacts, a readable file with a secret is warned about, a broken file names line and key.
//! Also: the UI started without a terminal says so before it draws anything.

mod common;

use std::path::Path;

fn volcv(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::volcv_with(home, &[], args)
        .output()
        .expect("run volcv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn path_follows_xdg_and_flag() {
    let home = tempfile::tempdir().expect("tmp");
    let (code, out, _) = volcv(home.path(), &["config", "path"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        home.path()
            .join("config/volcv/config.toml")
            .display()
            .to_string()
    );
    let (_, out, _) = volcv(home.path(), &["--config", "/x/y.toml", "config", "path"]);
    assert_eq!(out.trim(), "/x/y.toml");
}

#[cfg(unix)]
#[test]
fn init_is_private_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().expect("tmp");
    let (code, out, err) = volcv(home.path(), &["config", "init"]);
    assert_eq!(code, 0, "{err}");
    let path = home.path().join("config/volcv/config.toml");
    assert!(out.contains(&path.display().to_string()));
    let mode = std::fs::metadata(&path)
        .expect("created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(&path, "# mine\n").expect("edit");
    let (code, _, err) = volcv(home.path(), &["config", "init"]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "# mine\n");
}

#[cfg(unix)]
#[test]
fn show_redacts_and_warns_about_a_readable_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().expect("tmp");
    let path = home.path().join("c.toml");
    std::fs::write(
        &path,
        "[profiles.relay]\nendpoint = \"https://relay.example/volcv/v1\"\napi_key = \"sk-LEAK-me\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let p = path.to_str().expect("utf8");
    let (code, out, err) = volcv(home.path(), &["--config", p, "config", "show"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("sk-LEAK-me") && !err.contains("sk-LEAK-me"));
    assert!(out.contains("api_key = \"<redacted>\""), "{out}");
    assert!(err.contains("readable by others"), "{err}");
    assert!(err.contains(&format!("chmod 600 {p}")), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (_, _, err) = volcv(home.path(), &["--config", p, "config", "show"]);
    assert!(!err.contains("readable by others"), "{err}");
}

#[test]
fn a_broken_config_names_line_and_key_and_sends_nothing() {
    let home = tempfile::tempdir().expect("tmp");
    let path = home.path().join("c.toml");
    std::fs::write(&path, "version = 1\n\n[profiles.a]\ntimeout = 5\n").expect("write");
    let p = path.to_str().expect("utf8");
    let (code, _, err) = volcv(
        home.path(),
        &["--config", p, "send", "--auth", "none", "--set", "prompt=x"],
    );
    assert_eq!(code, 2);
    assert!(err.contains(p), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("timeout"), "{err}");
    let (code, _, err) = volcv(
        home.path(),
        &["--config", "/no/such/file.toml", "config", "show"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.toml"), "{err}");
}

#[test]
fn profiles_and_defaults_shape_the_request() {
    let home = tempfile::tempdir().expect("tmp");
    let path = home.path().join("c.toml");
    std::fs::write(
        &path,
        "profile = \"relay\"\n[profiles.relay]\nendpoint = \"https://relay.example/volcv/v1\"\n\
         auth = \"none\"\napi_version = \"2099-01-01\"\n[defaults]\nseed = 42\n\"logo_info.add_logo\" = true\n",
    )
    .expect("write");
    let p = path.to_str().expect("utf8");
    let (code, out, err) = volcv(
        home.path(),
        &[
            "--config",
            p,
            "send",
            "--dry-run",
            "--set",
            "prompt=x",
            "--image",
            "https://example.com/a.jpg",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("POST /volcv/v1?Action=CVProcess&Version=2099-01-01 HTTP/1.1"),
        "{out}"
    );
    assert!(out.contains("\"seed\":42"), "{out}");
    assert!(out.contains("\"add_logo\":true"), "{out}");
    let (code, _, err) = volcv(home.path(), &["--config", p, "--profile", "nope", "send"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no profile \"nope\"") && err.contains("relay"),
        "{err}"
    );
}

#[test]
fn the_ui_without_a_terminal_says_so_and_writes_nothing_to_stdout() {
    // `volcv --demo </dev/null >out`, as from a script or cron.
    let home = tempfile::tempdir().expect("tmp");
    let out = common::volcv_with(home.path(), &[], &["--demo", "--image-protocol", "none"])
        .output()
        .expect("run volcv");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("volcv send"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn the_ui_without_credentials_opens_and_says_what_sending_needs() {
    // In a real terminal (tmux): the UI opens with no key at all, the history can be browsed,
    // and F5 says what is missing (and points to --demo) instead of sending.
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "CI must have tmux");
        return;
    }
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    let sock = format!("volcv-nocreds-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    };
    let script = format!(
        "env -i {env} PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 '{bin}' \
         --image-protocol none; echo \"exit=$?\"; sleep 30",
        env = common::home_env_line(h),
        bin = env!("CARGO_BIN_EXE_volcv"),
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "nc",
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
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-t", "nc", "-p"]).stdout).into_owned();
    let shown = |what: &str| {
        common::wait_for(what, 30, || {
            let s = screen();
            s.contains(what).then_some(s)
        })
    };
    let result = std::panic::catch_unwind(|| {
        shown("3 History");
        shown("sending is off");
        let _ = tmux(&["send-keys", "-t", "nc", "F5"]);
        let s = shown("cannot send: auth volc needs an access key");
        assert!(!s.contains("in flight"), "{s}");
        let _ = tmux(&["send-keys", "-t", "nc", "q"]);
        shown("exit=0");
    });
    let last = screen();
    let _ = tmux(&["kill-server"]);
    assert!(result.is_ok(), "screen:\n{last}");
    // Nothing was recorded: no request was made.
    let listed = common::volcv_with(h, &[], &["history", "list", "--json"])
        .output()
        .expect("run volcv");
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
}

#[test]
fn endpoint_and_auth_are_flags_of_the_commands_that_send_only() {
    let home = tempfile::tempdir().expect("tmp");
    let help = |args: &[&str]| {
        let out = common::volcv_with(home.path(), &[], args)
            .output()
            .expect("run volcv");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for cmd in [
        &["send", "-h"][..],
        &["sweep", "-h"],
        &["curl", "-h"],
        &["tasks", "resume", "-h"],
    ] {
        let h = help(cmd);
        assert!(
            h.contains("--endpoint") && h.contains("--auth"),
            "{cmd:?}: {h}"
        );
    }
    for cmd in [
        &["history", "-h"][..],
        &["history", "list", "-h"],
        &["tasks", "-h"],
        &["mock", "-h"],
        &["schema", "-h"],
        &["preset", "-h"],
    ] {
        let h = help(cmd);
        assert!(
            !h.contains("--endpoint") && !h.contains("--auth "),
            "{cmd:?}: {h}"
        );
    }
    // Given to a command that does not send, it is refused, not ignored.
    let out = common::volcv_with(
        home.path(),
        &[],
        &["history", "list", "--endpoint", "http://x"],
    )
    .output()
    .expect("run volcv");
    assert_eq!(out.status.code(), Some(2));
    // Before the command or after it, the flag reaches the request; after it wins.
    let dry = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--dry-run",
            "--set",
            "prompt=a",
            "--image",
            "https://example.com/a.jpg",
        ]);
        let out = common::volcv_with(home.path(), &[], &all)
            .output()
            .expect("run volcv");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = dry(&[
        "--endpoint",
        "http://127.0.0.1:9/a",
        "--auth",
        "none",
        "send",
    ]);
    assert!(before.contains("Host: 127.0.0.1:9\n"), "{before}");
    let both = dry(&[
        "--endpoint",
        "http://127.0.0.1:9/a",
        "send",
        "--endpoint",
        "http://127.0.0.1:8/b",
        "--auth",
        "none",
    ]);
    assert!(both.starts_with("POST /b?"), "{both}");
    assert!(both.contains("Host: 127.0.0.1:8\n"), "{both}");
}

#[test]
fn a_flag_before_the_command_beats_the_endpoint_variable() {
    let home = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--dry-run",
            "--auth",
            "none",
            "--set",
            "prompt=a",
            "--image",
            "https://example.com/a.jpg",
        ]);
        let out = common::volcv_with(
            home.path(),
            &[("VOLCV_ENDPOINT", "http://127.0.0.1:7/env")],
            &all,
        )
        .output()
        .expect("run volcv");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["send"]).starts_with("POST /env?"));
    assert!(run(&["--endpoint", "http://127.0.0.1:9/flag", "send"]).starts_with("POST /flag?"));
}
