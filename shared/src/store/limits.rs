//! Rate-limit counters: one item per bucket holding its one-second counts of the
//! last minute (`domain::limits`), rewritten with a condition on its version so
//! concurrent attempts cannot overshoot the limit.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::attr::{key, n, Reader};
use super::tx::is_condition_failed;
use super::{Store, StoreError};
use crate::domain::limits::{self, Decision};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after_secs: u64 },
}

/// Rewrites lost to a concurrent attempt on the same bucket before the attempt is
/// refused as part of a burst (429, retry in a second).
const ATTEMPTS: u32 = 25;

impl Store {
    /// Counts an attempt on `bucket` unless it would make more than `limit` in
    /// any 60 seconds.
    pub async fn hit_rate_limit(
        &self,
        bucket: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let k = key(format!("RATE#{bucket}"), "RATE");
        for attempt in 0..ATTEMPTS {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            let item = out.item.unwrap_or_default();
            let version = Reader(&item).opt_i64("version");
            let buckets: BTreeMap<i64, u32> = item
                .get("hits")
                .and_then(|h| h.as_m().ok())
                .map(|m| m.iter().filter_map(|(s, v)| Some((s.parse().ok()?, v.as_n().ok()?.parse().ok()?))).collect())
                .unwrap_or_default();
            let kept = match limits::decide(&buckets, now.timestamp(), limit) {
                Decision::Limited { retry_after_secs } => return Ok(RateDecision::Limited { retry_after_secs }),
                Decision::Allowed(kept) => kept,
            };
            let hits: HashMap<String, AttributeValue> = kept.iter().map(|(s, c)| (s.to_string(), n(*c))).collect();
            let mut next = k.clone();
            next.insert("hits".into(), AttributeValue::M(hits));
            next.insert("version".into(), n(version.unwrap_or(0) + 1));
            next.insert("expires_at".into(), n(now.timestamp() + 2 * limits::WINDOW_SECS));
            let put = self.client.put_item().table_name(&self.table).set_item(Some(next));
            let put = match version {
                Some(v) => put.condition_expression("version = :v").expression_attribute_values(":v", n(v)),
                None => put.condition_expression("attribute_not_exists(PK)"),
            };
            match put.send().await {
                Ok(_) => return Ok(RateDecision::Allowed),
                Err(e) if is_condition_failed(&e) => {
                    let wait = rand::random_range(0..=2 * u64::from(attempt.min(10)) + 1);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                Err(e) => return Err(StoreError::sdk(e)),
            }
        }
        // Many concurrent attempts on one bucket: treat the burst as what it is.
        Ok(RateDecision::Limited { retry_after_secs: 1 })
    }
}
