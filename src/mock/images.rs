//! Generated images behind signed, expiring URLs, refused the way an object store refuses
//! (XML errors).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use sha2::Sha256;

use super::state::{Shared, StoredImage};
use super::util::{constant_time_eq, lock, log_duration, printable, query_pairs, unix_now};
use super::wire::top_request_id;

/// Longest URL lifetime honoured (longer ones are cut to this).
const MAX_URL_TTL: Duration = Duration::from_secs(100 * 365 * 86400);

impl Shared {
    /// The signature of an image URL.
    fn url_signature(&self, id: &str, expires: u64) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.url_key.into());
        mac.update(id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Keeps a JPEG for download and returns its signed URL.
    fn store_image(&self, jpeg: Arc<Vec<u8>>) -> String {
        let now = Instant::now();
        let id = hex::encode(rand::rng().random::<[u8; 16]>());
        let ttl = self.cfg.url_ttl.min(MAX_URL_TTL);
        let expires = unix_now()
            .saturating_add(ttl.as_secs())
            .saturating_add(u64::from(ttl.subsec_nanos() > 0));
        let sig = self.url_signature(&id, expires);
        let expires_at = now + ttl;
        lock(&self.images).insert(id.clone(), StoredImage { jpeg, expires_at }, now);
        format!(
            "{}/images/{id}.jpg?x-expires={expires}&x-signature={sig}",
            self.public_base
        )
    }

    /// The `(binary_data_base64, image_urls)` lists for one result image.
    pub(super) fn deliver(
        &self,
        jpeg: Arc<Vec<u8>>,
        return_url: bool,
    ) -> (Vec<String>, Vec<String>) {
        if return_url {
            (Vec::new(), vec![self.store_image(jpeg)])
        } else {
            (
                vec![base64::engine::general_purpose::STANDARD.encode(jpeg.as_slice())],
                Vec::new(),
            )
        }
    }
}

/// `GET /images/{id}.jpg?x-expires=..&x-signature=..`: a generated image behind a signed,
/// expiring URL, refused like an object store refuses (XML errors).
pub(super) async fn image(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    let start = Instant::now();
    let request_id = top_request_id();
    let query = query_pairs(uri.query());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let result = (|| {
        let id = file
            .strip_suffix(".jpg")
            .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or((404, "NoSuchKey", "The specified key does not exist."))?;
        let (Some(expires), Some(sig)) = (param("x-expires"), param("x-signature")) else {
            return Err((
                403,
                "AccessDenied",
                "Query-string authentication requires the x-expires and x-signature parameters",
            ));
        };
        let expires: u64 = expires
            .parse()
            .map_err(|_| (403, "AccessDenied", "x-expires is not a timestamp"))?;
        let want = shared.url_signature(id, expires);
        if !constant_time_eq(sig.to_ascii_lowercase().as_bytes(), want.as_bytes()) {
            return Err((
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided",
            ));
        }
        let stored = lock(&shared.images).get(id).cloned();
        match stored {
            Some(img) if Instant::now() < img.expires_at && unix_now() <= expires => Ok(img.jpeg),
            Some(_) => Err((403, "AccessDenied", "Request has expired")),
            None if unix_now() > expires => Err((403, "AccessDenied", "Request has expired")),
            None => Err((404, "NoSuchKey", "The specified key does not exist.")),
        }
    })();
    let (response, status) = match result {
        Ok(jpeg) => {
            lock(&shared.stats).image_downloads += 1;
            let mut r = Response::new(Body::from(jpeg.as_slice().to_vec()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            (r, 200)
        }
        Err((status, code, message)) => {
            lock(&shared.stats).image_refusals += 1;
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  \
                 <Message>{message}</Message>\n  <RequestId>{request_id}</RequestId>\n</Error>\n"
            );
            let mut r = Response::new(Body::from(xml));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            (r, status)
        }
    };
    shared.log(format_args!(
        "{method} /images/{} -> HTTP {status} in {}",
        printable(&file),
        log_duration(start.elapsed())
    ));
    response
}
