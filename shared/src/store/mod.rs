//! DynamoDB: the only code that knows keys and attribute names (docs/data-model.md).

mod accounts;
mod admins;
mod assignments;
pub mod attr;
mod characters;
mod chats;
mod closing;
mod cursor;
mod edits;
mod erasure;
mod idempotency;
mod jobs;
mod ledger;
mod limits;
mod media;
mod members;
mod moderation;
mod notifications;
mod operators;
mod outbox;
mod payments;
mod payouts;
mod queue;
mod realtime;
mod refunds;
mod send;
mod settings;
mod stats;
#[cfg(feature = "test-support")]
pub mod testing;
mod tokens;
mod tx;

use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use rand::Rng;

pub use accounts::{BalanceOutcome, Deletion};
pub use admins::{AdminWrite, AuditRecord};
pub use assignments::{AssignmentRecord, ClaimOutcome, QueueEntry, ReassignOutcome, ReleaseKind, ReleaseOutcome};
pub use attr::Item;
pub use characters::CharacterFilter;
pub use chats::MessageWindow;
pub use closing::CloseOutcome;
pub use cursor::Page;
pub use edits::EditOutcome;
pub use idempotency::{DoneRecord, IdemRef, Recorded, StoredResponse};
pub use jobs::JobRecord;
pub use limits::RateDecision;
pub use media::{AcceptOutcome, CharacterPhotos, DiscardOutcome};
pub use members::{NewMember, ProfileChanges};
pub use moderation::{AgeCheck, Ban, MemberFile, MemberMatch, Seen, Signal, StatusChange};
pub use notifications::{AdminNotification, Notification};
pub use operators::{AvailabilityOutcome, OperatorDeletion, OperatorProfileChange, Suspension};
pub use outbox::{OutboxEvent, OUTBOX_SHARDS};
pub use payments::{CreditOutcome, Unsuccessful};
pub use payouts::{Payout, PayoutSettle, PayoutSource, PayoutStatus};
pub use queue::{queue_shard, QUEUE_SHARDS};
pub use realtime::Holder;
pub use refunds::RefundDecision;

/// Every key spread over shards: (the key's prefix before `#<shard>`, shards).
/// The partition model (local/partition_model.py) divides their load by it.
pub const SHARDED_KEYS: &[(&str, u32)] = &[
    ("QUEUE", QUEUE_SHARDS),
    ("OUTBOX", OUTBOX_SHARDS),
    ("OPENCHATS", chats::OPEN_CHAT_SHARDS),
    ("RECONCILE", payments::RECONCILE_SHARDS),
    ("OPS_AVAILABLE", operators::AVAILABLE_SHARDS),
    ("PRICING", settings::PRICING_SHARDS),
    ("MSGS_MEMBER", crate::domain::stats::MESSAGE_SHARDS),
    ("MSGS_CHARACTER", crate::domain::stats::MESSAGE_SHARDS),
    ("MEMBERCOUNT", stats::COUNTER_SHARDS),
];
pub use send::{SendCommit, SendInputs, SendOutcome};
pub use settings::{AssignmentSettings, SettingsWrite, StoredSettings};
pub use stats::NowBlock;
pub use tokens::TokenRef;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bad cursor")]
    BadCursor,
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    #[error("dynamodb: {0}")]
    Dynamo(String),
    #[error("transaction still colliding after {0} attempts")]
    Contention(u32),
    /// The database did not answer in time, or could not be reached: the outcome
    /// of a write is unknown.
    #[error("dynamodb unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// An SDK call's error: a timeout, a connection that failed, or a response that
    /// did not arrive whole is `Unavailable` (the outcome is unknown); anything else
    /// is an error of DynamoDB's, kept with its causes.
    pub fn sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
        let unavailable = match &e {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            // Still throttled, or failing on DynamoDB's side, after the SDK's retries.
            SdkError::ServiceError(_) => UNAVAILABLE_CODES.contains(&e.code().unwrap_or("")),
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(Self::dynamo_text(&e))
        } else {
            StoreError::Dynamo(Self::dynamo_text(&e))
        }
    }

    /// The error and its causes, one line, without the raw HTTP response the SDK
    /// would otherwise print.
    pub fn dynamo<E: std::error::Error + 'static>(e: E) -> Self {
        StoreError::Dynamo(Self::dynamo_text(&e))
    }

    fn dynamo_text(e: &dyn std::error::Error) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text.chars().take(600).collect()
    }
}

