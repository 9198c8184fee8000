//! The daily `[budget]`: `send` and `sweep` count what the day has used (from the history)
//! plus what they add, refuse to go over it without a terminal to ask, and go over with
//! `--yes`, saying so. Nothing is sent when refused.

mod common;

use std::path::Path;

fn config(home: &Path, text: &str) {
    let dir = home.join("config").join("volcv");
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::write(dir.join("config.toml"), text).expect("config");
}

fn send(home: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "send",
        "--endpoint",
        url,
        "--auth",
        "none",
        "--image",
        "https://example.com/ref.jpg",
        "--set",
        "prompt=a fox",
        "--out",
        "out",
    ];
    args.extend_from_slice(extra);
    common::volcv_with(home, &[], &args).output().expect("run")
}

#[test]
fn send_stops_at_the_daily_request_budget_unless_told_yes() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    config(h, "[budget]\nrequests = 2\n");
    let server =
        common::CannedServer::json(common::success_envelope(&[common::png(16, 16, 1)], "a fox"));
    for _ in 0..2 {
        let out = send(h, &server.url, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let refused = send(h, &server.url, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("over the daily [budget]: 2 of 2 requests used today, and this adds 1")
            && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(server.answered(), 2, "nothing was sent when refused");
    let yes = send(h, &server.url, &["--yes"]);
    assert_eq!(yes.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&yes.stderr).contains("going on: --yes"),
        "{}",
        String::from_utf8_lossy(&yes.stderr)
    );
    assert_eq!(server.answered(), 3);
}

#[test]
fn a_sweep_counts_its_cells_against_the_spend_budget() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    config(
        h,
        "[prices]\nhigh_aes_ip_v20 = 0.5\n[budget]\nspend = 1.0\n",
    );
    let server =
        common::CannedServer::json(common::success_envelope(&[common::png(16, 16, 2)], "a fox"));
    let out = send(h, &server.url, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--endpoint",
            &server.url,
            "--auth",
            "none",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=a fox",
            "--vary",
            "seed=1..2",
            "--out",
            "sw",
        ];
        args.extend_from_slice(extra);
        common::volcv_with(h, &[], &args).output().expect("run")
    };
    // 0.50 spent, two cells add up to 1.00: over 1.00.
    let refused = sweep(&[]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("0.50 of 1.00 spent today, and this adds up to 1.00"),
        "{err}"
    );
    assert_eq!(server.answered(), 1, "no cell was sent");
    // A dry run is never refused: it sends nothing.
    let dry = sweep(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    let yes = sweep(&["--yes"]);
    assert_eq!(
        yes.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&yes.stderr)
    );
    assert_eq!(server.answered(), 3);
}

#[test]
fn the_demo_is_never_counted() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    config(h, "[budget]\nrequests = 0\n");
    let out = common::volcv_with(
        h,
        &[],
        &[
            "send",
            "--demo",
            "--image",
            "https://example.com/ref.jpg",
            "--set",
            "prompt=a fox",
            "--out",
            "out",
        ],
    )
    .output()
    .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
