//! Payouts: KES owed to a member outside the platform (unused credits at
//! deletion, a payment that completed after deletion), listed by status.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::attr::{key, n, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::tx::{tx_update, update};
use super::{Store, StoreError, TransactFailure};

/// Why a payout is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutSource {
    /// The unused credits of a deleted account.
    AccountDeletion,
    /// A payment that completed after its member's account was deleted.
    PaymentAfterDeletion,
}

impl PayoutSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutSource::AccountDeletion => "account_deletion",
            PayoutSource::PaymentAfterDeletion => "payment_after_deletion",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Payout {
    pub id: String,
    pub member_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub source: String,
    /// The payment reference, or the member id for a deletion.
    pub reference: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid_by: Option<String>,
    pub note: Option<String>,
}

/// How marking a payout paid ended.
#[derive(Debug)]
pub enum PayoutSettle {
    Paid(Box<Payout>),
    /// Already paid: nothing changed.
    AlreadyPaid,
    Unknown,
}

/// A payout's state: owed, then paid once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutStatus {
    Owed,
    Paid,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 2] = [PayoutStatus::Owed, PayoutStatus::Paid];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Owed => "owed",
            PayoutStatus::Paid => "paid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

pub(crate) fn payouts_pk(status: PayoutStatus) -> String {
    format!("PAYOUTS#{}", status.as_str())
}

/// An owed payout. Its id derives from what it settles, so writing it twice
/// (a retried deletion, a webhook and a reconcile) collides on the key.
pub(crate) fn payout_item(
    source: PayoutSource,
    reference: &str,
    member_id: &str,
    amount_cents: i64,
    now: DateTime<Utc>,
) -> Item {
    let id = format!("po_{}_{reference}", source.as_str());
    let mut item = key(format!("PAYOUT#{id}"), "PAYOUT");
    item.insert("entity".into(), s("payout"));
    item.insert("GSI1PK".into(), s(payouts_pk(PayoutStatus::Owed)));
    item.insert("GSI1SK".into(), s(format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))));
    item.insert("id".into(), s(&id));
    item.insert("member_id".into(), s(member_id));
    item.insert("amount_cents".into(), n(amount_cents));
    item.insert("currency".into(), s("KES"));
    item.insert("source".into(), s(source.as_str()));
    item.insert("reference".into(), s(reference));
    item.insert("status".into(), s(PayoutStatus::Owed.as_str()));
    item.insert("created_at".into(), ts(now));
    item
}

fn payout_from(item: &Item) -> Result<Payout, StoreError> {
    let r = Reader(item);
    Ok(Payout {
        id: r.str("id")?,
        member_id: r.str("member_id")?,
        amount_cents: r.i64("amount_cents")?,
        currency: r.str("currency")?,
        source: r.str("source")?,
        reference: r.str("reference")?,
        status: r.str("status")?,
        created_at: r.time("created_at")?,
        paid_at: r.opt_time("paid_at"),
        paid_by: r.opt_str("paid_by"),
        note: r.opt_str("note"),
    })
}

impl Store {
    /// Payouts with a status (`owed`, `paid`), newest first.
    pub async fn payouts(
        &self,
        status: PayoutStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Payout>, StoreError> {
        let pk = payouts_pk(status);
        self.page(Partition::Gsi1(&pk), false, cursor, limit).await?.try_map(payout_from)
    }

    /// Marks an owed payout paid, with the admin's note and audit entry, in one
    /// transaction conditioned on it being owed (the list entry moves to `paid`).
    pub async fn mark_payout_paid(
        &self,
        id: &str,
        note: &str,
        audit: &crate::domain::admin::AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<PayoutSettle, StoreError> {
        let u = update(&self.table, key(format!("PAYOUT#{id}"), "PAYOUT"))
            .update_expression("SET #status = :paid, GSI1PK = :list, paid_at = :now, paid_by = :admin, note = :note")
            .condition_expression("attribute_exists(PK) AND #status = :owed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":paid", s(PayoutStatus::Paid.as_str()))
            .expression_attribute_values(":list", s(payouts_pk(PayoutStatus::Paid)))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":admin", s(&audit.actor))
            .expression_attribute_values(":note", s(note))
            .expression_attribute_values(":owed", s(PayoutStatus::Owed.as_str()));
        let items = vec![tx_update(u)?, super::admins::audit_put(&self.table, audit, now)?];
        match self.transact(items).await {
            Ok(()) => {
                let paid = self.get_decoded(key(format!("PAYOUT#{id}"), "PAYOUT"), payout_from).await?;
                Ok(paid.map_or(PayoutSettle::Unknown, |p| PayoutSettle::Paid(Box::new(p))))
            }
            // A missing item fails the condition with no (or an empty) old image.
            Err(TransactFailure::ConditionFailed(old)) => Ok(match old.first().and_then(Option::as_ref) {
                Some(item) if !item.is_empty() => PayoutSettle::AlreadyPaid,
                _ => PayoutSettle::Unknown,
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}
