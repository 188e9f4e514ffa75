//! Lambda `send-message`: POST /chats/{id}/messages, the money path.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::SEND_MESSAGE])).await
}
