//! Lambda `reconcile`: every 15 minutes (`{"job":"reconcile"}`), verifies due pending
//! payments with Paystack; invoked with `{"reference", "admin_id"}`, checks that one
//! payment now.

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("reconcile", app, inbound::reconcile).await
}
