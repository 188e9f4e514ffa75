//! The back office's operators: list with their figures, create, edit (the admin
//! routes under `manage_operators`). Every write carries its audit entry.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::password;
use crate::domain::admin::{self, Admin, AuditEntry};
use crate::domain::assignment::{self, quality_score};
use crate::domain::ids::{self, OperatorId};
use crate::domain::validation::{self, max, FieldErrors};
use crate::domain::Operator;
use crate::error::ApiError;
use crate::services::operators::OperatorView;
use crate::store::{OperatorProfileChange, Page};
use crate::App;

/// An operator as the back office sees them: what the operator sees of themselves,
/// when they joined, and the figures.
#[derive(Serialize)]
pub struct OperatorAdminView {
    #[serde(flatten)]
    pub operator: OperatorView,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspension_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub stats: OperatorStats,
}

#[derive(Debug, Serialize)]
pub struct OperatorStats {
    pub messages: u32,
    /// `null` until the operator has replied.
    pub avg_response_s: Option<f64>,
    pub rating: Option<f64>,
    pub quality_score: f64,
    pub idle_incidents: u32,
    pub reassignments: u32,
}

impl From<&Operator> for OperatorAdminView {
    fn from(o: &Operator) -> Self {
        OperatorAdminView {
            operator: OperatorView::from(o),
            created_at: o.created_at,
            suspension_reason: o.suspension_reason.clone(),
            deleted_at: o.deleted_at,
            stats: OperatorStats {
                messages: o.replies,
                avg_response_s: (o.replies > 0).then(|| (o.avg_response_secs() * 10.0).round() / 10.0),
                rating: (o.rating_count > 0).then(|| (o.rating() * 100.0).round() / 100.0),
                quality_score: (quality_score(o) * 10.0).round() / 10.0,
                idle_incidents: o.idle_incidents,
                reassignments: o.reassignments,
            },
        }
    }
}

fn target(id: &OperatorId) -> String {
    format!("operator:{id}")
}

