//! The dependency bundle a function builds once per cold start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::clock::Clock;
use crate::config::{self, Config, ConfigError};
use crate::events::EventBus;
use crate::objects::MediaBucket;
use crate::payments::Paystack;
use crate::queue::AssignmentQueue;
use crate::realtime::Realtime;
use crate::services::assignment::Roster;
use crate::store::Store;

pub struct Secrets {
    pub token_signing_key: String,
    pub paystack_secret_key: String,
    pub admin_setup_token: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(***)")
    }
}

pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub queue: AssignmentQueue,
    pub events: EventBus,
    /// The media bucket (characters' photos).
    pub media: MediaBucket,
    pub paystack: Paystack,
    /// WebSocket delivery (API Gateway's `@connections`).
    pub realtime: Realtime,
    pub tokens: TokenKeys,
    pub secrets: Secrets,
    pub clock: Clock,
    /// The assigner's operator list, kept about a second (services::assignment).
    pub roster: Roster,
    cold: AtomicBool,
}

/// Cheap to clone: handlers share one bundle.
#[derive(Clone)]
pub struct App(Arc<Inner>);

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Config, AWS clients and secrets, once per cold start, with the system clock.
    pub async fn from_env() -> Result<App, ConfigError> {
        Self::from_env_with_clock(Clock::System).await
    }

    pub async fn from_env_with_clock(clock: Clock) -> Result<App, ConfigError> {
        let config = Config::from_env()?;
        let aws = config::aws_from_env()?;
        // DynamoDB calls give up in time to answer 503 rather than hang: the SDK's
        // connect, per-attempt and whole-call (retries included) timeouts.
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(config.timeouts.db_connect)
            .operation_attempt_timeout(config.timeouts.db_attempt)
            .operation_timeout(config.timeouts.db_operation)
            .build();
        let dynamo = aws_sdk_dynamodb::config::Builder::from(&aws).timeout_config(timeouts).build();
        let ssm = aws_sdk_ssm::Client::new(&aws);
        let secrets = Secrets {
            token_signing_key: config::secret(&ssm, "TOKEN_SIGNING_KEY").await?,
            paystack_secret_key: config::secret(&ssm, "PAYSTACK_SECRET_KEY").await?,
            admin_setup_token: config::secret(&ssm, "ADMIN_SETUP_TOKEN").await?,
        };
        if secrets.token_signing_key.len() < 32 {
            return Err(ConfigError::Invalid("TOKEN_SIGNING_KEY", "must be at least 32 bytes".into()));
        }
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(dynamo), config.table_name.clone());
        let queue = AssignmentQueue::new(aws_sdk_sqs::Client::new(&aws), config.assignment_queue_url.clone());
        let events = EventBus::new(aws_sdk_eventbridge::Client::new(&aws), config.event_bus_name.clone());
        // The local emulator serves buckets by path (`<endpoint>/<bucket>/<key>`).
        let s3 = aws_sdk_s3::config::Builder::from(&aws).force_path_style(aws.endpoint_url().is_some()).build();
        let media =
            MediaBucket::new(aws_sdk_s3::Client::from_conf(s3), config.media_bucket.clone(), &config.media_public_url);
        // Its own endpoint (the WebSocket API's stage), never the emulator's; short
        // timeouts, as delivery runs before a request answers.
        let gateway_timeouts = aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_millis(500))
            .operation_attempt_timeout(std::time::Duration::from_millis(1_000))
            .build();
        let gateway = aws_sdk_apigatewaymanagement::config::Builder::from(&aws)
            .endpoint_url(&config.realtime_endpoint)
            .timeout_config(gateway_timeouts)
            .build();
        let realtime =
            Realtime::new(aws_sdk_apigatewaymanagement::Client::from_conf(gateway), config.realtime_url.clone());
        let paystack = Paystack::new(&config.paystack_base_url, &secrets.paystack_secret_key)
            .map_err(|e| ConfigError::Invalid("PAYSTACK_BASE_URL", e.to_string()))?;
        let tokens = TokenKeys::new(secrets.token_signing_key.as_bytes());
        let cold = AtomicBool::new(true);
        Ok(App(Arc::new(Inner {
            config,
            store,
            queue,
            events,
            media,
            paystack,
            realtime,
            tokens,
            secrets,
            clock,
            roster: Roster::default(),
            cold,
        })))
    }

    /// True for the first invocation this instance serves.
    pub fn take_cold_start(&self) -> bool {
        self.cold.swap(false, Ordering::Relaxed)
    }
}
