//! The operator console (the operator function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};

use super::Function::*;
use super::{route, Answer, MessageBody, PasswordChange, Route};
use crate::domain::ids::ChatId;
use crate::error::ApiError;
use crate::http::{ClientIp, JsonBody, ListParams, Now, OperatorAuth, OptionalJson, Path, SessionId};
use crate::services::{moderation, operators};
use crate::{http, App};

/// The operator console's routes.
pub const OPERATOR: &[Route] = &[
    route("POST", "/operator/login", Operator, || post(operator_login)),
    route("POST", "/operator/password", Operator, || post(operator_password)),
    route("POST", "/operator/availability", Operator, || post(operator_availability)),
    route("POST", "/operator/heartbeat", Operator, || post(operator_heartbeat)),
    route("GET", "/operator/assignments", Operator, || get(operator_assignments)),
    route("GET", "/operator/chats/{id}", Operator, || get(operator_chat)),
    route("PUT", "/operator/chats/{id}/notes", Operator, || put(operator_notes)),
    route("POST", "/operator/chats/{id}/messages", Operator, || post(operator_reply)),
    route("POST", "/operator/chats/{id}/release", Operator, || post(operator_release)),
    route("GET", "/operator/notifications", Operator, || get(operator_notifications)),
    route("POST", "/operator/notifications/{id}/read", Operator, || post(operator_notification_read)),
    route("PATCH", "/operator/me", Operator, || patch(operator_update_me)),
    route("POST", "/operator/chats/{id}/report", Operator, || post(operator_report)),
    route("GET", "/operator/stats", Operator, || get(operator_stats)),
];

#[derive(serde::Deserialize)]
struct OperatorLogin {
    email: String,
    password: String,
}

async fn operator_login(
    State(app): State<App>,
    ip: ClientIp,
    Now(now): Now,
    JsonBody(r): JsonBody<OperatorLogin>,
) -> Answer {
    http::json(StatusCode::OK, &operators::login(&app, &r.email, r.password, &ip.0, now).await?)
}

async fn operator_password(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    SessionId(session): SessionId,
    JsonBody(r): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    operators::change_password(&app, &id, session.as_deref(), r.current_password, &r.new_password).await?;
    Ok(http::empty())
}

#[derive(serde::Deserialize)]
struct Availability {
    available: bool,
}

async fn operator_availability(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    JsonBody(r): JsonBody<Availability>,
) -> Answer {
    http::json(StatusCode::OK, &operators::set_availability(&app, &id, r.available, now).await?)
}

async fn operator_heartbeat(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
) -> Result<StatusCode, ApiError> {
    operators::heartbeat(&app, &id, now).await?;
    Ok(http::empty())
}

async fn operator_assignments(State(app): State<App>, OperatorAuth(id): OperatorAuth, Now(now): Now) -> Answer {
    http::json(StatusCode::OK, &operators::waiting_room(&app, &id, now).await?)
}

async fn operator_chat(State(app): State<App>, OperatorAuth(id): OperatorAuth, Path(chat): Path<ChatId>) -> Answer {
    http::json(StatusCode::OK, &operators::chat_view(&app, &id, &chat).await?)
}

#[derive(serde::Deserialize)]
struct Notes {
    member_notes: Option<String>,
    character_notes: Option<String>,
}

async fn operator_notes(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat): Path<ChatId>,
    JsonBody(r): JsonBody<Notes>,
) -> Answer {
    operators::save_notes(&app, &id, &chat, r.member_notes.as_deref(), r.character_notes.as_deref(), now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "saved": true }))
}

async fn operator_reply(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat): Path<ChatId>,
    JsonBody(r): JsonBody<MessageBody>,
) -> Answer {
    http::json(StatusCode::CREATED, &operators::reply(&app, &id, &chat, r.content, now).await?)
}

#[derive(serde::Deserialize)]
struct Release {
    note: Option<String>,
}

async fn operator_release(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat): Path<ChatId>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let Release { note } = match body {
        Some(b) => http::from_object(b)?,
        None => Release { note: None },
    };
    let outcome = operators::release(&app, &id, &chat, note.as_deref(), now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "released": true, "outcome": outcome }))
}

async fn operator_notifications(State(app): State<App>, OperatorAuth(id): OperatorAuth, p: ListParams) -> Answer {
    http::list(&operators::notifications(&app, &id, p.cursor.as_deref(), p.limit).await?)
}

async fn operator_notification_read(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Path(notification): Path<String>,
    _body: OptionalJson,
) -> Result<StatusCode, ApiError> {
    operators::read_notification(&app, &id, &notification).await?;
    Ok(http::empty())
}

async fn operator_update_me(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    JsonBody(r): JsonBody<operators::SkillsChange>,
) -> Answer {
    http::json(StatusCode::OK, &operators::update_me(&app, &id, r).await?)
}

async fn operator_report(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat_id): Path<ChatId>,
    JsonBody(r): JsonBody<moderation::ReportRequest>,
) -> Answer {
    http::json(StatusCode::CREATED, &moderation::report(&app, &id, &chat_id, r, now).await?)
}

async fn operator_stats(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    p: ListParams,
) -> Answer {
    let days = match p.get("days") {
        None => None,
        Some(d) => Some(d.parse::<i64>().map_err(|_| ApiError::invalid("days", "must be a whole number"))?),
    };
    http::json(StatusCode::OK, &operators::stats(&app, &id, days, now).await?)
}