pub async fn list(app: &App, cursor: Option<&str>, limit: usize) -> Result<Page<OperatorAdminView>, ApiError> {
    Ok(app.store.list_operators(false, cursor, limit).await?.map(|o| OperatorAdminView::from(&o)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: String,
    pub email: String,
    pub password: String,
    pub languages: Vec<String>,
    pub specializations: Option<Vec<String>>,
    pub max_concurrent_chats: Option<u32>,
}

/// `POST /admin/operators`: offline, no chats, no history; 409 `email_taken`.
pub async fn create(
    app: &App,
    actor: &Admin,
    r: NewOperator,
    now: DateTime<Utc>,
) -> Result<OperatorAdminView, ApiError> {
    let mut f = FieldErrors::new();
    let name = f.check("name", validation::line(&r.name, 1, max::DISPLAY_NAME));
    let email = f.check("email", validation::email(&r.email));
    f.check("password", admin::staff_password(&r.password));
    let cap = r.max_concurrent_chats.and_then(|n| f.check("max_concurrent_chats", assignment::operator_capacity(n)));
    let skills = match assignment::operator_skills(Some(&r.languages), r.specializations.as_deref()) {
        Ok(skills) => Some(skills),
        Err((field, msg)) => {
            f.add(field, msg);
            None
        }
    };
    f.into_result()?;
    let (Some(name), Some(email), Some(skills)) = (name, email, skills) else {
        return Err(ApiError::invalid("body", "is not valid"));
    };
    let id = OperatorId::new(ids::new_id("op_"));
    let hash = password::hash(r.password).await?;
    let mut op = Operator::new_account(id.clone(), email, name, hash, now);
    op.languages = skills.languages.unwrap_or(op.languages);
    op.specializations = skills.specializations.unwrap_or_default();
    op.max_concurrent_chats = cap.unwrap_or(op.max_concurrent_chats);
    let audit = AuditEntry::new(
        &actor.id,
        "operator.create",
        target(&id),
        serde_json::json!({
            "name": op.name, "email": op.email, "languages": op.languages,
            "specializations": op.specializations, "max_concurrent_chats": op.max_concurrent_chats,
        }),
    );
    if !app.store.create_operator_audited(&op, Some(&audit), now).await? {
        return Err(ApiError::EmailTaken);
    }
    Ok(OperatorAdminView::from(&op))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEdit {
    pub name: Option<String>,
    pub languages: Option<Vec<String>>,
    pub specializations: Option<Vec<String>>,
    pub max_concurrent_chats: Option<u32>,
}

/// `PATCH /admin/operators/{id}`: a lower capacity than the chats held takes no
/// chat away; the operator gets no new one until below it.
pub async fn edit(
    app: &App,
    actor: &Admin,
    id: &OperatorId,
    r: OperatorEdit,
    now: DateTime<Utc>,
) -> Result<OperatorAdminView, ApiError> {
    let mut f = FieldErrors::new();
    let name = r.name.as_deref().and_then(|n| f.check("name", validation::line(n, 1, max::DISPLAY_NAME)));
    let cap = r.max_concurrent_chats.and_then(|n| f.check("max_concurrent_chats", assignment::operator_capacity(n)));
    let skills = match assignment::operator_skills(r.languages.as_deref(), r.specializations.as_deref()) {
        Ok(skills) => Some(skills),
        Err((field, msg)) => {
            f.add(field, msg);
            None
        }
    };
    f.into_result()?;
    let skills = skills.ok_or_else(|| ApiError::invalid("body", "is not valid"))?;
    let change = OperatorProfileChange {
        name,
        languages: skills.languages,
        specializations: skills.specializations,
        max_concurrent_chats: cap,
    };
    let before = existing(app, id).await?;
    let mut details = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            details.insert(field.into(), serde_json::json!({ "from": from, "to": to }));
        }
    };
    if let Some(n) = &change.name {
        note("name", before.name.clone().into(), n.clone().into());
    }
    if let Some(l) = &change.languages {
        note("languages", before.languages.clone().into(), l.clone().into());
    }
    if let Some(sp) = &change.specializations {
        note("specializations", before.specializations.clone().into(), sp.clone().into());
    }
    if let Some(c) = change.max_concurrent_chats {
        note("max_concurrent_chats", before.max_concurrent_chats.into(), c.into());
    }
    if details.is_empty() {
        return Ok(OperatorAdminView::from(&before));
    }
    let audit = AuditEntry::new(&actor.id, "operator.update", target(id), serde_json::Value::Object(details));
    if !app.store.update_operator_profile(id, &change, &audit, now).await? {
        return Err(ApiError::NotFound("operator"));
    }
    let mut after = before;
    after.name = change.name.unwrap_or(after.name);
    after.languages = change.languages.unwrap_or(after.languages);
    after.specializations = change.specializations.unwrap_or(after.specializations);
    after.max_concurrent_chats = change.max_concurrent_chats.unwrap_or(after.max_concurrent_chats);
    Ok(OperatorAdminView::from(&after))
}

/// What an operator is told when a suspension ends, early or on its date.
pub const REACTIVATED_NOTICE: &str = "Your suspension has ended: you can go online again.";

/// Who suspended an operator, and why.
pub enum SuspensionCause<'a> {
    /// The quality review, on the score it computed and the threshold in force.
    Quality { score: f64, threshold: i64 },
    /// An admin, with the reason they gave.
    Admin { actor: &'a Admin, reason: &'a str },
}

/// The one suspension, whoever decides it: suspended and offline at once, told,
/// admins told, the requeue job written (one transaction); then the held chats go
/// back to the queue at the top here, and the job finishes whatever this could not.
/// `Ok(false)` when nothing changed (gone, deleted, or already suspended by the
/// quality review).
pub async fn suspend(
    app: &App,
    id: &OperatorId,
    days: i64,
    cause: &SuspensionCause<'_>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let until = now + chrono::Duration::days(days);
    let (reason, audit) = match cause {
        SuspensionCause::Quality { score, threshold } => {
            (assignment::quality_suspension_reason(*score, *threshold), None)
        }
        SuspensionCause::Admin { actor, reason } => {
            let details = serde_json::json!({ "reason": reason, "days": days, "until": until });
            (reason.to_string(), Some(AuditEntry::new(&actor.id, "operator.suspend", target(id), details)))
        }
    };
    let notice = assignment::suspension_notice(until, &reason);
    let admin_notice = assignment::suspension_admin_notice(id, until, &reason);
    let suspension = crate::store::Suspension {
        operator_id: id,
        until,
        reason: &reason,
        first_only: matches!(cause, SuspensionCause::Quality { .. }),
        notice: &notice,
        admin_notice: &admin_notice,
        audit: audit.as_ref(),
    };
    if !app.store.suspend_operator(&suspension, now).await? {
        return Ok(false);
    }
    // A suspended operator keeps their tokens (the console shows why), not their sockets.
    let principal = crate::domain::principal::Principal::operator(id.as_str());
    crate::services::realtime::end_connections(app, &principal, crate::domain::realtime::Ending::AllBut(None)).await;
    // The job is written: a failure here leaves the chats to it (within a minute).
    match crate::services::assignment::requeue_operator_chats(app, id, now, now).await {
        Ok(n) => tracing::info!(operator_id = %id, requeued = n, "operator suspended; held chats requeued"),
        Err(e) => tracing::warn!(operator_id = %id, error = %e, "requeue after suspension failed; the job retries"),
    }
    Ok(true)
}

