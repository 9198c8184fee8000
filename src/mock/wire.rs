//! The shapes the mock answers with: the service envelope, the gateway `ResponseMetadata` error,
//! identifiers, and the HTTP status of each business code.

use crate::api::codes;
use crate::api::schema::{REFERENCE_BASE64, REFERENCE_URL};
use rand::Rng as _;
use serde_json::{Value, json};
use std::time::Duration;

/// The region and service a direct (AK/SK) request is addressed to.
pub(crate) const REGION: &str = "cn-north-1";
/// The service name in `ResponseMetadata` and in the credential scope.
pub(crate) const SERVICE: &str = "cv";
/// The only API version the service knows.
pub(crate) const VERSION: &str = "2022-08-31";

/// The top-level `request_id`: a 14-digit UTC timestamp (`yyyyMMddHHmmss`) followed by 20
/// uppercase hex digits, like `2024110517020569520218533D2EA96060`.
pub(crate) fn top_request_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut rng = rand::rng();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:016X}{:04X}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rng.random::<u64>(),
        rng.random::<u16>()
    )
}

/// `data.request_id`: 64 lowercase hex digits.
pub(crate) fn data_request_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// An async task id: a 19-digit decimal string, like the service's snowflake ids.
pub(crate) fn task_id() -> String {
    rand::rng()
        .random_range(1_000_000_000_000_000_000u64..=9_223_372_036_854_775_807)
        .to_string()
}

/// The `data` object of a successful generation, keys in the sample's (alphabetical) order.
pub(crate) fn generation_data(
    images_base64: Vec<String>,
    image_urls: Vec<String>,
    rephraser_result: &str,
) -> Value {
    json!({
        "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
        // The result images travel in fields named like the request's reference fields.
        (REFERENCE_BASE64): images_base64,
        (REFERENCE_URL): image_urls,
        "pe_result": "",
        "predict_tags_result": "",
        "rephraser_result": rephraser_result,
        "request_id": data_request_id(),
    })
}

/// The `data` of an async poll: the CVProcess fields plus `status`.
pub(crate) fn task_data(
    status: &str,
    b64: Vec<String>,
    urls: Vec<String>,
    rephrased: &str,
) -> Value {
    let mut data = generation_data(b64, urls, rephrased);
    if let Value::Object(map) = &mut data {
        map.insert("status".to_owned(), Value::from(status));
    }
    data
}

/// The service envelope. `data` is `null` unless the code is 10000.
pub(crate) fn envelope(
    code: i64,
    message: &str,
    data: Option<Value>,
    request_id: &str,
    elapsed: Duration,
) -> Value {
    json!({
        "code": code,
        "data": data.unwrap_or(Value::Null),
        "message": message,
        "request_id": request_id,
        "status": code,
        "time_elapsed": format_go(elapsed),
    })
}

/// A gateway error in the `ResponseMetadata` shape.
pub(crate) fn gateway_error(
    request_id: &str,
    action: &str,
    version: &str,
    code_n: u32,
    code: &str,
    message: &str,
) -> Value {
    json!({
        "ResponseMetadata": {
            "RequestId": request_id,
            "Action": action,
            "Version": version,
            "Service": SERVICE,
            "Region": REGION,
            "Error": {"CodeN": code_n, "Code": code, "Message": message},
        }
    })
}

/// The HTTP status the service answers a business code with: the code table's when it gives
/// one, otherwise 429 for the rate limits, 500 for `505xx` and 400 for everything else.
pub(crate) fn business_http_status(code: i64) -> u16 {
    if let Some(status) = codes::lookup(code).and_then(|c| c.http_status) {
        return status;
    }
    match code {
        codes::SUCCESS => 200,
        50429 | 50430 => 429,
        50500..=50599 => 500,
        _ => 400,
    }
}

/// The `Code` name and HTTP status of a gateway `CodeN`. The gateway table gives no statuses;
/// these follow HTTP semantics (and agree with `auth::VerifyError::http_status`).
pub(crate) fn gateway_name_and_status(code_n: u32) -> (&'static str, u16) {
    let name = codes::gateway_lookup(i64::from(code_n)).map_or("UnknownError", |c| c.code);
    let status = match code_n {
        100003 | 100009 | 100010 => 401,
        100007 | 100008 => 404,
        100012 | 100013 => 403,
        _ => 400,
    };
    (name, status)
}

