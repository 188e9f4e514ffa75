//! Idempotency records: the first outcome of (principal, route, key), kept 24 h.
//! moto ignores ClientRequestToken, and DynamoDB's own token lasts only minutes,
//! so these are our own items, checked for expiry on every read.
//!
//! A record holds what the request came to, not an HTTP response: `done` with the
//! result's JSON, or `refused` with the refusal's. The edge renders both.

use chrono::{DateTime, Utc};

use super::attr::{key, n, s, Item, Reader};
use super::tx::is_condition_failed;
use super::StoreError;

/// How long a key answers with its first outcome.
const KEPT: chrono::Duration = chrono::Duration::hours(24);

/// A record may be written over when it has expired, or when it is a refusal
/// recorded before outcomes were (`status` 402, no `outcome`; at most 24 h old at
/// the deploy): such a request is decided afresh, since a refusal changed nothing.
const LEGACY_REFUSED: i64 = 402;
const REPLACEABLE: &str =
    "attribute_not_exists(PK) OR expires_at < :now OR (attribute_not_exists(outcome) AND #status = :legacy_refused)";

/// One partition per principal, so erasing a member's records (which hold their
/// texts in the results) is one query.
pub(crate) fn idem_pk(scope: &str) -> String {
    format!("IDEM#{scope}")
}

pub(crate) fn idem_key(scope: &str, route: &str, k: &str) -> Item {
    key(idem_pk(scope), format!("{route}#{k}"))
}

/// What the first request with a key came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// It changed something; `body` is its result.
    Done,
    /// It was refused and changed nothing; `body` is the refusal.
    Refused,
}

impl Recorded {
    fn as_str(self) -> &'static str {
        match self {
            Recorded::Done => "done",
            Recorded::Refused => "refused",
        }
    }
}

/// A recorded outcome, bound to the hash of the request that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub outcome: Recorded,
    pub body: String,
}

/// A key to record the outcome under: (scope, route, key).
pub type IdemRef<'a> = (&'a str, &'a str, &'a str);

/// A done outcome to record with the change it describes, in the same transaction.
#[derive(Clone, Copy, Debug)]
pub struct DoneRecord<'a> {
    pub at: IdemRef<'a>,
    pub request_hash: &'a str,
    /// The result, as JSON.
    pub body: &'a str,
}

fn record_item((scope, route, k): IdemRef<'_>, response: &StoredResponse, now: DateTime<Utc>) -> Item {
    let mut item = idem_key(scope, route, k);
    item.insert("request_hash".into(), s(&response.request_hash));
    item.insert("outcome".into(), s(response.outcome.as_str()));
    item.insert("body".into(), s(&response.body));
    item.insert("expires_at".into(), n((now + KEPT).timestamp()));
    item
}

/// The transaction action that records a done outcome for a key, unless a live
/// record is already there (a concurrent request with the same key won).
pub(crate) fn record_put(
    table: &str,
    record: &DoneRecord<'_>,
    now: DateTime<Utc>,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let response =
        StoredResponse { request_hash: record.request_hash.into(), outcome: Recorded::Done, body: record.body.into() };
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(record_item(record.at, &response, now)))
        .condition_expression(REPLACEABLE)
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":now", n(now.timestamp()))
        .expression_attribute_values(":legacy_refused", n(LEGACY_REFUSED))
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build())
}

/// The record's outcome, unless it has expired (TTL deletes lazily). A record
/// written before outcomes were recorded (`status` 201, at most 24 h old at the
/// deploy) reads as done; a refused one of that age is ignored and may be written
/// over (`REPLACEABLE`), so the request is decided afresh (a refusal changed nothing).
pub(crate) fn stored_response(item: &Item, now: DateTime<Utc>) -> Option<StoredResponse> {
    let r = Reader(item);
    let live = r.opt_i64("expires_at").is_some_and(|e| e > now.timestamp());
    if !live {
        return None;
    }
    let outcome = match r.opt_str("outcome").as_deref() {
        Some("done") => Recorded::Done,
        Some("refused") => Recorded::Refused,
        Some(_) => return None,
        None if r.opt_i64("status") == Some(201) => Recorded::Done,
        None => return None,
    };
    Some(StoredResponse { request_hash: r.opt_str("request_hash")?, outcome, body: r.opt_str("body")? })
}

impl super::Store {
    /// Reads a live record (consistent), for a request that lost the race to record it.
    pub async fn idempotent_response(
        &self,
        at: IdemRef<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let (scope, route, k) = at;
        let stored = self.get_decoded(idem_key(scope, route, k), |i| Ok(stored_response(i, now))).await?;
        Ok(stored.flatten())
    }

    /// Records an outcome that changed nothing (a refusal), unless one is there.
    pub async fn record_response(
        &self,
        at: IdemRef<'_>,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(at, response, now)))
            .condition_expression(REPLACEABLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":legacy_refused", n(LEGACY_REFUSED))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }
}
