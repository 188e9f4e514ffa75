//! Idempotency records: the first response to (principal, route, key), kept 24 h.
//! moto ignores ClientRequestToken, and DynamoDB's own token lasts only minutes,
//! so these are our own items, checked for expiry on every read.

use chrono::{DateTime, Utc};

use super::attr::{key, Item, Reader};

/// One partition per principal, so erasing a member's records (which hold their
/// texts in the replies) is one query.
pub(crate) fn idem_pk(scope: &str) -> String {
    format!("IDEM#{scope}")
}

pub(crate) fn idem_key(scope: &str, route: &str, k: &str) -> Item {
    key(idem_pk(scope), format!("{route}#{k}"))
}

/// The transaction action that records a 201 response for a key, unless a live
/// record is already there (a concurrent request with the same key won).
pub(crate) fn record_put(
    table: &str,
    (scope, route, k, hash, body): (&str, &str, &str, &str, &str),
    now: DateTime<Utc>,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, super::StoreError> {
    use super::attr::{n, s};
    let mut item = idem_key(scope, route, k);
    item.insert("request_hash".into(), s(hash));
    item.insert("status".into(), n(201));
    item.insert("body".into(), s(body));
    item.insert("expires_at".into(), n((now.max(Utc::now()) + chrono::Duration::hours(24)).timestamp()));
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK) OR expires_at < :now")
        .expression_attribute_values(":now", n(Utc::now().timestamp()))
        .build()
        .map_err(super::StoreError::dynamo)?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build())
}

/// A recorded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// The record's response, unless it has expired (TTL deletes lazily).
pub(crate) fn stored_response(item: &Item, now: DateTime<Utc>) -> Option<StoredResponse> {
    let r = Reader(item);
    let live = r.opt_i64("expires_at").is_some_and(|e| e > now.timestamp());
    if !live {
        return None;
    }
    Some(StoredResponse {
        request_hash: r.opt_str("request_hash")?,
        status: u16::try_from(r.opt_i64("status")?).ok()?,
        body: r.opt_str("body")?,
    })
}

impl super::Store {
    /// Reads a live record (consistent), for a request that lost the race to record it.
    pub async fn idempotent_response(
        &self,
        scope: &str,
        route: &str,
        k: &str,
    ) -> Result<Option<StoredResponse>, super::StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(idem_key(scope, route, k)))
            .consistent_read(true)
            .send()
            .await
            .map_err(super::StoreError::sdk)?;
        Ok(out.item.as_ref().and_then(|i| stored_response(i, Utc::now())))
    }

    /// Records a response that changed nothing (a 402, say), unless one is there.
    pub async fn record_response(
        &self,
        scope: &str,
        route: &str,
        k: &str,
        response: &StoredResponse,
    ) -> Result<(), super::StoreError> {
        use super::attr::{n, s};
        let now = Utc::now();
        let mut item = idem_key(scope, route, k);
        item.insert("request_hash".into(), s(&response.request_hash));
        item.insert("status".into(), n(response.status));
        item.insert("body".into(), s(&response.body));
        item.insert("expires_at".into(), n((now + chrono::Duration::hours(24)).timestamp()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(super::StoreError::sdk(e)),
        }
    }
}
