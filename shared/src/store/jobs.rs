//! Job items (`JOBS` partition, oldest first): written in the transaction of the
//! cause, leased by one runner at a time, with the cursor of the last finished page.

use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::{Store, StoreError};
use crate::domain::ids;
use crate::domain::jobs::Job;

const JOBS: &str = "JOBS";

/// A stored job with its progress.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub sk: String,
    pub job: Option<Job>,
    pub cursor: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the pass now under way started (cursor `None` means a pass starts anew).
    pub pass_started_at: Option<DateTime<Utc>>,
}

/// The job's item, for the cause's transaction.
pub(crate) fn job_item(job: &Job, now: DateTime<Utc>) -> Item {
    let id = ids::new_id("job_");
    let mut item = key(JOBS, format!("{:013}#{id}", now.timestamp_millis()));
    item.insert("entity".into(), s("job"));
    item.insert("id".into(), s(&id));
    item.insert("kind".into(), s(job.kind()));
    item.insert("subject".into(), s(job.subject()));
    if let Some(reason) = job.reason() {
        item.insert("reason".into(), s(reason.as_str()));
    }
    item.insert("created_at".into(), ts(now));
    item
}

fn record_from(item: &Item) -> Result<JobRecord, StoreError> {
    let r = Reader(item);
    Ok(JobRecord {
        sk: r.str("SK")?,
        job: Job::parse(&r.str("kind")?, &r.str("subject")?, r.opt_str("reason").as_deref()),
        cursor: r.opt_str("cursor"),
        created_at: r.time("created_at")?,
        pass_started_at: r.opt_time("pass_started_at"),
    })
}

impl Store {
    /// The oldest waiting jobs.
    pub async fn pending_jobs(&self, limit: i32) -> Result<Vec<JobRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(JOBS))
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.items.unwrap_or_default().iter().map(record_from).collect()
    }

    /// Takes (or renews) the lease on a job unless another runner holds a live one.
    /// `ours` is the lease this runner already holds, if any.
    pub async fn lease_job(
        &self,
        sk: &str,
        ours: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, sk)))
            .update_expression("SET leased_until = :until")
            .expression_attribute_values(":until", n(until.timestamp_millis()));
        let req = match ours {
            Some(held) => req
                .condition_expression("leased_until = :held")
                .expression_attribute_values(":held", n(held.timestamp_millis())),
            None => req
                .condition_expression(
                    "attribute_exists(PK) AND (attribute_not_exists(leased_until) OR leased_until < :now)",
                )
                .expression_attribute_values(":now", n(now.timestamp_millis())),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Records a finished page: the cursor to resume from (`None`: the pass ended and
    /// the next one starts from the beginning) and when the current pass started.
    pub async fn save_job_progress(
        &self,
        sk: &str,
        cursor: Option<&str>,
        pass_started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let req = self.client.update_item().table_name(&self.table).set_key(Some(key(JOBS, sk)));
        let req = match cursor {
            Some(c) => req
                .update_expression("SET #cursor = :cursor, pass_started_at = :started")
                .expression_attribute_values(":cursor", s(c))
                .expression_attribute_values(":started", ts(pass_started_at)),
            None => req.update_expression("REMOVE #cursor, pass_started_at"),
        };
        req.expression_attribute_names("#cursor", "cursor")
            .condition_expression("attribute_exists(PK)")
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Deletes a finished job.
    pub async fn finish_job(&self, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, sk)))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }
}
