//! The schedules EventBridge runs on AWS, run here on their rates (the emulator
//! never fires schedules). Each rate can be shortened for local work.

use std::time::Duration;

use fantooo::services::{jobs, payments};
use fantooo::App;

fn every(var: &str, default_secs: u64) -> Duration {
    Duration::from_secs(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default_secs).max(1))
}

/// Starts every schedule in the background; they stop with the process.
pub fn spawn_all(app: &App) {
    let rates = [
        ("outbox-sweep", every("FANTOOO_LOCAL_OUTBOX_SECS", 60)),
        ("reconcile", every("FANTOOO_LOCAL_RECONCILE_SECS", 15 * 60)),
        ("ledger-audit", every("FANTOOO_LOCAL_AUDIT_SECS", 24 * 60 * 60)),
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
        _ => jobs::audit_ledgers(app, now).await.map(|r| format!("{r:?}")),
    };
    match result {
        Ok(summary) => tracing::info!(job = name, summary, "scheduled job ran"),
        Err(e) => tracing::error!(job = name, error = %e, "scheduled job failed"),
    }
}
