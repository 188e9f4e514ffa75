//! Chats, their messages, and members' favorites.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::attr::{b, key, n, s, ts, Item, Reader};
use super::cursor::{self, Page, Partition};
use super::members::member_pk;
use super::tx::shard_of;
use super::{Store, StoreError, TransactFailure};
use crate::domain::ids::{chat_parts, CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::{Chat, ChatStatus, CloseReason, Credits, MemberStatus, Message, Sender};

pub(crate) fn chat_pk(id: &str) -> String {
    format!("CHAT#{id}")
}

/// The member's chat list: GSI4, keys only, so a message (which rewrites the chat)
/// never writes it; the list reads the chats by key. Chats listed before this
/// layout sit in GSI1 (whole items) until `member_chats` moves them.
pub(crate) fn member_chats_pk(member_id: &str) -> String {
    format!("MEMBERCHATS#{member_id}")
}

/// The hour of `at`, as the open-chats listing sorts (`2026-11-30T13`).
pub(crate) fn activity_hour(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// Sort key of a chat in its member's list (GSI4) and, while open, in the
/// open-chats listing (GSI3): the hour of its last activity, then its id. Auto-close
/// works in hours, and the member's list is put in exact order a page at a time
/// (`member_chats`), so the entries move once an hour at most, not on every
/// message. (Entries written before this layout hold the full time; they sort the
/// same way against an hour.)
pub(crate) fn open_sort(at: DateTime<Utc>, chat_id: &str) -> String {
    format!("{}#{chat_id}", activity_hour(at))
}

/// Whether a message at `now` moves the chat's entries: its hour changed. The
/// writers pin the chat they read (message_count), so `chat` is the stored one.
pub(crate) fn open_entry_moves(chat: &Chat, now: DateTime<Utc>) -> bool {
    activity_hour(chat.last_activity()) != activity_hour(now)
}

/// What a message at `now` adds to the chat's update: both hour entries (the
/// member's list, the open chats) when the hour moved or `always` (a reopen).
/// The SET fragment names the value `:open_sort`.
pub(crate) fn moved_entries(chat: &Chat, now: DateTime<Utc>, always: bool) -> Option<(&'static str, AttributeValue)> {
    (always || open_entry_moves(chat, now))
        .then(|| (", GSI4SK = :open_sort, GSI3SK = :open_sort", s(open_sort(now, &chat.id))))
}

pub(crate) fn message_sk(seq: u32) -> String {
    format!("MSG#{seq:010}")
}

/// The chat's id, member and character. A chat's key is derived from its pair
/// (`ids::chat_id`), so the item does not repeat them (a chat item written before
/// this layout still carries `id`, `member_id` and `character_id`; they agree).
fn chat_identity(r: &Reader) -> Result<(ChatId, MemberId, CharacterId), StoreError> {
    let id = match r.opt_str("id") {
        Some(id) => id,
        None => r
            .str("PK")?
            .strip_prefix("CHAT#")
            .map(str::to_string)
            .ok_or_else(|| StoreError::Corrupt("a chat item whose key is not CHAT#<id>".into()))?,
    };
    let (member, character) = match (r.opt_str("member_id"), r.opt_str("character_id")) {
        (Some(m), Some(c)) => (MemberId::new(m), CharacterId::new(c)),
        _ => chat_parts(&id).ok_or_else(|| StoreError::Corrupt(format!("chat id {id} does not name its pair")))?,
    };
    Ok((ChatId::new(id), member, character))
}

/// The id of a chat item or of its entry in an index (the table's keys are in every index).
pub(crate) fn chat_id_of(item: &Item) -> Result<ChatId, StoreError> {
    chat_identity(&Reader(item)).map(|(id, _, _)| id)
}

/// The assignment record of a chat held since `assigned_at` by `operator`: its
/// sort key is derived from the pair, so the chat item does not carry it.
pub(crate) fn assignment_record_sk(assigned_at: DateTime<Utc>, operator: &str) -> String {
    format!("ASSIGN#{}#{operator}", assigned_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub(crate) fn chat_from(item: &Item) -> Result<Chat, StoreError> {
    let r = Reader(item);
    let count = |name: &str| r.i64(name).map(|v| u32::try_from(v).unwrap_or(0));
    let (id, member_id, character_id) = chat_identity(&r)?;
    let operator_id = r.opt_str("operator_id");
    let assigned_at = r.opt_time("assigned_at");
    let assignment_sk = r.opt_str("assignment_sk").or_else(|| match (&operator_id, assigned_at) {
        (Some(op), Some(at)) => Some(assignment_record_sk(at, op)),
        _ => None,
    });
    Ok(Chat {
        id,
        member_id,
        character_id,
        status: r.parse("status", ChatStatus::parse)?,
        close_reason: r.opt_str("close_reason").and_then(|v| CloseReason::parse(&v)),
        member_messages: count("member_messages")?,
        message_count: count("message_count")?,
        paid_messages: count("paid_messages")?,
        credits_spent: Credits::from_hundredths(r.opt_i64("credits_spent").unwrap_or(0)),
        created_at: r.time("created_at")?,
        last_message_at: r.opt_time("last_message_at"),
        escalated_at: r.opt_time("escalated_at"),
        operator_id: operator_id.map(OperatorId::new),
        last_operator_id: r.opt_str("last_operator_id").map(OperatorId::new),
        reassign_count: count("reassign_count").unwrap_or(0),
        awaiting_reply_since: r.opt_time("awaiting_reply_since"),
        assigned_at,
        prio_spent: Credits::from_hundredths(r.opt_i64("prio_spent").unwrap_or(0)),
        prio_style: r.opt_str("prio_style"),
        prio_languages: r.strings("prio_languages"),
        last_member_message_at: r.opt_time("last_member_message_at"),
        last_operator_reply_at: r.opt_time("last_operator_reply_at"),
        idle_warned: r.bool("idle_warned"),
        excluded_operators: r.strings("excluded_operators").into_iter().map(OperatorId::new).collect(),
        assignment_sk,
        rating: r.opt_i64("rating").and_then(|v| u8::try_from(v).ok()),
        rated_operator: r.opt_str("rated_operator").map(OperatorId::new),
    })
}

pub(crate) fn message_from(item: &Item) -> Result<Message, StoreError> {
    let r = Reader(item);
    Ok(Message {
        id: r.str("id")?,
        chat_id: ChatId::new(r.str("chat_id")?),
        sender: r.parse("sender", Sender::parse)?,
        content: r.str("content")?,
        cost: Credits::from_hundredths(r.i64("cost")?),
        free: r.bool("free"),
        created_at: r.time("created_at")?,
        edited: r.bool("edited"),
        handled_by: r.opt_str("handled_by"),
    })
}

pub(crate) fn message_item(m: &Message, seq: u32) -> Item {
    let mut item = key(chat_pk(&m.chat_id), message_sk(seq));
    item.insert("entity".into(), s("message"));
    item.insert("id".into(), s(&m.id));
    item.insert("chat_id".into(), s(&m.chat_id));
    item.insert("sender".into(), s(m.sender.as_str()));
    item.insert("content".into(), s(&m.content));
    item.insert("cost".into(), n(m.cost.hundredths()));
    item.insert("free".into(), b(m.free));
    item.insert("created_at".into(), ts(m.created_at));
    item.insert("edited".into(), b(m.edited));
    // The stats job counts messages from this keys-only entry (no counter per send).
    let (list, sort) = super::stats::message_list_keys(m.sender, &m.id, m.created_at);
    item.insert("GSI4PK".into(), s(list));
    item.insert("GSI4SK".into(), s(sort));
    if let Some(op) = &m.handled_by {
        item.insert("handled_by".into(), s(op));
    }
    item
}

fn new_chat_item(c: &Chat) -> Item {
    let mut item = key(chat_pk(&c.id), "CHAT");
    item.insert("entity".into(), s("chat"));
    item.insert("GSI4PK".into(), s(member_chats_pk(&c.member_id)));
    item.insert("GSI4SK".into(), s(open_sort(c.created_at, &c.id)));
    item.insert("status".into(), s(c.status.as_str()));
    item.insert("member_messages".into(), n(0));
    item.insert("message_count".into(), n(0));
    item.insert("paid_messages".into(), n(0));
    item.insert("reassign_count".into(), n(0));
    item.insert("created_at".into(), ts(c.created_at));
    item.insert("GSI3PK".into(), s(open_chats_pk(&c.id)));
    item.insert("GSI3SK".into(), s(open_sort(c.created_at, &c.id)));
    item
}

/// Open chats by last activity, sharded: what auto-close reads.
pub(crate) const OPEN_CHAT_SHARDS: u32 = 16;

pub(crate) fn open_chats_pk(chat_id: &str) -> String {
    open_chats_shard_pk(shard_of(chat_id, OPEN_CHAT_SHARDS))
}

/// GSI3 partition of one shard of the open-chats listing.
pub(crate) fn open_chats_shard_pk(shard: u32) -> String {
    format!("OPENCHATS#{shard}")
}

/// Which part of a chat's messages to read.
pub enum MessageWindow<'a> {
    /// The newest page; the cursor pages back to older ones.
    Newest { cursor: Option<&'a str> },
    /// Messages after the one at `seq`, oldest first (polling).
    After { seq: u32, cursor: Option<&'a str> },
}

impl Store {
    /// Creates the chat unless the pair already has one. Returns the chat and
    /// whether this call created it, or `None` if the member is no longer active
    /// (so no chat appears after a deletion or ban has listed the member's chats).
    /// The derived key makes concurrent creates collide.
    pub async fn create_or_get_chat(&self, chat: &Chat) -> Result<Option<(Chat, bool)>, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_chat_item(chat)))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::dynamo)?;
        let active = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(&chat.member_id), "PROFILE")))
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(MemberStatus::Active.as_str()))
            .build()
            .map_err(StoreError::dynamo)?;
        // The character must still be public: a removal lists the character's chats
        // after it commits, so a chat created after it must fail here.
        let public = super::characters::IS_PUBLIC.check(&self.table, &chat.character_id)?;
        let mut listed = key(super::characters::character_chats_pk(&chat.character_id), chat.id.as_str());
        listed.insert("entity".into(), s("character_chat"));
        listed.insert("member_id".into(), s(&chat.member_id));
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().condition_check(active).build(),
            public,
            super::tx::put(&self.table, listed)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Some((chat.clone(), true))),
            Err(TransactFailure::ConditionFailed(old)) => match old.first().and_then(Option::as_ref) {
                Some(existing) => Ok(Some((chat_from(existing)?, false))),
                None => Ok(None),
            },
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Chats by id (consistent), in the order asked, skipping unknown ids.
    pub async fn chats_by_id(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let keys = ids.iter().map(|id| key(chat_pk(id), "CHAT")).collect();
        let mut by_id = std::collections::HashMap::new();
        for item in self.batch_get(keys, true).await? {
            let c = chat_from(&item)?;
            by_id.insert(c.id.clone(), c);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    pub async fn get_chat(&self, id: &ChatId) -> Result<Option<Chat>, StoreError> {
        self.get_decoded(key(chat_pk(id), "CHAT"), chat_from).await
    }

    /// A member's chats, latest activity first.
    pub async fn list_member_chats(
        &self,
        member_id: &MemberId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Chat>, StoreError> {
        self.member_chats(member_id, false, cursor, limit).await
    }

    /// A member's chats, least recent activity first: a job's pass over them. A chat
    /// that sees activity during the pass moves ahead of the cursor, not behind it.
    pub async fn member_chats_oldest_first(
        &self,
        member_id: &MemberId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Chat>, StoreError> {
        self.member_chats(member_id, true, cursor, limit).await
    }

    async fn member_chats(
        &self,
        member_id: &MemberId,
        oldest_first: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Chat>, StoreError> {
        let pk = member_chats_pk(member_id);
        let moved = self.move_listed_chats(&pk).await?;
        let entries = if moved.is_empty() {
            self.page(Partition::Gsi4(&pk), oldest_first, cursor, limit).await?
        } else {
            self.page_with_moved(&pk, moved, oldest_first, cursor, limit).await?
        };
        let keys = entries.items.iter().filter_map(|e| Some(key(Reader(e).opt_str("PK")?, "CHAT"))).collect();
        let mut items = Vec::with_capacity(entries.items.len());
        for item in self.batch_get(keys, true).await? {
            items.push(chat_from(&item)?);
        }
        // The index orders by hour; within the page, the exact last activity.
        items.sort_by(|a, b| {
            let order = a.last_activity().cmp(&b.last_activity()).then_with(|| a.id.cmp(&b.id));
            if oldest_first {
                order
            } else {
                order.reverse()
            }
        });
        Ok(Page { items, next_cursor: entries.next_cursor })
    }

    /// Moves a member's chats still listed in GSI1 (whole items, so every message
    /// rewrote the entry) to the keys-only GSI4, keeping their place (a message since
    /// may already have set the newer hour). Returns the moved entries' GSI4 keys.
    /// Costs one query of an empty partition once every chat has moved.
    async fn move_listed_chats(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let mut moved = Vec::new();
        for entry in self.index_partition("GSI1", pk).await? {
            let r = Reader(&entry);
            let (table_pk, table_sk, old_sort) = (r.str("PK")?, r.str("SK")?, r.str("GSI1SK")?);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("PK", s(&table_pk))
                .key("SK", s(&table_sk))
                .update_expression("SET GSI4PK = :pk, GSI4SK = if_not_exists(GSI4SK, :sk) REMOVE GSI1PK, GSI1SK")
                .condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":sk", s(&old_sort))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await;
            let sort = match result {
                Ok(out) => out.attributes.as_ref().and_then(|a| Reader(a).opt_str("GSI4SK")).unwrap_or(old_sort),
                Err(e) if super::tx::is_condition_failed(&e) => continue,
                Err(e) => return Err(StoreError::sdk(e)),
            };
            let mut k = key(table_pk, table_sk);
            k.insert("GSI4PK".into(), s(pk));
            k.insert("GSI4SK".into(), s(sort));
            moved.push(k);
        }
        Ok(moved)
    }

    /// One page of the member's list on the call that moved some of it: the index
    /// trails the table, so it may not show the moved chats yet. The page is cut
    /// from every entry the index shows and the moved ones, in the index's order,
    /// with the cursor the index would give; later pages come from the index.
    async fn page_with_moved(
        &self,
        pk: &str,
        moved: Vec<Item>,
        oldest_first: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Item>, StoreError> {
        let sort_of = |k: &Item| Reader(k).opt_str("GSI4SK").unwrap_or_default();
        let mut all = self.index_partition("GSI4", pk).await?;
        for k in moved {
            if !all.iter().any(|e| e.get("PK") == k.get("PK")) {
                all.push(k);
            }
        }
        all.sort_by_key(|k| sort_of(k));
        if !oldest_first {
            all.reverse();
        }
        let after = cursor.map(|c| cursor::decode_gsi4(c, pk)).transpose()?.map(|start| sort_of(&start));
        let mut rest = all.into_iter().skip_while(|k| match &after {
            Some(a) if oldest_first => sort_of(k) <= *a,
            Some(a) => sort_of(k) >= *a,
            None => false,
        });
        let items: Vec<Item> = rest.by_ref().take(limit).collect();
        let next_cursor = match rest.next() {
            Some(_) => items.last().and_then(cursor::encode),
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Messages of a chat in time order.
    pub async fn list_messages(
        &self,
        chat_id: &ChatId,
        window: MessageWindow<'_>,
        limit: usize,
    ) -> Result<Page<Message>, StoreError> {
        let pk = chat_pk(chat_id);
        let decode = |c: &str| cursor::decode(c, &["PK", "SK"], ("PK", &pk));
        let q =
            self.client.query().table_name(&self.table).expression_attribute_values(":pk", s(&pk)).limit(limit as i32);
        let (q, newest_first) = match window {
            MessageWindow::Newest { cursor } => (
                q.key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
                    .expression_attribute_values(":msg", s("MSG#"))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(cursor.map(decode).transpose()?),
                true,
            ),
            MessageWindow::After { seq, cursor } => (
                q.key_condition_expression("PK = :pk AND SK BETWEEN :after AND :end")
                    .expression_attribute_values(":after", s(message_sk(seq.saturating_add(1))))
                    .expression_attribute_values(":end", s("MSG#~"))
                    .scan_index_forward(true)
                    .set_exclusive_start_key(cursor.map(decode).transpose()?),
                false,
            ),
        };
        let out = q.send().await.map_err(StoreError::sdk)?;
        let mut items: Vec<Message> =
            out.items.unwrap_or_default().iter().map(message_from).collect::<Result<_, _>>()?;
        if newest_first {
            items.reverse();
        }
        Ok(Page { items, next_cursor: out.last_evaluated_key.as_ref().and_then(cursor::encode) })
    }

    pub async fn put_favorite(
        &self,
        member_id: &MemberId,
        character_id: &CharacterId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = key(member_pk(member_id), format!("FAV#{character_id}"));
        item.insert("character_id".into(), s(character_id));
        item.insert("created_at".into(), ts(now));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn delete_favorite(&self, member_id: &MemberId, character_id: &CharacterId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(member_id), format!("FAV#{character_id}"))))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Character ids a member has favorited, a page at a time.
    pub async fn list_favorite_ids(
        &self,
        member_id: &MemberId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StoreError> {
        let pk = member_pk(member_id);
        let page = self.page(Partition::Prefix { pk: &pk, prefix: "FAV#" }, true, cursor, limit).await?;
        page.try_map(|i| Reader(i).str("character_id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CharacterId, MemberId};

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_open_chats_entry_sorts_by_hour_and_moves_only_when_the_hour_changes() {
        let mut chat = Chat::new(MemberId::new("m_1"), CharacterId::new("c_1"), at("2026-11-30T10:05:00Z"));
        assert_eq!(open_sort(at("2026-11-30T10:59:59.999Z"), "x"), "2026-11-30T10#x");
        assert!(!open_entry_moves(&chat, at("2026-11-30T10:59:59Z")), "created this hour");
        assert!(open_entry_moves(&chat, at("2026-11-30T11:00:00Z")));
        chat.last_message_at = Some(at("2026-11-30T11:00:01Z"));
        assert!(!open_entry_moves(&chat, at("2026-11-30T11:40:00Z")), "the last message's hour");
        assert!(open_entry_moves(&chat, at("2026-12-01T11:40:00Z")), "same hour, another day");
    }

    #[test]
    fn a_chat_item_does_not_repeat_what_its_key_says_and_reads_back_whole() {
        let mut chat = Chat::new(MemberId::new("m_01abc"), CharacterId::new("c_01xyz"), at("2026-11-30T10:05:00Z"));
        let item = new_chat_item(&chat);
        for derived in ["id", "member_id", "character_id", "assignment_sk"] {
            assert!(!item.contains_key(derived), "{derived} is derived from the key");
        }
        let back = chat_from(&item).unwrap();
        assert_eq!((&back.id, &back.member_id, &back.character_id), (&chat.id, &chat.member_id, &chat.character_id));
        assert_eq!(chat_id_of(&item).unwrap(), chat.id);

        // Held: the assignment record's key follows from the holder and the claim time.
        let mut held = item.clone();
        held.insert("operator_id".into(), s("op_1"));
        held.insert("assigned_at".into(), ts(at("2026-11-30T10:06:00.123Z")));
        let back = chat_from(&held).unwrap();
        assert_eq!(back.assignment_sk.as_deref(), Some("ASSIGN#2026-11-30T10:06:00.123Z#op_1"));
        held.remove("operator_id");
        assert_eq!(chat_from(&held).unwrap().assignment_sk, None, "released: no current assignment");

        // An item of the old layout carries them; they are read as they are.
        chat.id = ChatId::new("legacy-id");
        let mut legacy = item.clone();
        legacy.insert("id".into(), s("legacy-id"));
        legacy.insert("member_id".into(), s("m_01abc"));
        legacy.insert("character_id".into(), s("c_01xyz"));
        legacy.insert("assignment_sk".into(), s("ASSIGN#old"));
        legacy.insert("operator_id".into(), s("op_1"));
        let back = chat_from(&legacy).unwrap();
        assert_eq!((back.id.as_str(), back.assignment_sk.as_deref()), ("legacy-id", Some("ASSIGN#old")));
        let mut broken = item;
        broken.insert("PK".into(), s("CHAT#no-pair-here"));
        assert!(chat_from(&broken).is_err(), "an id that names no pair is corrupt, not guessed");
    }

    /// The sort key of the layout before hours: the full time of the last activity.
    fn activity_sort(at: DateTime<Utc>, chat_id: &str) -> String {
        format!("{}#{chat_id}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    #[test]
    fn auto_close_reads_every_hour_up_to_the_cutoffs_including_entries_of_the_old_layout() {
        let upto = activity_hour(at("2026-11-29T12:30:00Z") + chrono::Duration::hours(1));
        for (entry, read) in [
            (open_sort(at("2026-11-29T12:59:00Z"), "c"), true),
            (open_sort(at("2026-11-29T13:00:00Z"), "c"), false),
            (activity_sort(at("2026-11-29T12:59:59.999Z"), "c"), true),
            (activity_sort(at("2026-11-29T13:00:00Z"), "c"), false),
        ] {
            assert_eq!(entry.as_str() < upto.as_str(), read, "{entry}");
        }
    }
}
