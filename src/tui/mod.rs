#![warn(missing_docs)]
//! The terminal UI: `volcv` with no subcommand, and `volcv --demo` against the embedded mock.
//!
//! Data flows one way: a key becomes a [`msg::Msg`], [`app::App::update`] changes state and
//! returns [`msg::Cmd`]s, the [`worker::Worker`] runs them on tokio tasks and sends results
//! back as messages. [`render::render`] only reads the state. [`event_loop::run_loop`] ties
//! them together over a [`event_loop::Host`] (the real terminal, or a test double).

pub mod app;
pub mod compare;
pub mod doc;
pub mod draft;
pub mod event_loop;
pub mod form;
pub mod history;
pub mod keymap;
pub mod layout;
pub mod line_edit;
pub mod msg;
pub mod overlay;
pub mod preview;
pub mod render;
pub mod sweep;
pub mod terminal;
pub mod termquery;
pub mod theme;
pub mod view;
pub mod worker;

pub use keymap::key_table_markdown;

use crate::api::client::Client;
use crate::api::schema::{self, set_path};
use crate::config;
use app::{App, Info, Status};
use keymap::KeyMap;
use ratatui::layout::Rect;
use serde_json::Value;
use std::path::PathBuf;
use theme::Theme;

/// The prompt put in the form in demo mode.
pub const DEMO_PROMPT: &str = "a corgi astronaut floating above the moon, studio light";
/// The reference URL put in the form in demo mode (the mock does not fetch it).
pub const DEMO_REFERENCE: &str = "https://example.com/volcv-demo-reference.jpg";

/// What the CLI hands to the UI.
#[derive(Debug)]
pub struct TuiOptions {
    /// The client to send with (pointed at the mock in demo mode).
    pub client: Client,
    /// The profile's request mode (`A` toggles it in the UI).
    pub mode: crate::api::tasks::Mode,
    /// Sweeps' rate and cap on requests in flight (the profile's `qps` and `concurrency`).
    pub sweep_limits: (f64, usize),
    /// The loaded config: `[ui]`, `[keys]`, `[defaults]` and the paths.
    pub loaded: config::Loaded,
    /// The embedded mock's URL when running `--demo`: the form starts with a prompt and a
    /// reference so the first F5 works.
    pub demo: Option<String>,
    /// `--theme NAME`, over the config's `ui.theme`.
    pub theme: Option<String>,
    /// The profile shown in the status bar.
    pub profile_label: String,
    /// `--image-protocol`, over the config's `ui.image_protocol`.
    pub image_protocol: Option<preview::ProtocolChoice>,
    /// `--load FILE`: its name and text (a JSON request body or a curl command) to fill the
    /// form with at start.
    pub load: Option<(String, String)>,
    /// Why nothing can be sent (no credentials): the UI opens for browsing and says this on
    /// F5, on a sweep and at start; pending async tasks are not resumed.
    pub send_blocked: Option<String>,
}

/// The image protocol asked for: `--image-protocol`, else the config's `ui.image_protocol`
/// (an unknown value there is a warning and means `auto`).
pub fn protocol_choice(opts: &TuiOptions) -> (preview::ProtocolChoice, Option<String>) {
    if let Some(c) = opts.image_protocol {
        return (c, None);
    }
    match opts.loaded.config.ui.image_protocol.parse() {
        Ok(c) => (c, None),
        Err(e) => (
            preview::ProtocolChoice::Auto,
            Some(format!("ui.image_protocol: {e}")),
        ),
    }
}

/// Everything `run` sets up before the loop, also used by tests to build an `App` exactly as
/// the real UI does.
pub struct Prepared {
    /// The state the loop starts from.
    pub app: App,
    /// Problems with the config, theme or key map, shown in the status bar at start.
    pub warnings: Vec<String>,
    /// Where result images are saved when there is no history store.
    pub images_dir: PathBuf,
    /// The data dir of the history store: the profile's data dir, or its `demo/` subdir for
    /// `--demo` (requests to the embedded mock are kept apart from real ones).
    pub history_dir: PathBuf,
    /// The draft file in it (the form across restarts).
    pub draft_path: PathBuf,
}

