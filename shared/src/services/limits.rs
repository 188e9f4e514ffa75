//! Rate limits on login and register: per client IP and per username.

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::store::RateDecision;
use crate::App;

const WINDOW_SECS: i64 = 60;

/// Counts one attempt on `route` from `ip` (and for `username`, if given).
pub async fn check(
    app: &App,
    route: &str,
    ip: &str,
    username: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let limits = &app.config.rate_limits;
    let mut buckets = vec![(format!("{route}:ip:{ip}"), limits.per_ip_per_minute)];
    if let Some(u) = username {
        buckets.push((format!("{route}:user:{u}"), limits.per_username_per_minute));
    }
    for (bucket, limit) in buckets {
        if let RateDecision::Limited { retry_after_secs } =
            app.store.hit_rate_limit(&bucket, limit, WINDOW_SECS, now).await?
        {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
    }
    Ok(())
}
