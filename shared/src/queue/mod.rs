//! SQS adapter for the assignment queue: the message is only a trigger; the
//! queue entry in the table is the truth, and a sweep repairs a lost send. The
//! local stack's consumers also receive from the other queues through it.

use aws_lambda_events::event::sqs::SqsMessage;

use crate::domain::ids::ChatId;

/// The message on the wire: which chat to look at, or `"pass"` for a whole
/// assignment pass (an operator came free). Only a trigger either way.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trigger {
    pub chat_id: String,
}

/// The `chat_id` of a trigger that asks for a whole pass.
const WHOLE_PASS: &str = "pass";

impl Trigger {
    pub fn encode(chat_id: &str) -> String {
        serde_json::json!({ "chat_id": chat_id }).to_string()
    }

    /// A body this queue's senders wrote, or `None` for anything else (poison).
    pub fn decode(body: &str) -> Option<Trigger> {
        serde_json::from_str(body).ok().filter(|t: &Trigger| !t.chat_id.is_empty())
    }

    /// The chat this trigger names, or `None` when it asks for a whole pass.
    pub fn chat(&self) -> Option<ChatId> {
        (self.chat_id != WHOLE_PASS).then(|| ChatId::new(self.chat_id.as_str()))
    }
}

/// How long a trigger may take before the request goes on without it.
const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct AssignmentQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl AssignmentQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        AssignmentQueue { client, url: url.into() }
    }

    /// Asks the assigner for a whole pass: an operator came free, or chats went back
    /// to the queue.
    pub async fn notify_pass(&self) {
        self.notify(WHOLE_PASS).await;
    }

    /// Asks the assigner to look at a chat. Failure is logged, never raised: the
    /// commit already happened and the scheduled sweep finds the queue entry.
    /// Bounded in time, so a slow queue never turns a committed request into a 503.
    pub async fn notify(&self, chat_id: &str) {
        let body = Trigger::encode(chat_id);
        let send = self.client.send_message().queue_url(&self.url).message_body(body).send();
        match tokio::time::timeout(NOTIFY_TIMEOUT, send).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(chat_id, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "assignment trigger not sent; the sweep will pick the chat up")
            }
            Err(_) => tracing::warn!(chat_id, "assignment trigger timed out; the sweep will pick the chat up"),
        }
    }

    /// Long-polls up to 10 messages as Lambda's SQS integration hands them over.
    /// The local stack's consumer uses this; on AWS, Lambda polls.
    pub async fn receive(&self, wait_secs: i32) -> Result<Vec<SqsMessage>, String> {
        self.receive_from(&self.url, wait_secs).await
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), String> {
        self.delete_from(&self.url, receipt).await
    }

    /// `receive` from another queue of the stack (the local consumer of the media
    /// queue; nothing on AWS polls a queue itself).
    pub async fn receive_from(&self, url: &str, wait_secs: i32) -> Result<Vec<SqsMessage>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let mut message = SqsMessage::default();
                message.message_id = m.message_id().map(str::to_string);
                message.receipt_handle = m.receipt_handle().map(str::to_string);
                message.body = m.body().map(str::to_string);
                message
            })
            .collect())
    }

    /// `delete` from another queue of the stack (see `receive_from`).
    pub async fn delete_from(&self, url: &str, receipt: &str) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_names_a_chat_or_asks_for_a_whole_pass() {
        let named = Trigger::decode(&Trigger::encode("ch_1")).expect("a trigger");
        assert_eq!(named.chat(), Some(ChatId::new("ch_1")));
        let pass = Trigger::decode(&Trigger::encode(WHOLE_PASS)).expect("a trigger");
        assert_eq!(pass.chat(), None);
        for poison in ["", "{}", r#"{"chat_id":""}"#, r#"{"chat_id":7}"#, "pass"] {
            assert!(Trigger::decode(poison).is_none(), "{poison}");
        }
    }
}
