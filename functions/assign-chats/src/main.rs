//! Lambda `assign-chats`: SQS consumer of the assignment queue (partial batch responses).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job(
        "assign-chats",
        app,
        |app, event, now| async move { Ok(inbound::assign_chats(&app, event, now).await) },
    )
    .await
}
