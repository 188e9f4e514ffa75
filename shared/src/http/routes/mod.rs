//! The route table: every HTTP route, the Lambda function that serves it, and its
//! handler, one file per function slice. Each function serves its slice; the local
//! stack serves them all.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::domain::admin::Access;
use crate::domain::principal::PrincipalKind;
use crate::error::ApiError;
use crate::http;
use crate::services::admins;
use crate::services::idempotent::Idempotency;
use crate::App;

/// The Lambda functions that serve HTTP routes (binary names in infra/template.yaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    PublicApi,
    Auth,
    Member,
    SendMessage,
    DeleteAccount,
    ProcessPayment,
    Operator,
    Admin,
    BootstrapAdmin,
}

impl Function {
    pub fn binary(self) -> &'static str {
        match self {
            Function::PublicApi => "public-api",
            Function::Auth => "auth",
            Function::Member => "member",
            Function::SendMessage => "send-message",
            Function::DeleteAccount => "delete-account",
            Function::ProcessPayment => "process-payment",
            Function::Operator => "operator",
            Function::Admin => "admin",
            Function::BootstrapAdmin => "bootstrap-admin",
        }
    }
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    /// What an admin route needs; `None` on every other route.
    pub access: Option<Access>,
    handler: fn() -> MethodRouter<App>,
}

pub(super) const fn route(
    method: &'static str,
    path: &'static str,
    function: Function,
    handler: fn() -> MethodRouter<App>,
) -> Route {
    Route { method, path, function, access: None, handler }
}

/// An admin route: served by the admin function behind the gate for `access`.
pub(super) const fn admin_route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: fn() -> MethodRouter<App>,
) -> Route {
    admin_route_on(Function::Admin, method, path, access, handler)
}

/// An admin route another function serves (the erasure and export of a member
/// run in the delete-account function, with `DELETE /me` and its export).
pub(super) const fn admin_route_on(
    function: Function,
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: fn() -> MethodRouter<App>,
) -> Route {
    Route { method, path, function, access: Some(access), handler }
}

/// Every admin route, whichever function serves it: what the permission matrix walks.
pub fn admin_routes() -> impl Iterator<Item = &'static Route> {
    ALL.iter().flat_map(|s| s.iter()).filter(|r| r.access.is_some())
}

/// Every function's routes: what the local stack serves. A Lambda names only its
/// own slice, so its binary links only its own handlers.
mod admin;
mod auth;
mod deletion;
mod desk;
mod media;
mod member;
mod money;
mod operator;
mod payments;
mod public;
mod send;

pub use admin::{access_of, ADMIN, BOOTSTRAP_ADMIN};
pub use auth::AUTH;
pub use deletion::DELETE_ACCOUNT;
pub use member::MEMBER;
pub use operator::OPERATOR;
pub use payments::PROCESS_PAYMENT;
pub use public::PUBLIC_API;
pub use send::SEND_MESSAGE;

pub const ALL: &[&[Route]] =
    &[PUBLIC_API, AUTH, MEMBER, SEND_MESSAGE, DELETE_ACCOUNT, PROCESS_PAYMENT, OPERATOR, ADMIN, BOOTSTRAP_ADMIN];

/// The router for some slices of the route table: one function's, or `ALL`.
pub fn router(app: App, slices: &[&[Route]]) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<App>> = BTreeMap::new();
    for r in slices.iter().flat_map(|s| s.iter()) {
        let handler = match r.access {
            None | Some(Access::Open) => (r.handler)(),
            Some(access) => {
                (r.handler)().route_layer(middleware::from_fn_with_state((app.clone(), access), admin_gate))
            }
        };
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

/// In front of every admin route but login: an admin's access token (401 without
/// one; 403 for a member's or an operator's), the admin's current record (one
/// consistent read: removed or deactivated is 401 at once), and the route's
/// permission (403). The record travels on to the handler (`CurrentAdmin`).
async fn admin_gate(State((app, access)): State<(App, Access)>, mut req: Request, next: Next) -> Response {
    // Decoded before any await: the request (its body) must not be borrowed across one.
    let token = http::bearer(req.headers()).and_then(|t| app.tokens.verify_access_session(t));
    let admitted = async {
        let (principal, session, issued_at) = token?;
        if principal.kind != PrincipalKind::Admin {
            return Err(ApiError::Forbidden);
        }
        let me = admins::current(&app, &principal.id).await?;
        // A password change or a new second factor ended the token's session.
        if me.sessions_cut.as_ref().is_some_and(|cut| cut.ends(session.as_deref(), issued_at)) {
            return Err(ApiError::Unauthorized);
        }
        if !access.allows(me.permissions()) {
            return Err(ApiError::Forbidden);
        }
        Ok(me)
    };
    match admitted.await {
        Ok(me) => {
            req.extensions_mut().insert(http::CurrentAdmin(me));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

pub(super) type Answer = Result<http::Json, ApiError>;

/// The request hash an Idempotency-Key is bound to: the target and the exact body.
pub(super) fn idempotency<'a>(key: Option<&'a str>, target: &str, body: &[u8]) -> Option<Idempotency<'a>> {
    key.map(|k| Idempotency {
        key: k,
        request_hash: hex::encode(Sha256::digest([target.as_bytes(), b"\n", body].concat())),
    })
}

/// A message's text: a member's send or an operator's reply.
#[derive(serde::Deserialize)]
pub(super) struct MessageBody {
    pub(super) content: String,
}

/// An optional body's `reason` (an erasure's, an admin's close): absent or null is
/// none; anything but a string is 422.
pub(super) fn reason_of(body: &Option<serde_json::Map<String, serde_json::Value>>) -> Result<Option<&str>, ApiError> {
    match body.as_ref().and_then(|b| b.get("reason")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(r)) => Ok(Some(r.as_str())),
        Some(_) => Err(ApiError::invalid("reason", "must be a string")),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct PasswordChange {
    pub(super) current_password: String,
    pub(super) new_password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_route_and_only_those_name_what_they_need() {
        for r in ALL.iter().flat_map(|s| s.iter()) {
            let admin_path = r.path.starts_with("/admin/");
            assert_eq!(admin_path, r.access.is_some(), "{} {}", r.method, r.path);
            if !admin_path {
                assert_ne!(r.function, Function::Admin, "{} {}", r.method, r.path);
            } else if r.function != Function::Admin {
                assert!(
                    r.path.starts_with("/admin/members/"),
                    "{} {}: only member erasure and export",
                    r.method,
                    r.path
                );
                assert_eq!(r.function, Function::DeleteAccount, "{} {}", r.method, r.path);
            }
            if r.access == Some(Access::Open) {
                assert_eq!((r.method, r.path), ("POST", "/admin/login"), "only login is open");
            }
        }
    }
}
