//! Sending a member message (the send-message function).

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use super::Function::*;
use super::{idempotency, reply, route, MessageBody, Route};
use crate::error::ApiError;
use crate::http::{IdempotencyKey, MemberAuth, Now, Path, RawJson};
use crate::services::send_message;
use crate::{http, App};

pub const SEND_MESSAGE: &[Route] = &[route("POST", "/chats/{id}/messages", SendMessage, || post(send))];

async fn send(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(chat): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    RawJson(body, bytes): RawJson,
) -> Result<Response, ApiError> {
    let MessageBody { content } = http::from_object(body)?;
    let idem = idempotency(key.as_deref(), &chat, &bytes);
    reply(send_message::send_message(&app, &id, &chat, content, idem, now).await?)
}
