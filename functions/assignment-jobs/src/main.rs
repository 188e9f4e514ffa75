//! Lambda `assignment-jobs`: the assignment timers, each on its own EventBridge schedule with
//! input `{"job": ...}`: queue sweep, idle watch, suspension expiry, and the pending
//! jobs of deletions and bans.

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("assignment-jobs", app, |app, event, now| inbound::scheduled("assignment-jobs", app, event, now))
        .await
}
