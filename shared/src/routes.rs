//! The route table: every HTTP route, the Lambda function that serves it, and its
//! handler. Each function serves its slice; the local stack serves them all.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::{
    self, ClientIp, IdempotencyKey, JsonBody, ListParams, MemberAuth, MemberRightsAuth, Now, OperatorAuth,
    OptionalJson, Path, RawBody, RawJson, SessionId,
};
use crate::services::idempotent::{Idempotency, Reply};
use crate::services::{accounts, catalog, chats, deletion, operators, payments, send_message};
use crate::App;

/// The Lambda functions that serve HTTP routes (binary names in infra/template.yaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    PublicApi,
    Auth,
    Member,
    SendMessage,
    ProcessPayment,
    Operator,
}

impl Function {
    pub fn binary(self) -> &'static str {
        match self {
            Function::PublicApi => "public-api",
            Function::Auth => "auth",
            Function::Member => "member",
            Function::SendMessage => "send-message",
            Function::ProcessPayment => "process-payment",
            Function::Operator => "operator",
        }
    }
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    handler: fn() -> MethodRouter<App>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: Function,
    handler: fn() -> MethodRouter<App>,
) -> Route {
    Route { method, path, function, handler }
}

use Function::*;

/// Public routes: no token, read-only.
pub const PUBLIC_API: &[Route] = &[
    route("GET", "/health", PublicApi, || get(health)),
    route("GET", "/config", PublicApi, || get(config)),
    route("GET", "/auth/username-available", PublicApi, || get(username_available)),
    route("GET", "/profiles", PublicApi, || get(list_profiles)),
    route("GET", "/profiles/{id}", PublicApi, || get(get_profile)),
    route("GET", "/credits/packages", PublicApi, || get(packages)),
];

pub const AUTH: &[Route] = &[
    route("POST", "/auth/register", Auth, || post(register)),
    route("POST", "/auth/login", Auth, || post(login)),
    route("POST", "/auth/refresh", Auth, || post(refresh)),
    route("POST", "/auth/logout", Auth, || post(logout)),
];

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
    route("DELETE", "/me", Member, || delete(delete_me)),
    route("GET", "/me/export", Member, || get(export_me)),
    route("POST", "/credits/checkout", Member, || post(checkout)),
    route("GET", "/credits/transactions", Member, || get(transactions)),
    route("GET", "/notifications", Member, || get(notifications)),
    route("POST", "/notifications/{id}/read", Member, || post(read_notification)),
    route("POST", "/chats/{id}/rating", Member, || post(rate_chat)),
];

pub const SEND_MESSAGE: &[Route] = &[route("POST", "/chats/{id}/messages", SendMessage, || post(send))];

pub const PROCESS_PAYMENT: &[Route] = &[route("POST", "/webhooks/paystack", ProcessPayment, || post(paystack_webhook))];

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
];

/// Every function's routes: what the local stack serves. A Lambda names only its
/// own slice, so its binary links only its own handlers.
pub const ALL: &[&[Route]] = &[PUBLIC_API, AUTH, MEMBER, SEND_MESSAGE, PROCESS_PAYMENT, OPERATOR];

/// The router for some slices of the route table: one function's, or `ALL`.
pub fn router(app: App, slices: &[&[Route]]) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<App>> = BTreeMap::new();
    for r in slices.iter().flat_map(|s| s.iter()) {
        let handler = (r.handler)();
        let merged = match by_path.remove(r.path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        by_path.insert(r.path, merged);
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods);
    }
    router
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// One log line per request (never bodies or tokens), marked on a cold start; the
/// request's time budget.
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let cold_start = app.take_cold_start();
    // A request that outlives its budget answers 503 `unavailable` (outcome
    // unknown) before API Gateway or Lambda cut it off with a bare 5xx.
    let mut res = match tokio::time::timeout(app.config.timeouts.request, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%method, route, "request timed out: answering 503");
            ApiError::Unavailable.into_response()
        }
    };
    res.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    tracing::info!(%method, route, status = res.status().as_u16(), ms = started.elapsed().as_millis() as u64, cold_start, "request");
    res
}

type Answer = Result<http::Json, ApiError>;

async fn health() -> http::Json {
    http::Json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

async fn config(State(app): State<App>) -> Answer {
    http::json(StatusCode::OK, &catalog::public_config(&app))
}

async fn username_available(State(app): State<App>, ip: ClientIp, Now(now): Now, p: ListParams) -> Answer {
    let username = p.get("username").ok_or_else(|| ApiError::invalid("username", "is required"))?;
    let available = accounts::username_available(&app, username, &ip.0, now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "available": available }))
}

async fn list_profiles(State(app): State<App>, p: ListParams) -> Answer {
    let page = catalog::list_profiles(&app, p.get("gender"), p.get("q"), p.cursor.as_deref(), p.limit).await?;
    http::list(&page)
}

async fn get_profile(State(app): State<App>, Path(id): Path<String>) -> Answer {
    http::json(StatusCode::OK, &catalog::get_profile(&app, &id).await?)
}

async fn packages(State(app): State<App>) -> Answer {
    http::json(StatusCode::OK, &serde_json::json!({ "items": catalog::packages(&app).await? }))
}

async fn register(
    State(app): State<App>,
    ip: ClientIp,
    Now(now): Now,
    JsonBody(r): JsonBody<accounts::RegisterRequest>,
) -> Answer {
    http::json(StatusCode::CREATED, &accounts::register(&app, r, &ip.0, now).await?)
}

