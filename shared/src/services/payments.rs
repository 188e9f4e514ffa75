//! Payments: checkout with a locked price, the signed Paystack webhook, crediting
//! at most once, reconciliation against Paystack's verify API, and refunds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::ids::{MemberId, PaymentRef};
use crate::domain::payment::{self, ChargeReport, ChargeStatus, Decision, PackageSnapshot, Payment, PaymentStatus};
use crate::domain::principal::Principal;
use crate::domain::realtime::Delivery;
use crate::domain::{ids, MemberStatus};
use crate::error::ApiError;
use crate::payments::signature;
use crate::payments::webhook::{self, EventKind, WebhookEvent};
use crate::services::active_member;
use crate::services::idempotent::{Idempotency, Keyed};
use crate::store::{CreditOutcome, Page, Unsuccessful};
use crate::App;

pub const CHECKOUT_ROUTE: &str = "POST /credits/checkout";
/// Re-reads of the member when a concurrent balance change beat a credit.
const CREDIT_ATTEMPTS: u32 = 30;

/// A created checkout: what Paystack's popup needs (what a key's retry gets again).
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkout {
    pub reference: PaymentRef,
    pub amount: i64,
    pub currency: String,
    pub email: String,
    pub public_key: String,
    pub package: PackageSnapshot,
}

/// Creates a pending payment with the package's price locked, for Paystack's popup.
pub async fn checkout(
    app: &App,
    member_id: &MemberId,
    package_id: &str,
    idem: Option<Idempotency<'_>>,
    now: DateTime<Utc>,
) -> Result<Checkout, ApiError> {
    crate::domain::validation::id(package_id).map_err(|e| ApiError::invalid("package_id", e))?;
    let member = active_member(app, member_id).await?;
    let scope = Principal::member(member_id).scope();
    let keyed = idem.as_ref().map(|i| Keyed::new(&scope, CHECKOUT_ROUTE, i));
    if let Some(k) = &keyed {
        if let Some(first) = k.recorded(app, now).await? {
            return Ok(first);
        }
    }
    let package = match app.store.get_package(package_id).await? {
        Some(p) if p.is_active => p,
        _ => return Err(ApiError::NotFound("package")),
    };
    let snapshot = PackageSnapshot::from(&package);
    let email = member.email.clone().unwrap_or_else(|| format!("{}@{}", member.username, app.config.email_domain));
    let p = Payment::pending(PaymentRef::new(ids::new_id("pay_")), member.id.clone(), snapshot, email, now);
    let checkout = Checkout {
        reference: p.reference.clone(),
        amount: p.snapshot.price,
        currency: p.snapshot.currency.clone(),
        email: p.email.clone(),
        public_key: app.config.paystack_public_key.clone(),
        package: p.snapshot.clone(),
    };
    let body = serde_json::to_string(&checkout).map_err(ApiError::internal)?;
    if app.store.create_payment(&p, keyed.as_ref().map(|k| k.done(&body)), now).await? {
        tracing::info!(reference = %p.reference, package = %p.snapshot.package_id, "checkout created");
        return Ok(checkout);
    }
    let Some(k) = &keyed else { return Err(ApiError::Contention) };
    k.recorded(app, now).await?.ok_or(ApiError::RequestInProgress)
}

/// `GET /credits/transactions` item.
#[derive(Serialize)]
pub struct TransactionView {
    pub reference: PaymentRef,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub credits: i64,
    pub bonus_credits: i64,
    pub package_id: String,
    pub package_name: String,
    pub created_at: DateTime<Utc>,
    pub credited_at: Option<DateTime<Utc>>,
}

impl From<&Payment> for TransactionView {
    fn from(p: &Payment) -> Self {
        TransactionView {
            reference: p.reference.clone(),
            status: p.status,
            amount: p.snapshot.price,
            currency: p.snapshot.currency.clone(),
            credits: p.snapshot.credits,
            bonus_credits: p.snapshot.bonus_credits,
            package_id: p.snapshot.package_id.clone(),
            package_name: p.snapshot.name.clone(),
            created_at: p.created_at,
            credited_at: p.credited_at,
        }
    }
}

pub async fn transactions(
    app: &App,
    member_id: &MemberId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<TransactionView>, ApiError> {
    active_member(app, member_id).await?;
    Ok(app.store.member_payments(member_id, cursor, limit).await?.map(|p| TransactionView::from(&p)))
}

/// What happened to a payment after a webhook or a verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    Credited,
    /// The member's account was deleted first: the KES are owed as a payout.
    PayoutOwed,
    /// A dispute was reported: the payment is marked, admins told, never credited.
    Disputed,
    AlreadyCredited,
    Review,
    Unsuccessful,
    StillPending,
    Unknown,
    Ignored,
}

