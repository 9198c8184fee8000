//! The command line: global flags, subcommands and exit codes.

/// `println!` for command output: a closed pipe (`volcv schema | head`) ends the process
/// quietly instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `print!` for command output, as [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut lock = std::io::stdout().lock();
        if write!(lock, $($t)*).and_then(|()| lock.flush()).is_err() {
            std::process::exit(0);
        }
    }};
}

mod budget;
mod completions;
mod curl;
mod history;
mod mock;
mod preset;
mod report;
mod request;
mod send;
mod stats;
mod stop;
mod sweep;
mod tasks;

use crate::api::client::AuthMode;
use crate::api::schema::{self, SCHEMAS};
use crate::config::{self, Overrides};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: invalid input or usage; nothing was sent.
pub const EXIT_INVALID: u8 = 2;
/// Exit code: the service answered with an error.
pub const EXIT_SERVICE: u8 = 3;
/// Exit code: no usable answer (network, timeout, unparseable).
pub const EXIT_NO_ANSWER: u8 = 4;
/// Exit code: stopped by SIGHUP (128 + 1), after cancelling the request and recording it.
pub const EXIT_HUP: u8 = 129;
/// Exit code: stopped by Ctrl-C / SIGINT (128 + 2).
pub const EXIT_INT: u8 = 130;
/// Exit code: stopped by SIGTERM (128 + 15).
pub const EXIT_TERM: u8 = 143;

/// The exit-code table printed by `--help` (and copied into docs/send.md).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  2  invalid input or usage (nothing was sent)
  3  the service answered with an error (business code, gateway or relay error)
  4  no usable answer (network error, timeout, unparseable body)
  129, 130, 143  stopped by SIGHUP, Ctrl-C (SIGINT) or SIGTERM (128 + the signal's number):
     the request in flight was cancelled and its history entry completed as cancelled;
     saved files are complete (a second signal stops at once)";

/// Where requests go and how they authenticate: flags of the UI and of the commands that send
/// (`send`, `sweep`, `curl`, `tasks resume`), not of the others, whose help would list flags
/// that do nothing there.
#[allow(
    rustdoc::bare_urls,
    reason = "these doc comments are clap's --help text, read in a terminal, not rendered as HTML"
)]
#[derive(Debug, Clone, Default, Args)]
pub struct Connection {
    /// The URL to POST to; Action and Version are added [env: VOLCV_ENDPOINT] [default: the
    /// profile's, else https://visual.volcengineapi.com/]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// How to authenticate [default: volc for visual.volcengineapi.com, else bearer]
    #[arg(long, value_enum, value_name = "MODE")]
    pub auth: Option<AuthMode>,
}

/// A terminal workbench for Volcengine's visual CVProcess API.
#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    reason = "these doc comments are clap's --help text, read in a terminal, not rendered as HTML \
              (an #[expect] would go unfulfilled outside rustdoc)"
)]
#[derive(Debug, Parser)]
#[command(name = "volcv", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    /// The config file [default: $XDG_CONFIG_HOME/volcv/config.toml]
    #[arg(long, global = true, env = config::ENV_CONFIG, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where history and images are kept [default: $XDG_DATA_HOME/volcv]
    #[arg(long, global = true, env = config::ENV_DATA_DIR, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// The config profile to use [default: the config's `profile`, else "default"]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Use the embedded demo backend: the mock server, started in-process on 127.0.0.1 with
    /// 1-2 s of latency, no key and no network needed; requests are recorded in the demo's
    /// own history, <data dir>/demo/.
    #[arg(long, global = true)]
    pub demo: bool,
    /// The TUI theme: default, light, high-contrast, or NAME for <config dir>/themes/NAME.toml
    /// [default: the config's ui.theme]
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// How images are drawn in the TUI: auto asks the terminal once at start-up (kitty, sixel,
    /// iTerm2 hints), falling back to half-blocks [default: the config's ui.image_protocol]
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub image_protocol: Option<crate::tui::preview::ProtocolChoice>,
    /// Start the UI with the form filled from a file: a JSON request body or a curl command
    /// (as `volcv curl` writes it)
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    reason = "these doc comments are clap's --help text, read in a terminal, not rendered as HTML \
              (an #[expect] would go unfulfilled outside rustdoc)"
)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one request and save the result images (headless, for scripts and SSH one-liners).
    Send(send::SendArgs),
    /// Send a grid of requests varying up to three fields (--vary seed=1..4 --vary
    /// scale=2.5,3.5), paced to a QPS, with a contact sheet; `sweep list` / `sweep show`
    /// reopen recorded sweeps.
    Sweep(sweep::SweepArgs),
    /// Print the request as a shell-safe curl command (secrets as env references), or read
    /// one back with --import.
    Curl(curl::CurlArgs),
    /// Run the embedded mock CVProcess server (for offline tests of your own code).
    Mock(mock::MockArgs),
    /// Print the parameter schema of a model, or of every model.
    Schema(SchemaArgs),
    /// List, show, save, remove and rename named parameter presets (<config dir>/presets.toml).
    #[command(subcommand)]
    Preset(preset::PresetCmd),
    /// Show or create the config file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List, show, export, remove and prune recorded requests.
    #[command(subcommand)]
    History(history::HistoryCmd),
    /// List the pending async tasks of the history, or resume them (collect their results).
    Tasks(tasks::TasksArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one page per command with --out DIR.
    Man(completions::ManArgs),
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The model's req_key (same as --req-key) [default: high_aes_ip_v20]
    #[arg(value_name = "KEY", conflicts_with_all = ["req_key", "all"])]
    pub key: Option<String>,
    /// The model's req_key [default: high_aes_ip_v20]
    #[arg(long, value_name = "KEY", conflicts_with = "all")]
    pub req_key: Option<String>,
    /// Every model (JSON: an array; Markdown: the parameter reference in docs/models.md).
    #[arg(long)]
    pub all: bool,
    /// Print the schema as JSON.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the schema as a Markdown table.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the config file's path.
    Path,
    /// Print the effective config with secrets redacted.
    Show,
    /// Write a commented starting config (mode 0600); never overwrites.
    Init,
}

