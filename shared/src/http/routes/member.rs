//! The member's own routes: profile, chats, favorites, credits, notifications, erasure (the member function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};

use super::Function::*;
use super::{idempotency, route, Answer, PasswordChange, Route};
use crate::domain::ids::{CharacterId, ChatId};
use crate::error::ApiError;
use crate::http::{IdempotencyKey, JsonBody, ListParams, MemberAuth, MemberRightsAuth, Now, Path, RawJson, SessionId};
use crate::services::{accounts, catalog, chats, deletion, operators, payments};
use crate::{http, App};

pub const MEMBER: &[Route] = &[
    route("GET", "/me", Member, || get(me)),
    route("PATCH", "/me", Member, || patch(update_me)),
    route("POST", "/me/password", Member, || post(member_password)),
    route("POST", "/chats", Member, || post(open_chat)),
    route("GET", "/chats", Member, || get(list_chats)),
    route("GET", "/chats/{id}/messages", Member, || get(list_messages)),
    route("GET", "/favorites", Member, || get(favorites)),
    route("PUT", "/favorites/{profile_id}", Member, || put(add_favorite)),
    route("DELETE", "/favorites/{profile_id}", Member, || delete(remove_favorite)),
    route("GET", "/me/export", Member, || get(export_me)),
    route("POST", "/credits/checkout", Member, || post(checkout)),
    route("GET", "/credits/transactions", Member, || get(transactions)),
    route("GET", "/notifications", Member, || get(notifications)),
    route("POST", "/notifications/{id}/read", Member, || post(read_notification)),
    route("POST", "/chats/{id}/rating", Member, || post(rate_chat)),
];

async fn me(State(app): State<App>, MemberAuth(id): MemberAuth) -> Answer {
    http::json(StatusCode::OK, &accounts::me(&app, &id).await?)
}

async fn update_me(State(app): State<App>, MemberAuth(id): MemberAuth, RawJson(body, _): RawJson) -> Answer {
    http::json(StatusCode::OK, &accounts::update_me(&app, &id, body).await?)
}

async fn member_password(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    SessionId(session): SessionId,
    JsonBody(r): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    accounts::change_password(&app, &id, session.as_deref(), r.current_password, &r.new_password).await?;
    Ok(http::empty())
}

#[derive(serde::Deserialize)]
struct OpenChat {
    profile_id: CharacterId,
}

async fn open_chat(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    JsonBody(r): JsonBody<OpenChat>,
) -> Answer {
    let (chat, created) = chats::open_chat(&app, &id, &r.profile_id, now).await?;
    http::json(if created { StatusCode::CREATED } else { StatusCode::OK }, &chat)
}

async fn list_chats(State(app): State<App>, MemberAuth(id): MemberAuth, p: ListParams) -> Answer {
    http::list(&chats::list_chats(&app, &id, p.cursor.as_deref(), p.limit).await?)
}

async fn list_messages(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Path(chat): Path<ChatId>,
    p: ListParams,
) -> Answer {
    http::list(&chats::list_messages(&app, &id, &chat, p.get("after"), p.cursor.as_deref(), p.limit).await?)
}

async fn favorites(State(app): State<App>, MemberAuth(id): MemberAuth, Now(now): Now, p: ListParams) -> Answer {
    http::list(&catalog::favorites(&app, &id, p.cursor.as_deref(), p.limit, now).await?)
}

async fn add_favorite(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(profile): Path<CharacterId>,
) -> Result<StatusCode, ApiError> {
    catalog::add_favorite(&app, &id, &profile, now).await?;
    Ok(http::empty())
}

async fn remove_favorite(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Path(profile): Path<CharacterId>,
) -> Result<StatusCode, ApiError> {
    catalog::remove_favorite(&app, &id, &profile).await?;
    Ok(http::empty())
}

#[derive(serde::Deserialize)]
struct CheckoutBody {
    package_id: String,
}

async fn checkout(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    IdempotencyKey(key): IdempotencyKey,
    RawJson(body, bytes): RawJson,
) -> Answer {
    let CheckoutBody { package_id } = http::from_object(body)?;
    let idem = idempotency(key.as_deref(), "checkout", &bytes);
    http::json(StatusCode::CREATED, &payments::checkout(&app, &id, &package_id, idem, now).await?)
}

async fn transactions(State(app): State<App>, MemberAuth(id): MemberAuth, p: ListParams) -> Answer {
    http::list(&payments::transactions(&app, &id, p.cursor.as_deref(), p.limit).await?)
}

async fn notifications(State(app): State<App>, MemberAuth(id): MemberAuth, p: ListParams) -> Answer {
    http::list(&accounts::notifications(&app, &id, p.cursor.as_deref(), p.limit).await?)
}

async fn read_notification(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Path(n): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::read_notification(&app, &id, &n).await?;
    Ok(http::empty())
}

async fn export_me(State(app): State<App>, MemberRightsAuth(id): MemberRightsAuth) -> Answer {
    http::json(StatusCode::OK, &deletion::export(&app, &id).await?)
}

#[derive(serde::Deserialize)]
struct RatingBody {
    rating: i64,
}

async fn rate_chat(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(chat): Path<ChatId>,
    JsonBody(r): JsonBody<RatingBody>,
) -> Answer {
    operators::rate(&app, &id, &chat, r.rating, now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "rating": r.rating }))
}
