//! Volcengine AK/SK request signing (HMAC-SHA256, "SignerV4") and its server-side verification.
//!
//! Signing is a set of pure functions: [`sign`] takes the request parts and the credentials and
//! returns every intermediate value ([`Signed`]) so that the CLI can show exactly what was signed
//! when the server says `SignatureDoesNotMatch`. [`verify`] is the mirror image used by the mock
//! server: it rebuilds the canonical request from what it received and compares signatures in
//! constant time.
//!
//! The algorithm (see `cvprocess-api.md`, section 4):
//!
//! ```text
//! CanonicalRequest = METHOD \n URI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//! StringToSign     = "HMAC-SHA256" \n X-Date \n ShortDate/region/service/request \n hex(sha256(CanonicalRequest))
//! kSigning         = HMAC(HMAC(HMAC(HMAC(SK, ShortDate), region), service), "request")
//! Signature        = hex(HMAC(kSigning, StringToSign))
//! ```
//!
//! Signing test vector B of the reference (a CVProcess request, checked against the official
//! Python SDK's signer):
//!
//! ```rust
//! use volcv::api::auth::{AkSk, SignParams, sha256_hex, sign};
//!
//! let body = br#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/a.jpg"],"prompt":"a cat"}"#;
//! let query = [
//!     ("Action".to_owned(), "CVProcess".to_owned()),
//!     ("Version".to_owned(), "2022-08-31".to_owned()),
//! ];
//! let signed = sign(
//!     &AkSk::new("AKTESTEXAMPLE", "SKTESTEXAMPLE"),
//!     &SignParams {
//!         method: "POST",
//!         host: "visual.volcengineapi.com",
//!         path: "/",
//!         query: &query,
//!         content_type: "application/json",
//!         body,
//!         x_date: "20240102T030405Z",
//!         region: "cn-north-1",
//!         service: "cv",
//!     },
//! );
//! assert_eq!(
//!     sha256_hex(body),
//!     "a4780869feed83b2e7ff630228c9620062eca244f7a1669b586bfe445888f11a"
//! );
//! assert_eq!(
//!     signed.signature,
//!     "0ef40e3a2249b36a0bdc2b6f5f4be38b65d032bbdab380159c402d8db6a00629"
//! );
//! assert_eq!(
//!     signed.authorization,
//!     "HMAC-SHA256 Credential=AKTESTEXAMPLE/20240102/cn-north-1/cv/request, \
//!      SignedHeaders=content-type;host;x-content-sha256;x-date, \
//!      Signature=0ef40e3a2249b36a0bdc2b6f5f4be38b65d032bbdab380159c402d8db6a00629"
//! );
//! ```
//!
//! Secrets never appear in `Debug` output or errors: [`AkSk`] holds its secret key as a
//! [`Secret`], and [`VerifyError`] carries no key material.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::api::secret::{REDACTED, Secret};

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm Volcengine's signer speaks; it starts the `Authorization` header.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// The literal last element of every credential scope.
pub const SCOPE_TERMINATOR: &str = "request";

/// Env: the Bearer API key. The credential variables are named here, in the protocol layer,
/// because exports (`api::curl`) refer to them; `config` reads them.
pub const ENV_API_KEY: &str = "VOLCV_API_KEY";
/// Env: the Volcengine access key (as the official SDKs name it).
pub const ENV_ACCESS_KEY: &str = "VOLC_ACCESSKEY";
/// Env: the Volcengine secret key (as the official SDKs name it).
pub const ENV_SECRET_KEY: &str = "VOLC_SECRETKEY";

/// How far (in seconds, either direction) `X-Date` may be from the server's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 900;

/// RFC 3986 unreserved characters (`A-Za-z0-9-_.~`) stay as they are; everything else is
/// percent-encoded (so a space becomes `%20`, never `+`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Like [`RFC3986`] but keeps `/` (segment separator) and `%` (an already-encoded path stays as
/// it is, so encoding a path twice changes nothing).
const PATH: &AsciiSet = &RFC3986.remove(b'/').remove(b'%');

