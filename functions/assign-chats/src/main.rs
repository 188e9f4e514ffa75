//! Lambda `assign-chats`: SQS consumer of the assignment queue (partial batch responses).

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let now = app.clock.now(None);
            Ok::<_, lambda_runtime::Error>(fantooo::services::jobs::assign_chats_batch(&app, event.payload, now).await)
        }
    }))
    .await
}
