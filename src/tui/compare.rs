//! The comparison of two requests' parameters (History `m` then `c`): one row per schema
//! field of either model, then any other top-level field, each with both values as the form
//! shows them. Pure; the renderer draws the rows.

use crate::api::schema::{self, Field, get_path};
use serde_json::Value;

/// One compared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// The field's name (dotted path for nested fields).
    pub name: String,
    /// The marked entry's value (`-` when absent).
    pub a: String,
    /// The selected entry's value (`-` when absent).
    pub b: String,
    /// Whether the two differ.
    pub changed: bool,
}

const ABSENT: &str = "-";

fn show(field: Option<&Field>, v: Option<&Value>) -> String {
    let text = match (field, v) {
        (_, None) => return ABSENT.to_owned(),
        (Some(f), Some(v)) => f.display(v),
        (None, Some(Value::String(s))) => s.clone(),
        (None, Some(v)) => v.to_string(),
    };
    crate::tui::history::one_line(&text)
}

/// A short description of inline base64 images (never the base64 itself).
fn images_text(v: Option<&Value>) -> String {
    let Some(Value::Array(items)) = v else {
        return ABSENT.to_owned();
    };
    items
        .iter()
        .map(|i| match i.as_str() {
            Some(b64) => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(b64.trim().as_bytes());
                let facts = crate::tui::doc::describe_base64(b64);
                let what = facts.map_or_else(
                    || "base64".to_owned(),
                    |f| match f.dims {
                        Some((w, h)) => format!("{} {w}x{h}", f.format),
                        None => f.format.to_owned(),
                    },
                );
                format!("{what} #{}", &hex::encode(digest)[..8])
            }
            None => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parameters of two request bodies side by side, in the schema's order.
pub fn diff_rows(a: &Value, b: &Value) -> Vec<DiffRow> {
    let key = |v: &Value| {
        v.get("req_key")
            .and_then(Value::as_str)
            .and_then(schema::schema_for)
            .unwrap_or_else(schema::default_schema)
    };
    let (sa, sb) = (key(a), key(b));
    let mut names: Vec<&'static str> = sa.fields.iter().map(|f| f.name).collect();
    for f in sb.fields {
        if !names.contains(&f.name) {
            names.push(f.name);
        }
    }
    let mut rows = Vec::new();
    for name in &names {
        let field = sa.field(name).or_else(|| sb.field(name));
        let (va, vb) = (get_path(a, name), get_path(b, name));
        let (ta, tb) = if *name == crate::api::schema::REFERENCE_BASE64 {
            (images_text(va), images_text(vb))
        } else {
            (show(field, va), show(field, vb))
        };
        rows.push(DiffRow {
            name: (*name).to_owned(),
            changed: va != vb,
            a: ta,
            b: tb,
        });
    }
    // Fields the schemas do not know (sent as written from a request file).
    let top = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut extra: Vec<String> = top(a);
    for k in top(b) {
        if !extra.contains(&k) {
            extra.push(k);
        }
    }
    for k in extra {
        let known = names
            .iter()
            .any(|n| *n == k || n.split('.').next() == Some(k.as_str()));
        if known {
            continue;
        }
        let (va, vb) = (a.get(&k), b.get(&k));
        rows.push(DiffRow {
            a: show(None, va),
            b: show(None, vb),
            changed: va != vb,
            name: k,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_are_flagged_and_images_are_described_not_dumped() {
        let a = json!({"req_key": "high_aes_ip_v20", "prompt": "a cat", "seed": 1, "scale": 3.5,
            "binary_data_base64": ["aGVsbG8="], "x_custom": true});
        let b = json!({"req_key": "high_aes_ip_v20", "prompt": "a cat", "seed": 2, "scale": 3.5,
            "binary_data_base64": ["aGVsbG8="]});
        let rows = diff_rows(&a, &b);
        let row = |n: &str| rows.iter().find(|r| r.name == n).expect(n);
        assert!(row("seed").changed);
        assert_eq!((row("seed").a.as_str(), row("seed").b.as_str()), ("1", "2"));
        assert!(!row("prompt").changed);
        assert!(!row("scale").changed);
        let img = row("binary_data_base64");
        assert!(!img.changed);
        assert!(!img.a.contains("aGVsbG8="), "{}", img.a);
        let custom = row("x_custom");
        assert!(custom.changed);
        assert_eq!(custom.b, "-");
        // Schema order: req_key first, then the fields as the schema lists them.
        assert_eq!(rows[0].name, "req_key");
    }
}