/// An access key / secret key pair, optionally with the session token of temporary (STS)
/// credentials. `Debug` redacts all three: the access key is only an identifier, but volcv
/// keeps it out of every output like the secret (`Credential=<redacted>/...`).
#[derive(Clone, PartialEq, Eq)]
pub struct AkSk {
    /// The access key id, e.g. `AKLT...`; sent in clear in the `Authorization` header.
    pub access_key: String,
    /// The secret access key; only ever used as HMAC key material.
    pub secret_key: Secret,
    /// The session token of temporary credentials; sent as `X-Security-Token` and signed.
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AkSk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AkSk")
            .field(
                "access_key",
                &format_args!("{}", crate::api::secret::REDACTED),
            )
            .field("secret_key", &self.secret_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

impl AkSk {
    /// Long-term credentials without a session token. The access key is remembered for
    /// [`crate::api::secret::scrub`] like the secret key.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        let access_key = access_key.into();
        crate::api::secret::remember(&access_key);
        Self {
            access_key,
            secret_key: Secret::new(secret_key),
            session_token: None,
        }
    }
}

/// Everything about one request that goes into its signature.
#[derive(Debug, Clone, Copy)]
pub struct SignParams<'a> {
    /// HTTP method as sent, e.g. `"POST"` (not case-folded).
    pub method: &'a str,
    /// Host as sent in the `Host` header. A trailing `:80` or `:443` is stripped before signing
    /// (as the official SDKs do); any other port is kept, e.g. `"127.0.0.1:8787"`.
    pub host: &'a str,
    /// The request path, e.g. `"/"` (direct endpoint) or `"/volcv/v1"`; empty means `"/"`.
    /// Characters outside `A-Za-z0-9-_.~/%` are percent-encoded; see [`canonical_uri`].
    pub path: &'a str,
    /// Query parameters, unencoded, in any order (e.g. `Action`, `Version`).
    pub query: &'a [(String, String)],
    /// The `Content-Type` header as sent, e.g. `"application/json"`.
    pub content_type: &'a str,
    /// The exact body bytes sent (hash them after the last serialization, never before).
    pub body: &'a [u8],
    /// The request time as `YYYYMMDD'T'HHMMSS'Z'` (see [`format_x_date`]).
    pub x_date: &'a str,
    /// Credential-scope region, `cn-north-1` for CVProcess.
    pub region: &'a str,
    /// Credential-scope service, `cv` for CVProcess.
    pub service: &'a str,
}

/// The result of [`sign`]: the headers to send and every intermediate value, for diagnostics.
///
/// With temporary credentials the canonical request contains the session token; `Debug`
/// redacts it, and [`Signed::canonical_request_redacted`] gives a version safe to show.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The `X-Date` header value (copied from [`SignParams::x_date`]).
    pub x_date: String,
    /// The `X-Content-Sha256` header value: lowercase hex SHA-256 of the body.
    pub content_sha256: String,
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// The string that was HMAC'd with the derived signing key.
    pub string_to_sign: String,
    /// Lowercase hex signature.
    pub signature: String,
    /// The full `Authorization` header value.
    pub authorization: String,
    /// The `SignedHeaders` list, e.g. `content-type;host;x-content-sha256;x-date`.
    pub signed_headers: String,
    /// The session token to send as `X-Security-Token`, when the credentials have one.
    pub security_token: Option<Secret>,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("x_date", &self.x_date)
            .field("content_sha256", &self.content_sha256)
            .field("canonical_request", &self.canonical_request_redacted())
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .field("authorization", &self.authorization)
            .field("signed_headers", &self.signed_headers)
            .field("security_token", &self.security_token)
            .finish()
    }
}

impl Signed {
    /// The canonical request with the `x-security-token` value (if any) replaced by
    /// `<redacted>`: what to print when showing the user what was signed.
    pub fn canonical_request_redacted(&self) -> String {
        match &self.security_token {
            Some(token) if !token.is_empty() => self.canonical_request.replace(
                &format!("\nx-security-token:{}\n", token.expose().trim()),
                &format!("\nx-security-token:{REDACTED}\n"),
            ),
            _ => self.canonical_request.clone(),
        }
    }

    /// The headers the signature requires, ready to add to the request: `X-Date`,
    /// `X-Content-Sha256`, `Authorization`, and `X-Security-Token` when the credentials carry a
    /// session token. `Host` and `Content-Type` are the caller's to set (with the same values
    /// that were signed).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("X-Date", self.x_date.clone()),
            ("X-Content-Sha256", self.content_sha256.clone()),
            ("Authorization", self.authorization.clone()),
        ];
        if let Some(token) = &self.security_token {
            headers.push(("X-Security-Token", token.expose().to_owned()));
        }
        headers
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac
}

