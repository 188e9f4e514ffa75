//! The back office's identity: the first admin (setup), admin login with an
//! optional second factor, the admin's own password, the admins themselves, the
//! audit log and the admin notifications each admin may see.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::{password, totp, RefreshToken};
use crate::domain::admin::{self, admin_target, Admin, AdminChange, AuditEntry, Permissions, SessionCut, Totp};
use crate::domain::ids;
use crate::domain::principal::{AdminRole, Principal, PrincipalKind};
use crate::domain::validation::{self, max, FieldErrors};
use crate::error::ApiError;
use crate::services::limits;
use crate::store::{AdminNotification, AdminWrite, AuditRecord, Page};
use crate::App;

/// An admin as the back office shows it (API.md's `admin`).
#[derive(Debug, Serialize)]
pub struct AdminView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: AdminRole,
    pub permissions: Vec<&'static str>,
    pub custom: bool,
    pub active: bool,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Admin> for AdminView {
    fn from(a: &Admin) -> Self {
        AdminView {
            id: a.id.clone(),
            name: a.name.clone(),
            email: a.email.clone(),
            role: a.role,
            permissions: a.permissions().names(),
            custom: a.role != AdminRole::SuperAdmin && a.custom_permissions.is_some(),
            active: a.active,
            totp_enabled: a.totp_enabled(),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AdminSession {
    pub token: String,
    pub refresh_token: String,
    pub admin: AdminView,
}

#[derive(serde::Deserialize)]
pub struct NewAdmin {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: String,
}

#[derive(serde::Deserialize)]
pub struct SetupRequest {
    pub name: String,
    pub email: String,
    pub password: String,
    pub setup_token: String,
}

struct ValidAdmin {
    name: String,
    email: String,
    password: String,
    role: AdminRole,
}

fn validate(name: &str, email: &str, pass: &str, role: Option<&str>) -> Result<ValidAdmin, ApiError> {
    let mut f = FieldErrors::new();
    let name = f.check("name", validation::line(name, 1, max::DISPLAY_NAME));
    let email = f.check("email", validation::email(email));
    let password = f.check("password", admin::staff_password(pass).map(|()| pass.to_string()));
    let role = match role {
        None => Some(AdminRole::SuperAdmin),
        Some(r) => f.check("role", AdminRole::parse(r).ok_or_else(|| "must be super_admin, admin or moderator".into())),
    };
    f.into_result()?;
    match (name, email, password, role) {
        (Some(name), Some(email), Some(password), Some(role)) => Ok(ValidAdmin { name, email, password, role }),
        _ => Err(ApiError::invalid("body", "is not valid")),
    }
}

async fn new_admin(v: ValidAdmin, now: DateTime<Utc>) -> Result<Admin, ApiError> {
    Ok(Admin {
        id: ids::new_id("ad_"),
        name: v.name,
        email: v.email,
        role: v.role,
        custom_permissions: None,
        active: true,
        password_hash: password::hash(v.password).await?,
        totp: Totp::Off,
        created_at: now,
        version: 1,
        sessions_cut: None,
    })
}

/// `GET /setup`: whether the first admin may still be created.
pub async fn setup_available(app: &App) -> Result<bool, ApiError> {
    Ok(app.store.setup_available().await?)
}

/// `POST /setup`: the first super admin, once, for whoever holds the setup token
/// (compared in constant time). Exactly one of any number of concurrent calls
/// succeeds: the store's transaction puts the setup marker first.
pub async fn setup(app: &App, r: SetupRequest, ip: &str, now: DateTime<Utc>) -> Result<AdminView, ApiError> {
    limits::check_ip(app, "setup", ip, now).await?;
    if !crate::auth::same_secret(&r.setup_token, &app.secrets.admin_setup_token) {
        return Err(ApiError::InvalidSetupToken);
    }
    if !app.store.setup_available().await? {
        return Err(ApiError::SetupDone);
    }
    let valid = validate(&r.name, &r.email, &r.password, None)?;
    let first = new_admin(valid, now).await?;
    if !app.store.create_first_admin(&first, now).await? {
        return Err(ApiError::SetupDone);
    }
    tracing::info!(admin = %first.id, "first super admin created");
    Ok(AdminView::from(&first))
}

/// `POST /admin/login`: email and password, and the current TOTP code once the
/// admin enrolled one. A deactivated admin cannot log in (401, as for a wrong
/// password: the answer says nothing of who exists).
pub async fn login(
    app: &App,
    email: &str,
    pass: String,
    totp_code: Option<&str>,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<AdminSession, ApiError> {
    let email = validation::staff_login_email(email, &pass).ok_or(ApiError::InvalidCredentials)?;
    limits::check_ip(app, "admin_login", ip, now).await?;
    limits::check_name(app, "admin_login", &email, now).await?;
    let found = app.store.admin_by_email(&email).await?;
    if !password::verify(pass, found.as_ref().map(|a| a.password_hash.clone())).await? {
        return Err(ApiError::InvalidCredentials);
    }
    let admin = found.filter(|a| a.active).ok_or(ApiError::InvalidCredentials)?;
    if let Totp::On { secret, .. } = &admin.totp {
        let code = totp_code.ok_or(ApiError::TotpRequired)?;
        let step = totp::matching_step(secret, &admin.email, code, now).ok_or(ApiError::TotpRequired)?;
        if !app.store.use_totp_step(&admin.id, step).await? {
            return Err(ApiError::TotpRequired);
        }
    }
    let session = start_session(app, &admin, now).await?;
    Ok(AdminSession { token: session.0, refresh_token: session.1, admin: AdminView::from(&admin) })
}

async fn start_session(app: &App, a: &Admin, now: DateTime<Utc>) -> Result<(String, String), ApiError> {
    let principal = Principal { kind: PrincipalKind::Admin, id: a.id.clone(), role: Some(a.role) };
    let (refresh_token, parsed, expires_at) = RefreshToken::generate(PrincipalKind::Admin, &a.id, None, now);
    app.store.put_refresh_token(parsed.stored(), now, expires_at).await?;
    Ok((app.tokens.issue_access(&principal, &parsed.family)?, refresh_token))
}

/// The caller's current record: removed or deactivated is 401, on every request.
pub async fn current(app: &App, id: &str) -> Result<Admin, ApiError> {
    app.store.get_admin(id).await?.filter(|a| a.active).ok_or(ApiError::Unauthorized)
}

/// Ends every session of the admin but `kept` now: their access tokens at the
/// gate's next read, their refresh tokens with the revocation that follows.
/// Against the real clock, as tokens are issued.
fn cut_now(kept: Option<&str>) -> SessionCut {
    SessionCut { at: Utc::now(), kept: kept.map(str::to_string) }
}

/// `POST /admin/me/password`: the admin's other sessions end.
pub async fn change_password(
    app: &App,
    me: &Admin,
    session: Option<&str>,
    current: String,
    new: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let hash = password::replace(&me.password_hash, current, new, admin::staff_password).await?;
    let audit = AuditEntry::new(&me.id, "admin.password_changed", admin_target(&me.id), serde_json::json!({}));
    match app.store.update_own_admin(me, Some(&hash), None, Some(&cut_now(session)), &audit, now).await? {
        AdminWrite::Done => {}
        _ => return Err(ApiError::Contention),
    }
    crate::services::end_sessions(app, &Principal::admin(me.id.as_str()), session).await?;
    Ok(())
}

/// `POST /admin/me/totp`: a new secret, pending until a code confirms it. Answers
/// the otpauth URI an authenticator app scans, and the secret in base32.
pub async fn totp_enrol(app: &App, me: &Admin, now: DateTime<Utc>) -> Result<totp::Enrolment, ApiError> {
    if me.totp_enabled() {
        return Err(ApiError::TotpEnabled);
    }
    let secret = totp::new_secret();
    let enrolment = totp::enrolment(&secret, &me.email)?;
    let audit = AuditEntry::new(&me.id, "admin.totp_enrol", admin_target(&me.id), serde_json::json!({}));
    match app.store.update_own_admin(me, None, Some(&Totp::Pending { secret }), None, &audit, now).await? {
        AdminWrite::Done => Ok(enrolment),
        _ => Err(ApiError::Contention),
    }
}

/// `POST /admin/me/totp/confirm`: a current code from the pending secret turns the
/// second factor on; from then on login needs a code. Every other session ends (one
/// opened with the password alone before).
pub async fn totp_confirm(
    app: &App,
    me: &Admin,
    session: Option<&str>,
    code: &str,
    now: DateTime<Utc>,
) -> Result<AdminView, ApiError> {
    let Totp::Pending { secret } = &me.totp else {
        return Err(ApiError::invalid("code", "no second factor is being enrolled: POST /admin/me/totp first"));
    };
    let step = totp::matching_step(secret, &me.email, code, now)
        .ok_or_else(|| ApiError::invalid("code", "is not the current code"))?;
    let on = Totp::On { secret: secret.clone(), last_step: step };
    let audit = AuditEntry::new(&me.id, "admin.totp_enabled", admin_target(&me.id), serde_json::json!({}));
    match app.store.update_own_admin(me, None, Some(&on), Some(&cut_now(session)), &audit, now).await? {
        AdminWrite::Done => {}
        _ => return Err(ApiError::Contention),
    }
    crate::services::end_sessions(app, &Principal::admin(me.id.as_str()), session).await?;
    let mut after = me.clone();
    after.totp = on;
    Ok(AdminView::from(&after))
}

/// `POST /admin/me/totp/disable`: the password proves it is the admin.
pub async fn totp_disable(app: &App, me: &Admin, pass: String, now: DateTime<Utc>) -> Result<AdminView, ApiError> {
    if pass.len() > max::LOGIN_PASSWORD || !password::verify(pass, Some(me.password_hash.clone())).await? {
        return Err(ApiError::invalid("password", "is not the current password"));
    }
    let audit = AuditEntry::new(&me.id, "admin.totp_disabled", admin_target(&me.id), serde_json::json!({}));
    match app.store.update_own_admin(me, None, Some(&Totp::Off), None, &audit, now).await? {
        AdminWrite::Done => {}
        _ => return Err(ApiError::Contention),
    }
    let mut after = me.clone();
    after.totp = Totp::Off;
    Ok(AdminView::from(&after))
}

pub async fn list(app: &App, cursor: Option<&str>, limit: usize) -> Result<Page<AdminView>, ApiError> {
    Ok(app.store.list_admins(cursor, limit).await?.map(|a| AdminView::from(&a)))
}

/// `POST /admin/admins`.
pub async fn create(app: &App, actor: &Admin, r: NewAdmin, now: DateTime<Utc>) -> Result<AdminView, ApiError> {
    let valid = validate(&r.name, &r.email, &r.password, Some(&r.role))?;
    let a = new_admin(valid, now).await?;
    let audit = AuditEntry::new(
        &actor.id,
        "admin.create",
        admin_target(&a.id),
        serde_json::json!({ "name": a.name, "email": a.email, "role": a.role.as_str() }),
    );
    match app.store.create_admin(&actor.id, &a, &audit, now).await? {
        AdminWrite::Done => Ok(AdminView::from(&a)),
        AdminWrite::EmailTaken => Err(ApiError::EmailTaken),
        AdminWrite::ActorRevoked => Err(ApiError::Forbidden),
        AdminWrite::Stale | AdminWrite::LastSuperAdmin => Err(ApiError::Contention),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub role: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub active: Option<bool>,
}

fn parse_change(r: ChangeRequest) -> Result<AdminChange, ApiError> {
    let mut f = FieldErrors::new();
    let role = r.role.as_deref().and_then(|v| {
        f.check("role", AdminRole::parse(v).ok_or_else(|| "must be super_admin, admin or moderator".to_string()))
    });
    let permissions = r.permissions.as_deref().and_then(|v| f.check("permissions", Permissions::parse(v)));
    f.into_result()?;
    if r.role.is_none() && r.permissions.is_none() && r.active.is_none() {
        return Err(ApiError::invalid("body", "name at least one of role, permissions, active"));
    }
    Ok(AdminChange { role, permissions, active: r.active })
}

/// The admin a change is about, read now. When it is the caller, the caller must
/// still be an active super admin in this read: the write is conditioned on this
/// version, so a super admin demoted or deactivated after the gate admitted the
/// request cannot restore themselves with it (the transaction's actor check covers
/// every other target).
async fn target(app: &App, actor: &Admin, id: &str) -> Result<Admin, ApiError> {
    let found = app.store.get_admin(id).await?;
    match found {
        Some(a) if a.id == actor.id && !a.is_active_super_admin() => Err(ApiError::Forbidden),
        Some(a) => Ok(a),
        None if id == actor.id => Err(ApiError::Unauthorized),
        None => Err(ApiError::NotFound("admin")),
    }
}

/// How often a change is recomputed when the admin changed under it.
const CHANGE_ATTEMPTS: u32 = 3;

/// `PATCH /admin/admins/{id}`. No active super admin may be left without another
/// (409 `last_super_admin`, also for oneself); an admin who loses rights loses
/// their refresh tokens too.
pub async fn update(
    app: &App,
    actor: &Admin,
    id: &str,
    r: ChangeRequest,
    now: DateTime<Utc>,
) -> Result<AdminView, ApiError> {
    let change = parse_change(r)?;
    for _ in 0..CHANGE_ATTEMPTS {
        let before = target(app, actor, id).await?;
        let after = admin::apply_change(&before, &change).map_err(|(field, msg)| ApiError::invalid(field, msg))?;
        let changes = admin::changed_fields(&before, &after);
        if changes.is_empty() {
            return Ok(AdminView::from(&after));
        }
        let audit = AuditEntry::with_changes(&actor.id, "admin.update", admin_target(id), &changes);
        match app.store.change_admin(&actor.id, &before, Some(&after), &audit, now).await? {
            AdminWrite::Done => {
                if admin::loses_rights(&before, &after) {
                    crate::services::end_sessions(app, &Principal::admin(id), None).await?;
                }
                return Ok(AdminView::from(&after));
            }
            AdminWrite::LastSuperAdmin => return Err(ApiError::LastSuperAdmin),
            AdminWrite::ActorRevoked => return Err(ApiError::Forbidden),
            AdminWrite::Stale | AdminWrite::EmailTaken => continue,
        }
    }
    Err(ApiError::Contention)
}

/// `DELETE /admin/admins/{id}`: the record and its email claim go; its sessions end.
pub async fn delete(app: &App, actor: &Admin, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    for _ in 0..CHANGE_ATTEMPTS {
        let before = target(app, actor, id).await?;
        let audit = AuditEntry::new(
            &actor.id,
            "admin.delete",
            admin_target(id),
            serde_json::json!({ "email": before.email, "role": before.role.as_str() }),
        );
        match app.store.change_admin(&actor.id, &before, None, &audit, now).await? {
            AdminWrite::Done => {
                crate::services::end_sessions(app, &Principal::admin(id), None).await?;
                return Ok(());
            }
            AdminWrite::LastSuperAdmin => return Err(ApiError::LastSuperAdmin),
            AdminWrite::ActorRevoked => return Err(ApiError::Forbidden),
            AdminWrite::Stale | AdminWrite::EmailTaken => continue,
        }
    }
    Err(ApiError::Contention)
}

pub async fn audit(
    app: &App,
    admin_id: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AuditRecord>, ApiError> {
    if admin_id.is_some_and(|id| id.is_empty() || id.len() > 64) {
        return Err(ApiError::invalid("admin_id", "must be an admin id"));
    }
    Ok(app.store.audit_page(admin_id, cursor, limit).await?)
}

#[derive(Debug, Serialize)]
pub struct AdminNotificationView {
    #[serde(flatten)]
    pub notification: AdminNotification,
    pub read: bool,
}

/// Raw pages read at most per call when filtering: a page may come back short
/// (API.md allows it), never empty while more may follow without a cursor.
const NOTIFICATION_PAGES: usize = 4;

/// `GET /admin/notifications`: the kinds the admin's permissions cover, newest
/// first, each with this admin's read state; `unread` keeps the unread ones.
pub async fn notifications(
    app: &App,
    me: &Admin,
    unread_only: bool,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AdminNotificationView>, ApiError> {
    let held = me.permissions();
    let mut items = Vec::new();
    let mut cursor = cursor.map(str::to_string);
    for _ in 0..NOTIFICATION_PAGES {
        let page = app.store.admin_notifications_page(cursor.as_deref(), limit).await?;
        let visible: Vec<AdminNotification> =
            page.items.into_iter().filter(|n| admin::notification_access(&n.kind).allows(held)).collect();
        let ids: Vec<String> = visible.iter().map(|n| n.id.clone()).collect();
        let read = app.store.admin_read_marks(&me.id, &ids).await?;
        for n in visible {
            let is_read = read.contains(&n.id);
            if !(unread_only && is_read) {
                items.push(AdminNotificationView { notification: n, read: is_read });
            }
        }
        cursor = page.next_cursor;
        if !items.is_empty() || cursor.is_none() {
            break;
        }
    }
    Ok(Page { items, next_cursor: cursor })
}

/// `POST /admin/notifications/{id}/read`: 404 for an id this admin may not see.
pub async fn read_notification(app: &App, me: &Admin, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let visible = app
        .store
        .admin_notification(id)
        .await?
        .is_some_and(|n| admin::notification_access(&n.kind).allows(me.permissions()));
    if !visible {
        return Err(ApiError::NotFound("notification"));
    }
    Ok(app.store.mark_admin_notification_read(&me.id, id, now).await?)
}
