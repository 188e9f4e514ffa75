//! Payments: the transaction state machine, the locked package snapshot, the
//! checks a Paystack charge must pass, and the reconcile schedule.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::entities::{CreditPackage, Member};
use super::events::DomainEvent;
use super::ids::{MemberId, PaymentRef};
use super::money::Credits;
use super::tier::Tier;

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
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::Abandoned,
        PaymentStatus::NeedsManualReview,
        PaymentStatus::Disputed,
    ];

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
/// the package becomes later. It is also the member's view of a package, in the
/// catalogue and in a checkout's answer (serialised with `id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSnapshot {
    #[serde(rename = "id")]
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
    pub reference: PaymentRef,
    pub member_id: MemberId,
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
    /// The admin who last checked it with Paystack by hand, and when.
    pub reconciled_by: Option<String>,
    pub reconciled_at: Option<DateTime<Utc>>,
}

impl Payment {
    /// A new checkout: pending, at the snapshot's price, first verified
    /// `FIRST_CHECK_AFTER` from now unless a webhook settles it first.
    pub fn pending(
        reference: PaymentRef,
        member_id: MemberId,
        snapshot: PackageSnapshot,
        email: String,
        now: DateTime<Utc>,
    ) -> Payment {
        Payment {
            reference,
            member_id,
            status: PaymentStatus::Pending,
            snapshot,
            email,
            created_at: now,
            credited_at: None,
            payout_id: None,
            disputed_at: None,
            failure_reason: None,
            review_reason: None,
            needs_review: false,
            webhook_received_count: 0,
            last_webhook_at: None,
            verify_attempts: 0,
            next_check_at: Some(now + FIRST_CHECK_AFTER),
            reconciled_by: None,
            reconciled_at: None,
        }
    }

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

/// A charge's status as Paystack reports it, reduced to what the platform acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeStatus {
    Success,
    Failed,
    Abandoned,
    Reversed,
    /// Not settled either way yet (`ongoing`, `pending`, `processing`, `queued`,
    /// no status at all, or a status Paystack adds later): check again.
    Pending,
}

impl ChargeStatus {
    pub fn parse(s: &str) -> ChargeStatus {
        match s {
            "success" => ChargeStatus::Success,
            "failed" => ChargeStatus::Failed,
            "abandoned" => ChargeStatus::Abandoned,
            "reversed" => ChargeStatus::Reversed,
            _ => ChargeStatus::Pending,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ChargeStatus::Success => "success",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Abandoned => "abandoned",
            ChargeStatus::Reversed => "reversed",
            ChargeStatus::Pending => "pending",
        }
    }
}

/// One report of a charge: a webhook's, or verify's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeReport {
    pub status: ChargeStatus,
    /// KES cents.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub gateway_response: Option<String>,
}

/// What a report means for a payment (`decide`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Credited, owed as a payout or disputed already: nothing more to do.
    AlreadySettled,
    /// A success for the locked amount and currency.
    Credit,
    /// An admin must look: a mismatch, or no success within the window.
    Review(String),
    /// Failed or abandoned for now; Paystack may still report a success.
    Unsuccessful { status: PaymentStatus, failure_reason: String, next_check_at: DateTime<Utc> },
    /// Not settled either way: verify again at `next_check_at`.
    StillPending { next_check_at: DateTime<Utc> },
}

/// What to do with `p` after `report`. `from_verify` counts the report as one of
/// the payment's verify attempts (the backoff and the 72 h window read them).
pub fn decide(p: &Payment, report: &ChargeReport, from_verify: bool, now: DateTime<Utc>) -> Decision {
    if p.is_settled() {
        return Decision::AlreadySettled;
    }
    let next = || next_check(p.created_at, p.verify_attempts + u32::from(from_verify), now);
    match report.status {
        ChargeStatus::Success => {
            match p.snapshot.mismatch(report.amount.unwrap_or(-1), report.currency.as_deref().unwrap_or("")) {
                None => Decision::Credit,
                Some(reason) => Decision::Review(reason),
            }
        }
        ChargeStatus::Failed | ChargeStatus::Abandoned | ChargeStatus::Reversed => match next() {
            None => Decision::Review(format!("{} and no success within 72 h", report.status.as_str())),
            Some(at) => Decision::Unsuccessful {
                status: if report.status == ChargeStatus::Abandoned {
                    PaymentStatus::Abandoned
                } else {
                    PaymentStatus::Failed
                },
                failure_reason: report.gateway_response.clone().unwrap_or_else(|| report.status.as_str().to_string()),
                next_check_at: at,
            },
        },
        ChargeStatus::Pending => match next() {
            None => Decision::Review("still not paid after 72 h".into()),
            Some(at) => Decision::StillPending { next_check_at: at },
        },
    }
}

