//! The schedules EventBridge runs on AWS, run here on their rates (the emulator
//! never fires schedules). The rates come from infra/template.yaml itself:
//! local/bootstrap.py reads its Schedule events into FANTOOO_SCHEDULES
//! (`{"<job>": seconds}`), so the two cannot drift. Each can be shortened for
//! local work with its FANTOOO_LOCAL_*_SECS variable.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use fantooo::inbound::{self, ScheduledJob, SqsBatchResponse, SqsEvent};
use fantooo::App;

/// The variable that overrides a job's rate locally.
fn override_var(job: ScheduledJob) -> &'static str {
    match job {
        ScheduledJob::OutboxSweep => "FANTOOO_LOCAL_OUTBOX_SECS",
        ScheduledJob::Reconcile => "FANTOOO_LOCAL_RECONCILE_SECS",
        ScheduledJob::LedgerAudit => "FANTOOO_LOCAL_AUDIT_SECS",
        ScheduledJob::Sweep => "FANTOOO_LOCAL_ASSIGN_SWEEP_SECS",
        ScheduledJob::IdleWatch => "FANTOOO_LOCAL_IDLE_WATCH_SECS",
        ScheduledJob::Escalate => "FANTOOO_LOCAL_ESCALATE_SECS",
        ScheduledJob::AutoClose => "FANTOOO_LOCAL_AUTO_CLOSE_SECS",
        ScheduledJob::SuspensionExpiry => "FANTOOO_LOCAL_SUSPENSION_SECS",
        ScheduledJob::PendingJobs => "FANTOOO_LOCAL_PENDING_JOBS_SECS",
        ScheduledJob::Stats => "FANTOOO_LOCAL_STATS_SECS",
    }
}

/// The template's rates (FANTOOO_SCHEDULES). Every scheduled job of the template
/// must be one this stack runs, and the other way round.
pub fn template_rates() -> anyhow::Result<BTreeMap<String, u64>> {
    let raw = std::env::var("FANTOOO_SCHEDULES")
        .context("FANTOOO_SCHEDULES is not set: start the stack with local/up (local/lib.sh reads the template)")?;
    let rates: BTreeMap<String, u64> = serde_json::from_str(&raw).context("FANTOOO_SCHEDULES is not {job: seconds}")?;
    let known: Vec<&str> = ScheduledJob::ALL.iter().map(|j| j.name()).collect();
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

/// Batches in flight at once, as Lambda's SQS integration starts with five
/// pollers (FANTOOO_LOCAL_POLLERS overrides).
const POLLERS: usize = 5;

/// Starts the SQS consumer and every schedule in the background; they stop with
/// the process.
pub fn spawn_all(app: &App, rates: &BTreeMap<String, u64>) {
    if std::env::var("FANTOOO_LOCAL_CONSUMER").as_deref() != Ok("off") {
        let pollers = std::env::var("FANTOOO_LOCAL_POLLERS").ok().and_then(|v| v.parse().ok()).unwrap_or(POLLERS);
        for _ in 0..pollers {
            let consumer = app.clone();
            let url = app.config.assignment_queue_url.clone();
            tokio::spawn(async move { consume(&consumer, Consumer::AssignChats, &url).await });
        }
        println!("consumer assign-chats: {pollers} pollers on the assignment queue");
    }
    // Photos are checked whatever FANTOOO_LOCAL_CONSUMER says: the tests turn the
    // assigner off to run it themselves, but upload photos through the bucket.
    match app.config.media_queue_url.clone() {
        Some(url) => {
            let consumer = app.clone();
            tokio::spawn(async move { consume(&consumer, Consumer::ValidateMedia, &url).await });
            println!("consumer validate-media: 1 poller on the media queue");
        }
        None => println!("consumer validate-media: off (no MEDIA_QUEUE_URL): uploaded photos stay pending"),
    }
    for job in ScheduledJob::ALL {
        let rate = every(override_var(job), rates.get(job.name()).copied().unwrap_or(60));
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(rate);
            tick.tick().await;
            loop {
                tick.tick().await;
                run(&app, job).await;
            }
        });
        println!("schedule {}: every {}s (function {})", job.name(), rate.as_secs(), job.function());
    }
}

/// What the job's Lambda does on AWS when its schedule fires.
async fn run(app: &App, job: ScheduledJob) {
    match inbound::run(app, job, app.clock.now(None)).await {
        Ok(report) => tracing::info!(job = job.name(), %report, "scheduled job ran"),
        Err(e) => tracing::error!(job = job.name(), error = %e, "scheduled job failed"),
    }
}

/// The queues the local stack consumes, each with the handler its Lambda runs.
#[derive(Clone, Copy, Debug)]
enum Consumer {
    AssignChats,
    ValidateMedia,
}

impl Consumer {
    async fn handle(self, app: &App, event: SqsEvent) -> SqsBatchResponse {
        let now = app.clock.now(None);
        match self {
            Consumer::AssignChats => inbound::assign_chats(app, event, now).await,
            Consumer::ValidateMedia => inbound::validate_media(app, event, now).await,
        }
    }
}

/// What Lambda's SQS integration does on AWS: long-poll, hand the batch to the
/// same handler, delete what succeeded (failed messages come back after the
/// visibility timeout, and go to the DLQ after 3 receives).
async fn consume(app: &App, consumer: Consumer, url: &str) {
    loop {
        let messages = match app.queue.receive_from(url, 5).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(?consumer, error = %e, "queue poll failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages;
        let response = consumer.handle(app, event.clone()).await;
        for message in &event.records {
            let failed =
                response.batch_item_failures.iter().any(|f| Some(&f.item_identifier) == message.message_id.as_ref());
            if let (false, Some(receipt)) = (failed, &message.receipt_handle) {
                if let Err(e) = app.queue.delete_from(url, receipt).await {
                    tracing::warn!(?consumer, error = %e, "could not delete a processed message");
                }
            }
        }
    }
}
