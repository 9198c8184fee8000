//! Tests of signing and verification: the reference's test vectors, canonical forms, clock skew,
//! and secrets that never show in errors or Debug output.

use super::*;
use time::macros::datetime;

const A_AK: &str = "AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE";
const A_SK: &str = "TnpCak5XWXpZV1U0WkRaaE5ERmxaR0ZpTmpjeVkyUXlZek0wTWpJMU1qWQ==";
const B_BODY: &[u8] =
    br#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/a.jpg"],"prompt":"a cat"}"#;
const REGION: &str = "cn-north-1";

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn cv_query() -> Vec<(String, String)> {
    q(&[("Action", "CVProcess"), ("Version", "2022-08-31")])
}

#[test]
fn vector_a_published_documentation_example() {
    let creds = AkSk::new(A_AK, A_SK);
    let query = q(&[
        ("Action", "ListUsers"),
        ("Version", "2018-01-01"),
        ("Limit", "10"),
        ("Offset", "0"),
    ]);
    assert_eq!(
        canonical_query(&query),
        "Action=ListUsers&Limit=10&Offset=0&Version=2018-01-01"
    );
    let signed = sign(
        &creds,
        &SignParams {
            method: "GET",
            host: "iam.volcengineapi.com",
            path: "/",
            query: &query,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            body: b"",
            x_date: "20201230T081805Z",
            region: REGION,
            service: "iam",
        },
    );
    assert_eq!(
        sha256_hex(signed.canonical_request.as_bytes()),
        "3a4d4dee07c3308a52da01bc12d7a83c3705bfa543f51648f46de880bb2a7447"
    );
    assert_eq!(
        signed.signature,
        "28eeabbbd726b87002e0fe58ad8c1c768e619b06e2646f35b6ad7ed029a6d8a7"
    );
}

fn sign_b(creds: &AkSk, host: &str) -> Signed {
    sign(
        creds,
        &SignParams {
            method: "POST",
            host,
            path: "/",
            query: &cv_query(),
            content_type: "application/json",
            body: B_BODY,
            x_date: "20240102T030405Z",
            region: REGION,
            service: "cv",
        },
    )
}

#[test]
fn vector_b_cvprocess_request() {
    let signed = sign_b(
        &AkSk::new("AKTESTEXAMPLE", "SKTESTEXAMPLE"),
        "visual.volcengineapi.com",
    );
    assert_eq!(
        signed.content_sha256,
        "a4780869feed83b2e7ff630228c9620062eca244f7a1669b586bfe445888f11a"
    );
    assert_eq!(
        sha256_hex(signed.canonical_request.as_bytes()),
        "ee39af004b1b3cc4f2cdc4e48d8cccf50f458e6622e493cd7a5cd9ca6902c6b6"
    );
    assert_eq!(
        signed.signature,
        "0ef40e3a2249b36a0bdc2b6f5f4be38b65d032bbdab380159c402d8db6a00629"
    );
    assert_eq!(
        signed.authorization,
        "HMAC-SHA256 Credential=AKTESTEXAMPLE/20240102/cn-north-1/cv/request, \
         SignedHeaders=content-type;host;x-content-sha256;x-date, \
         Signature=0ef40e3a2249b36a0bdc2b6f5f4be38b65d032bbdab380159c402d8db6a00629"
    );
    assert_eq!(
        signed.signed_headers,
        "content-type;host;x-content-sha256;x-date"
    );
    assert_eq!(
        signed.string_to_sign,
        "HMAC-SHA256\n20240102T030405Z\n20240102/cn-north-1/cv/request\n\
         ee39af004b1b3cc4f2cdc4e48d8cccf50f458e6622e493cd7a5cd9ca6902c6b6"
    );
    let names: Vec<&str> = signed.headers().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["X-Date", "X-Content-Sha256", "Authorization"]);
}

#[test]
fn default_ports_are_stripped_other_ports_kept() {
    let creds = AkSk::new("AKTESTEXAMPLE", "SKTESTEXAMPLE");
    let plain = sign_b(&creds, "visual.volcengineapi.com");
    assert_eq!(sign_b(&creds, "visual.volcengineapi.com:443"), plain);
    assert_eq!(sign_b(&creds, "visual.volcengineapi.com:80"), plain);
    assert_ne!(
        sign_b(&creds, "visual.volcengineapi.com:8443").signature,
        plain.signature
    );
    assert_eq!(normalize_host("127.0.0.1:8787"), "127.0.0.1:8787");
    assert_eq!(normalize_host("[::1]:443"), "[::1]");
    assert_eq!(normalize_host(":443"), ":443");
}

