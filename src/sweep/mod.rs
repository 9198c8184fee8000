//! Parameter sweeps: one request per combination of up to three fields' values, paced to the
//! account's rate limits, each recorded in the history, with a contact sheet of the results.
//! Usable without the TUI: `volcv sweep` drives it, and so can the TUI's worker.
//!
//! - [`spec`]: `--vary FIELD=SPEC` through the schema into axes, crossed as a [`Grid`];
//! - [`bucket`]: the adaptive token bucket and the ETA;
//! - [`runner`]: [`run`] sends the cells and reports [`SweepEvent`]s;
//! - [`sheet`]: the contact sheet's layout (rows, columns, labels) and its PNG rendering.
//!
//! A driver (CLI or TUI) does: [`prepare`] (parse and validate every cell before anything is
//! sent), then [`run`] with a client, an optional history [`Store`](crate::store::Store), an
//! events channel and [`Controls`]; it shows [`SweepEvent::Progress`] and fills a contact
//! sheet from [`SweepEvent::CellFinished`], laid out by [`sheet::SheetLayout`]. A recorded
//! sweep is reopened with `Store::sweep` / `Store::sweep_cells` and [`grid_of`].

pub mod bucket;
pub mod runner;
pub mod sheet;
pub mod spec;

pub use runner::{
    CellReport, CellStatus, Controls, Plan, Progress, Settings, SweepEvent, SweepReport,
    new_sweep_id, run,
};
pub use spec::{Axis, Grid, MAX_AXES, MAX_CELLS, axis_for, parse_values, parse_vary};

use crate::api::schema::{self, Schema};
use serde_json::Value;

/// A sweep ready to run, with what validation found.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub plan: Plan,
    /// Warnings (values outside a recommended range, ...), each once.
    pub warnings: Vec<String>,
}

/// The schema a request body uses: its `req_key`'s, else the default one.
pub fn schema_of(body: &Value) -> Option<&'static Schema> {
    match body.get("req_key").and_then(Value::as_str) {
        Some(k) => schema::schema_for(k),
        None => Some(schema::default_schema()),
    }
}