/// The back office's lists: the current operators, or the deleted ones.
pub async fn list_former(app: &App, cursor: Option<&str>, limit: usize) -> Result<Page<OperatorAdminView>, ApiError> {
    Ok(app.store.list_operators(true, cursor, limit).await?.map(|o| OperatorAdminView::from(&o)))
}

/// An operator the back office may act on: 404 if there is none, or it was deleted.
async fn existing(app: &App, id: &OperatorId) -> Result<Operator, ApiError> {
    app.store.get_operator(id).await?.filter(|o| o.deleted_at.is_none()).ok_or(ApiError::NotFound("operator"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    pub reason: String,
    pub days: Option<i64>,
}

/// `POST /admin/operators/{id}/suspend`: again on a suspended operator sets the
/// new end and reason.
pub async fn suspend_by_admin(
    app: &App,
    actor: &Admin,
    id: &OperatorId,
    r: SuspendRequest,
    now: DateTime<Utc>,
) -> Result<OperatorAdminView, ApiError> {
    let mut f = FieldErrors::new();
    let reason = f.check("reason", crate::domain::moderation::staff_reason(&r.reason));
    let days = f.check("days", assignment::suspension_days(r.days));
    f.into_result()?;
    let (Some(reason), Some(days)) = (reason, days) else { return Err(ApiError::invalid("body", "is not valid")) };
    existing(app, id).await?;
    if !suspend(app, id, days, &SuspensionCause::Admin { actor, reason: &reason }, now).await? {
        return Err(ApiError::NotFound("operator"));
    }
    Ok(OperatorAdminView::from(&existing(app, id).await?))
}

/// `POST /admin/operators/{id}/reactivate`: ends a suspension early (after
/// retraining); on an operator who is not suspended, 200 and no change.
pub async fn reactivate(
    app: &App,
    actor: &Admin,
    id: &OperatorId,
    now: DateTime<Utc>,
) -> Result<OperatorAdminView, ApiError> {
    let op = existing(app, id).await?;
    if !op.is_suspended {
        return Ok(OperatorAdminView::from(&op));
    }
    let details = serde_json::json!({ "suspended_until": op.suspended_until, "reason": op.suspension_reason });
    let audit = AuditEntry::new(&actor.id, "operator.reactivate", target(id), details);
    app.store.reactivate_operator(id, Some(&audit), REACTIVATED_NOTICE, None, now).await?;
    Ok(OperatorAdminView::from(&existing(app, id).await?))
}

/// `DELETE /admin/operators/{id}`: 409 `active_chats` while they hold chats; then
/// the account is gone (login, refresh and the live token are 401) and the
/// performance history stays.
pub async fn delete(app: &App, actor: &Admin, id: &OperatorId, now: DateTime<Utc>) -> Result<(), ApiError> {
    let op = existing(app, id).await?;
    let details = serde_json::json!({ "name": op.name, "email": op.email });
    let audit = AuditEntry::new(&actor.id, "operator.delete", target(id), details);
    match app.store.delete_operator(&op, &audit, now).await? {
        crate::store::OperatorDeletion::Deleted => {}
        crate::store::OperatorDeletion::HoldsChats(n) => return Err(ApiError::OperatorHoldsChats(n)),
        crate::store::OperatorDeletion::Gone => return Err(ApiError::NotFound("operator")),
    }
    // Refresh also checks the record; this spares the dead tokens their TTL.
    crate::services::end_sessions(app, &crate::domain::principal::Principal::operator(id.as_str()), None).await?;
    tracing::info!(operator_id = %id, "operator deleted");
    Ok(())
}