#[test]
fn canonical_query_encodes_and_sorts() {
    let query = q(&[
        ("b", "x y"),
        ("a", "2"),
        ("a", "1"),
        ("c~", "é/+"),
        ("e", ""),
    ]);
    assert_eq!(
        canonical_query(&query),
        "a=1&a=2&b=x%20y&c~=%C3%A9%2F%2B&e="
    );
    assert_eq!(canonical_query(&[]), "");
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/volcv/v1"), "/volcv/v1");
    assert_eq!(canonical_uri("/a b"), "/a%20b");
    assert_eq!(canonical_uri("/a%20b"), "/a%20b");
}

#[test]
fn session_token_is_signed_and_sent() {
    let mut creds = AkSk::new("AKTESTEXAMPLE", "SKTESTEXAMPLE");
    creds.session_token = Some(Secret::new("token-123"));
    let signed = sign_b(&creds, "visual.volcengineapi.com");
    assert_eq!(
        signed.signed_headers,
        "content-type;host;x-content-sha256;x-date;x-security-token"
    );
    assert!(
        signed
            .canonical_request
            .contains("\nx-security-token:token-123\n")
    );
    assert!(
        signed
            .headers()
            .contains(&("X-Security-Token", "token-123".to_owned()))
    );
    assert!(!format!("{signed:?}").contains("token-123"));
    assert!(
        signed
            .canonical_request_redacted()
            .contains("\nx-security-token:<redacted>\n")
    );
}

#[test]
fn x_date_round_trips() {
    let t = datetime!(2024-01-02 03:04:05 UTC);
    assert_eq!(format_x_date(t), "20240102T030405Z");
    assert_eq!(parse_x_date("20240102T030405Z"), Some(t));
    let shifted = datetime!(2024-01-02 11:04:05 +8);
    assert_eq!(format_x_date(shifted), "20240102T030405Z");
    for bad in [
        "",
        "20240102T030405",
        "2024-01-02T03:04:05Z",
        "20241302T030405Z",
        "20240230T030405Z",
        "20240102T250405Z",
        "20240102t030405Z",
        "2024010+T030405Z",
        "20240102T030405Zx",
        "２0240102T030405Z",
    ] {
        assert_eq!(parse_x_date(bad), None, "{bad}");
    }
}

#[test]
fn parse_authorization_accepts_and_rejects() {
    let p = parse_authorization(
        "HMAC-SHA256 Credential=AK/20240102/cn-north-1/cv/request, \
         SignedHeaders=content-type;Host;x-date, Signature=abcd",
    )
    .expect("well-formed header");
    assert_eq!(p.access_key, "AK");
    assert_eq!(p.short_date, "20240102");
    assert_eq!(p.region, "cn-north-1");
    assert_eq!(p.service, "cv");
    assert_eq!(p.signed_headers, ["content-type", "host", "x-date"]);
    assert_eq!(p.signature, "abcd");
    // Any order, tight spacing.
    assert!(
        parse_authorization(
            "HMAC-SHA256 Signature=ab,SignedHeaders=host,Credential=A/D/R/S/request"
        )
        .is_some()
    );
    for bad in [
        "",
        "Bearer abc",
        "HMAC-SHA256",
        "HMAC-SHA256Credential=A/D/R/S/request, SignedHeaders=host, Signature=ab",
        "HMAC-SHA256 Credential=A/D/R/S/request, SignedHeaders=host",
        "HMAC-SHA256 Credential=A/D/R/S/req, SignedHeaders=host, Signature=ab",
        "HMAC-SHA256 Credential=A/D/R/request, SignedHeaders=host, Signature=ab",
        "HMAC-SHA256 Credential=A//R/S/request, SignedHeaders=host, Signature=ab",
        "HMAC-SHA256 Credential=A/D/R/S/request, SignedHeaders=, Signature=ab",
        "HMAC-SHA256 Credential=A/D/R/S/request, SignedHeaders=host, Signature=",
        "HMAC-SHA256 Credential=A/D/R/S/request, SignedHeaders=host, Signature=ab, Signature=cd",
        "HMAC-SHA256 Credential=A/D/R/S/request, SignedHeaders=host, Signature=ab, Extra=1",
    ] {
        assert_eq!(parse_authorization(bad), None, "{bad}");
    }
}

