//! Lambda `operator`: the operator console (login, availability, waiting room, chat view, replies).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::OPERATOR])).await
}
