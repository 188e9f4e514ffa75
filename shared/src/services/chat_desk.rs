//! The back office's chat desk: chat lists from indexes (by status, operator,
//! character or member), a chat's three panels with its history and notes, and
//! an admin's reassignment. Editing and closing are in `moderation`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::realtime::Delivery;
use crate::domain::{Chat, ChatStatus, CloseReason, Credits};
use crate::error::ApiError;
use crate::services::operators::{self, ChatPanels, StaffMessage};
use crate::store::{AssignmentRecord, Page, ReassignOutcome};
use crate::App;

/// A chat as staff see it in a list.
#[derive(Clone, Debug, Serialize)]
pub struct StaffChat {
    pub id: ChatId,
    pub member_id: MemberId,
    pub character_id: CharacterId,
    pub status: ChatStatus,
    pub close_reason: Option<CloseReason>,
    pub operator_id: Option<OperatorId>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub reassign_count: u32,
    /// The oldest unanswered member message, and how long ago it was (seconds).
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    pub waiting_s: Option<i64>,
    /// The idle warning of this wait went out (the operator is late).
    pub idle_warned: bool,
    pub escalated_at: Option<DateTime<Utc>>,
    pub message_count: u32,
    pub member_messages: u32,
    pub paid_messages: u32,
    pub credits_spent: Credits,
    pub rating: Option<u8>,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
}

impl StaffChat {
    pub fn of(c: &Chat, now: DateTime<Utc>) -> Self {
        StaffChat {
            id: c.id.clone(),
            member_id: c.member_id.clone(),
            character_id: c.character_id.clone(),
            status: c.status,
            close_reason: c.close_reason,
            operator_id: c.operator_id.clone(),
            assigned_at: c.assigned_at,
            reassign_count: c.reassign_count,
            awaiting_reply_since: c.awaiting_reply_since,
            waiting_s: c.awaiting_reply_since.map(|t| (now - t).num_seconds().max(0)),
            idle_warned: c.idle_warned,
            escalated_at: c.escalated_at,
            message_count: c.message_count,
            member_messages: c.member_messages,
            paid_messages: c.paid_messages,
            credits_spent: c.credits_spent,
            rating: c.rating,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
        }
    }
}

/// `GET /admin/chats` filters.
#[derive(Clone, Debug, Default)]
pub struct ChatFilter {
    pub status: Option<ChatStatus>,
    pub operator_id: Option<OperatorId>,
    pub character_id: Option<CharacterId>,
    pub member_id: Option<MemberId>,
}

impl ChatFilter {
    fn keeps(&self, c: &Chat) -> bool {
        self.status.is_none_or(|s| c.status == s)
            && self.operator_id.as_ref().is_none_or(|o| c.operator_id.as_ref() == Some(o))
            && self.character_id.as_ref().is_none_or(|ch| c.character_id == *ch)
            && self.member_id.as_ref().is_none_or(|m| c.member_id == *m)
    }
}

/// Where a listing without a subject is: the escalations (`e`), the chats
/// waiting in the queue for an operator (`w`), then the other open chats (`a`),
/// with the last sort key returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Escalated,
    Waiting,
    Open,
}

impl Phase {
    fn letter(self) -> char {
        match self {
            Phase::Escalated => 'e',
            Phase::Waiting => 'w',
            Phase::Open => 'a',
        }
    }
}

fn encode_cursor(phase: Phase, after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{after}", phase.letter()))
}

fn decode_cursor(cursor: &str) -> Result<(Phase, Option<String>), ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ApiError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::BadCursor)?;
    let (p, after) = text.split_once(':').ok_or(ApiError::BadCursor)?;
    let phase = match p {
        "e" => Phase::Escalated,
        "w" => Phase::Waiting,
        "a" => Phase::Open,
        _ => return Err(ApiError::BadCursor),
    };
    if after.len() > 400 {
        return Err(ApiError::BadCursor);
    }
    Ok((phase, Some(after.to_string()).filter(|a| !a.is_empty())))
}

/// Waiting members first (longest wait first), then the least recently active:
/// the order within a page of open chats.
fn by_wait(chats: &mut [Chat]) {
    chats.sort_by_key(|c| {
        (c.awaiting_reply_since.is_none(), c.awaiting_reply_since, c.last_message_at, c.id.to_string())
    });
}

/// A queue entry's place in the waiting list: its wait's start, then the chat.
fn waiting_sort(e: &crate::store::QueueEntry) -> String {
    format!("{}#{}", e.waiting_since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), e.chat_id)
}

