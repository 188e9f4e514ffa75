//! The money path: one read of everything a send depends on, then one transaction
//! that debits, stores the message, bumps the chat, writes the ledger, queues the
//! chat and records the idempotent response, conditioned on the values read.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Reader};
use super::characters::{char_pk, character_from};
use super::chats::{chat_from, chat_pk, message_item, moved_entries};
use super::idempotency::{idem_key, record_put, stored_response, DoneRecord, IdemRef, StoredResponse};
use super::ledger::ledger_item;
use super::members::{member_from, member_pk};
use super::queue::queue_key;
use super::tx::{put_new, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::ids::{CharacterId, ChatId, MemberId};
use crate::domain::{Admission, Character, Chat, ChatStatus, Credits, Member, Message};

/// Everything a send depends on, read in one consistent BatchGetItem.
#[derive(Debug)]
pub struct SendInputs {
    pub member: Option<Member>,
    pub chat: Option<Chat>,
    pub character: Option<Character>,
    pub idempotent: Option<StoredResponse>,
    /// The admin's pricing (its copy for this member; defaults if never set).
    pub pricing: crate::domain::pricing::Pricing,
}

/// A send ready to commit: the snapshot it was priced from and what it writes.
pub struct SendCommit<'a> {
    pub member: &'a Member,
    pub chat: &'a Chat,
    pub admission: Admission,
    pub character: Option<&'a Character>,
    pub message: &'a Message,
    pub seq: u32,
    pub now: DateTime<Utc>,
    /// The member's spent loyalty rewards after this message (one more if it used one).
    pub loyalty_used: u64,
    /// Put the chat in the assignment queue (it has no operator).
    pub enqueue: bool,
    /// The outcome to record against the request's Idempotency-Key.
    pub idempotency: Option<DoneRecord<'a>>,
}

/// Why a send did not commit, with the current state to retry from.
#[derive(Debug)]
pub enum SendOutcome {
    Committed,
    /// The member changed since the read (another send, a top-up, a ban).
    MemberChanged(Option<Member>),
    /// The chat changed since the read (another message, a close).
    ChatChanged(Option<Chat>),
    /// Another request with the same Idempotency-Key committed first.
    IdempotencyTaken,
    /// A reopen found the character removed since the read: the chat stays closed.
    CharacterRemoved,
}

impl Store {
    pub async fn load_send_inputs(
        &self,
        member_id: &MemberId,
        chat_id: &ChatId,
        character_id: &CharacterId,
        idempotency: Option<IdemRef<'_>>,
        now: DateTime<Utc>,
    ) -> Result<SendInputs, StoreError> {
        let mut keys = vec![
            key(member_pk(member_id), "PROFILE"),
            key(chat_pk(chat_id), "CHAT"),
            key(char_pk(character_id), "PROFILE"),
            super::settings::pricing_key_for(member_id),
        ];
        if let Some((scope, route, k)) = idempotency {
            keys.push(idem_key(scope, route, k));
        }
        let found = self.batch_get(keys, true).await?;
        let mut inputs =
            SendInputs { member: None, chat: None, character: None, idempotent: None, pricing: Default::default() };
        for item in &found {
            let r = Reader(item);
            match (r.opt_str("PK").unwrap_or_default().split('#').next(), r.opt_str("SK").as_deref()) {
                (Some("MEMBER"), _) => inputs.member = Some(member_from(item)?),
                (Some("CHAT"), _) => inputs.chat = Some(chat_from(item)?),
                (Some("CHAR"), _) => inputs.character = Some(character_from(item)?),
                (Some("IDEM"), _) => inputs.idempotent = stored_response(item, now),
                (Some("PRICING"), _) => inputs.pricing = super::settings::pricing_from(Some(item)),
                _ => {}
            }
        }
        Ok(inputs)
    }

