//! Registration, login, token refresh and logout, and the member's own profile.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::{password, RefreshToken};
use crate::domain::ids::MemberId;
use crate::domain::moderation::Sighting;
use crate::domain::principal::{Principal, PrincipalKind};
use crate::domain::validation::{self, max, FieldErrors, Password, Username};
use crate::domain::{ids, Credits, Gender, LookingFor, Member, MemberStatus, MemberView, Tier};
use crate::error::ApiError;
use crate::services::{limits, moderation};
use crate::store::{NewMember, ProfileChanges};
use crate::App;

#[derive(Debug, serde::Deserialize)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub age: i64,
    pub gender: String,
    pub looking_for: String,
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub language: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<MemberView>,
}

struct ValidRegistration {
    username: Username,
    password: Password,
    member: Member,
}

fn validate_registration(r: RegisterRequest, now: DateTime<Utc>) -> Result<ValidRegistration, ApiError> {
    let mut f = FieldErrors::new();
    let username = f.check("username", Username::parse(&r.username));
    let password = f.check("password", Password::parse(&r.password));
    let age = f.check("age", validation::age(r.age));
    let gender = f.check("gender", Gender::parse(&r.gender).ok_or_else(|| "must be male, female or other".to_string()));
    let looking_for = f.check(
        "looking_for",
        LookingFor::parse(&r.looking_for).ok_or_else(|| "must be male, female or both".to_string()),
    );
    let location = f.check("location", validation::line(&r.location, 1, max::LOCATION));
    let display_name =
        r.display_name.as_deref().and_then(|d| f.check("display_name", validation::line(d, 1, max::DISPLAY_NAME)));
    let email = r.email.as_deref().and_then(|e| f.check("email", validation::email(e)));
    let latitude = r.latitude.and_then(|v| f.check("latitude", validation::latitude(v)));
    let longitude = r.longitude.and_then(|v| f.check("longitude", validation::longitude(v)));
    let language = r.language.as_deref().and_then(|l| f.check("language", validation::language(l)));
    f.into_result()?;
    let (Some(username), Some(password), Some(age), Some(gender), Some(looking_for), Some(location)) =
        (username, password, age, gender, looking_for, location)
    else {
        return Err(ApiError::BadRequest("registration did not validate".into()));
    };
    let member = Member {
        id: MemberId::new(ids::new_id("m_")),
        username: username.as_str().to_string(),
        password_hash: String::new(),
        display_name,
        email,
        age,
        gender,
        looking_for,
        location,
        latitude,
        longitude,
        bio: None,
        language,
        balance: Credits::ZERO,
        tier: Tier::Free,
        messages_sent: 0,
        credits_spent: Credits::ZERO,
        kes_paid_cents: 0,
        loyalty_used: 0,
        status: MemberStatus::Active,
        created_at: now,
    };
    Ok(ValidRegistration { username, password, member })
}

pub async fn register(
    app: &App,
    r: RegisterRequest,
    ip: &str,
    seen: &Sighting,
    now: DateTime<Utc>,
) -> Result<Session, ApiError> {
    // The IP is counted first, whatever the body; the username only once it is
    // valid, so no key is ever built from unchecked input.
    limits::check_ip(app, "register", ip, now).await?;
    let ValidRegistration { username, password, mut member } = validate_registration(r, now)?;
    limits::check_name(app, "register", username.as_str(), now).await?;
    // A banned member's device opens no new account.
    moderation::screen_device(app, seen, now).await?;
    // A cheap early answer that spares an argon2 hash; the claim's condition in
    // create_member is what actually keeps usernames unique.
    if app.store.username_taken(username.as_str()).await? {
        return Err(ApiError::UsernameTaken);
    }
    member.password_hash = password::hash(password.expose().to_string()).await?;
    let stated_age = member.age;
    if !app.store.create_member(&NewMember { member: member.clone(), stated_age }, now).await? {
        return Err(ApiError::UsernameTaken);
    }
    tracing::info!(member_id = %member.id, "member registered");
    moderation::note_entry(app, &member.id, seen, now).await?;
    session(app, &member, now).await
}

