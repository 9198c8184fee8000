//! JSON helpers the schema works with: dotted paths into a body (get, set, remove), numbers as
//! the wire types them and as people read them, and JSON type names.

use serde_json::{Map, Number, Value};

/// A JSON number from an `f64`. Floats stay floats on the wire (`3.0`), as the service types
/// them; non-finite input (which no parser here produces) maps to null.
pub fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Formats a number for ranges and docs: `256`, `0.5`, `4294967295`.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

pub(super) fn decimals_of(step: f64) -> i32 {
    let s = format!("{step}");
    s.split_once('.').map_or(0, |(_, d)| d.len() as i32)
}

/// The JSON type of a value, for error messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(37).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// The value at a dotted path.
pub fn get_path<'a>(body: &'a Value, dotted: &str) -> Option<&'a Value> {
    let segs: Vec<&str> = dotted.split('.').collect();
    get_path_segments(body, &segs)
}

pub(super) fn get_path_segments<'a>(body: &'a Value, segs: &[&str]) -> Option<&'a Value> {
    let mut cur = body;
    for s in segs {
        cur = cur.as_object()?.get(*s)?;
    }
    Some(cur)
}

/// Sets the value at a dotted path, creating (or replacing non-object) parents as needed.
pub fn set_path(body: &mut Value, dotted: &str, value: Value) {
    let segs: Vec<&str> = dotted.split('.').collect();
    set_path_segments(body, &segs, value);
}

pub(super) fn set_path_segments(body: &mut Value, segs: &[&str], value: Value) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = body;
    for s in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map
            .entry((*s).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(map) = cur {
        map.insert((*last).to_owned(), value);
    }
}

/// Removes the value at a dotted path; drops parents that become empty.
pub fn remove_path(body: &mut Value, dotted: &str) -> Option<Value> {
    let segs: Vec<&str> = dotted.split('.').collect();
    let (last, parents) = segs.split_last()?;
    let mut cur = &mut *body;
    for s in parents {
        cur = cur.as_object_mut()?.get_mut(*s)?;
    }
    let removed = cur.as_object_mut()?.shift_remove(*last);
    if let Some(first) = parents.first()
        && get_path(body, first)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        && let Some(map) = body.as_object_mut()
    {
        map.shift_remove(*first);
    }
    removed
}
