//! The error-code tables of `cvprocess-api.md` section 3: business codes of the service envelope
//! (`code`) and gateway codes (`ResponseMetadata.Error.CodeN` / `Code`), each with a short name,
//! its meaning and what a client should do about it.

use serde::Serialize;

/// Whether, and how, a request that failed with a given code may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// The same request will fail again: fix it first.
    No,
    /// A new sample may pass (e.g. the output failed moderation): retrying is reasonable.
    Yes,
    /// Rate limited (QPS): retry with exponential backoff.
    Backoff,
    /// Concurrency limited: retry once some in-flight jobs have finished.
    AfterInflight,
    /// Transient server trouble (or a stale signature): retry once, then give up.
    Once,
}

impl Retry {
    /// Human advice for this class, e.g. `"retry with backoff"`.
    pub fn advice(&self) -> &'static str {
        match self {
            Retry::No => "do not retry",
            Retry::Yes => "retry: a new sample may pass",
            Retry::Backoff => "retry with backoff",
            Retry::AfterInflight => "retry after in-flight jobs finish",
            Retry::Once => "retry once",
        }
    }

    /// Whether any retry at all makes sense.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Retry::No)
    }
}

/// One business code of the service envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    /// The `code` value, e.g. `50411`.
    pub code: i64,
    /// A short name, e.g. `"QPS limit"`.
    pub name: &'static str,
    /// The HTTP status the service answers with, where documented.
    pub http_status: Option<u16>,
    /// What the code means, in a sentence fragment.
    pub meaning: &'static str,
    /// What to do about it.
    pub retry: Retry,
}

/// The business code that means success.
pub const SUCCESS: i64 = 10000;

const fn code(
    code: i64,
    name: &'static str,
    http_status: Option<u16>,
    meaning: &'static str,
    retry: Retry,
) -> CodeInfo {
    CodeInfo {
        code,
        name,
        http_status,
        meaning,
        retry,
    }
}

/// Every business code of the spec, in the spec's order.
pub static CODES: &[CodeInfo] = &[
    code(SUCCESS, "success", Some(200), "success", Retry::No),
    code(
        50411,
        "input image moderation",
        Some(400),
        "input image failed moderation",
        Retry::No,
    ),
    code(
        50412,
        "prompt moderation",
        Some(400),
        "prompt failed moderation",
        Retry::No,
    ),
    code(
        50413,
        "prompt sensitive words",
        Some(400),
        "prompt contains sensitive or copyrighted words",
        Retry::No,
    ),
    code(
        50511,
        "output image moderation",
        Some(400),
        "output image failed moderation",
        Retry::Yes,
    ),
    code(
        50512,
        "output text moderation",
        Some(400),
        "output text failed moderation",
        Retry::No,
    ),
    code(
        50518,
        "input image copyright",
        Some(400),
        "input image hit a copyrighted image",
        Retry::No,
    ),
    code(
        50519,
        "output image copyright",
        Some(400),
        "output image hit a copyrighted image",
        Retry::Yes,
    ),
    code(
        50520,
        "moderation service error",
        Some(400),
        "moderation service error",
        Retry::No,
    ),
    code(
        50521,
        "anti-dirt service error",
        Some(400),
        "anti-dirt service error",
        Retry::No,
    ),
    code(
        50522,
        "copyright service error",
        Some(400),
        "copyright service error",
        Retry::No,
    ),
    code(
        50429,
        "QPS limit",
        Some(429),
        "QPS limit reached",
        Retry::Backoff,
    ),
    code(
        50430,
        "concurrency limit",
        Some(429),
        "concurrency limit reached",
        Retry::AfterInflight,
    ),
    code(
        50500,
        "internal error",
        Some(500),
        "internal error",
        Retry::Once,
    ),
    code(
        50501,
        "internal RPC error",
        Some(500),
        "internal RPC / algorithm error",
        Retry::Once,
    ),
    code(
        50200,
        "invalid parameter",
        None,
        "invalid parameter",
        Retry::No,
    ),
    code(
        50201,
        "missing parameter",
        None,
        "missing parameter",
        Retry::No,
    ),
    code(
        50204,
        "mistyped parameter",
        None,
        "parameter has the wrong type",
        Retry::No,
    ),
    code(50205, "image too large", None, "image too large", Retry::No),
    code(
        50206,
        "no image",
        None,
        "no image in the request",
        Retry::No,
    ),
    code(
        50207,
        "image decode failed",
        None,
        "image decode failed (bad base64, or a data: prefix)",
        Retry::No,
    ),
    code(
        50213,
        "body too large",
        None,
        "request body too large",
        Retry::No,
    ),
    code(
        50215,
        "input not acceptable",
        None,
        "inputs do not meet the service's requirements",
        Retry::No,
    ),
    code(
        60102,
        "no face",
        None,
        "a face is needed and none was found",
        Retry::No,
    ),
    code(
        50400,
        "access denied",
        None,
        "access denied: wrong req_key, service not activated, or missing IAM policy",
        Retry::No,
    ),
    code(50402, "no such API", None, "API does not exist", Retry::No),
];

