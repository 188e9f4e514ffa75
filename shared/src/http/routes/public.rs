//! Public routes: no token, read-only (the public-api function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::Function::*;
use super::{route, Answer, Route};
use crate::domain::ids::CharacterId;
use crate::error::ApiError;
use crate::http::{ClientIp, ListParams, Now, Path};
use crate::services::{accounts, catalog};
use crate::{http, App};

/// Public routes: no token, read-only.
pub const PUBLIC_API: &[Route] = &[
    route("GET", "/health", PublicApi, || get(health)),
    route("GET", "/config", PublicApi, || get(config)),
    route("GET", "/auth/username-available", PublicApi, || get(username_available)),
    route("GET", "/profiles", PublicApi, || get(list_profiles)),
    route("GET", "/profiles/{id}", PublicApi, || get(get_profile)),
    route("GET", "/credits/packages", PublicApi, || get(packages)),
];

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

async fn list_profiles(State(app): State<App>, Now(now): Now, p: ListParams) -> Answer {
    let page = catalog::list_profiles(&app, p.get("gender"), p.get("q"), p.cursor.as_deref(), p.limit, now).await?;
    http::list(&page)
}

async fn get_profile(State(app): State<App>, Now(now): Now, Path(id): Path<CharacterId>) -> Answer {
    http::json(StatusCode::OK, &catalog::get_profile(&app, &id, now).await?)
}

async fn packages(State(app): State<App>) -> Answer {
    http::json(StatusCode::OK, &serde_json::json!({ "items": catalog::packages(&app).await? }))
}
