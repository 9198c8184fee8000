//! The JSON shapes: the service envelope (its `data` members pulled out without copying the
//! images), the gateway's `ResponseMetadata` error, and relays' own error bodies.

use crate::api::codes;
use crate::api::schema::{REFERENCE_BASE64, REFERENCE_URL};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::fields::{
    algorithm_status, as_int, as_text, envelope_code, opt_text, parse_elapsed, string_list,
};
use super::{
    GatewayError, Outcome, RawJson, RelayError, ResultImage, SUMMARY_MAX_CHARS, ServiceError,
    Success,
};

fn parse_envelope(
    http_status: u16,
    code: i64,
    env: &Map<String, Value>,
    raw_data: Option<&RawValue>,
    fallback_request_id: Option<String>,
) -> Outcome {
    let mut data = data_fields(raw_data);
    let message = env.get("message").and_then(as_text).unwrap_or_default();
    let request_id = opt_text(env.get("request_id")).or(fallback_request_id);
    let elapsed = env.get("time_elapsed").filter(|v| !v.is_null());
    let time_elapsed_raw = elapsed.map(|v| as_text(v).unwrap_or_else(|| v.to_string()));
    let algorithm_status = algorithm_status(&data);
    if code != codes::SUCCESS {
        return Outcome::Service(ServiceError {
            http_status,
            code,
            message,
            request_id,
            time_elapsed_raw,
            algorithm_status,
            info: codes::lookup(code),
        });
    }
    // Moved out, not copied: base64 images are megabytes.
    let take = |data: &mut Value, k: &str| data.get_mut(k).map(Value::take);
    let images = string_list(take(&mut data, REFERENCE_BASE64).as_ref())
        .into_iter()
        .map(ResultImage::Base64)
        .chain(
            string_list(take(&mut data, REFERENCE_URL).as_ref())
                .into_iter()
                .map(ResultImage::Url),
        )
        .collect();
    Outcome::Success(Success {
        code,
        message,
        request_id,
        data_request_id: opt_text(data.get("request_id")),
        time_elapsed: elapsed.and_then(parse_elapsed),
        time_elapsed_raw,
        algorithm_status,
        images,
        rephraser_result: opt_text(data.get("rephraser_result")),
        pe_result: opt_text(data.get("pe_result")),
        predict_tags_result: opt_text(data.get("predict_tags_result")),
        task_id: opt_text(data.get("task_id")),
        task_status: opt_text(data.get("status")),
        data: raw_data.map_or_else(RawJson::null, |r| RawJson(r.get().into())),
    })
}

/// The members of `data` that [`parse_envelope`] pulls out; the others are only skipped
/// (validated) and stay in the raw text.
const DATA_FIELDS: [&str; 9] = [
    "algorithm_base_resp",
    REFERENCE_BASE64,
    REFERENCE_URL,
    "request_id",
    "rephraser_result",
    "pe_result",
    "predict_tags_result",
    "task_id",
    "status",
];

/// `data` parsed as far as [`parse_envelope`] needs: an object keeps only [`DATA_FIELDS`];
/// anything else (null, a string...) is parsed whole.
fn data_fields(raw: Option<&RawValue>) -> Value {
    let Some(raw) = raw else {
        return Value::Null;
    };
    match serde_json::from_str::<Picked>(raw.get()) {
        Ok(Picked(m)) => Value::Object(m),
        Err(_) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
    }
}

/// An object's [`DATA_FIELDS`] members (duplicates: the last wins, as in a parsed `Value`).
struct Picked(Map<String, Value>);

impl<'de> Deserialize<'de> for Picked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picked, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Picked;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
                let mut m = Map::new();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if DATA_FIELDS.contains(&k.as_ref()) {
                        let v: Value = map.next_value()?;
                        m.insert(k.into_owned(), v);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Picked(m))
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON object with every member parsed but `data` and `Result` (where the payload is),
/// which are kept as raw text; each is represented in `obj` by a `null` in its place.
struct Shallow<'a> {
    obj: Map<String, Value>,
    data: Option<&'a RawValue>,
    result: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Shallow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shallow<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shallow<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow<'de>, A::Error> {
                let mut out = Shallow {
                    obj: Map::new(),
                    data: None,
                    result: None,
                };
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "data" => out.data = Some(map.next_value()?),
                        "Result" => out.result = Some(map.next_value()?),
                        _ => {
                            let v: Value = map.next_value()?;
                            out.obj.insert(k, v);
                            continue;
                        }
                    }
                    out.obj.insert(k, Value::Null);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Walks a JSON value without keeping anything: checks it the way parsing it into a `Value`
