//! The back office's money (`manage_payments`): payments by status and a
//! reconcile by hand, refunds (requested, then approved once or rejected),
//! payouts owed outside the platform, and the credit packages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::ids::{self, MemberId, PaymentRef};
use crate::domain::payment::{self, PackageWrite, Payment, PaymentStatus, RefundReason, RefundRequest, RefundStatus};
use crate::domain::realtime::Delivery;
use crate::domain::validation::{self, max};
use crate::domain::{CreditPackage, Credits, MemberStatus};
use crate::error::ApiError;
use crate::store::{Page, Payout, PayoutSettle, PayoutStatus, RefundDecision};
use crate::App;

/// Reads before giving up when the member keeps changing under an approval.
const ATTEMPTS: usize = 8;

/// A payment as the back office sees it.
#[derive(Serialize)]
pub struct AdminPayment {
    pub reference: PaymentRef,
    pub member_id: MemberId,
    pub status: PaymentStatus,
    pub package_id: String,
    pub package_name: String,
    pub credits: i64,
    pub bonus_credits: i64,
    /// KES cents, as locked at checkout.
    pub amount: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub credited_at: Option<DateTime<Utc>>,
    pub payout_id: Option<String>,
    pub disputed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub review_reason: Option<String>,
    pub needs_review: bool,
    pub webhook_received_count: i64,
    pub verify_attempts: u32,
    pub next_check_at: Option<DateTime<Utc>>,
    pub reconciled_by: Option<String>,
    pub reconciled_at: Option<DateTime<Utc>>,
}

impl From<Payment> for AdminPayment {
    fn from(p: Payment) -> Self {
        AdminPayment {
            reference: p.reference,
            member_id: p.member_id,
            status: p.status,
            package_id: p.snapshot.package_id,
            package_name: p.snapshot.name,
            credits: p.snapshot.credits,
            bonus_credits: p.snapshot.bonus_credits,
            amount: p.snapshot.price,
            currency: p.snapshot.currency,
            created_at: p.created_at,
            credited_at: p.credited_at,
            payout_id: p.payout_id,
            disputed_at: p.disputed_at,
            failure_reason: p.failure_reason,
            review_reason: p.review_reason,
            needs_review: p.needs_review,
            webhook_received_count: p.webhook_received_count,
            verify_attempts: p.verify_attempts,
            next_check_at: p.next_check_at,
            reconciled_by: p.reconciled_by,
            reconciled_at: p.reconciled_at,
        }
    }
}

/// "must be one of a, b or c".
fn one_of(values: &[&str]) -> String {
    format!("must be one of {}", values.join(", "))
}

/// `GET /admin/payments?status=`: newest first (`pending` by default).
pub async fn payments(
    app: &App,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AdminPayment>, ApiError> {
    let status = match status {
        None => PaymentStatus::Pending,
        Some(s) => PaymentStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status", one_of(&PaymentStatus::ALL.map(PaymentStatus::as_str))))?,
    };
    Ok(app.store.payments_with_status(status, cursor, limit).await?.map(AdminPayment::from))
}

/// `POST /admin/payments/{reference}/reconcile`: the reconcile job's check of one
/// payment (Paystack's verify, then the one settle), now, recorded with the
/// admin (on the payment and in the audit log); answers the payment after it.
pub async fn reconcile(
    app: &App,
    actor: &Admin,
    reference: &PaymentRef,
    now: DateTime<Utc>,
) -> Result<AdminPayment, ApiError> {
    validation::id(reference).map_err(|_| ApiError::NotFound("payment"))?;
    let settlement = crate::services::payments::reconcile_one(app, reference, &actor.id, now).await?;
    let details = serde_json::json!({ "settlement": settlement });
    let audit = AuditEntry::new(&actor.id, "payment.reconcile", format!("payment:{reference}"), details);
    app.store.put_audit(&audit, now).await?;
    let p = app.store.get_payment(reference).await?.ok_or(ApiError::NotFound("payment"))?;
    Ok(AdminPayment::from(p))
}

/// Credits accepted as a decimal string ("12.50") or a whole number (12).
#[derive(Clone, Copy, Debug)]
pub struct CreditsInput(pub Credits);

impl<'de> Deserialize<'de> for CreditsInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Whole(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Whole(w) => w
                .checked_mul(100)
                .map(|h| CreditsInput(Credits::from_hundredths(h)))
                .ok_or_else(|| serde::de::Error::custom("too large")),
            Raw::Text(t) => t.parse::<Credits>().map(CreditsInput).map_err(serde::de::Error::custom),
        }
    }
}

