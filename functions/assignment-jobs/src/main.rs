//! Lambda `assignment-jobs`: sweep, idle watch, escalation, auto-close and suspension
//! expiry, each on its own EventBridge schedule with input `{"job": "..."}`.

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
            Ok::<_, lambda_runtime::Error>(fantooo::services::jobs::assignment_job(&app, event.payload, now).await?)
        }
    }))
    .await
}