/// Derives `kSigning` from the secret key and the credential scope parts.
fn signing_key(secret: &Secret, short_date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(secret.expose().as_bytes(), short_date.as_bytes()).finalize();
    let k_region = hmac_sha256(&k_date.into_bytes(), region.as_bytes()).finalize();
    let k_service = hmac_sha256(&k_region.into_bytes(), service.as_bytes()).finalize();
    let k_signing = hmac_sha256(&k_service.into_bytes(), SCOPE_TERMINATOR.as_bytes()).finalize();
    k_signing.into_bytes().to_vec()
}

/// Strips a default port (`:80` or `:443`) from a host value and trims it.
pub fn normalize_host(host: &str) -> &str {
    let host = host.trim();
    for port in [":80", ":443"] {
        if let Some(stripped) = host.strip_suffix(port)
            && !stripped.is_empty()
            && !stripped.ends_with(':')
        {
            return stripped;
        }
    }
    host
}

/// The canonical URI: `path` with an empty value meaning `/`, and every byte outside
/// `A-Za-z0-9-_.~/%` percent-encoded. `%` is left alone so that a path that is already encoded
/// (as it arrives at a server) canonicalizes to itself.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        utf8_percent_encode(path, PATH).to_string()
    }
}

/// The canonical query string: names and values RFC 3986-encoded (unreserved `A-Za-z0-9-_.~`
/// kept, space as `%20`), pairs sorted by name and then by value (comparing the raw strings),
/// joined as `k=v` with `&`. A parameter without a value still gets its `=`.
pub fn canonical_query(q: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = q.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, RFC3986),
                utf8_percent_encode(v, RFC3986)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds the canonical request from already-normalized parts. `headers` are
/// `(lowercase name, value)` pairs in signed-header order; values are trimmed here.
fn build_canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(&str, &str)],
    body_sha256: &str,
) -> (String, String) {
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical_headers = String::new();
    for (name, value) in headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value.trim());
        canonical_headers.push('\n');
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{body_sha256}",
        canonical_uri(path),
        canonical_query(query),
    );
    (canonical_request, signed_headers)
}

fn credential_scope(short_date: &str, region: &str, service: &str) -> String {
    format!("{short_date}/{region}/{service}/{SCOPE_TERMINATOR}")
}

fn build_string_to_sign(x_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{x_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The first eight characters of an `X-Date` (or the whole value when it is shorter).
fn short_date(x_date: &str) -> &str {
    x_date.get(..8).unwrap_or(x_date)
}

/// Signs one request. Pure: the time comes in through [`SignParams::x_date`].
pub fn sign(creds: &AkSk, p: &SignParams) -> Signed {
    let content_sha256 = sha256_hex(p.body);
    let host = normalize_host(p.host);
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", p.content_type),
        ("host", host),
        ("x-content-sha256", &content_sha256),
        ("x-date", p.x_date),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-security-token", token.expose()));
    }
    let (canonical_request, signed_headers) =
        build_canonical_request(p.method, p.path, p.query, &headers, &content_sha256);
    let short = short_date(p.x_date);
    let scope = credential_scope(short, p.region, p.service);
    let string_to_sign = build_string_to_sign(p.x_date, &scope, &canonical_request);
    let key = signing_key(&creds.secret_key, short, p.region, p.service);
    let signature = hex::encode(
        hmac_sha256(&key, string_to_sign.as_bytes())
            .finalize()
            .into_bytes(),
    );
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key
    );
    Signed {
        x_date: p.x_date.to_owned(),
        content_sha256,
        canonical_request,
        string_to_sign,
        signature,
        authorization,
        signed_headers,
        security_token: creds.session_token.clone(),
    }
}

