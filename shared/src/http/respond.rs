//! Turning results into responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::store::Page;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        }
        let mut res = (status_of(&self), axum::Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

/// A JSON answer with a status.
pub struct Json(pub StatusCode, pub serde_json::Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Json, ApiError> {
    Ok(Json(status, serde_json::to_value(value).map_err(ApiError::internal)?))
}

pub fn list<T: Serialize>(page: &Page<T>) -> Result<Json, ApiError> {
    let items = serde_json::to_value(&page.items).map_err(ApiError::internal)?;
    Ok(Json(StatusCode::OK, serde_json::json!({ "items": items, "next_cursor": page.next_cursor })))
}

pub fn empty() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The HTTP status of each error: one match, at the edge.
pub fn status_of(e: &ApiError) -> StatusCode {
    use ApiError::*;
    match e {
        MalformedJson | BadRequest(_) | BadCursor => StatusCode::BAD_REQUEST,
        Unauthorized | InvalidCredentials | InvalidRefreshToken | InvalidSignature | TotpRequired => {
            StatusCode::UNAUTHORIZED
        }
        InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
        Banned | BannedLogin { .. } | Forbidden | InvalidSetupToken | Suspended => StatusCode::FORBIDDEN,
        NotFound(_) | NoRoute => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        UsernameTaken
        | ChatClosed
        | RequestInProgress
        | Contention
        | ActiveChats(_)
        | SetupDone
        | TotpEnabled
        | EmailTaken
        | LastSuperAdmin
        | OperatorHoldsChats(_)
        | ReportResolved
        | MediaNotFlagged
        | OperatorUnavailable
        | RefundSettled
        | PayoutSettled => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Validation(_) | IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Credits;

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        let e = ApiError::InsufficientCredits { cost: Credits::whole(1), balance: Credits::ZERO };
        assert_eq!((status_of(&e).as_u16(), e.code()), (402, "insufficient_credits"));
        assert_eq!(status_of(&ApiError::ChatClosed).as_u16(), 409);
        assert_eq!(status_of(&ApiError::MalformedJson).as_u16(), 400);
        assert_eq!(ApiError::Banned.code(), "banned");
        assert_eq!(status_of(&ApiError::invalid("age", "must be at least 18")).as_u16(), 422);
        assert_eq!(status_of(&ApiError::RateLimited { retry_after_secs: 3 }).as_u16(), 429);
    }
}
