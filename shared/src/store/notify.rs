//! Member notifications, admin notifications and the outbox of domain events.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::attr::{b, key, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::members::member_pk;
use super::{Store, StoreError};
use crate::domain::events::DomainEvent;
use crate::domain::ids;

/// Outbox shards: the sweep reads each; writers spread over them.
pub const OUTBOX_SHARDS: u32 = 8;
const ADMIN_NOTIFICATIONS: &str = "ADMIN_NOTIFICATIONS";

#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AdminNotification {
    pub id: String,
    pub kind: String,
    pub priority: String,
    pub message: String,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A domain event waiting to be published.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    pub pk: String,
    pub sk: String,
    pub detail_type: String,
    pub detail: String,
}

pub(crate) fn put_item(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().put(p).build())
}

pub(crate) fn member_notification_item(
    member_id: &str,
    kind: &str,
    title: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Item {
    let id = ids::new_id("n_");
    let mut item = key(member_pk(member_id), format!("NOTIF#{id}"));
    item.insert("entity".into(), s("notification"));
    item.insert("id".into(), s(&id));
    item.insert("kind".into(), s(kind));
    item.insert("title".into(), s(title));
    item.insert("body".into(), s(body));
    item.insert("read".into(), b(false));
    item.insert("created_at".into(), ts(now));
    item
}

pub(crate) fn admin_notification_item(
    kind: &str,
    priority: &str,
    message: &str,
    reference: Option<&str>,
    now: DateTime<Utc>,
) -> Item {
    let id = ids::new_id("an_");
    let mut item =
        key(ADMIN_NOTIFICATIONS, format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    item.insert("entity".into(), s("admin_notification"));
    item.insert("id".into(), s(&id));
    item.insert("kind".into(), s(kind));
    item.insert("priority".into(), s(priority));
    item.insert("message".into(), s(message));
    if let Some(r) = reference {
        item.insert("reference".into(), s(r));
    }
    item.insert("read".into(), b(false));
    item.insert("created_at".into(), ts(now));
    item
}

/// An outbox item for a domain event, written in the same transaction as the
/// change it reports.
pub(crate) fn outbox_item(event: &DomainEvent, now: DateTime<Utc>) -> Result<Item, StoreError> {
    let detail = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?;
    let id = ids::new_id("ev_");
    let shard = id.bytes().fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c))) % OUTBOX_SHARDS;
    let mut item = key(format!("OUTBOX#{shard}"), format!("{}#{id}", now.timestamp_millis()));
    item.insert("entity".into(), s("outbox"));
    item.insert("detail_type".into(), s(event.detail_type()));
    item.insert("detail".into(), s(detail));
    item.insert("created_at".into(), ts(now));
    Ok(item)
}

impl Store {
    pub async fn put_admin_notification(
        &self,
        kind: &str,
        priority: &str,
        message: &str,
        reference: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(admin_notification_item(kind, priority, message, reference, now)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Newest first.
    pub async fn admin_notifications(&self, limit: i32) -> Result<Vec<AdminNotification>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(ADMIN_NOTIFICATIONS))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                let r = Reader(i);
                Ok(AdminNotification {
                    id: r.str("id")?,
                    kind: r.str("kind")?,
                    priority: r.str("priority")?,
                    message: r.str("message")?,
                    reference: r.opt_str("reference"),
                    created_at: r.time("created_at")?,
                })
            })
            .collect()
    }

    pub async fn put_member_notification(
        &self,
        member_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(member_notification_item(member_id, kind, title, body, now)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// A member's notifications, newest first.
    pub async fn member_notifications(
        &self,
        member_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Notification>, StoreError> {
        let pk = member_pk(member_id);
        let page = self.page(Partition::Prefix { pk: &pk, prefix: "NOTIF#" }, false, cursor, limit).await?;
        page.try_map(|i| {
            let r = Reader(i);
            Ok(Notification {
                id: r.str("id")?,
                kind: r.str("kind")?,
                title: r.str("title")?,
                body: r.str("body")?,
                read: r.bool("read"),
                created_at: r.time("created_at")?,
            })
        })
    }

    /// Marks one of the member's notifications read; `false` if there is none with that id.
    pub async fn mark_notification_read(&self, member_id: &str, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(member_id), format!("NOTIF#{id}"))))
            .update_expression("SET #read = :t")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":t", b(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// The oldest events of one outbox shard.
    pub async fn outbox(&self, shard: u32, limit: i32) -> Result<Vec<OutboxEvent>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(format!("OUTBOX#{shard}")))
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items
            .unwrap_or_default()
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

    /// A notification for an operator (idle warnings, suspension).
    pub async fn put_operator_notification(
        &self,
        operator_id: &str,
        kind: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = ids::new_id("on_");
        let mut item = key(super::operators::operator_pk(operator_id), format!("NOTIF#{id}"));
        item.insert("entity".into(), s("operator_notification"));
        item.insert("id".into(), s(&id));
        item.insert("kind".into(), s(kind));
        item.insert("body".into(), s(body));
        item.insert("read".into(), b(false));
        item.insert("created_at".into(), ts(now));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}
