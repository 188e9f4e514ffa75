//! Member notifications, admin notifications and the outbox of domain events.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::attr::{b, key, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::members::member_pk;
use super::tx::applied;
use super::{Store, StoreError};
use crate::domain::ids;
use crate::domain::ids::{MemberId, OperatorId};

pub(crate) const ADMIN_NOTIFICATIONS: &str = "ADMIN_NOTIFICATIONS";

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
    // The id carries the same time as the key (Store::admin_notification finds it by id).
    let id = ids::new_id_at("an_", now);
    let sk = format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut item = key(ADMIN_NOTIFICATIONS, sk);
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

pub(crate) fn admin_notification_from(i: &Item) -> Result<AdminNotification, StoreError> {
    let r = Reader(i);
    Ok(AdminNotification {
        id: r.str("id")?,
        kind: r.str("kind")?,
        priority: r.str("priority")?,
        message: r.str("message")?,
        reference: r.opt_str("reference"),
        created_at: r.time("created_at")?,
    })
}

impl Store {
    /// A page of every admin notification, newest first (each admin's view filters it).
    pub async fn admin_notifications_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<AdminNotification>, StoreError> {
        self.page(Partition::Whole(ADMIN_NOTIFICATIONS), false, cursor, limit).await?.try_map(admin_notification_from)
    }

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
        self.first_page(ADMIN_NOTIFICATIONS, true, Some(limit), false)
            .await?
            .iter()
            .map(admin_notification_from)
            .collect()
    }

    /// A member's notifications, newest first.
    pub async fn member_notifications(
        &self,
        member_id: &MemberId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Notification>, StoreError> {
        self.notifications_of(&member_pk(member_id), cursor, limit).await
    }

    /// Marks one of the member's notifications read; `false` if there is none with that id.
    pub async fn mark_notification_read(&self, member_id: &MemberId, id: &str) -> Result<bool, StoreError> {
        self.mark_read(&member_pk(member_id), id).await
    }

    /// A principal's notifications (`NOTIF#` items of its partition), newest first.
    /// Operator notifications carry no title: the console's comes from the kind.
    async fn notifications_of(
        &self,
        pk: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Notification>, StoreError> {
        let page = self.page(Partition::Prefix { pk, prefix: "NOTIF#" }, false, cursor, limit).await?;
        page.try_map(|i| {
            let r = Reader(i);
            let kind = r.str("kind")?;
            Ok(Notification {
                id: r.str("id")?,
                title: r
                    .opt_str("title")
                    .unwrap_or_else(|| crate::domain::operator_notification_title(&kind).to_string()),
                kind,
                body: r.str("body")?,
                read: r.bool("read"),
                created_at: r.time("created_at")?,
            })
        })
    }

    /// Marks one notification of a principal's partition read; `false` if there is none.
    async fn mark_read(&self, pk: &str, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, format!("NOTIF#{id}"))))
            .update_expression("SET #read = :t")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":t", b(true))
            .send()
            .await;
        applied(result)
    }

    /// An operator's notifications, newest first.
    pub async fn operator_notifications(
        &self,
        operator_id: &OperatorId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Notification>, StoreError> {
        self.notifications_of(&super::operators::operator_pk(operator_id), cursor, limit).await
    }

    /// Marks one of the operator's notifications read; `false` if there is none with that id.
    pub async fn mark_operator_notification_read(
        &self,
        operator_id: &OperatorId,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.mark_read(&super::operators::operator_pk(operator_id), id).await
    }

    /// A notification for an operator (idle warnings, suspension).
    pub async fn put_operator_notification(
        &self,
        operator_id: &OperatorId,
        kind: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = operator_notification_item(operator_id, kind, body, now);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}

/// An operator's notification, for a transaction (a suspension) or a put.
pub(crate) fn operator_notification_item(operator_id: &str, kind: &str, body: &str, now: DateTime<Utc>) -> Item {
    let id = ids::new_id("on_");
    let mut item = key(super::operators::operator_pk(operator_id), format!("NOTIF#{id}"));
    item.insert("entity".into(), s("operator_notification"));
    item.insert("id".into(), s(&id));
    item.insert("kind".into(), s(kind));
    item.insert("body".into(), s(body));
    item.insert("read".into(), b(false));
    item.insert("created_at".into(), ts(now));
    item
}