/// DynamoDB error codes that mean "not now" rather than "never": answered 503.
const UNAVAILABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

/// Why a conditional transaction did not commit.
#[derive(Debug)]
pub enum TransactFailure {
    /// A condition failed: one entry per action, `Some(old item)` where that
    /// action's condition failed (ReturnValuesOnConditionCheckFailure ALL_OLD).
    ConditionFailed(Vec<Option<Item>>),
    Store(StoreError),
}

impl TransactFailure {
    /// For a transaction whose conditions cannot fail but on a broken invariant.
    pub fn into_store(self) -> StoreError {
        match self {
            TransactFailure::Store(e) => e,
            TransactFailure::ConditionFailed(_) => StoreError::Corrupt("a new item's key already existed".into()),
        }
    }
}

impl From<StoreError> for TransactFailure {
    fn from(e: StoreError) -> Self {
        TransactFailure::Store(e)
    }
}

/// How many times a transaction cancelled by a conflict or throttle is tried.
const TRANSACT_ATTEMPTS: u32 = 8;

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Store { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Runs one TransactWriteItems, retrying `TransactionConflict` cancellations and
    /// throttling with jittered exponential backoff a bounded number of times.
    /// Condition failures are returned with the old items, never retried here.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(
                    e @ (aws_sdk_dynamodb::error::SdkError::TimeoutError(_)
                    | aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
                    | aws_sdk_dynamodb::error::SdkError::ResponseError(_)),
                ) => return Err(StoreError::sdk(e).into()),
                Err(e) => e.into_service_error(),
            };
            let retryable = match classify(&err) {
                Cancel::Condition(old) => return Err(TransactFailure::ConditionFailed(old)),
                Cancel::Retryable => true,
                Cancel::Other => false,
            };
            if !retryable {
                if UNAVAILABLE_CODES.contains(&err.code().unwrap_or("")) {
                    return Err(StoreError::Unavailable(StoreError::dynamo_text(&err)).into());
                }
                return Err(StoreError::dynamo(err).into());
            }
            if attempt >= TRANSACT_ATTEMPTS {
                // Conflicts between our own writes are contention (409); a table
                // that keeps throttling is unavailable (503).
                return Err(match classify_transient(&err) {
                    Transient::Conflict => StoreError::Contention(attempt),
                    Transient::Throttle => StoreError::Unavailable(StoreError::dynamo_text(&err)),
                }
                .into());
            }
            backoff(attempt).await;
        }
    }
}

enum Transient {
    Conflict,
    Throttle,
}

fn classify_transient(err: &TransactWriteItemsError) -> Transient {
    if let TransactWriteItemsError::TransactionCanceledException(e) = err {
        if e.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict")) {
            return Transient::Conflict;
        }
    }
    Transient::Throttle
}

enum Cancel {
    Condition(Vec<Option<Item>>),
    Retryable,
    Other,
}

fn classify(err: &TransactWriteItemsError) -> Cancel {
    if let TransactWriteItemsError::TransactionCanceledException(e) = err {
        let reasons = e.cancellation_reasons();
        let code = |r: &aws_sdk_dynamodb::types::CancellationReason| r.code().unwrap_or("None").to_string();
        if reasons.iter().any(|r| code(r) == "ConditionalCheckFailed") {
            let old = reasons
                .iter()
                .map(|r| (code(r) == "ConditionalCheckFailed").then(|| r.item().cloned().unwrap_or_default()))
                .collect();
            return Cancel::Condition(old);
        }
        let transient = ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];
        if reasons.iter().any(|r| transient.contains(&code(r).as_str())) {
            return Cancel::Retryable;
        }
        return Cancel::Other;
    }
    match err.code() {
        Some("ThrottlingException" | "ProvisionedThroughputExceededException" | "TransactionInProgressException") => {
            Cancel::Retryable
        }
        _ => Cancel::Other,
    }
}

/// Full jitter: a random wait up to 10 ms * 2^attempt, capped at 400 ms.
async fn backoff(attempt: u32) {
    let cap = (10u64 << attempt.min(6)).min(400);
    let wait = rand::rng().random_range(1..=cap);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}
