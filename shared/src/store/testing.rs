//! Test-only access to the table (feature `test-support`, enabled by the tests
//! crate, never by a function): stage a state no route makes, and read what a rule
//! must have left behind, without a test knowing any key.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::attr::{b, key, n, s, ts, Item, Reader};
use super::characters::char_pk;
use super::chats::chat_pk;
use super::ledger::ledger_item;
use super::members::{member_pk, username_pk};
use super::operators::operator_pk;
use super::outbox::outbox_pk;
use super::payments::webhook_key;
use super::queue::queue_key;
use super::tx::{put_new, tx_update, update};
use super::TransactFailure;
use super::{Store, StoreError};
use crate::domain::ids::{ChatId, MemberId};
use crate::domain::{Chat, Credits};

/// One record, by what it is.
#[derive(Clone, Copy, Debug)]
pub enum Record<'a> {
    Member(&'a str),
    /// The username's claim on a member id.
    Username(&'a str),
    Chat(&'a str),
    Character(&'a str),
    Operator(&'a str),
    /// A webhook delivery, by event id (the SHA-256 of its body, hex).
    Webhook(&'a str),
}

impl Record<'_> {
    fn key(self) -> Item {
        match self {
            Record::Member(id) => key(member_pk(id), "PROFILE"),
            Record::Username(name) => key(username_pk(name), "USERNAME"),
            Record::Chat(id) => key(chat_pk(id), "CHAT"),
            Record::Character(id) => key(char_pk(id), "PROFILE"),
            Record::Operator(id) => key(operator_pk(id), "PROFILE"),
            Record::Webhook(id) => webhook_key(id),
        }
    }
}

/// Every item kept under one owner.
#[derive(Clone, Copy, Debug)]
pub enum Partition<'a> {
    /// The member's profile, ledger, favorites, notifications...
    Member(&'a str),
    /// The chat and its messages.
    Chat(&'a str),
    /// One outbox shard.
    Outbox(u32),
    /// A principal's idempotency records, by scope (`member:<id>`).
    Idempotency(&'a str),
    /// The jobs causes leave (closing chats, erasure).
    Jobs,
}

impl Store {
    /// Sets one attribute of a record, past every rule (a test staging a state).
    pub async fn force_attr(&self, record: Record<'_>, name: &str, value: AttributeValue) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(record.key()))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// A record's item as stored, if there is one.
    pub async fn raw_item(&self, record: Record<'_>) -> Result<Option<Item>, StoreError> {
        self.get_decoded(record.key(), |i| Ok(i.clone())).await
    }

    /// Every item of a partition, as stored.
    pub async fn raw_partition(&self, partition: Partition<'_>) -> Result<Vec<Item>, StoreError> {
        let pk = match partition {
            Partition::Member(id) => member_pk(id),
            Partition::Chat(id) => chat_pk(id),
            Partition::Outbox(shard) => outbox_pk(shard),
            Partition::Idempotency(scope) => super::idempotency::idem_pk(scope),
            Partition::Jobs => super::jobs::JOBS.to_string(),
        };
        self.query_all(&pk, "").await
    }

    /// Takes an operator off the available-operators index (a finished test
    /// round's operators, so later passes do not walk them).
    pub async fn retire_operator(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Record::Operator(id).key()))
            .update_expression("SET is_available = :f REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// An operator's entry in the available-operators listing, as the index holds
    /// it (only the projected attributes), if they are listed.
    pub async fn raw_listing_entry(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI3")
            .key_condition_expression("GSI3PK = :pk AND GSI3SK = :id")
            .expression_attribute_values(":pk", s(super::operators::available_pk(id)))
            .expression_attribute_values(":id", s(id));
        Ok(self.all_pages(query).await?.into_iter().next())
    }

    /// Lists an online operator the way the store did before the slim listing
    /// (GSI1 `OPS_AVAILABLE`, every attribute), as a deploy finds them.
    pub async fn stage_legacy_listing(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Record::Operator(id).key()))
            .update_expression("SET GSI1PK = :list, GSI1SK = :id REMOVE GSI3PK, GSI3SK, response_secs")
            .expression_attribute_values(":list", s(super::operators::LEGACY_AVAILABLE))
            .expression_attribute_values(":id", s(id))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Removes a chat's queue entry outright (test set-up: the product deletes an
    /// entry only by a claim, a close or `delete_stale_queue_entry`).
    pub async fn drop_queue_entry(&self, chat_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(queue_key(chat_id)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Puts a chat back in its member's list the way it was kept before the
    /// keys-only index: a GSI1 entry (the whole item), no GSI4 entry.
    pub async fn stage_legacy_member_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let sort = super::chats::open_sort(chat.last_activity(), &chat.id);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Record::Chat(&chat.id).key()))
            .update_expression("SET GSI1PK = :pk, GSI1SK = :sk REMOVE GSI4PK, GSI4SK")
            .expression_attribute_values(":pk", s(super::chats::member_chats_pk(&chat.member_id)))
            .expression_attribute_values(":sk", s(sort))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Makes a held chat look as one claimed before the operator's list moved to
    /// GSI5: the chat item carries a GSI2 entry (the whole item) and the claim wrote
    /// an open assignment record.
    pub async fn stage_legacy_operator_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let (Some(op), Some(sk), Some(at)) = (&chat.operator_id, &chat.assignment_sk, chat.assigned_at) else {
            return Err(StoreError::Corrupt(format!("chat {} is not held", chat.id)));
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Record::Chat(&chat.id).key()))
            .update_expression("SET GSI2PK = :pk, GSI2SK = :chat REMOVE GSI5PK, GSI5SK")
            .expression_attribute_values(":pk", s(super::assignments::operator_chats_pk(op)))
            .expression_attribute_values(":chat", s(&chat.id))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let mut record = key(chat_pk(&chat.id), sk);
        record.insert("entity".into(), s("assignment"));
        record.insert("operator_id".into(), s(op));
        record.insert("assigned_at".into(), ts(at));
        self.client.put_item().table_name(&self.table).set_item(Some(record)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}

impl Store {
    /// Adds (or, negative, removes) credits with a ledger entry in one transaction.
    /// The condition keeps the balance from going below zero.
    pub async fn adjust_balance(
        &self,
        member_id: &MemberId,
        amount: Credits,
        cause: &str,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Credits>, StoreError> {
        for _ in 0..20 {
            let Some(member) = self.get_member(member_id).await? else { return Ok(None) };
            let Some(after) = member.balance.checked_add(amount).filter(|b| b.hundredths() >= 0) else {
                return Ok(None);
            };
            let u = update(&self.table, key(member_pk(member_id), "PROFILE"))
                .update_expression("SET balance = :after")
                .condition_expression("balance = :before")
                .expression_attribute_values(":after", n(after.hundredths()))
                .expression_attribute_values(":before", n(member.balance.hundredths()));
            let items = vec![
                tx_update(u)?,
                put_new(&self.table, ledger_item(member_id, amount, after, cause, reference, now))?,
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(Some(after)),
                Err(TransactFailure::ConditionFailed(_)) => continue,
                Err(TransactFailure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Contention(20))
    }

    /// Puts a chat in the queue (tests and repair paths; sends do it in their transaction).
    pub async fn enqueue(&self, chat: &Chat, member_spent: Credits, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = queue_key(&chat.id);
        item.insert("entity".into(), s("queue_entry"));
        item.insert("chat_id".into(), s(&chat.id));
        item.insert("member_id".into(), s(&chat.member_id));
        item.insert("character_id".into(), s(&chat.character_id));
        item.insert("waiting_since".into(), ts(chat.awaiting_reply_since.unwrap_or(now)));
        item.insert("member_credits_spent".into(), n(member_spent.hundredths()));
        item.insert("reassign_count".into(), n(chat.reassign_count));
        item.insert("paid".into(), b(chat.paid_messages > 0));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Pending queue entries of one shard: (chat id, waiting since).
    pub async fn queue_shard_entries(&self, shard: u32) -> Result<Vec<(ChatId, DateTime<Utc>)>, StoreError> {
        self.first_page(&super::queue::queue_pk(shard), false, None, true)
            .await?
            .iter()
            .map(|i| {
                let r = Reader(i);
                Ok((ChatId::new(r.str("chat_id")?), r.time("waiting_since")?))
            })
            .collect()
    }
}

impl Store {
    /// An idempotency record as the code before outcomes wrote it: the HTTP
    /// status and body of the first response (what a deploy finds for 24 h).
    pub async fn put_legacy_idempotency_record(
        &self,
        (scope, route, k): super::IdemRef<'_>,
        request_hash: &str,
        status: u16,
        body: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = super::idempotency::idem_key(scope, route, k);
        item.insert("request_hash".into(), s(request_hash));
        item.insert("status".into(), n(status));
        item.insert("body".into(), s(body));
        item.insert("expires_at".into(), n(expires_at.timestamp()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}

/// A string attribute value (what most staged states need).
pub fn text(v: impl Into<String>) -> AttributeValue {
    s(v)
}
