//! The operator's side: login, availability, heartbeat, the waiting room, the
//! three-panel chat view, notes, replies as the character, release; and the
//! member's rating of a chat, which feeds the operator's rating.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::{password, RefreshToken};
use crate::domain::assignment::{self, Band};
use crate::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::principal::{Principal, PrincipalKind};
use crate::domain::realtime::Delivery;
use crate::domain::validation;
use crate::domain::{CharacterView, ChatStatus, Gender, Message, MessageView, Operator, Sender, Tier};
use crate::error::ApiError;
use crate::store::{AssignmentRecord, AvailabilityOutcome, ReleaseKind, ReleaseOutcome};
use crate::App;

/// An operator as they see themselves.
#[derive(Serialize)]
pub struct OperatorView {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub languages: Vec<String>,
    pub specializations: Vec<String>,
    pub max_concurrent_chats: u32,
    pub active_chats: u32,
    pub is_available: bool,
    pub is_suspended: bool,
    pub suspended_until: Option<DateTime<Utc>>,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        OperatorView {
            id: o.id.clone(),
            email: o.email.clone(),
            name: o.name.clone(),
            languages: o.languages.clone(),
            specializations: o.specializations.clone(),
            max_concurrent_chats: o.max_concurrent_chats,
            active_chats: o.active_chats,
            is_available: o.is_available,
            is_suspended: o.is_suspended,
            suspended_until: o.suspended_until,
        }
    }
}

#[derive(Serialize)]
pub struct OperatorSession {
    pub token: String,
    pub refresh_token: String,
    pub operator: OperatorView,
}

