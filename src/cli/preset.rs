//! `volcv preset`: named parameter presets in `<config dir>/presets.toml`.

use super::request::{read_request, set_req_key};
use super::{Cli, EXIT_INVALID, EXIT_OK};
use crate::api::schema::{self, Schema};
use crate::config;
use crate::presets::{PresetError, PresetStore};
use crate::text::escape_terminal;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum PresetCmd {
    /// List the presets: name, model, how many values, and any problem loading it would report.
    #[command(alias = "ls")]
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show a preset's model and values, checked against the model's schema.
    Show {
        name: String,
        /// Print JSON: name, req_key, file, values (dotted names), patch (the body fragment).
        #[arg(long)]
        json: bool,
    },
    /// Save the parameters of a request that differ from the model's defaults as a preset
    /// (never the prompt or the reference image).
    Save(SaveArgs),
    /// Remove presets.
    #[command(alias = "delete")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Rename a preset (its place, values and comments stay).
    #[command(alias = "mv")]
    Rename { from: String, to: String },
    /// Print the presets file's path.
    Path,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The preset's name (quote it if it has spaces).
    pub name: String,
    /// The request body whose parameters to keep (a JSON file, or - for stdin). Without it,
    /// the model's defaults and the config's [defaults], then --set.
    #[arg(value_name = "REQUEST.json|-")]
    pub request: Option<String>,
    /// The model [default: the request's req_key, else high_aes_ip_v20]; a request for another
    /// model is switched to it. `--set req_key=KEY` does the same.
    #[arg(long, value_name = "KEY")]
    pub req_key: Option<String>,
    /// Set a field with schema-typed parsing, as for `volcv send`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Replace a preset of the same name.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cli: &Cli, cmd: &PresetCmd) -> u8 {
    let o = cli.overrides();
    // Only `save` reads the config (for its [defaults]); the rest need just the paths.
    let store = PresetStore::for_paths(&config::Paths::resolve(&o));
    match cmd {
        PresetCmd::Path => {
            outln!("{}", store.path().display());
            EXIT_OK
        }
        PresetCmd::List { json } => list(&store, *json),
        PresetCmd::Show { name, json } => show(&store, name, *json),
        PresetCmd::Save(args) => match config::load(&o) {
            Ok(loaded) => save(&loaded, &store, args),
            Err(e) => invalid(&e.to_string()),
        },
        PresetCmd::Rm { names } => {
            for name in names {
                if let Err(e) = store.delete(name) {
                    return preset_error(&e);
                }
                eprintln!("removed preset {}", shown(name));
            }
            EXIT_OK
        }
        PresetCmd::Rename { from, to } => match store.rename(from, to) {
            Ok(()) => {
                eprintln!("renamed preset {} to {}", shown(from), shown(to));
                EXIT_OK
            }
            Err(e) => preset_error(&e),
        },
    }
}

fn list(store: &PresetStore, as_json: bool) -> u8 {
    let presets = match store.list() {
        Ok(p) => p,
        Err(e) => return preset_error(&e),
    };
    if as_json {
        return match serde_json::to_string_pretty(&presets) {
            Ok(j) => {
                outln!("{j}");
                EXIT_OK
            }
            Err(e) => invalid(&e.to_string()),
        };
    }
    if presets.is_empty() {
        eprintln!(
            "no presets yet in {}; save one with: volcv preset save NAME [REQUEST.json] [--set FIELD=VALUE]",
            store.path().display()
        );
        return EXIT_OK;
    }
    let width = presets
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    for p in &presets {
        let key = p.req_key.as_deref().unwrap_or("(no req_key)");
        let state = if p.problems.is_empty() {
            crate::text::count(p.values as u64, "value")
        } else {
            format!("INVALID: {}", p.problems.join("; "))
        };
        outln!(
            "{:<width$}  {:<28} {}",
            escape_terminal(&p.name, false),
            escape_terminal(key, false),
            escape_terminal(&state, false)
        );
    }
    EXIT_OK
}

