//! Closing a chat: the one operation every cause uses (inactivity, character
//! removed, member deleted or banned, admin). Status, operator slot, assignment,
//! open-chat index, queue entry, the member's notice and the `chat.closed` event
//! change in one transaction.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::assignments::ended_record;
use super::attr::{key, n, s, ts};
use super::chats::{chat_from, chat_pk};
use super::notifications::member_notification_item;
use super::operators::operator_pk;
use super::outbox::outbox_item;
use super::queue::queue_key;
use super::tx::{put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::events::DomainEvent;
use crate::domain::{Chat, ChatStatus, CloseReason};

/// How a close attempt ended.
#[derive(Debug)]
pub enum CloseOutcome {
    Closed,
    /// Some earlier call (or another cause) closed it first.
    AlreadyClosed,
    /// The chat changed since it was read (a message, a claim, a release): read it
    /// again and decide again.
    Changed(Option<Box<Chat>>),
}

impl Store {
    /// Closes `chat` as it was read. The condition pins what the transaction acts
    /// on: the chat is not closed, has the same messages and the same holder, so
    /// the right operator's slot is freed exactly once.
    /// An admin's close carries its audit entry (`audit`) into the transaction.
    pub async fn close_chat(
        &self,
        chat: &Chat,
        reason: CloseReason,
        audit: Option<&crate::domain::admin::AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<CloseOutcome, StoreError> {
        // A closed chat starts afresh if it reopens: no count towards escalation,
        // no operators excluded.
        let mut u = update(&self.table, key(chat_pk(&chat.id), "CHAT"))
            .update_expression(
                "SET #status = :closed, close_reason = :reason, closed_at = :now, reassign_count = :zero \
                 REMOVE GSI3PK, GSI3SK, operator_id, GSI5PK, GSI5SK, GSI2PK, GSI2SK, awaiting_reply_since, idle_warned, assignment_sk, \
                 excluded_operators, max_reassignments_reached, escalated_at, escalation_renotified",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":closed", s(ChatStatus::Closed.as_str()))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":mc", n(chat.message_count));
        // Pin the holder and the assignment as read: a release and a new claim in
        // between (even by the same operator) make this a different assignment.
        u = match (&chat.operator_id, chat.assigned_at) {
            (Some(op), Some(at)) => u
                .condition_expression(
                    "#status <> :closed AND message_count = :mc AND operator_id = :op AND assigned_at = :assigned",
                )
                .expression_attribute_values(":op", s(op))
                .expression_attribute_values(":assigned", ts(at)),
            (Some(op), None) => u
                .condition_expression(
                    "#status <> :closed AND message_count = :mc AND operator_id = :op AND attribute_not_exists(assigned_at)",
                )
                .expression_attribute_values(":op", s(op)),
            (None, _) => u.condition_expression(
                "#status <> :closed AND message_count = :mc AND attribute_not_exists(operator_id)",
            ),
        };
        let entry = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(queue_key(&chat.id)))
            .build()
            .map_err(StoreError::dynamo)?;
        let event = DomainEvent::ChatClosed {
            chat_id: chat.id.clone(),
            member_id: chat.member_id.clone(),
            character_id: chat.character_id.clone(),
            close_reason: reason,
            operator_id: chat.operator_id.clone(),
        };
        let mut items = vec![
            tx_update(u)?,
            TransactWriteItem::builder().delete(entry).build(),
            put_new(&self.table, outbox_item(&event, now)?)?,
        ];
        if let Some((title, text)) = reason.member_notice() {
            items.push(put_new(
                &self.table,
                member_notification_item(&chat.member_id, "chat_closed", title, text, now),
            )?);
        }
        if let Some(op) = &chat.operator_id {
            let free = update(&self.table, key(operator_pk(op), "PROFILE"))
                .update_expression("ADD active_chats :minus")
                .condition_expression("active_chats > :zero")
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":zero", n(0));
            items.push(tx_update(free)?);
            if let Some(record) = ended_record(&self.table, chat, op, "chat_closed", None, now) {
                items.push(record?);
            }
        }
        if let Some(a) = audit {
            items.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(CloseOutcome::Closed),
            Err(TransactFailure::ConditionFailed(old)) => match old.first().and_then(Option::as_ref) {
                Some(item) => {
                    let current = chat_from(item)?;
                    Ok(if current.status == ChatStatus::Closed {
                        CloseOutcome::AlreadyClosed
                    } else {
                        CloseOutcome::Changed(Some(Box::new(current)))
                    })
                }
                // The chat's own condition held, so the holder's slot count or the
                // assignment record is off.
                None => Err(StoreError::Corrupt(format!("operator slot or assignment record of chat {}", chat.id))),
            },
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}