/// Parses the `--vary` arguments against `base`'s schema, crosses them, and validates every
/// cell's body (the base with the cell's values) before anything is sent. Errors list every
/// problem once, naming the field and, for problems of particular cells, the cell.
pub fn prepare(base: Value, vary: &[String]) -> Result<Prepared, Vec<String>> {
    let Some(schema) = schema_of(&base) else {
        return Err(vec![format!(
            "no schema for req_key {}; a sweep needs one to type its values (known: {})",
            base.get("req_key")
                .map_or("(missing)".to_owned(), Value::to_string),
            schema::known_req_keys()
        )]);
    };
    let mut errors = Vec::new();
    let mut axes = Vec::new();
    for v in vary {
        match parse_vary(schema, v) {
            Ok(a) => axes.push(a),
            Err(e) => errors.push(format!("--vary {v}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let grid = Grid::new(axes).map_err(|e| vec![e])?;
    plan(schema, base, grid)
}

/// Validates every cell of `grid` over `base` with `schema` (what [`prepare`] does after
/// parsing; the TUI calls it with the axes its dialog built).
pub fn plan(schema: &Schema, base: Value, grid: Grid) -> Result<Prepared, Vec<String>> {
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for cell in 0..grid.len() {
        let body = grid.apply(&base, cell);
        let report = schema.validate(&body);
        let varied = |field: &str| grid.axes.iter().any(|a| a.field == field);
        for issue in &report.issues {
            // A problem of the base shows once; one caused by a cell's value names the cell.
            let text = if varied(&issue.field) {
                format!(
                    "{} (cell {}: {})",
                    issue.message,
                    cell + 1,
                    grid.label(cell)
                )
            } else {
                issue.message.clone()
            };
            let list = if issue.severity == schema::Severity::Error {
                &mut errors
            } else {
                &mut warnings
            };
            if !list.contains(&text) {
                list.push(text);
            }
        }
        if errors.len() > 50 {
            errors.push("(more problems not listed)".into());
            break;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Prepared {
        plan: Plan {
            id: new_sweep_id(),
            base: schema.normalize(&base),
            grid,
        },
        warnings,
    })
}

/// The grid of a recorded sweep (`SweepRecord::grid`).
pub fn grid_of(stored: &Value) -> Result<Grid, String> {
    let grid: Grid = serde_json::from_value(stored.clone())
        .map_err(|e| format!("the recorded sweep's grid cannot be read: {e}"))?;
    if grid.axes.iter().any(|a| a.values.len() != a.labels.len()) {
        return Err("the recorded sweep's grid is damaged (labels do not match values)".into());
    }
    Grid::new(grid.axes)
}

/// Keeps `[A-Za-z0-9._-]` of a value's label for a file name (others become `_`), never
/// starting with a dot, at most 40 characters.
pub fn value_component(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_start_matches('.').trim_matches('_').to_owned();
    if out.is_empty() { "x".to_owned() } else { out }
}

/// The file name stem of a cell's image `image` (0-based): the cell number (zero-padded, so
/// files sort in grid order) and each varied value, e.g. `03_seed-2_scale-3.5`, with `_2`,
/// `_3`... for a cell's further images. Never from anything the server sent.
pub fn cell_stem(grid: &Grid, cell: usize, image: usize) -> String {
    let width = grid.len().to_string().len().max(2);
    let mut stem = format!("{:0width$}", cell + 1);
    for (a, i) in grid.axes.iter().zip(grid.value_indices(cell)) {
        let label = a.labels.get(i).map_or("", String::as_str);
        stem.push('_');
        stem.push_str(&value_component(a.short_name()));
        stem.push('-');
        stem.push_str(&value_component(label));
    }
    if image > 0 {
        stem.push_str(&format!("_{}", image + 1));
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        let mut b = schema::default_schema().default_body();
        schema::set_path(&mut b, "prompt", json!("a fox"));
        schema::set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
        b
    }

    #[test]
    fn prepare_validates_every_cell() {
        let p = prepare(base(), &["seed=1..2".into(), "scale=2.5,3.5,4.5".into()]).expect("valid");
        assert_eq!(p.plan.grid.len(), 6);
        assert!(p.plan.id.starts_with("sw-"));
        // Every --vary problem at once.
        let e = prepare(base(), &["seed=x".into(), "scale=99".into()]).expect_err("invalid");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("--vary seed=x: seed must be a whole number"),
            "{e:?}"
        );
        // A problem of the base is reported once, not per cell.
        let mut no_prompt = base();
        schema::remove_path(&mut no_prompt, "prompt");
        let e = prepare(no_prompt, &["seed=1..5".into()]).expect_err("no prompt");
        assert_eq!(e, vec!["prompt is required".to_owned()]);
        // A recommended-range warning names its cell.
        let p = prepare(base(), &["ref_id_weight=0.3,0.9".into()]).expect("valid");
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("cell 2: ref_id_weight=0.9"),
            "{:?}",
            p.warnings
        );
        let e = prepare(json!({"req_key": "nope"}), &["seed=1".into()]).expect_err("unknown");
        assert!(e[0].contains("no schema for req_key \"nope\""), "{e:?}");
    }

    #[test]
    fn stems_come_from_the_values() {
        let g = prepare(
            base(),
            &[
                "seed=-1,7".into(),
                "logo_info.opacity=0.25".into(),
                "prompt=[\"a/../../etc cat\", \".hidden\"]".into(),
            ],
        )
        .expect("valid")
        .plan
        .grid;
        assert_eq!(
            cell_stem(&g, 0, 0),
            "01_seed--1_opacity-0.25_prompt-a_.._.._etc_cat"
        );
        assert_eq!(
            cell_stem(&g, 3, 1),
            "04_seed-7_opacity-0.25_prompt-hidden_2"
        );
        assert_eq!(value_component("..."), "x");
        assert_eq!(value_component("一只猫"), "x");
    }

    #[test]
    fn grids_round_trip_through_the_store_json() {
        let g = prepare(base(), &["seed=1..3".into(), "use_sr=true,false".into()])
            .expect("valid")
            .plan
            .grid;
        let stored = serde_json::to_value(&g).expect("json");
        assert_eq!(grid_of(&stored).expect("back"), g);
        assert!(grid_of(&json!({"axes": "x"})).is_err());
    }
}
