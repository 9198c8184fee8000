//! `volcv completions SHELL` and `volcv man` as a user installs them: every shell's script
//! names every subcommand, bash's completion machinery completes flags, models, profiles and
//! presets from the script, and the man pages cover every command.

mod common;

use clap::CommandFactory as _;
use std::path::Path;
use std::process::Output;

/// Every subcommand path under `volcv` (`send`, `history list`, ...), from the clap definitions.
fn subcommands() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&volcv::cli::Cli::command(), &[], &mut out);
    out
}

fn run(home: &Path, args: &[&str]) -> Output {
    common::volcv_with(home, &[], args)
        .output()
        .expect("run volcv")
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
fn every_shell_gets_a_script_that_names_every_subcommand() {
    let home = tempfile::tempdir().expect("home");
    let subs = subcommands();
    assert!(subs.len() > 20, "{subs:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(home.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.len() > 1000, "{shell}: {script}");
        for path in &subs {
            let name = path.last().expect("a name");
            if name == "help" {
                continue;
            }
            assert!(
                script.contains(name.as_str()),
                "{shell} script does not name `volcv {}`",
                path.join(" ")
            );
        }
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_there_are() {
    let home = tempfile::tempdir().expect("home");
    let out = run(home.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh"), "{err}");
    for shell in ["bash", "zsh", "fish"] {
        assert!(err.contains(shell), "{err}");
    }
}

/// What bash's completion machinery offers for `words` (the last one being completed), with
/// the script `volcv completions bash` wrote loaded as a user's shell would.
fn bash_complete(home: &Path, words: &[&str]) -> Vec<String> {
    let script = home.join("volcv.bash");
    let out = run(home, &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&script, &out.stdout).expect("write script");
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    // `complete -p volcv` names the function bash calls; it is called as bash would:
    // with COMP_WORDS/COMP_CWORD set and (command, word, previous word) as arguments. Outside
    // a real completion `compopt` (display options only) fails; that is not an error here.
    let program = format!(
        "source '{script}' || exit 1; spec=$(complete -p volcv); fn=${{spec##*-F }}; fn=${{fn%% *}}; \
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
         COMP_POINT=${{#COMP_LINE}}; \"$fn\" volcv '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = quoted.join(" "),
        cur = words[cword],
    );
    let out = common::clean_cmd("bash", home)
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("command not found"),
        "bash: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_flags_models_profiles_and_presets_through_its_own_machinery() {
    let home = tempfile::tempdir().expect("home");
    let got = bash_complete(home.path(), &["volcv", "send", "--req"]);
    assert_eq!(got, ["--req-key"], "volcv send --req<TAB>");

    let got = bash_complete(home.path(), &["volcv", "sw"]);
    assert_eq!(got, ["sweep"], "volcv sw<TAB>");

    let got = bash_complete(home.path(), &["volcv", "send", "--req-key", "high_aes_g"]);
    for m in volcv::api::schema::SCHEMAS
        .iter()
        .map(|s| s.req_key)
        .filter(|k| k.starts_with("high_aes_g"))
    {
        assert!(got.iter().any(|g| g == m), "{m} not offered: {got:?}");
    }
    assert!(!got.iter().any(|g| g == "high_aes_ip_v20"), "{got:?}");

    // The user's profiles and presets, as they are when the script is written.
    let config = home.path().join("config/volcv");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("config.toml"),
        "[profiles.staging]\nendpoint = \"http://127.0.0.1:9/\"\n[profiles.prod]\n",
    )
    .expect("config");
    std::fs::write(
        config.join("presets.toml"),
        "version = 1\n[drafty]\nreq_key = \"high_aes_ip_v20\"\nddim_steps = 12\n",
    )
    .expect("presets");
    let got = bash_complete(home.path(), &["volcv", "--profile", ""]);
    assert_eq!(got, ["prod", "staging"], "volcv --profile <TAB>");
    let got = bash_complete(home.path(), &["volcv", "send", "--preset", "d"]);
    assert_eq!(got, ["drafty"], "volcv send --preset d<TAB>");
    let got = bash_complete(home.path(), &["volcv", "preset", "show", ""]);
    let values: Vec<&String> = got.iter().filter(|g| !g.starts_with('-')).collect();
    assert_eq!(values, ["drafty"], "volcv preset show <TAB>: {got:?}");
    let got = bash_complete(home.path(), &["volcv", "preset", "rm", "d"]);
    assert_eq!(got, ["drafty"], "volcv preset rm d<TAB>");
}

#[test]
fn bash_completes_files_for_the_reference_image() {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("portrait.jpg"), b"x").expect("file");
    let got = bash_complete(home.path(), &["volcv", "send", "--image", "port"]);
    assert_eq!(got, ["portrait.jpg"], "volcv send --image port<TAB>");
}

#[test]
fn man_prints_the_page_and_writes_one_per_command() {
    let home = tempfile::tempdir().expect("home");
    let out = run(home.path(), &["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH volcv 1"), "{page}");
    assert!(page.contains("send"), "{page}");

    let dir = home.path().join("man/man1");
    let out = run(home.path(), &["man", "--out", dir.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut expected: Vec<String> = subcommands()
        .into_iter()
        .filter(|p| p.last().is_some_and(|n| n != "help"))
        .map(|p| format!("volcv-{}.1", p.join("-")))
        .collect();
    expected.push("volcv.1".to_owned());
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .expect("man dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, expected);
    let send = std::fs::read_to_string(dir.join("volcv-send.1")).expect("send page");
    assert!(send.contains(".TH volcv-send 1"), "{send}");
    assert!(send.contains("req\\-key"), "{send}");
}

#[test]
fn man_names_the_directory_it_cannot_write() {
    let home = tempfile::tempdir().expect("home");
    let blocker = home.path().join("a-file");
    std::fs::write(&blocker, b"x").expect("file");
    let dir = blocker.join("man");
    let out = run(home.path(), &["man", "--out", dir.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&dir.display().to_string()), "{err}");
}

#[test]
fn subcommand_help_lists_no_ui_only_flag() {
    let home = tempfile::tempdir().expect("home");
    let top = run(home.path(), &["--help"]);
    assert!(String::from_utf8_lossy(&top.stdout).contains("--image-protocol"));
    for sub in ["send", "history", "tasks", "sweep", "curl"] {
        let out = run(home.path(), &[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            !help.contains("--image-protocol"),
            "volcv {sub} --help: {help}"
        );
    }
}
