//! Tests of response parsing: every documented shape, relays' shapes, non-JSON bodies,
//! summaries, Go durations, and bodies that must never panic.

use super::*;

/// The sample's success response, verbatim from the reference file.
const SAMPLE: &str = r#"{
"code": 10000,
"data": {
"algorithm_base_resp": {
"status_code": 0,
"status_message": "Success"
},
"binary_data_base64": [],
"image_urls": [
"https://xxx"
],
"pe_result": "",
"predict_tags_result": "",
"rephraser_result": "",
"request_id": "cece14795209cf7e39a9d3060c02e28542d96808f7413e2e7d2fdb86510655d5"
},
"message": "Success",
"request_id": "2024110517020569520218533D2EA96060",
"status": 10000,
"time_elapsed": "7.545501615s"
}"#;

const JSON: Option<&str> = Some("application/json");

fn parse(status: u16, body: &str) -> Outcome {
    parse_response(status, JSON, body.as_bytes())
}

fn success(o: Outcome) -> Success {
    match o {
        Outcome::Success(s) => s,
        other => panic!("expected success, got {other:?}"),
    }
}

fn service(o: Outcome) -> ServiceError {
    match o {
        Outcome::Service(e) => e,
        other => panic!("expected service error, got {other:?}"),
    }
}

fn gateway(o: Outcome) -> GatewayError {
    match o {
        Outcome::Gateway(e) => e,
        other => panic!("expected gateway error, got {other:?}"),
    }
}

fn relay(o: Outcome) -> RelayError {
    match o {
        Outcome::Relay(e) => e,
        other => panic!("expected relay error, got {other:?}"),
    }
}

fn non_json(o: Outcome) -> NonJsonBody {
    match o {
        Outcome::NonJson(e) => e,
        other => panic!("expected non-JSON, got {other:?}"),
    }
}

#[test]
fn sample_success_response() {
    let outcome = parse(200, SAMPLE);
    assert!(outcome.is_success());
    assert_eq!(outcome.code(), Some(10000));
    assert_eq!(outcome.retry(), Retry::No);
    assert_eq!(
        outcome.request_id(),
        Some("2024110517020569520218533D2EA96060")
    );
    assert_eq!(
        outcome.summary(),
        "10000 Success: 1 image (0 base64, 1 URL) in 7.545501615s"
    );
    let s = success(outcome);
    assert_eq!(s.code, 10000);
    assert_eq!(s.message, "Success");
    assert_eq!(
        s.request_id.as_deref(),
        Some("2024110517020569520218533D2EA96060")
    );
    assert_eq!(
        s.data_request_id.as_deref(),
        Some("cece14795209cf7e39a9d3060c02e28542d96808f7413e2e7d2fdb86510655d5")
    );
    assert_eq!(s.time_elapsed, Some(Duration::from_nanos(7_545_501_615)));
    assert_eq!(s.time_elapsed_raw.as_deref(), Some("7.545501615s"));
    assert_eq!(s.algorithm_status, Some((0, "Success".to_owned())));
    assert_eq!(s.images, [ResultImage::Url("https://xxx".to_owned())]);
    assert_eq!(s.rephraser_result, None);
    assert_eq!(s.pe_result, None);
    assert_eq!(s.predict_tags_result, None);
    assert_eq!(s.task_id, None);
    assert_eq!(s.task_status, None);
    assert_eq!(s.data.value()["image_urls"][0], "https://xxx");
}

