//! The back office's members: search, the member file, bans and their
//! circumvention (registration and login are screened here), and reports.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::admin::{Admin, AuditEntry, Permission};
use crate::domain::ids::{self, ChatId, MemberId, OperatorId};
use crate::domain::moderation::{
    self, BanRecord, Report, ReportAction, ReportReason, ReportStatus, Resolution, Sighting, WARNING_NOTICE,
};
use crate::domain::principal::Principal;
use crate::domain::validation::{self, FieldErrors};
use crate::domain::{ChatStatus, Credits, Member, MemberStatus, Tier};
use crate::error::ApiError;
use crate::store::{AgeCheck, Ban, Page, Seen, Signal, StatusChange};
use crate::App;

// ---------------------------------------------------------------- circumvention

/// Before a registration or a login goes on: a device a ban refuses is 403
/// `banned`, counted on that ban (admins are told on the first attempt and every
/// tenth). An IP alone never refuses (IPs are shared).
pub async fn screen_device(app: &App, seen: &Sighting, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(device) = &seen.device else { return Ok(()) };
    let Some(banned) = app.store.banned_device(device).await? else { return Ok(()) };
    let attempts = app.store.count_circumvention(&banned).await?;
    tracing::warn!(banned_member = %banned, attempts, "a banned member's device was refused");
    if attempts == 1 || attempts % 10 == 0 {
        let text = moderation::banned_device_text(&banned, attempts);
        app.store.put_admin_notification("circumvention", "high", &text, Some(&banned), now).await?;
    }
    Err(ApiError::Banned)
}

/// After a registration or a login let a member in: where they came from is
/// recorded, and an IP a banned member used flags them (once per banned member)
/// and tells admins.
pub async fn note_entry(app: &App, member_id: &MemberId, seen: &Sighting, now: DateTime<Utc>) -> Result<(), ApiError> {
    app.store.record_sighting(member_id, seen, now).await?;
    let Some(ip) = &seen.ip else { return Ok(()) };
    if let Some(banned) = app.store.banned_member_at_ip(ip, now).await?.filter(|b| b != member_id) {
        let text = moderation::shared_ip_text(member_id, &banned);
        if app.store.flag_shared_ip(member_id, &banned, ip, &text, now).await? {
            tracing::warn!(%member_id, banned_member = %banned, "member flagged: a banned member's IP");
        }
    }
    Ok(())
}

