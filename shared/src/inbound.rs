//! The edge of the event-driven functions, as `http` is the edge of the HTTP ones:
//! Lambda's event types in, service calls out, reports back.
//!
//! - `ScheduledJob` names every scheduled job; a schedule's input is `{"job": "<name>"}`
//!   (infra/template.yaml) and the local stack runs the same enum on the same rates.
//! - `assign_chats` turns an `SqsEvent` of assignment triggers into one assignment
//!   pass and an `SqsBatchResponse`; the local consumer calls it too.
//! - `validate_media` checks the photos an `SqsEvent` of the media bucket's
//!   notifications reports uploaded; the local consumer calls it too.
//! - `Reconcile` is what the reconcile function is invoked with.
//! - `realtime` handles API Gateway's WebSocket events (`$connect`, `$default`,
//!   `$disconnect`); the local gateway emulation calls it too.
//! - `run_job` runs any of them as a Lambda: a span per invocation, the cold start
//!   marked, one log line with the outcome.

pub mod realtime;

use std::future::Future;
use std::time::Instant;

pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::domain::ids::PaymentRef;
use crate::error::ApiError;
use crate::objects;
use crate::queue::Trigger;
use crate::services::{assignment, closing, jobs, media, payments};
use crate::App;

/// Every scheduled job, by the name its schedule sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduledJob {
    OutboxSweep,
    Reconcile,
    LedgerAudit,
    Sweep,
    IdleWatch,
    Escalate,
    AutoClose,
    SuspensionExpiry,
    PendingJobs,
    Stats,
}

impl ScheduledJob {
    pub const ALL: [ScheduledJob; 10] = [
        ScheduledJob::OutboxSweep,
        ScheduledJob::Reconcile,
        ScheduledJob::LedgerAudit,
        ScheduledJob::Sweep,
        ScheduledJob::IdleWatch,
        ScheduledJob::Escalate,
        ScheduledJob::AutoClose,
        ScheduledJob::SuspensionExpiry,
        ScheduledJob::PendingJobs,
        ScheduledJob::Stats,
    ];

    /// The name in `{"job": ...}`.
    pub fn name(self) -> &'static str {
        match self {
            ScheduledJob::OutboxSweep => "outbox-sweep",
            ScheduledJob::Reconcile => "reconcile",
            ScheduledJob::LedgerAudit => "ledger-audit",
            ScheduledJob::Sweep => "sweep",
            ScheduledJob::IdleWatch => "idle-watch",
            ScheduledJob::Escalate => "escalate",
            ScheduledJob::AutoClose => "auto-close",
            ScheduledJob::SuspensionExpiry => "suspension-expiry",
            ScheduledJob::PendingJobs => "pending-jobs",
            ScheduledJob::Stats => "stats",
        }
    }

    /// The Lambda function (binary in infra/template.yaml) whose schedule runs it.
    pub fn function(self) -> &'static str {
        match self {
            ScheduledJob::OutboxSweep => "outbox-sweep",
            ScheduledJob::Reconcile => "reconcile",
            ScheduledJob::LedgerAudit => "ledger-audit",
            ScheduledJob::Escalate => "escalate",
            ScheduledJob::AutoClose => "auto-close",
            ScheduledJob::Sweep
            | ScheduledJob::IdleWatch
            | ScheduledJob::SuspensionExpiry
            | ScheduledJob::PendingJobs
            | ScheduledJob::Stats => "assignment-jobs",
        }
    }

    pub fn parse(name: &str) -> Option<ScheduledJob> {
        ScheduledJob::ALL.into_iter().find(|j| j.name() == name)
    }
}

/// What a schedule sends its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub job: ScheduledJob,
}

/// Runs one scheduled job now; its report as JSON (the invocation's answer).
pub async fn run(app: &App, job: ScheduledJob, now: DateTime<Utc>) -> Result<serde_json::Value, ApiError> {
    let report = match job {
        ScheduledJob::OutboxSweep => serde_json::json!({ "published": jobs::sweep_outbox(app).await? }),
        ScheduledJob::Reconcile => to_json(payments::reconcile(app, now).await?)?,
        ScheduledJob::LedgerAudit => to_json(jobs::audit_ledgers(app, now).await?)?,
        ScheduledJob::Sweep => to_json(assignment::assign_pass(app, now).await?)?,
        ScheduledJob::IdleWatch => to_json(assignment::idle_watch(app, assignment::timers(app).await?, now).await?)?,
        ScheduledJob::Escalate => to_json(assignment::escalate_due(app, now).await?)?,
        ScheduledJob::AutoClose => to_json(assignment::auto_close(app, now).await?)?,
        ScheduledJob::SuspensionExpiry => to_json(assignment::end_suspensions(app, now).await?)?,
        ScheduledJob::PendingJobs => to_json(closing::run_jobs(app, now, closing::Budget::default()).await?)?,
        ScheduledJob::Stats => to_json(crate::services::stats::aggregate(app, now).await?)?,
    };
    Ok(report)
}

fn to_json<T: Serialize>(report: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(report).map_err(ApiError::internal)
}

/// The handler of a function that runs scheduled jobs: the jobs whose
/// `ScheduledJob::function` is `function`, and no other (a schedule pointed at the wrong
/// function fails loudly instead of running something else).
pub async fn scheduled(
    function: &'static str,
    app: App,
    Scheduled { job }: Scheduled,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    if job.function() != function {
        return Err(ApiError::BadRequest(format!(
            "job {:?} runs in the {} function, not {function}",
            job.name(),
            job.function()
        )));
    }
    run(&app, job, now).await
}

/// What invokes the reconcile function: its schedule, or an admin for one payment.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Reconcile {
    One { reference: String, admin_id: String },
    Scheduled(Scheduled),
}