/// A signed request as the mock would receive it.
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    query: Vec<(String, String)>,
}

const SK: &str = "SK-very-secret-value";
const AK: &str = "AKTESTLOCAL";

fn now() -> OffsetDateTime {
    datetime!(2024-01-02 03:04:05 UTC)
}

fn received_at(x_date: &str) -> Received {
    let creds = AkSk::new(AK, SK);
    let query = cv_query();
    let signed = sign(
        &creds,
        &SignParams {
            method: "POST",
            host: "127.0.0.1:8787",
            path: "/",
            query: &query,
            content_type: "application/json",
            body: B_BODY,
            x_date,
            region: REGION,
            service: "cv",
        },
    );
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), "127.0.0.1:8787".to_owned()),
    ];
    headers.extend(
        signed
            .headers()
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v)),
    );
    Received {
        headers,
        body: B_BODY.to_vec(),
        query,
    }
}

fn received() -> Received {
    received_at("20240102T030405Z")
}

impl Received {
    fn set(&mut self, name: &str, value: Option<&str>) {
        self.headers.retain(|(n, _)| n != name);
        if let Some(v) = value {
            self.headers.push((name.to_owned(), v.to_owned()));
        }
    }

    fn verify_with(&self, secret_for: &dyn Fn(&str) -> Option<Secret>) -> Result<(), VerifyError> {
        let lookup = |name: &str| {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let host = lookup("host").unwrap_or_default();
        verify(
            &IncomingRequest {
                method: "POST",
                host: &host,
                path: "/",
                query: &self.query,
                header: &lookup,
                body: &self.body,
            },
            secret_for,
            ExpectedScope {
                region: REGION,
                service: "cv",
            },
            now(),
        )
    }

    fn verify(&self) -> Result<(), VerifyError> {
        self.verify_with(&|ak| (ak == AK).then(|| Secret::new(SK)))
    }
}

#[test]
fn sign_then_verify_round_trip() {
    assert_eq!(received().verify(), Ok(()));
    // Within the 900 s window on both sides.
    assert_eq!(received_at("20240102T031905Z").verify(), Ok(()));
    assert_eq!(received_at("20240102T024905Z").verify(), Ok(()));
    // Surrounding whitespace in header values is trimmed on both sides.
    let mut r = received();
    r.set("content-type", Some("  application/json "));
    assert_eq!(r.verify(), Ok(()));
}

#[test]
fn tampered_body_is_rejected() {
    let mut r = received();
    r.body.push(b' ');
    let err = r.verify().expect_err("tampered body");
    assert!(matches!(err, VerifyError::Mismatch { .. }), "{err:?}");
    assert_eq!(err.gateway_code(), (100010, "SignatureDoesNotMatch"));
    assert_eq!(err.http_status(), 401);

    // Even when the client lies consistently about the hash, the signature check fails.
    let mut r = received();
    r.body = b"{}".to_vec();
    r.set("x-content-sha256", Some(&sha256_hex(b"{}")));
    assert!(matches!(r.verify(), Err(VerifyError::Mismatch { .. })));
}

#[test]
fn tampered_query_or_header_is_rejected() {
    let mut r = received();
    r.query[0].1 = "CVSync2AsyncSubmitTask".to_owned();
    let err = r.verify().expect_err("tampered query");
    match err {
        VerifyError::Mismatch {
            canonical_request, ..
        } => assert!(canonical_request.contains("Action=CVSync2AsyncSubmitTask")),
        other => panic!("unexpected {other:?}"),
    }
    let mut r = received();
    r.set("content-type", Some("text/plain"));
    assert!(matches!(r.verify(), Err(VerifyError::Mismatch { .. })));
}

#[test]
fn wrong_secret_is_rejected() {
    let r = received();
    let err = r
        .verify_with(&|_| Some(Secret::new("another-secret")))
        .expect_err("wrong secret");
    assert!(matches!(err, VerifyError::Mismatch { .. }));
    assert!(!format!("{err:?} {err}").contains("another-secret"));
    assert!(!format!("{err:?} {err}").contains(SK));
}

#[test]
fn unknown_access_key_is_rejected() {
    let err = received().verify_with(&|_| None).expect_err("unknown key");
    assert_eq!(err, VerifyError::UnknownAccessKey);
    assert_eq!(err.gateway_code(), (100009, "InvalidAccessKey"));
    assert_eq!(err.http_status(), 401);
}

#[test]
fn stale_or_bad_timestamp_is_rejected() {
    for x_date in ["20240102T031906Z", "20240102T024904Z"] {
        let err = received_at(x_date).verify().expect_err("901 s off");
        assert!(matches!(err, VerifyError::BadTimestamp(_)), "{err:?}");
        assert_eq!(err.gateway_code(), (100006, "InvalidTimestamp"));
        assert_eq!(err.http_status(), 400);
    }
    let mut r = received();
    r.set("x-date", Some("2024-01-02T03:04:05Z"));
    assert!(matches!(r.verify(), Err(VerifyError::BadTimestamp(_))));
}

#[test]
fn missing_headers_are_rejected() {
    let mut r = received();
    r.set("authorization", None);
    let err = r.verify().expect_err("no authorization");
    assert_eq!(err, VerifyError::MissingAuthorization);
    assert_eq!(err.gateway_code(), (100003, "MissingAuthenticationToken"));

    let mut r = received();
    r.set("authorization", Some("Bearer sk-abc"));
    let err = r.verify().expect_err("bearer");
    assert!(matches!(err, VerifyError::MissingSignature(_)));
    assert_eq!(err.gateway_code(), (100005, "MissingSignature"));
    assert_eq!(err.http_status(), 400);

    let mut r = received();
    r.set("x-date", None);
    let err = r.verify().expect_err("no x-date");
    assert!(matches!(err, VerifyError::BadTimestamp(_)), "{err:?}");

    let mut r = received();
    r.set("content-type", None);
    let err = r.verify().expect_err("no content-type");
    assert!(matches!(err, VerifyError::MissingRequestInfo(_)), "{err:?}");
    assert_eq!(err.gateway_code(), (100004, "MissingRequestInfo"));

    let mut r = received();
    let auth = r
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone());
    let auth = auth.expect("signed request has Authorization");
    let bad = auth.replace("Signature=", "Signature=zz");
    r.set("authorization", Some(&bad));
    assert!(matches!(r.verify(), Err(VerifyError::MissingSignature(_))));
}