/// A banned member's refused login: the device they used joins their ban.
pub async fn note_banned_login(
    app: &App,
    member_id: &MemberId,
    seen: &Sighting,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(device) = &seen.device {
        app.store.add_banned_device(member_id, device, now).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- members

/// A member as the back office lists them.
#[derive(Serialize)]
pub struct MemberSummary {
    pub id: MemberId,
    pub username: String,
    pub display_name: Option<String>,
    pub status: MemberStatus,
    pub credits: Credits,
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
}

impl From<&Member> for MemberSummary {
    fn from(m: &Member) -> Self {
        MemberSummary {
            id: m.id.clone(),
            username: m.username.clone(),
            display_name: m.display_name.clone(),
            status: m.status,
            credits: m.balance,
            tier: m.tier,
            created_at: m.created_at,
        }
    }
}

/// `GET /admin/members?q=`: usernames starting with `q` (any case), in username
/// order; without `q`, every member in username order.
pub async fn search(
    app: &App,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<MemberSummary>, ApiError> {
    let Some(prefix) = validation::username_prefix(q.unwrap_or("")).map_err(|e| ApiError::invalid("q", e))? else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    Ok(app.store.search_members(&prefix, cursor, limit).await?.map(|m| MemberSummary::from(&m.member)))
}

/// `GET /admin/members/{id}`: the member with everything staff need to judge.
#[derive(Serialize)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub summary: MemberSummary,
    pub email: Option<String>,
    pub age: u8,
    pub location: String,
    pub messages_sent: u64,
    /// Lifetime spend: credits spent on messages and KES paid.
    pub credits_spent: Credits,
    pub kes_paid_cents: i64,
    pub ban: Option<BanRecord>,
    pub age_verification: Vec<AgeCheck>,
    pub circumvention: Vec<Signal>,
    /// Hashed device ids, most recent first (kept 90 days).
    pub devices: Vec<Seen>,
    pub ips: Vec<Seen>,
}

pub async fn detail(app: &App, id: &MemberId) -> Result<MemberDetail, ApiError> {
    let m = app.store.get_member(id).await?.ok_or(ApiError::NotFound("member"))?;
    let file = app.store.member_file(id).await?;
    Ok(MemberDetail {
        summary: MemberSummary::from(&m),
        email: m.email.clone(),
        age: m.age,
        location: m.location.clone(),
        messages_sent: m.messages_sent,
        credits_spent: m.credits_spent,
        kes_paid_cents: m.kes_paid_cents,
        ban: file.ban,
        age_verification: file.age_checks,
        circumvention: file.signals,
        devices: file.devices,
        ips: file.ips,
    })
}

fn member_target(id: &MemberId) -> String {
    format!("member:{id}")
}

#[derive(Serialize)]
pub struct BanOutcome {
    pub closing_chats: usize,
}

/// `POST /admin/members/{id}/ban`: status, ban record, refused devices, marked
/// IPs, the close job and the audit entry in one transaction; then every session
/// ends. Banning a banned member is a no-op (`closing_chats` 0).
pub async fn ban(
    app: &App,
    actor: &Admin,
    id: &MemberId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<BanOutcome, ApiError> {
    ban_for(app, actor, id, reason, None, now).await
}

/// The one ban, from the member's page or from a report (`report`: the ban only
/// happens while that report is open).
async fn ban_for(
    app: &App,
    actor: &Admin,
    id: &MemberId,
    reason: &str,
    report: Option<&str>,
    now: DateTime<Utc>,
) -> Result<BanOutcome, ApiError> {
    let reason = moderation::staff_reason(reason).map_err(|e| ApiError::invalid("reason", e))?;
    let member = app.store.get_member(id).await?.ok_or(ApiError::NotFound("member"))?;
    match member.status {
        MemberStatus::Deleted => return Err(ApiError::NotFound("member")),
        MemberStatus::Banned => return Ok(BanOutcome { closing_chats: 0 }),
        MemberStatus::Active => {}
    }
    let (devices, ips) = app.store.member_sightings(id).await?;
    let details = serde_json::json!({ "reason": reason, "report_id": report });
    let audit = AuditEntry::new(&actor.id, "member.ban", member_target(id), details);
    let ban = Ban {
        member_id: id,
        reason: &reason,
        banned_by: &actor.id,
        devices: &devices,
        ips: &ips,
        report,
        audit: &audit,
    };
    match app.store.ban_member(&ban, now).await? {
        StatusChange::Done => {}
        StatusChange::Unchanged(MemberStatus::Deleted) | StatusChange::Gone => {
            return Err(ApiError::NotFound("member"))
        }
        StatusChange::Unchanged(_) => return Ok(BanOutcome { closing_chats: 0 }),
        StatusChange::ReportClosed => return Err(ApiError::ReportResolved),
    }
    crate::services::end_sessions(app, &Principal::member(id.as_str()), None).await?;
    let closing_chats = open_chats(app, id).await?;
    tracing::info!(member_id = %id, closing_chats, "member banned");
    Ok(BanOutcome { closing_chats })
}

/// How many of the member's chats are open (the close job's work).
async fn open_chats(app: &App, id: &MemberId) -> Result<usize, ApiError> {
    let mut open = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.member_chats_oldest_first(id, cursor.as_deref(), 50).await?;
        open += page.items.iter().filter(|c| c.status != ChatStatus::Closed).count();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(open),
        }
    }
}

#[derive(Serialize)]
pub struct UnbanOutcome {
    pub status: MemberStatus,
}

/// `POST /admin/members/{id}/unban`: login works again, closed chats reopen on the
/// member's next message; the ban record stays as history. Not banned: no change.
pub async fn unban(app: &App, actor: &Admin, id: &MemberId, now: DateTime<Utc>) -> Result<UnbanOutcome, ApiError> {
    let member = app.store.get_member(id).await?.ok_or(ApiError::NotFound("member"))?;
    match member.status {
        MemberStatus::Deleted => return Err(ApiError::NotFound("member")),
        MemberStatus::Active => return Ok(UnbanOutcome { status: MemberStatus::Active }),
        MemberStatus::Banned => {}
    }
    let audit = AuditEntry::new(&actor.id, "member.unban", member_target(id), serde_json::json!({}));
    match app.store.unban_member(id, &actor.id, &audit, now).await? {
        StatusChange::Done => {
            tracing::info!(member_id = %id, "member unbanned");
            Ok(UnbanOutcome { status: MemberStatus::Active })
        }
        StatusChange::Unchanged(MemberStatus::Deleted) | StatusChange::Gone | StatusChange::ReportClosed => {
            Err(ApiError::NotFound("member"))
        }
        StatusChange::Unchanged(status) => Ok(UnbanOutcome { status }),
    }
}

// ---------------------------------------------------------------- reports

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub reason: String,
    pub details: Option<String>,
}

