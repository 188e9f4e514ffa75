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

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub assignment_queue_url: String,
    pub rate_limits: RateLimits,
    /// Domain for platform addresses of members who give no email (`<username>@domain`).
    pub email_domain: String,
    pub disclosure: String,
    pub event_bus_name: String,
    pub paystack_base_url: String,
    /// Public (publishable) key the client's Paystack popup opens with.
    pub paystack_public_key: String,
}

pub const DISCLOSURE: &str = "Profiles on Fantooo are fictional characters, written by our team.";

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: required("TABLE_NAME")?,
            assignment_queue_url: required("ASSIGNMENT_QUEUE_URL")?,
            rate_limits: RateLimits {
                per_ip_per_minute: number("RATE_LIMIT_PER_IP_PER_MINUTE", 60)?,
                per_username_per_minute: number("RATE_LIMIT_PER_USERNAME_PER_MINUTE", 10)?,
            },
            email_domain: env::var("MEMBER_EMAIL_DOMAIN").unwrap_or_else(|_| "fantooo.com".into()),
            disclosure: DISCLOSURE.into(),
            event_bus_name: required("EVENT_BUS_NAME")?,
            paystack_base_url: env::var("PAYSTACK_BASE_URL").unwrap_or_else(|_| "https://api.paystack.co".into()),
            paystack_public_key: required("PAYSTACK_PUBLIC_KEY")?,
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name).ok().filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name))
}

fn number(name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match env::var(name) {
        Ok(v) => v.parse().map_err(|_| ConfigError::Invalid(name, v)),
        Err(_) => Ok(default),
    }
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