/// The answer to reconciling one payment.
#[derive(Debug, Serialize)]
pub struct ReconciledOne {
    pub reference: String,
    pub settlement: payments::Settlement,
}

pub async fn reconcile(app: App, invocation: Reconcile, now: DateTime<Utc>) -> Result<serde_json::Value, ApiError> {
    match invocation {
        Reconcile::One { reference, admin_id } => {
            let settlement =
                payments::reconcile_one(&app, &PaymentRef::new(reference.as_str()), &admin_id, now).await?;
            to_json(ReconciledOne { reference, settlement })
        }
        Reconcile::Scheduled(s) => scheduled("reconcile", app, s, now).await,
    }
}

/// The assigner's SQS batch: the chats its triggers name are claimed, or, if a
/// trigger asks for one, a whole pass covers them (each message is only
/// a trigger; the queue entries in the table are the truth). Only real errors fail
/// messages: a batch that fails fails them all, to be received again; a body that
/// is not a trigger is poison and goes to the DLQ after 3 receives. No free
/// operator is a success: the queue entry keeps the chat.
pub async fn assign_chats(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut ids = Vec::with_capacity(event.records.len());
    let mut named = Vec::with_capacity(event.records.len());
    let mut whole_pass = false;
    for record in event.records {
        let Some(id) = record.message_id else { continue };
        match record.body.as_deref().and_then(Trigger::decode) {
            None => {
                tracing::warn!(message_id = %id, "assignment trigger is not a trigger: failing it toward the DLQ");
                response.add_failure(id);
            }
            Some(trigger) => {
                match trigger.chat() {
                    Some(chat) => named.push(chat),
                    None => whole_pass = true,
                }
                ids.push(id);
            }
        }
    }
    match assignment::assign_batch(app, &named, whole_pass, now).await {
        Ok(report) => tracing::info!(?report, triggers = ids.len(), whole_pass, "assignment batch"),
        Err(e) => {
            tracing::error!(error = %e, "assignment batch failed; it will be received again");
            for id in ids {
                response.add_failure(id);
            }
        }
    }
    response
}

/// The photo validator's SQS batch: each message is the media bucket's event
/// notification of uploaded objects, and each object is checked
/// (`services::media::validate_object`): it joins its character or is flagged.
/// A message whose check failed (S3 or the table did not answer) fails, to be
/// received again (a check is idempotent: only a pending photo is checked); a
/// body that is not a notification is poison and goes to the DLQ after 3
/// receives; the `s3:TestEvent` S3 sends when notifications are set up succeeds.
pub async fn validate_media(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(id) = record.message_id else { continue };
        let Some(created) = record.body.as_deref().and_then(objects::created_objects) else {
            tracing::warn!(message_id = %id, "media message is not an S3 notification: failing it toward the DLQ");
            response.add_failure(id);
            continue;
        };
        for object in created {
            match media::validate_object(app, &object.bucket, &object.key, object.size, now).await {
                Ok(checked) => tracing::info!(key = %object.key, ?checked, "uploaded object checked"),
                Err(e) => {
                    tracing::error!(key = %object.key, error = %e, "uploaded object not checked; received again later");
                    response.add_failure(id.clone());
                    break;
                }
            }
        }
    }
    response
}

/// Serves an event function on Lambda: each invocation gets a span with the
/// function's name, the request id and whether it is a cold start, its event
/// decoded as `E`, the injected clock's "now", and one log line with how it went.
pub async fn run_job<E, R, F, Fut>(function: &'static str, app: App, handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(App, E, DateTime<Utc>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ApiError>> + Send,
{
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<E>| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let cold_start = app.take_cold_start();
            let span = tracing::info_span!("invocation", function, request_id = %event.context.request_id, cold_start);
            let started = Instant::now();
            let now = app.clock.now(None);
            let result = handler(app, event.payload, now).instrument(span.clone()).await;
            let ms = started.elapsed().as_millis() as u64;
            let _entered = span.enter();
            match &result {
                Ok(_) => tracing::info!(function, ms, cold_start, "invocation done"),
                Err(e) => tracing::error!(function, ms, cold_start, error = %e, "invocation failed"),
            }
            result.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_reads_back_from_its_schedule_input() {
        for job in ScheduledJob::ALL {
            let input = serde_json::json!({ "job": job.name() });
            let parsed: Scheduled = serde_json::from_value(input).expect("a schedule input");
            assert_eq!(parsed.job, job);
            assert_eq!(ScheduledJob::parse(job.name()), Some(job));
        }
        assert!(serde_json::from_str::<Scheduled>(r#"{"job":"nap"}"#).is_err());
        assert!(serde_json::from_str::<Scheduled>(r#"{"kind":"scheduled"}"#).is_err());
    }

    #[test]
    fn every_function_with_a_schedule_runs_only_its_own_jobs() {
        let functions: std::collections::BTreeSet<&str> = ScheduledJob::ALL.iter().map(|j| j.function()).collect();
        let expected = ["assignment-jobs", "auto-close", "escalate", "ledger-audit", "outbox-sweep", "reconcile"];
        assert_eq!(functions.into_iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn reconcile_takes_its_schedule_or_one_payment() {
        let one: Reconcile = serde_json::from_str(r#"{"reference":"pay_1","admin_id":"a_1"}"#).expect("one");
        assert!(matches!(one, Reconcile::One { ref reference, .. } if reference == "pay_1"));
        let scheduled: Reconcile = serde_json::from_str(r#"{"job":"reconcile"}"#).expect("scheduled");
        assert!(matches!(scheduled, Reconcile::Scheduled(Scheduled { job: ScheduledJob::Reconcile })));
        assert!(serde_json::from_str::<Reconcile>(r#"{"reference":"pay_1"}"#).is_err());
    }
}
