//! Lambda `escalate`: every 5 minutes, escalates chats that reached the reassignment limit (`{"job":"escalate"}`).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("escalate", app, |app, event, now| inbound::scheduled("escalate", app, event, now)).await
}
