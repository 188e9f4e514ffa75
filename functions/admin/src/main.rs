//! Lambda `admin`: the back office (admin login, the admin's own account, admins,
//! audit log, admin notifications), each route behind the permission gate.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::ADMIN])).await
}