pub async fn login(
    app: &App,
    email: &str,
    pass: String,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<OperatorSession, ApiError> {
    let email = validation::staff_login_email(email, &pass).ok_or(ApiError::InvalidCredentials)?;
    crate::services::limits::check_ip(app, "operator_login", ip, now).await?;
    crate::services::limits::check_name(app, "operator_login", &email, now).await?;
    let op = app.store.operator_by_email(&email).await?;
    if !password::verify(pass, op.as_ref().map(|o| o.password_hash.clone())).await? {
        return Err(ApiError::InvalidCredentials);
    }
    let op = op.filter(|o| o.deleted_at.is_none()).ok_or(ApiError::InvalidCredentials)?;
    let principal = Principal { kind: PrincipalKind::Operator, id: op.id.to_string(), role: None };
    let (refresh_token, parsed, expires_at) = RefreshToken::generate(PrincipalKind::Operator, &op.id, None, now);
    app.store.put_refresh_token(parsed.stored(), now, expires_at).await?;
    let token = app.tokens.issue_access(&principal, &parsed.family)?;
    Ok(OperatorSession { token, refresh_token, operator: OperatorView::from(&op) })
}

/// The operator's other sessions end at their next refresh; the caller's (`session`) stays.
pub async fn change_password(
    app: &App,
    operator_id: &OperatorId,
    session: Option<&str>,
    current: String,
    new: &str,
) -> Result<(), ApiError> {
    let op = operator(app, operator_id).await?;
    let hash = password::replace(&op.password_hash, current, new, validation::password).await?;
    app.store.set_operator_password(operator_id, &hash).await?;
    // Whoever knew the old password loses their sessions: only the caller's survives.
    crate::services::end_sessions(app, &Principal::operator(operator_id.as_str()), session).await?;
    Ok(())
}

/// `GET /operator/notifications`: idle warnings and suspension notices, newest first.
pub async fn notifications(
    app: &App,
    operator_id: &OperatorId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<crate::store::Page<crate::store::Notification>, ApiError> {
    operator(app, operator_id).await?;
    Ok(app.store.operator_notifications(operator_id, cursor, limit).await?)
}

/// `POST /operator/notifications/{id}/read`: 404 for an id that is not the operator's.
pub async fn read_notification(app: &App, operator_id: &OperatorId, id: &str) -> Result<(), ApiError> {
    operator(app, operator_id).await?;
    if !app.store.mark_operator_notification_read(operator_id, id).await? {
        return Err(ApiError::NotFound("notification"));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillsChange {
    pub languages: Option<Vec<String>>,
    pub specializations: Option<Vec<String>>,
}

/// `PATCH /operator/me`: the operator's own languages and specializations (what
/// the assigner matches chats on).
pub async fn update_me(app: &App, operator_id: &OperatorId, r: SkillsChange) -> Result<OperatorView, ApiError> {
    let change = assignment::operator_skills(r.languages.as_deref(), r.specializations.as_deref())
        .map_err(|(field, msg)| ApiError::invalid(field, msg))?;
    let op = app
        .store
        .set_operator_skills(operator_id, change.languages.as_deref(), change.specializations.as_deref())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(OperatorView::from(&op))
}

async fn operator(app: &App, id: &OperatorId) -> Result<Operator, ApiError> {
    current(app, id).await
}

/// The calling operator's current record: none, or deleted, is 401 (API.md: every
/// staff request is checked against the staff member's current record).
pub async fn current(app: &App, id: &OperatorId) -> Result<Operator, ApiError> {
    app.store.get_operator(id).await?.filter(|o| o.deleted_at.is_none()).ok_or(ApiError::Unauthorized)
}

pub async fn set_availability(
    app: &App,
    operator_id: &OperatorId,
    available: bool,
    now: DateTime<Utc>,
) -> Result<OperatorView, ApiError> {
    match app.store.set_availability(operator_id, available, now).await? {
        AvailabilityOutcome::Changed(op) => {
            if available {
                app.queue.notify_pass().await;
            }
            Ok(OperatorView::from(op.as_ref()))
        }
        AvailabilityOutcome::HoldsChats(n) => Err(ApiError::ActiveChats(n)),
        AvailabilityOutcome::Suspended => Err(ApiError::Suspended),
        AvailabilityOutcome::NotFound => Err(ApiError::Unauthorized),
    }
}

/// `GET /operator/stats?days=`: the operator's own figures by business day, and
/// where their quality stands.
#[derive(Serialize)]
pub struct DailyStats {
    pub days: Vec<assignment::DayFigures>,
    pub quality_score: f64,
    pub rating: Option<f64>,
    pub incidents: u32,
    pub suspended_until: Option<DateTime<Utc>>,
}

pub async fn stats(
    app: &App,
    operator_id: &OperatorId,
    days: Option<i64>,
    now: DateTime<Utc>,
) -> Result<DailyStats, ApiError> {
    let days = assignment::stats_days(days).map_err(|e| ApiError::invalid("days", e))?;
    let op = operator(app, operator_id).await?;
    let today = assignment::business_day(now);
    let snapshots = app.store.operator_days(operator_id, today - chrono::Duration::days(days - 1)).await?;
    Ok(DailyStats {
        days: assignment::daily_figures(&snapshots, (op.replies, op.total_response_secs), today, days),
        quality_score: (assignment::quality_score(&op) * 10.0).round() / 10.0,
        rating: (op.rating_count > 0).then(|| (op.rating() * 100.0).round() / 100.0),
        incidents: op.idle_incidents,
        suspended_until: op.suspended_until,
    })
}

pub async fn heartbeat(app: &App, operator_id: &OperatorId, now: DateTime<Utc>) -> Result<(), ApiError> {
    Ok(app.store.heartbeat(operator_id, now).await?)
}

#[derive(Serialize)]
pub struct HeldChat {
    pub id: ChatId,
    pub member_id: MemberId,
    pub character_id: CharacterId,
    pub message_count: u32,
    pub last_message_at: Option<DateTime<Utc>>,
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    pub idle_warned: bool,
}

/// The operator's own figures, as the waiting room shows them.
#[derive(Serialize)]
pub struct OperatorStats {
    pub active_chats: u32,
    pub max_concurrent_chats: u32,
    pub replies: u32,
    pub avg_response_secs: f64,
    pub rating: f64,
    pub idle_incidents: u32,
    pub reassignments: u32,
    pub quality_score: f64,
    /// Within 10 points of the suspension threshold.
    pub suspension_warning: bool,
    pub is_available: bool,
    pub is_suspended: bool,
    pub suspended_until: Option<DateTime<Utc>>,
}

/// GET /operator/assignments: held chats, the queue by band, own stats.
#[derive(Serialize)]
pub struct WaitingRoom {
    pub chats: Vec<HeldChat>,
    /// Waiting chats per priority band (every band present).
    pub waiting: BTreeMap<&'static str, usize>,
    pub stats: OperatorStats,
}

pub async fn waiting_room(app: &App, operator_id: &OperatorId, now: DateTime<Utc>) -> Result<WaitingRoom, ApiError> {
    let op = operator(app, operator_id).await?;
    let chats: Vec<HeldChat> = app
        .store
        .operator_chats(operator_id)
        .await?
        .into_iter()
        .map(|c| HeldChat {
            id: c.id,
            member_id: c.member_id,
            character_id: c.character_id,
            message_count: c.message_count,
            last_message_at: c.last_message_at,
            awaiting_reply_since: c.awaiting_reply_since,
            idle_warned: c.idle_warned,
        })
        .collect();
    let mut waiting: BTreeMap<&'static str, usize> = Band::ALL.iter().map(|b| (b.as_str(), 0)).collect();
    for e in app.store.waiting_entries().await? {
        *waiting.entry(assignment::band(&e.waiting(), now).as_str()).or_default() += 1;
    }
    let quality = assignment::quality_score(&op);
    let threshold = app.store.settings().await?.quality_threshold;
    let stats = OperatorStats {
        active_chats: op.active_chats,
        max_concurrent_chats: op.max_concurrent_chats,
        replies: op.replies,
        avg_response_secs: op.avg_response_secs(),
        rating: op.rating(),
        idle_incidents: op.idle_incidents,
        reassignments: op.reassignments,
        quality_score: quality,
        suspension_warning: assignment::near_suspension(quality, threshold),
        is_available: op.is_available,
        is_suspended: op.is_suspended,
        suspended_until: op.suspended_until,
    };
    Ok(WaitingRoom { chats, waiting, stats })
}

/// A chat the operator holds now; any other (closed, someone else's, none) is 404.
pub(crate) async fn held_chat(
    app: &App,
    operator_id: &OperatorId,
    chat_id: &ChatId,
) -> Result<crate::domain::Chat, ApiError> {
    match app.store.get_chat(chat_id).await? {
        Some(c) if c.operator_id.as_deref() == Some(operator_id) => Ok(c),
        _ => Err(ApiError::NotFound("chat")),
    }
}

/// A message as staff see it: with the operator who wrote a reply, and whether
/// it was edited.
#[derive(Serialize)]
pub struct StaffMessage {
    pub id: String,
    pub sender: Sender,
    pub content: String,
    pub cost: crate::domain::Credits,
    pub free: bool,
    pub created_at: DateTime<Utc>,
    pub edited: bool,
    pub handled_by: Option<String>,
}

impl From<&crate::domain::Message> for StaffMessage {
    fn from(m: &crate::domain::Message) -> Self {
        StaffMessage {
            id: m.id.clone(),
            sender: m.sender,
            content: m.content.clone(),
            cost: m.cost,
            free: m.free,
            created_at: m.created_at,
            edited: m.edited,
            handled_by: m.handled_by.clone(),
        }
    }
}

/// The chat's own panel of the chat view.
#[derive(Serialize)]
pub struct ChatSummary {
    pub id: ChatId,
    pub status: ChatStatus,
    pub reassign_count: u32,
    pub message_count: u32,
}

/// The member panel: the profile an operator writes to, with the team's notes.
#[derive(Serialize)]
pub struct MemberPanel {
    pub id: MemberId,
    pub username: String,
    pub display_name: Option<String>,
    pub age: u8,
    pub gender: Gender,
    pub location: String,
    pub bio: Option<String>,
    pub language: Option<String>,
    pub tier: Tier,
    pub member_notes: Option<String>,
}

/// The character panel: the public profile plus what only staff see.
#[derive(Serialize)]
pub struct CharacterPanel {
    #[serde(flatten)]
    pub profile: CharacterView,
    pub response_style: Option<String>,
    pub personality_guidelines: Option<String>,
    pub response_templates: Vec<String>,
    pub character_notes: Option<String>,
}

/// GET /operator/chats/{id}: member (with notes), messages (with who answered),
/// character (with guidelines, templates, notes), assignment history.
#[derive(Serialize)]
pub struct ChatWorkspace {
    pub chat: ChatSummary,
    pub member: MemberPanel,
    pub messages: Vec<StaffMessage>,
    pub character: CharacterPanel,
    pub assignments: Vec<AssignmentRecord>,
}

pub async fn chat_view(app: &App, operator_id: &OperatorId, chat_id: &ChatId) -> Result<ChatWorkspace, ApiError> {
    let chat = held_chat(app, operator_id, chat_id).await?;
    let ChatPanels { member, character, messages, assignments } = panels(app, &chat, app.clock.now(None)).await?;
    Ok(ChatWorkspace {
        chat: ChatSummary {
            id: chat.id,
            status: chat.status,
            reassign_count: chat.reassign_count,
            message_count: chat.message_count,
        },
        member,
        messages,
        character,
        assignments,
    })
}

/// What the operator's chat view and the back office's chat detail both show:
/// the member and character panels with the team's notes, the latest 50
/// messages (with who answered and edit marks), the assignment history.
pub struct ChatPanels {
    pub member: MemberPanel,
    pub character: CharacterPanel,
    pub messages: Vec<StaffMessage>,
    pub assignments: Vec<AssignmentRecord>,
}

pub(crate) async fn panels(app: &App, chat: &crate::domain::Chat, now: DateTime<Utc>) -> Result<ChatPanels, ApiError> {
    let member = app.store.get_member(&chat.member_id).await?.ok_or(ApiError::NotFound("member"))?;
    let character = app.store.get_character(&chat.character_id).await?.ok_or(ApiError::NotFound("character"))?;
    let page = app.store.list_messages(&chat.id, crate::store::MessageWindow::Newest { cursor: None }, 50).await?;
    let (member_notes, character_notes) = app.store.notes(&member.id, &character.id).await?;
    let assignments: Vec<AssignmentRecord> = app.store.assignment_history(chat).await?;
    let messages = page.items.into_iter().map(|m| StaffMessage::from(&m)).collect();
    Ok(ChatPanels {
        member: MemberPanel {
            id: member.id,
            username: member.username,
            display_name: member.display_name,
            age: member.age,
            gender: member.gender,
            location: member.location,
            bio: member.bio,
            language: member.language,
            tier: member.tier,
            member_notes,
        },
        character: CharacterPanel {
            profile: CharacterView::at(&character, now),
            response_style: character.response_style,
            personality_guidelines: character.personality_guidelines,
            response_templates: character.response_templates,
            character_notes,
        },
        messages,
        assignments,
    })
}

pub async fn save_notes(
    app: &App,
    operator_id: &OperatorId,
    chat_id: &ChatId,
    member_notes: Option<&str>,
    character_notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for (field, v) in [("member_notes", member_notes), ("character_notes", character_notes)] {
        if let Some(Err(e)) = v.map(|n| validation::note(n, validation::max::NOTES)) {
            return Err(ApiError::invalid(field, e));
        }
    }
    let chat = held_chat(app, operator_id, chat_id).await?;
    Ok(app
        .store
        .save_notes(&chat.member_id, &chat.character_id, member_notes, character_notes, operator_id, now)
        .await?)
}

/// Replies as the character: sender `character`, never charged, `handled_by` kept.
pub async fn reply(
    app: &App,
    operator_id: &OperatorId,
    chat_id: &ChatId,
    content: String,
    now: DateTime<Utc>,
) -> Result<MessageView, ApiError> {
    let content = validation::message(content).map_err(|e| ApiError::invalid("content", e))?;
    for _ in 0..10 {
        let chat = held_chat(app, operator_id, chat_id).await?;
        let seq = chat.message_count + 1;
        let message = Message::from_character(&chat, content.clone(), operator_id, now);
        if app.store.reply_as_character(&chat, &message, seq, now).await? {
            let view = MessageView::from(&message);
            crate::services::realtime::deliver(app, Delivery::message(&chat, &view)).await;
            return Ok(view);
        }
    }
    Err(ApiError::Contention)
}

pub async fn release(
    app: &App,
    operator_id: &OperatorId,
    chat_id: &ChatId,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<&'static str, ApiError> {
    if let Some(Err(e)) = note.map(|n| validation::note(n, validation::max::RELEASE_NOTE)) {
        return Err(ApiError::invalid("note", e));
    }
    let chat = held_chat(app, operator_id, chat_id).await?;
    let outcome = app.store.release(&chat, operator_id, ReleaseKind::Voluntary, note, now).await?;
    app.queue.notify_pass().await;
    Ok(match outcome {
        ReleaseOutcome::Requeued => "requeued",
        ReleaseOutcome::Escalated => "escalated",
        ReleaseOutcome::Ended => "ended",
        ReleaseOutcome::NotHeld => return Err(ApiError::NotFound("chat")),
    })
}

/// POST /chats/{id}/rating: the member's 1-5 for the chat, credited to the
/// operator who holds it or held it last. A new rating replaces the member's
/// earlier one, which is taken back from whichever operator it was credited to.
pub async fn rate(
    app: &App,
    member_id: &MemberId,
    chat_id: &ChatId,
    rating: i64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let r = u8::try_from(rating)
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| ApiError::invalid("rating", "must be 1 to 5"))?;
    crate::services::active_member(app, member_id).await?;
    for _ in 0..10 {
        let chat = crate::services::chats::own_chat(app, member_id, chat_id).await?;
        let operator = chat.rateable_operator().cloned();
        if app.store.rate_chat(&chat, r, operator.as_ref()).await? {
            for op in [operator.as_ref(), chat.rated_operator.as_ref()].into_iter().flatten() {
                crate::services::assignment::review_quality(app, op, now).await?;
            }
            return Ok(());
        }
    }
    Err(ApiError::Contention)
}