fn show(store: &PresetStore, name: &str, as_json: bool) -> u8 {
    let p = match store.load(name) {
        Ok(p) => p,
        Err(e) => return preset_error(&e),
    };
    if as_json {
        let v = json!({
            "name": p.name,
            "req_key": p.schema.req_key,
            "file": store.path().display().to_string(),
            "values": p.values,
            "patch": p.patch(),
            "warnings": p.warnings,
        });
        return match serde_json::to_string_pretty(&v) {
            Ok(j) => {
                outln!("{j}");
                EXIT_OK
            }
            Err(e) => invalid(&e.to_string()),
        };
    }
    outln!(
        "{} ({}: {})",
        escape_terminal(&p.name, false),
        p.schema.req_key,
        p.schema.title
    );
    let width = p.values.keys().map(String::len).max().unwrap_or(0);
    for (field, v) in &p.values {
        let text = p
            .schema
            .field(field)
            .map_or_else(|| v.to_string(), |f| f.display(v));
        outln!("  {field:<width$}  {}", escape_terminal(&text, false));
    }
    let rest: Vec<&str> = p
        .schema
        .fields
        .iter()
        .filter(|f| f.in_preset() && !p.values.contains_key(f.name))
        .map(|f| f.name)
        .collect();
    if !rest.is_empty() {
        outln!("  (model defaults for: {})", rest.join(", "));
    }
    for w in &p.warnings {
        eprintln!("volcv: warning: {}", escape_terminal(w, false));
    }
    EXIT_OK
}

fn save(loaded: &config::Loaded, store: &PresetStore, args: &SaveArgs) -> u8 {
    let (body, defaults) = match save_body(loaded, args) {
        Ok(b) => b,
        Err(errors) => {
            eprintln!("volcv: cannot save preset {}:", shown(&args.name));
            for e in errors {
                eprintln!("  - {}", escape_terminal(&e, false));
            }
            return EXIT_INVALID;
        }
    };
    if !args.force {
        match store.names() {
            Ok(names) if names.iter().any(|n| n == &args.name) => {
                return invalid(&format!(
                    "preset {} already exists in {}; pass --force to replace it",
                    shown(&args.name),
                    store.path().display()
                ));
            }
            Ok(_) => {}
            Err(e) => return preset_error(&e),
        }
    }
    match store.save(&args.name, &body, &defaults) {
        Ok(saved) => {
            eprintln!(
                "{} preset {} ({}, {}) in {}",
                if saved.replaced { "replaced" } else { "saved" },
                shown(&args.name),
                saved.req_key,
                crate::text::count(saved.stored.len() as u64, "value"),
                store.path().display()
            );
            if !saved.left_out.is_empty() {
                eprintln!(
                    "not kept (a preset holds parameters only): {}",
                    escape_terminal(&saved.left_out.join(", "), false)
                );
            }
            EXIT_OK
        }
        Err(e) => preset_error(&e),
    }
}

/// The body whose parameters are saved: the request file (switched to `--req-key`), or the
/// model's defaults with the config's; then `--set`. With the defaults the preset is relative
/// to (the model's, with the config's [defaults], as `send --preset` applies it).
fn save_body(loaded: &config::Loaded, args: &SaveArgs) -> Result<(Value, Value), Vec<String>> {
    let named = args
        .set
        .iter()
        .filter_map(|a| set_req_key(a))
        .chain(args.req_key.as_deref())
        .last();
    let target: Option<&'static Schema> = match named {
        None => None,
        Some(k) => Some(schema::schema_for(k).ok_or_else(|| {
            vec![format!(
                "req_key {k:?} is not a model volcv knows (known: {})",
                schema::known_req_keys()
            )]
        })?),
    };
    let mut body = match args.request.as_deref() {
        None => loaded
            .default_body(target.unwrap_or(schema::default_schema()))
            .map_err(|e| vec![e.to_string()])?,
        Some(src) => read_request(src).map_err(|e| vec![e])?,
    };
    if let Some(to) = target {
        let switched = schema::switch_schema(&body, to);
        if !switched.dropped.is_empty() {
            let names: Vec<&str> = switched.dropped.iter().map(|(k, _)| k.as_str()).collect();
            eprintln!(
                "volcv: {} does not take {}; not kept",
                to.req_key,
                names.join(", ")
            );
        }
        body = switched.body;
    }
    let s = body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema::schema_for)
        .ok_or_else(|| {
            vec![format!(
                "the request's req_key {} is not a model volcv knows (known: {})",
                body.get("req_key")
                    .map_or("(missing)".to_owned(), Value::to_string),
                schema::known_req_keys()
            )]
        })?;
    let errors: Vec<String> = args
        .set
        .iter()
        .filter(|a| set_req_key(a).is_none())
        .filter_map(|a| s.apply_set(&mut body, a).err())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let defaults = loaded.default_body(s).map_err(|e| vec![e.to_string()])?;
    Ok((body, defaults))
}

/// A preset name for messages: quoted, terminal controls escaped.
fn shown(name: &str) -> String {
    escape_terminal(&format!("{name:?}"), false)
}

fn preset_error(e: &PresetError) -> u8 {
    for line in e.to_string().lines() {
        eprintln!("volcv: {}", escape_terminal(line, false));
    }
    EXIT_INVALID
}

fn invalid(msg: &str) -> u8 {
    eprintln!("volcv: {}", escape_terminal(msg, false));
    EXIT_INVALID
}
