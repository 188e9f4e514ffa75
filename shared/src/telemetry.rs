//! Structured logs: JSON on Lambda, readable text locally. Never bodies or secrets.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// `RUST_LOG` as `level` or `target=level,...` (tracing-subscriber's `Targets`
/// syntax, which needs no regex engine in every Lambda); `info` when unset or
/// unreadable.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let on_lambda = std::env::var("AWS_LAMBDA_FUNCTION_NAME").is_ok();
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let result =
        if on_lambda { registry.with(fmt.json().without_time()).try_init() } else { registry.with(fmt).try_init() };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
