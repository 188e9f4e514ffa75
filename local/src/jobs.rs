//! The schedules EventBridge runs on AWS, run here on their rates (the emulator
//! never fires schedules). Each rate can be shortened for local work.

use std::time::Duration;

use fantooo::services::{jobs, payments};
use fantooo::App;

fn every(var: &str, default_secs: u64) -> Duration {
    Duration::from_secs(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default_secs).max(1))
}

/// Starts the SQS consumer and every schedule in the background; they stop with
/// the process.
pub fn spawn_all(app: &App) {
    if std::env::var("FANTOOO_LOCAL_CONSUMER").as_deref() != Ok("off") {
        let consumer = app.clone();
        tokio::spawn(async move { consume_assignment_queue(&consumer).await });
        println!("consumer assign-chats: polling the assignment queue");
    }
    let rates = [
        ("outbox-sweep", every("FANTOOO_LOCAL_OUTBOX_SECS", 60)),
        ("reconcile", every("FANTOOO_LOCAL_RECONCILE_SECS", 15 * 60)),
        ("ledger-audit", every("FANTOOO_LOCAL_AUDIT_SECS", 24 * 60 * 60)),
        ("sweep", every("FANTOOO_LOCAL_ASSIGN_SWEEP_SECS", 60)),
        ("idle-watch", every("FANTOOO_LOCAL_IDLE_WATCH_SECS", 60)),
        ("escalate", every("FANTOOO_LOCAL_ESCALATE_SECS", 60)),
        ("auto-close", every("FANTOOO_LOCAL_AUTO_CLOSE_SECS", 60 * 60)),
        ("suspension-expiry", every("FANTOOO_LOCAL_SUSPENSION_SECS", 60 * 60)),
    ];
    for (name, rate) in rates {
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
