//! Lambda `ledger-audit`: daily, checks every member's ledger sums to the balance.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let report = fantooo::services::jobs::audit_ledgers(&app, app.clock.now(None)).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
