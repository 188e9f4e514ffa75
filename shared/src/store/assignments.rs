//! The assignment queue's table side: queue entries (the truth), claims (one
//! conditional transaction per chat and operator), releases, requeues and
//! escalation, operator replies, and the reads the timers need.

use aws_sdk_dynamodb::types::{Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{b, key, list, n, s, ts, Reader};
use super::chats::{
    activity_hour, chat_from, chat_id_of, chat_pk, message_item, moved_entries, open_chats_shard_pk, OPEN_CHAT_SHARDS,
};
use super::notifications::admin_notification_item;
use super::operators::operator_pk;
use super::queue::queue_key;
use super::tx::{applied, put_if, put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::assignment::{self, Return};
use crate::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::{Chat, Message};

pub use crate::domain::assignment::QueueEntry;

/// Why a chat goes back to the queue (or doesn't).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseKind {
    /// The operator answered and the member has been quiet for the hold time.
    Completed,
    /// The operator handed it back (with a note).
    Voluntary,
    /// The member waited too long for an answer.
    Idle,
    /// The operator was suspended.
    Suspension,
}

impl ReleaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Completed => "completed",
            ReleaseKind::Voluntary => "released",
            ReleaseKind::Idle => "idle_timeout",
            ReleaseKind::Suspension => "operator_suspended",
        }
    }

    /// Returns to the queue that the operator did not end by answering count.
    fn counts(self) -> bool {
        !matches!(self, ReleaseKind::Completed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The chat is held, closed or escalated, yet its queue entry is still there:
    /// the entry is stale.
    ChatUnavailable,
    /// Offline, suspended or full by now.
    OperatorUnavailable,
    /// Another assigner already handled the entry.
    EntryGone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Requeued,
    Escalated,
    Ended,
    /// The operator no longer holds the chat.
    NotHeld,
}

/// One assignment in a chat's history (staff only).
#[derive(Clone, Debug, serde::Serialize)]
pub struct AssignmentRecord {
    pub operator_id: OperatorId,
    pub assigned_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub note: Option<String>,
}

/// The escalated chats, oldest escalation first: GSI5 `ESCALATIONS` /
/// `<escalated_at>#<chat id>` while escalated (an escalated chat has no holder, so
/// its GSI5 key is free); the escalation sets it, a reassignment or close removes it.
pub(crate) const ESCALATIONS: &str = "ESCALATIONS";

pub(crate) fn escalation_sort(at: DateTime<Utc>, chat_id: &str) -> String {
    format!("{}#{chat_id}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The partition of the chats an operator holds: GSI5 (keys only, on the chat,
/// written by the claim and removed when the assignment ends, so a message never
/// writes it); GSI2 holds the same key on chats held since before GSI5.
pub(crate) fn operator_chats_pk(operator_id: &str) -> String {
    format!("OPCHATS#{operator_id}")
}

/// The record of `chat`'s current assignment, ended now: who, when, how and the
/// note, put with the change that ends it (the current assignment lives on the
/// chat until then). It replaces an open record written by a claim before records
/// were written at the end, and never one already ended. `None` if the chat names
/// no assignment.
pub(crate) fn ended_record(
    table: &str,
    chat: &Chat,
    operator_id: &str,
    reason: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Result<TransactWriteItem, StoreError>> {
    let sk = chat.assignment_sk.as_ref()?;
    let mut record = key(chat_pk(&chat.id), sk);
    record.insert("entity".into(), s("assignment"));
    record.insert("operator_id".into(), s(operator_id));
    if let Some(at) = chat.assigned_at {
        record.insert("assigned_at".into(), ts(at));
    }
    record.insert("ended_at".into(), ts(now));
    record.insert("end_reason".into(), s(reason));
    if let Some(note) = note {
        record.insert("note".into(), s(note));
    }
    Some(put_if(table, record, "attribute_not_exists(ended_at)"))
}

/// The start and the operator of an assignment from its record's key
/// (`ASSIGN#<assigned_at>#<operator>`, `chats::assignment_record_sk`).
fn record_key_parts(sk: &str) -> Result<(DateTime<Utc>, String), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("assignment record key {sk}"));
    let mut parts = sk.splitn(3, '#');
    let (Some("ASSIGN"), Some(at), Some(op)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(corrupt());
    };
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| corrupt())?.with_timezone(&Utc);
    Ok((at, op.to_string()))
}

impl Store {
    /// Deletes a queue entry found stale (its chat is held, closed, escalated or
    /// gone), unless it changed since it was read: a release that requeued the chat
    /// meanwhile wrote its new count (every requeue counts), and that wait must keep
    /// its entry.
    pub async fn delete_stale_queue_entry(&self, entry: &QueueEntry) -> Result<bool, StoreError> {
        let condition = if entry.reassign_count == 0 {
            "attribute_not_exists(reassign_count) OR reassign_count = :count"
        } else {
            "reassign_count = :count"
        };
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(queue_key(&entry.chat_id)))
            .condition_expression(condition)
            .expression_attribute_values(":count", n(entry.reassign_count))
            .send()
            .await;
        applied(result)
    }

    /// Gives `chat_id` to `operator_id` in one transaction: the chat must be active
    /// and unheld, the operator available, not suspended and under capacity, and
    /// the queue entry still there. The current assignment lives on the chat (its
    /// holder, `assigned_at`, and its entry in the operator's list, GSI5); its
    /// record is written when it ends.
    ///
    /// The entry's priority inputs (member spend, character style, languages) are
    /// kept on the chat, so a release that requeues it can write them back.
    pub async fn claim(
        &self,
        entry: &QueueEntry,
        operator_id: &OperatorId,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let chat_id = entry.chat_id.as_str();
        let mut set = String::from(
            "SET operator_id = :op, last_operator_id = :op, assigned_at = :now, \
             GSI5PK = :opchats, GSI5SK = :chat, prio_spent = :spent, prio_languages = :langs",
        );
        let mut chat = update(&self.table, key(chat_pk(chat_id), "CHAT"))
            .expression_attribute_values(":spent", n(entry.member_credits_spent.hundredths()))
            .expression_attribute_values(":langs", list(&entry.languages));
        if let Some(style) = &entry.response_style {
            set.push_str(", prio_style = :style");
            chat = chat.expression_attribute_values(":style", s(style));
        }
        let chat = chat
            .update_expression(format!("{set} REMOVE idle_warned"))
            .condition_expression("attribute_not_exists(operator_id) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":op", s(operator_id))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":opchats", s(operator_chats_pk(operator_id)))
            .expression_attribute_values(":chat", s(chat_id))
            .expression_attribute_values(":active", s("active"));
        let operator = update(&self.table, key(operator_pk(operator_id), "PROFILE"))
            .update_expression("ADD active_chats :one")
            .condition_expression("is_available = :t AND is_suspended = :f AND active_chats < max_concurrent_chats")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false));
        let entry = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(queue_key(chat_id)))
            .condition_expression("attribute_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::dynamo)?;
        let items = vec![tx_update(chat)?, tx_update(operator)?, TransactWriteItem::builder().delete(entry).build()];
        match self.transact(items).await {
            Ok(()) => Ok(ClaimOutcome::Claimed),
            Err(TransactFailure::ConditionFailed(old)) => {
                let failed = |i: usize| old.get(i).is_some_and(Option::is_some);
                Ok(if failed(2) {
                    // The entry is gone: another assigner claimed the chat (or dropped it).
                    ClaimOutcome::EntryGone
                } else if failed(0) {
                    ClaimOutcome::ChatUnavailable
                } else {
                    ClaimOutcome::OperatorUnavailable
                })
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Ends `operator_id`'s hold on the chat. Counting kinds requeue it (boosted
    /// after a suspension, excluding an idle operator) unless this return would be
    /// over the reassignment limit (`assignment::counted_return`): then it is
    /// escalated, never requeued.
    pub async fn release(
        &self,
        chat: &Chat,
        operator_id: &OperatorId,
        kind: ReleaseKind,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ReleaseOutcome, StoreError> {
        let counted = kind.counts().then(|| assignment::counted_return(chat.reassign_count));
        let escalate = matches!(counted, Some(Return::Escalate { .. }));
        let requeue = matches!(counted, Some(Return::Requeue { .. }));
        let new_count = match counted {
            Some(Return::Escalate { reassign_count } | Return::Requeue { reassign_count }) => reassign_count,
            None => chat.reassign_count,
        };
        let mut set = vec!["last_operator_id = :op"];
        // The same holder and the same assignment as read: a close, or a release and
        // a new claim in between, make this release a no-op (NotHeld).
        let mut u =
            update(&self.table, key(chat_pk(&chat.id), "CHAT")).expression_attribute_values(":op", s(operator_id));
        u = match chat.assigned_at {
            Some(at) => u
                .condition_expression("operator_id = :op AND assigned_at = :assigned")
                .expression_attribute_values(":assigned", ts(at)),
            None => u.condition_expression("operator_id = :op"),
        };
        let mut excluded = chat.excluded_operators.clone();
        if kind == ReleaseKind::Idle && !excluded.iter().any(|e| operator_id == e.as_str()) {
            excluded.push(operator_id.clone());
        }
        if counted.is_some() {
            set.push("reassign_count = :count");
            u = u.expression_attribute_values(":count", n(new_count));
        }
        if requeue {
            set.push("excluded_operators = :excluded");
            u = u.expression_attribute_values(":excluded", list(&excluded));
        }
        if escalate {
            set.push("#status = :escalated");
            set.push("max_reassignments_reached = :t");
            set.push("escalated_at = :now");
            // The chat leaves the operator's list for the escalations' list (GSI5).
            set.push("GSI5PK = :escalations");
            set.push("GSI5SK = :escalated_sk");
            u = u
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":escalated", s("escalated"))
                .expression_attribute_values(":t", b(true))
                .expression_attribute_values(":now", ts(now))
                .expression_attribute_values(":escalations", s(ESCALATIONS))
                .expression_attribute_values(":escalated_sk", s(escalation_sort(now, &chat.id)));
        }
        // GSI2 and `assignment_sk`: a chat held since before the operator's list moved to GSI5.
        let expr = format!(
            "SET {} REMOVE operator_id, {}GSI2PK, GSI2SK, idle_warned, assignment_sk",
            set.join(", "),
            if escalate { "" } else { "GSI5PK, GSI5SK, " }
        );
        let mut counters = vec!["active_chats :minus"];
        if kind.counts() {
            counters.push("reassignments :one");
        }
        if kind == ReleaseKind::Idle {
            counters.push("idle_incidents :one");
        }
        let mut operator = update(&self.table, key(operator_pk(operator_id), "PROFILE"))
            .update_expression(format!("ADD {}", counters.join(", ")))
            .condition_expression("active_chats > :zero")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0));
        if kind.counts() {
            operator = operator.expression_attribute_values(":one", n(1));
        }
        let mut items = vec![tx_update(u.update_expression(expr))?, tx_update(operator)?];
        if let Some(record) = ended_record(&self.table, chat, operator_id, kind.as_str(), note, now) {
            items.push(record?);
        }
        if requeue {
            items.push(self.requeue_item(chat, new_count, &excluded, kind == ReleaseKind::Suspension, now)?);
        }
        if escalate {
            let msg = assignment::escalation_text(&chat.id, new_count);
            items.push(put_new(
                &self.table,
                admin_notification_item("chat_escalated", "high", &msg, Some(&chat.id), now),
            )?);
        }
        match self.transact(items).await {
            Ok(()) if escalate => Ok(ReleaseOutcome::Escalated),
            Ok(()) if requeue => Ok(ReleaseOutcome::Requeued),
            Ok(()) => Ok(ReleaseOutcome::Ended),
            Err(TransactFailure::ConditionFailed(_)) => Ok(ReleaseOutcome::NotHeld),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    fn requeue_item(
        &self,
        chat: &Chat,
        reassign_count: u32,
        excluded: &[OperatorId],
        boosted: bool,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let since = chat.awaiting_reply_since.unwrap_or(now);
        let u = update(&self.table, queue_key(&chat.id))
            .update_expression(format!(
                "SET entity = :entity, chat_id = :chat, member_id = :member, character_id = :character, \
                 waiting_since = if_not_exists(waiting_since, :since), reassign_count = :count, excluded = :excluded, \
                 boosted = :boosted, paid = :paid, member_credits_spent = if_not_exists(member_credits_spent, :spent), \
                 languages = if_not_exists(languages, :langs){style}",
                style = if chat.prio_style.is_some() {
                    ", response_style = if_not_exists(response_style, :style)"
                } else {
                    ""
                },
            ))
            .expression_attribute_values(":entity", s("queue_entry"))
            .expression_attribute_values(":chat", s(&chat.id))
            .expression_attribute_values(":member", s(&chat.member_id))
            .expression_attribute_values(":character", s(&chat.character_id))
            .expression_attribute_values(":since", ts(since))
            .expression_attribute_values(":count", n(reassign_count))
            .expression_attribute_values(":excluded", list(excluded))
            .expression_attribute_values(":boosted", b(boosted))
            .expression_attribute_values(":paid", b(chat.paid_messages > 0))
            .expression_attribute_values(":spent", n(chat.prio_spent.hundredths()))
            .expression_attribute_values(":langs", list(&chat.prio_languages));
        let u = match &chat.prio_style {
            Some(style) => u.expression_attribute_values(":style", s(style)),
            None => u,
        };
        tx_update(u)
    }

    /// Escalates a chat that is waiting without an operator (the escalate job).
    pub async fn escalate_waiting(&self, chat: &Chat, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let u = update(&self.table, key(chat_pk(&chat.id), "CHAT"))
            .update_expression(
                "SET #status = :escalated, max_reassignments_reached = :t, escalated_at = :now, \
                 GSI5PK = :escalations, GSI5SK = :escalated_sk",
            )
            .condition_expression("attribute_not_exists(operator_id) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":escalated", s("escalated"))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":escalations", s(ESCALATIONS))
            .expression_attribute_values(":escalated_sk", s(escalation_sort(now, &chat.id)));
        let entry = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(queue_key(&chat.id)))
            .build()
            .map_err(StoreError::dynamo)?;
        let msg = assignment::escalation_text(&chat.id, chat.reassign_count);
        let items = vec![
            tx_update(u)?,
            TransactWriteItem::builder().delete(entry).build(),
            put_new(&self.table, admin_notification_item("chat_escalated", "high", &msg, Some(&chat.id), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Stores an operator's reply as the character: never charged, attributed to the
    /// operator, ending the member's wait. `Ok(false)` if the operator no longer
    /// holds the chat or another message took the slot (re-read and retry).
    pub async fn reply_as_character(
        &self,
        chat: &Chat,
        message: &Message,
        seq: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let op = message.handled_by.as_deref().unwrap_or_default();
        let mut set = String::from(
            "SET message_count = message_count + :one, last_message_at = :now, last_operator_reply_at = :now",
        );
        let mut u = update(&self.table, key(chat_pk(&chat.id), "CHAT"));
        if let Some((fragment, value)) = moved_entries(chat, now, false) {
            set.push_str(fragment);
            u = u.expression_attribute_values(":open_sort", value);
        }
        let u = u
            .update_expression(format!("{set} REMOVE awaiting_reply_since, idle_warned"))
            .condition_expression("operator_id = :op AND message_count = :mc")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":op", s(op))
            .expression_attribute_values(":mc", n(chat.message_count));
        let waited = chat.unanswered_since().map(|t| (now - t).num_seconds().max(0));
        let mut counters = update(&self.table, key(operator_pk(op), "PROFILE"));
        counters = match waited {
            Some(secs) => counters
                .update_expression("ADD replies :one, total_response_secs :secs")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":secs", n(secs)),
            None => counters.update_expression("ADD replies :zero").expression_attribute_values(":zero", n(0)),
        };
        let items = vec![tx_update(u)?, put_new(&self.table, message_item(message, seq))?, tx_update(counters)?];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Marks an idle warning as sent (once per wait).
    pub async fn mark_idle_warned(&self, chat_id: &ChatId, operator_id: &OperatorId) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(chat_pk(chat_id), "CHAT")))
            .update_expression("SET idle_warned = :t")
            .condition_expression("operator_id = :op AND attribute_not_exists(idle_warned)")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":op", s(operator_id))
            .send()
            .await;
        applied(result)
    }

    /// The chats an operator holds now: their entries in GSI5 (keys), then the
    /// chats themselves, read by key and kept only if the operator still holds them
    /// (the index trails the table). A chat held since before GSI5 is listed in GSI2
    /// (the whole chat item) until its release or close; it is read by key too.
    pub async fn operator_chats(&self, operator_id: &OperatorId) -> Result<Vec<Chat>, StoreError> {
        let pk = operator_chats_pk(operator_id);
        let mut to_read = std::collections::BTreeSet::new();
        for index in ["GSI5", "GSI2"] {
            for entry in self.index_partition(index, &pk).await? {
                to_read.insert(Reader(&entry).str("PK")?);
            }
        }
        let keys = to_read.into_iter().map(|pk| key(pk, "CHAT")).collect();
        let mut chats = Vec::new();
        for item in self.batch_get(keys, false).await? {
            chats.push(chat_from(&item)?);
        }
        chats.retain(|c| c.operator_id.as_ref() == Some(operator_id));
        chats.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(chats)
    }

    /// A chat's assignments, oldest first: the ended ones from their records, then
    /// the current one from the chat (its record is written when it ends).
    pub async fn assignment_history(&self, chat: &Chat) -> Result<Vec<AssignmentRecord>, StoreError> {
        let mut history = self
            .query_all(&chat_pk(&chat.id), "ASSIGN#")
            .await?
            .iter()
            .map(|i| {
                let r = Reader(i);
                // A record names its start and its operator in its key; one written
                // whole also holds them (an older release's end, run against a chat
                // claimed by this version during a deploy, wrote only the end).
                let (start, op) = record_key_parts(&r.str("SK")?)?;
                let operator_id = OperatorId::new(r.opt_str("operator_id").unwrap_or(op));
                let assigned_at = r.opt_time("assigned_at").unwrap_or(start);
                Ok(AssignmentRecord {
                    operator_id,
                    assigned_at,
                    ended_at: r.opt_time("ended_at"),
                    end_reason: r.opt_str("end_reason"),
                    note: r.opt_str("note"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if let (Some(op), Some(at)) = (&chat.operator_id, chat.assigned_at) {
            // An open record written by a claim before records were written at the end.
            if !history.iter().any(|r| r.operator_id == *op && r.assigned_at == at) {
                history.push(AssignmentRecord {
                    operator_id: op.clone(),
                    assigned_at: at,
                    ended_at: None,
                    end_reason: None,
                    note: None,
                });
            }
        }
        Ok(history)
    }

    /// Open chats whose last activity may be before `cutoff`: every chat whose
    /// activity hour is at most `cutoff`'s (the listing keeps hours). So it holds
    /// every chat inactive since `cutoff`, and some active later in that hour; the
    /// caller decides on the chat itself.
    pub async fn chats_inactive_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<ChatId>, StoreError> {
        let upto = activity_hour(cutoff + chrono::Duration::hours(1));
        let mut chats = Vec::new();
        for shard in 0..OPEN_CHAT_SHARDS {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI3")
                .key_condition_expression("GSI3PK = :pk AND GSI3SK < :upto")
                .expression_attribute_values(":pk", s(open_chats_shard_pk(shard)))
                .expression_attribute_values(":upto", s(&upto));
            for item in self.all_pages(query).await? {
                chats.push(chat_id_of(&item)?);
            }
        }
        Ok(chats)
    }

    /// Records the member's rating of a chat, credited to `operator` (the chat's
    /// current or last operator). A new rating replaces the earlier one: in the same
    /// transaction the earlier one is taken back from the operator it was credited
    /// to, so every operator's sum and count hold only ratings that stand.
    /// `Ok(false)`: the chat's rating changed since it was read (read and retry).
    pub async fn rate_chat(&self, chat: &Chat, rating: u8, operator: Option<&OperatorId>) -> Result<bool, StoreError> {
        let mut u = update(&self.table, key(chat_pk(&chat.id), "CHAT")).expression_attribute_values(":r", n(rating));
        let expr = match operator {
            Some(op) => {
                u = u.expression_attribute_values(":op", s(op));
                "SET rating = :r, rated_operator = :op"
            }
            None => "SET rating = :r REMOVE rated_operator",
        };
        u = match (chat.rating, &chat.rated_operator) {
            (Some(prev), Some(prev_op)) => u
                .condition_expression("rating = :prev AND rated_operator = :prev_op")
                .expression_attribute_values(":prev", n(prev))
                .expression_attribute_values(":prev_op", s(prev_op)),
            (Some(prev), None) => u
                .condition_expression("rating = :prev AND attribute_not_exists(rated_operator)")
                .expression_attribute_values(":prev", n(prev)),
            (None, _) => u.condition_expression("attribute_exists(PK) AND attribute_not_exists(rating)"),
        };
        let mut items = vec![tx_update(u.update_expression(expr))?];
        let counters = |op: &str, sum: i64, count: i64| {
            let mut c = update(&self.table, key(operator_pk(op), "PROFILE"))
                .update_expression("ADD rating_sum :sum, rating_count :count")
                .expression_attribute_values(":sum", n(sum))
                .expression_attribute_values(":count", n(count));
            c = if count < 0 {
                c.condition_expression("rating_count > :zero").expression_attribute_values(":zero", n(0))
            } else {
                c.condition_expression("attribute_exists(PK)")
            };
            tx_update(c)
        };
        let r = i64::from(rating);
        // A rating stored before `rated_operator` existed was credited to the chat's
        // operator of the time: the chat's current or last operator is the best record.
        let previous = chat.rating.and_then(|p| Some((p, chat.rated_operator.as_ref().or(chat.rateable_operator())?)));
        match (previous, operator) {
            (Some((prev, prev_op)), Some(op)) if prev_op == op => items.push(counters(op, r - i64::from(prev), 0)?),
            (previous, op) => {
                if let Some((prev, prev_op)) = previous {
                    items.push(counters(prev_op, -i64::from(prev), -1)?);
                }
                if let Some(op) = op {
                    items.push(counters(op, r, 1)?);
                }
            }
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(old)) if old.first().is_some_and(Option::is_some) => Ok(false),
            Err(TransactFailure::ConditionFailed(_)) => {
                Err(StoreError::Corrupt(format!("rating counters of chat {}'s operators", chat.id)))
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Staff notes: about a member, and about a character (shared by operators).
    pub async fn notes(
        &self,
        member_id: &MemberId,
        character_id: &CharacterId,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let get = |pk: String| async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, "NOTES")))
                .send()
                .await
                .map_err(StoreError::sdk)?;
            Ok::<_, StoreError>(out.item.as_ref().and_then(|i| Reader(i).opt_str("notes")))
        };
        Ok((get(format!("MEMBERNOTES#{member_id}")).await?, get(format!("CHARNOTES#{character_id}")).await?))
    }

    pub async fn save_notes(
        &self,
        member_id: &MemberId,
        character_id: &CharacterId,
        member_notes: Option<&str>,
        character_notes: Option<&str>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (pk, notes) in
            [(format!("MEMBERNOTES#{member_id}"), member_notes), (format!("CHARNOTES#{character_id}"), character_notes)]
        {
            let Some(notes) = notes else { continue };
            let mut item = key(pk, "NOTES");
            item.insert("entity".into(), s("staff_notes"));
            item.insert("notes".into(), s(notes));
            item.insert("updated_by".into(), s(by));
            item.insert("updated_at".into(), ts(now));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chats::assignment_record_sk;

    #[test]
    fn a_record_key_names_its_start_and_operator() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T10:06:00.123Z").expect("time").with_timezone(&Utc);
        let sk = assignment_record_sk(at, "op_01abc");
        assert_eq!(record_key_parts(&sk).expect("parts"), (at, "op_01abc".to_string()));
        for bad in
            ["ASSIGN#", "ASSIGN#yesterday#op_1", "MSG#2026-11-30T10:06:00.123Z#op_1", "ASSIGN#2026-11-30T10:06:00.123Z"]
        {
            assert!(record_key_parts(bad).is_err(), "{bad}");
        }
    }
}

/// What an admin's reassignment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReassignOutcome {
    /// Given to the named operator.
    Assigned,
    /// Back in the queue, at the top, its count reset.
    Requeued,
    /// The named operator already holds it, and it is not escalated: nothing to do.
    Unchanged,
    Closed,
    /// The named operator is offline, suspended or full (the claim's conditions).
    OperatorUnavailable,
    /// The chat changed since it was read: read it again.
    Changed,
}

impl Store {
    /// An admin's reassignment of `chat` as read, in one transaction: the holder
    /// (if any) freed and its assignment recorded as ended, then either the named
    /// operator takes it under the claim's own conditions (online, not suspended,
    /// room) or it goes back to the queue at the top; either way the reassignment
    /// count is reset, the excluded operators forgotten and an escalation ended;
    /// the audit entry is in the same transaction.
    pub async fn reassign_by_admin(
        &self,
        chat: &Chat,
        to: Option<&OperatorId>,
        audit: &crate::domain::admin::AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<ReassignOutcome, StoreError> {
        if chat.status == crate::domain::ChatStatus::Closed {
            return Ok(ReassignOutcome::Closed);
        }
        if to.is_some() && to == chat.operator_id.as_ref() {
            // Already theirs (an escalated chat has no holder): nothing to write.
            return Ok(ReassignOutcome::Unchanged);
        }
        let common = "#status = :active, reassign_count = :zero";
        let ended = "idle_warned, assignment_sk, GSI2PK, GSI2SK, escalated_at, escalation_renotified, \
                     max_reassignments_reached, excluded_operators";
        let mut u = update(&self.table, key(chat_pk(&chat.id), "CHAT"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":closed", s("closed"));
        u = match to {
            Some(op) => u
                .update_expression(format!(
                    "SET {common}, operator_id = :to, last_operator_id = :to, assigned_at = :now, \
                     GSI5PK = :opchats, GSI5SK = :chat REMOVE {ended}"
                ))
                .expression_attribute_values(":to", s(op))
                .expression_attribute_values(":now", ts(now))
                .expression_attribute_values(":opchats", s(operator_chats_pk(op)))
                .expression_attribute_values(":chat", s(&chat.id)),
            None => u.update_expression(format!("SET {common} REMOVE operator_id, GSI5PK, GSI5SK, {ended}")),
        };
        // The chat as read: not closed, the same holder and assignment.
        u = match (&chat.operator_id, chat.assigned_at) {
            (Some(op), Some(at)) => u
                .condition_expression("#status <> :closed AND operator_id = :holder AND assigned_at = :assigned")
                .expression_attribute_values(":holder", s(op))
                .expression_attribute_values(":assigned", ts(at)),
            (Some(op), None) => u
                .condition_expression("#status <> :closed AND operator_id = :holder")
                .expression_attribute_values(":holder", s(op)),
            (None, _) => u.condition_expression("#status <> :closed AND attribute_not_exists(operator_id)"),
        };
        let mut items = vec![tx_update(u)?];
        if let Some(holder) = &chat.operator_id {
            let free = update(&self.table, key(operator_pk(holder), "PROFILE"))
                .update_expression("ADD active_chats :minus")
                .condition_expression("active_chats > :zero")
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":zero", n(0));
            items.push(tx_update(free)?);
            if let Some(record) = ended_record(&self.table, chat, holder, "admin_reassigned", None, now) {
                items.push(record?);
            }
        }
        let target_index = items.len();
        match to {
            Some(op) => {
                let take = update(&self.table, key(operator_pk(op), "PROFILE"))
                    .update_expression("ADD active_chats :one")
                    .condition_expression(
                        "is_available = :t AND is_suspended = :f AND active_chats < max_concurrent_chats",
                    )
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":t", b(true))
                    .expression_attribute_values(":f", b(false));
                items.push(tx_update(take)?);
                // A queue entry left from before (a waiting chat) goes: it is held now.
                let entry = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(queue_key(&chat.id)))
                    .build()
                    .map_err(StoreError::dynamo)?;
                items.push(TransactWriteItem::builder().delete(entry).build());
            }
            None => {
                let fresh = Chat { excluded_operators: Vec::new(), ..chat.clone() };
                items.push(self.requeue_fresh(&fresh, now)?);
            }
        }
        items.push(super::admins::audit_put(&self.table, audit, now)?);
        match self.transact(items).await {
            Ok(()) if to.is_some() => Ok(ReassignOutcome::Assigned),
            Ok(()) => Ok(ReassignOutcome::Requeued),
            Err(TransactFailure::ConditionFailed(old)) => {
                let failed = |i: usize| old.get(i).is_some_and(Option::is_some);
                if let Some(Some(current)) = old.first() {
                    return Ok(if chat_from(current)?.status == crate::domain::ChatStatus::Closed {
                        ReassignOutcome::Closed
                    } else {
                        ReassignOutcome::Changed
                    });
                }
                if to.is_some() && failed(target_index) {
                    return Ok(ReassignOutcome::OperatorUnavailable);
                }
                Err(StoreError::Corrupt(format!("operator slot or assignment record of chat {}", chat.id)))
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// The queue entry of a chat an admin sends back: at the top (boosted), its
    /// count reset and nobody excluded; the wait keeps its start.
    fn requeue_fresh(&self, chat: &Chat, now: DateTime<Utc>) -> Result<TransactWriteItem, StoreError> {
        self.requeue_item(chat, 0, &[], true, now)
    }

    /// A page of the escalated chats, oldest escalation first, after `after` (the
    /// last page's last sort key); with the sort key of the page's last entry.
    pub async fn escalated_chats(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Chat>, Option<String>), StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI5")
            .expression_attribute_values(":pk", s(ESCALATIONS))
            .limit(i32::try_from(limit).unwrap_or(100));
        q = match after {
            Some(a) => q
                .key_condition_expression("GSI5PK = :pk AND GSI5SK > :after")
                .expression_attribute_values(":after", s(a)),
            None => q.key_condition_expression("GSI5PK = :pk"),
        };
        let out = q.send().await.map_err(StoreError::sdk)?;
        let entries = out.items.unwrap_or_default();
        let last = if out.last_evaluated_key.is_some() || entries.len() == limit {
            entries.last().and_then(|e| Reader(e).opt_str("GSI5SK"))
        } else {
            None
        };
        let keys =
            entries.iter().map(|e| Ok(key(Reader(e).str("PK")?, "CHAT"))).collect::<Result<Vec<_>, StoreError>>()?;
        let mut chats = Vec::new();
        for item in self.batch_get(keys, true).await? {
            chats.push(chat_from(&item)?);
        }
        chats.retain(|c| c.status == crate::domain::ChatStatus::Escalated);
        chats.sort_by_key(|c| (c.escalated_at, c.id.to_string()));
        Ok((chats, last))
    }

    /// A page of the open chats across the shards of their listing (GSI3), least
    /// recently active first (the hour of the last activity, then the id), after
    /// `after` (the last page's last sort key); with that page's last sort key.
    pub async fn open_chats_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Chat>, Option<String>), StoreError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut more = false;
        for shard in 0..OPEN_CHAT_SHARDS {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI3")
                .expression_attribute_values(":pk", s(open_chats_shard_pk(shard)))
                .limit(i32::try_from(limit).unwrap_or(100));
            q = match after {
                Some(a) => q
                    .key_condition_expression("GSI3PK = :pk AND GSI3SK > :after")
                    .expression_attribute_values(":after", s(a)),
                None => q.key_condition_expression("GSI3PK = :pk"),
            };
            let out = q.send().await.map_err(StoreError::sdk)?;
            more |= out.last_evaluated_key.is_some();
            for e in out.items.unwrap_or_default() {
                let r = Reader(&e);
                entries.push((r.str("GSI3SK")?, r.str("PK")?));
            }
        }
        entries.sort();
        more |= entries.len() > limit;
        entries.truncate(limit);
        let last = if more { entries.last().map(|(sk, _)| sk.clone()) } else { None };
        let keys = entries.iter().map(|(_, pk)| key(pk.clone(), "CHAT")).collect();
        let mut chats = Vec::new();
        for item in self.batch_get(keys, true).await? {
            chats.push(chat_from(&item)?);
        }
        Ok((chats, last))
    }

    /// Escalated chats whose escalation is older than `before` and not yet
    /// reminded (the escalate job's second notice).
    pub async fn unreminded_escalations(&self, before: DateTime<Utc>) -> Result<Vec<Chat>, StoreError> {
        // Every page: reminded escalations stay listed until resolved, so a first
        // page alone could hold only reminded ones (escalations are few).
        let cutoff = escalation_sort(before, "");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI5")
            .key_condition_expression("GSI5PK = :pk AND GSI5SK < :cutoff")
            .expression_attribute_values(":pk", s(ESCALATIONS))
            .expression_attribute_values(":cutoff", s(cutoff));
        let keys = self
            .all_pages(query)
            .await?
            .iter()
            .map(|e| Ok(key(Reader(e).str("PK")?, "CHAT")))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut chats = Vec::new();
        for item in self.batch_get(keys, true).await? {
            if !Reader(&item).bool("escalation_renotified") {
                chats.push(chat_from(&item)?);
            }
        }
        chats.retain(|c| c.status == crate::domain::ChatStatus::Escalated);
        Ok(chats)
    }

    /// The one reminder of an escalation still unresolved: marks it and raises
    /// the high-priority admin notification in one transaction, once per
    /// escalation (conditioned on the same escalation and no reminder yet).
    pub async fn remind_escalation(&self, chat: &Chat, text: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(at) = chat.escalated_at else { return Ok(false) };
        let u = update(&self.table, key(chat_pk(&chat.id), "CHAT"))
            .update_expression("SET escalation_renotified = :t")
            .condition_expression(
                "#status = :escalated AND escalated_at = :at AND attribute_not_exists(escalation_renotified)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":escalated", s("escalated"))
            .expression_attribute_values(":at", ts(at));
        let items = vec![
            tx_update(u)?,
            put_new(&self.table, admin_notification_item("chat_escalated", "high", text, Some(&chat.id), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}
