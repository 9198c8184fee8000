//! The terminal UI end to end in a real terminal: runs `tests/e2e_tmux.sh` (tmux 120x40:
//! `volcv --demo`, F5, the result shows, q quits and the terminal is restored; SIGTERM and
//! SIGHUP restore it too and exit 143 and 129; in a detached tmux known as tmux, keys sent the
//! moment the first frame is complete are all handled; a bracketed paste with CR line endings
//! keeps its lines in the prompt editor) against the binary this test run built. The script
//! skips when tmux is missing; `.ci/run` installs tmux so CI always runs it.

use std::process::Command;

#[test]
fn tui_in_tmux_sends_shows_the_result_and_restores_the_terminal() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e_tmux.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_volcv"))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "e2e failed:\n{stdout}\n{stderr}");
    if stdout.contains("skipping") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the tmux check (install tmux): {stdout}"
        );
        return;
    }
    assert!(stdout.contains("send, result, quit: ok"), "{stdout}");
    assert!(
        stdout.contains("detached tmux, keys at once: ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a CR paste keeps its lines, Esc discards: ok"),
        "{stdout}"
    );
    for (sig, code) in [("SIGTERM", 143), ("SIGHUP", 129)] {
        assert!(
            stdout.contains(&format!("{sig} restores the terminal and exits {code}: ok")),
            "{stdout}"
        );
    }
}
