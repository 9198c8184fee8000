//! Request checks in the service's order, each failure mapped to the business code the service
//! answers with. Field types and ranges come from the parameter schema (`api::schema`); this
//! module only decides which code a finding gets.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::api::schema::{
    self, ImageRule, Issue, Kind, MAX_IMAGE_BYTES, REFERENCE_BASE64, REFERENCE_URL, SEED_MAX,
    Schema, get_path, json_type,
};

use super::wire::detailed_message;

/// Why a request is refused: a business code and the envelope message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub code: i64,
    pub message: String,
}

impl Rejection {
    /// A rejection whose message is the code's title followed by `detail`.
    pub fn new(code: i64, detail: impl AsRef<str>) -> Self {
        Self {
            code,
            message: detailed_message(code, detail.as_ref()),
        }
    }
}

/// The reference image as the request carried it (before decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageInput {
    /// The model takes no image.
    None,
    /// Decoded base64 bytes, already known to start like a JPEG or PNG.
    Bytes(Vec<u8>),
    /// A URL (never fetched).
    Url(String),
}

/// The generation parameters of a valid request, defaults filled in from the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    pub width: u32,
    pub height: u32,
    pub use_sr: bool,
    /// `None` for -1 (draw a random seed).
    pub seed: Option<u64>,
    pub scale: f64,
    pub ddim_steps: u32,
    pub cfg_rescale: f64,
    pub ref_ip_weight: f64,
    pub ref_id_weight: f64,
    pub desc_pushback: bool,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub schema: &'static Schema,
    pub image: ImageInput,
    pub params: Params,
}

/// A watermark as the request asked for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WatermarkOpts {
    /// `logo_text_content` when not blank; `None` means the default text for `language`.
    pub text: Option<String>,
    pub language: u8,
    pub position: u8,
    pub opacity: f32,
}

/// How the result images are delivered and marked.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct OutputOpts {
    pub return_url: bool,
    pub watermark: Option<WatermarkOpts>,
}

/// Fields whose findings [`check_generation`] handles itself before the schema pass.
const CHECKED_FIRST: &[&str] = &["", "req_key", "prompt", REFERENCE_BASE64, REFERENCE_URL];

/// Parses a body that must be a JSON object (50204 otherwise).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::new(50204, "the request body is empty"));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Rejection::new(50204, format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Rejection::new(
            50204,
            format!(
                "the request body must be a JSON object, got {}",
                json_type(&other)
            ),
        )),
    }
}

/// The schema named by the body's `req_key`: 50201 when missing, 50204 when not a string,
/// 50400 when unknown.
pub(crate) fn schema_of(body: &Map<String, Value>) -> Result<&'static Schema, Rejection> {
    match body.get("req_key") {
        None | Some(Value::Null) => Err(Rejection::new(50201, "req_key is required")),
        Some(Value::String(key)) => schema::schema_for(key).ok_or_else(|| {
            Rejection::new(
                50400,
                format!(
                    "req_key {key:?} is not a service this account may use (known: {})",
                    schema::known_req_keys()
                ),
            )
        }),
        Some(other) => Err(Rejection::new(
            50204,
            format!("req_key must be a string, got {}", json_type(other)),
        )),
    }
}

/// Checks a generation body (CVProcess, or an async submit when `ignore_output` drops
/// `return_url` and `logo_info` first, as the async API does). The order is the service's:
/// `req_key`, `prompt`, the reference image, then every other field.
pub(crate) fn check_generation(
    body: &Map<String, Value>,
    ignore_output: bool,
) -> Result<Checked, Rejection> {
    let schema = schema_of(body)?;
    match body.get("prompt") {
        None | Some(Value::Null) => return Err(Rejection::new(50201, "prompt is required")),
        Some(Value::String(p)) if p.trim().is_empty() => {
            return Err(Rejection::new(
                50201,
                "prompt is required and must not be empty",
            ));
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(Rejection::new(
                50204,
                format!("prompt must be a string, got {}", json_type(other)),
            ));
        }
    }
    let image = check_image(schema, body)?;

    let mut rest = body.clone();
    if ignore_output {
        for key in schema.async_poll_keys() {
            rest.shift_remove(key);
        }
    }
    let rest = Value::Object(rest);
    let report = schema.validate(&rest);
    if let Some(issue) = report
        .errors()
        .find(|i| !CHECKED_FIRST.contains(&i.field.as_str()))
    {
        return Err(classify(schema, &rest, issue));
    }
    let params = params(schema, &rest);
    check_render_size(&params)?;
    Ok(Checked {
        schema,
        image,
        params,
    })
}