/// `POST /webhooks/paystack`: signature first, then record, then act.
pub async fn handle_webhook(
    app: &App,
    body: &[u8],
    signature_hex: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Settlement, ApiError> {
    let sig = signature_hex.ok_or(ApiError::InvalidSignature)?;
    if !signature::verify(&app.secrets.paystack_secret_key, body, sig) {
        return Err(ApiError::InvalidSignature);
    }
    let event = webhook::parse(body).map_err(|_| ApiError::MalformedJson)?;
    let event_id = hex::encode(Sha256::digest(body));
    let raw = String::from_utf8_lossy(body);
    let reference = event.reference.as_deref();
    let deliveries = app.store.record_webhook(&event_id, &event.name, reference, &raw, now).await?;
    tracing::info!(event = %event.name, reference = reference.unwrap_or("-"), deliveries, "paystack webhook recorded");
    let settlement = act_on_webhook(app, &event, deliveries, now).await?;
    // Deliveries an admin must look at (unknown reference, a mismatch) keep their
    // raw body; every other one expires once settled.
    if !matches!(settlement, Settlement::Unknown | Settlement::Review) {
        app.store.expire_webhook(&event_id, now + payment::RAW_WEBHOOK_KEPT).await?;
    }
    Ok(settlement)
}

async fn act_on_webhook(
    app: &App,
    event: &WebhookEvent,
    deliveries: i64,
    now: DateTime<Utc>,
) -> Result<Settlement, ApiError> {
    let kind = event.name.as_str();
    let Some(reference) = event.reference.as_ref() else {
        // A dispute names its charge; one that does not is for an admin to find.
        if event.kind != EventKind::Dispute {
            return Ok(Settlement::Ignored);
        }
        if deliveries == 1 {
            let msg = format!("Paystack {kind} without a payment reference: find the charge by hand");
            app.store.put_admin_notification("payment_disputed", "high", &msg, None, now).await?;
        }
        return Ok(Settlement::Unknown);
    };
    let Some(payment) = app.store.note_webhook(reference, now).await? else {
        if deliveries == 1 {
            let msg = format!("Paystack {kind} for unknown reference {reference}");
            app.store.put_admin_notification("payment_unknown_reference", "high", &msg, Some(reference), now).await?;
        }
        return Ok(Settlement::Unknown);
    };
    match &event.kind {
        EventKind::Dispute => Ok(if app.store.mark_disputed(reference, kind, now).await? {
            tracing::warn!(%reference, event = kind, "payment disputed");
            Settlement::Disputed
        } else {
            Settlement::Ignored
        }),
        EventKind::ChargeSuccess(report) => settle(app, &payment, report, false, now).await,
        // Only a charge.success says anything about whether the charge went
        // through; every other event is recorded above and changes nothing.
        EventKind::Other => Ok(Settlement::Ignored),
    }
}

/// Carries out what `payment::decide` says of a report.
async fn settle(
    app: &App,
    p: &Payment,
    report: &ChargeReport,
    from_verify: bool,
    now: DateTime<Utc>,
) -> Result<Settlement, ApiError> {
    let (status, failure_reason, next_check_at, settlement) = match payment::decide(p, report, from_verify, now) {
        Decision::AlreadySettled => return Ok(Settlement::AlreadyCredited),
        Decision::Credit => return credit(app, p, now).await,
        Decision::Review(reason) => return review(app, p, &reason, from_verify, now).await,
        Decision::Unsuccessful { status, failure_reason, next_check_at } => {
            (status, Some(failure_reason), next_check_at, Settlement::Unsuccessful)
        }
        Decision::StillPending { next_check_at } => {
            (PaymentStatus::Pending, None, next_check_at, Settlement::StillPending)
        }
    };
    let u = Unsuccessful {
        status,
        needs_review: failure_reason.is_some(),
        failure_reason: failure_reason.as_deref(),
        review_reason: None,
        next_check_at: Some(next_check_at),
        from_verify,
        only_from: None,
    };
    app.store.record_unsuccessful(&p.reference, &u, now).await?;
    Ok(settlement)
}

async fn review(
    app: &App,
    p: &Payment,
    reason: &str,
    from_verify: bool,
    now: DateTime<Utc>,
) -> Result<Settlement, ApiError> {
    let u = Unsuccessful {
        status: PaymentStatus::NeedsManualReview,
        failure_reason: None,
        review_reason: Some(reason),
        needs_review: true,
        next_check_at: None,
        from_verify,
        only_from: None,
    };
    if app.store.record_unsuccessful(&p.reference, &u, now).await? {
        let msg = format!("Payment {} needs review: {reason}", p.reference);
        app.store.put_admin_notification("payment_review", "high", &msg, Some(&p.reference), now).await?;
        tracing::warn!(reference = %p.reference, reason, "payment needs manual review");
        Ok(Settlement::Review)
    } else {
        Ok(Settlement::AlreadyCredited)
    }
}

/// Credits from the locked snapshot; safe to call any number of times at once.
/// A deleted member is never credited: the payment becomes a payout owed.
async fn credit(app: &App, p: &Payment, now: DateTime<Utc>) -> Result<Settlement, ApiError> {
    let mut member = app.store.get_member(&p.member_id).await?.ok_or(ApiError::NotFound("member"))?;
    for _ in 0..CREDIT_ATTEMPTS {
        if member.status == MemberStatus::Deleted {
            return Ok(if app.store.owe_payment_as_payout(p, now).await? {
                tracing::warn!(reference = %p.reference, "payment after deletion: payout owed");
                Settlement::PayoutOwed
            } else {
                Settlement::AlreadyCredited
            });
        }
        match app.store.credit_payment(p, &member, now).await? {
            CreditOutcome::Credited(balance) => {
                tracing::info!(reference = %p.reference, balance = %balance, "payment credited");
                crate::services::realtime::deliver(app, vec![Delivery::balance(&p.member_id, balance)]).await;
                return Ok(Settlement::Credited);
            }
            CreditOutcome::AlreadyCredited => return Ok(Settlement::AlreadyCredited),
            CreditOutcome::MemberChanged(Some(m)) => member = *m,
            CreditOutcome::MemberChanged(None) => return Err(ApiError::NotFound("member")),
        }
    }
    Err(ApiError::Contention)
}

/// What one reconcile run did.
#[derive(Debug, Default, Serialize)]
pub struct ReconcileReport {
    pub checked: usize,
    pub credited: usize,
    pub unsuccessful: usize,
    pub still_pending: usize,
    pub review: usize,
    pub errors: usize,
}

/// Verifies every payment whose check is due (EventBridge, every 15 minutes).
pub async fn reconcile(app: &App, now: DateTime<Utc>) -> Result<ReconcileReport, ApiError> {
    let mut report = ReconcileReport::default();
    for p in app.store.payments_due(now, 100).await? {
        report.checked += 1;
        match verify_and_settle(app, &p, now).await {
            Ok(Settlement::Credited) => report.credited += 1,
            Ok(Settlement::Unsuccessful) => report.unsuccessful += 1,
            Ok(Settlement::StillPending) => report.still_pending += 1,
            Ok(Settlement::Review) => report.review += 1,
            Ok(_) => {}
            Err(e) => {
                report.errors += 1;
                tracing::warn!(reference = %p.reference, error = %e, "reconcile could not settle a payment; next run retries");
            }
        }
    }
    Ok(report)
}

/// One payment checked now, whatever its schedule (an admin asked).
pub async fn reconcile_one(
    app: &App,
    reference: &PaymentRef,
    admin_id: &str,
    now: DateTime<Utc>,
) -> Result<Settlement, ApiError> {
    let p = app.store.get_payment(reference).await?.ok_or(ApiError::NotFound("payment"))?;
    tracing::info!(%reference, admin_id, "manual reconcile");
    let settlement = verify_and_settle(app, &p, now).await?;
    app.store.mark_reconciled_by(reference, admin_id, now).await?;
    Ok(settlement)
}

async fn verify_and_settle(app: &App, p: &Payment, now: DateTime<Utc>) -> Result<Settlement, ApiError> {
    if p.is_settled() {
        return Ok(Settlement::AlreadyCredited);
    }
    // Paystack unreachable or answering nonsense: 503 for an admin's check (retry
    // later); the scheduled run counts it as an error and tries again next time.
    let verified = app.paystack.verify(&p.reference).await.map_err(|e| {
        tracing::warn!(reference = %p.reference, error = %e, "Paystack verify failed");
        ApiError::Unavailable
    })?;
    let report = match verified {
        Some(v) => v.report(),
        None => ChargeReport {
            status: ChargeStatus::Abandoned,
            amount: None,
            currency: None,
            gateway_response: Some("not found at Paystack (popup never completed)".into()),
        },
    };
    settle(app, p, &report, true, now).await
}