async fn session(app: &App, member: &Member, now: DateTime<Utc>) -> Result<Session, ApiError> {
    let (refresh_token, parsed, expires_at) = RefreshToken::generate(PrincipalKind::Member, &member.id, None, now);
    app.store.put_refresh_token(parsed.stored(), now, expires_at).await?;
    let token = app.tokens.issue_access(&Principal::member(&member.id), &parsed.family)?;
    Ok(Session { token, refresh_token, user: Some(MemberView::from(member)) })
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

pub async fn login(
    app: &App,
    r: LoginRequest,
    ip: &str,
    seen: &Sighting,
    now: DateTime<Utc>,
) -> Result<Session, ApiError> {
    let username = r.username.trim().to_ascii_lowercase();
    if username.is_empty()
        || username.len() > max::LOGIN_NAME
        || r.password.is_empty()
        || r.password.len() > max::LOGIN_PASSWORD
    {
        return Err(ApiError::InvalidCredentials);
    }
    limits::check_ip(app, "login", ip, now).await?;
    limits::check_name(app, "login", &username, now).await?;
    let member = app.store.member_by_username(&username).await?;
    let matches = password::verify(r.password, member.as_ref().map(|m| m.password_hash.clone())).await?;
    let member = match member {
        Some(m) if matches && m.status != MemberStatus::Deleted => m,
        _ => return Err(ApiError::InvalidCredentials),
    };
    if member.status == MemberStatus::Banned {
        // A ban does not take away erasure and export (API.md): the refusal carries
        // a token for those two routes alone. The device joins the ban.
        moderation::note_banned_login(app, &member.id, seen, now).await?;
        return Err(ApiError::BannedLogin { restricted_token: app.tokens.issue_restricted(&member.id)? });
    }
    moderation::screen_device(app, seen, now).await?;
    moderation::note_entry(app, &member.id, seen, now).await?;
    session(app, &member, now).await
}

#[derive(Debug, serde::Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A rotated refresh token presented again within this long is refused without
/// revoking its session (a concurrent refresh, a retry after a lost answer).
const REUSE_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// Rotates a refresh token: the old one stops working the moment the new pair exists.
pub async fn refresh(app: &App, r: RefreshRequest, now: DateTime<Utc>) -> Result<Session, ApiError> {
    let old = RefreshToken::parse(&r.refresh_token).ok_or(ApiError::InvalidRefreshToken)?;
    if old.kind == PrincipalKind::Member {
        let member = app
            .store
            .get_member(&MemberId::new(old.principal_id.as_str()))
            .await?
            .ok_or(ApiError::InvalidRefreshToken)?;
        match member.status {
            MemberStatus::Active => {}
            MemberStatus::Banned => return Err(ApiError::Banned),
            MemberStatus::Deleted => return Err(ApiError::InvalidRefreshToken),
        }
    }
    if old.kind == PrincipalKind::Operator {
        let id = crate::domain::ids::OperatorId::new(old.principal_id.as_str());
        crate::services::operators::current(app, &id).await.map_err(|e| match e {
            ApiError::Unauthorized => ApiError::InvalidRefreshToken,
            other => other,
        })?;
    }
    // An admin's new access token carries the role of the current record; a
    // removed or deactivated admin's refresh token is dead.
    let role = match old.kind {
        PrincipalKind::Admin => Some(
            crate::services::admins::current(app, &old.principal_id)
                .await
                .map_err(|e| match e {
                    ApiError::Unauthorized => ApiError::InvalidRefreshToken,
                    other => other,
                })?
                .role,
        ),
        _ => None,
    };
    let (token_string, new, expires_at) = RefreshToken::generate(old.kind, &old.principal_id, Some(&old.family), now);
    let rotated = app.store.rotate_refresh_token(old.stored(), new.stored(), now, expires_at).await?;
    if !rotated {
        // A token that was already rotated, presented again, was copied: the whole
        // session (family) ends, and its holder must log in again (OAuth 2.0
        // security best practice, refresh token reuse detection).
        // Within a grace period the same client is the likelier sender (two tabs
        // refreshing at once, a retry after a lost answer): refused, not revoked.
        let reused = app.store.rotated_token_family(old.kind, &old.principal_id, &old.hash, now).await?;
        if let Some((family, rotated_at)) = reused.filter(|(_, at)| now - *at > REUSE_GRACE) {
            let revoked = app.store.revoke_family(old.kind, &old.principal_id, &family).await?;
            tracing::warn!(principal = %old.principal_id, revoked, %rotated_at, "a rotated refresh token was reused: its session ended");
        }
        return Err(ApiError::InvalidRefreshToken);
    }
    let principal = Principal { kind: old.kind, id: old.principal_id, role };
    let token = app.tokens.issue_access(&principal, &new.family)?;
    Ok(Session { token, refresh_token: token_string, user: None })
}

/// POST /me/password: the current password proves it is the member; every other
/// session's refresh tokens are revoked, so whoever knew the old password loses
/// their session at its next refresh. The caller's own session (`session`) stays.
pub async fn change_password(
    app: &App,
    member_id: &MemberId,
    session: Option<&str>,
    current: String,
    new: &str,
) -> Result<(), ApiError> {
    let member = crate::services::active_member(app, member_id).await?;
    let hash = password::replace(&member.password_hash, current, new, validation::password).await?;
    if !app.store.set_member_password(member_id, &hash).await? {
        return Err(ApiError::Unauthorized);
    }
    crate::services::end_sessions(app, &Principal::member(member_id.as_str()), session).await?;
    tracing::info!(%member_id, "member password changed; other sessions ended");
    Ok(())
}

/// Revokes a refresh token. Unknown tokens are fine: logout is idempotent.
pub async fn logout(app: &App, r: RefreshRequest) -> Result<(), ApiError> {
    if let Some(t) = RefreshToken::parse(&r.refresh_token) {
        // The session's WebSockets end with it (its other sessions' stay), when the
        // token was a stored one: a stale token names a family but ends nothing.
        if !app.store.delete_refresh_token(t.kind, &t.principal_id, &t.hash).await? {
            return Ok(());
        }
        let principal = Principal { kind: t.kind, id: t.principal_id.clone(), role: None };
        let ending = crate::domain::realtime::Ending::Session(&t.family);
        crate::services::realtime::end_connections(app, &principal, ending).await;
    }
    Ok(())
}

pub async fn username_available(app: &App, username: &str, ip: &str, now: DateTime<Utc>) -> Result<bool, ApiError> {
    limits::check_ip(app, "username_available", ip, now).await?;
    let u = Username::parse(username).map_err(|e| ApiError::invalid("username", e))?;
    Ok(!app.store.username_taken(u.as_str()).await?)
}

pub async fn me(app: &App, member_id: &MemberId) -> Result<MemberView, ApiError> {
    Ok(MemberView::from(&crate::services::active_member(app, member_id).await?))
}

/// PATCH /me: only the listed fields, each validated; `null` clears an optional one.
pub async fn update_me(
    app: &App,
    member_id: &MemberId,
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<MemberView, ApiError> {
    use serde_json::Value;
    crate::services::active_member(app, member_id).await?;
    let mut f = FieldErrors::new();
    let mut ch = ProfileChanges::default();
    let known = ["display_name", "email", "location", "latitude", "longitude", "bio", "looking_for", "language"];
    if !body.keys().any(|k| known.contains(&k.as_str())) {
        f.add("body", format!("must contain at least one of {}", known.join(", ")));
    }
    let text = |v: &Value, min, max| match v {
        Value::String(s) => validation::text(s, min, max),
        _ => Err("must be a string".to_string()),
    };
    let line = |v: &Value, min, max| match v {
        Value::String(s) => validation::line(s, min, max),
        _ => Err("must be a string".to_string()),
    };
    let number = |v: &Value| v.as_f64().ok_or_else(|| "must be a number".to_string());
    let nullable = |v: &Value| !v.is_null();
    for (k, v) in &body {
        match k.as_str() {
            "display_name" => {
                ch.display_name = Some(nullable(v).then(|| f.check(k, line(v, 1, max::DISPLAY_NAME))).flatten())
            }
            "bio" => {
                ch.bio = Some(nullable(v).then(|| f.check(k, text(v, 0, max::BIO))).flatten().filter(|b| !b.is_empty()))
            }
            "email" => {
                ch.email = Some(
                    nullable(v)
                        .then(|| f.check(k, text(v, 3, max::EMAIL).and_then(|e| validation::email(&e))))
                        .flatten(),
                )
            }
            "language" => {
                ch.language = Some(
                    nullable(v).then(|| f.check(k, text(v, 2, 10).and_then(|l| validation::language(&l)))).flatten(),
                )
            }
            "location" => ch.location = f.check(k, line(v, 1, max::LOCATION)),
            "looking_for" => {
                let parsed =
                    v.as_str().and_then(LookingFor::parse).ok_or_else(|| "must be male, female or both".to_string());
                ch.looking_for = f.check(k, parsed);
            }
            "latitude" => {
                ch.latitude = Some(nullable(v).then(|| f.check(k, number(v).and_then(validation::latitude))).flatten())
            }
            "longitude" => {
                ch.longitude =
                    Some(nullable(v).then(|| f.check(k, number(v).and_then(validation::longitude))).flatten())
            }
            _ => {}
        }
    }
    f.into_result()?;
    let updated = app.store.update_profile(member_id, &ch).await?.ok_or(ApiError::Unauthorized)?;
    Ok(MemberView::from(&updated))
}

/// The member's notifications, newest first.
pub async fn notifications(
    app: &App,
    member_id: &MemberId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<crate::store::Page<crate::store::Notification>, ApiError> {
    crate::services::active_member(app, member_id).await?;
    Ok(app.store.member_notifications(member_id, cursor, limit).await?)
}

/// Marks one of the member's notifications read; someone else's is a 404.
pub async fn read_notification(app: &App, member_id: &MemberId, id: &str) -> Result<(), ApiError> {
    crate::services::active_member(app, member_id).await?;
    if app.store.mark_notification_read(member_id, id).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound("notification"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RegisterRequest {
        RegisterRequest {
            username: "amina_k".into(),
            password: "s3cret-pass".into(),
            display_name: None,
            email: None,
            age: 25,
            gender: "female".into(),
            looking_for: "male".into(),
            location: "Nairobi".into(),
            latitude: None,
            longitude: None,
            language: None,
        }
    }

    #[test]
    fn registration_reports_every_bad_field_at_once() {
        let r = RegisterRequest {
            age: 17,
            username: "A!".into(),
            password: "short".into(),
            gender: "x".into(),
            ..request()
        };
        let Err(ApiError::Validation(f)) = validate_registration(r, Utc::now()) else { panic!("expected 422") };
        let fields: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(fields, vec!["age", "gender", "password", "username"]);
    }

    #[test]
    fn a_valid_registration_starts_with_no_credits_on_the_free_tier() {
        let v = validate_registration(request(), Utc::now()).ok().unwrap();
        assert_eq!(
            (v.member.balance, v.member.tier, v.member.status),
            (Credits::ZERO, Tier::Free, MemberStatus::Active)
        );
        assert!(v.member.id.starts_with("m_"));
    }
}
