//! Lambda `reconcile`: every 15 minutes, verifies due pending payments with Paystack;
//! invoked with `{"reference", "admin_id"}`, checks that one payment now.

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
            Ok::<_, lambda_runtime::Error>(
                fantooo::services::jobs::reconcile_invocation(&app, event.payload, now).await?,
            )
        }
    }))
    .await
}
