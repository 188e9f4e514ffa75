//! Fixed-window rate-limit counters: one item per (bucket, window), counted with a
//! conditional ADD so concurrent requests cannot overshoot the limit.

use chrono::{DateTime, Utc};

use super::attr::{key, n};
use super::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after_secs: u64 },
}

impl Store {
    pub async fn hit_rate_limit(
        &self,
        bucket: &str,
        limit: u32,
        window_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let window_start = now.timestamp().div_euclid(window_secs) * window_secs;
        let window_end = window_start + window_secs;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("RATE#{bucket}#{window_start}"), "RATE")))
            .update_expression("SET expires_at = :exp ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":exp", n(window_end + 60))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .send()
            .await;
        match result {
            Ok(_) => Ok(RateDecision::Allowed),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let retry_after_secs = u64::try_from(window_end - now.timestamp()).unwrap_or(1).max(1);
                Ok(RateDecision::Limited { retry_after_secs })
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }
}