/// With `--demo`, starts the demo backend on `runtime` and points `o` at it (no auth). The
/// server stops when the returned handle is dropped.
fn demo_backend(
    cli: &Cli,
    runtime: &tokio::runtime::Runtime,
    o: &mut Overrides,
) -> Result<Option<crate::mock::MockServer>, String> {
    if !cli.demo {
        return Ok(None);
    }
    let server = runtime
        .block_on(start_demo())
        .map_err(|e| format!("cannot start the demo backend: {e}"))?;
    o.endpoint = Some(server.url());
    o.auth = Some(AuthMode::None);
    Ok(Some(server))
}

/// Starts the embedded demo backend: the mock on a free loopback port with the latency of a
/// real generation scaled down (1-2 s), so progress is visible.
pub async fn start_demo() -> std::io::Result<crate::mock::MockServer> {
    crate::mock::MockServer::start(crate::mock::MockConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        latency: std::time::Duration::from_secs(1),
        jitter: std::time::Duration::from_secs(1),
        quiet: true,
        ..Default::default()
    })
    .await
}

/// Where this run keeps its history: `<data dir>/demo/` with `--demo`, as the TUI's demo
/// does, else the data dir. One rule for every subcommand (send, sweep, history, tasks).
#[derive(Debug, Clone)]
pub(crate) struct HistoryDir {
    pub path: PathBuf,
    pub demo: bool,
}

impl HistoryDir {
    /// The history dir of `cli` with `paths` (from the same overrides).
    pub(crate) fn new(cli: &Cli, paths: &config::Paths) -> HistoryDir {
        HistoryDir {
            path: paths.history_dir(cli.demo),
            demo: cli.demo,
        }
    }

    /// The history dir of `cli` from its flags and env alone.
    pub(crate) fn of(cli: &Cli) -> HistoryDir {
        HistoryDir::new(cli, &config::Paths::resolve(&cli.overrides()))
    }

    /// Opens the store for `history list/show/export`: as [`HistoryDir::open`] does, and when
    /// that fails but the history can be read (a read-only mount, a directory the user may
    /// only read), read-only, said once on stderr. Otherwise the first error.
    pub(crate) fn open_for_reading(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        match self.open() {
            Ok(s) => Ok(s),
            Err(first) => match crate::store::Store::open_read_only(&self.path) {
                Ok(s) => {
                    eprintln!(
                        "volcv: the history in {} can only be read here ({}): listing, showing \
                         and exporting work; nothing is recorded, starred or removed",
                        self.path.display(),
                        crate::text::escape_terminal(&first.to_string(), false)
                    );
                    Ok(s)
                }
                // Readable but too old to read without an upgrade: that is the news.
                Err(e @ crate::store::StoreError::ReadOnlyOld { .. }) => Err(e),
                Err(_) => Err(first),
            },
        }
    }

    /// Opens the store. The demo store first marks the async tasks whose demo backend ended
    /// with an earlier run as lost, said on stderr.
    pub(crate) fn open(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        if !self.demo {
            return crate::store::Store::open(&self.path);
        }
        let (store, lost) = crate::store::Store::open_demo(&self.path)?;
        for t in &lost {
            eprintln!(
                "volcv: history entry {}: {}",
                t.id,
                crate::text::escape_terminal(&t.message, false)
            );
        }
        Ok(store)
    }
}

