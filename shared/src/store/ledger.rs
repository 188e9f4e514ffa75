//! Members' ledgers: one entry per change of a balance, written in the same
//! transaction as the change (ARCHITECTURE.md invariant 1).

use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::members::member_pk;
use super::{Store, StoreError};
use crate::domain::ids::MemberId;
use crate::domain::Credits;

pub(crate) fn ledger_item(
    member_id: &str,
    amount: Credits,
    balance_after: Credits,
    cause: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> Item {
    // Entries of one instant keep their causal order: a bonus follows its purchase.
    let order = u8::from(cause == "bonus");
    let sk = format!("LEDGER#{:013}#{order}#{}", now.timestamp_millis(), crate::domain::ids::new_id(""));
    let mut item = key(member_pk(member_id), sk);
    item.insert("entity".into(), s("ledger"));
    item.insert("amount".into(), n(amount.hundredths()));
    item.insert("balance_after".into(), n(balance_after.hundredths()));
    item.insert("cause".into(), s(cause));
    item.insert("ref".into(), s(reference));
    item.insert("created_at".into(), ts(now));
    item
}

impl Store {
    /// Every ledger entry of a member: (signed amount, balance after, cause).
    pub async fn ledger(&self, member_id: &MemberId) -> Result<Vec<(Credits, Credits, String)>, StoreError> {
        let items = self.query_all(&member_pk(member_id), "LEDGER#").await?;
        items
            .iter()
            .map(|item| {
                let r = Reader(item);
                Ok((
                    Credits::from_hundredths(r.i64("amount")?),
                    Credits::from_hundredths(r.i64("balance_after")?),
                    r.str("cause")?,
                ))
            })
            .collect()
    }
}
