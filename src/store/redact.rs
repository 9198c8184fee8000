//! Redaction before anything is stored: credentials in URLs and secret-bearing headers are
//! replaced, so the history never holds a key.

use crate::api::client::redact_header;
use crate::api::secret::REDACTED;

fn sanitize_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let value = if lower == "set-cookie" {
                REDACTED.to_owned()
            } else {
                // Idempotent on already-redacted values; redacts anything that slipped through.
                let redacted = redact_header(k, v);
                if redacted != *v {
                    tracing::warn!(header = %k, "an unredacted secret header reached the history store; redacted");
                }
                redacted
            };
            (k.clone(), value)
        })
        .collect()
}

/// A URL without credentials: user info and secret-looking query values are redacted.
pub(super) fn sanitize_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    let secretish = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["key", "token", "secret", "signature", "password", "auth"]
            .iter()
            .any(|s| k.contains(s))
    };
    if url.query_pairs().any(|(k, _)| secretish(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secretish(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

pub(super) fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(&sanitize_headers(headers)).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_headers_lose_their_secrets() {
        assert_eq!(
            sanitize_url("https://u:pw@relay.example/v1?Action=CVProcess&api_key=sk-1"),
            "https://relay.example/v1?Action=CVProcess&api_key=%3Credacted%3E"
        );
        let h = sanitize_headers(&[
            ("Authorization".into(), "Bearer sk-raw".into()),
            ("authorization".into(), "Bearer <redacted>".into()),
            ("Set-Cookie".into(), "sid=1".into()),
            ("Content-Type".into(), "application/json".into()),
        ]);
        assert_eq!(h[0].1, "Bearer <redacted>");
        assert_eq!(h[1].1, "Bearer <redacted>");
        assert_eq!(h[2].1, REDACTED);
        assert_eq!(h[3].1, "application/json");
    }
}
