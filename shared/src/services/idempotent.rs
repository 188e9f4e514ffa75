//! Idempotency-Key handling shared by the routes that take it (API.md): the first
//! outcome for (principal, route, key) is recorded with the change itself, and a
//! retry with the same request gets that outcome again, whatever changed since.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::Credits;
use crate::error::ApiError;
use crate::store::{DoneRecord, IdemRef, Recorded, StoredResponse};
use crate::App;

/// An Idempotency-Key with the hash of the request it came with.
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: String,
}

/// A keyed request of one principal on one route.
pub struct Keyed<'a> {
    scope: &'a str,
    route: &'a str,
    idem: &'a Idempotency<'a>,
}

impl<'a> Keyed<'a> {
    pub fn new(scope: &'a str, route: &'a str, idem: &'a Idempotency<'a>) -> Self {
        Keyed { scope, route, idem }
    }

    pub fn at(&self) -> IdemRef<'a> {
        (self.scope, self.route, self.idem.key)
    }

    /// The record of a done outcome, `body` being the result as JSON.
    pub fn done<'b>(&'b self, body: &'b str) -> DoneRecord<'b> {
        DoneRecord { at: self.at(), request_hash: &self.idem.request_hash, body }
    }

    /// The first outcome, if one is recorded and live: its result, or (as the
    /// error) its refusal.
    pub async fn recorded<T: DeserializeOwned>(&self, app: &App, now: DateTime<Utc>) -> Result<Option<T>, ApiError> {
        match app.store.idempotent_response(self.at(), now).await? {
            Some(stored) => self.replay(&stored).map(Some),
            None => Ok(None),
        }
    }

    /// A recorded outcome, read with the request's other inputs.
    pub fn replay<T: DeserializeOwned>(&self, stored: &StoredResponse) -> Result<T, ApiError> {
        replay(stored, &self.idem.request_hash)
    }

    /// Records a refusal, so a retry is refused the same way even if it could now succeed.
    pub async fn refuse(&self, app: &App, refusal: Refusal, now: DateTime<Utc>) -> Result<ApiError, ApiError> {
        let stored = StoredResponse {
            request_hash: self.idem.request_hash.clone(),
            outcome: Recorded::Refused,
            body: serde_json::to_string(&refusal).map_err(ApiError::internal)?,
        };
        app.store.record_response(self.at(), &stored, now).await?;
        Ok(refusal.into())
    }
}

/// A refusal that is recorded against its key: it changed nothing, and the retry
/// gets it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    InsufficientCredits { cost: Credits, balance: Credits },
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::InsufficientCredits { cost, balance } => ApiError::InsufficientCredits { cost, balance },
        }
    }
}

/// The recorded outcome again, if this is the same request: the result, or the
/// refusal as the error it was. 422 if the key was used with a different body.
pub fn replay<T: DeserializeOwned>(stored: &StoredResponse, request_hash: &str) -> Result<T, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    match stored.outcome {
        Recorded::Done => serde_json::from_str(&stored.body).map_err(ApiError::internal),
        Recorded::Refused => Err(serde_json::from_str::<Refusal>(&stored.body).map_err(ApiError::internal)?.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(outcome: Recorded, body: &str) -> StoredResponse {
        StoredResponse { request_hash: "h".into(), outcome, body: body.into() }
    }

    #[test]
    fn a_done_outcome_replays_its_result() {
        let r: Result<serde_json::Value, _> = replay(&stored(Recorded::Done, r#"{"a":1}"#), "h");
        assert_eq!(r.ok(), Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn a_refusal_replays_as_the_same_error() {
        let refusal = Refusal::InsufficientCredits { cost: Credits::whole(2), balance: Credits::from_hundredths(50) };
        let body = serde_json::to_string(&refusal).expect("serialises");
        let r: Result<serde_json::Value, _> = replay(&stored(Recorded::Refused, &body), "h");
        assert!(matches!(r, Err(ApiError::InsufficientCredits { cost, balance })
            if cost == Credits::whole(2) && balance == Credits::from_hundredths(50)));
    }

    #[test]
    fn another_request_under_the_key_is_refused() {
        let r: Result<serde_json::Value, _> = replay(&stored(Recorded::Done, "{}"), "other");
        assert!(matches!(r, Err(ApiError::IdempotencyKeyReused)));
    }
}
