//! Lambda `auto-close`: hourly, closes chats with no message for 24 hours (`{"job":"auto-close"}`).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("auto-close", app, |app, event, now| inbound::scheduled("auto-close", app, event, now)).await
}
