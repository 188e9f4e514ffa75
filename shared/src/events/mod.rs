//! EventBridge adapter: publishes outbox events to the platform's bus.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::store::OutboxEvent;

pub const SOURCE: &str = "fantooo";

#[derive(Clone, Debug)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        EventBus { client, name: name.into() }
    }

    /// Publishes up to 10 events; returns, per event, whether the bus took it.
    pub async fn publish(&self, events: &[OutboxEvent]) -> Result<Vec<bool>, String> {
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect::<Vec<_>>();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())?;
        let results = out.entries();
        Ok((0..events.len()).map(|i| results.get(i).is_some_and(|r| r.error_code().is_none())).collect())
    }
}