#[test]
fn wrong_scope_is_rejected() {
    let creds = AkSk::new(AK, SK);
    let query = cv_query();
    let signed = sign(
        &creds,
        &SignParams {
            method: "POST",
            host: "127.0.0.1:8787",
            path: "/",
            query: &query,
            content_type: "application/json",
            body: B_BODY,
            x_date: "20240102T030405Z",
            region: "cn-beijing",
            service: "cv",
        },
    );
    let mut r = received();
    r.set("authorization", Some(&signed.authorization));
    let err = r.verify().expect_err("wrong region");
    assert!(matches!(err, VerifyError::Mismatch { .. }));
    assert!(err.to_string().contains("cn-beijing"));
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut creds = AkSk::new(AK, SK);
    creds.session_token = Some(Secret::new("session-token-secret"));
    let dbg = format!("{creds:?}");
    assert!(!dbg.contains(SK));
    assert!(!dbg.contains("session-token-secret"));
    // The access key is kept out of output like the secret (Credential=<redacted>/...).
    assert!(!dbg.contains(AK), "{dbg}");
    let errors = [
        VerifyError::MissingAuthorization,
        VerifyError::MissingSignature("x".to_owned()),
        VerifyError::MissingRequestInfo("x".to_owned()),
        VerifyError::BadTimestamp("x".to_owned()),
        VerifyError::UnknownAccessKey,
    ];
    for err in errors {
        assert!(!format!("{err:?} {err}").contains(SK));
    }
    let mut r = received();
    r.body.push(b'x');
    let err = r.verify().expect_err("tampered");
    assert!(!format!("{err:?} {err}").contains(SK));
}
