//! Parameter schemas: one table of field descriptors per `req_key`.
//!
//! This table is the single source for request validation, `--set FIELD=VALUE` parsing, the
//! TUI's parameter form and the generated documentation (`volcv schema`). Nothing else in the
//! crate lists fields by hand.

use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::fmt::{self, Write as _};

/// What a field holds and how it is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "values")]
pub enum Kind {
    /// A single-line string.
    Str,
    /// A multi-line string (the prompt).
    Text,
    /// A JSON integer.
    Int,
    /// A JSON number.
    Float,
    /// A JSON boolean.
    Bool,
    /// A JSON integer from a fixed set of labelled values.
    Enum(&'static [EnumValue]),
    /// An array of strings holding images (bare base64 or URLs).
    ImageList(ImageSource),
}

/// One allowed value of an [`Kind::Enum`] field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EnumValue {
    pub value: i64,
    pub label: &'static str,
}

/// How an image list carries its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// Bare base64 (no `data:` prefix).
    Base64,
    /// Public http(s) URLs.
    Url,
}

/// A default value as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DefaultValue {
    Str(&'static str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl DefaultValue {
    /// The default as a JSON value.
    pub fn to_value(self) -> Value {
        match self {
            DefaultValue::Str(s) => Value::String(s.to_owned()),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Float(f) => float_value(f),
            DefaultValue::Bool(b) => Value::Bool(b),
        }
    }
}

/// An inclusive numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    pub const fn new(min: f64, max: f64) -> Self {
        Self { min, max }
    }

    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }

    pub fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", fmt_num(self.min), fmt_num(self.max))
    }
}

/// The form groups, in the order the editor shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Model,
    Reference,
    Prompt,
    Sampling,
    Size,
    Weights,
    Output,
    Watermark,
}

impl Group {
    /// The heading shown in the form and the docs.
    pub fn title(self) -> &'static str {
        match self {
            Group::Model => "Model",
            Group::Reference => "Reference image",
            Group::Prompt => "Prompt",
            Group::Sampling => "Sampling",
            Group::Size => "Size",
            Group::Weights => "Reference weights",
            Group::Output => "Output",
            Group::Watermark => "Watermark",
        }
    }

    /// Whether the async API takes this group's fields when the result is fetched rather
    /// than when the task is submitted: the output options (`return_url`) and the watermark
    /// (`logo_info`) travel inside `req_json` of `CVSync2AsyncGetResult`, never in
    /// `CVSync2AsyncSubmitTask` (cvprocess-api.md, section 5).
    pub fn async_at_poll(self) -> bool {
        matches!(self, Group::Output | Group::Watermark)
    }
}

/// One request field.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Field {
    /// The JSON path, dotted for nested objects (`logo_info.opacity`).
    pub name: &'static str,
    pub kind: Kind,
    /// Sent when the user gives no value. `None`: not sent unless set.
    pub default: Option<DefaultValue>,
    /// Values outside this range are errors.
    pub range: Option<Range>,
    /// Values inside `range` but outside this one are warnings.
    pub recommended: Option<Range>,
    /// How far one nudge moves a number.
    pub step: Option<f64>,
    /// The value must be present (and, for strings, not blank).
    pub required: bool,
    /// The value is fixed by the schema (`req_key`).
    pub fixed: bool,
    pub unit: &'static str,
    pub group: Group,
    /// One line for the form, `--help` and the docs.
    pub help: &'static str,
}

impl Field {
    const fn new(name: &'static str, kind: Kind, group: Group, help: &'static str) -> Self {
        Self {
            name,
            kind,
            default: None,
            range: None,
            recommended: None,
            step: None,
            required: false,
            fixed: false,
            unit: "",
            group,
            help,
        }
    }
    const fn default(mut self, d: DefaultValue) -> Self {
        self.default = Some(d);
        self
    }
    const fn range(mut self, min: f64, max: f64, step: f64) -> Self {
        self.range = Some(Range::new(min, max));
        self.step = Some(step);
        self
    }
    const fn recommended(mut self, min: f64, max: f64) -> Self {
        self.recommended = Some(Range::new(min, max));
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn fixed(mut self) -> Self {
        self.fixed = true;
        self.required = true;
        self
    }
    const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }
    const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
    /// No range: any value of the field's JSON type is accepted (nudges keep the step).
    const fn no_range(mut self) -> Self {
        self.range = None;
        self.recommended = None;
        self
    }

    /// Whether a named preset keeps this field: every parameter, but not the model
    /// (`req_key`, kept separately), the prompt (the text being generated) or reference images
    /// (content, and possibly large).
    pub fn in_preset(&self) -> bool {
        !self.fixed && !matches!(self.kind, Kind::Text | Kind::ImageList(_))
    }

    /// The path segments of the dotted name.
    pub fn path(&self) -> impl Iterator<Item = &'static str> {
        self.name.split('.')
    }

    /// A short human description of the allowed values, e.g. `256..768 px`, `true|false`.
    pub fn allowed(&self) -> String {
        match self.kind {
            Kind::Bool => "true|false".to_owned(),
            Kind::Enum(values) => values
                .iter()
                .map(|v| format!("{}={}", v.value, v.label))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::ImageList(ImageSource::Base64) => "[bare base64 JPEG/PNG]".to_owned(),
            Kind::ImageList(ImageSource::Url) => "[http(s) URL]".to_owned(),
            Kind::Str | Kind::Text if self.fixed => "fixed".to_owned(),
            Kind::Str | Kind::Text => "text".to_owned(),
            Kind::Int | Kind::Float => match self.range {
                Some(r) if self.unit.is_empty() => r.to_string(),
                Some(r) => format!("{r} {}", self.unit),
                None => {
                    let any = if self.kind == Kind::Int {
                        "any whole number"
                    } else {
                        "any number"
                    };
                    if self.unit.is_empty() {
                        any.to_owned()
                    } else {
                        format!("{any}, {}", self.unit)
                    }
                }
            },
        }
    }

    /// Parses text typed by a user (`--set`, the form) into a JSON value of this field's type.
    /// Range checks are left to [`Schema::validate`], so an out-of-range number still parses and
    /// is reported together with every other problem.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let t = text.trim();
        match self.kind {
            Kind::Str | Kind::Text => Ok(Value::String(text.to_owned())),
            Kind::Int => t
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{} must be a whole number, got {:?}", self.name, text)),
            Kind::Float => match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(float_value(f)),
                _ => Err(format!("{} must be a number, got {:?}", self.name, text)),
            },
            Kind::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "{} must be true or false, got {:?}",
                    self.name, text
                )),
            },
            Kind::Enum(values) => {
                let found = values.iter().find(|v| {
                    t.parse::<i64>().ok() == Some(v.value)
                        || v.label.eq_ignore_ascii_case(t)
                        || v.label.replace(' ', "-").eq_ignore_ascii_case(t)
                });
                match found {
                    Some(v) => Ok(Value::from(v.value)),
                    None => Err(format!(
                        "{} must be one of {}, got {:?}",
                        self.name,
                        self.allowed(),
                        text
                    )),
                }
            }
            Kind::ImageList(_) => {
                if t.starts_with('[') {
                    let v: Value = serde_json::from_str(t).map_err(|e| {
                        format!("{} must be a JSON array of strings: {e}", self.name)
                    })?;
                    match &v {
                        Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
                        _ => Err(format!("{} must be a JSON array of strings", self.name)),
                    }
                } else if t.is_empty() {
                    Ok(Value::Array(Vec::new()))
                } else {
                    Ok(Value::Array(vec![Value::String(t.to_owned())]))
                }
            }
        }
    }

    /// Formats a value of this field for display in a form or a table.
    pub fn display(&self, v: &Value) -> String {
        match (self.kind, v) {
            (Kind::Enum(values), Value::Number(n)) => {
                match values.iter().find(|e| n.as_i64() == Some(e.value)) {
                    Some(e) => format!("{} ({})", e.value, e.label),
                    None => n.to_string(),
                }
            }
            (_, Value::String(s)) => s.clone(),
            (Kind::ImageList(_), Value::Array(items)) => match items.len() {
                0 => "(none)".to_owned(),
                1 => items[0]
                    .as_str()
                    .map(|s| {
                        if s.len() > 60 {
                            format!("<{} chars>", s.len())
                        } else {
                            s.to_owned()
                        }
                    })
                    .unwrap_or_else(|| "?".to_owned()),
                n => format!("({n} images)"),
            },
            (_, v) => v.to_string(),
        }
    }

    /// Moves a number by `steps` times its step and clamps it to the range; toggles a bool and
    /// cycles an enum (by the sign of `steps`). Returns `None` for fields that do not nudge.
    pub fn nudge(&self, current: Option<&Value>, steps: i32) -> Option<Value> {
        let current = current
            .cloned()
            .or_else(|| self.default.map(DefaultValue::to_value));
        match self.kind {
            Kind::Int | Kind::Float => {
                let step = self.step?;
                let now = current.as_ref().and_then(Value::as_f64).unwrap_or(0.0);
                let mut next = now + step * f64::from(steps);
                if let Some(r) = self.range {
                    next = r.clamp(next);
                }
                if self.kind == Kind::Int {
                    // Integer steps: round so repeated nudges never drift.
                    Some(Value::from(next.round() as i64))
                } else {
                    // Snap to the step grid to avoid 0.30000000000000004.
                    let snapped = (next / step).round() * step;
                    let decimals = decimals_of(step);
                    let factor = 10f64.powi(decimals);
                    Some(float_value((snapped * factor).round() / factor))
                }
            }
            Kind::Bool => Some(Value::Bool(
                !current.as_ref().and_then(Value::as_bool).unwrap_or(false),
            )),
            Kind::Enum(values) => {
                let now = current.as_ref().and_then(Value::as_i64);
                let idx = values
                    .iter()
                    .position(|v| Some(v.value) == now)
                    .unwrap_or(0);
                let n = values.len() as i64;
                let next = (idx as i64 + i64::from(steps)).rem_euclid(n);
                values.get(next as usize).map(|v| Value::from(v.value))
            }
            _ => None,
        }
    }
}

