//! Payments: the transaction state machine, the locked package snapshot, the
//! checks a Paystack charge must pass, and the reconcile schedule.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::entities::CreditPackage;
use super::money::Credits;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
    Abandoned,
    NeedsManualReview,
    /// The member disputed the charge with their bank (a Paystack dispute event).
    Disputed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Success => "success",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Abandoned => "abandoned",
            PaymentStatus::NeedsManualReview => "needs_manual_review",
            PaymentStatus::Disputed => "disputed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => PaymentStatus::Pending,
            "success" => PaymentStatus::Success,
            "failed" => PaymentStatus::Failed,
            "abandoned" => PaymentStatus::Abandoned,
            "needs_manual_review" => PaymentStatus::NeedsManualReview,
            "disputed" => PaymentStatus::Disputed,
            _ => return None,
        })
    }
}

/// The package as it was at checkout: what the member pays and gets, whatever
/// the package becomes later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSnapshot {
    pub package_id: String,
    pub name: String,
    pub credits: i64,
    pub bonus_credits: i64,
    /// KES cents.
    pub price: i64,
    pub currency: String,
    pub badge: Option<String>,
}

impl From<&CreditPackage> for PackageSnapshot {
    fn from(p: &CreditPackage) -> Self {
        PackageSnapshot {
            package_id: p.id.clone(),
            name: p.name.clone(),
            credits: p.credits,
            bonus_credits: p.bonus_credits,
            price: p.price,
            currency: p.currency.clone(),
            badge: p.badge.clone(),
        }
    }
}

impl PackageSnapshot {
    pub fn purchased(&self) -> Credits {
        Credits::whole(self.credits)
    }

    pub fn bonus(&self) -> Credits {
        Credits::whole(self.bonus_credits)
    }

    /// Why a reported charge must not be credited, if it must not.
    pub fn mismatch(&self, amount: i64, currency: &str) -> Option<String> {
        if !currency.eq_ignore_ascii_case(&self.currency) {
            return Some(format!("currency {currency} differs from the locked {}", self.currency));
        }
        if amount != self.price {
            return Some(format!("amount {amount} differs from the locked price {}", self.price));
        }
        None
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Payment {
    pub reference: String,
    pub member_id: String,
    pub status: PaymentStatus,
    pub snapshot: PackageSnapshot,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub credited_at: Option<DateTime<Utc>>,
    /// Set instead of crediting when the member's account was deleted first.
    pub payout_id: Option<String>,
    /// When Paystack first reported a dispute of the charge.
    pub disputed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub review_reason: Option<String>,
    pub needs_review: bool,
    pub webhook_received_count: i64,
    pub last_webhook_at: Option<DateTime<Utc>>,
    pub verify_attempts: u32,
    pub next_check_at: Option<DateTime<Utc>>,
}

impl Payment {
    /// Credited, owed as a payout, or disputed: whichever, it adds nothing again.
    pub fn is_settled(&self) -> bool {
        self.credited_at.is_some() || self.payout_id.is_some() || self.disputed_at.is_some()
    }
}

/// How long a settled webhook delivery's raw body is kept (TTL) after it arrived.
pub const RAW_WEBHOOK_KEPT: Duration = Duration::days(90);

/// A pending payment is first verified this long after checkout.
pub const FIRST_CHECK_AFTER: Duration = Duration::minutes(10);
/// Paystack may still report success this long after checkout (its retry window).
pub const VERIFY_WINDOW: Duration = Duration::hours(72);

/// When to verify again after `attempts` unsuccessful checks: 15 min doubling to
/// 8 h, and `None` once the 72 h window from checkout is over (manual review).
pub fn next_check(created_at: DateTime<Utc>, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let wait = Duration::minutes(15 * (1i64 << attempts.min(5))).min(Duration::hours(8));
    let at = now + wait;
    let deadline = created_at + VERIFY_WINDOW;
    if now >= deadline {
        None
    } else {
        Some(at.min(deadline))
    }
}

/// Member-facing refund reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    AccidentalSend,
    InappropriateContent,
    SystemError,
    AdminDiscretion,
    AccountDeletion,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::AccidentalSend => "accidental_send",
            RefundReason::InappropriateContent => "inappropriate_content",
            RefundReason::SystemError => "system_error",
            RefundReason::AdminDiscretion => "admin_discretion",
            RefundReason::AccountDeletion => "account_deletion",
        }
    }
}

/// KES owed for unused credits when an account is deleted: 10 KES a credit, in cents.
pub fn deletion_refund_cents(balance: Credits) -> i64 {
    // hundredths of a credit * 10 KES * 100 cents / 100 hundredths = hundredths * 10.
    balance.hundredths().max(0) * 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> PackageSnapshot {
        PackageSnapshot {
            package_id: "p".into(),
            name: "Best Value".into(),
            credits: 100,
            bonus_credits: 10,
            price: 70000,
            currency: "KES".into(),
            badge: None,
        }
    }

    #[test]
    fn a_charge_must_match_the_locked_price_and_currency() {
        assert_eq!(snapshot().mismatch(70000, "KES"), None);
        assert_eq!(snapshot().mismatch(70000, "kes"), None);
        assert!(snapshot().mismatch(69999, "KES").is_some());
        assert!(snapshot().mismatch(70001, "KES").is_some());
        assert!(snapshot().mismatch(70000, "NGN").is_some());
    }

    #[test]
    fn checks_widen_and_stop_after_72_hours() {
        let created = Utc::now();
        let at = |attempts, after_h| next_check(created, attempts, created + Duration::hours(after_h));
        assert_eq!(at(0, 0), Some(created + Duration::minutes(15)));
        assert_eq!(at(1, 0), Some(created + Duration::minutes(30)));
        assert_eq!(at(3, 0), Some(created + Duration::hours(2)));
        assert_eq!(at(9, 10), Some(created + Duration::hours(18)), "capped at 8 h");
        assert_eq!(at(9, 70), Some(created + Duration::hours(72)), "never past the window");
        assert_eq!(at(9, 72), None);
    }

    #[test]
    fn deletion_refund_is_ten_kes_per_credit() {
        assert_eq!(deletion_refund_cents(Credits::whole(4)), 4000);
        assert_eq!(deletion_refund_cents(Credits::from_hundredths(150)), 1500);
        assert_eq!(deletion_refund_cents(Credits::ZERO), 0);
    }
}
