//! Closing one's own account (the delete-account function): answers once the
//! account is closed and its sessions revoked; the pending-jobs schedule erases.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::delete;

use super::Function::*;
use super::{route, Answer, Route};
use crate::error::ApiError;
use crate::http::{MemberRightsAuth, Now, OptionalJson};
use crate::services::deletion;
use crate::{http, App};

pub const DELETE_ACCOUNT: &[Route] = &[route("DELETE", "/me", DeleteAccount, || delete(delete_me))];

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
