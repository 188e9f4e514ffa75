//! Job items (`JOBS` partition, oldest first): written in the transaction of the
//! cause, leased by one runner at a time, with the cursor of the last finished
//! page. Every write of progress is conditioned on the runner's lease, so a runner
//! that lost it (it took too long, or crashed and came back) changes nothing.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::attr::{b, key, n, s, ts, Item, Reader};
use super::tx::is_condition_failed;
use super::{Store, StoreError};
use crate::domain::ids;
use crate::domain::jobs::Job;

pub(crate) const JOBS: &str = "JOBS";

/// A stored job with its progress, as its lease returned it.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub sk: String,
    /// `None`: a kind this code does not know (it is parked, not run).
    pub job: Option<Job>,
    pub created_at: DateTime<Utc>,
    /// Where the pass under way resumes (`None`: a pass starts from the beginning).
    pub cursor: Option<String>,
    pub pass_started_at: Option<DateTime<Utc>>,
    /// The pass under way has closed or erased something (so another pass follows).
    pub pass_changed: bool,
    /// The lease this runner holds (epoch ms), to condition its writes on.
    pub lease: i64,
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
        created_at: r.time("created_at")?,
        cursor: r.opt_str("cursor"),
        pass_started_at: r.opt_time("pass_started_at"),
        pass_changed: r.bool("pass_changed"),
        lease: r.opt_i64("leased_until").unwrap_or(0),
    })
}

impl Store {
    /// The sort keys of the oldest waiting (not parked) jobs.
    pub async fn pending_jobs(&self, limit: i32) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .filter_expression("attribute_not_exists(parked_at)")
            .expression_attribute_values(":pk", s(JOBS))
            .projection_expression("SK")
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items.unwrap_or_default().iter().map(|i| Reader(i).str("SK")).collect()
    }

    /// Takes a job unless another runner holds a live lease; returns its state.
    pub async fn lease_job(
        &self,
        sk: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<JobRecord>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, sk)))
            .update_expression("SET leased_until = :until")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(parked_at) \
                 AND (attribute_not_exists(leased_until) OR leased_until < :now)",
            )
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.as_ref().map(record_from).transpose(),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(None),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Extends the lease this runner holds; `Ok(false)` if it no longer holds it.
    pub async fn renew_job_lease(&self, job: &mut JobRecord, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let next = until.timestamp_millis().max(job.lease + 1);
        let ok = self
            .job_write(job, "SET leased_until = :next", |u| u.expression_attribute_values(":next", n(next)))
            .await?;
        if ok {
            job.lease = next;
        }
        Ok(ok)
    }

    /// Records a finished page under the lease: where to resume, when the pass
    /// started and whether it changed anything. `Ok(false)`: the lease was lost.
    pub async fn save_job_progress(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let started = job.pass_started_at.map(ts);
        match (&job.cursor, started) {
            (Some(c), Some(at)) => {
                self.job_write(job, "SET #cursor = :c, pass_started_at = :at, pass_changed = :ch", |u| {
                    u.expression_attribute_names("#cursor", "cursor")
                        .expression_attribute_values(":c", s(c))
                        .expression_attribute_values(":at", at)
                        .expression_attribute_values(":ch", b(job.pass_changed))
                })
                .await
            }
            _ => {
                self.job_write(job, "REMOVE #cursor, pass_started_at, pass_changed", |u| {
                    u.expression_attribute_names("#cursor", "cursor")
                })
                .await
            }
        }
    }

    /// Hands the job back at once (the runner stops for its budget).
    pub async fn release_job_lease(&self, job: &JobRecord) -> Result<bool, StoreError> {
        self.job_write(job, "REMOVE leased_until", |u| u).await
    }

    /// Deletes a finished job, under the lease.
    pub async fn finish_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, &job.sk)))
            .condition_expression("leased_until = :lease")
            .expression_attribute_values(":lease", n(job.lease))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Counts a failed run of a job and lets it go; parks it after `max` failures
    /// (the runner skips parked jobs; an admin is told). Returns the failures so far.
    pub async fn job_failed(&self, sk: &str, error: &str, max: i64, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, sk)))
            .update_expression("SET last_error = :e ADD failures :one REMOVE leased_until")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":e", s(error.chars().take(500).collect::<String>()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let failures = match out {
            Ok(out) => out.attributes.as_ref().and_then(|a| Reader(a).opt_i64("failures")).unwrap_or(1),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => return Ok(0),
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if failures >= max {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(JOBS, sk)))
                .update_expression("SET parked_at = :now")
                .expression_attribute_values(":now", ts(now))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(failures)
    }

    async fn job_write(
        &self,
        job: &JobRecord,
        expression: &str,
        values: impl FnOnce(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(JOBS, &job.sk)))
            .update_expression(expression)
            .condition_expression("leased_until = :lease")
            .expression_attribute_values(":lease", n(job.lease));
        match values(req).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }
}
