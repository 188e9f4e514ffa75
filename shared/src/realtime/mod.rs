//! API Gateway WebSocket adapter: the frames on the wire (server to client, and
//! the client's actions) and the `@connections` management API (post a frame,
//! end a connection). On AWS the endpoint is the WebSocket API's stage; locally
//! it is the local server's emulation of the same protocol (local/src/gateway.rs).

use std::time::Duration;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde_json::json;

use crate::domain::ids::{self, ChatId};
use crate::domain::realtime::{Action, Push, MAX_FRAME_BYTES};

/// A post or a close that takes longer goes without: delivery is best effort and
/// the request that made it must still answer in time.
const CALL_TIMEOUT: Duration = Duration::from_millis(1_500);

/// The frame for a push (docs/realtime.md, API.md "Realtime").
pub fn frame(push: &Push) -> String {
    let v = match push {
        Push::Message { chat_id, message } => json!({ "type": "message", "chat_id": chat_id, "message": message }),
        Push::ChatAssigned { chat_id } => json!({ "type": "chat_assigned", "chat_id": chat_id }),
        Push::ChatClosed { chat_id, reason } => {
            json!({ "type": "chat_closed", "chat_id": chat_id, "close_reason": reason.as_str() })
        }
        Push::Typing { chat_id, from } => json!({ "type": "typing", "chat_id": chat_id, "from": from.as_str() }),
        Push::Balance { balance } => json!({ "type": "balance", "balance": balance }),
        Push::Pong => json!({ "type": "pong" }),
    };
    v.to_string()
}

/// The answer to a client frame that is not an action we know: the HTTP error
/// body's shape, as a frame, so a client can tell what it did wrong.
pub fn error_frame(code: &str, message: &str) -> String {
    json!({ "type": "error", "error": { "code": code, "message": message } }).to_string()
}

/// Why a client frame was refused: `(code, message)` for `error_frame`.
pub type Refused = (&'static str, String);

/// A client frame: `{"action":"typing","chat_id"}` or `{"action":"ping"}`;
/// anything else is refused.
pub fn decode(body: &str) -> Result<Action, Refused> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|_| ("bad_json", "the frame is not a JSON object".to_string()))?;
    let obj = v.as_object().ok_or(("bad_json", "the frame is not a JSON object".to_string()))?;
    match obj.get("action").and_then(|a| a.as_str()) {
        Some("ping") => Ok(Action::Ping),
        Some("typing") => match obj.get("chat_id").and_then(|c| c.as_str()) {
            Some(c) if ids::chat_parts(c).is_some() => Ok(Action::Typing { chat_id: ChatId::new(c) }),
            _ => Err(("validation_failed", "typing needs a chat_id, a chat's id".to_string())),
        },
        _ => Err(("unknown_action", "action must be \"typing\" or \"ping\"".to_string())),
    }
}

/// How a post went.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    Sent,
    /// The connection is gone: its items must go too.
    Gone,
    /// Anything else (throttled, timed out, refused): logged; the client catches up.
    Failed,
}

#[derive(Clone, Debug)]
pub struct Realtime {
    client: aws_sdk_apigatewaymanagement::Client,
    /// The URL clients connect to (`wss://…` on AWS, `ws://…/ws` locally).
    url: String,
}

impl Realtime {
    pub fn new(client: aws_sdk_apigatewaymanagement::Client, url: impl Into<String>) -> Self {
        Realtime { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts one push, as its frame, to one connection.
    pub async fn post(&self, connection_id: &str, push: &Push) -> Posted {
        let frame = frame(push);
        if frame.len() > MAX_FRAME_BYTES {
            tracing::warn!(bytes = frame.len(), "frame over API Gateway's limit: not sent");
            return Posted::Failed;
        }
        let call = self.client.post_to_connection().connection_id(connection_id).data(Blob::new(frame)).send();
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => Posted::Sent,
            Ok(Err(e)) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Posted::Gone,
            Ok(Err(e)) => {
                tracing::warn!(error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e), "realtime post failed");
                Posted::Failed
            }
            Err(_) => {
                tracing::warn!("realtime post timed out");
                Posted::Failed
            }
        }
    }

    /// Ends a connection (API Gateway then runs `$disconnect`). An unknown or
    /// already closed connection is no error.
    pub async fn end(&self, connection_id: &str) {
        let call = self.client.delete_connection().connection_id(connection_id).send();
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e), "closing a connection failed")
            }
            Err(_) => tracing::warn!("closing a connection timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CloseReason, Credits, Sender};

    #[test]
    fn frames_have_the_fixed_shapes() {
        let chat_id = ChatId::new("chat_1");
        let closed: serde_json::Value =
            serde_json::from_str(&frame(&Push::ChatClosed { chat_id: chat_id.clone(), reason: CloseReason::Admin }))
                .expect("json");
        assert_eq!(closed, json!({ "type": "chat_closed", "chat_id": "chat_1", "close_reason": "admin" }));
        let typing: serde_json::Value =
            serde_json::from_str(&frame(&Push::Typing { chat_id, from: Sender::Character })).expect("json");
        assert_eq!(typing, json!({ "type": "typing", "chat_id": "chat_1", "from": "character" }));
        let pong: serde_json::Value = serde_json::from_str(&frame(&Push::Pong)).expect("json");
        assert_eq!(pong, json!({ "type": "pong" }));
        let balance: serde_json::Value =
            serde_json::from_str(&frame(&Push::Balance { balance: Credits::from_hundredths(1250) })).expect("json");
        assert_eq!(balance["type"], "balance");
        assert_eq!(balance["balance"], serde_json::to_value(Credits::from_hundredths(1250)).expect("json"));
    }

    #[test]
    fn client_actions_decode_and_anything_else_is_refused() {
        assert_eq!(decode(r#"{"action":"ping"}"#), Ok(Action::Ping));
        assert_eq!(
            decode(r#"{"action":"typing","chat_id":"ch_m_abc~c_demo01"}"#),
            Ok(Action::Typing { chat_id: ChatId::new("ch_m_abc~c_demo01") })
        );
        assert_eq!(decode("nope").map_err(|e| e.0), Err("bad_json"));
        assert_eq!(decode("[1]").map_err(|e| e.0), Err("bad_json"));
        assert_eq!(decode(r#"{"action":"typing"}"#).map_err(|e| e.0), Err("validation_failed"));
        assert_eq!(decode(r#"{"action":"typing","chat_id":7}"#).map_err(|e| e.0), Err("validation_failed"));
        assert_eq!(decode(r#"{"action":"typing","chat_id":"c1"}"#).map_err(|e| e.0), Err("validation_failed"));
        assert_eq!(decode(r#"{"action":"shout"}"#).map_err(|e| e.0), Err("unknown_action"));
    }
}
