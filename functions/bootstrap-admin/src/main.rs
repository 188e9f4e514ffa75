//! Lambda `bootstrap-admin`: `GET /setup` and `POST /setup`, the first super admin,
//! once, for the holder of the setup token.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::BOOTSTRAP_ADMIN])).await
}
