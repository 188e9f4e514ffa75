//! The schedules EventBridge runs on AWS, run here on their rates (the emulator
//! never fires schedules). The rates come from infra/template.yaml itself:
//! local/bootstrap.py reads its Schedule events into FANTOOO_SCHEDULES
//! (`{"<job>": seconds}`), so the two cannot drift. Each can be shortened for
//! local work with its FANTOOO_LOCAL_*_SECS variable.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use fantooo::services::{jobs, payments};
use fantooo::App;

/// The jobs the local stack can run, with the variable that overrides each rate.
const JOBS: &[(&str, &str)] = &[
    ("outbox-sweep", "FANTOOO_LOCAL_OUTBOX_SECS"),
    ("reconcile", "FANTOOO_LOCAL_RECONCILE_SECS"),
    ("ledger-audit", "FANTOOO_LOCAL_AUDIT_SECS"),
    ("sweep", "FANTOOO_LOCAL_ASSIGN_SWEEP_SECS"),
    ("idle-watch", "FANTOOO_LOCAL_IDLE_WATCH_SECS"),
    ("escalate", "FANTOOO_LOCAL_ESCALATE_SECS"),
    ("auto-close", "FANTOOO_LOCAL_AUTO_CLOSE_SECS"),
    ("suspension-expiry", "FANTOOO_LOCAL_SUSPENSION_SECS"),
    ("pending-jobs", "FANTOOO_LOCAL_PENDING_JOBS_SECS"),
];

/// The template's rates (FANTOOO_SCHEDULES). Every scheduled job of the template
/// must be one this stack runs, and the other way round.
pub fn template_rates() -> anyhow::Result<BTreeMap<String, u64>> {
    let raw = std::env::var("FANTOOO_SCHEDULES")
        .context("FANTOOO_SCHEDULES is not set: start the stack with local/up (local/lib.sh reads the template)")?;
    let rates: BTreeMap<String, u64> = serde_json::from_str(&raw).context("FANTOOO_SCHEDULES is not {job: seconds}")?;
    let known: Vec<&str> = JOBS.iter().map(|(name, _)| *name).collect();
    let template: Vec<&str> = rates.keys().map(String::as_str).collect();
    anyhow::ensure!(
        known.iter().all(|k| template.contains(k)) && template.iter().all(|t| known.contains(t)),
        "the template schedules {template:?} but the local stack runs {known:?}"
    );
    Ok(rates)
}

/// The rate in force: the template's, unless its FANTOOO_LOCAL_*_SECS is set.
fn every(var: &str, template_secs: u64) -> Duration {
    Duration::from_secs(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(template_secs).max(1))
}

/// Starts the SQS consumer and every schedule in the background; they stop with
/// the process.
pub fn spawn_all(app: &App, rates: &BTreeMap<String, u64>) {
    if std::env::var("FANTOOO_LOCAL_CONSUMER").as_deref() != Ok("off") {
        let consumer = app.clone();
        tokio::spawn(async move { consume_assignment_queue(&consumer).await });
        println!("consumer assign-chats: polling the assignment queue");
    }
    for &(name, var) in JOBS {
        let rate = every(var, rates.get(name).copied().unwrap_or(60));
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(rate);
            tick.tick().await;
            loop {
                tick.tick().await;
                run(&app, name).await;
            }
        });
        println!("schedule {name}: every {}s", rate.as_secs());
    }
}

async fn run(app: &App, name: &str) {
    let now = app.clock.now(None);
    let result = match name {
        "outbox-sweep" => jobs::sweep_outbox(app).await.map(|n| format!("published {n}")),
        "reconcile" => payments::reconcile(app, now).await.map(|r| format!("{r:?}")),
        "ledger-audit" => jobs::audit_ledgers(app, now).await.map(|r| format!("{r:?}")),
        job => jobs::assignment_job(app, serde_json::json!({ "job": job }), now).await.map(|r| r.to_string()),
    };
    match result {
        Ok(summary) => tracing::info!(job = name, summary, "scheduled job ran"),
        Err(e) => tracing::error!(job = name, error = %e, "scheduled job failed"),
    }
}

/// What Lambda's SQS integration does on AWS: long-poll, hand the batch to the
/// same handler, delete what succeeded (failed messages come back after the
/// visibility timeout, and go to the DLQ after 3 receives).
async fn consume_assignment_queue(app: &App) {
    loop {
        let messages = match app.queue.receive(5).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "assignment queue poll failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<_> =
            messages.iter().map(|(_, id, body)| serde_json::json!({ "messageId": id, "body": body })).collect();
        let response =
            jobs::assign_chats_batch(app, serde_json::json!({ "Records": records }), app.clock.now(None)).await;
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .map(|f| f.iter().filter_map(|i| i["itemIdentifier"].as_str()).collect())
            .unwrap_or_default();
        for (receipt, id, _) in &messages {
            if !failed.contains(&id.as_str()) {
                if let Err(e) = app.queue.delete(receipt).await {
                    tracing::warn!(error = %e, "could not delete a processed trigger");
                }
            }
        }
    }
}
