//! Account deletion (with the refund owed for unused credits) and the data export.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::ids::MemberId;
use crate::domain::{ChatView, Credits, Member, MemberStatus, MemberView, MessageView};
use crate::error::ApiError;
use crate::services::member_with_rights;
use crate::services::payments::TransactionView;
use crate::store::{BalanceOutcome, MessageWindow, Notification};
use crate::App;

#[derive(Debug, Serialize)]
pub struct DeletionView {
    pub deleted: bool,
    pub unused_credits: Credits,
    pub refund_due_cents: i64,
}

/// DELETE /me (also for a banned member): the account is closed and its tokens
/// fail when this answers; the jobs it queued close the member's chats and erase
/// their texts within a minute (`closing::run_jobs`).
pub async fn delete_me(
    app: &App,
    member_id: &MemberId,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DeletionView, ApiError> {
    check_reason(reason)?;
    let member = member_with_rights(app, member_id).await?;
    erase(app, member, reason, None, now).await
}

fn check_reason(reason: Option<&str>) -> Result<(), ApiError> {
    use crate::domain::validation::{max, note};
    match reason.map(|r| note(r, max::DELETION_REASON)) {
        Some(Err(e)) => Err(ApiError::invalid("reason", e)),
        _ => Ok(()),
    }
}

/// `DELETE /admin/members/{id}` (`delete_data`): the same erasure as `DELETE /me`,
/// with the admin's audit entry in its transaction. A deleted or unknown member is 404.
pub async fn delete_by_admin(
    app: &App,
    actor: &Admin,
    member_id: &MemberId,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DeletionView, ApiError> {
    check_reason(reason)?;
    let member = existing(app, member_id).await?;
    let details = serde_json::json!({ "reason": reason });
    let audit = AuditEntry::new(&actor.id, "member.delete", format!("member:{member_id}"), details);
    // Deleted meanwhile (by the member): gone, as for any deleted member here.
    erase(app, member, reason, Some(&audit), now).await.map_err(|e| match e {
        ApiError::Unauthorized => ApiError::NotFound("member"),
        other => other,
    })
}

/// `GET /admin/members/{id}/export` (`delete_data`): what `GET /me/export` answers;
/// reading everything held about a member is audited.
pub async fn export_by_admin(
    app: &App,
    actor: &Admin,
    member_id: &MemberId,
    now: DateTime<Utc>,
) -> Result<Export, ApiError> {
    existing(app, member_id).await?;
    let export = export(app, member_id).await?;
    let audit = AuditEntry::new(&actor.id, "member.export", format!("member:{member_id}"), serde_json::json!({}));
    app.store.put_audit(&audit, now).await?;
    Ok(export)
}

async fn existing(app: &App, member_id: &MemberId) -> Result<Member, ApiError> {
    let member = app.store.get_member(member_id).await?;
    member.filter(|m| m.status != MemberStatus::Deleted).ok_or(ApiError::NotFound("member"))
}

/// Closes the account (active or banned), pinned to the member as read and read
/// again when it changed under the write.
async fn erase(
    app: &App,
    mut member: Member,
    reason: Option<&str>,
    audit: Option<&AuditEntry>,
    now: DateTime<Utc>,
) -> Result<DeletionView, ApiError> {
    let member_id = member.id.clone();
    for _ in 0..20 {
        let (outcome, deletion) = app.store.delete_member(&member, reason, audit, now).await?;
        match outcome {
            BalanceOutcome::Done(_) => {
                crate::services::end_sessions(
                    app,
                    &crate::domain::principal::Principal::member(member_id.as_str()),
                    None,
                )
                .await?;
                tracing::info!(%member_id, refund_due_cents = deletion.refund_due_cents, "member deleted");
                return Ok(DeletionView {
                    deleted: true,
                    unused_credits: deletion.unused_credits,
                    refund_due_cents: deletion.refund_due_cents,
                });
            }
            BalanceOutcome::MemberChanged(Some(m)) if m.status != MemberStatus::Deleted => member = *m,
            BalanceOutcome::MemberChanged(_) => return Err(ApiError::Unauthorized),
        }
    }
    Err(ApiError::Contention)
}

#[derive(Serialize)]
pub struct LedgerView {
    pub amount: Credits,
    pub balance_after: Credits,
    pub cause: String,
}

/// GET /me/export (also for a banned member): everything held about the member.
#[derive(Serialize)]
pub struct Export {
    pub profile: MemberView,
    pub chats: Vec<ChatView>,
    pub messages: Vec<MessageView>,
    pub transactions: Vec<TransactionView>,
    pub ledger: Vec<LedgerView>,
    pub notifications: Vec<Notification>,
    pub favorites: Vec<String>,
    /// Where the member was seen from (90 days): hashed device ids and IPs.
    pub devices: Vec<crate::store::Seen>,
    pub ips: Vec<crate::store::Seen>,
}

pub async fn export(app: &App, member_id: &MemberId) -> Result<Export, ApiError> {
    let member = member_with_rights(app, member_id).await?;
    let mut chats = Vec::new();
    let mut messages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.list_member_chats(member_id, cursor.as_deref(), 50).await?;
        for chat in &page.items {
            let mut mcursor: Option<String> = None;
            loop {
                let window = MessageWindow::After { seq: 0, cursor: mcursor.as_deref() };
                let mpage = app.store.list_messages(&chat.id, window, 50).await?;
                messages.extend(mpage.items.iter().map(MessageView::from));
                match mpage.next_cursor {
                    Some(c) => mcursor = Some(c),
                    None => break,
                }
            }
            chats.push(ChatView::from(chat));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let transactions = app
        .store
        .member_payments(member_id, None, 1000)
        .await?
        .items
        .iter()
        .map(TransactionView::from)
        .collect::<Vec<_>>();
    let ledger = app
        .store
        .ledger(member_id)
        .await?
        .into_iter()
        .map(|(amount, balance_after, cause)| LedgerView { amount, balance_after, cause })
        .collect::<Vec<_>>();
    let notifications = app.store.member_notifications(member_id, None, 1000).await?.items;
    let favorites = app.store.list_favorite_ids(member_id, None, 1000).await?.items;
    let file = app.store.member_file(member_id).await?;
    Ok(Export {
        profile: MemberView::from(&member),
        chats,
        messages,
        transactions,
        ledger,
        notifications,
        favorites,
        devices: file.devices,
        ips: file.ips,
    })
}