/// How many reference images a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRule {
    /// Exactly one, through `binary_data_base64` or `image_urls`.
    ExactlyOne,
    /// None at all.
    NoImage,
}

impl ImageRule {
    /// One line for the docs.
    pub fn describe(self) -> &'static str {
        match self {
            ImageRule::ExactlyOne => {
                "exactly one, in binary_data_base64 (bare base64) or image_urls (a public URL)"
            }
            ImageRule::NoImage => "none (binary_data_base64 and image_urls are not sent)",
        }
    }
}

/// The request field that carries a reference image as bare base64; it wins over
/// [`REFERENCE_URL`] when both are sent. A response carries its result images in fields of the
/// same two names.
pub const REFERENCE_BASE64: &str = BINARY_DATA_BASE64.name;

/// The request field that carries a reference image as a public http(s) URL.
pub const REFERENCE_URL: &str = IMAGE_URLS.name;

/// Both reference fields, base64 first (the one the service uses when both are set).
pub const REFERENCE_FIELDS: [&str; 2] = [REFERENCE_BASE64, REFERENCE_URL];

fn is_image_field(name: &str) -> bool {
    REFERENCE_FIELDS.contains(&name)
}

/// The fields of one `req_key`.
#[derive(Debug, Serialize)]
pub struct Schema {
    pub req_key: &'static str,
    pub title: &'static str,
    pub summary: &'static str,
    pub images: ImageRule,
    pub fields: &'static [Field],
}

const LOGO_POSITIONS: &[EnumValue] = &[
    EnumValue {
        value: 0,
        label: "bottom-right",
    },
    EnumValue {
        value: 1,
        label: "bottom-left",
    },
    EnumValue {
        value: 2,
        label: "top-left",
    },
    EnumValue {
        value: 3,
        label: "top-right",
    },
];

const LOGO_LANGUAGES: &[EnumValue] = &[
    EnumValue {
        value: 0,
        label: "Chinese",
    },
    EnumValue {
        value: 1,
        label: "English",
    },
];

/// Largest value of a seed: 2^32 - 1.
pub const SEED_MAX: i64 = 4_294_967_295;

/// Decoded size limit of one reference image, in bytes (4.7 MB).
pub const MAX_IMAGE_BYTES: usize = 4_700_000;

use Group as G;
use Kind as K;

// Fields shared by several models. `high_aes_ip_v20`'s table (section 2 of the reference) is
// the one place most of them are defined; the sibling models of section 6 are described there
// only by how they differ, so a sibling takes a shared field as defined here unless the
// reference says otherwise, and its own fields exactly as far as the reference describes them.

const fn req_key(key: &'static str) -> Field {
    Field::new(
        "req_key",
        K::Str,
        G::Model,
        "Algorithm selector; fixed for this model.",
    )
    .default(DefaultValue::Str(key))
    .fixed()
}

const BINARY_DATA_BASE64: Field = Field::new(
    "binary_data_base64",
    K::ImageList(ImageSource::Base64),
    G::Reference,
    "The reference image as bare base64 (no data: prefix); wins over image_urls.",
);

const IMAGE_URLS: Field = Field::new(
    "image_urls",
    K::ImageList(ImageSource::Url),
    G::Reference,
    "The reference image as a public URL.",
);

const PROMPT: Field = Field::new(
    "prompt",
    K::Text,
    G::Prompt,
    "What to generate, in Chinese or English.",
)
.required();

const SEED: Field = Field::new(
    "seed",
    K::Int,
    G::Sampling,
    "-1 draws a random seed; a fixed seed with identical parameters repeats the image.",
)
.default(DefaultValue::Int(-1))
.range(-1.0, SEED_MAX as f64, 1.0);

const SCALE: Field = Field::new(
    "scale",
    K::Float,
    G::Sampling,
    "How strongly the text steers the result.",
)
.default(DefaultValue::Float(3.5))
.range(1.0, 10.0, 0.1);

const DDIM_STEPS: Field = Field::new(
    "ddim_steps",
    K::Int,
    G::Sampling,
    "Diffusion steps; keep low, high values time out.",
)
.default(DefaultValue::Int(9))
.range(1.0, 200.0, 1.0);

const WIDTH: Field = Field::new(
    "width",
    K::Int,
    G::Size,
    "Width before super-resolution; far from 512 hurts quality and latency.",
)
.default(DefaultValue::Int(512))
.range(256.0, 768.0, 8.0)
.unit("px");

const HEIGHT: Field = Field::new(
    "height",
    K::Int,
    G::Size,
    "Height before super-resolution; far from 512 hurts quality and latency.",
)
.default(DefaultValue::Int(512))
.range(256.0, 768.0, 8.0)
.unit("px");

const USE_SR: Field = Field::new(
    "use_sr",
    K::Bool,
    G::Size,
    "Built-in super-resolution: output width and height are doubled.",
)
.default(DefaultValue::Bool(true));

const RETURN_URL: Field = Field::new(
    "return_url",
    K::Bool,
    G::Output,
    "true: signed URLs in image_urls (they expire); false: images as base64.",
)
.default(DefaultValue::Bool(true));

const LOGO_ADD: Field = Field::new(
    "logo_info.add_logo",
    K::Bool,
    G::Watermark,
    "Draw a visible watermark.",
)
.default(DefaultValue::Bool(false));

const LOGO_POSITION: Field = Field::new(
    "logo_info.position",
    K::Enum(LOGO_POSITIONS),
    G::Watermark,
    "Corner of the watermark.",
)
.default(DefaultValue::Int(0));

const LOGO_LANGUAGE: Field = Field::new(
    "logo_info.language",
    K::Enum(LOGO_LANGUAGES),
    G::Watermark,
    "Language of the default watermark text (AI生成 / Generated by AI).",
)
.default(DefaultValue::Int(0));