/// Looks up a business code.
pub fn lookup(code: i64) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

/// One gateway code (`ResponseMetadata.Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GatewayCodeInfo {
    /// `CodeN`, e.g. `100010`.
    pub code_n: i64,
    /// `Code`, e.g. `"SignatureDoesNotMatch"`.
    pub code: &'static str,
    /// What it means.
    pub meaning: &'static str,
    /// What to do about it.
    pub retry: Retry,
}

const fn gateway(
    code_n: i64,
    code: &'static str,
    meaning: &'static str,
    retry: Retry,
) -> GatewayCodeInfo {
    GatewayCodeInfo {
        code_n,
        code,
        meaning,
        retry,
    }
}

/// Every gateway code of the spec (100011 is not documented and not listed).
pub static GATEWAY_CODES: &[GatewayCodeInfo] = &[
    gateway(
        100002,
        "MissingParameter",
        "a required parameter (e.g. Action or Version) is missing",
        Retry::No,
    ),
    gateway(
        100003,
        "MissingAuthenticationToken",
        "the request carries no credentials (no Authorization header)",
        Retry::No,
    ),
    gateway(
        100004,
        "MissingRequestInfo",
        "request information needed to check the signature is missing",
        Retry::No,
    ),
    gateway(
        100005,
        "MissingSignature",
        "the signature is missing or the Authorization header is malformed",
        Retry::No,
    ),
    gateway(
        100006,
        "InvalidTimestamp",
        "X-Date is invalid or too far from the server clock (signatures are valid 900 s): \
         check the clock, re-sign",
        Retry::Once,
    ),
    gateway(
        100007,
        "ServiceNotFound",
        "the service in the credential scope does not exist",
        Retry::No,
    ),
    gateway(
        100008,
        "InvalidActionOrVersion",
        "Action or Version is not valid for this service",
        Retry::No,
    ),
    gateway(
        100009,
        "InvalidAccessKey",
        "the access key is not known",
        Retry::No,
    ),
    gateway(
        100010,
        "SignatureDoesNotMatch",
        "the signature does not match (wrong secret key, region, service, or signed content)",
        Retry::No,
    ),
    gateway(
        100012,
        "LackPolicy",
        "the account lacks the IAM policy for this action",
        Retry::No,
    ),
    gateway(100013, "AccessDenied", "access denied", Retry::No),
];

/// Looks up a gateway code by `CodeN`.
pub fn gateway_lookup(code_n: i64) -> Option<&'static GatewayCodeInfo> {
    GATEWAY_CODES.iter().find(|c| c.code_n == code_n)
}