/// `POST /operator/chats/{id}/report`: from a chat the operator holds (404
/// otherwise, as for a reply); moderators are told.
pub async fn report(
    app: &App,
    operator_id: &OperatorId,
    chat_id: &ChatId,
    r: ReportRequest,
    now: DateTime<Utc>,
) -> Result<Report, ApiError> {
    let mut f = FieldErrors::new();
    let reason = f.check("reason", ReportReason::parse(&r.reason).ok_or_else(ReportReason::expected));
    let details =
        r.details.as_deref().and_then(|d| f.check("details", validation::text(d, 1, validation::max::REPORT_DETAILS)));
    f.into_result()?;
    let reason = reason.ok_or_else(|| ApiError::invalid("reason", ReportReason::expected()))?;
    let chat = crate::services::operators::held_chat(app, operator_id, chat_id).await?;
    let report = Report {
        id: ids::new_id("rp_"),
        chat_id: chat.id.clone(),
        member_id: chat.member_id.clone(),
        operator_id: operator_id.clone(),
        reason,
        details,
        status: ReportStatus::Open,
        created_at: now,
        resolution: None,
    };
    app.store.create_report(&report, &moderation::report_text(&report), now).await?;
    tracing::info!(report_id = %report.id, %chat_id, "member reported");
    Ok(report)
}

/// `GET /admin/reports?status=`: open (default) or resolved, newest first.
pub async fn reports(
    app: &App,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Report>, ApiError> {
    let status = match status {
        None => ReportStatus::Open,
        Some(s) => ReportStatus::parse(s).ok_or_else(|| ApiError::invalid("status", ReportStatus::expected()))?,
    };
    Ok(app.store.reports(status, cursor, limit).await?)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub action: String,
    pub note: Option<String>,
}

/// `POST /admin/reports/{id}/resolve`: `warned` tells the member; `banned` is the
/// ban above (and needs `ban_members`: 403 before anything changes). A resolved
/// report is 409 `report_resolved`.
pub async fn resolve(app: &App, actor: &Admin, id: &str, r: Resolve, now: DateTime<Utc>) -> Result<Report, ApiError> {
    let mut f = FieldErrors::new();
    let action = f.check("action", ReportAction::parse(&r.action).ok_or_else(ReportAction::expected));
    let note =
        r.note.as_deref().and_then(|n| f.check("note", validation::text(n, 1, validation::max::RESOLUTION_NOTE)));
    f.into_result()?;
    let action = action.ok_or_else(|| ApiError::invalid("action", ReportAction::expected()))?;
    if action == ReportAction::Banned && !actor.permissions().has(Permission::BanMembers) {
        return Err(ApiError::Forbidden);
    }
    let report = app.store.get_report(id).await?.ok_or(ApiError::NotFound("report"))?;
    if report.status == ReportStatus::Resolved {
        return Err(ApiError::ReportResolved);
    }
    if action == ReportAction::Banned {
        // The ban commits only while the report is open: a concurrent resolution
        // leaves the member as they were (409 below or from the ban itself).
        let reason = format!("report {}: {}", report.id, report.reason.as_str());
        ban_for(app, actor, &report.member_id, &reason, Some(&report.id), now).await?;
    }
    let resolution = Resolution { action, note, resolved_by: actor.id.to_string(), resolved_at: now };
    let warning = (action == ReportAction::Warned).then_some(WARNING_NOTICE);
    let details =
        serde_json::json!({ "action": action.as_str(), "note": resolution.note, "member_id": report.member_id });
    let audit = AuditEntry::new(&actor.id, "report.resolve", format!("report:{}", report.id), details);
    if !app.store.resolve_report(&report, &resolution, warning, &audit, now).await? {
        return Err(ApiError::ReportResolved);
    }
    Ok(Report { status: ReportStatus::Resolved, resolution: Some(resolution), ..report })
}

// ---------------------------------------------------------------- message edits

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    pub content: String,
    pub reason: String,
}