/// The envelope `message` of a business code, in the service's terse style.
pub(crate) fn business_message(code: i64) -> String {
    let known = match code {
        codes::SUCCESS => "Success",
        50411 => "Pre Img Risk Not Pass",
        50412 => "Pre Text Risk Not Pass",
        50413 => "Post Text Risk Not Pass: sensitive or copyrighted words",
        50511 => "Post Img Risk Not Pass",
        50512 => "Post Text Risk Not Pass",
        50518 => "Pre Img Copyright Risk Not Pass",
        50519 => "Post Img Copyright Risk Not Pass",
        50429 => "Request Has Reached API Limit, Please Try Later",
        50430 => "Request Has Reached API Concurrent Limit, Please Try Later",
        50500 => "Internal Error",
        50501 => "Internal RPC Error",
        60102 => "No Face Detected",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    match codes::lookup(code) {
        Some(info) => capitalize(info.meaning),
        None => format!("Mock Error {code}"),
    }
}

/// The message of a validation failure: the code's short title, then the detail.
pub(crate) fn detailed_message(code: i64, detail: &str) -> String {
    let title = match code {
        50200 => "Invalid Parameter",
        50201 => "Missing Parameter",
        50204 => "Invalid Request Body",
        50205 => "Image Size Exceeds Limit",
        50206 => "No Image In Request",
        50207 => "Image Decode Error",
        50213 => "Request Body Too Large",
        50215 => "Input Not Acceptable",
        50400 => "Access Denied",
        _ => return format!("{}: {detail}", business_message(code)),
    };
    format!("{title}: {detail}")
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// Go's `time.Duration` text form, which the service uses for `time_elapsed`.

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Formats a duration exactly as Go's `Duration.String()` does: `0s`, `850ns`, `84.448µs`,
/// `104.85ms`, `7.545501615s`, `1m0.5s`, `2h3m4s`. Durations beyond Go's range (about 292
/// years) are clamped to it.
pub(crate) fn format_go(d: Duration) -> String {
    let ns = u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64);
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < NANOS_PER_MICRO {
        return format!("{ns}ns");
    }
    if ns < NANOS_PER_MILLI {
        return format!("{}µs", with_fraction(ns, NANOS_PER_MICRO));
    }
    if ns < NANOS_PER_SEC {
        return format!("{}ms", with_fraction(ns, NANOS_PER_MILLI));
    }
    let secs = ns / NANOS_PER_SEC;
    let frac = fraction_digits(ns % NANOS_PER_SEC, NANOS_PER_SEC);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let s = format!("{s}{frac}s");
    if h > 0 {
        format!("{h}h{m}m{s}")
    } else if m > 0 {
        format!("{m}m{s}")
    } else {
        s
    }
}

/// `v / unit` with its fractional digits, trailing zeros (and a bare point) removed.
fn with_fraction(v: u64, unit: u64) -> String {
    format!("{}{}", v / unit, fraction_digits(v % unit, unit))
}

/// `.ddd` for `rem / unit` (`unit` a power of ten), without trailing zeros; empty for zero.
fn fraction_digits(rem: u64, unit: u64) -> String {
    if rem == 0 {
        return String::new();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::response::parse_go_duration;

    #[test]
    fn ids_have_the_service_shapes() {
        let id = top_request_id();
        assert_eq!(id.len(), 34, "{id}");
        assert!(id[..14].bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert!(
            id[14..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "{id}"
        );
        let d = data_request_id();
        assert_eq!(d.len(), 64);
        assert!(
            d.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let t = task_id();
        assert_eq!(t.len(), 19);
        assert!(t.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn envelope_keys_follow_the_sample_order() {
        let data = generation_data(vec![], vec!["http://x/y.jpg".into()], "r");
        let v = envelope(
            10000,
            "Success",
            Some(data),
            "RID",
            Duration::from_millis(1500),
        );
        let text = serde_json::to_string(&v).expect("serializes");
        let order = [
            "\"code\"",
            "\"algorithm_base_resp\"",
            "\"status_code\"",
            "\"status_message\"",
            "\"binary_data_base64\"",
            "\"image_urls\"",
            "\"pe_result\"",
            "\"predict_tags_result\"",
            "\"rephraser_result\"",
            "\"request_id\"",
            "\"message\"",
            "\"request_id\":\"RID\"",
            "\"status\"",
            "\"time_elapsed\":\"1.5s\"",
        ];
        let mut at = 0;
        for key in order {
            let found = text[at..]
                .find(key)
                .unwrap_or_else(|| panic!("{key} in {text}"));
            at += found + key.len();
        }
        let err = envelope(50200, "m", None, "RID", Duration::from_micros(84));
        assert_eq!(
            serde_json::to_string(&err).expect("serializes"),
            r#"{"code":50200,"data":null,"message":"m","request_id":"RID","status":50200,"time_elapsed":"84µs"}"#
        );
    }

    #[test]
    fn durations_format_like_go() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (84_448, "84.448µs"),
            (1_100, "1.1µs"),
            (104_850_000, "104.85ms"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (7_545_501_615, "7.545501615s"),
            (60_000_000_000, "1m0s"),
            (90_500_000_000, "1m30.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (7_384_000_000_000, "2h3m4s"),
        ];
        for &(ns, want) in cases {
            let d = Duration::from_nanos(ns);
            assert_eq!(format_go(d), want, "{ns} ns");
            assert_eq!(parse_go_duration(want), Some(d), "{want} parses back");
        }
    }

    #[test]
    fn statuses_follow_the_code_table() {
        assert_eq!(business_http_status(50429), 429);
        assert_eq!(business_http_status(50430), 429);
        assert_eq!(business_http_status(50500), 500);
        assert_eq!(business_http_status(50501), 500);
        assert_eq!(business_http_status(50411), 400);
        assert_eq!(business_http_status(50200), 400);
        assert_eq!(business_http_status(50599), 500);
        assert_eq!(business_http_status(12345), 400);
        assert_eq!(
            gateway_name_and_status(100010),
            ("SignatureDoesNotMatch", 401)
        );
        assert_eq!(
            gateway_name_and_status(100008),
            ("InvalidActionOrVersion", 404)
        );
        assert_eq!(gateway_name_and_status(999), ("UnknownError", 400));
    }
}
