//! Scheduled jobs of their own: the outbox sweep and the ledger audit (the
//! schedules themselves, and what invokes each, are in `inbound`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Credits;
use crate::error::ApiError;
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
