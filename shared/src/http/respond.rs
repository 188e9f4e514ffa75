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
        let mut res = (self.status(), axum::Json(self.body())).into_response();
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
