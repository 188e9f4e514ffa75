//! What erasing a deleted member touches: their message texts, the idempotency
//! records that hold copies of them, notifications, favorites, staff notes, and
//! the email on their payments (payments and ledger entries stay, keyed by the
//! pseudonymous member id, as tax records).

use super::attr::{key, s, Item, Reader};
use super::chats::chat_pk;
use super::idempotency::idem_pk;
use super::members::member_pk;
use super::{Store, StoreError};
use crate::domain::ids::{ChatId, MemberId};
use crate::domain::jobs::ERASED_MESSAGE;
use crate::domain::Sender;

impl Store {
    /// Replaces the text of every member message in a chat; returns how many changed.
    pub async fn erase_member_messages(&self, chat_id: &ChatId) -> Result<usize, StoreError> {
        let mut erased = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
                .filter_expression("sender = :member AND content <> :erased")
                .projection_expression("PK, SK")
                .expression_attribute_values(":pk", s(chat_pk(chat_id)))
                .expression_attribute_values(":msg", s("MSG#"))
                .expression_attribute_values(":member", s(Sender::Member.as_str()))
                .expression_attribute_values(":erased", s(ERASED_MESSAGE))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in out.items.unwrap_or_default() {
                let (pk, sk) = (Reader(&item).str("PK")?, Reader(&item).str("SK")?);
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .update_expression("SET content = :erased")
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_values(":erased", s(ERASED_MESSAGE))
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                erased += 1;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(erased);
            }
        }
    }

    /// Removes the handoff notes operators left on a chat's assignment records (free
    /// text about the member); the records themselves stay as staff history.
    pub async fn erase_assignment_notes(&self, chat_id: &ChatId) -> Result<usize, StoreError> {
        let mut erased = 0;
        for item in self.query_all(&chat_pk(chat_id), "ASSIGN#").await? {
            if !item.contains_key("note") {
                continue;
            }
            let (pk, sk) = (Reader(&item).str("PK")?, Reader(&item).str("SK")?);
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("REMOVE note")
                .send()
                .await
                .map_err(StoreError::sdk)?;
            erased += 1;
        }
        Ok(erased)
    }

    /// Deletes what is the member's alone and readable: idempotency records (their
    /// replies hold the member's texts), notifications, favorites and the staff
    /// notes about them. Returns how many items went.
    pub async fn erase_member_records(&self, member_id: &MemberId, scope: &str) -> Result<usize, StoreError> {
        let member = member_pk(member_id);
        let mut keys = self.query_keys(&idem_pk(scope), "").await?;
        keys.extend(self.query_keys(&member, "NOTIF#").await?);
        keys.extend(self.query_keys(&member, "FAV#").await?);
        // Where they were seen from, and the signals that name their IPs.
        for prefix in ["DEVICE#", "IP#", "SIGNAL#"] {
            keys.extend(self.query_keys(&member, prefix).await?);
        }
        keys.push((format!("MEMBERNOTES#{member_id}"), "NOTES".to_string()));
        for (pk, sk) in &keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(keys.len())
    }

    /// Removes the email (the one personal field) from each of the member's payments.
    pub async fn pseudonymise_payments(&self, member_id: &MemberId) -> Result<usize, StoreError> {
        let mut done = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.member_payments(member_id, cursor.as_deref(), 50).await?;
            for p in &page.items {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(format!("PAYMENT#{}", p.reference), "PAYMENT")))
                    .update_expression("REMOVE email")
                    .condition_expression("attribute_exists(PK)")
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                done += 1;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(done),
            }
        }
    }
}
