//! The back office's money routes (issue 15), served by the admin function; their
//! entries (all `manage_payments`) are in `admin::ADMIN`.

use axum::extract::State;
use axum::http::StatusCode;

use super::Answer;
use crate::domain::ids::PaymentRef;
use crate::domain::payment::PackageWrite;
use crate::error::ApiError;
use crate::http::{CurrentAdmin, JsonBody, ListParams, Now, OptionalJson, Path};
use crate::services::money;
use crate::{http, App};

pub(super) async fn list_payments(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&money::payments(&app, p.get("status"), p.cursor.as_deref(), p.limit).await?)
}

pub(super) async fn reconcile_payment(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(reference): Path<String>,
    _body: OptionalJson,
) -> Answer {
    http::json(StatusCode::OK, &money::reconcile(&app, &me, &PaymentRef::new(reference), now).await?)
}

pub(super) async fn list_refunds(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&money::refunds(&app, p.get("status"), p.cursor.as_deref(), p.limit).await?)
}

pub(super) async fn create_refund(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(body): JsonBody<money::NewRefund>,
) -> Answer {
    http::json(StatusCode::CREATED, &money::request_refund(&app, &me, body, now).await?)
}

pub(super) async fn approve_refund(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    _body: OptionalJson,
) -> Answer {
    http::json(StatusCode::OK, &money::approve_refund(&app, &me, &id, now).await?)
}

pub(super) async fn reject_refund(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let notes = match body.as_ref().and_then(|b| b.get("notes")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(n)) => Some(n.as_str()),
        Some(_) => return Err(ApiError::invalid("notes", "must be a string")),
    };
    http::json(StatusCode::OK, &money::reject_refund(&app, &me, &id, notes, now).await?)
}

pub(super) async fn list_payouts(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&money::payouts(&app, p.get("status"), p.cursor.as_deref(), p.limit).await?)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PaidNote {
    note: String,
}

pub(super) async fn payout_paid(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PaidNote>,
) -> Answer {
    http::json(StatusCode::OK, &money::payout_paid(&app, &me, &id, &body.note, now).await?)
}

pub(super) async fn list_packages(State(app): State<App>, _: CurrentAdmin) -> Answer {
    http::json(StatusCode::OK, &serde_json::json!({ "items": money::packages(&app).await? }))
}

pub(super) async fn create_package(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(body): JsonBody<PackageWrite>,
) -> Answer {
    http::json(StatusCode::CREATED, &money::create_package(&app, &me, body, now).await?)
}

pub(super) async fn update_package(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PackageWrite>,
) -> Answer {
    http::json(StatusCode::OK, &money::update_package(&app, &me, &id, body, now).await?)
}

pub(super) async fn stats(State(app): State<App>, _: CurrentAdmin, Now(now): Now, p: ListParams) -> Answer {
    http::json(StatusCode::OK, &crate::services::stats::get(&app, p.get("from"), p.get("to"), now).await?)
}
