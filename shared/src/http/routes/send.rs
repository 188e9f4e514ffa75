//! Sending a member message (the send-message function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use super::Function::*;
use super::{idempotency, route, Answer, MessageBody, Route};
use crate::domain::ids::ChatId;
use crate::http::{IdempotencyKey, MemberAuth, Now, Path, RawJson};
use crate::services::send_message;
use crate::{http, App};

pub const SEND_MESSAGE: &[Route] = &[route("POST", "/chats/{id}/messages", SendMessage, || post(send))];

async fn send(
    State(app): State<App>,
    MemberAuth(id): MemberAuth,
    Now(now): Now,
    Path(chat): Path<ChatId>,
    IdempotencyKey(key): IdempotencyKey,
    RawJson(body, bytes): RawJson,
) -> Answer {
    let MessageBody { content } = http::from_object(body)?;
    let idem = idempotency(key.as_deref(), &chat, &bytes);
    http::json(StatusCode::CREATED, &send_message::send_message(&app, &id, &chat, content, idem, now).await?)
}
