//! `volcv curl`: the current request as a curl command, and a curl command (or JSON body)
//! read back into a request body.

use super::request::{self, Built, RequestArgs};
use super::{Cli, EXIT_INVALID, EXIT_OK};
use crate::api::client::Client;
use crate::api::curl::{parse_curl, to_curl};
use crate::api::schema;
use crate::config;
use crate::images::input::{READ_CAP, read_text_file};
use crate::text::escape_terminal;
use clap::Args;
use serde_json::Value;
use std::io::Read as _;

#[derive(Debug, Args)]
pub struct CurlArgs {
    #[command(flatten)]
    pub req: RequestArgs,
    /// Put the real API key / access key in the command instead of ${VOLCV_API_KEY} /
    /// ${VOLC_ACCESSKEY} references.
    #[arg(long)]
    pub reveal_secrets: bool,
    /// Read a curl command or a JSON body (a file, or - for stdin) and print its request body
    /// as JSON on stdout; endpoint, action and findings go to stderr.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["request", "set", "image", "reveal_secrets", "req_key", "preset"])]
    pub import: Option<String>,
}

pub fn run(cli: &Cli, args: &CurlArgs) -> u8 {
    if let Some(src) = &args.import {
        return import(src);
    }
    if cli.demo {
        eprintln!(
            "volcv curl: the demo backend only lives while volcv runs; start `volcv mock` and \
             pass --endpoint http://127.0.0.1:8787/ --auth none instead"
        );
        return EXIT_INVALID;
    }
    let o = cli.overrides();
    let loaded = match config::load(&o) {
        Ok(l) => l,
        Err(e) => return invalid(&e.to_string()),
    };
    let resolved = match loaded.resolve(&o) {
        Ok(r) => r,
        Err(e) => return invalid(&e.to_string()),
    };
    let Built { body, warnings } = match request::build(&loaded, &args.req) {
        Ok(b) => b,
        Err(errors) => {
            eprintln!("volcv: invalid request:");
            for e in errors {
                eprintln!("  - {}", escape_terminal(&e, false));
            }
            return EXIT_INVALID;
        }
    };
    for w in warnings {
        eprintln!("volcv: warning: {}", escape_terminal(&w, false));
    }
    let auth = resolved.target.auth.clone();
    let client = match Client::new(resolved.target, resolved.options) {
        Ok(c) => c,
        Err(e) => return invalid(&e),
    };
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return invalid(&e.to_string()),
    };
    let action = client.target.action.clone();
    let prepared = client.prepare(&action, bytes);
    match to_curl(&prepared, &auth, args.reveal_secrets) {
        Ok(command) => outln!("{command}"),
        Err(e) => return invalid(&e),
    }
    EXIT_OK
}

fn import(src: &str) -> u8 {
    let text = if src == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            return invalid(&format!("cannot read stdin: {e}"));
        }
        s
    } else {
        // As large as a request file may be: a curl command carries the reference as base64.
        match read_text_file(std::path::Path::new(src), READ_CAP) {
            Ok(t) => t,
            Err(e) => return invalid(&format!("cannot read {src}: {e}")),
        }
    };
    let imported = match parse_curl(&text) {
        Ok(i) => i,
        Err(e) => return invalid(&format!("{src}: {e}")),
    };
    if !imported.endpoint.is_empty() {
        eprintln!("endpoint: {}", escape_terminal(&imported.endpoint, false));
    }
    if let Some(a) = &imported.action {
        eprintln!("action: {}", escape_terminal(a, false));
    }
    for f in &imported.ignored {
        eprintln!("ignored curl option: {}", escape_terminal(f, false));
    }
    let mut errors = 0;
    match imported
        .body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema::schema_for)
    {
        Some(s) => {
            let report = s.validate(&imported.body);
            errors = report.errors().count();
            for issue in report.issues {
                eprintln!("{}", escape_terminal(&issue.to_string(), false));
            }
        }
        None => eprintln!(
            "warning: no schema for req_key {}; fields not checked",
            imported
                .body
                .get("req_key")
                .map_or("(missing)".to_owned(), Value::to_string)
        ),
    }
    match serde_json::to_string_pretty(&imported.body) {
        Ok(j) => outln!("{j}"),
        Err(e) => return invalid(&e.to_string()),
    }
    if errors > 0 {
        // The body is printed all the same, to be fixed; it would be refused as it is.
        return invalid(&format!(
            "{src}: the request has {errors} error(s) (above); fix them before sending it"
        ));
    }
    EXIT_OK
}

fn invalid(msg: &str) -> u8 {
    eprintln!("volcv curl: {}", escape_terminal(msg, false));
    EXIT_INVALID
}