async fn login(
    State(app): State<App>,
    ip: ClientIp,
    Now(now): Now,
    JsonBody(r): JsonBody<accounts::LoginRequest>,
) -> Answer {
    http::json(StatusCode::OK, &accounts::login(&app, r, &ip.0, now).await?)
}

async fn refresh(State(app): State<App>, Now(now): Now, JsonBody(r): JsonBody<accounts::RefreshRequest>) -> Answer {
    http::json(StatusCode::OK, &accounts::refresh(&app, r, now).await?)
}

async fn logout(
    State(app): State<App>,
    JsonBody(r): JsonBody<accounts::RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    accounts::logout(&app, r).await?;
    Ok(http::empty())
}

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
    profile_id: String,
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
    Path(chat): Path<String>,
    p: ListParams,
) -> Answer {
    http::list(&chats::list_messages(&app, &id, &chat, p.get("after"), p.cursor.as_deref(), p.limit).await?)
}

async fn favorites(State(app): State<App>, MemberAuth(id): MemberAuth, p: ListParams) -> Answer {
    http::list(&catalog::favorites(&app, &id, p.cursor.as_deref(), p.limit).await?)
}

async fn add_favorite(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(profile): Path<String>,
) -> Result<StatusCode, ApiError> {
    catalog::add_favorite(&app, &id, &profile, now).await?;
    Ok(http::empty())
}

async fn remove_favorite(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Path(profile): Path<String>,
) -> Result<StatusCode, ApiError> {
    catalog::remove_favorite(&app, &id, &profile).await?;
    Ok(http::empty())
}

#[derive(serde::Deserialize)]
struct SendBody {
    content: String,
}

async fn send(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(chat): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    RawJson(body, bytes): RawJson,
) -> Result<Response, ApiError> {
    let SendBody { content } = http::from_object(body)?;
    let idem = idempotency(key.as_deref(), &chat, &bytes);
    reply(send_message::send_message(&app, &id, &chat, content, idem, now).await?)
}

/// The request hash an Idempotency-Key is bound to: the target and the exact body.
fn idempotency<'a>(key: Option<&'a str>, target: &str, body: &[u8]) -> Option<Idempotency<'a>> {
    key.map(|k| Idempotency {
        key: k,
        request_hash: hex::encode(Sha256::digest([target.as_bytes(), b"\n", body].concat())),
    })
}

fn reply(r: Reply) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(r.status).map_err(ApiError::internal)?;
    Ok((status, [("content-type", "application/json")], r.body).into_response())
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
) -> Result<Response, ApiError> {
    let CheckoutBody { package_id } = http::from_object(body)?;
    let idem = idempotency(key.as_deref(), "checkout", &bytes);
    reply(payments::checkout(&app, &id, &package_id, idem, now).await?)
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

async fn delete_me(
    State(app): State<App>,
    MemberRightsAuth(id): MemberRightsAuth,
    Now(now): Now,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let reason = match body.as_ref().and_then(|b| b.get("reason")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(r)) => Some(r.as_str()),
        Some(_) => return Err(ApiError::invalid("reason", "must be a string")),
    };
    http::json(StatusCode::OK, &deletion::delete_me(&app, &id, reason, now).await?)
}

async fn export_me(State(app): State<App>, MemberRightsAuth(id): MemberRightsAuth) -> Answer {
    Ok(http::Json(StatusCode::OK, deletion::export(&app, &id).await?))
}

async fn paystack_webhook(
    State(app): State<App>,
    Now(now): Now,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> Answer {
    let signature = headers.get("x-paystack-signature").and_then(|v| v.to_str().ok());
    payments::handle_webhook(&app, &body, signature, now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "received": true }))
}

#[derive(serde::Deserialize)]
struct RatingBody {
    rating: i64,
}

async fn rate_chat(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(chat): Path<String>,
    JsonBody(r): JsonBody<RatingBody>,
) -> Answer {
    operators::rate(&app, &id, &chat, r.rating, now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "rating": r.rating }))
}

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

#[derive(serde::Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
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
    Ok(http::Json(StatusCode::OK, operators::waiting_room(&app, &id, now).await?))
}

async fn operator_chat(State(app): State<App>, OperatorAuth(id): OperatorAuth, Path(chat): Path<String>) -> Answer {
    Ok(http::Json(StatusCode::OK, operators::chat_view(&app, &id, &chat).await?))
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
    Path(chat): Path<String>,
    JsonBody(r): JsonBody<Notes>,
) -> Answer {
    operators::save_notes(&app, &id, &chat, r.member_notes.as_deref(), r.character_notes.as_deref(), now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "saved": true }))
}

async fn operator_reply(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat): Path<String>,
    JsonBody(r): JsonBody<SendBody>,
) -> Answer {
    Ok(http::Json(StatusCode::CREATED, operators::reply(&app, &id, &chat, r.content, now).await?))
}

#[derive(serde::Deserialize)]
struct Release {
    note: Option<String>,
}

async fn operator_release(
    State(app): State<App>,
    OperatorAuth(id): OperatorAuth,
    Now(now): Now,
    Path(chat): Path<String>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let Release { note } = match body {
        Some(b) => http::from_object(b)?,
        None => Release { note: None },
    };
    let outcome = operators::release(&app, &id, &chat, note.as_deref(), now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "released": true, "outcome": outcome }))
}
