//! Lambda `validate-media`: SQS consumer of the media queue, where the media bucket
//! reports uploaded photos; each is checked and joins its character or is flagged
//! (partial batch responses).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("validate-media", app, |app, event, now| async move {
        Ok(inbound::validate_media(&app, event, now).await)
    })
    .await
}