/// Builds the app state from the options (theme, key map, initial values). Reads the user's
/// theme file once; never touches the terminal.
pub fn prepare(opts: &TuiOptions, log_path: &str, size: Rect) -> Prepared {
    let mut warnings = opts.loaded.warnings.clone();
    if let (_, Some(w)) = protocol_choice(opts) {
        warnings.push(w);
    }
    let theme = if Theme::no_color_requested() {
        Theme::monochrome()
    } else {
        let name = opts
            .theme
            .clone()
            .unwrap_or_else(|| opts.loaded.config.ui.theme.clone());
        let (t, w) = Theme::load(&name, Some(&opts.loaded.paths.config_dir()));
        warnings.extend(w);
        t
    };
    let (keymap, w) = KeyMap::with_overrides(&opts.loaded.config.keys);
    warnings.extend(w);
    let s = schema::default_schema();
    let mut initial = match opts.loaded.default_body(s) {
        Ok(b) => b,
        Err(e) => {
            warnings.push(e.to_string());
            s.default_body()
        }
    };
    if opts.demo.is_some() {
        if schema::get_path(&initial, "prompt").is_none() {
            set_path(&mut initial, "prompt", Value::from(DEMO_PROMPT));
        }
        if schema::get_path(&initial, schema::REFERENCE_URL).is_none()
            && schema::get_path(&initial, schema::REFERENCE_BASE64).is_none()
        {
            set_path(
                &mut initial,
                schema::REFERENCE_URL,
                Value::from(vec![DEMO_REFERENCE]),
            );
        }
    }
    let info = Info {
        profile: if opts.demo.is_some() {
            "demo (mock)".to_owned()
        } else {
            opts.profile_label.clone()
        },
        endpoint: opts.client.target.endpoint.to_string(),
        log_path: log_path.to_owned(),
    };
    let history_dir = opts.loaded.paths.history_dir(opts.demo.is_some());
    let draft_path = history_dir.join(draft::DRAFT_FILE);
    let mut app = App::new(&initial, keymap, theme, info, size);
    app.mode = opts.mode;
    // The last session's form, read before the UI starts; never fatal.
    match draft::load(&draft_path) {
        draft::Found::Nothing => {}
        draft::Found::Draft(d) => {
            let mut text = format!(
                "form restored from the last draft ({}; {} goes back to the defaults)",
                d.state.schema.req_key,
                app.keymap.label(keymap::Action::Undo)
            );
            for n in &d.notes {
                text.push_str(&format!("; {n}"));
            }
            app.restore_draft(*d);
            app.status = Some(Status { text, error: false });
        }
        draft::Found::Unusable { why, kept_as } => warnings.push(match kept_as {
            Some(p) => format!("{why}; kept as {}; starting from the defaults", p.display()),
            None => format!("{why}; starting from the defaults"),
        }),
    }
    app.params.drafts = true;
    app.draft_saved();
    if let Some((name, text)) = &opts.load
        && !app.import(text, name)
    {
        let why = app
            .status
            .as_ref()
            .map_or_else(String::new, |s| s.text.clone());
        warnings.push(format!("--load {name}: {why}"));
    }
    if let Some(w) = warnings.first() {
        let more = if warnings.len() > 1 {
            format!(" (+{} more in the log)", warnings.len() - 1)
        } else {
            String::new()
        };
        app.status = Some(Status {
            text: format!("{w}{more}"),
            error: true,
        });
    }
    Prepared {
        app,
        warnings,
        images_dir: history_dir.join("images"),
        history_dir,
        draft_path,
    }
}

/// Log lines queued for the log file's writer thread (beyond that, lines are dropped rather
/// than stalling the UI).
const LOG_QUEUE_LINES: usize = 4096;

