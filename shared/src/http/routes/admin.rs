//! The back office (the admin function) and the first admin's setup (the
//! bootstrap-admin function).
//!
//! Every admin route names what it needs (`Access`) in its entry of `ADMIN`: the
//! router puts the gate in front of it from that entry, and the permission matrix
//! test (tests/admin_matrix.rs) walks the same table. A route without an entry
//! cannot be served.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};

use super::Function::*;
use super::{admin_route, desk, money, route, Answer, PasswordChange, Route};
use crate::domain::admin::Access::{self, AnyAdmin, AnyOf, Needs, Open};
use crate::domain::admin::Permission::{
    BanMembers, ManageAdmins, ManageCharacters, ManageChats, ManageMembers, ManageOperators, ManagePayments,
    ModerateChats, SystemSettings, ViewAnalytics,
};
use crate::domain::ids::{ChatId, MemberId, OperatorId};
use crate::error::ApiError;
use crate::http::{ClientIp, CurrentAdmin, JsonBody, ListParams, Now, OptionalJson, Path, SessionId};
use crate::services::{admins, moderation, staff};
use crate::{http, App};

/// The first admin's setup: no token; the setup token is in the body.
pub const BOOTSTRAP_ADMIN: &[Route] = &[
    route("GET", "/setup", BootstrapAdmin, || get(setup_status)),
    route("POST", "/setup", BootstrapAdmin, || post(setup)),
];

/// The admin routes, each with what it needs.
pub const ADMIN: &[Route] = &[
    admin_route("POST", "/admin/login", Open, || post(login)),
    admin_route("GET", "/admin/me", AnyAdmin, || get(me)),
    admin_route("POST", "/admin/me/password", AnyAdmin, || post(change_password)),
    admin_route("POST", "/admin/me/totp", AnyAdmin, || post(totp_enrol)),
    admin_route("POST", "/admin/me/totp/confirm", AnyAdmin, || post(totp_confirm)),
    admin_route("POST", "/admin/me/totp/disable", AnyAdmin, || post(totp_disable)),
    admin_route("GET", "/admin/admins", Needs(ManageAdmins), || get(list_admins)),
    admin_route("POST", "/admin/admins", Needs(ManageAdmins), || post(create_admin)),
    admin_route("PATCH", "/admin/admins/{id}", Needs(ManageAdmins), || patch(update_admin)),
    admin_route("DELETE", "/admin/admins/{id}", Needs(ManageAdmins), || delete(delete_admin)),
    admin_route("GET", "/admin/audit", Needs(ManageAdmins), || get(audit)),
    admin_route("GET", "/admin/notifications", AnyAdmin, || get(notifications)),
    admin_route("POST", "/admin/notifications/{id}/read", AnyAdmin, || post(read_notification)),
    admin_route("GET", "/admin/operators", Needs(ManageOperators), || get(list_operators)),
    admin_route("POST", "/admin/operators", Needs(ManageOperators), || post(create_operator)),
    admin_route("PATCH", "/admin/operators/{id}", Needs(ManageOperators), || patch(edit_operator)),
    admin_route("DELETE", "/admin/operators/{id}", Needs(ManageOperators), || delete(delete_operator)),
    admin_route("POST", "/admin/operators/{id}/suspend", Needs(ManageOperators), || post(suspend_operator)),
    admin_route("POST", "/admin/operators/{id}/reactivate", Needs(ManageOperators), || post(reactivate_operator)),
    admin_route("GET", "/admin/members", AnyOf(&[ManageMembers, BanMembers]), || get(search_members)),
    admin_route("GET", "/admin/members/{id}", AnyOf(&[ManageMembers, BanMembers]), || get(member_detail)),
    admin_route("POST", "/admin/members/{id}/ban", Needs(BanMembers), || post(ban_member)),
    admin_route("POST", "/admin/members/{id}/unban", Needs(BanMembers), || post(unban_member)),
    admin_route("GET", "/admin/reports", Needs(ModerateChats), || get(list_reports)),
    admin_route("POST", "/admin/reports/{id}/resolve", Needs(ModerateChats), || post(resolve_report)),
    admin_route("PATCH", "/admin/chats/{id}/messages/{message_id}", CHAT_STAFF, || patch(edit_message)),
    admin_route("GET", "/admin/chats/{id}/messages/{message_id}/history", CHAT_STAFF, || get(message_history)),
    admin_route("POST", "/admin/chats/{id}/close", CHAT_STAFF, || post(close_chat)),
    admin_route("POST", "/admin/characters/{id}/photos/upload-url", Needs(ManageCharacters), || {
        post(super::media::upload_url)
    }),
    admin_route("GET", "/admin/media", Needs(ManageCharacters), || get(super::media::list)),
    admin_route("POST", "/admin/media/{photo_id}/approve", Needs(ManageCharacters), || post(super::media::approve)),
    admin_route("DELETE", "/admin/media/{photo_id}", Needs(ManageCharacters), || delete(super::media::discard)),
    admin_route("GET", "/admin/chats", CHAT_STAFF, || get(desk::list_chats)),
    admin_route("GET", "/admin/chats/{id}", CHAT_STAFF, || get(desk::chat_detail)),
    admin_route("POST", "/admin/chats/{id}/reassign", Needs(ManageChats), || post(desk::reassign_chat)),
    admin_route("GET", "/admin/characters", Needs(ManageCharacters), || get(desk::list_characters)),
    admin_route("POST", "/admin/characters", Needs(ManageCharacters), || post(desk::create_character)),
    admin_route("PATCH", "/admin/characters/{id}", Needs(ManageCharacters), || patch(desk::update_character)),
    admin_route("DELETE", "/admin/characters/{id}", Needs(ManageCharacters), || delete(desk::delete_character)),
    admin_route("GET", "/admin/settings", AnyAdmin, || get(desk::get_settings)),
    admin_route("PUT", "/admin/settings", Needs(SystemSettings), || put(desk::put_settings)),
    admin_route("GET", "/admin/payments", Needs(ManagePayments), || get(money::list_payments)),
    admin_route("POST", "/admin/payments/{reference}/reconcile", Needs(ManagePayments), || {
        post(money::reconcile_payment)
    }),
    admin_route("GET", "/admin/refunds", Needs(ManagePayments), || get(money::list_refunds)),
    admin_route("POST", "/admin/refunds", Needs(ManagePayments), || post(money::create_refund)),
    admin_route("POST", "/admin/refunds/{id}/approve", Needs(ManagePayments), || post(money::approve_refund)),
    admin_route("POST", "/admin/refunds/{id}/reject", Needs(ManagePayments), || post(money::reject_refund)),
    admin_route("GET", "/admin/payouts", Needs(ManagePayments), || get(money::list_payouts)),
    admin_route("POST", "/admin/payouts/{id}/paid", Needs(ManagePayments), || post(money::payout_paid)),
    admin_route("GET", "/admin/packages", Needs(ManagePayments), || get(money::list_packages)),
    admin_route("POST", "/admin/packages", Needs(ManagePayments), || post(money::create_package)),
    admin_route("PATCH", "/admin/packages/{id}", Needs(ManagePayments), || patch(money::update_package)),
    admin_route("GET", "/admin/stats", Needs(ViewAnalytics), || get(money::stats)),
];