/// Reads after another edit changed the message under this one.
const EDIT_ATTEMPTS: usize = 10;

/// `PATCH /admin/chats/{id}/messages/{message_id}`: the new text, its history
/// record (original, new, editor, reason) and the audit entry in one transaction
/// (invariant 7). The member then sees the new text with `"edited": true`, never
/// the original. The same text again changes nothing and records nothing.
pub async fn edit_message(
    app: &App,
    actor: &Admin,
    chat_id: &ChatId,
    message_id: &str,
    r: EditRequest,
    now: DateTime<Utc>,
) -> Result<crate::services::operators::StaffMessage, ApiError> {
    let mut f = FieldErrors::new();
    let content = f.check("content", validation::message(r.content));
    let reason = f.check("reason", moderation::staff_reason(&r.reason));
    f.into_result()?;
    let (Some(content), Some(reason)) = (content, reason) else {
        return Err(ApiError::invalid("body", "is not valid"));
    };
    let seq = ids::message_seq(message_id).ok_or(ApiError::NotFound("message"))?;
    let mut current = app.store.get_message(chat_id, seq, message_id).await?.ok_or(ApiError::NotFound("message"))?;
    for _ in 0..EDIT_ATTEMPTS {
        if current.content == content {
            return Ok(crate::services::operators::StaffMessage::from(&current));
        }
        let edit = moderation::MessageEdit {
            original_content: current.content.clone(),
            new_content: content.clone(),
            edited_by: actor.id.to_string(),
            editor_type: moderation::EditorType::Admin,
            reason: reason.clone(),
            edited_at: now,
        };
        let details = serde_json::json!({ "chat_id": chat_id, "reason": reason });
        let audit = AuditEntry::new(&actor.id, "message.edit", format!("message:{message_id}"), details);
        match app.store.edit_message(&current, seq, &edit, Some(&audit), now).await? {
            crate::store::EditOutcome::Done(after) => {
                tracing::info!(%chat_id, message_id, "message edited");
                return Ok(crate::services::operators::StaffMessage::from(after.as_ref()));
            }
            crate::store::EditOutcome::Changed(Some(m)) => current = *m,
            crate::store::EditOutcome::Changed(None) => return Err(ApiError::NotFound("message")),
        }
    }
    Err(ApiError::Contention)
}

/// `GET /admin/chats/{id}/messages/{message_id}/history`: newest first.
pub async fn message_history(
    app: &App,
    chat_id: &ChatId,
    message_id: &str,
) -> Result<Vec<moderation::MessageEdit>, ApiError> {
    let seq = ids::message_seq(message_id).ok_or(ApiError::NotFound("message"))?;
    app.store.get_message(chat_id, seq, message_id).await?.ok_or(ApiError::NotFound("message"))?;
    Ok(app.store.message_history(chat_id, seq).await?)
}

// ---------------------------------------------------------------- chats

#[derive(Serialize)]
pub struct ClosedChat {
    pub id: ChatId,
    pub status: ChatStatus,
    pub close_reason: crate::domain::CloseReason,
}

/// `POST /admin/chats/{id}/close`: the one close (`admin`), its audit entry in the
/// close's transaction: the operator freed, an escalation ended, the member told.
/// A closed chat is 409 `chat_closed`; the member's next message reopens it.
pub async fn close_chat(
    app: &App,
    actor: &Admin,
    chat_id: &ChatId,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ClosedChat, ApiError> {
    let reason = match reason {
        Some(r) => Some(moderation::staff_reason(r).map_err(|e| ApiError::invalid("reason", e))?),
        None => None,
    };
    let chat = app.store.get_chat(chat_id).await?.ok_or(ApiError::NotFound("chat"))?;
    if chat.status == ChatStatus::Closed {
        return Err(ApiError::ChatClosed);
    }
    let details = serde_json::json!({ "reason": reason, "operator_id": chat.operator_id, "status": chat.status });
    let audit = AuditEntry::new(&actor.id, "chat.close", format!("chat:{chat_id}"), details);
    let reason_code = crate::domain::CloseReason::Admin;
    if !crate::services::closing::close_chat_audited(app, chat_id, reason_code, now, |_| true, Some(&audit)).await? {
        return Err(ApiError::ChatClosed);
    }
    Ok(ClosedChat { id: chat_id.clone(), status: ChatStatus::Closed, close_reason: reason_code })
}
