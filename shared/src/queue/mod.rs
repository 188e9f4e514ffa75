//! SQS adapter for the assignment queue: the message is only a trigger; the
//! queue entry in the table is the truth, and a sweep repairs a lost send.

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

    /// Asks the assigner to look at a chat. Failure is logged, never raised: the
    /// commit already happened and the scheduled sweep finds the queue entry.
    /// Bounded in time, so a slow queue never turns a committed request into a 503.
    pub async fn notify(&self, chat_id: &str) {
        let body = serde_json::json!({ "chat_id": chat_id }).to_string();
        let send = self.client.send_message().queue_url(&self.url).message_body(body).send();
        match tokio::time::timeout(NOTIFY_TIMEOUT, send).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(chat_id, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "assignment trigger not sent; the sweep will pick the chat up")
            }
            Err(_) => tracing::warn!(chat_id, "assignment trigger timed out; the sweep will pick the chat up"),
        }
    }

    /// Long-polls up to 10 messages: (receipt handle, message id, body). The local
    /// stack's consumer uses this; on AWS, Lambda's SQS integration polls.
    pub async fn receive(&self, wait_secs: i32) -> Result<Vec<(String, String, String)>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some((
                    m.receipt_handle()?.to_string(),
                    m.message_id()?.to_string(),
                    m.body().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}
