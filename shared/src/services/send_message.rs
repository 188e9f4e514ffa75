//! send-message: price a member message from one read, commit it with one
//! conditional transaction, and re-price from the current state when a condition
//! says the read went stale.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::domain::ids::{ChatId, MemberId};
use crate::domain::pricing::{self, FreeReason, PriceInputs};
use crate::domain::realtime::Delivery;
use crate::domain::validation;
use crate::domain::{ids, Chat, ChatStatus, Credits, Member, Message, MessageView};
use crate::error::ApiError;
pub use crate::services::idempotent::Idempotency;
use crate::services::idempotent::{Keyed, Refusal};
use crate::services::{check_status, realtime};
use crate::store::{SendCommit, SendOutcome};
use crate::App;

/// A stored member message and the balance it left (what a key's retry gets again).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Sent {
    pub message: MessageView,
    pub balance: Credits,
}

/// Route name used to scope idempotency keys.
pub const ROUTE: &str = "POST /chats/{id}/messages";
/// Re-pricing rounds after a stale read. Only one member's concurrent sends
/// contend with each other, so this bounds an adversarial burst, not normal use.
const MAX_ATTEMPTS: u32 = 60;

pub async fn send_message(
    app: &App,
    member_id: &MemberId,
    chat_id: &ChatId,
    content: String,
    idem: Option<Idempotency<'_>>,
    now: DateTime<Utc>,
) -> Result<Sent, ApiError> {
    let content = validation::message(content).map_err(|e| ApiError::invalid("content", e))?;
    let character_id = match ids::chat_parts(chat_id) {
        Some((owner, character)) if owner == member_id => character,
        _ => return Err(ApiError::NotFound("chat")),
    };
    let scope = crate::domain::principal::Principal::member(member_id).scope();
    let keyed = idem.as_ref().map(|i| Keyed::new(&scope, ROUTE, i));
    let idem_ref = keyed.as_ref().map(Keyed::at);
    let inputs = app.store.load_send_inputs(member_id, chat_id, &character_id, idem_ref, now).await?;
    if let (Some(stored), Some(k)) = (&inputs.idempotent, &keyed) {
        return k.replay(stored);
    }
    let mut member = inputs.member.ok_or(ApiError::Unauthorized)?;
    check_status(&member)?;
    let mut chat = match inputs.chat {
        Some(c) if c.member_id == member_id => c,
        _ => return Err(ApiError::NotFound("chat")),
    };
    let featured = inputs.character.as_ref().is_some_and(|c| c.featured_at(now));
    let character_available = inputs.character.as_ref().is_some_and(|c| c.is_public());

    for attempt in 0..MAX_ATTEMPTS {
        let admission = chat.admit_member_message(character_available).ok_or(ApiError::ChatClosed)?;
        let quote = pricing::quote(&PriceInputs {
            chat_member_messages: chat.member_messages,
            member_messages_sent: member.messages_sent,
            loyalty_used: member.loyalty_used,
            escalated: chat.status == ChatStatus::Escalated,
            featured,
            tier: member.tier,
            at: now,
            pricing: inputs.pricing,
        });
        let loyalty_used = member.loyalty_used + u64::from(quote.free == Some(FreeReason::Loyalty));
        let Some(balance_after) = member.balance.checked_sub(quote.cost).filter(|b| b.hundredths() >= 0) else {
            let refusal = Refusal::InsufficientCredits { cost: quote.cost, balance: member.balance };
            return Err(match &keyed {
                Some(k) => k.refuse(app, refusal, now).await?,
                None => refusal.into(),
            });
        };
        let seq = chat.message_count + 1;
        let message = Message::from_member(&chat, content.clone(), quote.cost, quote.free.is_some(), now);
        let sent = Sent { message: MessageView::from(&message), balance: balance_after };
        let body = serde_json::to_string(&sent).map_err(ApiError::internal)?;
        // Escalated chats wait for an admin: never back in the queue automatically.
        let enqueue = chat.operator_id.is_none() && chat.status != ChatStatus::Escalated;
        let character = inputs.character.as_ref();
        let idempotency = keyed.as_ref().map(|k| k.done(&body));
        let commit = SendCommit {
            member: &member,
            chat: &chat,
            admission,
            character,
            message: &message,
            seq,
            now,
            loyalty_used,
            enqueue,
            idempotency,
        };
        match app.store.commit_send(&commit).await? {
            SendOutcome::Committed => {
                tracing::info!(chat_id = %chat.id, cost = %quote.cost, attempt, "member message stored");
                let mut pushes = Delivery::message(&chat, &sent.message);
                if quote.cost.hundredths() > 0 {
                    pushes.push(Delivery::balance(member_id, balance_after));
                }
                let trigger = async {
                    if enqueue {
                        app.queue.notify(&chat.id).await;
                    }
                };
                tokio::join!(trigger, realtime::deliver(app, pushes));
                return Ok(sent);
            }
            SendOutcome::MemberChanged(current) => member = refreshed_member(current)?,
            SendOutcome::ChatChanged(current) => chat = refreshed_chat(current, member_id)?,
            SendOutcome::CharacterRemoved => return Err(ApiError::ChatClosed),
            SendOutcome::IdempotencyTaken => {
                if let Some(k) = &keyed {
                    if let Some(first) = k.recorded(app, now).await? {
                        return Ok(first);
                    }
                }
            }
        }
        if attempt >= 3 {
            let wait = rand::rng().random_range(0..=5 * u64::from(attempt.min(10)));
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
    Err(ApiError::Contention)
}

fn refreshed_member(current: Option<Member>) -> Result<Member, ApiError> {
    let m = current.ok_or(ApiError::Unauthorized)?;
    check_status(&m)?;
    Ok(m)
}

fn refreshed_chat(current: Option<Chat>, member_id: &MemberId) -> Result<Chat, ApiError> {
    match current {
        Some(c) if c.member_id == member_id => Ok(c),
        _ => Err(ApiError::NotFound("chat")),
    }
}