/// Sends tracing output to `<state dir>/tui.log` (never the screen). Returns the path and the
/// guard that flushes the file on drop; if a subscriber is already installed (the CLI's), that
/// one is kept.
fn init_logging(
    state_dir: &std::path::Path,
) -> (String, Option<tracing_appender::non_blocking::WorkerGuard>) {
    let path = state_dir.join("tui.log");
    if std::fs::create_dir_all(state_dir).is_err() {
        return ("(no log: state dir not writable)".to_owned(), None);
    }
    let appender = tracing_appender::rolling::never(state_dir, "tui.log");
    // The default queue (128 000 lines) is allocated and touched up front: 4 MB of resident
    // memory for a log that writes a few lines a minute. 4 096 lines is 128 KB.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOLCV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("volcv=info"));
    let installed = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .is_ok();
    if installed {
        (path.display().to_string(), Some(guard))
    } else {
        ("(logging set up by the caller)".to_owned(), None)
    }
}

/// Runs the UI on the current terminal until the user quits. The terminal is restored on
/// every exit path: return, error, panic (the hook is installed before raw mode) and
/// SIGTERM/SIGHUP. Call it inside a tokio runtime (multi-threaded, so the mock and the worker
/// keep running beside the UI task). Returns the signal that ended it, if one did.
pub async fn run(opts: TuiOptions) -> anyhow::Result<Option<&'static str>> {
    let (log_path, _guard) = init_logging(&opts.loaded.paths.state_dir);
    let size = ratatui::crossterm::terminal::size().unwrap_or((80, 24));
    let Prepared {
        mut app,
        warnings,
        images_dir,
        history_dir,
        draft_path,
    } = prepare(&opts, &log_path, Rect::new(0, 0, size.0, size.1));
    for w in &warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(endpoint = %app.info.endpoint, demo = opts.demo.is_some(), "starting the UI");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    terminal::install_panic_hook();
    let mut tty = terminal::Tty::enter()?;
    // The first frame goes out before the query below (nothing on the first screen depends
    // on the protocol).
    {
        use event_loop::Host as _;
        tty.terminal()
            .draw(|f| render::render(&app, f))
            .map_err(|e| anyhow::anyhow!("drawing failed: {e}"))?;
    }
    // The one terminal query, after the first frame and beside the running UI: previews
    // start with what the environment (or a remembered answer) says and switch when the
    // answer comes; keys typed meanwhile are read by the query and delivered in order.
    let (choice, _) = protocol_choice(&opts);
    let hints = preview::EnvHints::from_env();
    let (setup, query) = termquery::begin(choice, hints, &opts.loaded.paths.state_dir);
    if let Some(q) = query {
        tty.query_running(q);
    }
    let setup = setup.respecting_no_color(Theme::no_color_requested());
    tracing::info!("image previews at start: {}", setup.how);
    app.previews = preview::Previews::new(setup.protocol != preview::Protocol::None);
    if let Ok(cwd) = std::env::current_dir() {
        app.save_dir = cwd;
    }
    let profile = if opts.demo.is_some() {
        "demo".to_owned()
    } else {
        opts.profile_label.clone()
    };
    let defaults = schema::SCHEMAS
        .iter()
        .map(|s| {
            (
                s.req_key,
                opts.loaded
                    .default_body(s)
                    .unwrap_or_else(|_| s.default_body()),
            )
        })
        .collect();
    app.send_blocked.clone_from(&opts.send_blocked);
    if let Some(why) = &opts.send_blocked {
        app.error_msg(format!("sending is off: {why}"));
    }
    let worker = worker::Worker::new(tx, opts.client.clone(), images_dir)
        .with_previews(setup)
        .resuming_tasks(opts.send_blocked.is_none());
    let worker = if opts.demo.is_some() {
        worker.with_demo_history(history_dir, &profile)
    } else {
        worker.with_history(history_dir, &profile)
    };
    app.set_records(true);
    let worker = worker
        .with_draft(draft_path)
        .with_sweep_limits(opts.sweep_limits.0, opts.sweep_limits.1)
        .with_presets(
            crate::presets::PresetStore::for_paths(&opts.loaded.paths),
            defaults,
        );
    let result = event_loop::run_loop(&mut tty, &mut app, &worker, &mut rx).await;
    drop(tty);
    if let Err(e) = &result {
        tracing::error!("UI stopped: {e}");
    }
    result.map(|()| app.stopped_by)
}