#[test]
fn success_serializes_for_json_output() {
    let v = serde_json::to_value(parse(200, SAMPLE)).expect("serializable");
    assert_eq!(v["kind"], "success");
    assert_eq!(v["time_elapsed"], 7.545501615);
    assert_eq!(v["images"][0]["kind"], "url");
    assert_eq!(v["images"][0]["value"], "https://xxx");
    let v = serde_json::to_value(parse(429, r#"{"code":50429,"message":"x","data":null}"#))
        .expect("serializable");
    assert_eq!(v["kind"], "service");
    assert_eq!(v["info"]["name"], "QPS limit");
    assert_eq!(v["info"]["retry"], "backoff");
}

#[test]
fn success_with_base64_images_comes_first() {
    let body = r#"{"code":10000,"message":"Success","status":10000,"request_id":"r1",
        "time_elapsed":"5.1s","data":{"binary_data_base64":["aGVsbG8=","","d29ybGQ="],
        "image_urls":["https://u/1.jpg"],"rephraser_result":"a cat, photo",
        "algorithm_base_resp":{"status_code":"0","status_message":"Success"}}}"#;
    let s = success(parse(200, body));
    assert_eq!(
        s.images,
        [
            ResultImage::Base64("aGVsbG8=".to_owned()),
            ResultImage::Base64("d29ybGQ=".to_owned()),
            ResultImage::Url("https://u/1.jpg".to_owned()),
        ]
    );
    assert_eq!(s.rephraser_result.as_deref(), Some("a cat, photo"));
    assert_eq!(s.algorithm_status, Some((0, "Success".to_owned())));
    assert_eq!(
        Outcome::Success(s).summary(),
        "10000 Success: 3 images (2 base64, 1 URL) in 5.1s"
    );
}

#[test]
fn tolerant_envelope_fields() {
    // code as a numeric string, time_elapsed as a number of seconds, data null.
    let s = success(parse(
        200,
        r#"{"code":"10000","message":"ok","time_elapsed":7.5,"data":null}"#,
    ));
    assert_eq!(s.time_elapsed, Some(Duration::from_millis(7500)));
    assert_eq!(s.time_elapsed_raw.as_deref(), Some("7.5"));
    assert_eq!(s.data.value(), Value::Null);
    assert!(s.images.is_empty());
    // status only.
    let s = success(parse(200, r#"{"status":10000,"message":"ok"}"#));
    assert_eq!(s.code, 10000);
    // code as a float, numeric-string time_elapsed.
    let s = success(parse(200, r#"{"code":10000.0,"time_elapsed":"0.25"}"#));
    assert_eq!(s.time_elapsed, Some(Duration::from_millis(250)));
    // Garbage time_elapsed keeps the raw value.
    let s = success(parse(200, r#"{"code":10000,"time_elapsed":"soon"}"#));
    assert_eq!(s.time_elapsed, None);
    assert_eq!(s.time_elapsed_raw.as_deref(), Some("soon"));
    // Leading BOM.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(SAMPLE.as_bytes());
    assert!(parse_response(200, JSON, &bom).is_success());
}

#[test]
fn async_submit_and_poll() {
    let s = success(parse(
        200,
        r#"{"code":10000,"data":{"task_id":"7392616336519610409"},"message":"Success",
            "request_id":"r","status":10000,"time_elapsed":"104.85ms"}"#,
    ));
    assert_eq!(s.task_id.as_deref(), Some("7392616336519610409"));
    assert_eq!(
        Outcome::Success(s).summary(),
        "10000 Success: task 7392616336519610409 submitted in 104.85ms"
    );
    let s = success(parse(
        200,
        r#"{"code":10000,"data":{"status":"in_queue","binary_data_base64":null,
            "image_urls":null},"message":"Success"}"#,
    ));
    assert_eq!(s.task_status.as_deref(), Some("in_queue"));
    assert_eq!(
        Outcome::Success(s).summary(),
        "10000 Success: task in_queue"
    );
    let s = success(parse(
        200,
        r#"{"code":10000,"data":{"status":"done","image_urls":["https://x"]}}"#,
    ));
    assert_eq!(s.task_status.as_deref(), Some("done"));
    assert_eq!(s.images.len(), 1);
}

#[test]
fn service_error_input_moderation() {
    let body = r#"{"code":50411,"data":null,"message":"Pre Img Risk Not Pass",
        "request_id":"20241105abc","status":50411,"time_elapsed":"84.448µs"}"#;
    let outcome = parse(400, body);
    assert!(!outcome.is_success());
    assert_eq!(outcome.code(), Some(50411));
    assert_eq!(outcome.retry(), Retry::No);
    assert_eq!(outcome.request_id(), Some("20241105abc"));
    assert_eq!(
        outcome.summary(),
        "50411 input image failed moderation (do not retry): Pre Img Risk Not Pass"
    );
    let e = service(outcome);
    assert_eq!(e.http_status, 400);
    assert_eq!(e.time_elapsed_raw.as_deref(), Some("84.448µs"));
    assert_eq!(e.info.map(|i| i.code), Some(50411));
}

#[test]
fn service_error_qps_limit() {
    let body = r#"{"code":50429,"data":null,"message":"Request Has Reached API Limit",
        "request_id":"r","status":50429,"time_elapsed":"1.2ms"}"#;
    let outcome = parse(429, body);
    assert_eq!(outcome.retry(), Retry::Backoff);
    assert!(
        outcome
            .summary()
            .starts_with("50429 QPS limit reached (retry with backoff)")
    );
    let e = service(outcome);
    assert_eq!(e.http_status, 429);
    assert_eq!(e.info.map(|i| i.name), Some("QPS limit"));
}

#[test]
fn service_error_with_algorithm_status_and_unknown_code() {
    let body = r#"{"code":50501,"message":"Internal RPC Error","data":{"algorithm_base_resp":
        {"status_code":100202,"status_message":"do predict failed"}}}"#;
    let outcome = parse(500, body);
    assert_eq!(outcome.retry(), Retry::Once);
    assert!(
        outcome
            .summary()
            .ends_with("[algorithm 100202 do predict failed]")
    );
    let outcome = parse(503, r#"{"code":59999,"message":"new thing","data":null}"#);
    assert_eq!(outcome.retry(), Retry::Once);
    assert_eq!(outcome.summary(), "59999 new thing (retry once)");
    assert_eq!(service(outcome).info, None);
}

#[test]
fn gateway_error_signature_mismatch() {
    let body = r#"{"ResponseMetadata":{"RequestId":"2024abc","Action":"CVProcess",
        "Version":"2022-08-31","Service":"cv","Region":"cn-north-1",
        "Error":{"CodeN":100010,"Code":"SignatureDoesNotMatch",
        "Message":"The request signature we calculated does not match the signature you provided."}}}"#;
    let outcome = parse(401, body);
    assert_eq!(outcome.code(), Some(100010));
    assert_eq!(outcome.retry(), Retry::No);
    assert_eq!(outcome.request_id(), Some("2024abc"));
    assert!(
        outcome
            .summary()
            .starts_with("100010 SignatureDoesNotMatch: The request signature")
    );
    let e = gateway(outcome);
    assert_eq!(e.code, "SignatureDoesNotMatch");
    assert_eq!(e.action.as_deref(), Some("CVProcess"));
    assert_eq!(e.info.map(|i| i.code_n), Some(100010));
}

