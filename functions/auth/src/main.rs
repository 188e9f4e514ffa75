//! Lambda `auth`: register, login, refresh and logout.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::AUTH])).await
}