/// would (syntax, nesting limit, trailing characters), with the same errors.
struct Walk;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Walk, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Walk;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_unit<E>(self) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
                while seq.next_element::<Walk>()?.is_some() {}
                Ok(Walk)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
                while map.next_key::<Walk>()?.is_some() {
                    map.next_value::<Walk>()?;
                }
                Ok(Walk)
            }
        }
        d.deserialize_any(V)
    }
}

/// [`parse_value`] without building the whole body as a `Value`: an object's `data` (and a
/// wrapped `Result`'s) is only validated and kept as text, with the few members the outcome
/// needs picked out. Errors exactly where parsing into a `Value` would.
pub(super) fn parse_json(http_status: u16, text: &str) -> Result<Outcome, serde_json::Error> {
    serde_json::from_str::<Walk>(text)?;
    let Ok(top) = serde_json::from_str::<Shallow<'_>>(text) else {
        // Not an object: a relay's (or anyone's) JSON, parsed whole.
        return Ok(parse_value(http_status, serde_json::from_str(text)?));
    };
    let meta = top.obj.get("ResponseMetadata").and_then(Value::as_object);
    if let Some(meta) = meta
        && let Some(error) = meta.get("Error").filter(|e| !e.is_null())
    {
        return Ok(parse_gateway(http_status, meta, error));
    }
    let meta_request_id = meta.and_then(|m| opt_text(m.get("RequestId")));
    if let Some(code) = envelope_code(&top.obj) {
        return Ok(parse_envelope(
            http_status,
            code,
            &top.obj,
            top.data,
            meta_request_id,
        ));
    }
    if let Some(result) = top.result
        && let Ok(inner) = serde_json::from_str::<Shallow<'_>>(result.get())
        && let Some(code) = envelope_code(&inner.obj)
    {
        return Ok(parse_envelope(
            http_status,
            code,
            &inner.obj,
            inner.data,
            meta_request_id,
        ));
    }
    Ok(parse_value(http_status, serde_json::from_str(text)?))
}

fn parse_gateway(http_status: u16, meta: &Map<String, Value>, error: &Value) -> Outcome {
    let (code_n, code, message) = match error {
        Value::Object(e) => (
            e.get("CodeN").and_then(as_int),
            e.get("Code").and_then(as_text).unwrap_or_default(),
            e.get("Message").and_then(as_text).unwrap_or_default(),
        ),
        other => (
            None,
            String::new(),
            as_text(other).unwrap_or_else(|| other.to_string()),
        ),
    };
    let info = code_n
        .and_then(codes::gateway_lookup)
        .or_else(|| codes::gateway_by_name(&code));
    let code = match (code.is_empty(), info) {
        (true, Some(info)) => info.code.to_owned(),
        _ => code,
    };
    Outcome::Gateway(GatewayError {
        http_status,
        code_n: code_n.or(info.map(|i| i.code_n)),
        code,
        message,
        request_id: opt_text(meta.get("RequestId")),
        action: opt_text(meta.get("Action")),
        info,
    })
}

/// A relay's message, best effort.
fn relay_message(body: &Value) -> String {
    if let Value::Object(obj) = body {
        match obj.get("error") {
            Some(Value::Object(e)) => {
                if let Some(m) = ["message", "msg"].iter().find_map(|k| opt_text(e.get(*k))) {
                    return m;
                }
            }
            Some(Value::String(s)) if !s.is_empty() => return s.clone(),
            _ => {}
        }
        if let Some(m) = ["message", "msg", "detail", "error_msg", "errorMessage"]
            .iter()
            .find_map(|k| opt_text(obj.get(*k)))
        {
            return m;
        }
    }
    if let Value::String(s) = body
        && !s.is_empty()
    {
        return s.clone();
    }
    let compact = body.to_string();
    if compact.chars().count() > SUMMARY_MAX_CHARS {
        let mut cut: String = compact.chars().take(SUMMARY_MAX_CHARS).collect();
        cut.push('…');
        cut
    } else {
        compact
    }
}

/// JSON that [`parse_json`] found to be no gateway error and no envelope: a relay's answer.
fn parse_value(http_status: u16, body: Value) -> Outcome {
    let Value::Object(obj) = body else {
        return Outcome::Relay(RelayError {
            http_status,
            message: relay_message(&body),
            body,
        });
    };
    let body = Value::Object(obj);
    Outcome::Relay(RelayError {
        http_status,
        message: relay_message(&body),
        body,
    })
}