impl Cli {
    fn overrides(&self) -> Overrides {
        // A sending command's own --endpoint/--auth win over the ones given before it
        // (`volcv --endpoint URL send` still works).
        let own = match &self.command {
            Some(Command::Send(a)) => Some(&a.req.connection),
            Some(Command::Sweep(a)) => Some(&a.req.connection),
            Some(Command::Curl(a)) => Some(&a.req.connection),
            Some(Command::Tasks(a)) => match &a.cmd {
                Some(tasks::TasksCmd::Resume(r)) => Some(&r.connection),
                _ => None,
            },
            _ => None,
        };
        let top = &self.connection;
        Overrides {
            config_path: self.config.clone(),
            data_dir: self.data_dir.clone(),
            profile: self.profile.clone(),
            // Read here, not by clap: the variable must not beat a flag given before the command.
            endpoint: own
                .and_then(|c| c.endpoint.clone())
                .or_else(|| top.endpoint.clone())
                .or_else(|| {
                    std::env::var(config::ENV_ENDPOINT)
                        .ok()
                        .filter(|v| !v.is_empty())
                }),
            auth: own.and_then(|c| c.auth).or(top.auth),
            timeout: None,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    // First of all: no panic message may print a secret.
    crate::api::secret::install_panic_hook();
    // While there is one thread: local times in the UI need it (see `text::local_offset`).
    crate::text::init_local_offset();
    let cli = Cli::parse();
    let code = match &cli.command {
        Some(Command::Send(args)) => send::run(&cli, args),
        Some(Command::Sweep(args)) => sweep::run(&cli, args),
        Some(Command::Curl(args)) => curl::run(&cli, args),
        Some(Command::Mock(args)) => mock::run(args),
        Some(Command::Schema(args)) => run_schema(args),
        Some(Command::Preset(cmd)) => preset::run(&cli, cmd),
        Some(Command::Config(cmd)) => run_config(&cli, cmd),
        Some(Command::History(cmd)) => history::run(&cli, cmd),
        Some(Command::Tasks(args)) => tasks::run(&cli, args),
        Some(Command::Completions(args)) => completions::run_completions(&cli, args),
        Some(Command::Man(args)) => completions::run_man(args),
        None => run_tui(&cli),
    };
    ExitCode::from(code)
}

/// The terminal UI draws on stdout and reads keys from the controlling terminal: without both
/// it would write escape codes into a file or a pipe and fail. Says so, and what to use instead.
fn check_terminal() -> Result<(), String> {
    use std::io::IsTerminal as _;
    let instead = "for scripts and pipes use `volcv send`, `volcv history` or `volcv sweep`";
    if !std::io::stdout().is_terminal() {
        return Err(format!(
            "the terminal UI needs a terminal, and stdout is not one (a file or a pipe); {instead}"
        ));
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        return Err(format!(
            "the terminal UI needs a controlling terminal to read keys from (/dev/tty: {e}); \
             {instead}"
        ));
    }
    Ok(())
}

/// `volcv` with no subcommand: the terminal UI (against the embedded mock with `--demo`).
fn run_tui(cli: &Cli) -> u8 {
    let mut o = cli.overrides();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_NO_ANSWER;
        }
    };
    let demo = match demo_backend(cli, &runtime, &mut o) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_NO_ANSWER;
        }
    };
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_INVALID;
        }
    };
    // Without credentials the UI still opens (the history, presets and the form need none);
    // sending says what is missing. The client then has no authentication and is never used
    // to send.
    let (resolved, send_blocked) = match loaded.resolve(&o) {
        Ok(r) => (r, None),
        Err(config::ConfigError::Credentials(why)) => {
            let mut none = o.clone();
            none.auth = Some(AuthMode::None);
            match loaded.resolve(&none) {
                Ok(r) => (
                    r,
                    Some(format!(
                        "{why}; to try the UI with no account: volcv --demo"
                    )),
                ),
                Err(e) => {
                    eprintln!("volcv: {e}");
                    return EXIT_INVALID;
                }
            }
        }
        Err(e) => {
            eprintln!("volcv: {e}");
            eprintln!("volcv: to try the UI with no account and no network: volcv --demo");
            return EXIT_INVALID;
        }
    };
    let client = match crate::api::client::Client::new(resolved.target, resolved.options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("volcv: {e}");
            return EXIT_INVALID;
        }
    };
    let load = match &cli.load {
        None => None,
        Some(path) => match std::fs::metadata(path).and_then(|m| {
            if m.len() > 64 * 1024 * 1024 {
                Err(std::io::Error::other("larger than 64 MiB"))
            } else {
                std::fs::read(path)
            }
        }) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some((path.display().to_string(), text)),
                Err(_) => {
                    eprintln!(
                        "volcv: --load {}: not UTF-8 text; a JSON request body or a curl command is expected",
                        path.display()
                    );
                    return EXIT_INVALID;
                }
            },
            Err(e) => {
                eprintln!("volcv: --load {}: cannot read it: {e}", path.display());
                return EXIT_INVALID;
            }
        },
    };
    // Last of the checks, so that a bad flag or file is named first.
    if let Err(e) = check_terminal() {
        eprintln!("volcv: {e}");
        return EXIT_INVALID;
    }
    let mode = resolved.mode;
    // A bad qps/concurrency in the profile is reported by `volcv sweep`; the UI uses defaults.
    let sweep_limits = loaded
        .sweep_limits(&o, None, None)
        .unwrap_or((config::DEFAULT_SWEEP_QPS, config::DEFAULT_SWEEP_CONCURRENCY));
    let opts = crate::tui::TuiOptions {
        mode,
        sweep_limits,
        client,
        loaded,
        demo: demo.as_ref().map(crate::mock::MockServer::url),
        theme: cli.theme.clone(),
        profile_label: resolved.profile,
        image_protocol: cli.image_protocol,
        load,
        send_blocked,
    };
    let result = runtime.block_on(crate::tui::run(opts));
    drop(demo);
    match result {
        Ok(None) => EXIT_OK,
        // Stopped by a signal: 128 + its number, as `send` and `sweep` exit.
        Ok(Some(signal)) => stop::StopSignal::named(signal).map_or(EXIT_OK, |s| s.exit_code()),
        Err(e) => {
            eprintln!("volcv: {e}");
            EXIT_NO_ANSWER
        }
    }
}

