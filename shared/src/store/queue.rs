//! The assignment queue's entries: the truth of which chats wait for an operator
//! (an SQS message is only a trigger), sharded over `QUEUE_SHARDS` partitions.

use super::attr::{key, Item, Reader};
use super::tx::shard_of;
use super::{Store, StoreError};
use crate::domain::assignment::QueueEntry;
use crate::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::Credits;

/// Queue shards: spreads the platform's enqueue rate over several partitions.
pub const QUEUE_SHARDS: u32 = 16;

pub fn queue_shard(chat_id: &str) -> u32 {
    shard_of(chat_id, QUEUE_SHARDS)
}

pub(crate) fn queue_pk(shard: u32) -> String {
    format!("QUEUE#{shard}")
}

pub(crate) fn queue_key(chat_id: &str) -> Item {
    key(queue_pk(queue_shard(chat_id)), format!("CHAT#{chat_id}"))
}

fn entry_from(item: &Item) -> Result<QueueEntry, StoreError> {
    let r = Reader(item);
    Ok(QueueEntry {
        chat_id: ChatId::new(r.str("chat_id")?),
        member_id: MemberId::new(r.str("member_id")?),
        character_id: CharacterId::new(r.str("character_id")?),
        waiting_since: r.time("waiting_since")?,
        member_credits_spent: Credits::from_hundredths(r.opt_i64("member_credits_spent").unwrap_or(0)),
        paid: r.bool("paid"),
        reassign_count: u32::try_from(r.opt_i64("reassign_count").unwrap_or(0)).unwrap_or(0),
        preferred_operator: r.opt_str("preferred_operator").map(OperatorId::new),
        excluded: r.strings("excluded").into_iter().map(OperatorId::new).collect(),
        boosted: r.bool("boosted"),
        response_style: r.opt_str("response_style"),
        languages: r.strings("languages"),
    })
}

impl Store {
    /// Every queue entry, from all shards, eventually consistent: an entry a read
    /// misses waits for the next pass, and one it still shows after a claim fails
    /// that claim's condition on the entry (`ClaimOutcome::EntryGone`).
    pub async fn waiting_entries(&self) -> Result<Vec<QueueEntry>, StoreError> {
        let mut entries = Vec::new();
        for shard in 0..QUEUE_SHARDS {
            for item in &self.query_prefix(&queue_pk(shard), "CHAT#", false).await? {
                entries.push(entry_from(item)?);
            }
        }
        Ok(entries)
    }

    /// The queue entries of these chats that exist (a chat named twice is read
    /// once), strongly consistent: a trigger is sent right after its entry is
    /// written, so an eventually consistent read could miss it.
    pub async fn queue_entries(&self, chats: &[ChatId]) -> Result<Vec<QueueEntry>, StoreError> {
        let mut ids: Vec<&str> = chats.iter().map(ChatId::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let keys = ids.into_iter().map(queue_key).collect();
        self.batch_get(keys, true).await?.iter().map(entry_from).collect()
    }
}
