//! Message edits (invariant 7): the new text and its history record, with the
//! editor, in one transaction conditioned on the text the editor replaced.

use chrono::{DateTime, Utc};

use super::attr::{b, key, s, ts, Item, Reader};
use super::chats::{chat_pk, message_from, message_sk};
use super::tx::{put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::ids::{self, ChatId};
use crate::domain::jobs::ERASED_MESSAGE;
use crate::domain::moderation::{EditorType, MessageEdit};
use crate::domain::{Message, Sender};

/// Sort-key prefix of a message's edit records, newest last.
fn history_prefix(seq: u32) -> String {
    format!("EDIT#{seq:010}#")
}

fn edit_from(item: &Item) -> Result<MessageEdit, StoreError> {
    let r = Reader(item);
    Ok(MessageEdit {
        original_content: r.str("original_content")?,
        new_content: r.str("new_content")?,
        edited_by: r.str("edited_by")?,
        editor_type: r.parse("editor_type", EditorType::parse)?,
        reason: r.str("reason")?,
        edited_at: r.time("edited_at")?,
    })
}

/// The answer to an edit.
#[derive(Debug)]
pub enum EditOutcome {
    Done(Box<Message>),
    /// The message changed since it was read (another edit): here it is now.
    Changed(Option<Box<Message>>),
}

impl Store {
    /// The message at position `seq` of the chat, if its id is `id`.
    pub async fn get_message(&self, chat_id: &ChatId, seq: u32, id: &str) -> Result<Option<Message>, StoreError> {
        let m = self.get_decoded(key(chat_pk(chat_id), message_sk(seq)), message_from).await?;
        Ok(m.filter(|m| m.id == id))
    }

    /// The chat of the member's that holds message `id` (its position says which
    /// key to read in each chat; one BatchGetItem per 100 of the member's chats).
    pub async fn find_member_message(
        &self,
        member_id: &crate::domain::ids::MemberId,
        id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let Some(seq) = crate::domain::ids::message_seq(id) else { return Ok(None) };
        let mut cursor: Option<String> = None;
        loop {
            let page = self.member_chats_oldest_first(member_id, cursor.as_deref(), 100).await?;
            let keys = page.items.iter().map(|c| key(chat_pk(&c.id), message_sk(seq))).collect();
            for item in self.batch_get(keys, false).await? {
                let m = message_from(&item)?;
                if m.id == id {
                    return Ok(Some(m));
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Replaces `before`'s text: the message (marked edited), its history record
    /// and the editor's audit entry, in one transaction conditioned on the text
    /// still being `before.content`, so no edit is recorded against a text it did
    /// not replace.
    pub async fn edit_message(
        &self,
        before: &Message,
        seq: u32,
        edit: &MessageEdit,
        audit: Option<&AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<EditOutcome, StoreError> {
        let message = update(&self.table, key(chat_pk(&before.chat_id), message_sk(seq)))
            .update_expression("SET content = :new, edited = :t")
            .condition_expression("id = :id AND content = :old")
            .expression_attribute_values(":new", s(&edit.new_content))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":id", s(&before.id))
            .expression_attribute_values(":old", s(&before.content));
        let mut record = key(chat_pk(&before.chat_id), format!("{}{}", history_prefix(seq), ids::new_id("ed_")));
        record.insert("entity".into(), s("message_edit"));
        record.insert("message_id".into(), s(&before.id));
        record.insert("sender".into(), s(before.sender.as_str()));
        record.insert("original_content".into(), s(&edit.original_content));
        record.insert("new_content".into(), s(&edit.new_content));
        record.insert("edited_by".into(), s(&edit.edited_by));
        record.insert("editor_type".into(), s(edit.editor_type.as_str()));
        record.insert("reason".into(), s(&edit.reason));
        record.insert("edited_at".into(), ts(edit.edited_at));
        let mut items = vec![tx_update(message)?, put_new(&self.table, record)?];
        if let Some(a) = audit {
            items.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(items).await {
            Ok(()) => {
                let mut after = before.clone();
                after.content = edit.new_content.clone();
                after.edited = true;
                Ok(EditOutcome::Done(Box::new(after)))
            }
            Err(TransactFailure::ConditionFailed(old)) => {
                let current = old.first().and_then(Option::as_ref).map(message_from).transpose()?;
                Ok(EditOutcome::Changed(current.filter(|m| m.id == before.id).map(Box::new)))
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// A message's edits, newest first.
    pub async fn message_history(&self, chat_id: &ChatId, seq: u32) -> Result<Vec<MessageEdit>, StoreError> {
        let mut items = self.query_prefix(&chat_pk(chat_id), &history_prefix(seq), true).await?;
        items.reverse();
        items.iter().map(edit_from).collect()
    }

    /// Erasure: the texts in the edit records of a chat's member messages.
    pub async fn erase_member_edits(&self, chat_id: &ChatId) -> Result<usize, StoreError> {
        let mut erased = 0;
        for item in self.query_all(&chat_pk(chat_id), "EDIT#").await? {
            let r = Reader(&item);
            if r.opt_str("sender").as_deref() != Some(Sender::Member.as_str())
                || r.opt_str("original_content").as_deref() == Some(ERASED_MESSAGE)
            {
                continue;
            }
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(r.str("PK")?, r.str("SK")?)))
                .update_expression("SET original_content = :e, new_content = :e")
                .expression_attribute_values(":e", s(ERASED_MESSAGE))
                .send()
                .await
                .map_err(StoreError::sdk)?;
            erased += 1;
        }
        Ok(erased)
    }
}
