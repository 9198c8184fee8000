//! What a sweep varies: `--vary FIELD=SPEC` parsed through the schema into an [`Axis`], and up
//! to three axes crossed into a [`Grid`].
//!
//! Value specs:
//! - a list: `2.5,3.5,4.5` (any field that can be varied; text values too);
//! - a JSON array, for values that contain commas: `["a cat, asleep","a dog"]`;
//! - a range: `1..8`, inclusive, step 1 (numbers and enums);
//! - a range with a step: `0.2..0.6:0.1`. Values are `start + i * step` rounded to the
//!   field's precision (the finer of the field's step and the decimals written in the spec),
//!   so `0.30000000000000004` never appears. A range whose start is above its end counts
//!   down (`8..1`). The end is included when it falls on the step grid.
//!
//! Every value is parsed by the schema's own [`Field::parse`] and checked against its range,
//! so a sweep accepts exactly what `--set` accepts.
//!
//! Grid layout: the first axis gives the rows, the second the columns, the third the pages
//! (groups). Cells are numbered in reading order: page by page, row by row, the last axis
//! varying fastest (cell `(page * rows + row) * cols + col`).

use crate::api::schema::{self, Field, Kind, Schema, get_path, set_path};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most fields one sweep varies.
pub const MAX_AXES: usize = 3;
/// Most cells (requests) one sweep makes.
pub const MAX_CELLS: usize = 1000;

/// One varied field and its values, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The dotted field name (`scale`, `logo_info.opacity`).
    pub field: String,
    /// The spec as given (`1..4`, `2.5,3.5`), for summaries.
    pub spec: String,
    /// The values as they go into the request body.
    pub values: Vec<Value>,
    /// Short texts for the values (`3.5`, `top-left`, a truncated prompt), for labels and
    /// file names.
    pub labels: Vec<String>,
}

impl Axis {
    /// The field's last path segment (`opacity` for `logo_info.opacity`).
    pub fn short_name(&self) -> &str {
        self.field.rsplit('.').next().unwrap_or(&self.field)
    }