fn run_schema(args: &SchemaArgs) -> u8 {
    let schemas: Vec<&'static schema::Schema> = if args.all {
        SCHEMAS.to_vec()
    } else {
        let key = args
            .key
            .as_deref()
            .or(args.req_key.as_deref())
            .unwrap_or(schema::default_schema().req_key);
        let Some(s) = schema::schema_for(key) else {
            eprintln!(
                "volcv: no schema for req_key {key:?}; known: {}",
                schema::known_req_keys()
            );
            return EXIT_INVALID;
        };
        vec![s]
    };
    if args.json {
        let json = if args.all {
            serde_json::to_string_pretty(&schemas)
        } else {
            serde_json::to_string_pretty(schemas[0])
        };
        match json {
            Ok(j) => outln!("{j}"),
            Err(e) => {
                eprintln!("volcv: {e}");
                return EXIT_INVALID;
            }
        }
    } else if args.markdown {
        if args.all {
            out!("{}", schema::markdown_all());
        } else {
            out!("{}", schemas[0].markdown());
        }
    } else {
        for (i, s) in schemas.iter().enumerate() {
            if i > 0 {
                outln!();
            }
            print_schema(s);
        }
        let others: Vec<&str> = SCHEMAS.iter().map(|s| s.req_key).collect();
        outln!("\nknown req_keys: {}", others.join(", "));
    }
    EXIT_OK
}

fn print_schema(s: &schema::Schema) {
    outln!("{} ({})\n{}", s.req_key, s.title, s.summary);
    outln!("Reference image: {}.\n", s.images.describe());
    for (group, fields) in s.grouped() {
        outln!("{}", group.title());
        for f in fields {
            let default = f
                .default
                .map(|d| d.to_value().to_string())
                .unwrap_or_else(|| {
                    if f.required {
                        "required".into()
                    } else {
                        "-".into()
                    }
                });
            outln!(
                "  {:<30} {:<16} default {:<10} {}",
                f.name,
                schema::kind_name(f.kind),
                default,
                f.allowed()
            );
            outln!("  {:<30} {}", "", f.help);
        }
    }
}

fn run_config(cli: &Cli, cmd: &ConfigCmd) -> u8 {
    let o = cli.overrides();
    match cmd {
        ConfigCmd::Path => {
            outln!("{}", config::Paths::resolve(&o).config_file.display());
            EXIT_OK
        }
        ConfigCmd::Init => {
            let path = config::Paths::resolve(&o).config_file;
            match config::init(&path) {
                Ok(()) => {
                    outln!("wrote {}", path.display());
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("volcv: {e}");
                    EXIT_INVALID
                }
            }
        }
        ConfigCmd::Show => match config::load(&o) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("volcv: warning: {w}");
                }
                outln!(
                    "# {}{}",
                    loaded.paths.config_file.display(),
                    if loaded.from_file {
                        ""
                    } else {
                        " (not present: built-in defaults)"
                    }
                );
                outln!("# data dir: {}", loaded.paths.data_dir.display());
                out!("{}", config::show_redacted(&loaded.config));
                EXIT_OK
            }
            Err(e) => {
                eprintln!("volcv: {e}");
                EXIT_INVALID
            }
        },
    }
}