/// `POST /admin/refunds`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    pub member_id: String,
    pub credits: CreditsInput,
    pub reason: String,
    pub message_id: Option<String>,
    pub notes: Option<String>,
}

/// A refund requested: pending until approved or rejected (`manage_payments`).
/// The member must exist and not be deleted; a message named must be in one of
/// the member's chats.
pub async fn request_refund(
    app: &App,
    actor: &Admin,
    r: NewRefund,
    now: DateTime<Utc>,
) -> Result<RefundRequest, ApiError> {
    let mut e = validation::FieldErrors::new();
    let credits = e.check("credits", payment::refund_credits(r.credits.0));
    let reason = e.check("reason", RefundReason::for_admin(&r.reason));
    let notes = match &r.notes {
        Some(n) => e.check("notes", validation::text(n, 0, max::STAFF_REASON)).filter(|n| !n.is_empty()),
        None => None,
    };
    let member_id = e.check("member_id", validation::id(&r.member_id).map(MemberId::new));
    e.into_result().map_err(ApiError::Validation)?;
    let (Some(credits), Some(reason), Some(member_id)) = (credits, reason, member_id) else {
        return Err(ApiError::invalid("credits", "is required"));
    };
    match app.store.get_member(&member_id).await? {
        Some(m) if m.status != MemberStatus::Deleted => {}
        _ => return Err(ApiError::NotFound("member")),
    }
    let (message_id, chat_id) = match &r.message_id {
        None => (None, None),
        Some(id) => match app.store.find_member_message(&member_id, id).await? {
            Some(m) => (Some(m.id), Some(m.chat_id.to_string())),
            None => return Err(ApiError::invalid("message_id", "is not a message of this member's chats")),
        },
    };
    let refund = RefundRequest {
        id: ids::new_id("rf_"),
        member_id,
        credits,
        reason,
        status: RefundStatus::Pending,
        requested_by: actor.id.clone(),
        created_at: now,
        message_id,
        chat_id,
        notes,
        decided_by: None,
        decided_at: None,
        decision_notes: None,
        balance_after: None,
    };
    let details =
        serde_json::json!({ "member_id": refund.member_id, "credits": refund.credits, "reason": refund.reason });
    let audit = AuditEntry::new(&actor.id, "refund.request", format!("refund:{}", refund.id), details);
    app.store.request_refund(&refund, &audit, now).await?;
    Ok(refund)
}

