//! Idempotency-Key handling shared by the routes that take it (API.md): the
//! first response for (principal, route, key) is stored with the change itself.

use crate::error::ApiError;
use crate::store::StoredResponse;

/// An Idempotency-Key with the hash of the request it came with.
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: String,
}

/// A response ready to send: status and JSON body (stored verbatim for replays).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// The stored first response, if this is the same request; 422 if the key was
/// used with a different body.
pub fn replay(stored: &StoredResponse, request_hash: &str) -> Result<Reply, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Reply { status: stored.status, body: stored.body.clone() })
}
