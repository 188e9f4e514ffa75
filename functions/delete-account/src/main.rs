//! Lambda `delete-account`: DELETE /me. Closes the account at once (the refund owed
//! for unused credits recorded, sessions revoked) and leaves the erasure of its
//! chats to the `pending-jobs` schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_http::run(fantooo::http::routes::router(app, &[fantooo::http::routes::DELETE_ACCOUNT])).await
}
