//! The outbox of domain events: items written in the transaction that makes the
//! change they report, published to the bus by the outbox sweep, deleted once sent.

use chrono::{DateTime, Utc};

use super::attr::{key, s, ts, Item, Reader};
use super::tx::shard_of;
use super::{Store, StoreError};
use crate::domain::events::DomainEvent;
use crate::domain::ids;

/// Outbox shards: the sweep reads each; writers spread over them.
pub const OUTBOX_SHARDS: u32 = 8;

/// A domain event waiting to be published.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    pub pk: String,
    pub sk: String,
    pub detail_type: String,
    pub detail: String,
}

/// An outbox item for a domain event, written in the same transaction as the
/// change it reports.
pub(crate) fn outbox_pk(shard: u32) -> String {
    format!("OUTBOX#{shard}")
}

pub(crate) fn outbox_item(event: &DomainEvent, now: DateTime<Utc>) -> Result<Item, StoreError> {
    let detail = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?;
    let id = ids::new_id("ev_");
    let shard = shard_of(&id, OUTBOX_SHARDS);
    let mut item = key(outbox_pk(shard), format!("{}#{id}", now.timestamp_millis()));
    item.insert("entity".into(), s("outbox"));
    item.insert("detail_type".into(), s(event.detail_type()));
    item.insert("detail".into(), s(detail));
    item.insert("created_at".into(), ts(now));
    Ok(item)
}

impl Store {
    /// The oldest events of one outbox shard.
    pub async fn outbox(&self, shard: u32, limit: i32) -> Result<Vec<OutboxEvent>, StoreError> {
        self.first_page(&outbox_pk(shard), false, Some(limit), false)
            .await?
            .iter()
            .map(|i| {
                let r = Reader(i);
                Ok(OutboxEvent {
                    pk: r.str("PK")?,
                    sk: r.str("SK")?,
                    detail_type: r.str("detail_type")?,
                    detail: r.str("detail")?,
                })
            })
            .collect()
    }

    pub async fn delete_outbox(&self, event: &OutboxEvent) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&event.pk, &event.sk)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }
}
