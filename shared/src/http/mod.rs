//! lambda_http / axum glue: JSON in and out, auth, client IP, pinned clock,
//! pagination parameters and ApiError -> response. No business rules here.

mod extract;
mod respond;
pub mod routes;

pub use extract::{
    bearer_of as bearer, from_object, Caller, ClientIp, CurrentAdmin, DeviceId, IdempotencyKey, JsonBody, ListParams,
    MemberAuth, MemberRightsAuth, Now, OperatorAuth, OptionalJson, Path, RawBody, RawJson, SessionId, NOW_HEADER,
};
pub use respond::{empty, json, list, status_of, Json};