/// Everything one credit of a payment changes, decided from the payment and the
/// member as read (the store writes it under conditions that pin both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditPlan {
    pub purchased: Credits,
    pub bonus: Credits,
    pub balance_after_purchase: Credits,
    pub balance_after: Credits,
    /// Lifetime KES cents paid, this payment included.
    pub kes_paid_cents: i64,
    /// The tier that lifetime spend earns.
    pub tier: Tier,
    /// The member's notification: (kind, title, text).
    pub notice: (&'static str, &'static str, String),
    pub event: DomainEvent,
}

impl Payment {
    /// The credit of this payment to `member`; `None` if the balance would overflow.
    pub fn credit_plan(&self, member: &Member) -> Option<CreditPlan> {
        let purchased = self.snapshot.purchased();
        let bonus = self.snapshot.bonus();
        let balance_after_purchase = member.balance.checked_add(purchased)?;
        let balance_after = balance_after_purchase.checked_add(bonus)?;
        let kes_paid_cents = member.kes_paid_cents.checked_add(self.snapshot.price)?;
        let tier = Tier::for_lifetime_kes_cents(kes_paid_cents);
        let credits = self.snapshot.credits + self.snapshot.bonus_credits;
        Some(CreditPlan {
            purchased,
            bonus,
            balance_after_purchase,
            balance_after,
            kes_paid_cents,
            tier,
            notice: ("credits_added", "Payment received", format!("{credits} credits were added to your balance.")),
            event: DomainEvent::PaymentSucceeded {
                reference: self.reference.clone(),
                member_id: member.id.clone(),
                amount: self.snapshot.price,
                currency: self.snapshot.currency.clone(),
                credits: self.snapshot.credits,
                bonus_credits: self.snapshot.bonus_credits,
                tier,
            },
        })
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
    /// The reasons an admin may give (an account deletion's refund is the system's).
    pub const ADMIN: [RefundReason; 4] = [
        RefundReason::AccidentalSend,
        RefundReason::InappropriateContent,
        RefundReason::SystemError,
        RefundReason::AdminDiscretion,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        [Self::ADMIN.as_slice(), &[RefundReason::AccountDeletion]].concat().into_iter().find(|r| r.as_str() == s)
    }

    /// A reason an admin gave a refund, or why it is not one.
    pub fn for_admin(s: &str) -> Result<Self, String> {
        Self::ADMIN.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = Self::ADMIN.iter().map(|r| r.as_str()).collect();
            format!("must be one of {}", all.join(", "))
        })
    }

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

/// A refund's state: requested, then approved (credited once) or rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Approved,
    Rejected,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 3] = [RefundStatus::Pending, RefundStatus::Approved, RefundStatus::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Approved => "approved",
            RefundStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The most credits one refund gives back.
pub const MAX_REFUND: Credits = Credits::whole(10_000);

/// A refund's amount: more than 0.00, at most `MAX_REFUND`.
pub fn refund_credits(c: Credits) -> Result<Credits, String> {
    if c.hundredths() <= 0 || c > MAX_REFUND {
        Err(format!("must be more than 0.00 and at most {MAX_REFUND}"))
    } else {
        Ok(c)
    }
}

/// The title of the member's notice of a credited refund.
pub const REFUND_TITLE: &str = "Credits refunded";

/// What the member is told when a refund is credited.
pub fn refund_notice(credits: Credits) -> String {
    format!("{credits} credits were refunded to your balance.")
}

/// Credits given back to a member (`POST /admin/refunds`), as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RefundRequest {
    pub id: String,
    pub member_id: MemberId,
    pub credits: Credits,
    pub reason: RefundReason,
    pub status: RefundStatus,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub chat_id: Option<String>,
    pub notes: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_notes: Option<String>,
    /// The member's balance right after the credit (approved only).
    pub balance_after: Option<Credits>,
}

/// A `POST /admin/packages` or `PATCH /admin/packages/{id}` body. `badge: null`
/// removes the badge.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageWrite {
    pub name: Option<String>,
    pub credits: Option<i64>,
    pub bonus_credits: Option<i64>,
    /// KES cents.
    pub price: Option<i64>,
    #[serde(default, deserialize_with = "present_text")]
    pub badge: Option<Option<String>>,
    pub position: Option<i64>,
    pub active: Option<bool>,
}