    /// Commits one member message. Conditions pin every price input that was read:
    /// the member's balance, message count, tier and status, and the chat's counters
    /// and status. A failed condition returns the current item to re-price from.
    pub async fn commit_send(&self, c: &SendCommit<'_>) -> Result<SendOutcome, StoreError> {
        let m = c.member;
        let cost = c.message.cost;
        let balance_after = m.balance.checked_sub(cost).ok_or_else(|| StoreError::Corrupt("negative".into()))?;
        let mut items = vec![
            self.member_debit(m, cost, c.loyalty_used)?,
            self.chat_bump(c)?,
            put_new(&self.table, message_item(c.message, c.seq))?,
        ];
        if !cost.is_zero() {
            let entry = ledger_item(
                &m.id,
                Credits::from_hundredths(-cost.hundredths()),
                balance_after,
                "message",
                &c.message.id,
                c.now,
            );
            items.push(put_new(&self.table, entry)?);
        }
        if c.enqueue {
            items.push(self.queue_entry(c)?);
        }
        let idem_index = items.len();
        if let Some(record) = &c.idempotency {
            items.push(record_put(&self.table, record, c.now)?);
        }
        // A reopen needs the character still public: a removal's close job may
        // have passed this chat already, and nothing else would close it again.
        let character_index = items.len();
        if c.admission == Admission::Reopen {
            items.push(super::characters::IS_PUBLIC.check(&self.table, &c.chat.character_id)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(SendOutcome::Committed),
            Err(TransactFailure::Store(e)) => Err(e),
            Err(TransactFailure::ConditionFailed(old)) => {
                let failed = |i: usize| old.get(i).and_then(Option::as_ref);
                if let Some(item) = failed(0) {
                    return Ok(SendOutcome::MemberChanged(member_from(item).ok()));
                }
                if let Some(item) = failed(1) {
                    return Ok(SendOutcome::ChatChanged(chat_from(item).ok()));
                }
                if c.idempotency.is_some() && failed(idem_index).is_some() {
                    return Ok(SendOutcome::IdempotencyTaken);
                }
                if c.admission == Admission::Reopen && failed(character_index).is_some() {
                    return Ok(SendOutcome::CharacterRemoved);
                }
                // The message slot was taken by a reply that raced the chat read.
                Ok(SendOutcome::ChatChanged(self.get_chat(&c.chat.id).await?))
            }
        }
    }

    /// `loyalty_used` changes only here, with `messages_sent`, so pinning
    /// `messages_sent` pins it too.
    fn member_debit(&self, m: &Member, cost: Credits, loyalty_used: u64) -> Result<TransactWriteItem, StoreError> {
        let u = update(&self.table, key(member_pk(&m.id), "PROFILE"))
            .update_expression(
                "SET balance = balance - :cost, credits_spent = credits_spent + :cost, \
                 messages_sent = messages_sent + :one, loyalty_used = :loyalty",
            )
            .expression_attribute_values(":loyalty", n(loyalty_used))
            .condition_expression(
                "#status = :active AND balance = :balance AND balance >= :cost AND messages_sent = :sent AND tier = :tier",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":cost", n(cost.hundredths()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":balance", n(m.balance.hundredths()))
            .expression_attribute_values(":sent", n(m.messages_sent))
            .expression_attribute_values(":tier", s(m.tier.as_str()))
            .build()
            .map_err(StoreError::dynamo)?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    fn chat_bump(&self, c: &SendCommit<'_>) -> Result<TransactWriteItem, StoreError> {
        let chat = c.chat;
        let paid = if c.message.cost.is_zero() { 0 } else { 1 };
        let mut set = String::from(
            "SET member_messages = member_messages + :one, message_count = message_count + :one, \
             paid_messages = paid_messages + :paid, last_message_at = :now, \
             last_member_message_at = :now, awaiting_reply_since = if_not_exists(awaiting_reply_since, :now)",
        );
        let mut u = update(&self.table, key(chat_pk(&chat.id), "CHAT"))
            .condition_expression("member_messages = :mm AND message_count = :mc AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":paid", n(paid))
            .expression_attribute_values(":now", ts(c.now))
            .expression_attribute_values(":mm", n(chat.member_messages))
            .expression_attribute_values(":mc", n(chat.message_count))
            .expression_attribute_values(":status", s(chat.status.as_str()));
        if !c.message.cost.is_zero() {
            // What the chat earned, for the back office (same item, no extra write).
            set.push_str(", credits_spent = if_not_exists(credits_spent, :zero) + :cost");
            u = u
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":cost", n(c.message.cost.hundredths()));
        }
        let reopen = c.admission == Admission::Reopen;
        if let Some((fragment, value)) = moved_entries(chat, c.now, reopen) {
            set.push_str(fragment);
            u = u.expression_attribute_values(":open_sort", value);
        }
        if reopen {
            set.push_str(", #status = :active, GSI3PK = :open REMOVE close_reason, closed_at");
            u = u
                .expression_attribute_values(":active", s(ChatStatus::Active.as_str()))
                .expression_attribute_values(":open", s(super::chats::open_chats_pk(&chat.id)));
        }
        let u = u.update_expression(set).build().map_err(StoreError::dynamo)?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// Upserts the chat's queue entry with its priority inputs; the first wait start wins.
    fn queue_entry(&self, c: &SendCommit<'_>) -> Result<TransactWriteItem, StoreError> {
        let mut set = String::from(
            "SET entity = :entity, chat_id = :chat, member_id = :member, character_id = :character, \
             waiting_since = if_not_exists(waiting_since, :now), member_credits_spent = :spent, tier = :tier, \
             paid = :paid, reassign_count = if_not_exists(reassign_count, :count)",
        );
        let mut u = update(&self.table, queue_key(&c.chat.id))
            .expression_attribute_values(":entity", s("queue_entry"))
            .expression_attribute_values(":chat", s(&c.chat.id))
            .expression_attribute_values(":member", s(&c.member.id))
            .expression_attribute_values(":character", s(&c.chat.character_id))
            .expression_attribute_values(":now", ts(c.now))
            .expression_attribute_values(":spent", n(c.member.credits_spent.hundredths() + c.message.cost.hundredths()))
            .expression_attribute_values(":tier", s(c.member.tier.as_str()))
            .expression_attribute_values(
                ":paid",
                AttributeValue::Bool(c.chat.paid_messages > 0 || !c.message.cost.is_zero()),
            )
            .expression_attribute_values(":count", n(c.chat.reassign_count));
        if let Some(op) = &c.chat.last_operator_id {
            set.push_str(", preferred_operator = :op");
            u = u.expression_attribute_values(":op", s(op));
        }
        let mut languages: Vec<String> = c.member.language.iter().cloned().collect();
        if let Some(ch) = c.character {
            languages.extend(ch.language.iter().cloned());
            if let Some(style) = &ch.response_style {
                set.push_str(", response_style = :style");
                u = u.expression_attribute_values(":style", s(style));
            }
        }
        if !languages.is_empty() {
            set.push_str(", languages = :langs");
            u = u.expression_attribute_values(":langs", super::attr::list(&languages));
        }
        let u = u.update_expression(set);
        Ok(TransactWriteItem::builder().update(u.build().map_err(StoreError::dynamo)?).build())
    }
}