/// The chat routes' access: `manage_chats` or `moderate_chats`.
const CHAT_STAFF: Access = AnyOf(&[ManageChats, ModerateChats]);

/// What `route` needs, if it is an admin route.
pub fn access_of(method: &str, path: &str) -> Option<Access> {
    super::admin_routes().find(|r| r.method == method && r.path == path).and_then(|r| r.access)
}

async fn setup_status(State(app): State<App>) -> Answer {
    http::json(StatusCode::OK, &serde_json::json!({ "available": admins::setup_available(&app).await? }))
}

async fn setup(
    State(app): State<App>,
    ip: ClientIp,
    Now(now): Now,
    JsonBody(r): JsonBody<admins::SetupRequest>,
) -> Answer {
    http::json(StatusCode::CREATED, &admins::setup(&app, r, &ip.0, now).await?)
}

#[derive(serde::Deserialize)]
struct Login {
    email: String,
    password: String,
    totp_code: Option<String>,
}

async fn login(State(app): State<App>, ip: ClientIp, Now(now): Now, JsonBody(r): JsonBody<Login>) -> Answer {
    let session = admins::login(&app, &r.email, r.password, r.totp_code.as_deref(), &ip.0, now).await?;
    http::json(StatusCode::OK, &session)
}

async fn me(CurrentAdmin(me): CurrentAdmin) -> Answer {
    http::json(StatusCode::OK, &admins::AdminView::from(&me))
}

async fn change_password(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    SessionId(session): SessionId,
    Now(now): Now,
    JsonBody(r): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    admins::change_password(&app, &me, session.as_deref(), r.current_password, &r.new_password, now).await?;
    Ok(http::empty())
}

async fn totp_enrol(State(app): State<App>, CurrentAdmin(me): CurrentAdmin, Now(now): Now) -> Answer {
    http::json(StatusCode::CREATED, &admins::totp_enrol(&app, &me, now).await?)
}

#[derive(serde::Deserialize)]
struct Code {
    code: String,
}

async fn totp_confirm(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    SessionId(session): SessionId,
    Now(now): Now,
    JsonBody(r): JsonBody<Code>,
) -> Answer {
    http::json(StatusCode::OK, &admins::totp_confirm(&app, &me, session.as_deref(), &r.code, now).await?)
}

#[derive(serde::Deserialize)]
struct PasswordOnly {
    password: String,
}

