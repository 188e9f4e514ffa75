//! Rate limits per client IP (login, register, username-available, staff logins),
//! per username or email (login, register) and per signed-in principal (realtime
//! tickets): at most the configured number in
//! any 60 seconds (`domain::limits`). Bucket keys hold a hash, never the IP or the
//! name itself, and are bounded in length whatever the input.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::RateDecision;
use crate::App;

fn bucket(route: &str, kind: &str, value: &str) -> String {
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!("{route}:{kind}:{}", &digest[..32])
}

/// Counts one attempt on `route` from `ip`.
pub async fn check_ip(app: &App, route: &str, ip: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    hit(app, &bucket(route, "ip", ip), app.config.rate_limits.per_ip_per_minute, now).await
}

/// Counts one attempt on `route` for `name` (a username or an email), once the
/// name has been validated.
pub async fn check_name(app: &App, route: &str, name: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    hit(app, &bucket(route, "user", name), app.config.rate_limits.per_username_per_minute, now).await
}

/// Counts one attempt on `route` by a signed-in principal (`scope`), at most
/// `limit` a minute.
pub async fn check_principal(
    app: &App,
    route: &str,
    scope: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    hit(app, &bucket(route, "principal", scope), limit, now).await
}

async fn hit(app: &App, bucket: &str, limit: u32, now: DateTime<Utc>) -> Result<(), ApiError> {
    match app.store.hit_rate_limit(bucket, limit, now).await? {
        RateDecision::Allowed => Ok(()),
        RateDecision::Limited { retry_after_secs } => Err(ApiError::RateLimited { retry_after_secs }),
    }
}