/// Formats a time as an `X-Date` value: UTC, `YYYYMMDD'T'HHMMSS'Z'` (no separators).
pub fn format_x_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an `X-Date` value (`YYYYMMDD'T'HHMMSS'Z'`, exactly 16 characters) as a UTC time.
/// Returns `None` for any other shape or an impossible date/time.
pub fn parse_x_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &b[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let hour = u8::try_from(num(9..11)?).ok()?;
    let minute = u8::try_from(num(11..13)?).ok()?;
    let second = u8::try_from(num(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// A parsed `Authorization: HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/request,
/// SignedHeaders=a;b, Signature=hex` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The access key id from the credential.
    pub access_key: String,
    /// The `YYYYMMDD` date of the credential scope.
    pub short_date: String,
    /// The credential-scope region.
    pub region: String,
    /// The credential-scope service.
    pub service: String,
    /// The signed header names, lowercased, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// The signature as sent (hex).
    pub signature: String,
}

/// Parses an `Authorization` header of the HMAC-SHA256 scheme. The three components may come
/// in any order and with any spacing around `,`; each must appear exactly once. Returns `None`
/// for another scheme (e.g. `Bearer`), a missing component, a credential that is not
/// `AK/DATE/REGION/SERVICE/request`, or an empty signed-header list or signature.
pub fn parse_authorization(h: &str) -> Option<ParsedAuthorization> {
    let rest = h.trim().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=')?;
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(value.trim()).is_some() {
            return None;
        }
    }
    let parts: Vec<&str> = credential?.split('/').collect();
    let [access_key, short_date, region, service, terminator] = parts.as_slice() else {
        return None;
    };
    if *terminator != SCOPE_TERMINATOR
        || [access_key, short_date, region, service]
            .iter()
            .any(|s| s.is_empty())
    {
        return None;
    }
    let signed_headers: Vec<String> = signed?
        .split(';')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return None;
    }
    let signature = signature?;
    if signature.is_empty() {
        return None;
    }
    Some(ParsedAuthorization {
        access_key: (*access_key).to_owned(),
        short_date: (*short_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

/// A request as a server received it, for [`verify`].
pub struct IncomingRequest<'a> {
    /// HTTP method as received.
    pub method: &'a str,
    /// The `Host` the client addressed (the `Host` header, or HTTP/2 `:authority`); used for
    /// the signed `host` header after stripping `:80`/`:443`.
    pub host: &'a str,
    /// The path as received on the wire (still percent-encoded).
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Header lookup by lowercase name; returns the value as received.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The exact body bytes received.
    pub body: &'a [u8],
}

impl fmt::Debug for IncomingRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingRequest")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What the verifier expects of the credential scope.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedScope<'a> {
    /// Region the server serves, e.g. `cn-north-1`.
    pub region: &'a str,
    /// Service the server is, e.g. `cv`.
    pub service: &'a str,
}

/// Why [`verify`] rejected a request. Carries no key material: messages are safe to log and to
/// send back to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `Authorization` header at all (gateway 100003 MissingAuthenticationToken, HTTP 401).
    #[error("the request has no Authorization header")]
    MissingAuthorization,
    /// The `Authorization` header is not a well-formed HMAC-SHA256 header, or its signature is
    /// not hex (gateway 100005 MissingSignature, HTTP 400).
    #[error("malformed Authorization header: {0}")]
    MissingSignature(String),
    /// A header named in `SignedHeaders` (or one that must be signed: `host`, `x-date`) is
    /// missing (gateway 100004 MissingRequestInfo, HTTP 400).
    #[error("missing signed request information: {0}")]
    MissingRequestInfo(String),
    /// `X-Date` missing, unparseable, or more than [`MAX_CLOCK_SKEW_SECS`] from the server's
    /// clock (gateway 100006 InvalidTimestamp, HTTP 400).
    #[error("invalid timestamp: {0}")]
    BadTimestamp(String),
    /// The access key is not known to the server (gateway 100009 InvalidAccessKey, HTTP 401).
    #[error("the access key is not known")]
    UnknownAccessKey,
    /// The signature (or the body hash, or the credential scope) does not match what the
    /// server computed (gateway 100010 SignatureDoesNotMatch, HTTP 401). `canonical_request`
    /// is the server's version, for the client to diff against its own.
    #[error("signature does not match: {reason}")]
    Mismatch {
        /// What differed.
        reason: String,
        /// The canonical request the server built (empty when the check failed before it).
        canonical_request: String,
    },
}

impl VerifyError {
    /// The gateway error this maps to: `(CodeN, Code)` as in `ResponseMetadata.Error`.
    pub fn gateway_code(&self) -> (u32, &'static str) {
        match self {
            Self::MissingAuthorization => (100003, "MissingAuthenticationToken"),
            Self::MissingSignature(_) => (100005, "MissingSignature"),
            Self::MissingRequestInfo(_) => (100004, "MissingRequestInfo"),
            Self::BadTimestamp(_) => (100006, "InvalidTimestamp"),
            Self::UnknownAccessKey => (100009, "InvalidAccessKey"),
            Self::Mismatch { .. } => (100010, "SignatureDoesNotMatch"),
        }
    }

    /// The HTTP status to answer with. The spec gives none for gateway errors; the choice
    /// follows HTTP semantics: 401 when the caller's identity could not be established (no
    /// credentials, unknown key, wrong signature), 400 when the request itself is malformed or
    /// incomplete (malformed header, missing signed header, bad or stale timestamp).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingAuthorization | Self::UnknownAccessKey | Self::Mismatch { .. } => 401,
            Self::MissingSignature(_) | Self::MissingRequestInfo(_) | Self::BadTimestamp(_) => 400,
        }
    }
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies an HMAC-SHA256 signed request, as the gateway does.
///
/// Checks, in order: an `Authorization` header exists and parses; `X-Date` exists, parses and
/// is within [`MAX_CLOCK_SKEW_SECS`] of `now`; `SignedHeaders` names `host` and `x-date` and
/// every named header is present; `secret_for` knows the access key; the credential scope's
/// date equals `X-Date`'s and its region/service equal `scope`; `X-Content-Sha256`, when sent,
/// equals the body's hash; and finally the signature, recomputed over the canonical request
/// rebuilt with the client's `SignedHeaders` list (in the client's order) and the hash of the
/// body actually received, matches (compared in constant time).
pub fn verify(
    req: &IncomingRequest,
    secret_for: &dyn Fn(&str) -> Option<Secret>,
    scope: ExpectedScope,
    now: OffsetDateTime,
) -> Result<(), VerifyError> {
    let header = |name: &str| (req.header)(name);
    let auth = header("authorization").ok_or(VerifyError::MissingAuthorization)?;
    let parsed = parse_authorization(&auth).ok_or_else(|| {
        VerifyError::MissingSignature(
            "expected `HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/request, \
             SignedHeaders=..., Signature=...`"
                .to_owned(),
        )
    })?;
    let signature = hex::decode(&parsed.signature)
        .map_err(|_| VerifyError::MissingSignature("the signature is not hex".to_owned()))?;
    let x_date =
        header("x-date").ok_or_else(|| VerifyError::BadTimestamp("no X-Date header".to_owned()))?;
    let x_date = x_date.trim();
    let when = parse_x_date(x_date).ok_or_else(|| {
        VerifyError::BadTimestamp("X-Date is not in the form YYYYMMDDTHHMMSSZ".to_owned())
    })?;
    let skew = (now - when).whole_seconds();
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        return Err(VerifyError::BadTimestamp(format!(
            "X-Date is {} s {} the server clock (at most {MAX_CLOCK_SKEW_SECS} s allowed)",
            skew.abs(),
            if skew > 0 { "behind" } else { "ahead of" }
        )));
    }

    for required in ["host", "x-date"] {
        if !parsed.signed_headers.iter().any(|h| h == required) {
            return Err(VerifyError::MissingRequestInfo(format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    let mut values = Vec::with_capacity(parsed.signed_headers.len());
    for name in &parsed.signed_headers {
        let value = if name == "host" {
            Some(normalize_host(req.host).to_owned())
        } else {
            header(name)
        };
        let value = value.ok_or_else(|| {
            VerifyError::MissingRequestInfo(format!("signed header {name} is not in the request"))
        })?;
        values.push(value);
    }

    let secret = secret_for(&parsed.access_key).ok_or(VerifyError::UnknownAccessKey)?;

    let mismatch = |reason: String| VerifyError::Mismatch {
        reason,
        canonical_request: String::new(),
    };
    if parsed.short_date != short_date(x_date) {
        return Err(mismatch(format!(
            "credential date {} differs from X-Date {x_date}",
            parsed.short_date
        )));
    }
    if parsed.region != scope.region || parsed.service != scope.service {
        return Err(mismatch(format!(
            "credential scope {}/{} differs from the expected {}/{}",
            parsed.region, parsed.service, scope.region, scope.service
        )));
    }
    let body_sha256 = sha256_hex(req.body);
    if let Some(sent) = header("x-content-sha256")
        && !constant_time_eq(sent.trim().as_bytes(), body_sha256.as_bytes())
    {
        return Err(mismatch(
            "X-Content-Sha256 does not match the SHA-256 of the body received".to_owned(),
        ));
    }

    let headers: Vec<(&str, &str)> = parsed
        .signed_headers
        .iter()
        .map(String::as_str)
        .zip(values.iter().map(String::as_str))
        .collect();
    let (canonical_request, _) =
        build_canonical_request(req.method, req.path, req.query, &headers, &body_sha256);
    let scope_str = credential_scope(&parsed.short_date, &parsed.region, &parsed.service);
    let string_to_sign = build_string_to_sign(x_date, &scope_str, &canonical_request);
    let key = signing_key(&secret, &parsed.short_date, &parsed.region, &parsed.service);
    hmac_sha256(&key, string_to_sign.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| VerifyError::Mismatch {
            reason: "the signature differs from the one the server computed".to_owned(),
            canonical_request,
        })
}

#[cfg(test)]
mod tests;