#[test]
fn gateway_error_wins_over_result() {
    let body = r#"{"ResponseMetadata":{"RequestId":"r","Error":{"CodeN":100006,
        "Code":"InvalidTimestamp","Message":"stale"}},"Result":{"code":10000,"data":{}}}"#;
    let outcome = parse(400, body);
    assert_eq!(outcome.retry(), Retry::Once);
    let e = gateway(outcome);
    assert_eq!(e.code_n, Some(100006));
    // Only a name, no number: the table fills the number in; and vice versa.
    let e = gateway(parse(
        401,
        r#"{"ResponseMetadata":{"Error":{"Code":"InvalidAccessKey"}}}"#,
    ));
    assert_eq!(e.code_n, Some(100009));
    let e = gateway(parse(
        401,
        r#"{"ResponseMetadata":{"Error":{"CodeN":"100009"}}}"#,
    ));
    assert_eq!(e.code, "InvalidAccessKey");
    let e = gateway(parse(401, r#"{"ResponseMetadata":{"Error":"denied"}}"#));
    assert_eq!(e.message, "denied");
    assert_eq!(e.info, None);
}

#[test]
fn result_wrapped_success() {
    let body = format!(
        r#"{{"ResponseMetadata":{{"RequestId":"meta-id","Action":"CVProcess"}},"Result":{SAMPLE}}}"#
    );
    let s = success(parse(200, &body));
    assert_eq!(
        s.request_id.as_deref(),
        Some("2024110517020569520218533D2EA96060")
    );
    assert_eq!(s.images.len(), 1);
    let body = r#"{"ResponseMetadata":{"RequestId":"meta-id"},"Result":{"code":10000,"data":{}}}"#;
    assert_eq!(parse(200, body).request_id(), Some("meta-id"));
    let body = r#"{"ResponseMetadata":{"RequestId":"m"},"Result":{"code":50412,"message":"p"}}"#;
    assert_eq!(parse(400, body).code(), Some(50412));
}

#[test]
fn relay_error_shapes() {
    let outcome = parse(
        403,
        r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
    );
    assert_eq!(outcome.retry(), Retry::No);
    assert_eq!(outcome.code(), None);
    assert_eq!(outcome.summary(), "HTTP 403: quota (do not retry)");
    assert_eq!(relay(outcome).message, "quota");
    assert_eq!(
        relay(parse(401, r#"{"error":"bad key"}"#)).message,
        "bad key"
    );
    assert_eq!(relay(parse(401, r#"{"msg":"nope"}"#)).message, "nope");
    assert_eq!(
        relay(parse(422, r#"{"detail":[{"loc":["body"]}]}"#)).message,
        r#"[{"loc":["body"]}]"#
    );
    // A non-numeric code is not an envelope.
    let e = relay(parse(
        401,
        r#"{"code":"invalid_api_key","message":"Invalid key","request_id":"abc"}"#,
    ));
    assert_eq!(e.message, "Invalid key");
    assert_eq!(Outcome::Relay(e).request_id(), Some("abc"));
    // A bare HTTP-like code with no envelope field either.
    assert!(matches!(parse(401, r#"{"code":401}"#), Outcome::Relay(_)));
    assert_eq!(parse(429, r#"{"x":1}"#).retry(), Retry::Backoff);
    assert_eq!(parse(503, r#"[1,2]"#).retry(), Retry::Once);
    assert_eq!(relay(parse(500, r#""oops""#)).message, "oops");
    assert_eq!(relay(parse(500, "null")).message, "null");
    let long = format!(r#"{{"k":"{}"}}"#, "x".repeat(1000));
    assert!(relay(parse(500, &long)).message.chars().count() <= SUMMARY_MAX_CHARS + 1);
}

#[test]
fn html_502_page() {
    let body = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                </body>\r\n</html>\r\n";
    let outcome = parse_response(502, Some("text/html"), body.as_bytes());
    assert_eq!(outcome.retry(), Retry::Once);
    assert_eq!(
        outcome.summary(),
        "HTTP 502 HTML page: 502 Bad Gateway (retry once)"
    );
    let e = non_json(outcome);
    assert_eq!(e.reason, "HTML page");
    assert!(e.excerpt.starts_with("502 Bad Gateway\n<html>"));
    assert!(!e.excerpt.contains('\r'));
    assert_eq!(e.len, body.len());
    assert_eq!(e.content_type.as_deref(), Some("text/html"));
    // Without a content type, sniffed.
    let e = non_json(parse_response(
        502,
        None,
        b"<!DOCTYPE html><title>x &amp; y</title>",
    ));
    assert_eq!(e.reason, "HTML page");
    assert!(e.excerpt.starts_with("x & y\n"));
}

#[test]
fn plain_text_and_empty_bodies() {
    let e = non_json(parse_response(
        503,
        Some("text/plain"),
        b"upstream connect error or disconnect/reset before headers",
    ));
    assert_eq!(e.reason, "plain text");
    assert!(e.excerpt.starts_with("upstream connect error"));
    let e = non_json(parse_response(502, Some("text/plain"), b"502 Bad Gateway"));
    assert_eq!(e.reason, "plain text");

    let outcome = parse_response(500, None, b"");
    assert_eq!(outcome.summary(), "HTTP 500 empty body (retry once)");
    let e = non_json(outcome);
    assert_eq!(e.reason, "empty body");
    assert_eq!(e.len, 0);
    assert_eq!(
        non_json(parse_response(200, JSON, b" \r\n\t")).reason,
        "empty body"
    );
}

#[test]
fn truncated_json() {
    let cut = &SAMPLE[..SAMPLE.len() / 2];
    let e = non_json(parse(200, cut));
    assert!(
        e.reason.starts_with("invalid JSON at line "),
        "{}",
        e.reason
    );
    assert!(e.reason.contains(": EOF while parsing"), "{}", e.reason);
    // Broken JSON served as HTML is still described as broken JSON.
    let e = non_json(parse_response(502, Some("text/html"), b"{\"code\": 1"));
    assert!(e.reason.starts_with("invalid JSON"), "{}", e.reason);
    // HTML served as JSON is still an HTML page.
    let e = non_json(parse(502, "<html><title>Bad</title></html>"));
    assert_eq!(e.reason, "HTML page");
    let e = non_json(parse(200, r#"{"code": 10000, "data": {"#));
    assert_eq!(
        e.reason,
        "invalid JSON at line 1 column 25: EOF while parsing an object"
    );
}

#[test]
fn invalid_utf8() {
    let e = non_json(parse_response(200, JSON, b"{\"code\": \xff\xfe 10000}"));
    assert_eq!(e.reason, "invalid UTF-8 at byte 9");
    assert!(e.excerpt.contains('\u{FFFD}'));
    let e = non_json(parse_response(
        200,
        Some("image/jpeg"),
        &[0xFF, 0xD8, 0xFF, 0xE0],
    ));
    assert_eq!(e.reason, "invalid UTF-8 at byte 0");
}

#[test]
fn data_is_kept_as_sent_and_only_what_is_needed_is_parsed() {
    let data = r#"{"binary_data_base64":["aGk="],"detections":[{"id":1,"tags":["a"]},{"id":2}],
        "rephraser_result":"first","rephraser_result":"second","status":"done"}"#;
    let body = format!(r#"{{"code":10000,"message":"ok","data":{data},"request_id":"r"}}"#);
    let s = success(parse(200, &body));
    assert_eq!(s.data.text(), data);
    let whole: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(s.data.value(), whole["data"]);
    assert_eq!(s.images, vec![ResultImage::Base64("aGk=".into())]);
    // A key given twice: the last one, as a parsed Value has it.
    assert_eq!(s.rephraser_result.as_deref(), Some("second"));
    assert_eq!(s.task_status.as_deref(), Some("done"));
    // Wrapped in Result, the same.
    let wrapped = format!(r#"{{"ResponseMetadata":{{"RequestId":"m"}},"Result":{body}}}"#);
    let w = success(parse(200, &wrapped));
    assert_eq!(w.data.text(), data);
    assert_eq!(w.request_id.as_deref(), Some("r"));
    // Broken JSON inside `data` is broken JSON, whatever the rest.
    let broken = r#"{"code":10000,"data":{"a":[1,2}}"#;
    assert!(matches!(parse(200, broken), Outcome::NonJson(_)));
    // Serialized, `data` is JSON again (not a string).
    let v = serde_json::to_value(&s).expect("serialize");
    assert_eq!(v["data"]["detections"][1]["id"], 2);
}

#[test]
fn deeply_nested_json_does_not_overflow() {
    let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = non_json(parse(200, &arrays));
    assert!(
        e.reason.contains("recursion limit exceeded"),
        "{}",
        e.reason
    );
    assert!(e.excerpt.chars().count() <= EXCERPT_MAX_CHARS + 1);
    let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    assert!(matches!(parse(200, &objects), Outcome::NonJson(_)));
    let inside = format!(r#"{{"code":10000,"data":{arrays}}}"#);
    assert!(matches!(parse(200, &inside), Outcome::NonJson(_)));
}

#[test]
fn excerpt_limits_and_terminal_safety() {
    let many_lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let e = non_json(parse_response(500, None, many_lines.as_bytes()));
    assert_eq!(e.excerpt.lines().count(), EXCERPT_MAX_LINES + 1);
    assert!(e.excerpt.ends_with('…'));
    let long = "y".repeat(10_000);
    let e = non_json(parse_response(500, None, long.as_bytes()));
    assert_eq!(e.excerpt.chars().count(), EXCERPT_MAX_CHARS + 1);
    let e = non_json(parse_response(
        500,
        None,
        b"evil \x1b[2J\x07 text \xe2\x80\xae",
    ));
    assert!(!e.excerpt.contains('\u{1b}'));
    assert!(!e.excerpt.contains('\u{202E}'));
    let outcome = parse(400, "{\"code\":50412,\"message\":\"a\\nb\\u001b[31m\"}");
    let summary = outcome.summary();
    assert!(
        !summary.contains('\n') && !summary.contains('\u{1b}'),
        "{summary}"
    );
}

#[test]
fn go_durations() {
    let ok = [
        ("7.545501615s", Duration::from_nanos(7_545_501_615)),
        ("104.85ms", Duration::from_nanos(104_850_000)),
        ("84.448µs", Duration::from_nanos(84_448)),
        ("84.448μs", Duration::from_nanos(84_448)),
        ("84.448us", Duration::from_nanos(84_448)),
        ("12ns", Duration::from_nanos(12)),
        ("1m30.5s", Duration::from_millis(90_500)),
        ("2h3m4.5s", Duration::from_millis(7_384_500)),
        ("1.5h", Duration::from_secs(5400)),
        ("0s", Duration::ZERO),
        ("0", Duration::ZERO),
        (".5s", Duration::from_millis(500)),
        ("1.s", Duration::from_secs(1)),
        (" 3s ", Duration::from_secs(3)),
        ("1.0000000000000000000001s", Duration::from_secs(1)),
        (
            "2562047h47m16.854775807s",
            Duration::from_nanos(i64::MAX as u64),
        ),
    ];
    for (text, expected) in ok {
        assert_eq!(parse_go_duration(text), Some(expected), "{text}");
    }
    let bad = [
        "",
        " ",
        "s",
        ".s",
        ".",
        "1",
        "12",
        "-1s",
        "+1s",
        "1 s",
        "1S",
        "1sec",
        "1d",
        "1e3s",
        "1..5s",
        "1.5.5s",
        "1s2",
        "abc",
        "2562047h47m16.854775808s",
        "9999999999999999999999999999999999999999h",
        "99999999999999999999h",
        "7.5s\u{0}",
    ];
    for text in bad {
        assert_eq!(parse_go_duration(text), None, "{text:?}");
    }
}

/// Deterministic xorshift64* generator for the fuzz loops.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

fn exercise(outcome: &Outcome) {
    let _ = outcome.summary();
    let _ = outcome.retry();
    let _ = outcome.code();
    let _ = outcome.request_id();
    let _ = outcome.is_success();
    serde_json::to_string(outcome).expect("an outcome always serializes");
}

#[test]
fn nothing_panics_on_random_or_mutated_input() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let statuses = [200u16, 400, 401, 429, 500, 502, 503];
    let content_types = [None, JSON, Some("text/html"), Some("text/plain")];
    let interesting: &[u8] = b"{}[]\",:0123456789.-eE\\ntrufals\xc2\xb5<>\x00\xff\xc3";

    for round in 0..3000 {
        let status = statuses[rng.below(statuses.len())];
        let ct = content_types[rng.below(content_types.len())];
        let mut body: Vec<u8> = if round % 2 == 0 {
            let len = rng.below(200);
            (0..len)
                .map(|_| {
                    if rng.below(2) == 0 {
                        interesting[rng.below(interesting.len())]
                    } else {
                        (rng.next() & 0xFF) as u8
                    }
                })
                .collect()
        } else {
            SAMPLE.as_bytes().to_vec()
        };
        if round % 2 == 1 {
            for _ in 0..=rng.below(4) {
                match rng.below(4) {
                    0 if !body.is_empty() => {
                        let i = rng.below(body.len());
                        body[i] = interesting[rng.below(interesting.len())];
                    }
                    1 => {
                        let i = rng.below(body.len() + 1);
                        body.insert(i, (rng.next() & 0xFF) as u8);
                    }
                    2 if !body.is_empty() => {
                        let i = rng.below(body.len());
                        body.remove(i);
                    }
                    _ => body.truncate(rng.below(body.len() + 1)),
                }
            }
        }
        exercise(&parse_response(status, ct, &body));
        let wrapped = [
            b"{\"ResponseMetadata\":{},\"Result\":".as_slice(),
            &body,
            b"}",
        ]
        .concat();
        exercise(&parse_response(status, ct, &wrapped));

        let alphabet = [
            "0", "1", "9", ".", "s", "m", "h", "ns", "µs", "μs", "us", "-", "+", "x",
        ];
        let text: String = (0..rng.below(12))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = parse_go_duration(&text);
        let _ = parse_go_duration(&String::from_utf8_lossy(&body));
    }
}
