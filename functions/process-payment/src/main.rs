//! Lambda `process-payment`: POST /webhooks/paystack (signed, recorded, credited at most once).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::PROCESS_PAYMENT])).await
}