const LOGO_OPACITY: Field = Field::new(
    "logo_info.opacity",
    K::Float,
    G::Watermark,
    "Watermark opacity; 1 is opaque.",
)
.default(DefaultValue::Float(0.3))
.range(0.0, 1.0, 0.05);

const LOGO_TEXT: Field = Field::new(
    "logo_info.logo_text_content",
    K::Str,
    G::Watermark,
    "Custom watermark text (replaces the default text).",
)
.default(DefaultValue::Str("This is a visible watermark"));

/// `use_pre_llm` as section 6 names it (General 2.0 Pro, 2.1): no default or values given.
const USE_PRE_LLM: Field = Field::new(
    "use_pre_llm",
    K::Bool,
    G::Prompt,
    "Let the service's language model expand the prompt first. The reference gives no \
     default: not sent unless set, so the service decides.",
);

const HIGH_AES_IP_V20_FIELDS: &[Field] = &[
    req_key("high_aes_ip_v20"),
    BINARY_DATA_BASE64,
    IMAGE_URLS,
    PROMPT,
    Field::new(
        "desc_pushback",
        K::Bool,
        G::Weights,
        "Caption the reference image and feed the caption into generation (more stable).",
    )
    .default(DefaultValue::Bool(true)),
    SEED,
    SCALE,
    DDIM_STEPS,
    WIDTH,
    HEIGHT,
    Field::new(
        "cfg_rescale",
        K::Float,
        G::Sampling,
        "Affects tone, exposure and contrast.",
    )
    .default(DefaultValue::Float(0.7))
    .range(0.0, 1.0, 0.05),
    Field::new(
        "ref_ip_weight",
        K::Float,
        G::Weights,
        "Weight of the reference subject's whole appearance.",
    )
    .default(DefaultValue::Float(0.7))
    .range(0.0, 1.0, 0.05),
    Field::new(
        "ref_id_weight",
        K::Float,
        G::Weights,
        "Weight of the reference face identity.",
    )
    .default(DefaultValue::Float(0.36))
    .range(0.0, 1.0, 0.02)
    .recommended(0.2, 0.4),
    USE_SR,
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `high_aes_ip_v20`: General 2.0 character feature retention.
pub static HIGH_AES_IP_V20: Schema = Schema {
    req_key: "high_aes_ip_v20",
    title: "General 2.0 character feature retention",
    summary: "Generates an image whose subject looks like the subject of one reference image \
              and that follows the prompt.",
    images: ImageRule::ExactlyOne,
    fields: HIGH_AES_IP_V20_FIELDS,
};

const HIGH_AES_GENERAL_V20_FIELDS: &[Field] = &[
    req_key("high_aes_general_v20"),
    PROMPT,
    Field::new(
        "model_version",
        K::Str,
        G::Model,
        "Model version. The reference gives only \"general_v2.0\"; any string is accepted \
         and sent as is.",
    )
    .default(DefaultValue::Str("general_v2.0")),
    SEED,
    SCALE,
    DDIM_STEPS,
    WIDTH
        .range(256.0, 680.0, 8.0)
        .help("Width before super-resolution."),
    HEIGHT
        .range(256.0, 680.0, 8.0)
        .help("Height before super-resolution."),
    USE_SR,
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `high_aes_general_v20`: General 2.0 text-to-image.
pub static HIGH_AES_GENERAL_V20: Schema = Schema {
    req_key: "high_aes_general_v20",
    title: "General 2.0 text-to-image",
    summary: "Generates an image from the prompt alone (no reference image); width and height \
              256..680. Fields the reference does not describe for this model (seed, scale, \
              ddim_steps, use_sr, return_url, logo_info) are as for high_aes_ip_v20.",
    images: ImageRule::NoImage,
    fields: HIGH_AES_GENERAL_V20_FIELDS,
};

const HIGH_AES_GENERAL_V20_L_FIELDS: &[Field] = &[
    req_key("high_aes_general_v20_L"),
    PROMPT,
    USE_PRE_LLM,
    Field::new(
        "model_version",
        K::Str,
        G::Model,
        "Model version. The reference gives only \"general_v2.0_L\"; any string is accepted \
         and sent as is.",
    )
    .default(DefaultValue::Str("general_v2.0_L")),
    Field::new(
        "req_schedule_conf",
        K::Str,
        G::Model,
        "Scheduling configuration. The reference names the field but gives no values or \
         default: any string is accepted, not sent unless set.",
    ),
    SEED,
    SCALE,
    DDIM_STEPS,
    WIDTH.help("Width before super-resolution."),
    HEIGHT.help("Height before super-resolution."),
    USE_SR,
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `high_aes_general_v20_L`: General 2.0 Pro.
pub static HIGH_AES_GENERAL_V20_L: Schema = Schema {
    req_key: "high_aes_general_v20_L",
    title: "General 2.0 Pro text-to-image",
    summary: "Generates an image from the prompt alone (no reference image); width and height \
              256..768. Fields the reference does not describe for this model (seed, scale, \
              ddim_steps, use_sr, return_url, logo_info) are as for high_aes_ip_v20.",
    images: ImageRule::NoImage,
    fields: HIGH_AES_GENERAL_V20_L_FIELDS,
};

const HIGH_AES_GENERAL_V21_L_FIELDS: &[Field] = &[
    req_key("high_aes_general_v21_L"),
    PROMPT,
    USE_PRE_LLM,
    SEED,
    SCALE,
    DDIM_STEPS.default(DefaultValue::Int(25)),
    WIDTH.help("Width before super-resolution."),
    HEIGHT.help("Height before super-resolution."),
    USE_SR,
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `high_aes_general_v21_L`: General 2.1 text-to-image.
pub static HIGH_AES_GENERAL_V21_L: Schema = Schema {
    req_key: "high_aes_general_v21_L",
    title: "General 2.1 text-to-image",
    summary: "Generates an image from the prompt alone (no reference image); width and height \
              256..768, ddim_steps 25 by default. Fields the reference does not describe for \
              this model (seed, scale, ddim_steps' range, use_sr, return_url, logo_info) are \
              as for high_aes_ip_v20.",
    images: ImageRule::NoImage,
    fields: HIGH_AES_GENERAL_V21_L_FIELDS,
};

const HIGH_AES_GENERAL_V30L_ZT2I_FIELDS: &[Field] = &[
    req_key("high_aes_general_v30l_zt2i"),
    PROMPT,
    SEED,
    SCALE.default(DefaultValue::Float(2.5)),
    WIDTH.default(DefaultValue::Int(1328)).no_range().help(
        "Output width. The reference gives no range, only sizes around 1328: any whole \
               number is accepted.",
    ),
    HEIGHT.default(DefaultValue::Int(1328)).no_range().help(
        "Output height. The reference gives no range, only sizes around 1328: any whole \
               number is accepted.",
    ),
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `high_aes_general_v30l_zt2i`: General 3.0 text-to-image.
pub static HIGH_AES_GENERAL_V30L_ZT2I: Schema = Schema {
    req_key: "high_aes_general_v30l_zt2i",
    title: "General 3.0 text-to-image",
    summary: "Generates an image from the prompt alone (no reference image); no ddim_steps or \
              use_sr, scale 2.5 by default, sizes around 1328. Fields the reference does not \
              describe for this model (seed, scale's range, return_url, logo_info) are as for \
              high_aes_ip_v20.",
    images: ImageRule::NoImage,
    fields: HIGH_AES_GENERAL_V30L_ZT2I_FIELDS,
};

const BYTEEDIT_V2_0_FIELDS: &[Field] = &[
    req_key("byteedit_v2.0"),
    BINARY_DATA_BASE64
        .help("The image to edit as bare base64 (no data: prefix); wins over image_urls."),
    IMAGE_URLS.help("The image to edit as a public URL."),
    PROMPT.help("The edit instruction, in Chinese or English."),
    Field::new(
        "negative_prompt",
        K::Str,
        G::Prompt,
        "What the result should not show. The reference gives no default: any string is \
         accepted, not sent unless set.",
    ),
    SEED,
    SCALE
        .default(DefaultValue::Float(0.5))
        .range(0.0, 1.0, 0.05)
        .help("How strongly the instruction steers the edit."),
    RETURN_URL,
    LOGO_ADD,
    LOGO_POSITION,
    LOGO_LANGUAGE,
    LOGO_OPACITY,
    LOGO_TEXT,
];

/// `byteedit_v2.0`: SeedEdit 2.0 instruction editing.
pub static BYTEEDIT_V2_0: Schema = Schema {
    req_key: "byteedit_v2.0",
    title: "SeedEdit 2.0 instruction edit",
    summary: "Edits one image as the prompt instructs; scale 0..1, 0.5 by default. Fields the \
              reference does not describe for this model (seed, return_url, logo_info) are as \
              for high_aes_ip_v20.",
    images: ImageRule::ExactlyOne,
    fields: BYTEEDIT_V2_0_FIELDS,
};

/// Every schema volcv knows, the default first.
pub static SCHEMAS: &[&Schema] = &[
    &HIGH_AES_IP_V20,
    &HIGH_AES_GENERAL_V20,
    &HIGH_AES_GENERAL_V20_L,
    &HIGH_AES_GENERAL_V21_L,
    &HIGH_AES_GENERAL_V30L_ZT2I,
    &BYTEEDIT_V2_0,
];

/// The schema for a `req_key`.
pub fn schema_for(req_key: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().copied().find(|s| s.req_key == req_key)
}

/// The schema used when nothing else is chosen.
pub fn default_schema() -> &'static Schema {
    &HIGH_AES_IP_V20
}

/// The names of every known `req_key`, for error messages.
pub fn known_req_keys() -> String {
    SCHEMAS
        .iter()
        .map(|s| s.req_key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every schema's Markdown table, each under a heading (the README's parameter reference).
pub fn markdown_all() -> String {
    SCHEMAS
        .iter()
        .map(|s| format!("### {} (`{}`)\n\n{}", s.title, s.req_key, s.markdown()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A request body moved to another model by [`switch_schema`].
#[derive(Debug, Clone, PartialEq)]
pub struct Switched {
    /// The body for the target model, normalized (the shape that goes on the wire).
    pub body: Value,
    /// Fields the target model does not take, with the values they had, in body order. They
    /// are not in `body`; a UI can tell the user, or keep them to restore on switching back.
    pub dropped: Vec<(String, Value)>,
    /// Fields set to the target model's default: ones the body lacked, and ones that still
    /// held the previous model's default (an untouched default follows the model).
    pub defaulted: Vec<&'static str>,
}

/// Moves `body` to the `to` model: `req_key` becomes `to`'s; fields `to` takes keep their
/// values (out-of-range values too, so that validation shows them rather than losing a user's
/// edit), except that a value still equal to the previous model's default becomes `to`'s
/// default; fields only other models take are dropped and reported; fields no model knows are
/// kept; every default of `to` the body lacks is filled in.
pub fn switch_schema(body: &Value, to: &'static Schema) -> Switched {
    let from = body
        .get("req_key")
        .and_then(Value::as_str)
        .and_then(schema_for);
    let mut out = match body {
        Value::Object(_) => body.clone(),
        _ => Value::Object(Map::new()),
    };
    let mut dropped = Vec::new();
    let keys: Vec<String> = out
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for k in keys {
        if to.is_foreign(&k) {
            if let Some(v) = remove_path(&mut out, &k) {
                dropped.push((k, v));
            }
            continue;
        }
        let inner: Vec<String> = match out.get(&k) {
            Some(Value::Object(m)) if to.has_object(&k) => m.keys().cloned().collect(),
            _ => continue,
        };
        for ik in inner {
            let dotted = format!("{k}.{ik}");
            if to.is_foreign(&dotted)
                && let Some(v) = remove_path(&mut out, &dotted)
            {
                dropped.push((dotted, v));
            }
        }
    }
    set_path(&mut out, "req_key", Value::String(to.req_key.to_owned()));
    let mut defaulted = Vec::new();
    for f in to.fields {
        let Some(target_default) = f.default.map(DefaultValue::to_value) else {
            continue;
        };
        if f.fixed {
            continue;
        }
        let follow = match get_path(&out, f.name) {
            None | Some(Value::Null) => true,
            Some(v) => from.is_some_and(|from| {
                !std::ptr::eq(from, to)
                    && from
                        .field(f.name)
                        .and_then(|old| old.default)
                        .is_some_and(|d| d.to_value() == *v && *v != target_default)
            }),
        };
        if follow {
            set_path(&mut out, f.name, target_default);
            defaulted.push(f.name);
        }
    }
    Switched {
        body: to.normalize(&out),
        dropped,
        defaulted,
    }
}

/// How bad a validation finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Sent anyway; shown to the user.
    Warning,
    /// Blocks sending.
    Error,
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{tag}: {}", self.message)
    }
}

/// Every problem found in a request body at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub issues: Vec<Issue>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }
    /// The findings for one field.
    pub fn for_field<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Issue> {
        self.issues.iter().filter(move |i| i.field == name)
    }
    fn error(&mut self, field: &str, message: String) {
        self.issues.push(Issue {
            field: field.to_owned(),
            severity: Severity::Error,
            message,
        });
    }
    fn warn(&mut self, field: &str, message: String) {
        self.issues.push(Issue {
            field: field.to_owned(),
            severity: Severity::Warning,
            message,
        });
    }
}

impl Schema {
    /// The field with this dotted name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields in form order: grouped, in table order within a group.
    pub fn grouped(&self) -> Vec<(Group, Vec<&'static Field>)> {
        let mut groups: Vec<(Group, Vec<&'static Field>)> = Vec::new();
        let mut order: Vec<Group> = self.fields.iter().map(|f| f.group).collect();
        order.sort();
        order.dedup();
        for g in order {
            groups.push((g, self.fields.iter().filter(|f| f.group == g).collect()));
        }
        groups
    }

    /// The top-level body keys the async API takes at polling (inside `req_json`), in schema
    /// order and without repeats: `return_url`, `logo_info` (see [`Group::async_at_poll`]).
    pub fn async_poll_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = Vec::new();
        for f in self.fields.iter().filter(|f| f.group.async_at_poll()) {
            let top = f.path().next().unwrap_or(f.name);
            if !keys.contains(&top) {
                keys.push(top);
            }
        }
        keys
    }

    /// A field name from user input, with a helpful error naming the known fields.
    pub fn lookup(&self, name: &str) -> Result<&'static Field, String> {
        self.field(name).ok_or_else(|| {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
            format!(
                "unknown field {name:?} for {}; known fields: {}",
                self.req_key,
                names.join(", ")
            )
        })
    }

    /// The request body with every default, in the table's order.
    pub fn default_body(&self) -> Value {
        let mut body = Value::Object(Map::new());
        for f in self.fields {
            if let Some(d) = f.default {
                set_path(&mut body, f.name, d.to_value());
            }
        }
        body
    }

    /// Applies `FIELD=VALUE` (as given to `--set`) to a body.
    pub fn apply_set(&self, body: &mut Value, assignment: &str) -> Result<(), String> {
        let (name, text) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set takes FIELD=VALUE, got {assignment:?}"))?;
        let field = self.lookup(name.trim())?;
        let value = field.parse(text)?;
        set_path(body, field.name, value);
        Ok(())
    }

    /// The body with known fields in table order (nested objects too) and unknown fields after
    /// them in their original order. This is the shape that goes on the wire. Fields that
    /// another known model takes but this one does not (left over from a model switch, a
    /// preset or a request written for another model) are left out: they are never sent.
    /// Fields no model knows are kept, as the service may have added them.
    pub fn normalize(&self, body: &Value) -> Value {
        let Some(obj) = body.as_object() else {
            return body.clone();
        };
        let mut out = Value::Object(Map::new());
        for f in self.fields {
            if let Some(v) = get_path(body, f.name) {
                set_path(&mut out, f.name, v.clone());
            }
        }
        // Unknown top-level keys and unknown keys inside known objects keep their place after;
        // fields only other models take are left out.
        for (k, v) in obj {
            match out.get(k) {
                None if self.is_foreign(k) => {}
                None => set_path_segments(&mut out, &[k.as_str()], v.clone()),
                Some(Value::Object(_)) => {
                    if let Value::Object(inner) = v {
                        for (ik, iv) in inner {
                            if get_path_segments(&out, &[k.as_str(), ik.as_str()]).is_none()
                                && !self.is_foreign(&format!("{k}.{ik}"))
                            {
                                set_path_segments(&mut out, &[k.as_str(), ik.as_str()], iv.clone());
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Checks a body against the table and reports every problem at once. Errors block sending;
    /// warnings do not.
    pub fn validate(&self, body: &Value) -> Report {
        let mut r = Report::default();
        let Some(obj) = body.as_object() else {
            r.error(
                "",
                format!(
                    "the request body must be a JSON object, got {}",
                    json_type(body)
                ),
            );
            return r;
        };
        for f in self.fields {
            match get_path(body, f.name) {
                None | Some(Value::Null) => {
                    if f.required {
                        r.error(f.name, format!("{} is required", f.name));
                    }
                }
                Some(v) => self.check_value(f, v, &mut r),
            }
        }
        self.check_images(body, &mut r);
        // Unknown fields are sent as they are, with a warning (the service may ignore them).
        // Fields only other models take are not sent, with a warning.
        for (k, v) in obj {
            match (self.fields.iter().any(|f| f.name == k), v) {
                (true, _) => {}
                (false, _) if self.images == ImageRule::NoImage && is_image_field(k) => {
                    // Reported once by check_images.
                }
                (false, _) if self.is_foreign(k) => r.warn(k, self.not_taken(k)),
                (false, Value::Object(inner)) if self.has_object(k) => {
                    for ik in inner.keys() {
                        let dotted = format!("{k}.{ik}");
                        if self.field(&dotted).is_some() {
                            continue;
                        }
                        if self.is_foreign(&dotted) {
                            r.warn(&dotted, self.not_taken(&dotted));
                        } else {
                            r.warn(
                                &dotted,
                                format!("{dotted} is not a field of {}; sent as is", self.req_key),
                            );
                        }
                    }
                }
                (false, _) if self.has_object(k) => {
                    r.error(k, format!("{k} must be an object, got {}", json_type(v)));
                }
                (false, _) => r.warn(
                    k,
                    format!("{k} is not a field of {}; sent as is", self.req_key),
                ),
            }
        }
        r
    }

    /// Whether another known model takes the dotted field (or object) `name` and this one does
    /// not: such a field is never sent for this model.
    pub fn is_foreign(&self, name: &str) -> bool {
        self.field(name).is_none()
            && !self.has_object(name)
            && SCHEMAS
                .iter()
                .any(|s| s.field(name).is_some() || s.has_object(name))
    }

    fn not_taken(&self, name: &str) -> String {
        let takers: Vec<&str> = SCHEMAS
            .iter()
            .filter(|s| s.field(name).is_some() || s.has_object(name))
            .map(|s| s.req_key)
            .collect();
        format!(
            "{name} is not a field of {} (only of {}); it is not sent",
            self.req_key,
            takers.join(", ")
        )
    }

    fn has_object(&self, key: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.split_once('.').is_some_and(|(head, _)| head == key))
    }

    fn check_value(&self, f: &Field, v: &Value, r: &mut Report) {
        let name = f.name;
        match f.kind {
            Kind::Str | Kind::Text => match v.as_str() {
                None => r.error(
                    name,
                    format!("{name} must be a string, got {}", json_type(v)),
                ),
                Some(s) => {
                    if f.required && s.trim().is_empty() {
                        r.error(name, format!("{name} is required and must not be empty"));
                    }
                    if f.fixed
                        && let Some(DefaultValue::Str(expected)) = f.default
                        && s != expected
                    {
                        r.error(
                            name,
                            format!("{name} must be {expected:?} for this schema, got {s:?}"),
                        );
                    }
                }
            },
            Kind::Bool => {
                if !v.is_boolean() {
                    r.error(
                        name,
                        format!("{name} must be true or false, got {}", short_json(v)),
                    );
                }
            }
            Kind::Int => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    self.check_range(f, x, &n.to_string(), r);
                }
                Value::Number(n) => {
                    r.error(name, format!("{name} must be a whole number, got {n}"));
                }
                _ => r.error(
                    name,
                    format!("{name} must be a whole number, got {}", short_json(v)),
                ),
            },
            Kind::Float => match v {
                Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    self.check_range(f, x, &n.to_string(), r);
                }
                _ => r.error(
                    name,
                    format!("{name} must be a number, got {}", short_json(v)),
                ),
            },
            Kind::Enum(values) => {
                let ok = v
                    .as_i64()
                    .is_some_and(|x| values.iter().any(|e| e.value == x));
                if !ok {
                    r.error(
                        name,
                        format!("{name} {} is not one of {}", short_json(v), f.allowed()),
                    );
                }
            }
            Kind::ImageList(source) => match v.as_array() {
                None => r.error(
                    name,
                    format!("{name} must be an array of strings, got {}", json_type(v)),
                ),
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let Some(s) = item.as_str() else {
                            r.error(
                                name,
                                format!("{name}[{i}] must be a string, got {}", json_type(item)),
                            );
                            continue;
                        };
                        match source {
                            ImageSource::Base64 => check_base64_image(name, i, s, r),
                            ImageSource::Url => check_url(name, i, s, r),
                        }
                    }
                }
            },
        }
    }

    fn check_range(&self, f: &Field, x: f64, shown: &str, r: &mut Report) {
        let name = f.name;
        if let Some(range) = f.range
            && !range.contains(x)
        {
            r.error(
                name,
                format!("{name} {shown} is outside {}", with_unit(range, f.unit)),
            );
            return;
        }
        if let Some(rec) = f.recommended
            && !rec.contains(x)
        {
            r.warn(
                name,
                format!(
                    "{name} {shown} is outside the recommended {}",
                    with_unit(rec, f.unit)
                ),
            );
        }
    }

    fn check_images(&self, body: &Value, r: &mut Report) {
        let count = |name: &str| {
            get_path(body, name)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let b64 = count(REFERENCE_BASE64);
        let urls = count(REFERENCE_URL);
        match self.images {
            ImageRule::ExactlyOne => {
                if b64 == 0 && urls == 0 {
                    r.error(
                        REFERENCE_URL,
                        format!(
                            "exactly one reference image is needed ({REFERENCE_BASE64} or \
                             {REFERENCE_URL}), got none"
                        ),
                    );
                } else if b64 > 1 {
                    r.error(
                        REFERENCE_BASE64,
                        format!("exactly one reference image is needed, got {b64}"),
                    );
                } else if b64 == 0 && urls > 1 {
                    r.error(
                        REFERENCE_URL,
                        format!("exactly one reference image is needed, got {urls}"),
                    );
                } else if b64 == 1 && urls > 0 {
                    r.warn(
                        REFERENCE_URL,
                        format!(
                            "both {REFERENCE_BASE64} and {REFERENCE_URL} are set: the service \
                             uses {REFERENCE_BASE64} and ignores {REFERENCE_URL}"
                        ),
                    );
                }
            }
            ImageRule::NoImage => {
                let present = REFERENCE_FIELDS
                    .into_iter()
                    .filter(|name| get_path(body, name).is_some())
                    .collect::<Vec<_>>();
                if let Some(first) = present.first() {
                    r.warn(
                        first,
                        format!(
                            "{} takes no reference image; {} is not sent",
                            self.req_key,
                            present.join(" and ")
                        ),
                    );
                }
            }
        }
    }

    /// The schema as a Markdown table (the README's parameter reference is generated from it).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "`{}`: {}. {}\n", self.req_key, self.title, self.summary);
        let _ = writeln!(s, "Reference image: {}.\n", self.images.describe());
        s.push_str("| field | type | default | allowed | meaning |\n|---|---|---|---|---|\n");
        for f in self.fields {
            let default = f
                .default
                .map(|d| format!("`{}`", d.to_value()))
                .unwrap_or_else(|| {
                    if f.required {
                        "required".into()
                    } else {
                        "-".into()
                    }
                });
            let mut allowed = f.allowed();
            if let Some(rec) = f.recommended {
                let _ = write!(allowed, " (recommended {rec})");
            }
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                f.name,
                kind_name(f.kind),
                default,
                allowed.replace('|', "\\|"),
                f.help
            );
        }
        s
    }
}

/// The wire type of a kind, as shown in docs.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Str | Kind::Text => "string",
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Bool => "bool",
        Kind::Enum(_) => "enum (int)",
        Kind::ImageList(_) => "array of string",
    }
}

fn check_base64_image(name: &str, i: usize, s: &str, r: &mut Report) {
    use base64::Engine as _;
    if s.trim_start().starts_with("data:") {
        r.error(
            name,
            format!("{name} must be bare base64, not a data: URI (remove the \"data:...;base64,\" prefix)"),
        );
        return;
    }
    match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
        Err(e) => r.error(name, format!("{name}[{i}] is not valid base64: {e}")),
        Ok(bytes) => {
            if bytes.len() > MAX_IMAGE_BYTES {
                r.error(
                    name,
                    format!(
                        "{name}[{i}] is {} bytes; at most {MAX_IMAGE_BYTES} bytes (4.7 MB) are allowed",
                        bytes.len()
                    ),
                );
            } else if !(bytes.starts_with(&[0xFF, 0xD8, 0xFF])
                || bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
            {
                r.error(name, format!("{name}[{i}] is not a JPEG or PNG image"));
            }
        }
    }
}

fn check_url(name: &str, i: usize, s: &str, r: &mut Report) {
    match url::Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => r.error(
            name,
            format!(
                "{name}[{i}] must be an http(s) URL, got scheme {:?}",
                u.scheme()
            ),
        ),
        Err(e) => r.error(name, format!("{name}[{i}] {s:?} is not a URL: {e}")),
    }
}

fn with_unit(r: Range, unit: &str) -> String {
    if unit.is_empty() {
        r.to_string()
    } else {
        format!("{r} {unit}")
    }
}

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

fn decimals_of(step: f64) -> i32 {
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

fn short_json(v: &Value) -> String {
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

fn get_path_segments<'a>(body: &'a Value, segs: &[&str]) -> Option<&'a Value> {
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

fn set_path_segments(body: &mut Value, segs: &[&str], value: Value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The request body of the user's sample (`shared/reference/000_...txt`), with its one
    /// `// "binary_data_base64": []` comment line removed.
    const SAMPLE_BODY: &str = r#"{
"req_key": "high_aes_ip_v20",
"image_urls": ["https://xxx"],
"prompt": "Vast armies charging forward",
"desc_pushback": true,
"seed": -1,
"scale": 3.5,
"ddim_steps": 9,
"width": 512,
"height": 512,
"cfg_rescale": 0.7,
"ref_ip_weight": 0.7,
"ref_id_weight": 0.36,
"use_sr": true,
"return_url": true,
"logo_info": {
"add_logo": false,
"position": 0,
"language": 0,
"opacity": 0.3,
"logo_text_content": "This is a visible watermark"
}
}"#;

    fn sample_body() -> Value {
        serde_json::from_str(SAMPLE_BODY).expect("sample parses")
    }

    fn valid_body() -> Value {
        let s = default_schema();
        let mut b = s.default_body();
        set_path(&mut b, "prompt", json!("a cat"));
        set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
        s.normalize(&b)
    }

    #[test]
    fn defaults_plus_prompt_and_url_reproduce_the_sample_exactly() {
        let s = default_schema();
        let mut b = s.default_body();
        s.apply_set(&mut b, "prompt=Vast armies charging forward")
            .expect("set prompt");
        s.apply_set(&mut b, "image_urls=https://xxx")
            .expect("set url");
        let b = s.normalize(&b);
        // Same keys in the same order, same nesting, same types, same values.
        assert_eq!(
            serde_json::to_string(&b).expect("ser"),
            serde_json::to_string(&sample_body()).expect("ser")
        );
    }

    #[test]
    fn the_sample_itself_validates_clean() {
        let r = default_schema().validate(&sample_body());
        assert!(r.issues.is_empty(), "{:?}", r.issues);
    }

    #[test]
    fn the_sample_in_the_reference_file_matches_the_embedded_copy() {
        // Guard against the embedded copy drifting from the user's sample when it is present.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/000_5c2f26570e58dd89.txt"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            return; // The reference lives beside the repo, not in it.
        };
        let start = text.find("--data-raw '").expect("curl body") + "--data-raw '".len();
        let end = start + text[start..].find("}'").expect("end of body") + 1;
        let body: String = text[start..end]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let v: Value = serde_json::from_str(&body).expect("reference body parses");
        assert_eq!(v, sample_body());
    }

    fn errors_for(body: &Value, field: &str) -> Vec<String> {
        default_schema()
            .validate(body)
            .for_field(field)
            .filter(|i| i.severity == Severity::Error)
            .map(|i| i.message.clone())
            .collect()
    }

    /// A body `s` accepts: its defaults, a prompt and, when it takes one, a reference image.
    fn valid_body_for(s: &'static Schema) -> Value {
        let mut b = s.default_body();
        set_path(&mut b, "prompt", json!("a cat"));
        if s.images == ImageRule::ExactlyOne {
            set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
        }
        s.normalize(&b)
    }

    /// The edges of every range in every schema table, and one step past each: generated from
    /// the tables, so a new field or model is covered without touching this test.
    #[test]
    fn every_range_edge_is_accepted_and_one_past_it_rejected() {
        let mut checked = 0;
        for s in SCHEMAS {
            let clean = s.validate(&valid_body_for(s));
            assert!(clean.issues.is_empty(), "{}: {:?}", s.req_key, clean.issues);
            for f in s.fields {
                let (Some(range), Some(step)) = (f.range, f.step) else {
                    continue;
                };
                let past = if f.kind == Kind::Int {
                    1.0
                } else {
                    step.min(0.01)
                };
                for (x, ok) in [
                    (range.min, true),
                    (range.max, true),
                    (range.min - past, false),
                    (range.max + past, false),
                ] {
                    let mut b = valid_body_for(s);
                    let v = if f.kind == Kind::Int {
                        Value::from(x as i64)
                    } else {
                        float_value(x)
                    };
                    set_path(&mut b, f.name, v.clone());
                    let errs: Vec<String> = s
                        .validate(&b)
                        .for_field(f.name)
                        .filter(|i| i.severity == Severity::Error)
                        .map(|i| i.message.clone())
                        .collect();
                    assert_eq!(
                        errs.is_empty(),
                        ok,
                        "{}: {} = {v}: {errs:?}",
                        s.req_key,
                        f.name
                    );
                    if !ok {
                        assert!(
                            errs[0].contains(f.name) && errs[0].contains("outside"),
                            "{errs:?}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 4 * SCHEMAS.len(), "only {checked} edges checked");
    }

    #[test]
    fn siblings_have_the_reference_differences() {
        let g20 = schema_for("high_aes_general_v20").expect("general 2.0");
        assert_eq!(g20.images, ImageRule::NoImage);
        assert_eq!(
            g20.field("width").and_then(|f| f.range),
            Some(Range::new(256.0, 680.0))
        );
        assert_eq!(g20.default_body()["model_version"], "general_v2.0");
        let pro = schema_for("high_aes_general_v20_L").expect("2.0 pro");
        assert_eq!(pro.default_body()["model_version"], "general_v2.0_L");
        for f in ["req_schedule_conf", "use_pre_llm"] {
            let field = pro.field(f).expect("pro field");
            assert_eq!(field.default, None, "{f}: the reference gives no default");
        }
        assert_eq!(
            pro.field("width").and_then(|f| f.range),
            Some(Range::new(256.0, 768.0))
        );
        let g21 = schema_for("high_aes_general_v21_L").expect("2.1");
        assert_eq!(g21.default_body()["ddim_steps"], 25);
        assert!(g21.field("use_pre_llm").is_some() && g21.field("use_sr").is_some());
        let g30 = schema_for("high_aes_general_v30l_zt2i").expect("3.0");
        assert!(g30.field("ddim_steps").is_none() && g30.field("use_sr").is_none());
        assert_eq!(g30.default_body()["scale"], 2.5);
        assert_eq!(g30.default_body()["width"], 1328);
        assert_eq!(g30.field("width").and_then(|f| f.range), None);
        let edit = schema_for("byteedit_v2.0").expect("seededit");
        assert_eq!(edit.images, ImageRule::ExactlyOne);
        assert_eq!(edit.default_body()["scale"], 0.5);
        assert_eq!(
            edit.field("scale").and_then(|f| f.range),
            Some(Range::new(0.0, 1.0))
        );
        assert!(edit.field("negative_prompt").is_some());
        // Without a range in the reference, any value of the field's JSON type is accepted.
        let mut b = valid_body_for(g30);
        set_path(&mut b, "width", json!(5000));
        assert!(g30.validate(&b).is_ok());
        set_path(&mut b, "width", json!("wide"));
        assert!(!g30.validate(&b).is_ok());
    }

    #[test]
    fn the_default_schema_is_first_and_every_req_key_is_unique() {
        assert!(std::ptr::eq(SCHEMAS[0], default_schema()));
        let mut keys: Vec<&str> = SCHEMAS.iter().map(|s| s.req_key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SCHEMAS.len());
        for s in SCHEMAS {
            assert_eq!(s.default_body()["req_key"], s.req_key);
            assert!(s.field("prompt").is_some_and(|f| f.required));
        }
    }

    #[test]
    fn switching_keeps_what_the_target_takes_and_reports_the_rest() {
        let from = default_schema();
        let mut b = valid_body_for(from);
        set_path(&mut b, "width", json!(600));
        set_path(&mut b, "scale", json!(4.5));
        set_path(&mut b, "extra", json!("kept"));
        let to = schema_for("high_aes_general_v30l_zt2i").expect("3.0");
        let sw = switch_schema(&b, to);
        let dropped: Vec<&str> = sw.dropped.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            dropped,
            [
                "image_urls",
                "desc_pushback",
                "ddim_steps",
                "cfg_rescale",
                "ref_ip_weight",
                "ref_id_weight",
                "use_sr"
            ]
        );
        assert_eq!(sw.dropped[0].1, json!(["https://example.com/a.jpg"]));
        assert_eq!(sw.body["req_key"], to.req_key);
        // User edits stay; untouched defaults follow the new model.
        assert_eq!(sw.body["width"], 600);
        assert_eq!(sw.body["height"], 1328);
        assert_eq!(sw.body["scale"], 4.5);
        assert_eq!(sw.body["prompt"], "a cat");
        assert_eq!(sw.body["extra"], "kept");
        assert_eq!(sw.defaulted, ["height"]);
        assert!(to.validate(&sw.body).is_ok());
        for (k, _) in &sw.dropped {
            assert!(get_path(&sw.body, k).is_none(), "{k} still in the body");
        }

        // And back: the fields the target lacks come back as its defaults.
        let back = switch_schema(&sw.body, from);
        assert!(back.dropped.is_empty(), "{:?}", back.dropped);
        assert_eq!(back.body["scale"], 4.5);
        assert_eq!(back.body["height"], 512, "3.0's default follows back");
        assert_eq!(back.body["ddim_steps"], 9);
        assert!(back.defaulted.contains(&"ddim_steps") && back.defaulted.contains(&"height"));
        // Without an image it is not yet valid: the image is the user's to give again.
        assert!(!from.validate(&back.body).is_ok());
    }

    #[test]
    fn switching_to_seededit_keeps_the_image_and_takes_its_scale() {
        let edit = schema_for("byteedit_v2.0").expect("seededit");
        let sw = switch_schema(&valid_body_for(default_schema()), edit);
        assert_eq!(sw.body["image_urls"], json!(["https://example.com/a.jpg"]));
        assert_eq!(sw.body["scale"], 0.5);
        assert!(
            edit.validate(&sw.body).is_ok(),
            "{:?}",
            edit.validate(&sw.body)
        );
        let dropped: Vec<&str> = sw.dropped.iter().map(|(k, _)| k.as_str()).collect();
        assert!(dropped.contains(&"ddim_steps") && !dropped.contains(&"image_urls"));
        // A changed scale is kept, and validation shows it is out of the new range.
        let mut b = valid_body_for(default_schema());
        set_path(&mut b, "scale", json!(7.0));
        let sw = switch_schema(&b, edit);
        assert_eq!(sw.body["scale"], 7.0);
        assert!(!edit.validate(&sw.body).is_ok());
    }

    #[test]
    fn fields_of_other_models_are_never_sent() {
        let s = default_schema();
        let mut b = valid_body();
        set_path(&mut b, "use_pre_llm", json!(true));
        set_path(&mut b, "model_version", json!("general_v2.0"));
        set_path(&mut b, "unheard_of", json!(1));
        let r = s.validate(&b);
        assert!(r.is_ok());
        let w: Vec<String> = r.warnings().map(|i| i.message.clone()).collect();
        assert!(
            w.iter().any(|m| m
                == "use_pre_llm is not a field of high_aes_ip_v20 (only of \
                    high_aes_general_v20_L, high_aes_general_v21_L); it is not sent"),
            "{w:?}"
        );
        let n = s.normalize(&b);
        assert!(n.get("use_pre_llm").is_none() && n.get("model_version").is_none());
        assert_eq!(
            n["unheard_of"], 1,
            "fields no model knows are passed through"
        );

        let t2i = schema_for("high_aes_general_v20").expect("2.0");
        let mut b = valid_body_for(t2i);
        set_path(&mut b, "image_urls", json!(["https://a/b.jpg"]));
        let r = t2i.validate(&b);
        let w: Vec<&str> = r.warnings().map(|i| i.message.as_str()).collect();
        assert_eq!(
            w,
            ["high_aes_general_v20 takes no reference image; image_urls is not sent"]
        );
        assert!(t2i.normalize(&b).get("image_urls").is_none());
    }

    #[test]
    fn preset_fields_are_parameters_only() {
        for s in SCHEMAS {
            for f in s.fields {
                let content =
                    matches!(f.name, "req_key" | "prompt") || matches!(f.kind, Kind::ImageList(_));
                assert_eq!(f.in_preset(), !content, "{}: {}", s.req_key, f.name);
            }
        }
    }

    #[test]
    fn markdown_all_has_every_schema() {
        let md = markdown_all();
        for s in SCHEMAS {
            assert!(md.contains(&s.markdown()), "{}", s.req_key);
            assert!(md.contains(&format!("### {} (`{}`)", s.title, s.req_key)));
        }
    }

    #[test]
    fn messages_name_field_value_and_allowed_range() {
        let mut b = valid_body();
        set_path(&mut b, "width", json!(900));
        assert_eq!(
            errors_for(&b, "width"),
            ["width 900 is outside 256..768 px"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut b = valid_body();
        set_path(&mut b, "width", json!(900));
        set_path(&mut b, "scale", json!("high"));
        set_path(&mut b, "logo_info.position", json!(7));
        set_path(&mut b, "prompt", json!("  "));
        let r = default_schema().validate(&b);
        let fields: Vec<&str> = r.errors().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["prompt", "scale", "width", "logo_info.position"]);
    }

    #[test]
    fn recommended_range_gives_a_warning_not_an_error() {
        let mut b = valid_body();
        set_path(&mut b, "ref_id_weight", json!(0.8));
        let r = default_schema().validate(&b);
        assert!(r.is_ok());
        let w: Vec<_> = r.warnings().map(|i| i.message.clone()).collect();
        assert_eq!(w, ["ref_id_weight 0.8 is outside the recommended 0.2..0.4"]);
    }

    #[test]
    fn image_count_rules() {
        let mut b = valid_body();
        set_path(
            &mut b,
            "image_urls",
            json!(["https://a/1.jpg", "https://a/2.jpg"]),
        );
        assert_eq!(
            errors_for(&b, "image_urls"),
            ["exactly one reference image is needed, got 2"]
        );
        remove_path(&mut b, "image_urls");
        assert_eq!(
            errors_for(&b, "image_urls"),
            ["exactly one reference image is needed (binary_data_base64 or image_urls), got none"]
        );
    }

    #[test]
    fn base64_must_be_bare_and_an_image() {
        let mut b = valid_body();
        remove_path(&mut b, "image_urls");
        set_path(
            &mut b,
            "binary_data_base64",
            json!(["data:image/png;base64,iVBORw0KGgo="]),
        );
        let e = errors_for(&b, "binary_data_base64");
        assert!(
            e[0].contains("must be bare base64, not a data: URI"),
            "{e:?}"
        );
        set_path(&mut b, "binary_data_base64", json!(["not base64!!"]));
        assert!(errors_for(&b, "binary_data_base64")[0].contains("not valid base64"));
        set_path(&mut b, "binary_data_base64", json!(["aGVsbG8="]));
        assert!(errors_for(&b, "binary_data_base64")[0].contains("not a JPEG or PNG"));
        set_path(&mut b, "binary_data_base64", json!(["iVBORw0KGgo="]));
        assert!(errors_for(&b, "binary_data_base64").is_empty());
    }

    #[test]
    fn types_are_checked() {
        let mut b = valid_body();
        set_path(&mut b, "width", json!(512.5));
        set_path(&mut b, "use_sr", json!("yes"));
        set_path(&mut b, "image_urls", json!(["ftp://x/y"]));
        set_path(&mut b, "req_key", json!("other"));
        let r = default_schema().validate(&b);
        let msgs: Vec<String> = r.errors().map(|i| i.message.clone()).collect();
        assert!(
            msgs.contains(&"width must be a whole number, got 512.5".to_owned()),
            "{msgs:?}"
        );
        assert!(msgs.contains(&"use_sr must be true or false, got \"yes\"".to_owned()));
        assert!(msgs.iter().any(|m| m.contains("must be an http(s) URL")));
        assert!(
            msgs.iter()
                .any(|m| m.contains("req_key must be \"high_aes_ip_v20\""))
        );
    }

    #[test]
    fn unknown_fields_warn_and_are_kept_after_known_ones() {
        let s = default_schema();
        let mut b = valid_body();
        set_path(&mut b, "extra", json!(1));
        set_path(&mut b, "logo_info.size", json!(2));
        let r = s.validate(&b);
        assert!(r.is_ok());
        let warned: Vec<&str> = r.warnings().map(|i| i.field.as_str()).collect();
        assert_eq!(warned, ["logo_info.size", "extra"]);
        let n = s.normalize(&b);
        assert_eq!(n.get("extra"), Some(&json!(1)));
        assert_eq!(get_path(&n, "logo_info.size"), Some(&json!(2)));
    }

    #[test]
    fn set_parses_by_schema_type() {
        let s = default_schema();
        let mut b = s.default_body();
        s.apply_set(&mut b, "logo_info.add_logo=true")
            .expect("bool");
        s.apply_set(&mut b, "logo_info.position=top-left")
            .expect("enum label");
        s.apply_set(&mut b, "logo_info.language=1")
            .expect("enum value");
        s.apply_set(&mut b, "seed=42").expect("int");
        s.apply_set(&mut b, "scale=4").expect("float");
        s.apply_set(&mut b, "image_urls=[\"https://a/b.jpg\"]")
            .expect("array");
        assert_eq!(get_path(&b, "logo_info.add_logo"), Some(&json!(true)));
        assert_eq!(get_path(&b, "logo_info.position"), Some(&json!(2)));
        assert_eq!(get_path(&b, "logo_info.language"), Some(&json!(1)));
        assert_eq!(get_path(&b, "seed"), Some(&json!(42)));
        assert_eq!(get_path(&b, "scale"), Some(&json!(4.0)));
        assert_eq!(
            get_path(&b, "image_urls"),
            Some(&json!(["https://a/b.jpg"]))
        );
        let e = s.apply_set(&mut b, "seed=abc").expect_err("not an int");
        assert_eq!(e, "seed must be a whole number, got \"abc\"");
        let e = s.apply_set(&mut b, "nope=1").expect_err("unknown");
        assert!(e.starts_with("unknown field \"nope\" for high_aes_ip_v20; known fields: req_key"));
        let e = s.apply_set(&mut b, "seed").expect_err("no =");
        assert!(e.contains("FIELD=VALUE"));
        let e = s
            .apply_set(&mut b, "logo_info.position=middle")
            .expect_err("bad enum");
        assert!(e.contains("0=bottom-right, 1=bottom-left, 2=top-left, 3=top-right"));
    }

    #[test]
    fn nudge_steps_clamps_toggles_and_cycles() {
        let s = default_schema();
        let scale = s.field("scale").expect("scale");
        assert_eq!(scale.nudge(None, 1), Some(json!(3.6)));
        assert_eq!(scale.nudge(Some(&json!(9.95)), 10), Some(json!(10.0)));
        assert_eq!(scale.nudge(Some(&json!(1.0)), -10), Some(json!(1.0)));
        let w = s.field("width").expect("width");
        assert_eq!(w.nudge(Some(&json!(760)), 1), Some(json!(768)));
        assert_eq!(w.nudge(Some(&json!(512)), -10), Some(json!(432)));
        let op = s.field("logo_info.opacity").expect("opacity");
        assert_eq!(op.nudge(Some(&json!(0.3)), 1), Some(json!(0.35)));
        let sr = s.field("use_sr").expect("use_sr");
        assert_eq!(sr.nudge(Some(&json!(true)), 1), Some(json!(false)));
        let pos = s.field("logo_info.position").expect("pos");
        assert_eq!(pos.nudge(Some(&json!(3)), 1), Some(json!(0)));
        assert_eq!(pos.nudge(Some(&json!(0)), -1), Some(json!(3)));
        assert_eq!(s.field("prompt").expect("prompt").nudge(None, 1), None);
    }

    #[test]
    fn paths_set_get_remove() {
        let mut v = json!({});
        set_path(&mut v, "a.b", json!(1));
        assert_eq!(get_path(&v, "a.b"), Some(&json!(1)));
        assert_eq!(remove_path(&mut v, "a.b"), Some(json!(1)));
        assert_eq!(v, json!({}));
        let mut v = json!({"a": 5});
        set_path(&mut v, "a.b", json!(1));
        assert_eq!(v, json!({"a": {"b": 1}}));
    }

    #[test]
    fn non_object_body_is_one_clear_error() {
        let r = default_schema().validate(&json!([1, 2]));
        assert_eq!(
            r.errors().map(|i| i.message.as_str()).collect::<Vec<_>>(),
            ["the request body must be a JSON object, got an array"]
        );
    }

    #[test]
    fn markdown_lists_every_field_once() {
        let md = default_schema().markdown();
        for f in default_schema().fields {
            assert_eq!(
                md.matches(&format!("| `{}` |", f.name)).count(),
                1,
                "{}",
                f.name
            );
        }
        assert!(md.contains("| `width` | int | `512` | 256..768 px |"));
    }
}