/// Largest side the mock renders, in px after super-resolution. The schemas bound every size
/// the reference gives a range for (at most 768, doubled); for a model whose sizes the
/// reference leaves open (General 3.0: "around 1328") this is the mock's own limit.
pub(crate) const MAX_RENDER_SIDE: u32 = 2048;

/// 50200 for a size the mock will not render: not positive, or over [`MAX_RENDER_SIDE`].
fn check_render_size(p: &Params) -> Result<(), Rejection> {
    let sr = if p.use_sr { 2 } else { 1 };
    for (name, side) in [("width", p.width), ("height", p.height)] {
        let out = side.saturating_mul(sr);
        if side == 0 || out > MAX_RENDER_SIDE {
            return Err(Rejection::new(
                50200,
                format!(
                    "{name} {side}{} is outside what the mock renders: 1..{MAX_RENDER_SIDE} px \
                     a side, after use_sr doubles it",
                    if sr == 2 { " (doubled by use_sr)" } else { "" }
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the output options an async poll carries in `req_json` (`return_url` and
/// `logo_info`: the schema's [`Schema::async_poll_keys`]).
pub(crate) fn check_output_options(
    schema: &Schema,
    opts: &Map<String, Value>,
) -> Result<(), Rejection> {
    let keys = schema.async_poll_keys();
    let mut probe = Map::new();
    for key in &keys {
        if let Some(v) = opts.get(*key) {
            probe.insert((*key).to_owned(), v.clone());
        }
    }
    let probe = Value::Object(probe);
    let report = schema.validate(&probe);
    let issue = report.errors().find(|i| {
        let top = i.field.split('.').next().unwrap_or(&i.field);
        keys.contains(&top)
    });
    match issue {
        Some(issue) => Err(classify(schema, &probe, issue)),
        None => Ok(()),
    }
}

/// The business code of a schema finding: a missing value is 50201, a value of the right JSON
/// type but outside its range or set is 50200, a value of the wrong type is 50204.
fn classify(schema: &Schema, body: &Value, issue: &Issue) -> Rejection {
    let value = get_path(body, &issue.field);
    let kind = schema.field(&issue.field).map(|f| f.kind);
    let is_int = |v: &Value| v.as_i64().is_some() || v.as_u64().is_some();
    let code = match (kind, value) {
        (_, None | Some(Value::Null)) => 50201,
        (Some(Kind::Int | Kind::Enum(_)), Some(v)) if is_int(v) => 50200,
        (Some(Kind::Float), Some(Value::Number(_))) => 50200,
        (Some(Kind::Str | Kind::Text), Some(Value::String(_))) => 50200,
        _ => 50204,
    };
    Rejection::new(code, &issue.message)
}

/// The strings of an image list: `[]` when absent, 50204 when not an array of strings.
fn string_list<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Vec<&'a str>, Rejection> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().ok_or_else(|| {
                    Rejection::new(
                        50204,
                        format!("{name}[{i}] must be a string, got {}", json_type(item)),
                    )
                })
            })
            .collect(),
        Some(other) => Err(Rejection::new(
            50204,
            format!(
                "{name} must be an array of strings, got {}",
                json_type(other)
            ),
        )),
    }
}

/// The one reference image: 50206 none, 50200 more than one, 50207 a `data:` prefix, bad
/// base64 or bytes that are not JPEG/PNG, 50205 over [`MAX_IMAGE_BYTES`] decoded, 50200 a URL
/// that is not http(s). `binary_data_base64` wins over `image_urls`.
fn check_image(schema: &Schema, body: &Map<String, Value>) -> Result<ImageInput, Rejection> {
    if schema.images == ImageRule::NoImage {
        // Not a field of this model: ignored like any unknown field.
        return Ok(ImageInput::None);
    }
    let b64 = string_list(body, REFERENCE_BASE64)?;
    let urls = string_list(body, REFERENCE_URL)?;
    match (b64.as_slice(), urls.as_slice()) {
        ([], []) => Err(Rejection::new(
            50206,
            format!("a reference image is needed in {REFERENCE_BASE64} or {REFERENCE_URL}"),
        )),
        ([_, _, ..], _) => Err(Rejection::new(
            50200,
            format!(
                "exactly one reference image is needed, got {} in {REFERENCE_BASE64}",
                b64.len()
            ),
        )),
        ([], [_, _, ..]) => Err(Rejection::new(
            50200,
            format!(
                "exactly one reference image is needed, got {} in {REFERENCE_URL}",
                urls.len()
            ),
        )),
        ([data], _) => decode_base64_image(data).map(ImageInput::Bytes),
        ([], [url]) => check_url(url).map(ImageInput::Url),
    }
}

fn decode_base64_image(data: &str) -> Result<Vec<u8>, Rejection> {
    let data = data.trim();
    if data.starts_with("data:") {
        return Err(Rejection::new(
            50207,
            format!("{REFERENCE_BASE64}[0] must be bare base64, not a data: URI"),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| {
            Rejection::new(
                50207,
                format!("{REFERENCE_BASE64}[0] is not valid base64: {e}"),
            )
        })?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Rejection::new(
            50205,
            format!(
                "the reference image is {} bytes; at most {MAX_IMAGE_BYTES} bytes (4.7 MB) are allowed",
                bytes.len()
            ),
        ));
    }
    if !(bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n")) {
        return Err(Rejection::new(
            50207,
            "the reference image is not a JPEG or PNG image",
        ));
    }
    Ok(bytes)
}

fn check_url(raw: &str) -> Result<String, Rejection> {
    let url = raw.trim();
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url.to_owned()),
        _ => Err(Rejection::new(
            50200,
            format!(
                "{REFERENCE_URL}[0] {:?} is not an http(s) URL",
                url.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// The value at `name`, or the schema's default for it.
fn value_or_default(schema: &Schema, body: &Value, name: &str) -> Option<Value> {
    get_path(body, name)
        .cloned()
        .or_else(|| schema.field(name)?.default.map(|d| d.to_value()))
}

/// A number at `name`, or the schema's default, or `fallback`.
fn number(schema: &Schema, body: &Value, name: &str, fallback: f64) -> f64 {
    value_or_default(schema, body, name)
        .and_then(|v| v.as_f64())
        .unwrap_or(fallback)
}

/// A boolean at `name`, or the schema's default, or `fallback`.
fn boolean(schema: &Schema, body: &Value, name: &str, fallback: bool) -> bool {
    value_or_default(schema, body, name)
        .and_then(|v| v.as_bool())
        .unwrap_or(fallback)
}

/// Whole-number parameters are range-checked by the schema (sizes without a range by
/// [`check_render_size`]); the casts here only saturate (a negative size becomes 0). A field
/// the model does not take gets the neutral value: no super-resolution, no caption pushback.
fn params(schema: &Schema, body: &Value) -> Params {
    let seed = get_path(body, "seed").and_then(Value::as_i64).unwrap_or(-1);
    Params {
        width: number(schema, body, "width", 512.0) as u32,
        height: number(schema, body, "height", 512.0) as u32,
        use_sr: boolean(schema, body, "use_sr", false),
        seed: u64::try_from(seed).ok().filter(|&s| s <= SEED_MAX as u64),
        scale: render_scale(schema, body),
        ddim_steps: number(schema, body, "ddim_steps", 9.0) as u32,
        cfg_rescale: number(schema, body, "cfg_rescale", 0.7),
        ref_ip_weight: number(schema, body, "ref_ip_weight", 0.7),
        ref_id_weight: number(schema, body, "ref_id_weight", 0.36),
        desc_pushback: boolean(schema, body, "desc_pushback", false),
    }
}

/// `scale` mapped onto the renderer's 1..10 (a model whose scale has another range, like
/// SeedEdit's 0..1, still varies the picture over its whole range).
fn render_scale(schema: &Schema, body: &Value) -> f64 {
    let x = number(schema, body, "scale", 3.5);
    match schema.field("scale").and_then(|f| f.range) {
        Some(r) if r.max > r.min && (r.min, r.max) != (1.0, 10.0) => {
            1.0 + 9.0 * (x - r.min) / (r.max - r.min)
        }
        _ => x,
    }
}

/// `return_url` and `logo_info` of an already checked object. `return_url` defaults to false
/// (images inline as base64), as the service does when it is absent.
pub(crate) fn output_options(schema: &Schema, v: &Map<String, Value>) -> OutputOpts {
    let v = Value::Object(v.clone());
    let return_url = get_path(&v, "return_url")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let add_logo = get_path(&v, "logo_info.add_logo")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let watermark = add_logo.then(|| {
        let small = |name: &str| {
            get_path(&v, name)
                .and_then(Value::as_u64)
                .and_then(|n| u8::try_from(n).ok())
                .unwrap_or(0)
        };
        WatermarkOpts {
            text: get_path(&v, "logo_info.logo_text_content")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            language: small("logo_info.language"),
            position: small("logo_info.position"),
            opacity: number(schema, &v, "logo_info.opacity", 0.3) as f32,
        }
    });
    OutputOpts {
        return_url,
        watermark,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PNG_MAGIC_B64: &str = "iVBORw0KGgo=";

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("test bodies are objects"),
        }
    }

    fn valid() -> Value {
        json!({"req_key": "high_aes_ip_v20", "prompt": "a cat", "image_urls": ["https://e.com/a.jpg"]})
    }

    fn code_of(v: Value) -> (i64, String) {
        let e = check_generation(&body(v), false).expect_err("rejected");
        (e.code, e.message)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = valid();
        schema::set_path(&mut v, key, value);
        v
    }

    #[test]
    fn body_must_be_a_json_object() {
        assert_eq!(parse_object(b"").expect_err("empty").code, 50204);
        assert_eq!(parse_object(b"{nope").expect_err("bad").code, 50204);
        assert_eq!(parse_object(b"[1]").expect_err("array").code, 50204);
        assert_eq!(parse_object(b"\xff\xfe").expect_err("bytes").code, 50204);
        assert!(parse_object(b"{}").is_ok());
    }

    #[test]
    fn valid_body_gets_schema_defaults() {
        let c = check_generation(&body(valid()), false).expect("valid");
        assert_eq!(c.schema.req_key, "high_aes_ip_v20");
        assert_eq!(c.image, ImageInput::Url("https://e.com/a.jpg".into()));
        assert_eq!((c.params.width, c.params.height), (512, 512));
        assert!(c.params.use_sr);
        assert_eq!(c.params.seed, None);
        assert_eq!(c.params.ddim_steps, 9);
        let c = check_generation(&body(with("seed", json!(SEED_MAX))), false).expect("valid");
        assert_eq!(c.params.seed, Some(SEED_MAX as u64));
    }

    #[test]
    fn each_problem_gets_its_code() {
        let mut no_key = valid();
        schema::remove_path(&mut no_key, "req_key");
        assert_eq!(code_of(no_key).0, 50201);
        assert_eq!(code_of(with("req_key", json!("nope"))).0, 50400);
        assert_eq!(code_of(with("req_key", json!(5))).0, 50204);
        let mut no_prompt = valid();
        schema::remove_path(&mut no_prompt, "prompt");
        assert_eq!(code_of(no_prompt).0, 50201);
        assert_eq!(code_of(with("prompt", json!(" "))).0, 50201);
        assert_eq!(code_of(with("prompt", json!(["x"]))).0, 50204);
        assert_eq!(code_of(with("image_urls", json!([]))).0, 50206);
        assert_eq!(
            code_of(with("image_urls", json!(["https://a/1", "https://a/2"]))).0,
            50200
        );
        assert_eq!(code_of(with("image_urls", json!("https://a/1"))).0, 50204);
        assert_eq!(code_of(with("image_urls", json!([1]))).0, 50204);
        assert_eq!(code_of(with("image_urls", json!(["ftp://a/1"]))).0, 50200);
        assert_eq!(
            code_of(with(
                "binary_data_base64",
                json!([PNG_MAGIC_B64, PNG_MAGIC_B64])
            ))
            .0,
            50200
        );
        let (code, msg) = code_of(with(
            "binary_data_base64",
            json!(["data:image/png;base64,iVBORw0KGgo="]),
        ));
        assert_eq!(code, 50207);
        assert!(msg.contains("data:"), "{msg}");
        assert_eq!(
            code_of(with("binary_data_base64", json!(["not base64!"]))).0,
            50207
        );
        assert_eq!(
            code_of(with("binary_data_base64", json!(["aGVsbG8="]))).0,
            50207
        );
        let (code, msg) = code_of(with("width", json!(900)));
        assert_eq!(code, 50200);
        assert!(msg.contains("width 900 is outside 256..768 px"), "{msg}");
        assert_eq!(code_of(with("width", json!("512"))).0, 50204);
        assert_eq!(code_of(with("width", json!(512.5))).0, 50204);
        assert_eq!(code_of(with("seed", json!(1e300))).0, 50204);
        assert_eq!(code_of(with("seed", json!(u64::MAX))).0, 50200);
        assert_eq!(code_of(with("seed", json!(-2))).0, 50200);
        assert_eq!(code_of(with("use_sr", json!("yes"))).0, 50204);
        assert_eq!(code_of(with("logo_info", json!(3))).0, 50204);
        assert_eq!(code_of(with("logo_info.position", json!(9))).0, 50200);
        assert_eq!(code_of(with("logo_info.position", json!("top"))).0, 50204);
        assert_eq!(code_of(with("logo_info.opacity", json!(2.0))).0, 50200);
    }

    /// `s`'s default body with a prompt and, when it takes one, a reference URL.
    fn sibling_body(s: &'static Schema) -> Value {
        let mut b = s.default_body();
        schema::set_path(&mut b, "prompt", json!("a cat"));
        if s.images == ImageRule::ExactlyOne {
            schema::set_path(&mut b, "image_urls", json!(["https://e.com/a.jpg"]));
        }
        b
    }

    #[test]
    fn every_model_accepts_its_defaults_and_each_range_edge_and_refuses_one_past() {
        for s in schema::SCHEMAS {
            let c = check_generation(&body(sibling_body(s)), false)
                .unwrap_or_else(|e| panic!("{}: {e:?}", s.req_key));
            assert_eq!(c.schema.req_key, s.req_key);
            assert_eq!(
                c.image == ImageInput::None,
                s.images == ImageRule::NoImage,
                "{}",
                s.req_key
            );
            for f in s.fields {
                let (Some(range), Some(step)) = (f.range, f.step) else {
                    continue;
                };
                let int = f.kind == Kind::Int;
                let past = if int { 1.0 } else { step.min(0.01) };
                let value = |x: f64| {
                    if int {
                        Value::from(x as i64)
                    } else {
                        schema::float_value(x)
                    }
                };
                for x in [range.min, range.max] {
                    let mut b = sibling_body(s);
                    schema::set_path(&mut b, f.name, value(x));
                    if let Err(e) = check_generation(&body(b), false) {
                        panic!("{}: {} = {x} refused: {e:?}", s.req_key, f.name);
                    }
                }
                for x in [range.min - past, range.max + past] {
                    let mut b = sibling_body(s);
                    schema::set_path(&mut b, f.name, value(x));
                    let (code, msg) = code_of(b);
                    assert_eq!(code, 50200, "{}: {} = {x}: {msg}", s.req_key, f.name);
                    assert!(msg.contains(f.name), "{msg}");
                }
                let mut b = sibling_body(s);
                schema::set_path(&mut b, f.name, json!("text"));
                assert_eq!(code_of(b).0, 50204, "{}: {} mistyped", s.req_key, f.name);
            }
        }
    }

    #[test]
    fn text_to_image_models_ignore_images_and_sizes_are_bounded_by_the_renderer() {
        let g30 = schema::schema_for("high_aes_general_v30l_zt2i").expect("3.0");
        let mut b = sibling_body(g30);
        schema::set_path(&mut b, "image_urls", json!("not even an array"));
        let c = check_generation(&body(b.clone()), false).expect("images ignored");
        assert_eq!(c.image, ImageInput::None);
        assert!(!c.params.use_sr, "3.0 has no super-resolution");
        assert_eq!((c.params.width, c.params.height), (1328, 1328));
        schema::set_path(&mut b, "width", json!(MAX_RENDER_SIDE + 1));
        let (code, msg) = code_of(b.clone());
        assert_eq!(code, 50200);
        assert!(msg.contains("width 2049"), "{msg}");
        schema::set_path(&mut b, "width", json!(-5));
        assert_eq!(code_of(b).0, 50200);
        assert!(crate::mock::MOCK_HELP.contains(&format!("1..{MAX_RENDER_SIDE} px a side")));
        let edit = schema::schema_for("byteedit_v2.0").expect("seededit");
        let mut b = sibling_body(edit);
        schema::remove_path(&mut b, "image_urls");
        assert_eq!(code_of(b).0, 50206, "SeedEdit needs its image");
        let c = check_generation(&body(sibling_body(edit)), false).expect("valid");
        assert!(
            (c.params.scale - 5.5).abs() < 1e-9,
            "0.5 of 0..1 is 5.5 of 1..10"
        );
    }

    #[test]
    fn base64_wins_over_urls_and_size_is_capped() {
        let mut v = with("binary_data_base64", json!([PNG_MAGIC_B64]));
        schema::set_path(&mut v, "image_urls", json!(["https://a/1", "https://a/2"]));
        let c = check_generation(&body(v), false).expect("valid");
        assert!(matches!(c.image, ImageInput::Bytes(_)));
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_IMAGE_BYTES + 1, 0);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&big);
        assert_eq!(code_of(with("binary_data_base64", json!([b64]))).0, 50205);
    }

    #[test]
    fn submit_ignores_output_fields() {
        let v = with("logo_info", json!("not an object"));
        assert!(check_generation(&body(v.clone()), true).is_ok());
        assert_eq!(code_of(v).0, 50204);
    }

    #[test]
    fn output_options_read_logo_info() {
        let s = schema::default_schema();
        let o = output_options(s, &body(json!({})));
        assert_eq!(o, OutputOpts::default());
        let o = output_options(
            s,
            &body(
                json!({"return_url": true, "logo_info": {"add_logo": true, "position": 3, "language": 1, "logo_text_content": "  "}}),
            ),
        );
        assert!(o.return_url);
        let w = o.watermark.expect("watermark");
        assert_eq!((w.text, w.language, w.position), (None, 1, 3));
        assert!((w.opacity - 0.3).abs() < 1e-6);
        assert!(check_output_options(s, &body(json!({"logo_info": {"opacity": 5}}))).is_err());
        assert_eq!(
            check_output_options(s, &body(json!({"return_url": "yes"})))
                .expect_err("mistyped")
                .code,
            50204
        );
        assert!(check_output_options(s, &body(json!({"return_url": true, "extra": 1}))).is_ok());
    }
}
