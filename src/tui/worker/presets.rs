//! The presets job: list, save, apply and delete named parameter presets.

use super::{Worker, report_panic};
use crate::tui::msg::{Msg, PresetCmd};
use serde_json::Value;
use std::collections::HashMap;

/// Runs a presets command (file I/O: call it on the blocking pool).
fn preset_cmd(
    store: &crate::presets::PresetStore,
    defaults: &HashMap<&'static str, Value>,
    cmd: crate::tui::msg::PresetCmd,
) -> Msg {
    use crate::tui::msg::PresetCmd;
    let defaults_for = |s: &crate::api::schema::Schema| {
        defaults
            .get(s.req_key)
            .cloned()
            .unwrap_or_else(|| s.default_body())
    };
    match cmd {
        PresetCmd::List => Msg::PresetsListed(store.list().map_err(|e| e.to_string())),
        PresetCmd::Apply { name, body } => Msg::PresetApplied {
            result: store
                .load(&name)
                .map(|p| p.apply(&body, &defaults_for(p.schema)))
                .map_err(|e| e.to_string()),
            name,
        },
        PresetCmd::Save { name, body } => {
            let schema = body
                .get("req_key")
                .and_then(Value::as_str)
                .and_then(crate::api::schema::schema_for)
                .unwrap_or_else(crate::api::schema::default_schema);
            match store.save(&name, &body, &defaults_for(schema)) {
                Ok(s) => Msg::PresetsChanged {
                    text: format!(
                        "preset {name:?} {} ({}: {})",
                        if s.replaced { "replaced" } else { "saved" },
                        s.req_key,
                        if s.stored.is_empty() {
                            "all defaults".to_owned()
                        } else {
                            s.stored.join(", ")
                        }
                    ),
                    error: false,
                },
                Err(e) => Msg::PresetsChanged {
                    text: e.to_string(),
                    error: true,
                },
            }
        }
        PresetCmd::Delete { name } => match store.delete(&name) {
            Ok(()) => Msg::PresetsChanged {
                text: format!("preset {name:?} deleted"),
                error: false,
            },
            Err(e) => Msg::PresetsChanged {
                text: e.to_string(),
                error: true,
            },
        },
    }
}

impl Worker {
    /// Runs a presets command on the blocking pool.
    pub(super) fn presets(&self, p: PresetCmd) {
        let Some(presets) = self.presets.clone() else {
            let _ = self.tx.send(Msg::PresetsChanged {
                text: "presets are not available here".to_owned(),
                error: true,
            });
            return;
        };
        let tx = self.tx.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _ = tx.send(preset_cmd(&presets.0, &presets.1, p));
        });
        report_panic(&self.tx, "the presets command", task, |text| {
            Msg::PresetsChanged { text, error: true }
        });
    }
}
