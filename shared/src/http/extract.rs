//! Request extractors that fail with ApiError, never with axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::domain::ids::{MemberId, OperatorId};
use crate::domain::principal::PrincipalKind;
use crate::domain::validation::FieldErrors;
use crate::error::ApiError;
use crate::App;

/// Body limit from API.md: 413 above 64 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Header the local stack honours to pin "now" (Clock::Pinnable only).
pub const NOW_HEADER: &str = "x-fantooo-now";

async fn body_object(req: Request) -> Result<(serde_json::Map<String, serde_json::Value>, Bytes), ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| ApiError::PayloadTooLarge)?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok((map, bytes)),
        _ => Err(ApiError::MalformedJson),
    }
}

/// A JSON object body deserialised into `T`: 400 if not a JSON object, 422 naming
/// the field that does not fit, 413 if too large.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (map, _) = body_object(req).await?;
        from_object(map).map(JsonBody)
    }
}

/// Deserialises a JSON object into `T`, naming the field that does not fit (422).
pub fn from_object<T: DeserializeOwned>(map: serde_json::Map<String, serde_json::Value>) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (field, message) = match inner.strip_prefix("missing field `") {
            Some(rest) => (rest.split('`').next().unwrap_or("body").to_string(), "is required".to_string()),
            None if path == "." => ("body".to_string(), inner),
            None => (path, inner),
        };
        ApiError::Validation(FieldErrors::single(&field, message))
    })
}

/// A JSON object body as it came, plus its raw bytes (for request hashing).
pub struct RawJson(pub serde_json::Map<String, serde_json::Value>, pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (map, bytes) = body_object(req).await?;
        Ok(RawJson(map, bytes))
    }
}

/// The raw request body (at most 64 KiB), for signature checks before parsing.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| ApiError::PayloadTooLarge)?;
        Ok(RawBody(bytes))
    }
}

/// An optional JSON object body: empty is `None`; anything else must be an object.
pub struct OptionalJson(pub Option<serde_json::Map<String, serde_json::Value>>);

impl<S: Send + Sync> FromRequest<S> for OptionalJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| ApiError::PayloadTooLarge)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(OptionalJson(Some(map))),
            _ => Err(ApiError::MalformedJson),
        }
    }
}

/// A member's verified access token. Account status is checked by the service,
/// which reads the member anyway.
pub struct MemberAuth(pub MemberId);

impl FromRequestParts<App> for MemberAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let principal = app.tokens.verify_access(bearer(parts)?)?;
        if principal.kind != PrincipalKind::Member {
            return Err(ApiError::Forbidden);
        }
        Ok(MemberAuth(MemberId::new(principal.id)))
    }
}

/// Any principal's verified access token (member, operator or admin), with its
/// session: for routes every principal may call (`POST /realtime/ticket`).
/// Account status and the session's liveness are the service's to check.
pub struct Caller {
    pub principal: crate::domain::principal::Principal,
    pub session: Option<String>,
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let (principal, session, _) = app.tokens.verify_access_session(bearer(parts)?)?;
        Ok(Caller { principal, session })
    }
}

/// A member's access token or, for a banned member, the restricted token: the
/// routes of the rights a ban does not take away (DELETE /me, GET /me/export).
pub struct MemberRightsAuth(pub MemberId);

impl FromRequestParts<App> for MemberRightsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        Ok(MemberRightsAuth(MemberId::new(app.tokens.verify_member_rights(token)?.id)))
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    bearer_of(&parts.headers)
}

/// The bearer token of `Authorization`; 401 without one.
pub fn bearer_of(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or(ApiError::Unauthorized)?;
    header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).ok_or(ApiError::Unauthorized)
}

/// The admin a route's gate admitted (routes::admin_gate), as read for this request.
#[derive(Clone)]
pub struct CurrentAdmin(pub crate::domain::admin::Admin);

impl<S: Send + Sync> FromRequestParts<S> for CurrentAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Only a route without the gate lacks it: refuse rather than serve unchecked.
        parts.extensions.get::<CurrentAdmin>().cloned().ok_or(ApiError::Unauthorized)
    }
}

/// The session (refresh-token family) of the caller's access token, for routes
/// that end every session but the caller's. Authorisation is the auth extractor's.
pub struct SessionId(pub Option<String>);

impl FromRequestParts<App> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        Ok(SessionId(app.tokens.session_of(bearer(parts)?)?))
    }
}

/// An operator's verified access token, checked against the operator's current
/// record (one read): a deleted operator's live token is 401 at once.
pub struct OperatorAuth(pub OperatorId);

impl FromRequestParts<App> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let principal = app.tokens.verify_access(bearer(parts)?)?;
        if principal.kind != PrincipalKind::Operator {
            return Err(ApiError::Forbidden);
        }
        let id = OperatorId::new(principal.id);
        crate::services::operators::current(app, &id).await?;
        Ok(OperatorAuth(id))
    }
}

/// A path parameter, percent-decoded: 400 with the JSON error body when it does
/// not decode (invalid UTF-8, say), never axum's plain-text rejection; 404 when it
/// is longer than any id.
pub struct Path<T>(pub T);

/// Longest path parameter (bytes, decoded) that can name anything.
const MAX_PATH_PARAM: usize = 200;

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // No id is this long: refuse it before it becomes part of a key (DynamoDB
        // caps a key at 2 KB and would answer with an error, not "not found").
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("a path parameter is not valid UTF-8 text".into()))?;
        if raw.iter().any(|(_, v)| v.len() > MAX_PATH_PARAM) {
            return Err(ApiError::NotFound("resource"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| ApiError::BadRequest("a path parameter is not valid UTF-8 text".into()))
    }
}

/// The request's "now": the system clock, or a pinned time on the local stack.
pub struct Now(pub DateTime<Utc>);

impl FromRequestParts<App> for Now {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let pinned = match parts.headers.get(NOW_HEADER) {
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| ApiError::BadRequest(format!("{NOW_HEADER} must be an RFC 3339 time")))?,
            ),
            None => None,
        };
        Ok(Now(app.clock.now(pinned)))
    }
}

/// The caller's IP: API Gateway's source IP on Lambda, the socket peer locally.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>() {
            if let Some(ip) = &ctx.http.source_ip {
                return Ok(ClientIp(ip.clone()));
            }
        }
        if let Some(peer) = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
            return Ok(ClientIp(peer.0.ip().to_string()));
        }
        Ok(ClientIp("unknown".into()))
    }
}

/// `X-Device-Id`, as the client sent it (the domain decides whether it is usable).
pub struct DeviceId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for DeviceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(DeviceId(parts.headers.get("x-device-id").and_then(|v| v.to_str().ok()).map(str::to_string)))
    }
}

/// `Idempotency-Key`: any string up to 200 characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let key = v.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
        if key.is_empty() || key.len() > 200 {
            return Err(ApiError::invalid("Idempotency-Key", "must be 1-200 characters"));
        }
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

/// Query parameters of a list route: `cursor`, `limit` (default 20, max 50) and others.
pub struct ListParams {
    pub cursor: Option<String>,
    pub limit: usize,
    params: Vec<(String, String)>,
}

impl ListParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(params) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("query string is not valid".into()))?;
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let limit = match get("limit") {
            None => 20,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=50).contains(&n) => n,
                _ => return Err(ApiError::invalid("limit", "must be an integer from 1 to 50")),
            },
        };
        let cursor = get("cursor").filter(|c| !c.is_empty());
        Ok(ListParams { cursor, limit, params })
    }
}
