//! Scheduled and invoked jobs: the outbox sweep, the ledger audit, and the
//! reconcile function's two kinds of invocation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Credits;
use crate::error::ApiError;
use crate::services::payments;
use crate::store::OUTBOX_SHARDS;
use crate::App;

/// Publishes every waiting outbox event and deletes those the bus took.
/// A failed publish leaves the event for the next sweep: nothing is lost.
pub async fn sweep_outbox(app: &App) -> Result<usize, ApiError> {
    let mut published = 0;
    for shard in 0..OUTBOX_SHARDS {
        loop {
            let events = app.store.outbox(shard, 50).await?;
            if events.is_empty() {
                break;
            }
            let mut progress = false;
            for batch in events.chunks(10) {
                let accepted = match app.events.publish(batch).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "outbox publish failed; the next sweep retries");
                        return Ok(published);
                    }
                };
                for (event, ok) in batch.iter().zip(accepted) {
                    if ok {
                        app.store.delete_outbox(event).await?;
                        published += 1;
                        progress = true;
                    }
                }
            }
            if !progress || events.len() < 50 {
                break;
            }
        }
    }
    Ok(published)
}

#[derive(Debug, Default, Serialize)]
pub struct AuditReport {
    pub members: usize,
    pub mismatches: usize,
}

const AUDIT_SEGMENTS: i32 = 4;

/// Checks that every member's ledger sums to their balance; each mismatch raises
/// a high-priority admin notification.
pub async fn audit_ledgers(app: &App, now: DateTime<Utc>) -> Result<AuditReport, ApiError> {
    let mut segments = tokio::task::JoinSet::new();
    for segment in 0..AUDIT_SEGMENTS {
        let app = app.clone();
        segments.spawn(async move { audit_segment(&app, segment, now).await });
    }
    let mut report = AuditReport::default();
    while let Some(r) = segments.join_next().await {
        let r = r.map_err(ApiError::internal)??;
        report.members += r.members;
        report.mismatches += r.mismatches;
    }
    tracing::info!(members = report.members, mismatches = report.mismatches, "ledger audit done");
    Ok(report)
}

async fn audit_segment(app: &App, segment: i32, now: DateTime<Utc>) -> Result<AuditReport, ApiError> {
    let mut report = AuditReport::default();
    let mut start = None;
    loop {
        let (members, next) = app.store.scan_member_balances(segment, AUDIT_SEGMENTS, start).await?;
        for (id, balance) in members {
            report.members += 1;
            let sum: i64 = app.store.ledger(&id).await?.iter().map(|(amount, _, _)| amount.hundredths()).sum();
            if sum != balance.hundredths() {
                report.mismatches += 1;
                let msg =
                    format!("Member {id}: balance {balance} but ledger sums to {}", Credits::from_hundredths(sum));
                tracing::error!(member_id = %id, "ledger mismatch");
                app.store.put_admin_notification("ledger_mismatch", "high", &msg, Some(&id), now).await?;
            }
        }
        match next {
            Some(k) => start = Some(k),
            None => return Ok(report),
        }
    }
}

/// What invokes the reconcile function: its schedule, or an admin for one payment.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ReconcileInvocation {
    One { reference: String, admin_id: String },
    Scheduled { kind: String },
}

pub async fn reconcile_invocation(
    app: &App,
    event: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    let invocation: ReconcileInvocation = serde_json::from_value(event).map_err(|_| {
        ApiError::BadRequest("expected {\"kind\":\"scheduled\"} or {\"reference\",\"admin_id\"}".into())
    })?;
    match invocation {
        ReconcileInvocation::One { reference, admin_id } => {
            let settlement = payments::reconcile_one(app, &reference, &admin_id, now).await?;
            Ok(serde_json::json!({ "reference": reference, "settlement": settlement }))
        }
        ReconcileInvocation::Scheduled { kind } => {
            let report = payments::reconcile(app, now).await?;
            tracing::info!(kind, ?report, "reconcile run");
            serde_json::to_value(report).map_err(ApiError::internal)
        }
    }
}

/// The assigner's SQS batch: one pass for the whole batch. Returns the partial
/// batch response: only real errors fail messages (a pass error fails them all; a
/// body that is not JSON is poison and goes to the DLQ after 3 receives). No free
/// operator is a success: the queue entry keeps the chat.
pub async fn assign_chats_batch(app: &App, event: serde_json::Value, now: DateTime<Utc>) -> serde_json::Value {
    let records = event.get("Records").and_then(|r| r.as_array()).cloned().unwrap_or_default();
    let bodies: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| {
            let id = r.get("messageId")?.as_str()?.to_string();
            let body = r.get("body").and_then(|b| b.as_str()).unwrap_or_default().to_string();
            Some((id, body))
        })
        .collect();
    let failures: Vec<String> = match crate::services::assignment::on_triggers(app, &bodies, now).await {
        Ok(poison) => poison,
        Err(e) => {
            tracing::error!(error = %e, "assignment pass failed; the batch will be retried");
            bodies.into_iter().map(|(id, _)| id).collect()
        }
    };
    let items: Vec<_> = failures.into_iter().map(|id| serde_json::json!({ "itemIdentifier": id })).collect();
    serde_json::json!({ "batchItemFailures": items })
}

/// The assignment timers, one function with a schedule per job (`{"job": ...}`).
pub async fn assignment_job(
    app: &App,
    event: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    use crate::services::assignment as a;
    let job = event.get("job").and_then(|j| j.as_str()).unwrap_or_default();
    let out = match job {
        "sweep" => serde_json::to_value(a::assign_pass(app, now).await?),
        "idle-watch" => serde_json::to_value(a::idle_watch(app, a::timers(app).await?, now).await?),
        "escalate" => serde_json::to_value(a::escalate_due(app, now).await?),
        "auto-close" => serde_json::to_value(a::auto_close(app, now).await?),
        "suspension-expiry" => serde_json::to_value(a::end_suspensions(app, now).await?),
        "pending-jobs" => serde_json::to_value(
            crate::services::closing::run_jobs(app, now, crate::services::closing::Budget::default()).await?,
        ),
        other => return Err(ApiError::BadRequest(format!("unknown job {other:?}"))),
    };
    let out = out.map_err(ApiError::internal)?;
    tracing::info!(job, result = %out, "assignment job ran");
    Ok(out)
}
