//! The Paystack webhook (the process-payment function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use super::Function::*;
use super::{route, Answer, Route};
use crate::http::{Now, RawBody};
use crate::services::payments;
use crate::{http, App};

pub const PROCESS_PAYMENT: &[Route] = &[route("POST", "/webhooks/paystack", ProcessPayment, || post(paystack_webhook))];

async fn paystack_webhook(
    State(app): State<App>,
    Now(now): Now,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> Answer {
    let signature = headers.get("x-paystack-signature").and_then(|v| v.to_str().ok());
    payments::handle_webhook(&app, &body, signature, now).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "received": true }))
}
