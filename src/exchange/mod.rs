//! One exchange with the service, end to end, for the CLI, the TUI worker and the sweep
//! runner alike: the pending history entry written before a request goes out ([`Pending`]),
//! result images obtained by one fetcher ([`fetch`]) and collected for the history
//! ([`results`]), async requests submitted, polled and resumed ([`tasks`]).

pub mod fetch;
pub mod results;
pub mod tasks;

use crate::api::client::Client;
use crate::store::NewEntry;

/// A request about to go out, as its pending history entry records it: where it goes and
/// its signed headers, redacted. Owned, so it can move to the blocking pool with the store.
#[derive(Debug, Clone)]
pub struct Pending {
    pub profile: String,
    pub endpoint: String,
    pub action: String,
    /// The request's headers as signed for `action`, secrets redacted.
    pub headers: Vec<(String, String)>,
}

impl Pending {
    /// The entry of `action` sent with the body `signed` (what goes out with that action).
    pub fn new(client: &Client, profile: &str, action: &str, signed: Vec<u8>) -> Pending {
        Pending {
            profile: profile.to_owned(),
            endpoint: client.target.endpoint.to_string(),
            action: action.to_owned(),
            headers: client.prepare(action, signed).redacted_headers(),
        }
    }

    /// The entry for [`crate::store::Store::begin`], recording `body` (the request as the
    /// user wrote it).
    pub fn entry<'a>(&'a self, body: &'a [u8]) -> NewEntry<'a> {
        NewEntry {
            profile: &self.profile,
            endpoint: &self.endpoint,
            action: &self.action,
            request_headers: &self.headers,
            request_body: body,
        }
    }
}
