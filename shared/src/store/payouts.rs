//! Payouts: KES owed to a member outside the platform (unused credits at
//! deletion, a payment that completed after deletion), listed by status.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::attr::{key, n, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::{Store, StoreError};

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
}

pub(crate) fn payouts_pk(status: &str) -> String {
    format!("PAYOUTS#{status}")
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
    item.insert("GSI1PK".into(), s(payouts_pk("owed")));
    item.insert("GSI1SK".into(), s(format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))));
    item.insert("id".into(), s(&id));
    item.insert("member_id".into(), s(member_id));
    item.insert("amount_cents".into(), n(amount_cents));
    item.insert("currency".into(), s("KES"));
    item.insert("source".into(), s(source.as_str()));
    item.insert("reference".into(), s(reference));
    item.insert("status".into(), s("owed"));
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
    })
}

impl Store {
    /// Payouts with a status (`owed`, `paid`), newest first.
    pub async fn payouts(&self, status: &str, cursor: Option<&str>, limit: usize) -> Result<Page<Payout>, StoreError> {
        let pk = payouts_pk(status);
        self.page(Partition::Gsi1(&pk), false, cursor, limit).await?.try_map(payout_from)
    }
}
