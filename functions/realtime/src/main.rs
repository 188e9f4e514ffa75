//! Lambda `realtime`: the WebSocket API's `$connect`, `$default` and `$disconnect`
//! routes (`inbound::realtime`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    fantooo::inbound::realtime::run(app).await
}
