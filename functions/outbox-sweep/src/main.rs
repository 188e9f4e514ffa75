//! Lambda `outbox-sweep`: every minute, publishes waiting domain events to EventBridge.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let published = fantooo::services::jobs::sweep_outbox(&app).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "published": published }))
        }
    }))
    .await
}