/// Looks up a gateway code by its `Code` name (exact, case-sensitive as the gateway sends it).
pub fn gateway_by_name(code: &str) -> Option<&'static GatewayCodeInfo> {
    GATEWAY_CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const SPEC_CODES: &[i64] = &[
        10000, 50411, 50412, 50413, 50511, 50512, 50518, 50519, 50520, 50521, 50522, 50429, 50430,
        50500, 50501, 50200, 50201, 50204, 50205, 50206, 50207, 50213, 50215, 60102, 50400, 50402,
    ];

    const SPEC_GATEWAY: &[(i64, &str)] = &[
        (100002, "MissingParameter"),
        (100003, "MissingAuthenticationToken"),
        (100004, "MissingRequestInfo"),
        (100005, "MissingSignature"),
        (100006, "InvalidTimestamp"),
        (100007, "ServiceNotFound"),
        (100008, "InvalidActionOrVersion"),
        (100009, "InvalidAccessKey"),
        (100010, "SignatureDoesNotMatch"),
        (100012, "LackPolicy"),
        (100013, "AccessDenied"),
    ];

    #[test]
    fn every_business_code_is_present_once() {
        for &c in SPEC_CODES {
            let info = lookup(c).unwrap_or_else(|| panic!("missing {c}"));
            assert_eq!(info.code, c);
            assert!(!info.name.is_empty() && !info.meaning.is_empty());
        }
        assert_eq!(CODES.len(), SPEC_CODES.len());
        let unique: HashSet<i64> = CODES.iter().map(|c| c.code).collect();
        assert_eq!(unique.len(), CODES.len());
        assert_eq!(lookup(12345), None);
    }

    #[test]
    fn business_retry_advice_follows_the_spec() {
        let retry = |c| lookup(c).map(|i| i.retry);
        assert_eq!(retry(50411), Some(Retry::No));
        assert_eq!(retry(50511), Some(Retry::Yes));
        assert_eq!(retry(50518), Some(Retry::No));
        assert_eq!(retry(50519), Some(Retry::Yes));
        assert_eq!(retry(50429), Some(Retry::Backoff));
        assert_eq!(retry(50430), Some(Retry::AfterInflight));
        assert_eq!(retry(50500), Some(Retry::Once));
        assert_eq!(retry(50501), Some(Retry::Once));
        assert_eq!(lookup(50429).and_then(|i| i.http_status), Some(429));
        assert_eq!(lookup(50411).and_then(|i| i.http_status), Some(400));
        assert_eq!(lookup(50501).and_then(|i| i.http_status), Some(500));
        assert_eq!(lookup(50429).map(|i| i.name), Some("QPS limit"));
    }

    #[test]
    fn every_gateway_code_is_present_and_round_trips() {
        for &(n, name) in SPEC_GATEWAY {
            let by_n = gateway_lookup(n).unwrap_or_else(|| panic!("missing {n}"));
            assert_eq!(by_n.code, name);
            let by_name = gateway_by_name(name).unwrap_or_else(|| panic!("missing {name}"));
            assert_eq!(by_name.code_n, n);
            let expected = if n == 100006 { Retry::Once } else { Retry::No };
            assert_eq!(by_n.retry, expected, "{name}");
        }
        assert_eq!(GATEWAY_CODES.len(), SPEC_GATEWAY.len());
        assert_eq!(gateway_lookup(100011), None);
        assert_eq!(gateway_by_name("signaturedoesnotmatch"), None);
    }

    #[test]
    fn advice_is_distinct_per_class() {
        let all = [
            Retry::No,
            Retry::Yes,
            Retry::Backoff,
            Retry::AfterInflight,
            Retry::Once,
        ];
        let texts: HashSet<&str> = all.iter().map(Retry::advice).collect();
        assert_eq!(texts.len(), all.len());
        assert_eq!(Retry::Backoff.advice(), "retry with backoff");
        assert!(!Retry::No.is_retryable());
        assert!(Retry::Once.is_retryable());
    }
}