pub async fn refunds(
    app: &App,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<RefundRequest>, ApiError> {
    let status = match status {
        None => RefundStatus::Pending,
        Some(s) => RefundStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status", "must be pending, approved or rejected"))?,
    };
    Ok(app.store.refunds(status, cursor, limit).await?)
}

/// `POST /admin/refunds/{id}/approve`: credits the member once (balance, ledger
/// entry, notification, outbox event, audit, in one transaction conditioned on
/// the refund being pending); again, or after a rejection, 409 `refund_settled`.
pub async fn approve_refund(app: &App, actor: &Admin, id: &str, now: DateTime<Utc>) -> Result<RefundRequest, ApiError> {
    let refund = app.store.get_refund(id).await?.ok_or(ApiError::NotFound("refund"))?;
    if refund.status != RefundStatus::Pending {
        return Err(ApiError::RefundSettled);
    }
    let mut member = app.store.get_member(&refund.member_id).await?.ok_or(ApiError::NotFound("member"))?;
    let details = serde_json::json!({ "member_id": refund.member_id, "credits": refund.credits });
    let audit = AuditEntry::new(&actor.id, "refund.approve", format!("refund:{id}"), details);
    for _ in 0..ATTEMPTS {
        if member.status == MemberStatus::Deleted {
            return Err(ApiError::NotFound("member"));
        }
        match app.store.approve_refund(&refund, &member, &audit, now).await? {
            RefundDecision::Done(r) => {
                if let Some(balance) = r.balance_after {
                    crate::services::realtime::deliver(app, vec![Delivery::balance(&r.member_id, balance)]).await;
                }
                return Ok(*r);
            }
            RefundDecision::Settled => return Err(ApiError::RefundSettled),
            RefundDecision::MemberChanged(Some(m)) => member = *m,
            RefundDecision::MemberChanged(None) | RefundDecision::Unknown => return Err(ApiError::NotFound("refund")),
        }
    }
    Err(ApiError::Contention)
}

/// `POST /admin/refunds/{id}/reject` (`notes?`): nothing credited; 409
/// `refund_settled` once decided.
pub async fn reject_refund(
    app: &App,
    actor: &Admin,
    id: &str,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RefundRequest, ApiError> {
    let notes = match notes {
        Some(n) => validation::text(n, 0, max::STAFF_REASON).map_err(|e| ApiError::invalid("notes", e))?,
        None => String::new(),
    };
    let refund = app.store.get_refund(id).await?.ok_or(ApiError::NotFound("refund"))?;
    if refund.status != RefundStatus::Pending {
        return Err(ApiError::RefundSettled);
    }
    let audit =
        AuditEntry::new(&actor.id, "refund.reject", format!("refund:{id}"), serde_json::json!({ "notes": notes }));
    let notes = Some(notes.as_str()).filter(|n| !n.is_empty());
    match app.store.reject_refund(&refund, notes, &audit, now).await? {
        RefundDecision::Done(r) => Ok(*r),
        RefundDecision::Settled => Err(ApiError::RefundSettled),
        RefundDecision::MemberChanged(_) | RefundDecision::Unknown => Err(ApiError::NotFound("refund")),
    }
}

pub async fn payouts(
    app: &App,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Payout>, ApiError> {
    let status = match status {
        None => PayoutStatus::Owed,
        Some(s) => PayoutStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status", one_of(&PayoutStatus::ALL.map(PayoutStatus::as_str))))?,
    };
    Ok(app.store.payouts(status, cursor, limit).await?)
}

/// `POST /admin/payouts/{id}/paid` (`note`): once; again 409 `payout_settled`.
pub async fn payout_paid(
    app: &App,
    actor: &Admin,
    id: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Payout, ApiError> {
    let note = validation::text(note, 1, max::STAFF_REASON).map_err(|e| ApiError::invalid("note", e))?;
    validation::id(id).map_err(|_| ApiError::NotFound("payout"))?;
    let audit = AuditEntry::new(&actor.id, "payout.paid", format!("payout:{id}"), serde_json::json!({ "note": note }));
    match app.store.mark_payout_paid(id, &note, &audit, now).await? {
        PayoutSettle::Paid(p) => Ok(*p),
        PayoutSettle::AlreadyPaid => Err(ApiError::PayoutSettled),
        PayoutSettle::Unknown => Err(ApiError::NotFound("payout")),
    }
}

/// A package as the back office sees it (`position` is its place in the list).
#[derive(Serialize)]
pub struct AdminPackage {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub bonus_credits: i64,
    /// KES cents.
    pub price: i64,
    pub currency: String,
    pub badge: Option<String>,
    pub position: i64,
    pub active: bool,
}

impl From<CreditPackage> for AdminPackage {
    fn from(p: CreditPackage) -> Self {
        AdminPackage {
            id: p.id,
            name: p.name,
            credits: p.credits,
            bonus_credits: p.bonus_credits,
            price: p.price,
            currency: p.currency,
            badge: p.badge,
            position: p.sort,
            active: p.is_active,
        }
    }
}

pub async fn packages(app: &App) -> Result<Vec<AdminPackage>, ApiError> {
    Ok(app.store.all_packages().await?.into_iter().map(AdminPackage::from).collect())
}

pub async fn create_package(
    app: &App,
    actor: &Admin,
    body: PackageWrite,
    now: DateTime<Utc>,
) -> Result<AdminPackage, ApiError> {
    let id = ids::new_id("pkg_");
    let p = body.apply(None, &id).map_err(ApiError::Validation)?;
    let details = serde_json::json!({ "name": p.name, "credits": p.credits, "price": p.price });
    let audit = AuditEntry::new(&actor.id, "package.create", format!("package:{id}"), details);
    if !app.store.save_package(&p, None, &audit, now).await? {
        return Err(ApiError::Contention);
    }
    Ok(AdminPackage::from(p))
}

/// `PATCH /admin/packages/{id}`: a checkout keeps the snapshot it locked, so a
/// price change applies to checkouts from now on.
pub async fn update_package(
    app: &App,
    actor: &Admin,
    id: &str,
    body: PackageWrite,
    now: DateTime<Utc>,
) -> Result<AdminPackage, ApiError> {
    for _ in 0..ATTEMPTS {
        let (current, version) = app.store.get_package_versioned(id).await?.ok_or(ApiError::NotFound("package"))?;
        let next = body.apply(Some(&current), id).map_err(ApiError::Validation)?;
        let details = serde_json::json!({
            "price": { "from": current.price, "to": next.price },
            "bonus_credits": { "from": current.bonus_credits, "to": next.bonus_credits },
            "active": { "from": current.is_active, "to": next.is_active },
        });
        let audit = AuditEntry::new(&actor.id, "package.update", format!("package:{id}"), details);
        if app.store.save_package(&next, Some(version), &audit, now).await? {
            return Ok(AdminPackage::from(next));
        }
    }
    Err(ApiError::Contention)
}
