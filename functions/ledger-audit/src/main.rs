//! Lambda `ledger-audit`: daily, checks every member's ledger sums to the balance (`{"job":"ledger-audit"}`).

use fantooo::inbound;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    inbound::run_job("ledger-audit", app, |app, event, now| inbound::scheduled("ledger-audit", app, event, now)).await
}
