//! One Config from the environment, checked at cold start.

use std::env;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error("could not read secret {name} from SSM: {cause}")]
    Ssm { name: String, cause: String },
}

#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Requests a minute per client IP on each limited route.
    pub per_ip_per_minute: u32,
    /// Attempts a minute per username on login and register.
    pub per_username_per_minute: u32,
}

/// How long the database and a whole request may take before the answer is 503
/// `unavailable` (docs/decisions.md, "Timeouts"). Lambda's own timeout (10 s for
/// the HTTP functions) sits above `request`, API Gateway's 30 s above both.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Opening a connection to DynamoDB.
    pub db_connect: std::time::Duration,
    /// One attempt of one DynamoDB call.
    pub db_attempt: std::time::Duration,
    /// One DynamoDB call, the SDK's own retries included.
    pub db_operation: std::time::Duration,
    /// A whole HTTP request, our own retries of conditional writes included.
    pub request: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub assignment_queue_url: String,
    /// The bucket of characters' photos (`MEDIA_BUCKET`).
    pub media_bucket: String,
    /// Where the bucket's objects are served from, no trailing slash
    /// (`MEDIA_PUBLIC_URL`): a photo's URL is `<media_public_url>/<key>`.
    pub media_public_url: String,
    /// The queue of the bucket's notifications (`MEDIA_QUEUE_URL`): read only by
    /// the local stack's consumer (on AWS, Lambda polls it for validate-media).
    pub media_queue_url: Option<String>,
    pub rate_limits: RateLimits,
    /// Domain for platform addresses of members who give no email (`<username>@domain`).
    pub email_domain: String,
    pub disclosure: String,
    pub event_bus_name: String,
    pub paystack_base_url: String,
    /// Public (publishable) key the client's Paystack popup opens with.
    pub paystack_public_key: String,
    pub timeouts: Timeouts,
    /// Where clients open their WebSocket (`REALTIME_URL`: the WebSocket API's
    /// `wss://` stage URL on AWS, `ws://127.0.0.1:3000/ws` locally).
    pub realtime_url: String,
    /// The `@connections` management endpoint deliveries post to
    /// (`REALTIME_ENDPOINT`: the stage's `https://` URL on AWS, the local server locally).
    pub realtime_endpoint: String,
    /// `REALTIME_DELIVERY=off` stops every push (and its read of the connection
    /// lists): an operator's switch if the WebSocket API misbehaves, and the
    /// benchmark's baseline. Tickets, connections and their ending are unaffected.
    pub realtime_delivery: bool,
}

pub const DISCLOSURE: &str = "Profiles on Fantooo are fictional characters, written by our team.";

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: required("TABLE_NAME")?,
            assignment_queue_url: required("ASSIGNMENT_QUEUE_URL")?,
            media_bucket: required("MEDIA_BUCKET")?,
            media_public_url: required("MEDIA_PUBLIC_URL")?,
            media_queue_url: env::var("MEDIA_QUEUE_URL").ok().filter(|v| !v.is_empty()),
            rate_limits: RateLimits {
                per_ip_per_minute: positive("RATE_LIMIT_PER_IP_PER_MINUTE", 60)?,
                per_username_per_minute: positive("RATE_LIMIT_PER_USERNAME_PER_MINUTE", 10)?,
            },
            email_domain: env::var("MEMBER_EMAIL_DOMAIN").unwrap_or_else(|_| "fantooo.com".into()),
            disclosure: DISCLOSURE.into(),
            event_bus_name: required("EVENT_BUS_NAME")?,
            paystack_base_url: env::var("PAYSTACK_BASE_URL").unwrap_or_else(|_| "https://api.paystack.co".into()),
            paystack_public_key: required("PAYSTACK_PUBLIC_KEY")?,
            timeouts: Timeouts {
                db_connect: millis("DB_CONNECT_TIMEOUT_MS", 1_000)?,
                db_attempt: millis("DB_ATTEMPT_TIMEOUT_MS", 1_500)?,
                db_operation: millis("DB_OPERATION_TIMEOUT_MS", 3_000)?,
                request: millis("REQUEST_TIMEOUT_MS", 8_000)?,
            },
            realtime_url: required("REALTIME_URL")?,
            realtime_endpoint: required("REALTIME_ENDPOINT")?,
            realtime_delivery: match env::var("REALTIME_DELIVERY").as_deref() {
                Err(_) | Ok("on") => true,
                Ok("off") => false,
                Ok(other) => return Err(ConfigError::Invalid("REALTIME_DELIVERY", format!("{other}: on or off"))),
            },
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name).ok().filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name))
}

fn millis(name: &'static str, default: u32) -> Result<std::time::Duration, ConfigError> {
    Ok(std::time::Duration::from_millis(u64::from(positive(name, default)?)))
}

/// A number that must be more than 0 (a limit of 0 would lock everyone out).
fn positive(name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match number(name, default)? {
        0 => Err(ConfigError::Invalid(name, "must be more than 0".into())),
        n => Ok(n),
    }
}

fn number(name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match env::var(name) {
        Ok(v) => v.parse().map_err(|_| ConfigError::Invalid(name, v)),
        Err(_) => Ok(default),
    }
}

/// The settings every AWS client shares, from the variables Lambda sets (and the
/// local stack exports): region, the function role's credentials, and locally the
/// emulator's endpoint (`AWS_ENDPOINT_URL`). Lambda hands an instance its role's
/// credentials once, in the environment, so a static provider is what aws-config's
/// chain would have resolved; the rest of that chain is not linked.
pub fn aws_from_env() -> Result<aws_types::SdkConfig, ConfigError> {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    let region = required("AWS_REGION").or_else(|_| required("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        env::var("AWS_SESSION_TOKEN").ok().filter(|v| !v.is_empty()),
        None,
        "environment",
    );
    let mut builder = aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty()) {
        builder = builder.endpoint_url(url);
    }
    Ok(builder.build())
}

/// A secret named by `<NAME>_PARAM` (an SSM SecureString, read once per cold start)
/// or, locally, given directly in `<NAME>`.
pub async fn secret(ssm: &aws_sdk_ssm::Client, name: &'static str) -> Result<String, ConfigError> {
    let param_var = format!("{name}_PARAM");
    if let Ok(param) = env::var(&param_var) {
        let out = ssm.get_parameter().name(&param).with_decryption(true).send().await.map_err(|e| {
            ConfigError::Ssm { name: param.clone(), cause: aws_sdk_ssm::error::DisplayErrorContext(e).to_string() }
        })?;
        return out
            .parameter
            .and_then(|p| p.value)
            .ok_or(ConfigError::Ssm { name: param, cause: "parameter has no value".into() });
    }
    required(name)
}
