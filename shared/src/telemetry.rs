//! Structured logs: JSON on Lambda, readable text locally. Never bodies or secrets.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var("AWS_LAMBDA_FUNCTION_NAME").is_ok();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = if on_lambda { builder.json().without_time().try_init() } else { builder.try_init() };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