fn present_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Package limits: what a typo could not turn into a free or absurd package.
pub mod package_limits {
    pub const NAME: usize = 50;
    pub const BADGE: usize = 30;
    pub const MAX_CREDITS: i64 = 100_000;
    /// KES cents: 1 KES to 1,000,000 KES.
    pub const MIN_PRICE: i64 = 100;
    pub const MAX_PRICE: i64 = 100_000_000;
    pub const MAX_POSITION: i64 = 999_999;
}

impl PackageWrite {
    /// `current` (or a new package with `id`) with this change applied, checked whole.
    pub fn apply(
        &self,
        current: Option<&CreditPackage>,
        id: &str,
    ) -> Result<CreditPackage, super::validation::FieldErrors> {
        use package_limits as max;
        let mut e = super::validation::FieldErrors::new();
        let mut p = match current {
            Some(c) => c.clone(),
            None => {
                for (field, missing) in [
                    ("name", self.name.is_none()),
                    ("credits", self.credits.is_none()),
                    ("price", self.price.is_none()),
                ] {
                    if missing {
                        e.add(field, "is required");
                    }
                }
                CreditPackage {
                    id: id.to_string(),
                    name: String::new(),
                    credits: 0,
                    bonus_credits: 0,
                    price: 0,
                    currency: "KES".into(),
                    badge: None,
                    sort: 0,
                    is_active: true,
                }
            }
        };
        if let Some(name) = &self.name {
            p.name = e.check("name", super::validation::line(name, 1, max::NAME)).unwrap_or_default();
        }
        if let Some(c) = self.credits {
            if (1..=max::MAX_CREDITS).contains(&c) {
                p.credits = c;
            } else {
                e.add("credits", format!("must be a whole number from 1 to {}", max::MAX_CREDITS));
            }
        }
        if let Some(b) = self.bonus_credits {
            if (0..=max::MAX_CREDITS).contains(&b) {
                p.bonus_credits = b;
            } else {
                e.add("bonus_credits", format!("must be a whole number from 0 to {}", max::MAX_CREDITS));
            }
        }
        if let Some(price) = self.price {
            if (max::MIN_PRICE..=max::MAX_PRICE).contains(&price) {
                p.price = price;
            } else {
                e.add("price", format!("must be KES cents from {} to {}", max::MIN_PRICE, max::MAX_PRICE));
            }
        }
        if let Some(badge) = &self.badge {
            p.badge = match badge {
                None => None,
                Some(b) => e.check("badge", super::validation::line(b, 1, max::BADGE)),
            };
        }
        if let Some(pos) = self.position {
            if (0..=max::MAX_POSITION).contains(&pos) {
                p.sort = pos;
            } else {
                e.add("position", format!("must be a whole number from 0 to {}", max::MAX_POSITION));
            }
        }
        if let Some(active) = self.active {
            p.is_active = active;
        }
        e.into_result().map(|()| p)
    }
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
    fn a_package_reads_to_the_member_as_the_api_names_it() {
        let json = serde_json::to_value(snapshot()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec!["id", "name", "credits", "bonus_credits", "price", "currency", "badge"];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(serde_json::from_value::<PackageSnapshot>(json).unwrap(), snapshot(), "a stored answer replays");
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

    fn payment(created_at: DateTime<Utc>) -> Payment {
        let p = Payment::pending(PaymentRef::new("pay_1"), MemberId::new("m_1"), snapshot(), "m@x".into(), created_at);
        assert_eq!((p.status, p.next_check_at), (PaymentStatus::Pending, Some(created_at + FIRST_CHECK_AFTER)));
        Payment { next_check_at: None, ..p }
    }

    fn report(status: ChargeStatus, amount: i64, currency: &str) -> ChargeReport {
        ChargeReport { status, amount: Some(amount), currency: Some(currency.into()), gateway_response: None }
    }

    #[test]
    fn only_a_matching_success_credits() {
        let now = Utc::now();
        let p = payment(now);
        assert_eq!(decide(&p, &report(ChargeStatus::Success, 70000, "KES"), false, now), Decision::Credit);
        assert!(matches!(decide(&p, &report(ChargeStatus::Success, 100, "KES"), false, now), Decision::Review(_)));
        let no_amount = ChargeReport { amount: None, ..report(ChargeStatus::Success, 0, "KES") };
        assert!(matches!(decide(&p, &no_amount, false, now), Decision::Review(_)));
        let settled = Payment { credited_at: Some(now), ..payment(now) };
        assert_eq!(
            decide(&settled, &report(ChargeStatus::Success, 70000, "KES"), false, now),
            Decision::AlreadySettled
        );
        let disputed = Payment { disputed_at: Some(now), ..payment(now) };
        assert_eq!(decide(&disputed, &report(ChargeStatus::Failed, 70000, "KES"), true, now), Decision::AlreadySettled);
    }

    #[test]
    fn failures_wait_for_a_later_success_until_the_window_closes() {
        let created = Utc::now();
        let p = payment(created);
        let failed = ChargeReport { gateway_response: Some("Declined".into()), ..report(ChargeStatus::Failed, 0, "") };
        assert_eq!(
            decide(&p, &failed, true, created),
            Decision::Unsuccessful {
                status: PaymentStatus::Failed,
                failure_reason: "Declined".into(),
                next_check_at: created + Duration::minutes(30),
            }
        );
        let abandoned = report(ChargeStatus::Abandoned, 0, "");
        assert!(matches!(
            decide(&p, &abandoned, false, created),
            Decision::Unsuccessful { status: PaymentStatus::Abandoned, ref failure_reason, .. } if failure_reason == "abandoned"
        ));
        let reversed = report(ChargeStatus::Reversed, 0, "");
        assert!(matches!(
            decide(&p, &reversed, false, created),
            Decision::Unsuccessful { status: PaymentStatus::Failed, .. }
        ));
        let late = created + VERIFY_WINDOW;
        assert_eq!(decide(&p, &abandoned, true, late), Decision::Review("abandoned and no success within 72 h".into()));
        let pending = report(ChargeStatus::Pending, 0, "");
        assert_eq!(
            decide(&p, &pending, false, created),
            Decision::StillPending { next_check_at: created + Duration::minutes(15) }
        );
        assert_eq!(decide(&p, &pending, true, late), Decision::Review("still not paid after 72 h".into()));
    }

    #[test]
    fn statuses_paystack_adds_later_read_as_pending() {
        assert_eq!(ChargeStatus::parse("ongoing"), ChargeStatus::Pending);
        assert_eq!(ChargeStatus::parse("queued"), ChargeStatus::Pending);
        assert_eq!(ChargeStatus::parse(""), ChargeStatus::Pending);
        for s in ["success", "failed", "abandoned", "reversed"] {
            assert_eq!(ChargeStatus::parse(s).as_str(), s);
        }
    }

    #[test]
    fn a_credit_adds_purchase_and_bonus_and_raises_the_tier_by_lifetime_spend() {
        let now = Utc::now();
        let member = Member {
            id: MemberId::new("m_1"),
            username: "amani".into(),
            password_hash: String::new(),
            display_name: None,
            email: None,
            age: 30,
            gender: super::super::Gender::Female,
            looking_for: super::super::LookingFor::Male,
            location: "Nairobi".into(),
            latitude: None,
            longitude: None,
            bio: None,
            language: None,
            balance: Credits::from_hundredths(250),
            tier: Tier::Free,
            messages_sent: 0,
            credits_spent: Credits::ZERO,
            kes_paid_cents: 40_000,
            loyalty_used: 0,
            status: super::super::MemberStatus::Active,
            created_at: now,
        };
        let plan = payment(now).credit_plan(&member).expect("no overflow");
        assert_eq!((plan.purchased, plan.bonus), (Credits::whole(100), Credits::whole(10)));
        assert_eq!(plan.balance_after_purchase, Credits::from_hundredths(10_250));
        assert_eq!(plan.balance_after, Credits::from_hundredths(11_250));
        assert_eq!((plan.kes_paid_cents, plan.tier), (110_000, Tier::Bronze));
        assert_eq!(plan.notice.2, "110 credits were added to your balance.");
        assert_eq!(plan.event.detail_type(), "payment.succeeded");
        let rich = Member { balance: Credits::from_hundredths(i64::MAX), ..member };
        assert_eq!(payment(now).credit_plan(&rich), None);
    }

    #[test]
    fn deletion_refund_is_ten_kes_per_credit() {
        assert_eq!(deletion_refund_cents(Credits::whole(4)), 4000);
        assert_eq!(deletion_refund_cents(Credits::from_hundredths(150)), 1500);
        assert_eq!(deletion_refund_cents(Credits::ZERO), 0);
    }
}