async fn totp_disable(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(r): JsonBody<PasswordOnly>,
) -> Answer {
    http::json(StatusCode::OK, &admins::totp_disable(&app, &me, r.password, now).await?)
}

async fn list_admins(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&admins::list(&app, p.cursor.as_deref(), p.limit).await?)
}

async fn create_admin(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(r): JsonBody<admins::NewAdmin>,
) -> Answer {
    http::json(StatusCode::CREATED, &admins::create(&app, &me, r, now).await?)
}

async fn update_admin(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<admins::ChangeRequest>,
) -> Answer {
    http::json(StatusCode::OK, &admins::update(&app, &me, &id, r, now).await?)
}

async fn delete_admin(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admins::delete(&app, &me, &id, now).await?;
    Ok(http::empty())
}

async fn audit(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&admins::audit(&app, p.get("admin_id"), p.cursor.as_deref(), p.limit).await?)
}

async fn notifications(State(app): State<App>, CurrentAdmin(me): CurrentAdmin, p: ListParams) -> Answer {
    let unread = match p.get("unread") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("unread", "must be true or false")),
    };
    http::list(&admins::notifications(&app, &me, unread, p.cursor.as_deref(), p.limit).await?)
}

async fn read_notification(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    _body: OptionalJson,
) -> Result<StatusCode, ApiError> {
    admins::read_notification(&app, &me, &id, now).await?;
    Ok(http::empty())
}

/// `?status=deleted` lists the former operators (soft-deleted; their history stays).
async fn list_operators(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    match p.get("status") {
        None | Some("current") => http::list(&staff::list(&app, p.cursor.as_deref(), p.limit).await?),
        Some("deleted") => http::list(&staff::list_former(&app, p.cursor.as_deref(), p.limit).await?),
        Some(_) => Err(ApiError::invalid("status", "must be current or deleted")),
    }
}

async fn create_operator(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(r): JsonBody<staff::NewOperator>,
) -> Answer {
    http::json(StatusCode::CREATED, &staff::create(&app, &me, r, now).await?)
}

async fn edit_operator(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<OperatorId>,
    JsonBody(r): JsonBody<staff::OperatorEdit>,
) -> Answer {
    http::json(StatusCode::OK, &staff::edit(&app, &me, &id, r, now).await?)
}

async fn suspend_operator(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<OperatorId>,
    JsonBody(r): JsonBody<staff::SuspendRequest>,
) -> Answer {
    http::json(StatusCode::OK, &staff::suspend_by_admin(&app, &me, &id, r, now).await?)
}

async fn reactivate_operator(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<OperatorId>,
    _body: OptionalJson,
) -> Answer {
    http::json(StatusCode::OK, &staff::reactivate(&app, &me, &id, now).await?)
}

async fn delete_operator(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<OperatorId>,
) -> Result<StatusCode, ApiError> {
    staff::delete(&app, &me, &id, now).await?;
    Ok(http::empty())
}

async fn search_members(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&moderation::search(&app, p.get("q"), p.cursor.as_deref(), p.limit).await?)
}

async fn member_detail(State(app): State<App>, _: CurrentAdmin, Path(id): Path<MemberId>) -> Answer {
    http::json(StatusCode::OK, &moderation::detail(&app, &id).await?)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    reason: String,
}

async fn ban_member(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<MemberId>,
    JsonBody(r): JsonBody<BanRequest>,
) -> Answer {
    http::json(StatusCode::OK, &moderation::ban(&app, &me, &id, &r.reason, now).await?)
}

async fn unban_member(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<MemberId>,
    _body: OptionalJson,
) -> Answer {
    http::json(StatusCode::OK, &moderation::unban(&app, &me, &id, now).await?)
}

async fn list_reports(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&moderation::reports(&app, p.get("status"), p.cursor.as_deref(), p.limit).await?)
}

async fn resolve_report(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<moderation::Resolve>,
) -> Answer {
    http::json(StatusCode::OK, &moderation::resolve(&app, &me, &id, r, now).await?)
}

async fn edit_message(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path((chat_id, message_id)): Path<(ChatId, String)>,
    JsonBody(r): JsonBody<moderation::EditRequest>,
) -> Answer {
    http::json(StatusCode::OK, &moderation::edit_message(&app, &me, &chat_id, &message_id, r, now).await?)
}

async fn message_history(
    State(app): State<App>,
    _: CurrentAdmin,
    Path((chat_id, message_id)): Path<(ChatId, String)>,
) -> Answer {
    let items = moderation::message_history(&app, &chat_id, &message_id).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "items": items }))
}

async fn close_chat(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(chat_id): Path<ChatId>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let reason = super::reason_of(&body)?;
    http::json(StatusCode::OK, &moderation::close_chat(&app, &me, &chat_id, reason, now).await?)
}