    /// `scale=3.5` for value `i`.
    pub fn label(&self, i: usize) -> String {
        format!(
            "{}={}",
            self.short_name(),
            self.labels.get(i).map_or("?", String::as_str)
        )
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values (never true for a parsed axis).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Parses `FIELD=SPEC` (as given to `--vary`) for `schema`.
pub fn parse_vary(schema: &Schema, arg: &str) -> Result<Axis, String> {
    let (name, spec) = arg.split_once('=').ok_or_else(|| {
        format!("--vary takes FIELD=VALUES (e.g. seed=1..4, scale=2.5,3.5), got {arg:?}")
    })?;
    let field = schema.lookup(name.trim())?;
    axis_for(field, spec)
}

/// The axis of `field` with the values of `spec` (what the TUI's sweep dialog builds for the
/// focused field).
pub fn axis_for(field: &Field, spec: &str) -> Result<Axis, String> {
    let values = parse_values(field, spec)?;
    let labels = values.iter().map(|v| value_label(field, v)).collect();
    Ok(Axis {
        field: field.name.to_owned(),
        spec: spec.trim().to_owned(),
        values,
        labels,
    })
}

/// Parses a value spec for `field`: a list, a JSON array, or a range (see the module docs).
/// Errors name the field and what is allowed.
pub fn parse_values(field: &Field, spec: &str) -> Result<Vec<Value>, String> {
    let name = field.name;
    match field.kind {
        Kind::ImageList(_) => {
            return Err(format!(
                "{name} holds the reference image and cannot be varied; vary numbers, \
                 switches, choices or text"
            ));
        }
        _ if field.fixed => {
            return Err(format!("{name} is fixed by the model and cannot be varied"));
        }
        _ => {}
    }
    let t = spec.trim();
    if t.is_empty() {
        return Err(format!(
            "{name}: no values given; write a list (1,2,3), a range (1..8) or a range with a \
             step (0.2..0.6:0.1)"
        ));
    }
    let numeric = matches!(field.kind, Kind::Int | Kind::Float | Kind::Enum(_));
    let values = if t.starts_with('[') {
        json_list(field, t)?
    } else if numeric && t.contains("..") {
        if t.contains(',') {
            return Err(format!(
                "{name}: {t:?} mixes a list and a range; give one or the other"
            ));
        }
        range(field, t)?
    } else {
        t.split(',')
            .enumerate()
            .map(|(i, item)| {
                if item.trim().is_empty() {
                    Err(format!(
                        "{name}: value {} of {t:?} is empty (two commas in a row, or a \
                         trailing comma)",
                        i + 1
                    ))
                } else {
                    // Text keeps its spaces inside; only the padding around commas goes.
                    field.parse(item.trim())
                }
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if values.len() > MAX_CELLS {
        return Err(format!(
            "{name}: {} values; a sweep makes at most {MAX_CELLS} requests",
            values.len()
        ));
    }
    for v in &values {
        check_range(field, v)?;
    }
    Ok(values)
}

/// `["a, b", "c"]`: each element parsed by the field as if typed.
fn json_list(field: &Field, t: &str) -> Result<Vec<Value>, String> {
    let name = field.name;
    let items: Vec<Value> = serde_json::from_str(t)
        .map_err(|e| format!("{name}: {t:?} starts like a JSON array but is not one: {e}"))?;
    if items.is_empty() {
        return Err(format!("{name}: the list {t:?} is empty"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => field.parse(s),
            Value::Number(_) | Value::Bool(_) => field.parse(&item.to_string()),
            other => Err(format!(
                "{name}: list items must be strings, numbers or booleans, got {}",
                schema::json_type(other)
            )),
        })
        .collect()
}

/// `a..b` or `a..b:step`.
fn range(field: &Field, t: &str) -> Result<Vec<Value>, String> {
    let name = field.name;
    let (bounds, step_text) = match t.split_once(':') {
        Some((b, s)) => (b, Some(s.trim())),
        None => (t, None),
    };
    let (a_text, b_text) = bounds
        .split_once("..")
        .map(|(a, b)| (a.trim(), b.trim()))
        .ok_or_else(|| format!("{name}: a range is START..END or START..END:STEP, got {t:?}"))?;
    if a_text.is_empty() || b_text.is_empty() {
        return Err(format!(
            "{name}: a range needs both ends (START..END), got {t:?}"
        ));
    }
    let number = |text: &str, what: &str| -> Result<f64, String> {
        let v = field.parse(text)?;
        v.as_f64()
            .ok_or_else(|| format!("{name}: the range {what} {text:?} is not a number"))
    };
    let start = number(a_text, "start")?;
    let end = number(b_text, "end")?;
    let is_int = matches!(field.kind, Kind::Int | Kind::Enum(_));
    let step = match step_text {
        None => 1.0,
        Some("") => {
            return Err(format!(
                "{name}: the step after ':' is missing in {t:?} (e.g. 0.2..0.6:0.1)"
            ));
        }
        Some(s) => match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => x,
            Ok(_) => {
                return Err(format!(
                    "{name}: the step {s:?} must be a number above 0 (a range counts down \
                     by itself when its start is above its end)"
                ));
            }
            Err(_) => return Err(format!("{name}: the step {s:?} is not a number")),
        },
    };
    if is_int && step.fract() != 0.0 {
        return Err(format!(
            "{name} takes whole numbers; the step {} is not whole",
            schema::fmt_num(step)
        ));
    }
    let span = (end - start).abs();
    // How many steps fit, tolerating the float error of e.g. 0.6 / 0.1 = 5.999999999999999.
    let steps = (span / step + 1e-9).floor();
    if steps + 1.0 > MAX_CELLS as f64 {
        return Err(format!(
            "{name}: {t:?} gives {} values; a sweep makes at most {MAX_CELLS} requests",
            schema::fmt_num(steps + 1.0)
        ));
    }
    let n = steps as usize + 1;
    let dir = if end < start { -1.0 } else { 1.0 };
    let decimals = if is_int {
        0
    } else {
        decimals_in(a_text)
            .max(step_text.map_or(0, decimals_in))
            .max(field.step.map_or(0, |s| decimals_in(&format!("{s}"))))
            .min(12)
    };
    let factor = 10f64.powi(decimals);
    (0..n)
        .map(|i| {
            let raw = start + dir * (i as f64) * step;
            // Rounding to the decimals written can overflow near f64::MAX (x * 10^d is
            // infinite): then the value stays unrounded. A value that is not finite even so
            // would be sent as null, past every check: refused.
            let rounded = (raw * factor).round() / factor;
            let x = if rounded.is_finite() { rounded } else { raw };
            if !x.is_finite() {
                return Err(format!(
                    "{name}: {t:?} reaches {x}, beyond the numbers a request can carry"
                ));
            }
            Ok(if is_int {
                Value::from(x as i64)
            } else {
                schema::float_value(x)
            })
        })
        .collect()
}

/// Digits after the decimal point as written (`0.25` -> 2, `3` -> 0, `1e-3` -> 3).
fn decimals_in(text: &str) -> i32 {
    let t = text.trim();
    if let Some((mantissa, exp)) = t.split_once(['e', 'E']) {
        let exp: i32 = exp.parse().unwrap_or(0);
        // Saturating: `1e-2147483648` is a number f64 parses (as 0).
        return decimals_in(mantissa).saturating_sub(exp).max(0);
    }
    t.split_once('.')
        .map_or(0, |(_, d)| d.trim_end_matches('0').len() as i32)
}

fn check_range(field: &Field, v: &Value) -> Result<(), String> {
    // A number field's value that is not a number (a null from an overflow) never passes.
    if matches!(field.kind, Kind::Int | Kind::Float | Kind::Enum(_)) && !v.is_number() {
        return Err(format!(
            "{} value {v} is not a number; {} is expected",
            field.name,
            field.allowed()
        ));
    }
    if let (Some(r), Some(x)) = (field.range, v.as_f64())
        && !r.contains(x)
    {
        let unit = if field.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", field.unit)
        };
        return Err(format!(
            "{} value {} is outside the allowed {r}{unit}",
            field.name,
            schema::fmt_num(x)
        ));
    }
    if let (Kind::Enum(_), Some(_)) = (field.kind, v.as_i64()) {
        // Field::parse only yields known enum values; numbers from a range may not be.
        let known = match field.kind {
            Kind::Enum(values) => values.iter().any(|e| Some(e.value) == v.as_i64()),
            _ => true,
        };
        if !known {
            return Err(format!(
                "{} value {v} is not one of {}",
                field.name,
                field.allowed()
            ));
        }
    }
    Ok(())
}

/// A short text for a value: enums by label, floats as written, text truncated.
pub fn value_label(field: &Field, v: &Value) -> String {
    match (field.kind, v) {
        (Kind::Enum(values), Value::Number(n)) => values
            .iter()
            .find(|e| n.as_i64() == Some(e.value))
            .map_or_else(|| n.to_string(), |e| e.label.replace(' ', "-")),
        (_, Value::String(s)) => {
            let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
            crate::text::truncate_chars(&one_line, 32)
        }
        (_, other) => other.to_string(),
    }
}

/// Up to three axes crossed: every combination of their values is one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

impl Grid {
    /// Checks the axes: one to three, no field twice, at most [`MAX_CELLS`] cells.
    pub fn new(axes: Vec<Axis>) -> Result<Grid, String> {
        if axes.is_empty() {
            return Err(
                "nothing to vary: give --vary FIELD=VALUES (e.g. --vary seed=1..4)".to_owned(),
            );
        }
        if axes.len() > MAX_AXES {
            let names: Vec<&str> = axes.iter().map(|a| a.field.as_str()).collect();
            return Err(format!(
                "a sweep varies at most {MAX_AXES} fields (rows, columns, pages); got {}: {}",
                axes.len(),
                names.join(", ")
            ));
        }
        for (i, a) in axes.iter().enumerate() {
            if a.is_empty() {
                return Err(format!("{} has no values", a.field));
            }
            if axes[..i].iter().any(|b| b.field == a.field) {
                return Err(format!(
                    "{} is varied twice; give all its values in one --vary {}=...",
                    a.field, a.field
                ));
            }
        }
        let total = axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.len()))
            .filter(|n| *n <= MAX_CELLS);
        if total.is_none() {
            let dims: Vec<String> = axes
                .iter()
                .map(|a| format!("{} {}", a.field, a.len()))
                .collect();
            let product = axes
                .iter()
                .fold(1u128, |n, a| n.saturating_mul(a.len() as u128));
            return Err(format!(
                "the grid has {product} cells ({}); a sweep makes at most {MAX_CELLS} requests",
                dims.join(" x ")
            ));
        }
        Ok(Grid { axes })
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.axes.iter().map(Axis::len).product()
    }

    /// Whether the grid has no cells (never true for a checked grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[rows, cols, pages]`: the first axis's length (or 1), the second's, the third's.
    pub fn shape(&self) -> [usize; 3] {
        let n = |i: usize| self.axes.get(i).map_or(1, Axis::len);
        [n(0), n(1), n(2)]
    }

    /// `[row, col, page]` of a cell.
    pub fn coords(&self, cell: usize) -> [usize; 3] {
        let [rows, cols, _] = self.shape();
        let col = cell % cols;
        let row = (cell / cols) % rows;
        let page = cell / (cols * rows);
        [row, col, page]
    }

    /// The cell at `[row, col, page]`.
    pub fn index(&self, [row, col, page]: [usize; 3]) -> usize {
        let [rows, cols, _] = self.shape();
        (page * rows + row) * cols + col
    }

    /// Each axis's value index for a cell, in axis order.
    pub fn value_indices(&self, cell: usize) -> Vec<usize> {
        let c = self.coords(cell);
        (0..self.axes.len()).map(|i| c[i]).collect()
    }

    /// `(field, value)` of each axis for a cell.
    pub fn values(&self, cell: usize) -> Vec<(&str, &Value)> {
        self.axes
            .iter()
            .zip(self.value_indices(cell))
            .filter_map(|(a, i)| a.values.get(i).map(|v| (a.field.as_str(), v)))
            .collect()
    }

    /// `scale=3.5 seed=2` for a cell.
    pub fn label(&self, cell: usize) -> String {
        self.axes
            .iter()
            .zip(self.value_indices(cell))
            .map(|(a, i)| a.label(i))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The varied values of a cell as a JSON object (`{"seed": 2, "scale": 3.5}`), as stored
    /// in the history entry's tag.
    pub fn values_json(&self, cell: usize) -> Value {
        let mut m = serde_json::Map::new();
        for (f, v) in self.values(cell) {
            m.insert(f.to_owned(), v.clone());
        }
        Value::Object(m)
    }

    /// `base` with the cell's values set.
    pub fn apply(&self, base: &Value, cell: usize) -> Value {
        let mut body = base.clone();
        for (f, v) in self.values(cell) {
            set_path(&mut body, f, v.clone());
        }
        body
    }

    /// Whether `body` already holds the cell's values (what a recorded cell is checked by).
    pub fn matches(&self, body: &Value, cell: usize) -> bool {
        self.values(cell)
            .iter()
            .all(|(f, v)| get_path(body, f) == Some(*v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::default_schema;
    use serde_json::json;

    fn vary(arg: &str) -> Result<Axis, String> {
        parse_vary(default_schema(), arg)
    }

    fn values(arg: &str) -> Vec<Value> {
        vary(arg).expect(arg).values
    }

    fn err(arg: &str) -> String {
        vary(arg).expect_err(arg)
    }

    #[test]
    fn lists_parse_through_the_field() {
        assert_eq!(
            values("scale=2.5,3.5,4.5"),
            vec![json!(2.5), json!(3.5), json!(4.5)]
        );
        assert_eq!(values("seed= 1, 2 ,3"), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(values("use_sr=true,false"), vec![json!(true), json!(false)]);
        assert_eq!(
            values("logo_info.position=top-left,0"),
            vec![json!(2), json!(0)]
        );
        assert_eq!(
            values("prompt=a red fox,a blue jay"),
            vec![json!("a red fox"), json!("a blue jay")]
        );
        // Floats stay floats on the wire.
        assert_eq!(values("scale=3"), vec![json!(3.0)]);
        // Repeats are kept: seed=-1,-1 is two random draws.
        assert_eq!(values("seed=-1,-1"), vec![json!(-1), json!(-1)]);
    }

    #[test]
    fn json_arrays_carry_commas() {
        assert_eq!(
            values(r#"prompt=["a cat, asleep", "a dog"]"#),
            vec![json!("a cat, asleep"), json!("a dog")]
        );
        assert_eq!(values("scale=[2, 3.5]"), vec![json!(2.0), json!(3.5)]);
    }

    #[test]
    fn ranges_are_inclusive_with_step_one() {
        assert_eq!(
            values("seed=1..8"),
            (1..=8).map(Value::from).collect::<Vec<_>>()
        );
        assert_eq!(values("seed=-1..1"), vec![json!(-1), json!(0), json!(1)]);
        assert_eq!(values("seed=4..2"), vec![json!(4), json!(3), json!(2)]);
        assert_eq!(values("seed=5..5"), vec![json!(5)]);
        assert_eq!(
            values("ddim_steps=10..40:10"),
            vec![json!(10), json!(20), json!(30), json!(40)]
        );
        assert_eq!(values("ddim_steps=10..45:10").len(), 4);
        assert_eq!(
            values("scale=1..3"),
            vec![json!(1.0), json!(2.0), json!(3.0)]
        );
        assert_eq!(values("logo_info.position=0..3").len(), 4);
    }

    #[test]
    fn float_steps_do_not_accumulate_error() {
        assert_eq!(
            values("cfg_rescale=0.2..0.6:0.1"),
            vec![json!(0.2), json!(0.3), json!(0.4), json!(0.5), json!(0.6)]
        );
        assert_eq!(values("ref_id_weight=0..1:0.05").last(), Some(&json!(1.0)));
        assert_eq!(values("ref_id_weight=0..1:0.05").len(), 21);
        assert_eq!(values("ref_id_weight=0..1:0.05")[3], json!(0.15));
        // Finer than the field's own step: the spec's decimals win.
        assert_eq!(
            values("scale=1..1.03:0.01"),
            vec![json!(1.0), json!(1.01), json!(1.02), json!(1.03)]
        );
        assert_eq!(
            values("cfg_rescale=0.6..0.2:0.2"),
            vec![json!(0.6), json!(0.4), json!(0.2)]
        );
        assert_eq!(decimals_in("1e-3"), 3);
        assert_eq!(decimals_in("0.250"), 2);
    }

    #[test]
    fn every_error_names_the_field_and_what_is_allowed() {
        let cases: &[(&str, &[&str])] = &[
            ("seed", &["FIELD=VALUES", "\"seed\""]),
            (
                "sed=1..4",
                &["unknown field \"sed\"", "known fields", "seed"],
            ),
            ("seed=", &["seed", "no values", "1..8"]),
            ("seed=  ", &["seed", "no values"]),
            ("seed=1,,2", &["seed", "value 2", "empty"]),
            ("seed=1,2,", &["seed", "value 3", "empty"]),
            ("seed=1.5", &["seed must be a whole number"]),
            ("seed=abc", &["seed must be a whole number", "abc"]),
            ("scale=x", &["scale must be a number"]),
            ("scale=12", &["scale value 12", "outside the allowed 1..10"]),
            ("scale=0.5..2", &["scale value 0.5", "1..10"]),
            ("width=100,512", &["width value 100", "256..768 px"]),
            ("seed=1..", &["seed", "both ends"]),
            ("seed=..4", &["seed", "both ends"]),
            ("seed=1..4:", &["seed", "step", "missing"]),
            ("seed=1..4:0", &["seed", "step \"0\"", "above 0"]),
            ("seed=1..4:-1", &["seed", "above 0", "counts down"]),
            ("seed=1..4:x", &["seed", "step \"x\" is not a number"]),
            ("seed=1..8:0.5", &["seed takes whole numbers", "0.5"]),
            ("seed=1..4,6", &["seed", "mixes a list and a range"]),
            (
                "seed=0..4294967295",
                &["seed", "4294967296 values", "at most 1000"],
            ),
            ("scale=1..x", &["scale must be a number", "x"]),
            (
                "use_sr=yes,maybe",
                &["use_sr must be true or false", "maybe"],
            ),
            ("use_sr=true..false", &["use_sr must be true or false"]),
            (
                "logo_info.position=5",
                &["logo_info.position must be one of", "0=bottom-right"],
            ),
            (
                "logo_info.position=0..5",
                &["logo_info.position must be one of", "\"5\""],
            ),
            ("req_key=a,b", &["req_key is fixed", "cannot be varied"]),
            (
                "image_urls=https://a,https://b",
                &["image_urls", "cannot be varied"],
            ),
            (
                "binary_data_base64=a",
                &["binary_data_base64", "cannot be varied"],
            ),
            (
                "prompt=[1, {}]",
                &["prompt", "strings, numbers or booleans", "object"],
            ),
            ("prompt=[\"a\"", &["prompt", "not one"]),
            ("prompt=[]", &["prompt", "empty"]),
        ];
        for (arg, needles) in cases {
            let e = err(arg);
            for n in *needles {
                assert!(e.contains(n), "--vary {arg}: {e:?} lacks {n:?}");
            }
        }
    }

    fn axis(arg: &str) -> Axis {
        vary(arg).expect(arg)
    }

    #[test]
    fn grids_cross_up_to_three_fields_in_reading_order() {
        let g = Grid::new(vec![axis("seed=1..2"), axis("scale=2.5,3.5,4.5")]).expect("grid");
        assert_eq!(g.len(), 6);
        assert_eq!(g.shape(), [2, 3, 1]);
        assert_eq!(g.coords(4), [1, 1, 0]);
        assert_eq!(g.index([1, 1, 0]), 4);
        assert_eq!(g.label(4), "seed=2 scale=3.5");
        assert_eq!(g.values_json(5), json!({"seed": 2, "scale": 4.5}));
        let body = g.apply(&json!({"seed": -1, "prompt": "p"}), 3);
        assert_eq!(body, json!({"seed": 2, "prompt": "p", "scale": 2.5}));
        assert!(g.matches(&body, 3));
        assert!(!g.matches(&body, 2));

        let g3 = Grid::new(vec![
            axis("seed=1..2"),
            axis("scale=2,3"),
            axis("logo_info.opacity=0.1,0.9"),
        ])
        .expect("grid");
        assert_eq!(g3.shape(), [2, 2, 2]);
        for cell in 0..g3.len() {
            assert_eq!(g3.index(g3.coords(cell)), cell);
        }
        assert_eq!(g3.label(7), "seed=2 scale=3.0 opacity=0.9");
        assert_eq!(g3.apply(&json!({}), 4)["logo_info"]["opacity"], json!(0.9));

        let one = Grid::new(vec![axis("seed=1..5")]).expect("grid");
        assert_eq!(one.shape(), [5, 1, 1]);
        assert_eq!(one.coords(3), [3, 0, 0]);
    }

    #[test]
    fn grid_errors() {
        let e = Grid::new(vec![]).expect_err("empty");
        assert!(e.contains("--vary FIELD=VALUES"), "{e}");
        let e = Grid::new(vec![axis("seed=1,2"), axis("scale=2"), axis("seed=3")])
            .expect_err("duplicate");
        assert!(e.contains("seed is varied twice"), "{e}");
        let e = Grid::new(vec![
            axis("seed=1"),
            axis("scale=2"),
            axis("width=512"),
            axis("height=512"),
        ])
        .expect_err("four");
        assert!(e.contains("at most 3 fields"), "{e}");
        assert!(e.contains("seed, scale, width, height"), "{e}");
        let e = Grid::new(vec![axis("seed=1..100"), axis("ddim_steps=1..11")])
            .expect_err("too many cells");
        assert!(e.contains("1100 cells"), "{e}");
        assert!(e.contains("seed 100 x ddim_steps 11"), "{e}");
        assert!(e.contains("at most 1000"), "{e}");
        assert_eq!(
            Grid::new(vec![axis("seed=1..100"), axis("ddim_steps=1..10")])
                .expect("exactly the cap")
                .len(),
            MAX_CELLS
        );
    }

    #[test]
    fn labels_are_short() {
        let a = axis("logo_info.position=2,3");
        assert_eq!(a.label(0), "position=top-left");
        let p = axis("prompt=a very long prompt that goes on and on about a lighthouse");
        assert!(p.labels[0].chars().count() <= 32, "{:?}", p.labels);
        assert_eq!(axis("scale=3").labels, vec!["3.0"]);
    }
}