/// `GET /admin/chats`. From indexes only: a member's chats (GSI4), a character's
/// (its chat listing), an operator's held chats (GSI5), the escalations (GSI5),
/// the queue's waiting chats (the queue shards) and the open chats (GSI3, by hour
/// of last activity). Without a status or subject: the escalated chats (oldest
/// escalation first), then the active ones: those waiting for an operator,
/// longest wait first, then the rest of the open chats, least recently active
/// first (within a page, waiting members first). `status=active` is the same
/// without the escalations. Closed chats are listed per member or character.
pub async fn list(
    app: &App,
    filter: &ChatFilter,
    cursor: Option<&str>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page<StaffChat>, ApiError> {
    let view = |chats: &[Chat]| chats.iter().map(|c| StaffChat::of(c, now)).collect::<Vec<_>>();
    if let Some(member) = &filter.member_id {
        let page = app.store.list_member_chats(member, cursor, limit).await?;
        let items: Vec<Chat> = page.items.into_iter().filter(|c| filter.keeps(c)).collect();
        return Ok(Page { items: view(&items), next_cursor: page.next_cursor });
    }
    if let Some(character) = &filter.character_id {
        let page = app.store.character_chats(character, cursor, limit, true).await?;
        let items: Vec<Chat> = page.items.into_iter().filter(|c| filter.keeps(c)).collect();
        return Ok(Page { items: view(&items), next_cursor: page.next_cursor });
    }
    if let Some(op) = &filter.operator_id {
        if cursor.is_some() {
            return Err(ApiError::BadCursor);
        }
        let mut items: Vec<Chat> =
            app.store.operator_chats(op).await?.into_iter().filter(|c| filter.keeps(c)).collect();
        by_wait(&mut items);
        return Ok(Page { items: view(&items), next_cursor: None });
    }
    let phases: &[Phase] = match filter.status {
        Some(ChatStatus::Closed) => {
            return Err(ApiError::invalid("status", "closed chats are listed with member_id or character_id"))
        }
        Some(ChatStatus::Escalated) => &[Phase::Escalated],
        Some(ChatStatus::Active) => &[Phase::Waiting, Phase::Open],
        None => &[Phase::Escalated, Phase::Waiting, Phase::Open],
    };
    let (mut phase, mut after) = match cursor {
        Some(c) => decode_cursor(c)?,
        None => (phases[0], None),
    };
    let mut position = phases.iter().position(|p| *p == phase).ok_or(ApiError::BadCursor)?;
    let mut items: Vec<Chat> = Vec::new();
    // The queue's chats, read once: the waiting phase lists them, the open phase skips them.
    let mut queued: Option<Vec<crate::store::QueueEntry>> = None;
    loop {
        let want = limit - items.len();
        let (chats, last) = match phase {
            Phase::Escalated => app.store.escalated_chats(after.as_deref(), want).await?,
            Phase::Waiting => {
                let entries = match &queued {
                    Some(q) => q.clone(),
                    None => {
                        let mut q = app.store.waiting_entries().await?;
                        q.sort_by_key(waiting_sort);
                        queued = Some(q.clone());
                        q
                    }
                };
                let next: Vec<_> =
                    entries.iter().filter(|e| after.as_ref().is_none_or(|a| waiting_sort(e) > *a)).take(want).collect();
                let ids: Vec<ChatId> = next.iter().map(|e| e.chat_id.clone()).collect();
                let mut chats = app.store.chats_by_id(&ids).await?;
                // A stale entry (held, closed or escalated since) is not a waiting chat.
                chats.retain(|c| c.status == ChatStatus::Active && c.operator_id.is_none());
                let last = (next.len() == want).then(|| next.last().map(|e| waiting_sort(e))).flatten();
                (chats, last)
            }
            Phase::Open => {
                let waiting: std::collections::HashSet<ChatId> = match &queued {
                    Some(q) => q.iter().map(|e| e.chat_id.clone()).collect(),
                    None => app.store.waiting_entries().await?.into_iter().map(|e| e.chat_id).collect(),
                };
                let (mut open, last) = app.store.open_chats_page(after.as_deref(), want).await?;
                open.retain(|c| c.status == ChatStatus::Active && !waiting.contains(&c.id));
                by_wait(&mut open);
                (open, last)
            }
        };
        items.extend(chats);
        if let Some(sk) = last {
            return Ok(Page { items: view(&items), next_cursor: Some(encode_cursor(phase, &sk)) });
        }
        // This phase is over: the next one, from its start.
        position += 1;
        let Some(next) = phases.get(position) else {
            return Ok(Page { items: view(&items), next_cursor: None });
        };
        if items.len() >= limit {
            return Ok(Page { items: view(&items), next_cursor: Some(encode_cursor(*next, "")) });
        }
        phase = *next;
        after = None;
    }
}

/// `GET /admin/chats/{id}`: the chat, the member and character panels (with the
/// staff fields and notes), the latest messages with edit marks, and the
/// assignment history (who, when, how it ended).
#[derive(Serialize)]
pub struct ChatDetail {
    pub chat: StaffChat,
    pub member: operators::MemberPanel,
    pub character: operators::CharacterPanel,
    pub messages: Vec<StaffMessage>,
    pub assignments: Vec<AssignmentRecord>,
    pub notes: Notes,
}

#[derive(Serialize)]
pub struct Notes {
    pub member_notes: Option<String>,
    pub character_notes: Option<String>,
}

pub async fn detail(app: &App, chat_id: &ChatId, now: DateTime<Utc>) -> Result<ChatDetail, ApiError> {
    let chat = app.store.get_chat(chat_id).await?.ok_or(ApiError::NotFound("chat"))?;
    let ChatPanels { member, character, messages, assignments } = operators::panels(app, &chat, now).await?;
    let notes = Notes { member_notes: member.member_notes.clone(), character_notes: character.character_notes.clone() };
    Ok(ChatDetail { chat: StaffChat::of(&chat, now), member, character, messages, assignments, notes })
}

#[derive(Serialize)]
pub struct Reassigned {
    pub chat: StaffChat,
    /// `operator` (given to the named one) or `queue` (back at the top).
    pub to: &'static str,
}

/// Reads before giving up when the chat keeps changing under the reassignment.
const ATTEMPTS: usize = 5;

/// `POST /admin/chats/{id}/reassign`: to the named operator under the claim's
/// conditions (else 409 `operator_unavailable`), or back to the queue at the top
/// with the count reset; ends an escalation; 409 `chat_closed` on a closed chat.
pub async fn reassign(
    app: &App,
    actor: &Admin,
    chat_id: &ChatId,
    to: Option<&OperatorId>,
    now: DateTime<Utc>,
) -> Result<Reassigned, ApiError> {
    if let Some(op) = to {
        match app.store.get_operator(op).await? {
            Some(o) if o.deleted_at.is_none() => {}
            _ => return Err(ApiError::NotFound("operator")),
        }
    }
    for _ in 0..ATTEMPTS {
        let chat = app.store.get_chat(chat_id).await?.ok_or(ApiError::NotFound("chat"))?;
        let details = serde_json::json!({
            "from": chat.operator_id, "to": to, "status": chat.status, "reassign_count": chat.reassign_count,
        });
        let audit = AuditEntry::new(&actor.id, "chat.reassign", format!("chat:{chat_id}"), details);
        let outcome = app.store.reassign_by_admin(&chat, to, &audit, now).await?;
        match outcome {
            ReassignOutcome::Changed => continue,
            ReassignOutcome::Closed => return Err(ApiError::ChatClosed),
            ReassignOutcome::OperatorUnavailable => return Err(ApiError::OperatorUnavailable),
            ReassignOutcome::Unchanged | ReassignOutcome::Assigned | ReassignOutcome::Requeued => {}
        }
        if let (ReassignOutcome::Assigned, Some(op)) = (outcome, to) {
            crate::services::realtime::deliver(app, vec![Delivery::assigned(chat_id, op)]).await;
        }
        if outcome == ReassignOutcome::Requeued {
            app.queue.notify(chat_id).await;
        }
        if chat.operator_id.is_some() && outcome != ReassignOutcome::Unchanged {
            // The former holder has a free slot: waiting chats get a whole pass.
            app.queue.notify_pass().await;
        }
        let after = app.store.get_chat(chat_id).await?.ok_or(ApiError::NotFound("chat"))?;
        if outcome == ReassignOutcome::Unchanged && after.operator_id.as_ref() != to {
            // It moved since the read that found it theirs: decide again.
            continue;
        }
        tracing::info!(%chat_id, ?outcome, "chat reassigned by an admin");
        let to = if to.is_some() { "operator" } else { "queue" };
        return Ok(Reassigned { chat: StaffChat::of(&after, now), to });
    }
    Err(ApiError::Contention)
}
