//! Lambda `outbox-sweep`: every minute, publishes waiting domain events to EventBridge (`{"job":"outbox-sweep"}`).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("outbox-sweep", app, |app, event, now| inbound::scheduled("outbox-sweep", app, event, now)).await
}
