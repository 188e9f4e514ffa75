//! The one error type: each variant has a stable code (its HTTP status is the
//! edge's business: `http::status_of`).

use crate::domain::validation::FieldErrors;
use crate::domain::Credits;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not a JSON object")]
    MalformedJson,
    #[error("{0}")]
    BadRequest(String),
    #[error("cursor is not valid for this list")]
    BadCursor,
    #[error("missing or invalid access token")]
    Unauthorized,
    #[error("username or password is wrong")]
    InvalidCredentials,
    #[error("refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("missing or invalid x-paystack-signature")]
    InvalidSignature,
    #[error("this account is banned")]
    Banned,
    /// A banned member's login: the answer carries a token for erasure and export.
    #[error("this account is banned; the restricted token allows only deleting the account and exporting its data")]
    BannedLogin { restricted_token: String },
    #[error("not allowed")]
    Forbidden,
    #[error("the setup token is wrong")]
    InvalidSetupToken,
    #[error("setup is done: the first admin exists")]
    SetupDone,
    #[error("this account needs its current authenticator code (totp_code)")]
    TotpRequired,
    #[error("a second factor is already enrolled: disable it first")]
    TotpEnabled,
    #[error("that email is taken")]
    EmailTaken,
    #[error("no active super admin would remain")]
    LastSuperAdmin,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("chat is closed")]
    ChatClosed,
    #[error("Cannot go offline with {0} active chats: finish or release them first")]
    ActiveChats(u32),
    /// Deleting an operator who still holds chats.
    #[error("the operator holds {0} active chats: they must release them, or an admin reassign them, first")]
    OperatorHoldsChats(u32),
    #[error("this operator account is suspended; an admin can reactivate it")]
    Suspended,
    #[error("this report is already resolved")]
    ReportResolved,
    /// Approving a photo that is not flagged (pending, accepted already).
    #[error("only a flagged photo can be approved")]
    MediaNotFlagged,
    #[error("this refund is already approved or rejected")]
    RefundSettled,
    #[error("this payout is already marked paid")]
    PayoutSettled,
    /// An admin's reassignment to an operator who is offline, suspended or full.
    #[error("that operator cannot take the chat: offline, suspended or at their maximum")]
    OperatorUnavailable,
    #[error("a request with this Idempotency-Key is still running; retry shortly")]
    RequestInProgress,
    #[error("too many concurrent changes; retry")]
    Contention,
    #[error("not enough credits: this message costs {cost}, balance is {balance}")]
    InsufficientCredits { cost: Credits, balance: Credits },
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("some fields are not valid")]
    Validation(FieldErrors),
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the database did not answer in time; the outcome is unknown: retry with the same Idempotency-Key")]
    Unavailable,
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson => "malformed_json",
            BadRequest(_) => "bad_request",
            BadCursor => "bad_cursor",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            InvalidRefreshToken => "invalid_refresh_token",
            InvalidSignature => "invalid_signature",
            Banned | BannedLogin { .. } => "banned",
            Forbidden => "forbidden",
            InvalidSetupToken => "invalid_setup_token",
            SetupDone => "setup_done",
            TotpRequired => "totp_required",
            TotpEnabled => "totp_enabled",
            EmailTaken => "email_taken",
            LastSuperAdmin => "last_super_admin",
            NotFound(_) => "not_found",
            UsernameTaken => "username_taken",
            ChatClosed => "chat_closed",
            ActiveChats(_) | OperatorHoldsChats(_) => "active_chats",
            Suspended => "suspended",
            ReportResolved => "report_resolved",
            MediaNotFlagged => "media_not_flagged",
            OperatorUnavailable => "operator_unavailable",
            RefundSettled => "refund_settled",
            PayoutSettled => "payout_settled",
            RequestInProgress => "request_in_progress",
            Contention => "conflict",
            InsufficientCredits { .. } => "insufficient_credits",
            PayloadTooLarge => "payload_too_large",
            Validation(_) => "validation_failed",
            IdempotencyKeyReused => "idempotency_key_reused",
            RateLimited { .. } => "rate_limited",
            NoRoute => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Internal(_) => "internal",
            Unavailable => "unavailable",
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn invalid(field: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::single(field, msg))
    }
}

impl From<FieldErrors> for ApiError {
    fn from(f: FieldErrors) -> Self {
        ApiError::Validation(f)
    }
}

impl ApiError {
    /// `{"error": {"code", "message", "fields"?}}`. Internal errors say nothing of their cause.
    pub fn body(&self) -> serde_json::Value {
        let message = match self {
            ApiError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let mut error = serde_json::json!({ "code": self.code(), "message": message });
        if let ApiError::Validation(fields) = self {
            error["fields"] = serde_json::to_value(fields).unwrap_or_default();
        }
        match self {
            ApiError::BannedLogin { restricted_token } => {
                serde_json::json!({ "error": error, "restricted_token": restricted_token })
            }
            _ => serde_json::json!({ "error": error }),
        }
    }
}

impl From<crate::objects::ObjectError> for ApiError {
    fn from(e: crate::objects::ObjectError) -> Self {
        match e {
            crate::objects::ObjectError::Unavailable(cause) => {
                tracing::warn!(cause, "media bucket unavailable: answering 503");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::BadCursor => ApiError::BadCursor,
            StoreError::Contention(_) => ApiError::Contention,
            StoreError::Unavailable(cause) => {
                tracing::warn!(cause, "database unavailable: answering 503");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}
