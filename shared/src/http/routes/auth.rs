//! Registration, login, refresh and logout, and realtime tickets (the auth function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use super::Function::*;
use super::{route, Answer, Route};
use crate::domain::moderation::Sighting;
use crate::error::ApiError;
use crate::http::{Caller, ClientIp, DeviceId, JsonBody, Now};
use crate::services::{accounts, realtime};
use crate::{http, App};

pub const AUTH: &[Route] = &[
    route("POST", "/auth/register", Auth, || post(register)),
    route("POST", "/auth/login", Auth, || post(login)),
    route("POST", "/auth/refresh", Auth, || post(refresh)),
    route("POST", "/auth/logout", Auth, || post(logout)),
    route("POST", "/realtime/ticket", Auth, || post(realtime_ticket)),
];

async fn register(
    State(app): State<App>,
    ip: ClientIp,
    device: DeviceId,
    Now(now): Now,
    JsonBody(r): JsonBody<accounts::RegisterRequest>,
) -> Answer {
    let seen = Sighting::new(&ip.0, device.0.as_deref());
    http::json(StatusCode::CREATED, &accounts::register(&app, r, &ip.0, &seen, now).await?)
}

async fn login(
    State(app): State<App>,
    ip: ClientIp,
    device: DeviceId,
    Now(now): Now,
    JsonBody(r): JsonBody<accounts::LoginRequest>,
) -> Answer {
    let seen = Sighting::new(&ip.0, device.0.as_deref());
    http::json(StatusCode::OK, &accounts::login(&app, r, &ip.0, &seen, now).await?)
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

/// A single-use ticket for the WebSocket (any principal's access token).
async fn realtime_ticket(State(app): State<App>, caller: Caller, Now(now): Now) -> Answer {
    http::json(StatusCode::CREATED, &realtime::issue_ticket(&app, caller.principal, caller.session, now).await?)
}
