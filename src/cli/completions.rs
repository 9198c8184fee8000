//! `volcv completions SHELL` and `volcv man`: shell completion scripts and man pages, both
//! generated from the clap definitions (the one description of the command line).
//!
//! Completion scripts are static (as ripgrep's, fd's and bat's are): they name every
//! subcommand and flag, complete files and directories where a path is asked for, the model
//! names from the schema wherever a `req_key` is, the built-in theme names, and the config's
//! profile names and the saved preset names as they are when the script is generated (run it
//! again after adding a profile or a preset). Nothing here changes how arguments are parsed:
//! the hints are added to a copy of the command used only for generating.

use super::Cli;
use crate::api::schema::SCHEMAS;
use crate::config::{self, Overrides};
use crate::presets::PresetStore;
use clap::builder::PossibleValuesParser;
use clap::{Arg, Args, CommandFactory as _, ValueHint};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for. Install: bash `volcv completions bash >
    /// ~/.local/share/bash-completion/completions/volcv`, zsh `volcv completions zsh >
    /// ~/.zfunc/_volcv` (with `fpath+=~/.zfunc` before `compinit`), fish `volcv completions fish
    /// > ~/.config/fish/completions/volcv.fish`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command into this directory (volcv.1, volcv-send.1,
    /// volcv-history-list.1, ...) instead of printing volcv.1 to stdout. Created if needed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The names the completion script offers for values that are not files.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Every model's req_key, from the schema.
    pub models: Vec<String>,
    /// The config's profile names.
    pub profiles: Vec<String>,
    /// The saved presets' names.
    pub presets: Vec<String>,
}

impl Names {
    /// The models of the schema, and the profiles and presets found with `o` (an unreadable
    /// config or presets file just gives no names: a completion script is no place for an
    /// error).
    pub fn find(o: &Overrides) -> Names {
        let profiles = config::load(o)
            .map(|l| l.config.profiles.keys().cloned().collect())
            .unwrap_or_default();
        let presets = PresetStore::for_paths(&config::Paths::resolve(o))
            .names()
            .unwrap_or_default();
        Names {
            models: SCHEMAS.iter().map(|s| s.req_key.to_owned()).collect(),
            profiles,
            presets,
        }
    }
}

/// The command line as clap describes it, with the value hints of a completion script.
pub fn completion_command(names: &Names) -> clap::Command {
    annotate(Cli::command(), names, false)
}

/// `cmd` and its subcommands with hints on their arguments. `names_presets` is true for the
/// `volcv preset` subcommands whose positional names are existing presets' (all but `save`,
/// which names a new one).
fn annotate(cmd: clap::Command, names: &Names, names_presets: bool) -> clap::Command {
    let is_preset = cmd.get_name() == "preset";
    cmd.mut_args(|a| hint(a, names, names_presets))
        .mut_subcommands(|s| {
            let presets_here = is_preset && s.get_name() != "save";
            annotate(s, names, presets_here)
        })
}

fn hint(arg: Arg, names: &Names, names_presets: bool) -> Arg {
    let id = arg.get_id().as_str().to_owned();
    let value_name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let one_of = |arg: Arg, values: &[String]| {
        if values.is_empty() {
            arg
        } else {
            arg.value_parser(PossibleValuesParser::new(values.to_vec()))
        }
    };
    match (id.as_str(), value_name.as_str()) {
        ("req_key", _) | ("key", "KEY") => one_of(arg, &names.models),
        ("profile", _) => one_of(arg, &names.profiles),
        ("preset", _) => one_of(arg, &names.presets),
        ("name" | "names" | "from", _) if names_presets => one_of(arg, &names.presets),
        ("theme", _) => {
            let themes: Vec<String> = crate::tui::theme::BUILTIN
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect();
            one_of(arg, &themes)
        }
        ("image", _) | ("request", _) | ("import", _) | ("load", _) | ("config", _) => {
            arg.value_hint(ValueHint::FilePath)
        }
        (_, "DIR") | ("data_dir", _) => arg.value_hint(ValueHint::DirPath),
        (_, "FILE") => arg.value_hint(ValueHint::FilePath),
        (_, "PATH") => arg.value_hint(ValueHint::AnyPath),
        (_, "URL") => arg.value_hint(ValueHint::Url),
        _ => arg,
    }
}

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: clap_complete::Shell, names: &Names, out: &mut dyn std::io::Write) {
    let mut cmd = completion_command(names);
    clap_complete::generate(shell, &mut cmd, "volcv", out);
}

/// `volcv completions SHELL`.
pub fn run_completions(cli: &Cli, args: &CompletionsArgs) -> u8 {
    let names = Names::find(&cli.overrides());
    let mut buf = Vec::new();
    write_completions(args.shell, &names, &mut buf);
    match std::io::stdout().write_all(&buf) {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            eprintln!("volcv: cannot write the completion script: {e}");
            super::EXIT_NO_ANSWER
        }
    }
}

/// `volcv man [--out DIR]`.
pub fn run_man(args: &ManArgs) -> u8 {
    let cmd = Cli::command();
    let written = match &args.out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .and_then(|()| std::io::stdout().write_all(&buf))
                .map(|()| None)
        }
        Some(dir) => write_pages(cmd, dir).map(Some),
    };
    match written {
        Ok(None) => super::EXIT_OK,
        Ok(Some(pages)) => {
            for p in pages {
                println!("{}", p.display());
            }
            super::EXIT_OK
        }
        Err(e) => {
            let target = args
                .out
                .as_ref()
                .map_or("stdout".to_owned(), |d| d.display().to_string());
            eprintln!("volcv: man: cannot write the man pages to {target}: {e}");
            super::EXIT_NO_ANSWER
        }
    }
}

/// Writes a page per command (`volcv.1`, `volcv-send.1`, `volcv-history-list.1`, ...) into
/// `dir` and returns their paths.
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd;
    cmd.build();
    let mut written = Vec::new();
    write_page(&cmd, "volcv", dir, &mut written)?;
    Ok(written)
}

fn write_page(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_owned());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, &buf)?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_page(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
